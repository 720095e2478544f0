//! A detection in the dataset's conventions, whichever detector produced it (the host
//! reference detector, or a camera's result after conversion): the one type scoring reads.

use nalgebra::Point2;
use serde::{Deserialize, Serialize};
use visreg_apriltag::Family;

use crate::geometry::Pose;

/// A detection in the dataset's conventions, from any detector (host or camera).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectedTag {
    /// Family.
    pub family: Family,
    /// Tag id.
    pub id: u32,
    /// Corners, pixels, library order and pixel convention.
    #[serde(with = "corners_serde")]
    pub corners: [Point2<f64>; 4],
    /// Centre, pixels.
    #[serde(with = "point_serde")]
    pub center: Point2<f64>,
    /// Bits corrected.
    pub hamming: u32,
    /// Decision margin (the library's units).
    pub decision_margin: f64,
    /// `T_cam_tag`, when intrinsics and tag size were known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pose: Option<Pose>,
}

mod corners_serde {
    use nalgebra::Point2;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(c: &[Point2<f64>; 4], s: S) -> Result<S::Ok, S::Error> {
        c.map(|p| [p.x, p.y]).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[Point2<f64>; 4], D::Error> {
        Ok(<[[f64; 2]; 4]>::deserialize(d)?.map(|p| Point2::new(p[0], p[1])))
    }
}

mod point_serde {
    use nalgebra::Point2;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(p: &Point2<f64>, s: S) -> Result<S::Ok, S::Error> {
        [p.x, p.y].serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Point2<f64>, D::Error> {
        let a = <[f64; 2]>::deserialize(d)?;
        Ok(Point2::new(a[0], a[1]))
    }
}
