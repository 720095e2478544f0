//! What `image.find_apriltags()` returns on an OpenMV camera, and the one place where
//! those results are converted to and from the dataset's conventions.
//!
//! Facts (openmv/openmv `lib/imlib/apriltag.c`, firmware 5.x, a wrapper of upstream
//! AprilTag 3.4.5; PROTOCOL.md §4):
//! - corners are `[p3, p2, p1, p0]` of the library's detection — the library's order
//!   reversed — each rounded to an integer pixel;
//! - `rect` is the bounding box of the rounded corners; `cxf`/`cyf` the detection centre,
//!   `cx`/`cy` the same rounded;
//! - the pose comes from `homography_to_pose(H, -fx, fy, cx, cy)`: translations in tag
//!   half-size units (the tag spans [−1, 1]; the host scales by size/2), in a camera frame
//!   looking down −z with y up; rotations are ZYX Euler angles in radians:
//!   `x = atan2(r21, r22)`, `y = atan2(−r20, √(r21² + r22²))`, `z = atan2(r10, r00)`,
//!   `rotation` = `z_rotation`;
//! - `decision_margin` is the library's divided by 255; `goodness` is 1.0 on 5.x;
//! - family bit values differ between firmware versions, so families are compared by
//!   `name` (e.g. `TAG36H11`), never by number.
//!
//! Per generation ([`TagConventions`]), each read in the source:
//! - rounding: `fast_roundf` (lib/imlib/fmath.h, v5.0.0 and v4.8.1; src/omv/imlib/fmath.h
//!   v4.5.9) is `vcvtr.S32.F32` on every OpenMV core (`__ARM_ARCH >= 7`): the library's
//!   double is first cast to `float`, then rounded in the FPSCR's default mode, round to
//!   nearest **ties to even** (2.5 → 2, 3.5 → 4) — not `lroundf`'s half away from zero
//!   (that is only the non-ARM fallback `roundf`);
//! - Euler angles: `fast_atan2f` (lib/imlib/fmath.c, same tags) returns **[0, 2π)**
//!   (quadrant by quadrant: `atan`, `π − atan`, `π + atan`, `2π − atan`), and for x == 0
//!   returns 0 (y == 0), **π** (y > 0) or −π (y < 0, and NaN input) instead of ±π/2; the
//!   value is a float computed by a polynomial ([`fast_atan2f`] is that code);
//! - all result numbers are C `float`s (`find_apriltags_list_lnk_data_t`, lib/imlib/imlib.h)
//!   handed to MicroPython as single-precision floats;
//! - 4.x (lib/imlib/apriltag.c v4.8.1, src/omv/imlib/apriltag.c v4.5.9): `goodness` is
//!   `det->goodness / 255.0`, and the detector is created with `refine_pose = 0`, so the
//!   goodness it computes is 0: 4.x reports 0.0; the family bits are TAG16H5 1, TAG25H7 2,
//!   TAG25H9 4, TAG36H10 8, TAG36H11 16, ARTOOLKIT 32 (lib/imlib/imlib.h v4.8.1) against
//!   5.x's TAG16H5 1, TAG25H9 2, TAG36H10 4, TAG36H11 8, TAGCIRCLE21H7 16 (v5.0.0).
//!
//! **No pixel-convention shift between 4.x and 5.x.** Upstream AprilTag's "Fix the
//! inconsistent image coordinate conventions" (AprilRobotics/apriltag cb522ae, first in
//! v3.4.3) changed only two places: the rescaling of quads found on a decimated image
//! (`(p − 0.5)·d + 0.5` → `p·d`) and the new bilinear sampler in `refine_edges` (3.4.3's
//! 4b980f1), which it moved by −0.5; its own message says the corner convention (0, 0 =
//! top-left corner of the first pixel) already held for `quad_decimate = 1`. OpenMV 4.x
//! never decimates (no `quad_decimate` in v4.8.1's lib/imlib/apriltag.c), fits quads with
//! the same `+0.5` pixel-centre delta as 3.4.5 (`fit_quad`), and samples `refine_edges`
//! by integer truncation — the pixel that contains the point, i.e. the same convention.
//! Measured (upstream v3.4.2 — the integer-sampled `refine_edges` 4.x carries — at
//! `quad_decimate` 1 against v3.4.5, 415 tags of `qvga-basic` seed 1): mean corner offset
//! +0.001 px in x and +0.000 px in y against the truth, median corner error 0.055 px
//! against 3.4.5's 0.022 px. The older detector is noisier (its 0.25-px search grid gives
//! up to −0.125 px when an edge sits on the grid, upstream issue #334), not shifted: the
//! conversion is the same for both generations and no constant offset is modelled.
//!
//! The library's own `estimate_pose_for_tag_homography` turns the same matrix into the
//! OpenCV frame by `diag(1, −1, −1) · M`; [`to_dataset`] does exactly that, so a camera
//! pose and a host pose are directly comparable.

