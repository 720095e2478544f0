//! The synthetic renderer: tags drawn from the library's own family data, placed by a
//! pinhole camera at known poses, supersampled, then degraded as a sensor would
//! (illumination, optical blur, noise, quantisation, optional JPEG). Ground truth comes
//! from the same geometry ([`Pose::corners_px`]), so it is exact by construction.
//!
//! Everything here is pure: a [`FrameSpec`] in, pixels and truth out.

use image::ImageEncoder;
use nalgebra::{Matrix3, Vector3};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use visreg_apriltag::{Family, FamilyLayout, TagCells};

use crate::format::{SceneParams, TagTruth};
use crate::geometry::{Intrinsics, Pose};

/// Sub-samples per pixel side (16 per pixel) for anti-aliasing.
pub const SUPERSAMPLE: u32 = 4;
/// White paper around the drawn tag, in cells (a printed tag is cut with a margin).
pub const PAPER_MARGIN_CELLS: f64 = 1.0;
/// Reflectance of the tag's black cells (matte printer ink).
pub const INK_REFLECTANCE: f64 = 0.05;
/// Reflectance of white cells and paper.
pub const PAPER_REFLECTANCE: f64 = 0.85;

/// A tag and where it is.
#[derive(Clone, Debug, PartialEq)]
pub struct TagPlacement {
    /// Tag id.
    pub id: u32,
    /// `T_cam_tag`.
    pub pose: Pose,
}

/// How the image is degraded after the ideal projection.
#[derive(Clone, Debug, PartialEq)]
pub struct Degradation {
    /// Gaussian blur σ in pixels (0 = none).
    pub blur_sigma_px: f64,
    /// Gaussian sensor noise σ in gray levels.
    pub noise_sigma: f64,
    /// Mean illumination; 1 maps paper white to ~217 gray levels.
    pub illumination: f64,
    /// Relative change of illumination across the image (x, y), e.g. 0.3 = ±15 %.
    pub gradient: [f64; 2],
    /// Re-compress through JPEG at this quality.
    pub jpeg_quality: Option<u8>,
}

impl Degradation {
    /// No degradation: full light, no blur, no noise, no JPEG — the exact render.
    pub fn none() -> Self {
        Degradation {
            blur_sigma_px: 0.0,
            noise_sigma: 0.0,
            illumination: 1.0,
            gradient: [0.0, 0.0],
            jpeg_quality: None,
        }
    }

    /// The scene parameters recorded in truth.
    pub fn scene(&self) -> SceneParams {
        SceneParams {
            blur_sigma_px: Some(self.blur_sigma_px),
            noise_sigma: Some(self.noise_sigma),
            illumination: Some(self.illumination),
            jpeg_quality: self.jpeg_quality,
        }
    }
}

/// Everything that determines one frame.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameSpec {
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    /// Camera intrinsics.
    pub intrinsics: Intrinsics,
    /// Tag family.
    pub family: Family,
    /// Tag size (border edge), metres.
    pub tag_size_m: f64,
    /// Tags in the frame (must not overlap).
    pub tags: Vec<TagPlacement>,
    /// Sensor and light.
    pub degradation: Degradation,
    /// Seed of the background texture and the noise.
    pub seed: u64,
}

/// A rendered frame and its truth.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedFrame {
    /// Row-major 8-bit gray pixels.
    pub pixels: Vec<u8>,
    /// Truth for each tag, in the spec's order.
    pub tags: Vec<TagTruth>,
    /// Scene parameters for bucketing.
    pub scene: SceneParams,
}

/// Errors of rendering.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The tag family could not provide the tag.
    #[error(transparent)]
    Family(#[from] visreg_apriltag::Error),
    /// A tag is behind the camera.
    #[error("tag {0} is not in front of the camera")]
    BehindCamera(u32),
    /// JPEG re-compression failed.
    #[error("JPEG re-compression failed: {0}")]
    Jpeg(String),
}

/// Half the width of the drawn card (tag plus paper) in tag coordinates (±1 = border).
pub fn card_half_extent(layout: &FamilyLayout) -> f64 {
    (f64::from(layout.total_width) + 2.0 * PAPER_MARGIN_CELLS) / f64::from(layout.width_at_border)
}

