//! Built-in dataset presets: scene distributions that render deterministically from a
//! seed. They are generated on demand and cached (see [`crate::cache`]), never committed.

use nalgebra::{Point2, Rotation3, Unit, Vector3};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use visreg_apriltag::{Family, FamilyLayout};

use crate::format::{CameraSection, Generator, Manifest, TagsSection, FORMAT_VERSION};
use crate::geometry::{openmv_default_intrinsics, Pose};
use crate::render::{card_half_extent, Degradation, FrameSpec, TagPlacement};

/// Version of the generator: bump when the same preset and seed would render other pixels.
pub const GENERATOR_VERSION: u32 = 1;
/// Generator name written into `dataset.toml`.
pub const GENERATOR_NAME: &str = "visreg-render";
/// The seed used when none is given.
pub const DEFAULT_SEED: u64 = 1;

/// A scene distribution.
#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    /// Name (`qvga-basic`).
    pub name: &'static str,
    /// What it models.
    pub description: &'static str,
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    /// Family.
    pub family: Family,
    /// Tag size, metres.
    pub tag_size_m: f64,
    /// Frames rendered.
    pub frames: usize,
    /// Tags per frame (inclusive range).
    pub tags_per_frame: (usize, usize),
    /// Distance to the tag centre, metres.
    pub range_m: (f64, f64),
    /// Largest angle between the tag's normal and the line of sight, degrees.
    pub max_view_angle_deg: f64,
    /// Largest in-plane rotation either way, degrees.
    pub max_roll_deg: f64,
    /// Smallest tag edge in the image, pixels.
    pub min_tag_px: f64,
    /// Probability that a frame is blurred, and the largest σ (px).
    pub blur: (f64, f64),
    /// Sensor noise σ range, gray levels.
    pub noise_sigma: (f64, f64),
    /// Illumination range (1 = well lit).
    pub illumination: (f64, f64),
    /// Largest relative illumination change across the image.
    pub max_gradient: f64,
    /// Probability of JPEG re-compression and its quality range.
    pub jpeg: Option<(f64, u8, u8)>,
}

const fn desk(name: &'static str, description: &'static str, family: Family) -> Preset {
    Preset {
        name,
        description,
        width: 320,
        height: 240,
        family,
        tag_size_m: 0.08,
        frames: 150,
        tags_per_frame: (1, 3),
        range_m: (0.2, 0.85),
        max_view_angle_deg: 50.0,
        max_roll_deg: 30.0,
        min_tag_px: 20.0,
        blur: (0.3, 0.6),
        noise_sigma: (0.5, 2.5),
        illumination: (0.75, 1.0),
        max_gradient: 0.2,
        jpeg: None,
    }
}

/// Every built-in preset.
pub const PRESETS: &[Preset] = &[
    Preset {
        frames: 200,
        ..desk(
            "qvga-basic",
            "What a desk rig sees: 320×240 gray, OpenMV default intrinsics, tag36h11 80 mm, \
             tags ≥ 20 px, out-of-plane angles up to 50°, mild noise",
            Family::Tag36h11,
        )
    },
    Preset {
        width: 160,
        height: 120,
        frames: 200,
        range_m: (0.12, 0.5),
        min_tag_px: 14.0,
        ..desk(
            "qqvga",
            "160×120 gray (QQVGA), OpenMV default intrinsics, tag36h11 80 mm, tags ≥ 14 px",
            Family::Tag36h11,
        )
    },
    Preset {
        frames: 300,
        range_m: (0.2, 1.6),
        max_view_angle_deg: 75.0,
        max_roll_deg: 180.0,
        min_tag_px: 10.0,
        blur: (0.6, 2.0),
        noise_sigma: (1.0, 8.0),
        illumination: (0.2, 1.0),
        max_gradient: 0.6,
        jpeg: Some((0.3, 40, 90)),
        ..desk(
            "hard",
            "320×240, steep angles up to 75°, any roll, blur up to σ 2 px, noise up to σ 8, \
             low light, small tags (≥ 10 px), some JPEG",
            Family::Tag36h11,
        )
    },
    Preset {
        frames: 100,
        range_m: (0.2, 0.7),
        ..desk(
            "qvga-tag16h5",
            "qvga-basic with tag16h5 (6×6-cell border, 30 ids)",
            Family::Tag16h5,
        )
    },
    Preset {
        frames: 100,
        range_m: (0.2, 0.75),
        ..desk("qvga-tag25h9", "qvga-basic with tag25h9", Family::Tag25h9)
    },
    Preset {
        frames: 100,
        range_m: (0.15, 0.45),
        ..desk(
            "qvga-tagCircle21h7",
            "qvga-basic with tagCircle21h7 (reversed border, circular layout)",
            Family::TagCircle21h7,
        )
    },
    Preset {
        frames: 100,
        range_m: (0.15, 0.45),
        ..desk(
            "qvga-tagStandard41h12",
            "qvga-basic with tagStandard41h12 (data bits outside the border)",
            Family::TagStandard41h12,
        )
    },
];