use nalgebra::{Matrix3, Point2, Rotation3, Vector3};
use serde::{Deserialize, Serialize};
use visreg_apriltag::{homography_to_pose_raw, Detection, Family};
use visreg_datasets::{DetectedTag, Intrinsics, Pose};

/// One AprilTag as the camera reports it (the attributes of its `AprilTag` object, under
/// their MicroPython names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CameraTag {
    /// Tag id.
    pub id: u32,
    /// Family bit value (version-dependent; informative only).
    pub family: u32,
    /// Family name as the camera spells it, e.g. `TAG36H11`.
    pub name: String,
    /// Centre x, rounded.
    pub cx: i32,
    /// Centre y, rounded.
    pub cy: i32,
    /// Centre x.
    pub cxf: f64,
    /// Centre y.
    pub cyf: f64,
    /// In-plane rotation (= `z_rotation`), radians.
    #[serde(deserialize_with = "nan_if_null")]
    pub rotation: f64,
    /// Decision margin / 255.
    pub decision_margin: f64,
    /// Bits corrected.
    pub hamming: u32,
    /// 1.0 on firmware 5.x.
    pub goodness: f64,
    /// Translation x, tag half-size units, camera looking down −z.
    #[serde(deserialize_with = "nan_if_null")]
    pub x_translation: f64,
    /// Translation y, same frame.
    #[serde(deserialize_with = "nan_if_null")]
    pub y_translation: f64,
    /// Translation z, same frame (negative in front of the camera).
    #[serde(deserialize_with = "nan_if_null")]
    pub z_translation: f64,
    /// Euler x, radians.
    #[serde(deserialize_with = "nan_if_null")]
    pub x_rotation: f64,
    /// Euler y, radians.
    #[serde(deserialize_with = "nan_if_null")]
    pub y_rotation: f64,
    /// Euler z, radians.
    #[serde(deserialize_with = "nan_if_null")]
    pub z_rotation: f64,
    /// Corners, integer pixels, the library's order reversed.
    pub corners: [[i32; 2]; 4],
    /// Bounding box of the corners: x, y, w, h.
    pub rect: [i32; 4],
}

/// JSON has no NaN: a broken pose arrives as `null` (serde_json writes NaN so, and the
/// runner turns MicroPython's bare `nan` into `null` before parsing).
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// The camera's name for a family (`TAG36H11`).
pub fn camera_family_name(f: Family) -> String {
    f.name().to_ascii_uppercase()
}

/// The family bit value firmware 5.x uses (`apriltag_families_t`, lib/imlib/imlib.h
/// v5.0.0; TAG36H10 = 4 is not a family visreg knows).
pub fn family_bits_v5(f: Family) -> u32 {
    match f {
        Family::Tag16h5 => 1,
        Family::Tag25h9 => 2,
        Family::Tag36h11 => 8,
        Family::TagCircle21h7 => 16,
        Family::TagCircle49h12 => 32,
        Family::TagCustom48h12 => 64,
        Family::TagStandard41h12 => 128,
        // 1 << 8 in a uint8_t field: the firmware itself reports 0.
        Family::TagStandard52h13 => 0,
    }
}