/// Renders `spec`.
pub fn render(spec: &FrameSpec) -> Result<RenderedFrame, RenderError> {
    let layout = FamilyLayout::load(spec.family)?;
    let (w, h) = (spec.width as usize, spec.height as usize);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut radiance = crate::texture::background(spec.width, spec.height, &mut rng);

    let mut truth = Vec::with_capacity(spec.tags.len());
    for tag in &spec.tags {
        let cells = TagCells::draw(spec.family, tag.id)?;
        let corners = tag
            .pose
            .corners_px(&spec.intrinsics, spec.tag_size_m)
            .ok_or(RenderError::BehindCamera(tag.id))?;
        truth.push(TagTruth {
            id: tag.id,
            corners,
            pose: tag.pose,
        });
        draw_tag(
            &mut radiance,
            w,
            h,
            &layout,
            &cells,
            &tag.pose.tag_homography(&spec.intrinsics, spec.tag_size_m),
        );
    }

    let d = &spec.degradation;
    let mut signal: Vec<f64> = radiance
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (x, y) = ((i % w) as f64 + 0.5, (i / w) as f64 + 0.5);
            let light = d.illumination
                * (1.0
                    + d.gradient[0] * (x / w as f64 - 0.5)
                    + d.gradient[1] * (y / h as f64 - 0.5));
            r * 255.0 * light
        })
        .collect();
    if d.blur_sigma_px > 0.0 {
        gaussian_blur(&mut signal, w, h, d.blur_sigma_px);
    }
    let noise = Normal::new(0.0, d.noise_sigma.max(0.0)).expect("σ is finite and ≥ 0");
    let mut pixels: Vec<u8> = signal
        .iter()
        .map(|v| (v + noise.sample(&mut rng)).round().clamp(0.0, 255.0) as u8)
        .collect();
    if let Some(q) = d.jpeg_quality {
        pixels = jpeg_round_trip(&pixels, spec.width, spec.height, q)?;
    }
    Ok(RenderedFrame {
        pixels,
        tags: truth,
        scene: d.scene(),
    })
}

/// Draws one tag card into `radiance` by sampling each pixel's sub-samples through H⁻¹.
fn draw_tag(
    radiance: &mut [f64],
    w: usize,
    h: usize,
    layout: &FamilyLayout,
    cells: &TagCells,
    homography: &Matrix3<f64>,
) {
    let Some(inv) = homography.try_inverse() else {
        return;
    };
    let extent = card_half_extent(layout);
    let (tw, bw) = (
        f64::from(layout.total_width),
        f64::from(layout.width_at_border),
    );
    // Pixel bounding box of the card.
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (a, b) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
        let p = homography * Vector3::new(a * extent, b * extent, 1.0);
        let (u, v) = (p.x / p.z, p.y / p.z);
        x0 = x0.min(u);
        y0 = y0.min(v);
        x1 = x1.max(u);
        y1 = y1.max(v);
    }
    let xa = x0.floor().max(0.0) as usize;
    let ya = y0.floor().max(0.0) as usize;
    let xb = (x1.ceil().max(0.0) as usize).min(w);
    let yb = (y1.ceil().max(0.0) as usize).min(h);
    let s = SUPERSAMPLE;
    let n = f64::from(s * s);
    for y in ya..yb {
        for x in xa..xb {
            let mut inside = 0u32;
            let mut sum = 0.0;
            for sy in 0..s {
                for sx in 0..s {
                    let u = x as f64 + (f64::from(sx) + 0.5) / f64::from(s);
                    let v = y as f64 + (f64::from(sy) + 0.5) / f64::from(s);
                    let q = inv * Vector3::new(u, v, 1.0);
                    let (ta, tb) = (q.x / q.z, q.y / q.z);
                    if ta.abs() > extent || tb.abs() > extent {
                        continue;
                    }
                    inside += 1;
                    // Cell (col, row) of the library's drawing; row grows with tag y.
                    let col = ((ta * bw + tw) / 2.0).floor();
                    let row = ((tb * bw + tw) / 2.0).floor();
                    let white = if col < 0.0 || row < 0.0 || col >= tw || row >= tw {
                        true // paper margin
                    } else {
                        cells.is_white(col as u32, row as u32)
                    };
                    sum += if white {
                        PAPER_REFLECTANCE
                    } else {
                        INK_REFLECTANCE
                    };
                }
            }
            if inside > 0 {
                let i = y * w + x;
                let outside = f64::from(s * s - inside);
                radiance[i] = (sum + outside * radiance[i]) / n;
            }
        }
    }
}

/// Separable Gaussian blur, edges clamped. Written here rather than taken from `image`
/// because it runs on linear floating-point signal before noise and quantisation, with a
/// σ that truth records exactly.
pub fn gaussian_blur(buf: &mut [f64], w: usize, h: usize, sigma: f64) {
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f64> = (-radius..=radius)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let norm: f64 = kernel.iter().sum();
    let kernel: Vec<f64> = kernel.iter().map(|k| k / norm).collect();
    let mut tmp = vec![0.0; buf.len()];
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (k, kv) in kernel.iter().enumerate() {
                let xx = (x as isize + k as isize - radius).clamp(0, w as isize - 1) as usize;
                acc += kv * buf[y * w + xx];
            }
            tmp[y * w + x] = acc;
        }
    }
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (k, kv) in kernel.iter().enumerate() {
                let yy = (y as isize + k as isize - radius).clamp(0, h as isize - 1) as usize;
                acc += kv * tmp[yy * w + x];
            }
            buf[y * w + x] = acc;
        }
    }
}