/// A preset name that does not exist.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown preset '{0}' (built in: {list})", list = PRESETS.iter().map(|p| p.name).collect::<Vec<_>>().join(", "))]
pub struct UnknownPreset(pub String);

/// Finds a preset by name.
pub fn find(name: &str) -> Result<&'static Preset, UnknownPreset> {
    PRESETS
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| UnknownPreset(name.to_string()))
}

impl Preset {
    /// The manifest of this preset rendered with `seed`.
    pub fn manifest(&self, seed: u64) -> Manifest {
        Manifest {
            name: self.name.to_string(),
            format_version: FORMAT_VERSION,
            description: self.description.to_string(),
            camera: CameraSection::openmv_default(
                "OpenMV OV7725, 2.8 mm lens (find_apriltags default intrinsics)",
                self.width,
                self.height,
            ),
            tags: TagsSection {
                family: self.family,
                size_m: self.tag_size_m,
            },
            generator: Some(Generator {
                name: GENERATOR_NAME.into(),
                version: GENERATOR_VERSION,
                preset: self.name.into(),
                seed,
            }),
        }
    }

    /// The spec of frame `index` under `seed`: independent of every other frame, so frames
    /// render in parallel and in any order.
    pub fn frame_spec(&self, seed: u64, index: usize, layout: &FamilyLayout) -> FrameSpec {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(index as u64);
        let k = openmv_default_intrinsics(self.width, self.height);
        let degradation = Degradation {
            blur_sigma_px: if rng.gen_bool(self.blur.0) {
                rng.gen_range(0.3..=self.blur.1)
            } else {
                0.0
            },
            noise_sigma: rng.gen_range(self.noise_sigma.0..=self.noise_sigma.1),
            illumination: rng.gen_range(self.illumination.0..=self.illumination.1),
            gradient: [
                rng.gen_range(-self.max_gradient..=self.max_gradient),
                rng.gen_range(-self.max_gradient..=self.max_gradient),
            ],
            jpeg_quality: match self.jpeg {
                Some((p, lo, hi)) if rng.gen_bool(p) => Some(rng.gen_range(lo..=hi)),
                _ => None,
            },
        };
        let wanted = rng.gen_range(self.tags_per_frame.0..=self.tags_per_frame.1);
        let ids: Vec<u32> = sample(
            &mut rng,
            layout.ncodes as usize,
            wanted.min(layout.ncodes as usize),
        )
        .into_iter()
        .map(|i| i as u32)
        .collect();
        let extent = card_half_extent(layout);
        let mut tags: Vec<TagPlacement> = Vec::new();
        let mut boxes: Vec<[f64; 4]> = Vec::new();
        for id in ids {
            for _attempt in 0..200 {
                let pose = self.sample_pose(&mut rng, &k);
                let Some(card) = card_box(&pose, &k, self.tag_size_m * extent) else {
                    continue;
                };
                let fits = card[0] >= 1.0
                    && card[1] >= 1.0
                    && card[2] <= f64::from(self.width) - 1.0
                    && card[3] <= f64::from(self.height) - 1.0;
                let Some(corners) = pose.corners_px(&k, self.tag_size_m) else {
                    continue;
                };
                let min_edge = (0..4)
                    .map(|i| (corners[(i + 1) % 4] - corners[i]).norm())
                    .fold(f64::MAX, f64::min);
                let clear = boxes.iter().all(|b| {
                    card[2] + 2.0 < b[0]
                        || b[2] + 2.0 < card[0]
                        || card[3] + 2.0 < b[1]
                        || b[3] + 2.0 < card[1]
                });
                if fits && clear && min_edge >= self.min_tag_px {
                    tags.push(TagPlacement { id, pose });
                    boxes.push(card);
                    break;
                }
            }
        }
        FrameSpec {
            width: self.width,
            height: self.height,
            intrinsics: k,
            family: self.family,
            tag_size_m: self.tag_size_m,
            tags,
            degradation,
            seed: rng.gen(),
        }
    }