/// The family bit value firmware 4.x uses (lib/imlib/imlib.h v4.8.1: TAG16H5 1, TAG25H7 2,
/// TAG25H9 4, TAG36H10 8, TAG36H11 16, ARTOOLKIT 32); 0 for families 4.x does not have.
pub fn family_bits_v4(f: Family) -> u32 {
    match f {
        Family::Tag16h5 => 1,
        Family::Tag25h9 => 4,
        Family::Tag36h11 => 16,
        _ => 0,
    }
}

/// Which firmware generation's `find_apriltags` a result follows: what differs is the
/// `goodness` value and the family bits (see the module docs), not the geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TagConventions {
    /// Firmware 4.x: the in-tree pre-3.x detector, `goodness` 0.0, TAG36H11 = 16.
    Fw4,
    /// Firmware ≥ 5.0: AprilTag 3.x, `goodness` 1.0, TAG36H11 = 8.
    Fw5,
}

impl TagConventions {
    /// The conventions of firmware `major`.x.
    pub fn for_major(major: u32) -> Self {
        if major >= 5 {
            TagConventions::Fw5
        } else {
            TagConventions::Fw4
        }
    }

    /// The family's bit value in this generation.
    pub fn family_bits(self, f: Family) -> u32 {
        match self {
            TagConventions::Fw4 => family_bits_v4(f),
            TagConventions::Fw5 => family_bits_v5(f),
        }
    }

    /// `goodness` as this generation reports it: 5.x sets 1.0 (`removed in upstream
    /// v3.4.5`, lib/imlib/apriltag.c v5.0.0); 4.x divides the detector's goodness by 255,
    /// and that is 0 with `refine_pose = 0` (lib/imlib/apriltag.c v4.8.1).
    pub fn goodness(self) -> f64 {
        match self {
            TagConventions::Fw4 => 0.0,
            TagConventions::Fw5 => 1.0,
        }
    }
}

/// `fast_roundf` on an OpenMV core: the value cast to `float`, then `vcvtr.S32.F32`,
/// round to nearest with ties to even (lib/imlib/fmath.h v5.0.0, v4.8.1).
pub fn fast_roundf(v: f64) -> i32 {
    let f = v as f32;
    let r = f.round();
    // `round` takes ties away from zero; a tie whose result is odd goes back to even.
    let r = if (f - f.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - f.signum()
    } else {
        r
    };
    r as i32
}

/// `fast_atanf` (lib/imlib/fmath.c v5.0.0, identical at v4.8.1): Cephes' single-precision
/// polynomial with the tan(3π/8) and tan(π/8) range reductions.
fn fast_atanf(xx: f32) -> f32 {
    let (sign, mut x) = if xx < 0.0 { (-1, -xx) } else { (1, xx) };
    let mut y: f32;
    if x > 2.414_213_6 {
        y = std::f32::consts::FRAC_PI_2;
        x = -(1.0 / x);
    } else if x > 0.414_213_57 {
        y = std::f32::consts::FRAC_PI_4;
        x = (x - 1.0) / (x + 1.0);
    } else {
        y = 0.0;
    }
    let z = x * x;
    y += (((8.053_744_5e-2 * z - 1.387_768_6e-1) * z + 1.997_771_1e-1) * z - 3.333_295e-1) * z * x
        + x;
    if sign < 0 {
        -y
    } else {
        y
    }
}

/// `fast_atan2f` as the firmware computes it (lib/imlib/fmath.c v5.0.0 and v4.8.1;
/// src/omv/imlib/fmath.c v4.5.9): in [0, 2π), and 0, π or −π when x == 0 (or a NaN).
pub fn fast_atan2f(y: f32, x: f32) -> f32 {
    use std::f32::consts::PI;
    if x > 0.0 && y >= 0.0 {
        return fast_atanf(y / x);
    }
    if x < 0.0 && y >= 0.0 {
        return PI - fast_atanf(-y / x);
    }
    if x < 0.0 && y < 0.0 {
        return PI + fast_atanf(y / x);
    }
    if x > 0.0 && y < 0.0 {
        return 2.0 * PI - fast_atanf(-y / x);
    }
    if y == 0.0 {
        0.0
    } else if y > 0.0 {
        PI
    } else {
        -PI
    }
}

