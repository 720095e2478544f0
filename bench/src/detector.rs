//! The host reference detector: AprilTag C 3.4.5 with explicit settings, plus the
//! library's pose estimation with the dataset's intrinsics and tag size. Its output is
//! already in the dataset's conventions (same pixel convention and corner order), which
//! `corners_agree_with_rendered_truth` in the tests proves against exact renders.

use std::sync::Mutex;

use nalgebra::Rotation3;
use visreg_apriltag::{estimate_pose, Detector, DetectorSettings, GrayImage};
pub use visreg_datasets::DetectedTag;
use visreg_datasets::{Intrinsics, Pose};

/// What pose estimation needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PoseParams {
    /// Intrinsics in the library's pixel convention.
    pub intrinsics: Intrinsics,
    /// Tag size (border edge), metres.
    pub tag_size_m: f64,
}

/// A thread-safe host detector: a pool of C detectors (one per concurrent caller; the C
/// detector keeps scratch state), all with the same settings.
pub struct HostDetector {
    settings: DetectorSettings,
    pool: Mutex<Vec<Detector>>,
}

impl HostDetector {
    /// A detector with `settings`; fails on settings the library cannot take.
    pub fn new(settings: DetectorSettings) -> Result<Self, visreg_apriltag::Error> {
        let first = Detector::new(settings.clone())?;
        Ok(HostDetector {
            settings,
            pool: Mutex::new(vec![first]),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &DetectorSettings {
        &self.settings
    }

    /// Detects tags in `image`, with poses when `pose` is given.
    pub fn detect(
        &self,
        image: GrayImage<'_>,
        pose: Option<PoseParams>,
    ) -> Result<Vec<DetectedTag>, visreg_apriltag::Error> {
        let taken = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut det = match taken {
            Some(d) => d,
            None => Detector::new(self.settings.clone())?,
        };
        let result = det.detect(image);
        self.pool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(det);
        Ok(result?
            .into_iter()
            .map(|d| {
                let pose = pose.map(|p| {
                    let tp = estimate_pose(&d, p.tag_size_m, p.intrinsics);
                    Pose {
                        rotation: Rotation3::from_matrix_unchecked(tp.rotation),
                        translation: tp.translation,
                    }
                });
                DetectedTag {
                    family: d.family,
                    id: d.id,
                    corners: d.corners,
                    center: d.center,
                    hamming: d.hamming,
                    decision_margin: f64::from(d.decision_margin),
                    pose,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Vector3;
    use visreg_apriltag::Family;
    use visreg_datasets::geometry::{openmv_default_intrinsics, rotation_angle_deg};
    use visreg_datasets::render::{render, Degradation, FrameSpec, TagPlacement};

    fn frame(family: Family, pose: Pose, size: (u32, u32)) -> (FrameSpec, Vec<u8>) {
        let spec = FrameSpec {
            width: size.0,
            height: size.1,
            intrinsics: openmv_default_intrinsics(size.0, size.1),
            family,
            tag_size_m: 0.08,
            tags: vec![TagPlacement { id: 7, pose }],
            degradation: Degradation::none(),
            seed: 11,
        };
        let r = render(&spec).unwrap();
        (spec, r.pixels)
    }

    /// The pixel-convention test: exact renders, many sub-pixel offsets; the mean corner
    /// error along x and y must be ~0. A half-pixel slip between renderer and detector
    /// (or the −0.125 px bias of C 3.2.0) would show up as a constant offset here.
    #[test]
    fn corners_agree_with_rendered_truth_without_bias() {
        let det = HostDetector::new(DetectorSettings::reference(Family::Tag36h11)).unwrap();
        let k = openmv_default_intrinsics(320, 240);
        let (mut sum_dx, mut sum_dy, mut n, mut max_err) = (0.0, 0.0, 0.0, 0.0f64);
        for i in 0..24 {
            let f = f64::from(i);
            let pose = Pose {
                rotation: Rotation3::from_euler_angles(
                    0.2 * (f * 0.7).sin(),
                    0.25 * (f * 1.3).cos(),
                    0.1 * f,
                ),
                translation: Vector3::new(
                    0.013 * (f - 12.0) / 12.0,
                    0.007 * (f * 0.5).sin(),
                    0.3 + 0.01 * f,
                ),
            };
            let (spec, pixels) = frame(Family::Tag36h11, pose, (320, 240));
            let truth = pose.corners_px(&k, spec.tag_size_m).unwrap();
            let found = det.detect(GrayImage::new(320, 240, &pixels), None).unwrap();
            assert_eq!(found.len(), 1, "frame {i}");
            for (d, t) in found[0].corners.iter().zip(truth) {
                sum_dx += d.x - t.x;
                sum_dy += d.y - t.y;
                max_err = max_err.max((d - t).norm());
                n += 1.0;
            }
        }
        let (bx, by) = (sum_dx / n, sum_dy / n);
        assert!(
            bx.abs() < 0.03 && by.abs() < 0.03,
            "corner bias ({bx:.4}, {by:.4}) px"
        );
        assert!(max_err < 0.3, "max corner error {max_err} px");
    }

    #[test]
    fn pose_matches_truth_in_the_camera_frame() {
        let det = HostDetector::new(DetectorSettings::reference(Family::Tag36h11)).unwrap();
        let k = openmv_default_intrinsics(320, 240);
        let pose = Pose {
            rotation: Rotation3::from_euler_angles(0.4, -0.3, 0.5),
            translation: Vector3::new(0.03, -0.02, 0.35),
        };
        let (_, pixels) = frame(Family::Tag36h11, pose, (320, 240));
        let found = det
            .detect(
                GrayImage::new(320, 240, &pixels),
                Some(PoseParams {
                    intrinsics: k,
                    tag_size_m: 0.08,
                }),
            )
            .unwrap();
        let p = found[0].pose.unwrap();
        assert!(
            (p.translation - pose.translation).norm() < 0.005,
            "{:?}",
            p.translation
        );
        assert!(rotation_angle_deg(&p.rotation, &pose.rotation) < 2.0);
    }
}
