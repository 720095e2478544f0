//! What is true: the dataset format (`dataset.toml`, `frames/*.png`, `truth.jsonl`), its
//! validating loader and content hash, the synthetic renderer with exact ground truth,
//! the built-in presets and their cache, and printable target sheets.
//!
//! Conventions (one place for each):
//! - pixels: the AprilTag library's (the centre of pixel (i, j) is (i + 0.5, j + 0.5));
//! - corners: the library's order, tag coordinates (−1,+1), (+1,+1), (+1,−1), (−1,−1);
//! - pose: `T_cam_tag` in metres, camera x right, y down, z forward; tag frame x right,
//!   y down, z into the tag — see [`geometry`].
#![warn(missing_docs)]

pub mod cache;
pub mod detection;
pub mod fixture;
pub mod format;
pub mod generate;
pub mod geometry;
pub mod hash;
pub mod preset;
pub mod render;
pub mod target;
mod texture;

pub use detection::DetectedTag;
pub use format::{
    Dataset, DatasetError, FrameTruth, Generator, Manifest, SceneParams, TagTruth, FORMAT_VERSION,
};
pub use geometry::{Intrinsics, Pose};
pub use visreg_apriltag::Family;