/// A C `float` field read back as MicroPython prints it.
fn f32v(v: f64) -> f64 {
    f64::from(v as f32)
}

/// What the camera would report for `det`, found with intrinsics `k` (the values the
/// script passes to `find_apriltags`) by a firmware of generation `conv`. Used by the
/// virtual camera.
pub fn from_library(det: &Detection, k: &Intrinsics, conv: TagConventions) -> CameraTag {
    let p = det.corners.map(|c| [fast_roundf(c.x), fast_roundf(c.y)]);
    let corners = [p[3], p[2], p[1], p[0]];
    let xs = corners.map(|c| c[0]);
    let ys = corners.map(|c| c[1]);
    let (x0, x1) = (
        *xs.iter().min().unwrap_or(&0),
        *xs.iter().max().unwrap_or(&0),
    );
    let (y0, y1) = (
        *ys.iter().min().unwrap_or(&0),
        *ys.iter().max().unwrap_or(&0),
    );
    // The script passes fx, fy, cx, cy as floats (`float fx` … in imlib_find_apriltags).
    let m = homography_to_pose_raw(
        &det.homography,
        -f32v(k.fx),
        f32v(k.fy),
        f32v(k.cx),
        f32v(k.cy),
    );
    let el = |r: usize, c: usize| m[(r, c)] as f32;
    let (r21, r22) = (el(2, 1), el(2, 2));
    let z_rotation = f64::from(fast_atan2f(el(1, 0), el(0, 0)));
    // centroid_x is a float; cx its fast_roundf (modules/py_image.c v5.0.0).
    let (cxf, cyf) = (f32v(det.center.x), f32v(det.center.y));
    CameraTag {
        id: det.id,
        family: conv.family_bits(det.family),
        name: camera_family_name(det.family),
        cx: fast_roundf(cxf),
        cy: fast_roundf(cyf),
        cxf,
        cyf,
        rotation: z_rotation,
        decision_margin: f32v(f64::from(det.decision_margin) / 255.0),
        hamming: det.hamming,
        goodness: conv.goodness(),
        x_translation: f32v(m[(0, 3)]),
        y_translation: f32v(m[(1, 3)]),
        z_translation: f32v(m[(2, 3)]),
        x_rotation: f64::from(fast_atan2f(r21, r22)),
        // `fast_sqrtf(r21 * r21 + r22 * r22)` of doubles, as a float.
        y_rotation: f64::from(fast_atan2f(
            -el(2, 0),
            ((m[(2, 1)] * m[(2, 1)] + m[(2, 2)] * m[(2, 2)]) as f32).sqrt(),
        )),
        z_rotation,
        corners,
        rect: [x0, y0, x1 - x0, y1 - y0],
    }
}

/// Why a camera result could not be converted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConvertError {
    /// The family name is not one visreg knows.
    #[error("the camera reported an unknown family name '{0}'")]
    UnknownFamily(String),
    /// A pose field is missing or not a number.
    #[error("tag {id}: pose field {field} is not a finite number ({value})")]
    BadPose {
        /// Tag id.
        id: u32,
        /// The field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
}

/// The camera frame (looking down −z, y up) to the OpenCV frame visreg uses.
fn flip() -> Matrix3<f64> {
    Matrix3::from_diagonal(&Vector3::new(1.0, -1.0, -1.0))
}

