//! Camera geometry shared by the renderer, the loader and scoring: pinhole projection in
//! the library's pixel convention, tag poses, tag corners in the library's order, and the
//! derived quantities used for bucketing (range, viewing angle).

use nalgebra::{Matrix3, Point2, Point3, Rotation3, Vector3};
use serde::{Deserialize, Serialize};

pub use visreg_apriltag::CameraIntrinsics as Intrinsics;

/// Tag coordinates of the four corners, in the library's order. Tag coordinate ±1 is the
/// outer edge of the black border (half the pose tag size).
pub const CORNER_TAG_COORDS: [(f64, f64); 4] = [(-1.0, 1.0), (1.0, 1.0), (1.0, -1.0), (-1.0, -1.0)];

/// The OpenMV firmware's default `find_apriltags` intrinsics for a `width`×`height` image
/// (2.8 mm lens on the OV7725's 3.984 × 2.952 mm sensor; PROTOCOL.md §4), with the
/// principal point at the exact image centre.
pub fn openmv_default_intrinsics(width: u32, height: u32) -> Intrinsics {
    Intrinsics {
        fx: 2.8 / 3.984 * f64::from(width),
        fy: 2.8 / 2.952 * f64::from(height),
        cx: f64::from(width) / 2.0,
        cy: f64::from(height) / 2.0,
    }
}

/// Projects a point in the camera frame to pixels. `None` behind the camera.
pub fn project(k: &Intrinsics, p: &Point3<f64>) -> Option<Point2<f64>> {
    if p.z <= 1e-9 {
        return None;
    }
    Some(Point2::new(
        k.fx * p.x / p.z + k.cx,
        k.fy * p.y / p.z + k.cy,
    ))
}

/// The ray through pixel `px` (not normalised; z = 1).
pub fn unproject(k: &Intrinsics, px: &Point2<f64>) -> Vector3<f64> {
    Vector3::new((px.x - k.cx) / k.fx, (px.y - k.cy) / k.fy, 1.0)
}

/// The camera matrix K.
pub fn camera_matrix(k: &Intrinsics) -> Matrix3<f64> {
    Matrix3::new(k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0)
}

/// `T_cam_tag`: rotation from tag frame to camera frame and the tag centre in the camera
/// frame (metres). Serialised as a row-major 3×3 `rotation` and `translation_m`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    /// Row-major rotation matrix, tag frame → camera frame.
    #[serde(with = "rotation_rows")]
    pub rotation: Rotation3<f64>,
    /// Tag centre in the camera frame, metres.
    #[serde(rename = "translation_m", with = "vector_array")]
    pub translation: Vector3<f64>,
}

impl Pose {
    /// Maps a point of the tag frame (metres) to the camera frame.
    pub fn transform(&self, p: &Point3<f64>) -> Point3<f64> {
        Point3::from(self.rotation * p.coords + self.translation)
    }

    /// Distance from the camera centre to the tag centre, metres.
    pub fn range_m(&self) -> f64 {
        self.translation.norm()
    }

    /// Angle between the tag's normal and the line of sight to its centre, degrees
    /// (0 = seen face-on).
    pub fn view_angle_deg(&self) -> f64 {
        let normal_into_tag = self.rotation * Vector3::z();
        let sight = self.translation.normalize();
        normal_into_tag
            .dot(&sight)
            .clamp(-1.0, 1.0)
            .acos()
            .to_degrees()
    }

    /// Homography from tag coordinates ([−1, 1]², ±1 at the border's outer edge) to pixels,
    /// for a tag of edge `tag_size_m`: `K [r1 r2 t] diag(s/2, s/2, 1)`.
    pub fn tag_homography(&self, k: &Intrinsics, tag_size_m: f64) -> Matrix3<f64> {
        let r = self.rotation.matrix();
        let half = tag_size_m / 2.0;
        let m = Matrix3::from_columns(&[r.column(0) * half, r.column(1) * half, self.translation]);
        camera_matrix(k) * m
    }

    /// The four corners' pixels, in the library's order, for a tag of edge `tag_size_m`.
    pub fn corners_px(&self, k: &Intrinsics, tag_size_m: f64) -> Option<[Point2<f64>; 4]> {
        let half = tag_size_m / 2.0;
        let mut out = [Point2::origin(); 4];
        for (o, (a, b)) in out.iter_mut().zip(CORNER_TAG_COORDS) {
            *o = project(k, &self.transform(&Point3::new(a * half, b * half, 0.0)))?;
        }
        Some(out)
    }
}

