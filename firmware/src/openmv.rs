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

/// The family bit value firmware 5.x uses (PROTOCOL.md §4); 0 where not listed there.
pub fn family_bits_v5(f: Family) -> u32 {
    match f {
        Family::Tag16h5 => 1,
        Family::Tag25h9 => 2,
        Family::Tag36h11 => 8,
        Family::TagCircle21h7 => 16,
        _ => 0,
    }
}

/// Rounds half away from zero, as OpenMV's `fast_roundf` (`lroundf`) does.
fn round_px(v: f64) -> i32 {
    v.round() as i32
}

/// What the camera would report for `det`, found with intrinsics `k` (the values the
/// script passes to `find_apriltags`). Used by the virtual camera.
pub fn from_library(det: &Detection, k: &Intrinsics) -> CameraTag {
    let p = det.corners.map(|c| [round_px(c.x), round_px(c.y)]);
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
    let m = homography_to_pose_raw(&det.homography, -k.fx, k.fy, k.cx, k.cy);
    let (r21, r22) = (m[(2, 1)], m[(2, 2)]);
    let z_rotation = m[(1, 0)].atan2(m[(0, 0)]);
    CameraTag {
        id: det.id,
        family: family_bits_v5(det.family),
        name: camera_family_name(det.family),
        cx: round_px(det.center.x),
        cy: round_px(det.center.y),
        cxf: det.center.x,
        cyf: det.center.y,
        rotation: z_rotation,
        decision_margin: f64::from(det.decision_margin) / 255.0,
        hamming: det.hamming,
        goodness: 1.0,
        x_translation: m[(0, 3)],
        y_translation: m[(1, 3)],
        z_translation: m[(2, 3)],
        x_rotation: r21.atan2(r22),
        y_rotation: (-m[(2, 0)]).atan2((r21 * r21 + r22 * r22).sqrt()),
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
    let r_camera = Rotation3::from_axis_angle(&Vector3::z_axis(), tag.z_rotation)
        * Rotation3::from_axis_angle(&Vector3::y_axis(), tag.y_rotation)
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
            let cam = from_library(&det, &k);
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

    #[test]
    fn euler_angles_recompose_exactly() {
        let r = Rotation3::from_euler_angles(0.3f64, -0.4, 1.1);
        let m: Matrix3<f64> = *r.matrix();
        let tag = CameraTag {
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
            x_rotation: m[(2, 1)].atan2(m[(2, 2)]),
            y_rotation: (-m[(2, 0)]).atan2((m[(2, 1)].powi(2) + m[(2, 2)].powi(2)).sqrt()),
            z_rotation: m[(1, 0)].atan2(m[(0, 0)]),
            corners: [[0, 0]; 4],
            rect: [0, 0, 0, 0],
        };
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
}