/// Converts a camera result to the dataset's conventions: corners back in the library's
/// order (still integer, so within ±0.5 px of the camera's sub-pixel corners), centre from
/// `cxf`/`cyf`, pose rebuilt from the Euler angles and scaled by `tag_size_m` / 2. A tag
/// whose pose fields are not finite numbers keeps its corners but has no pose.
pub fn to_dataset(tag: &CameraTag, tag_size_m: f64) -> Result<DetectedTag, ConvertError> {
    let family: Family = tag
        .name
        .parse()
        .map_err(|_| ConvertError::UnknownFamily(tag.name.clone()))?;
    let c = tag.corners;
    let corners = [c[3], c[2], c[1], c[0]].map(|p| Point2::new(f64::from(p[0]), f64::from(p[1])));
    Ok(DetectedTag {
        family,
        id: tag.id,
        corners,
        center: Point2::new(tag.cxf, tag.cyf),
        hamming: tag.hamming,
        decision_margin: tag.decision_margin * 255.0,
        pose: camera_pose(tag, tag_size_m).ok(),
    })
}

/// The pose of a camera result in the OpenCV frame, metres.
pub fn camera_pose(tag: &CameraTag, tag_size_m: f64) -> Result<Pose, ConvertError> {
    for (field, value) in [
        ("x_translation", tag.x_translation),
        ("y_translation", tag.y_translation),
        ("z_translation", tag.z_translation),
        ("x_rotation", tag.x_rotation),
        ("y_rotation", tag.y_rotation),
        ("z_rotation", tag.z_rotation),
    ] {
        if !value.is_finite() {
            return Err(ConvertError::BadPose {
                id: tag.id,
                field,
                value,
            });
        }
    }
    // y_rotation is fast_atan2f(−r20, √(r21² + r22²)): its x is never negative, so it lies
    // in [0, π/2] ∪ (3π/2, 2π) — except at x == 0, where fast_atan2f answers ±π for ±π/2
    // (lib/imlib/fmath.c v5.0.0). An exact ±π can only be that.
    let y_rotation = if (tag.y_rotation.abs() - std::f64::consts::PI).abs() < 1e-6 {
        tag.y_rotation.signum() * std::f64::consts::FRAC_PI_2
    } else {
        tag.y_rotation
    };
    // The Euler angles are used only through sines and cosines: [0, 2π) and (−π, π]
    // give the same matrix.
    let r_camera = Rotation3::from_axis_angle(&Vector3::z_axis(), tag.z_rotation)
        * Rotation3::from_axis_angle(&Vector3::y_axis(), y_rotation)
        * Rotation3::from_axis_angle(&Vector3::x_axis(), tag.x_rotation);
    let t_camera = Vector3::new(tag.x_translation, tag.y_translation, tag.z_translation);
    let f = flip();
    Ok(Pose {
        rotation: Rotation3::from_matrix_unchecked(f * r_camera.matrix()),
        translation: f * t_camera * (tag_size_m / 2.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use visreg_apriltag::{Detector, DetectorSettings, GrayImage};
    use visreg_datasets::geometry::{openmv_default_intrinsics, rotation_angle_deg};
    use visreg_datasets::render::{render, Degradation, FrameSpec, TagPlacement};

    fn scene(pose: Pose) -> (Vec<u8>, Intrinsics) {
        let k = openmv_default_intrinsics(320, 240);
        let spec = FrameSpec {
            width: 320,
            height: 240,
            intrinsics: k,
            family: Family::Tag36h11,
            tag_size_m: 0.08,
            tags: vec![TagPlacement { id: 42, pose }],
            degradation: Degradation::none(),
            seed: 3,
        };
        (render(&spec).unwrap().pixels, k)
    }

    fn detect(pixels: &[u8]) -> Detection {
        let mut d = Detector::new(DetectorSettings::reference(Family::Tag36h11)).unwrap();
        let found = d.detect(GrayImage::new(320, 240, pixels)).unwrap();
        assert_eq!(found.len(), 1);
        found.into_iter().next().unwrap()
    }

    #[test]
    fn camera_results_convert_back_to_ground_truth() {
        for (i, pose) in [
            Pose {
                rotation: Rotation3::from_euler_angles(0.5, -0.3, 0.4),
                translation: Vector3::new(0.04, -0.03, 0.45),
            },
            Pose {
                rotation: Rotation3::from_euler_angles(-0.2, 0.6, -1.2),
                translation: Vector3::new(-0.05, 0.02, 0.6),
            },
        ]
        .into_iter()
        .enumerate()
        {
            let (pixels, k) = scene(pose);
            let det = detect(&pixels);
            let cam = from_library(&det, &k, TagConventions::Fw5);
            // The camera's conventions: reversed, integer corners; in front = negative z.
            assert_eq!(
                cam.corners[0],
                [
                    det.corners[3].x.round() as i32,
                    det.corners[3].y.round() as i32
                ]
            );
            assert!(cam.z_translation < 0.0, "case {i}");
            assert_eq!(cam.name, "TAG36H11");
            let back = to_dataset(&cam, 0.08).unwrap();
            let truth = pose.corners_px(&k, 0.08).unwrap();
            for (a, b) in back.corners.iter().zip(truth) {
                assert!((a - b).norm() < 0.75, "case {i}: corner {a} vs truth {b}");
            }
            let p = back.pose.unwrap();
            // homography_to_pose is the un-refined seed: a few percent and degrees.
            assert!(
                (p.translation - pose.translation).norm() < 0.03 * pose.range_m(),
                "case {i}: {:?}",
                p.translation
            );
            assert!(
                rotation_angle_deg(&p.rotation, &pose.rotation) < 3.0,
                "case {i}"
            );
        }
    }

    /// A 5.x tag 10 units in front of the camera with the given Euler angles, radians.
    fn tag_with_euler_angles(x_rotation: f64, y_rotation: f64, z_rotation: f64) -> CameraTag {
        CameraTag {
            id: 1,
            family: 8,
            name: "TAG36H11".into(),
            cx: 0,
            cy: 0,
            cxf: 0.0,
            cyf: 0.0,
            rotation: 0.0,
            decision_margin: 0.5,
            hamming: 0,
            goodness: 1.0,
            x_translation: 0.0,
            y_translation: 0.0,
            z_translation: -10.0,
            x_rotation,
            y_rotation,
            z_rotation,
            corners: [[0, 0]; 4],
            rect: [0, 0, 0, 0],
        }
    }

    #[test]
    fn euler_angles_recompose_exactly() {
        let r = Rotation3::from_euler_angles(0.3f64, -0.4, 1.1);
        let m: Matrix3<f64> = *r.matrix();
        let tag = tag_with_euler_angles(
            m[(2, 1)].atan2(m[(2, 2)]),
            (-m[(2, 0)]).atan2((m[(2, 1)].powi(2) + m[(2, 2)].powi(2)).sqrt()),
            m[(1, 0)].atan2(m[(0, 0)]),
        );
        let p = camera_pose(&tag, 0.1).unwrap();
        let expect = flip() * m;
        assert!((p.rotation.matrix() - expect).abs().max() < 1e-12);
        // 10 half-sizes of a 0.1 m tag in front of the camera = 0.5 m along +z.
        assert!((p.translation - Vector3::new(0.0, 0.0, 0.5)).norm() < 1e-12);
        let mut broken = tag.clone();
        broken.x_rotation = f64::NAN;
        assert!(camera_pose(&broken, 0.1).is_err());
        assert!(to_dataset(&broken, 0.1).unwrap().pose.is_none());
        broken.name = "TAG99".into();
        assert!(to_dataset(&broken, 0.1).is_err());
    }

    #[test]
    fn fast_roundf_rounds_ties_to_even_after_a_float_cast() {
        for (v, want) in [
            (0.5, 0),
            (1.5, 2),
            (2.5, 2),
            (3.5, 4),
            (-2.5, -2),
            (-3.5, -4),
            (2.4999, 2),
            (2.5001, 3),
            // Not a tie as a double, a tie once cast to float: even.
            (2.500_000_01, 2),
            (10.499_999_999, 10),
        ] {
            assert_eq!(fast_roundf(v), want, "{v}");
        }
    }

    #[test]
    fn fast_atan2f_is_in_0_to_2pi_and_has_the_firmwares_x_zero_answers() {
        use std::f64::consts::{PI, TAU};
        for i in 0..3600 {
            let a = -PI + TAU * (f64::from(i) + 0.5) / 3600.0;
            let (y, x) = (a.sin() as f32, a.cos() as f32);
            let got = f64::from(fast_atan2f(y, x));
            assert!((0.0..TAU).contains(&got), "{a}: {got}");
            let want = f64::from(y).atan2(f64::from(x)).rem_euclid(TAU);
            let d = (got - want).abs();
            assert!(d.min(TAU - d) < 2e-6, "{a}: {got} vs {want}");
        }
        assert_eq!(fast_atan2f(1.0, 0.0), std::f32::consts::PI, "π, not π/2");
        assert_eq!(fast_atan2f(-1.0, 0.0), -std::f32::consts::PI);
        assert_eq!(fast_atan2f(0.0, 0.0), 0.0);
        assert_eq!(fast_atan2f(f32::NAN, 1.0), -std::f32::consts::PI);
    }

    #[test]
    fn camera_angles_are_in_0_to_2pi_and_still_convert_to_the_truth() {
        use std::f64::consts::TAU;
        // In the camera frame (y up, z back) these come out as negative angles to atan2.
        let pose = Pose {
            rotation: Rotation3::from_euler_angles(0.4, 0.3, 0.9),
            translation: Vector3::new(-0.03, 0.02, 0.5),
        };
        let (pixels, k) = scene(pose);
        let det = detect(&pixels);
        let cam = from_library(&det, &k, TagConventions::Fw5);
        for a in [cam.x_rotation, cam.y_rotation, cam.z_rotation, cam.rotation] {
            assert!((0.0..TAU).contains(&a), "{a} outside [0, 2π)");
        }
        // At least one of them is an angle atan2 would give as negative.
        assert!(
            [cam.x_rotation, cam.y_rotation, cam.z_rotation]
                .iter()
                .any(|a| *a > std::f64::consts::PI),
            "{cam:?}"
        );
        let p = to_dataset(&cam, 0.08).unwrap().pose.unwrap();
        assert!(rotation_angle_deg(&p.rotation, &pose.rotation) < 3.0);
        assert!((p.translation - pose.translation).norm() < 0.03 * pose.range_m());
    }

    #[test]
    fn a_y_rotation_of_pi_is_fast_atan2fs_answer_for_a_quarter_turn() {
        // R = Ry(90°): r20 = −1, r21 = r22 = 0, so the firmware computes
        // fast_atan2f(1, 0) = π for y_rotation.
        let m =
            *Rotation3::from_axis_angle(&Vector3::y_axis(), std::f64::consts::FRAC_PI_2).matrix();
        let y = fast_atan2f(-m[(2, 0)] as f32, 0.0);
        assert_eq!(y, std::f32::consts::PI);
        let tag = tag_with_euler_angles(0.0, f64::from(y), 0.0);
        let p = camera_pose(&tag, 0.1).unwrap();
        assert!((p.rotation.matrix() - flip() * m).abs().max() < 1e-6);
    }

    #[test]
    fn firmware_4_reports_goodness_0_and_tag36h11_as_16() {
        let pose = Pose {
            rotation: Rotation3::from_euler_angles(0.2, 0.1, 0.3),
            translation: Vector3::new(0.0, 0.0, 0.5),
        };
        let (pixels, k) = scene(pose);
        let det = detect(&pixels);
        let (v4, v5) = (
            from_library(&det, &k, TagConventions::Fw4),
            from_library(&det, &k, TagConventions::Fw5),
        );
        assert_eq!((v4.family, v4.goodness), (16, 0.0));
        assert_eq!((v5.family, v5.goodness), (8, 1.0));
        // The geometry is the same: no pixel-convention shift between them.
        assert_eq!((v4.corners, v4.cxf), (v5.corners, v5.cxf));
        assert_eq!(
            to_dataset(&v4, 0.08).unwrap().corners,
            to_dataset(&v5, 0.08).unwrap().corners
        );
        assert_eq!(TagConventions::for_major(4), TagConventions::Fw4);
        assert_eq!(TagConventions::for_major(5), TagConventions::Fw5);
    }
}
