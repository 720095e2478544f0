//! A fixture: a target sheet printed by `visreg dataset target` standing at a measured
//! pose in front of a camera — a lab rig. Its truth is the same in every frame: each tag's
//! pose follows from where the sheet puts it and where the sheet stands. Rendered as a
//! dataset (every frame the same scene, fresh sensor noise), it is what a virtual camera's
//! sensor shows in live mode, and its truth is what a real camera's live captures are
//! scored against.
//!
//! Frames: the camera's (x right, y down, z forward). The sheet stands upright facing the
//! camera, its centre `distance_m` straight ahead, turned by `yaw_deg` about the camera's
//! vertical axis and then `pitch_deg` about its horizontal one; on the sheet, x runs right
//! and y down as on the printed page.

use nalgebra::{Rotation3, Vector3};
use visreg_apriltag::Family;

use crate::format::{CameraSection, Dataset, Manifest, TagsSection, FORMAT_VERSION};
use crate::generate::{write_specs, GenerateError, Progress};
use crate::geometry::{openmv_default_intrinsics, Pose};
use crate::render::{Degradation, FrameSpec, TagPlacement};
use crate::target::{render_sheet, Paper, SheetError, SheetSpec};

/// A rig: the printed sheet and where it stands.
#[derive(Clone, Debug, PartialEq)]
pub struct FixtureSpec {
    /// Family printed.
    pub family: Family,
    /// Ids, in print order (as given to `visreg dataset target --ids`).
    pub ids: Vec<u32>,
    /// Printed tag size (black border edge), millimetres.
    pub size_mm: f64,
    /// Paper the sheet is printed on.
    pub paper: Paper,
    /// Camera to sheet centre, metres.
    pub distance_m: f64,
    /// Turn about the camera's vertical axis, degrees.
    pub yaw_deg: f64,
    /// Tilt about the camera's horizontal axis, degrees.
    pub pitch_deg: f64,
    /// Image size the camera captures at.
    pub width: u32,
    /// Image size.
    pub height: u32,
}

impl FixtureSpec {
    /// Each tag's pose in the camera frame.
    pub fn placements(&self) -> Result<Vec<TagPlacement>, SheetError> {
        // The layout is the printed sheet's; 72 dpi is enough to learn where it puts tags.
        let sheet = render_sheet(&SheetSpec {
            family: self.family,
            ids: self.ids.clone(),
            size_mm: self.size_mm,
            dpi: 72,
            paper: self.paper,
        })?;
        let (page_w, page_h) = self.paper.size_mm();
        let sheet_rotation =
            Rotation3::from_axis_angle(&Vector3::y_axis(), self.yaw_deg.to_radians())
                * Rotation3::from_axis_angle(&Vector3::x_axis(), self.pitch_deg.to_radians());
        let centre = Vector3::new(0.0, 0.0, self.distance_m);
        Ok(sheet
            .placements
            .iter()
            .map(|&(id, x_mm, y_mm)| {
                let on_sheet = Vector3::new(
                    (x_mm + self.size_mm / 2.0 - page_w / 2.0) / 1000.0,
                    (y_mm + self.size_mm / 2.0 - page_h / 2.0) / 1000.0,
                    0.0,
                );
                TagPlacement {
                    id,
                    pose: Pose {
                        rotation: sheet_rotation,
                        translation: centre + sheet_rotation * on_sheet,
                    },
                }
            })
            .collect())
    }

    /// Frame `index`: the rig's scene with sensor noise of its own.
    pub fn frame_spec(&self, tags: &[TagPlacement], seed: u64, index: usize) -> FrameSpec {
        FrameSpec {
            width: self.width,
            height: self.height,
            intrinsics: openmv_default_intrinsics(self.width, self.height),
            family: self.family,
            tag_size_m: self.size_mm / 1000.0,
            tags: tags.to_vec(),
            degradation: Degradation {
                noise_sigma: 2.0,
                ..Degradation::none()
            },
            seed: seed.wrapping_mul(1_000_003).wrapping_add(index as u64),
        }
    }