/// Encodes gray pixels as JPEG at `quality` and decodes them again, as the camera's
/// stream would deliver them.
pub fn jpeg_round_trip(pixels: &[u8], w: u32, h: u32, quality: u8) -> Result<Vec<u8>, RenderError> {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality.clamp(1, 100))
        .write_image(pixels, w, h, image::ExtendedColorType::L8)
        .map_err(|e| RenderError::Jpeg(e.to_string()))?;
    let img = image::load_from_memory_with_format(&buf, image::ImageFormat::Jpeg)
        .map_err(|e| RenderError::Jpeg(e.to_string()))?;
    Ok(img.into_luma8().into_raw())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::openmv_default_intrinsics;
    use nalgebra::Rotation3;

    fn spec(tags: Vec<TagPlacement>) -> FrameSpec {
        FrameSpec {
            width: 320,
            height: 240,
            intrinsics: openmv_default_intrinsics(320, 240),
            family: Family::Tag36h11,
            tag_size_m: 0.08,
            tags,
            degradation: Degradation::none(),
            seed: 7,
        }
    }

    fn face_on(id: u32, z: f64) -> TagPlacement {
        TagPlacement {
            id,
            pose: Pose {
                rotation: Rotation3::identity(),
                translation: Vector3::new(0.0, 0.0, z),
            },
        }
    }

    #[test]
    fn rendering_is_deterministic_from_the_seed() {
        let mut s = spec(vec![face_on(5, 0.4)]);
        s.degradation.noise_sigma = 3.0;
        let a = render(&s).unwrap();
        let b = render(&s).unwrap();
        assert_eq!(a, b);
        s.seed = 8;
        assert_ne!(render(&s).unwrap().pixels, a.pixels);
    }

    #[test]
    fn face_on_tag_shows_its_cells_where_truth_says() {
        // A face-on tag at 0.4 m: edge = fx·0.08/0.4 ≈ 45 px, 5.6 px per cell.
        let r = render(&spec(vec![face_on(0, 0.4)])).unwrap();
        let c = r.tags[0].corners;
        let at = |x: f64, y: f64| r.pixels[(y as usize) * 320 + x as usize];
        // Just inside the top-left corner (corner 3) lies the black border...
        assert!(at(c[3].x + 2.0, c[3].y + 2.0) < 40);
        // ...and just outside it the white ring.
        assert!(at(c[3].x - 2.0, c[3].y - 2.0) > 180);
        // Corner 0 is bottom-left: larger y than corner 3.
        assert!(c[0].y > c[3].y && (c[0].x - c[3].x).abs() < 1e-9);
    }

    #[test]
    fn anti_aliased_edge_is_a_partial_pixel() {
        // Put the left border edge at x = 100.25 exactly: pixel 100 is 1/4 paper, 3/4 ink.
        let k = openmv_default_intrinsics(320, 240);
        let z = 0.4;
        let half_px = k.fx * 0.04 / z;
        let x_center = 100.25 + half_px;
        let tx = (x_center - k.cx) * z / k.fx;
        let mut s = spec(vec![TagPlacement {
            id: 0,
            pose: Pose {
                rotation: Rotation3::identity(),
                translation: Vector3::new(tx, 0.0, z),
            },
        }]);
        s.degradation.illumination = 1.0;
        let r = render(&s).unwrap();
        assert!((r.tags[0].corners[3].x - 100.25).abs() < 1e-9);
        let v = f64::from(r.pixels[120 * 320 + 100]);
        let expected = (0.25 * PAPER_REFLECTANCE + 0.75 * INK_REFLECTANCE) * 255.0;
        assert!((v - expected).abs() <= 1.0, "{v} vs {expected}");
    }

    #[test]
    fn blur_preserves_mean_and_spreads_a_step() {
        let (w, h) = (32, 4);
        let mut buf: Vec<f64> = (0..w * h)
            .map(|i| if i % w < 16 { 0.0 } else { 100.0 })
            .collect();
        let before: f64 = buf.iter().sum();
        gaussian_blur(&mut buf, w, h, 1.5);
        let after: f64 = buf.iter().sum();
        assert!((before - after).abs() < 1e-6);
        assert!(buf[15] > 10.0 && buf[15] < 50.0 && buf[16] > 50.0 && buf[16] < 90.0);
    }
}