    /// A pose: centre on a random pixel at a random range; face the camera, then tilt by a
    /// random angle about a random in-plane axis (the view angle) and roll.
    fn sample_pose(&self, rng: &mut ChaCha8Rng, k: &crate::geometry::Intrinsics) -> Pose {
        let px = Point2::new(
            rng.gen_range(0.0..f64::from(self.width)),
            rng.gen_range(0.0..f64::from(self.height)),
        );
        let range = rng.gen_range(self.range_m.0..=self.range_m.1);
        let t = crate::geometry::unproject(k, &px).normalize() * range;
        let face = Rotation3::rotation_between(&Vector3::z(), &t.normalize())
            .unwrap_or_else(Rotation3::identity);
        let phi: f64 = rng.gen_range(0.0..std::f64::consts::TAU);
        let tilt = rng.gen_range(0.0..=self.max_view_angle_deg).to_radians();
        let axis = Unit::new_normalize(Vector3::new(phi.cos(), phi.sin(), 0.0));
        let roll = rng
            .gen_range(-self.max_roll_deg..=self.max_roll_deg)
            .to_radians();
        let rotation = face
            * Rotation3::from_axis_angle(&axis, tilt)
            * Rotation3::from_axis_angle(&Vector3::z_axis(), roll);
        Pose {
            rotation,
            translation: t,
        }
    }
}

/// Pixel bounding box `[x0, y0, x1, y1]` of a square card of edge `card_m` at `pose`.
fn card_box(pose: &Pose, k: &crate::geometry::Intrinsics, card_m: f64) -> Option<[f64; 4]> {
    let c = pose.corners_px(k, card_m)?;
    Some([
        c.iter().map(|p| p.x).fold(f64::MAX, f64::min),
        c.iter().map(|p| p.y).fold(f64::MAX, f64::min),
        c.iter().map(|p| p.x).fold(f64::MIN, f64::max),
        c.iter().map(|p| p.y).fold(f64::MIN, f64::max),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_findable() {
        for p in PRESETS {
            assert_eq!(find(p.name).unwrap().name, p.name);
        }
        let mut names: Vec<_> = PRESETS.iter().map(|p| p.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), PRESETS.len());
        assert!(find("nope").unwrap_err().to_string().contains("qvga-basic"));
    }

    #[test]
    fn frame_specs_honour_the_preset() {
        let p = find("qvga-basic").unwrap();
        let layout = FamilyLayout::load(p.family).unwrap();
        let k = openmv_default_intrinsics(p.width, p.height);
        let mut n = 0;
        for i in 0..40 {
            let spec = p.frame_spec(3, i, &layout);
            assert_eq!(spec, p.frame_spec(3, i, &layout), "deterministic");
            for t in &spec.tags {
                n += 1;
                assert!(t.pose.view_angle_deg() <= p.max_view_angle_deg + 1e-6);
                let r = t.pose.range_m();
                assert!(r >= p.range_m.0 - 1e-9 && r <= p.range_m.1 + 1e-9);
                let c = t.pose.corners_px(&k, p.tag_size_m).unwrap();
                for i in 0..4 {
                    assert!((c[(i + 1) % 4] - c[i]).norm() >= p.min_tag_px);
                }
            }
        }
        assert!(n >= 60, "most frames place their tags ({n})");
    }
}
