//! A small, safe layer over the AprilTag C library **3.4.5**, compiled from the sources
//! bundled in `apriltag-sys` 0.4.
//!
//! visreg does not use the `apriltag` crate: it pins `apriltag-sys` 0.3, which bundles C
//! 3.2.0, whose corners carry a constant −0.125 px bias (see `shared/APRILTAG.md`). A
//! reference detector with a known bias cannot be the reference, so this crate wraps the
//! 3.4.5 library directly and exposes only what visreg needs: tag family data (for the
//! renderer), the detector with explicit settings, and the library's own pose estimation.
//!
//! # Conventions (the library's, stated once here)
//! - Pixel coordinates: `(0, 0)` is the top-left *corner* of the first pixel; the centre of
//!   pixel `(i, j)` is `(i + 0.5, j + 0.5)` ([`PIXEL_CENTER_OFFSET`]).
//! - Corner order: tag coordinates (−1, +1), (+1, +1), (+1, −1), (−1, −1); for an upright
//!   tag facing the camera that is bottom-left, bottom-right, top-right, top-left —
//!   counter-clockwise as seen in the image.
//! - Pose: `T_cam_tag`, metres; camera frame x right, y down, z forward; tag frame origin
//!   at the tag centre, x right, y down, z into the tag.
#![warn(missing_docs)]

mod detector;
mod family;
mod pose;

pub use detector::{Detection, Detector, DetectorSettings, GrayImage};
pub use family::{Family, FamilyLayout, TagCells, UnknownFamily};
pub use pose::{estimate_pose, homography_to_pose_raw, CameraIntrinsics, TagPose};

/// Version of the AprilTag C library compiled into this crate. Recorded with every result.
pub const C_LIBRARY_VERSION: &str = "3.4.5";

/// Where the centre of pixel `(0, 0)` lies in the library's coordinates (3.4.3 and later).
pub const PIXEL_CENTER_OFFSET: f64 = 0.5;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tag id outside the family.
    #[error("tag id {id} is not in family {family} (it has ids 0..{count})")]
    IdOutOfRange {
        /// The family.
        family: Family,
        /// The id asked for.
        id: u32,
        /// How many codes the family has.
        count: u32,
    },
    /// A detector setting the library cannot take.
    #[error("invalid detector setting: {0}")]
    InvalidSetting(String),
    /// The C library failed to allocate.
    #[error("the AprilTag C library could not allocate memory for {0}")]
    OutOfMemory(&'static str),
    /// An image whose buffer does not match its stated size.
    #[error("image buffer of {len} bytes is too small for {width}×{height} with stride {stride}")]
    BadImage {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Row stride in bytes.
        stride: u32,
        /// Buffer length.
        len: usize,
    },
}