    /// The dataset's manifest (named `name`).
    pub fn manifest(&self, name: &str) -> Manifest {
        Manifest {
            name: name.to_string(),
            format_version: FORMAT_VERSION,
            description: format!(
                "fixture: {} ids {:?} of {} mm at {} m, yaw {}°, pitch {}°",
                self.family.name(),
                self.ids,
                self.size_mm,
                self.distance_m,
                self.yaw_deg,
                self.pitch_deg
            ),
            camera: CameraSection::openmv_default(
                "OpenMV camera on a rig (find_apriltags default intrinsics)",
                self.width,
                self.height,
            ),
            tags: TagsSection {
                family: self.family,
                size_m: self.size_mm / 1000.0,
            },
            generator: None,
        }
    }
}

/// Errors of a fixture.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The sheet cannot be laid out.
    #[error("the fixture's sheet cannot be laid out")]
    Sheet(#[from] SheetError),
    /// A tag is outside the camera's view.
    #[error("tag {0} of the fixture is outside the camera's view: check distance_m, yaw_deg and pitch_deg")]
    OutOfView(u32),
    /// Writing failed.
    #[error(transparent)]
    Generate(#[from] GenerateError),
}

/// Renders the rig `spec` as a dataset of `frames` frames into `out` (named `name`).
pub fn generate_fixture(
    spec: &FixtureSpec,
    name: &str,
    frames: usize,
    seed: u64,
    out: &std::path::Path,
    on_progress: &(dyn Fn(Progress) + Sync),
) -> Result<Dataset, FixtureError> {
    let tags = spec.placements()?;
    let k = openmv_default_intrinsics(spec.width, spec.height);
    for t in &tags {
        let inside = t
            .pose
            .corners_px(&k, spec.size_mm / 1000.0)
            .is_some_and(|c| {
                c.iter().all(|p| {
                    p.x >= 0.0
                        && p.y >= 0.0
                        && p.x <= f64::from(spec.width)
                        && p.y <= f64::from(spec.height)
                })
            });
        if !inside {
            return Err(FixtureError::OutOfView(t.id));
        }
    }
    Ok(write_specs(
        out,
        &spec.manifest(name),
        frames,
        &|i| spec.frame_spec(&tags, seed, i),
        on_progress,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rig(yaw: f64) -> FixtureSpec {
        FixtureSpec {
            family: Family::Tag36h11,
            ids: vec![0, 1, 2, 3],
            size_mm: 60.0,
            paper: Paper::A4,
            distance_m: 0.6,
            yaw_deg: yaw,
            pitch_deg: 0.0,
            width: 320,
            height: 240,
        }
    }

    #[test]
    fn the_sheet_stands_where_the_fixture_says() {
        let tags = rig(0.0).placements().unwrap();
        assert_eq!(tags.iter().map(|t| t.id).collect::<Vec<_>>(), [0, 1, 2, 3]);
        for t in &tags {
            // Face-on: every tag at the sheet's distance, none turned.
            assert!((t.pose.translation.z - 0.6).abs() < 1e-12);
            assert!(t.pose.view_angle_deg() < 25.0);
        }
        // The sheet's tags sit around its centre: the mean offset is small against the
        // page, and the first tag is up and left of the last.
        let (a, b) = (&tags[0].pose.translation, &tags[3].pose.translation);
        assert!(a.x < b.x && a.y < b.y, "{a} {b}");
        // Yawed by 30°: the sheet's right side moves away from the camera.
        let turned = rig(30.0).placements().unwrap();
        let right = turned
            .iter()
            .max_by(|p, q| p.pose.translation.x.total_cmp(&q.pose.translation.x))
            .unwrap();
        let left = turned
            .iter()
            .min_by(|p, q| p.pose.translation.x.total_cmp(&q.pose.translation.x))
            .unwrap();
        // R_y(+30°) takes the sheet's +x towards the camera (z shrinks on the right).
        assert!(right.pose.translation.z < 0.6 && left.pose.translation.z > 0.6);
        assert!((turned[0].pose.rotation.angle().to_degrees() - 30.0).abs() < 1e-9);
    }

    #[test]
    fn a_rig_out_of_view_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = rig(0.0);
        r.distance_m = 0.15;
        let e =
            generate_fixture(&r, "too-close", 2, 1, &dir.path().join("d"), &|_| {}).unwrap_err();
        assert!(e.to_string().contains("outside the camera's view"), "{e}");
    }
}