/// Geodesic distance between two rotations, degrees.
pub fn rotation_angle_deg(a: &Rotation3<f64>, b: &Rotation3<f64>) -> f64 {
    let rel = a.matrix().transpose() * b.matrix();
    ((rel.trace() - 1.0) / 2.0)
        .clamp(-1.0, 1.0)
        .acos()
        .to_degrees()
}

mod rotation_rows {
    use nalgebra::{Matrix3, Rotation3};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(r: &Rotation3<f64>, s: S) -> Result<S::Ok, S::Error> {
        let m = r.matrix();
        let rows: [[f64; 3]; 3] = std::array::from_fn(|i| std::array::from_fn(|j| m[(i, j)]));
        rows.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Rotation3<f64>, D::Error> {
        let rows = <[[f64; 3]; 3]>::deserialize(d)?;
        let m = Matrix3::from_fn(|i, j| rows[i][j]);
        // Checked for orthonormality by the loader, which can name the line.
        Ok(Rotation3::from_matrix_unchecked(m))
    }
}

mod vector_array {
    use nalgebra::Vector3;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Vector3<f64>, s: S) -> Result<S::Ok, S::Error> {
        [v.x, v.y, v.z].serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vector3<f64>, D::Error> {
        let a = <[f64; 3]>::deserialize(d)?;
        Ok(Vector3::new(a[0], a[1], a[2]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k() -> Intrinsics {
        Intrinsics {
            fx: 200.0,
            fy: 210.0,
            cx: 160.0,
            cy: 120.0,
        }
    }

    #[test]
    fn face_on_tag_corners_follow_the_library_order() {
        // Face-on, upright, 1 m away, 0.1 m tag: corner 0 is bottom-left in the image.
        let pose = Pose {
            rotation: Rotation3::identity(),
            translation: Vector3::new(0.0, 0.0, 1.0),
        };
        let c = pose.corners_px(&k(), 0.1).unwrap();
        assert_eq!(c[0], Point2::new(150.0, 130.5)); // bottom-left (y grows downwards)
        assert_eq!(c[1], Point2::new(170.0, 130.5)); // bottom-right
        assert_eq!(c[2], Point2::new(170.0, 109.5)); // top-right
        assert_eq!(c[3], Point2::new(150.0, 109.5)); // top-left
        assert!((pose.range_m() - 1.0).abs() < 1e-12);
        assert!(pose.view_angle_deg().abs() < 1e-9);
    }

    #[test]
    fn homography_maps_tag_coords_to_the_same_corners() {
        let pose = Pose {
            rotation: Rotation3::from_euler_angles(0.3, -0.2, 0.7),
            translation: Vector3::new(0.05, -0.02, 0.6),
        };
        let h = pose.tag_homography(&k(), 0.08);
        let corners = pose.corners_px(&k(), 0.08).unwrap();
        for ((a, b), c) in CORNER_TAG_COORDS.iter().zip(corners) {
            let p = h * Vector3::new(*a, *b, 1.0);
            assert!((p.x / p.z - c.x).abs() < 1e-9 && (p.y / p.z - c.y).abs() < 1e-9);
        }
    }

    #[test]
    fn view_angle_is_the_tilt_from_the_line_of_sight() {
        let pose = Pose {
            rotation: Rotation3::from_axis_angle(&Vector3::y_axis(), 40f64.to_radians()),
            translation: Vector3::new(0.0, 0.0, 2.0),
        };
        assert!((pose.view_angle_deg() - 40.0).abs() < 1e-9);
    }

    #[test]
    fn rotation_angle_is_geodesic_and_symmetric() {
        let a = Rotation3::from_euler_angles(0.1, 0.2, 0.3);
        let b = a * Rotation3::from_axis_angle(&Vector3::x_axis(), 5f64.to_radians());
        assert!((rotation_angle_deg(&a, &b) - 5.0).abs() < 1e-9);
        assert!((rotation_angle_deg(&b, &a) - 5.0).abs() < 1e-9);
        // A transposed rotation is not the same rotation.
        let t = Rotation3::from_matrix_unchecked(a.matrix().transpose());
        assert!(rotation_angle_deg(&a, &t) > 10.0);
    }

    #[test]
    fn openmv_defaults_match_protocol_md() {
        let k = openmv_default_intrinsics(320, 240);
        assert!((k.fx - 224.899_598).abs() < 1e-5);
        assert!((k.fy - 227.642_276).abs() < 1e-5);
        assert_eq!((k.cx, k.cy), (160.0, 120.0));
    }
}
