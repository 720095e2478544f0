//! The dataset format and its validating loader.
//!
//! A dataset is a folder:
//! - `dataset.toml`: name, format version, camera (model, image size, intrinsics), tags
//!   (family, size), and the generator and seed when synthetic;
//! - `frames/`: gray PNG images;
//! - `truth.jsonl`: one line per frame: the frame's path, its scene parameters (for
//!   bucketing) and its tags with id, corners and pose.
//!
//! The loader checks everything it can without decoding images and names the first
//! offending file and line; [`Dataset::check_frames`] decodes every frame as well.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use image::GenericImageView;
use nalgebra::Point2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use visreg_apriltag::{Family, FamilyLayout};

use crate::geometry::{Intrinsics, Pose};

/// The version of the dataset format this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The manifest file name.
pub const MANIFEST_FILE: &str = "dataset.toml";
/// The truth file name.
pub const TRUTH_FILE: &str = "truth.jsonl";

/// `dataset.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Dataset name.
    pub name: String,
    /// Format version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// What the frames show, for people.
    #[serde(default)]
    pub description: String,
    /// The camera the frames come from (or are rendered for).
    pub camera: CameraSection,
    /// The tags in the frames.
    pub tags: TagsSection,
    /// Present when the frames were rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<Generator>,
}

/// `[camera]` of `dataset.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSection {
    /// Camera model, for people.
    pub model: String,
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    /// Focal length x, pixels.
    pub fx: f64,
    /// Focal length y, pixels.
    pub fy: f64,
    /// Principal point x, pixels, in the AprilTag library's convention (pixel (0,0)'s
    /// centre is (0.5, 0.5)); from an OpenCV calibration add 0.5.
    pub cx: f64,
    /// Principal point y, pixels, same convention as `cx`.
    pub cy: f64,
}

impl CameraSection {
    /// A `width`×`height` OpenMV camera with `find_apriltags`' default intrinsics
    /// (PROTOCOL.md §4), described as `model`.
    pub fn openmv_default(model: &str, width: u32, height: u32) -> Self {
        let k = crate::geometry::openmv_default_intrinsics(width, height);
        CameraSection {
            model: model.into(),
            width,
            height,
            fx: k.fx,
            fy: k.fy,
            cx: k.cx,
            cy: k.cy,
        }
    }
}

/// `[tags]` of `dataset.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsSection {
    /// Tag family.
    pub family: Family,
    /// Edge of the black border's outer square, metres (the pose tag size).
    pub size_m: f64,
}

/// `[generator]` of `dataset.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generator {
    /// Generator name (`visreg-render`).
    pub name: String,
    /// Generator version: a different version may render different pixels.
    pub version: u32,
    /// Preset rendered.
    pub preset: String,
    /// Seed.
    pub seed: u64,
}

impl Manifest {
    /// The intrinsics of the camera section.
    pub fn intrinsics(&self) -> Intrinsics {
        Intrinsics {
            fx: self.camera.fx,
            fy: self.camera.fy,
            cx: self.camera.cx,
            cy: self.camera.cy,
        }
    }
}

/// Scene parameters of a frame, used for bucketing. Unknown values (real photos) are
/// absent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SceneParams {
    /// Gaussian blur σ, pixels (0 = sharp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blur_sigma_px: Option<f64>,
    /// Sensor noise σ, gray levels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_sigma: Option<f64>,
    /// Mean illumination, 1 = a well-lit scene.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub illumination: Option<f64>,
    /// JPEG quality the frame was re-compressed at, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jpeg_quality: Option<u8>,
}

/// One tag in a frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TagTruth {
    /// Tag id.
    pub id: u32,
    /// Corner pixels in the library's order and pixel convention.
    #[serde(with = "corner_array")]
    pub corners: [Point2<f64>; 4],
    /// `T_cam_tag`.
    pub pose: Pose,
}

impl TagTruth {
    /// Centre of the tag in pixels: the intersection of the diagonals.
    pub fn center_px(&self) -> Point2<f64> {
        quad_center(&self.corners)
    }

    /// Mean edge length of the tag in pixels.
    pub fn size_px(&self) -> f64 {
        quad_mean_edge(&self.corners)
    }
}

/// The intersection of a quad's diagonals (its projective centre).
pub fn quad_center(c: &[Point2<f64>; 4]) -> Point2<f64> {
    let (p, r) = (c[0], c[2] - c[0]);
    let (q, s) = (c[1], c[3] - c[1]);
    let denom = r.x * s.y - r.y * s.x;
    if denom.abs() < 1e-12 {
        return Point2::from((c[0].coords + c[1].coords + c[2].coords + c[3].coords) / 4.0);
    }
    let t = ((q - p).x * s.y - (q - p).y * s.x) / denom;
    p + r * t
}

/// Mean edge length of a quad.
pub fn quad_mean_edge(c: &[Point2<f64>; 4]) -> f64 {
    (0..4).map(|i| (c[(i + 1) % 4] - c[i]).norm()).sum::<f64>() / 4.0
}

/// One line of `truth.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameTruth {
    /// Path of the frame relative to the dataset folder.
    pub frame: String,
    /// Scene parameters.
    #[serde(default)]
    pub scene: SceneParams,
    /// Tags in the frame.
    pub tags: Vec<TagTruth>,
}

mod corner_array {
    use nalgebra::Point2;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(c: &[Point2<f64>; 4], s: S) -> Result<S::Ok, S::Error> {
        c.map(|p| [p.x, p.y]).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[Point2<f64>; 4], D::Error> {
        let v = Vec::<[f64; 2]>::deserialize(d)?;
        if v.len() != 4 {
            return Err(serde::de::Error::custom(format!(
                "a tag has 4 corners, this one has {}",
                v.len()
            )));
        }
        Ok(std::array::from_fn(|i| Point2::new(v[i][0], v[i][1])))
    }
}

/// What is wrong with a dataset; every variant names the file (and line).
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `dataset.toml` is not valid.
    #[error("{path}: {problem}")]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        problem: ManifestError,
    },
    /// A line of `truth.jsonl` is not valid.
    #[error("{path}:{line}: {problem}")]
    Truth {
        /// The truth file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: TruthProblem,
    },
    /// A frame image is missing, unreadable or of the wrong size.
    #[error("{path}: {problem}")]
    Frame {
        /// The frame file.
        path: PathBuf,
        /// What is wrong.
        problem: FrameProblem,
    },
}

// The problems below are the *what* of a `DatasetError`, whose variant adds the *where*
// (file and line). Each message says what a valid value looks like, since the user fixes
// the file by hand. They are fields, not `source`s, so an error chain prints each once.

/// What is wrong with `dataset.toml`.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not TOML, or not a manifest (its message names the line).
    #[error("{}", .0.to_string().trim_end())]
    Syntax(Box<toml::de::Error>),
    /// A `format_version` this visreg does not read.
    #[error(
        "format_version {found} is not supported (this visreg reads version {FORMAT_VERSION})"
    )]
    UnsupportedVersion {
        /// The manifest's version.
        found: u32,
    },
    /// A zero or huge image size.
    #[error("camera size {width}×{height} is not plausible")]
    ImplausibleSize {
        /// `camera.width`.
        width: u32,
        /// `camera.height`.
        height: u32,
    },
    /// A focal length that is not a positive number.
    #[error("camera.{name} = {value} must be a positive number of pixels")]
    FocalLength {
        /// `fx` or `fy`.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// A principal point coordinate that is not a number.
    #[error("camera.{name} = {value} must be a number of pixels")]
    PrincipalPoint {
        /// `cx` or `cy`.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// A tag size that is not an edge in metres.
    #[error("tags.size_m = {value} must be the tag's edge in metres (e.g. 0.08 for 80 mm)")]
    TagSize {
        /// Its value.
        value: f64,
    },
}

/// What is wrong with a line of `truth.jsonl` (or with the file as a whole).
#[derive(Debug, thiserror::Error)]
pub enum TruthProblem {
    /// The manifest's family cannot be loaded by the detector library.
    #[error("{0}")]
    Family(visreg_apriltag::Error),
    /// The line is not a frame's JSON.
    #[error("{0}")]
    Json(serde_json::Error),
    /// The frame's values are not valid.
    #[error("{0}")]
    Frame(FrameTruthError),
    /// The frame file is listed on an earlier line too.
    #[error("frame '{frame}' is listed twice")]
    ListedTwice {
        /// The frame's path.
        frame: String,
    },
    /// The file has no frame.
    #[error("no frames: the truth file is empty")]
    Empty,
}

/// A truth line's values that cannot be right.
#[derive(Debug, thiserror::Error)]
pub enum FrameTruthError {
    /// The frame's path leaves the dataset folder or is empty.
    #[error(
        "frame path '{frame}' must be relative to the dataset folder (e.g. frames/000000.png)"
    )]
    PathOutsideDataset {
        /// The path as written.
        frame: String,
    },
    /// A tag id the family does not have.
    #[error("tag {index} (id {id}): id {id} is not in {family} (ids 0..{ncodes})")]
    UnknownId {
        /// The tag's place in the line.
        index: usize,
        /// Its id.
        id: u32,
        /// The family's name.
        family: String,
        /// The family's number of codes.
        ncodes: u32,
    },
    /// Two tags of the frame have one id.
    #[error("tag {index} (id {id}): id {id} appears twice in this frame")]
    IdTwice {
        /// The second tag's place in the line.
        index: usize,
        /// The id.
        id: u32,
    },
    /// A corner far outside the image or not a number.
    #[error("tag {index} (id {id}): corner {corner} ({x}, {y}) is not near the image")]
    CornerOffImage {
        /// The tag's place in the line.
        index: usize,
        /// Its id.
        id: u32,
        /// The corner's index.
        corner: usize,
        /// Its x, pixels.
        x: f64,
        /// Its y, pixels.
        y: f64,
    },
    /// `pose.rotation` is not orthonormal with determinant 1.
    #[error("tag {index} (id {id}): pose.rotation is not a rotation matrix (|RᵀR − I| = {orthogonality:.2e}, det = {determinant:.6})")]
    NotARotation {
        /// The tag's place in the line.
        index: usize,
        /// Its id.
        id: u32,
        /// The largest entry of |RᵀR − I|.
        orthogonality: f64,
        /// det R.
        determinant: f64,
    },
    /// The tag is not in front of the camera.
    #[error(
        "tag {index} (id {id}): pose.translation_m must be in front of the camera (z > 0 metres)"
    )]
    BehindCamera {
        /// The tag's place in the line.
        index: usize,
        /// Its id.
        id: u32,
    },
}

/// What is wrong with a frame file.
#[derive(Debug, thiserror::Error)]
pub enum FrameProblem {
    /// `truth.jsonl` lists it, but there is no such file.
    #[error("frame listed in {TRUTH_FILE} is missing")]
    Missing,
    /// The bytes are not an image visreg reads.
    #[error("{0}")]
    Decode(DecodeError),
    /// The image's size is not the manifest's.
    #[error("image is {width}×{height} but {MANIFEST_FILE} says {want_width}×{want_height}")]
    WrongSize {
        /// The image's width.
        width: u32,
        /// The image's height.
        height: u32,
        /// `camera.width`.
        want_width: u32,
        /// `camera.height`.
        want_height: u32,
    },
}

/// Bytes that are not a PNG, JPEG or PGM image (the decoder's error is kept).
#[derive(Debug, thiserror::Error)]
#[error("cannot decode image: {0}")]
pub struct DecodeError(pub image::ImageError);

/// A loaded, validated dataset (frames are decoded on demand, and each frame file once:
/// a run replays the same frames to every build and repetition, and decoding them again
/// each time cost more than sending them. A dataset is not changed while visreg uses it —
/// its content hash names it —, so a decoded frame stays right).
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The folder.
    pub root: PathBuf,
    /// `dataset.toml`.
    pub manifest: Manifest,
    /// `truth.jsonl`, one entry per frame in file order.
    pub frames: Vec<FrameTruth>,
    /// Frames decoded so far, by file (shared by clones).
    decoded: DecodedFrames,
}

/// Bytes of decoded frames a dataset keeps: every frame of the built-in presets and of
/// any dataset up to ~850 VGA frames; past it, frames are decoded each time they are
/// loaded.
pub const DECODED_FRAMES_BYTES: usize = 256 << 20;

/// The decoded frames of a dataset, by file.
#[derive(Clone, Default)]
struct DecodedFrames(std::sync::Arc<std::sync::Mutex<(HashMap<PathBuf, GrayFrame>, usize)>>);

impl std::fmt::Debug for DecodedFrames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map(|m| m.0.len()).unwrap_or(0);
        write!(f, "DecodedFrames({n})")
    }
}

/// A decoded gray frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrayFrame {
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
    /// Row-major pixels.
    pub pixels: Vec<u8>,
}

impl Dataset {
    /// Opens and validates the dataset in `root` (manifest, every truth line, every frame
    /// file's presence). Frames are not decoded; see [`Dataset::check_frames`].
    pub fn open(root: impl AsRef<Path>) -> Result<Self, DatasetError> {
        let root = root.as_ref().to_path_buf();
        let manifest_path = root.join(MANIFEST_FILE);
        let text = read_to_string(&manifest_path)?;
        let manifest = parse_manifest(&text).map_err(|problem| DatasetError::Manifest {
            path: manifest_path.clone(),
            problem,
        })?;
        let truth_path = root.join(TRUTH_FILE);
        let text = read_to_string(&truth_path)?;
        let frames =
            parse_truth(&text, &manifest).map_err(|(line, problem)| DatasetError::Truth {
                path: truth_path.clone(),
                line,
                problem,
            })?;
        for f in &frames {
            let p = root.join(&f.frame);
            if !p.is_file() {
                return Err(DatasetError::Frame {
                    path: p,
                    problem: FrameProblem::Missing,
                });
            }
        }
        Ok(Dataset {
            root,
            manifest,
            frames,
            decoded: DecodedFrames::default(),
        })
    }

    /// Number of tags over all frames.
    pub fn tag_count(&self) -> usize {
        self.frames.iter().map(|f| f.tags.len()).sum()
    }

    /// Path of frame `index`.
    pub fn frame_path(&self, index: usize) -> PathBuf {
        self.root.join(&self.frames[index].frame)
    }

    /// Decodes frame `index` to 8-bit gray, checking its size against the manifest.
    pub fn load_frame(&self, index: usize) -> Result<GrayFrame, DatasetError> {
        let path = self.frame_path(index);
        let memo = |m: &std::sync::Mutex<(HashMap<PathBuf, GrayFrame>, usize)>| {
            m.lock()
                .unwrap_or_else(|p| p.into_inner())
                .0
                .get(&path)
                .cloned()
        };
        if let Some(f) = memo(&self.decoded.0) {
            return Ok(f);
        }
        let frame = self.decode_frame(&path)?;
        let mut m = self.decoded.0.lock().unwrap_or_else(|p| p.into_inner());
        if m.1 + frame.pixels.len() <= DECODED_FRAMES_BYTES {
            m.1 += frame.pixels.len();
            m.0.insert(path, frame.clone());
        }
        Ok(frame)
    }

    /// Reads and decodes the frame file `path`, checking its size against the manifest.
    fn decode_frame(&self, path: &Path) -> Result<GrayFrame, DatasetError> {
        let path = path.to_path_buf();
        let bytes = fs::read(&path).map_err(|source| DatasetError::Io {
            path: path.clone(),
            source,
        })?;
        let frame = decode_gray(&bytes).map_err(|e| DatasetError::Frame {
            path: path.clone(),
            problem: FrameProblem::Decode(e),
        })?;
        let (w, h) = (self.manifest.camera.width, self.manifest.camera.height);
        if (frame.width, frame.height) != (w, h) {
            return Err(DatasetError::Frame {
                path,
                problem: FrameProblem::WrongSize {
                    width: frame.width,
                    height: frame.height,
                    want_width: w,
                    want_height: h,
                },
            });
        }
        Ok(frame)
    }

    /// Decodes every frame; the first failure is returned.
    pub fn check_frames(&self) -> Result<(), DatasetError> {
        use rayon::prelude::*;
        // The files as they are now, never a frame decoded earlier.
        (0..self.frames.len())
            .into_par_iter()
            .map(|i| self.decode_frame(&self.frame_path(i)).map(|_| ()))
            .collect::<Result<Vec<()>, _>>()
            .map(|_| ())
    }

    /// The content hash: SHA-256 over the manifest, the truth file and every frame, each
    /// framed by its relative path and length. Results name the dataset by it.
    pub fn content_hash(&self) -> Result<String, DatasetError> {
        let mut hasher = Sha256::new();
        let mut files = vec![MANIFEST_FILE.to_string(), TRUTH_FILE.to_string()];
        files.extend(self.frames.iter().map(|f| f.frame.clone()));
        let mut buf = Vec::new();
        for rel in files {
            let path = self.root.join(&rel);
            buf.clear();
            fs::File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut buf))
                .map_err(|source| DatasetError::Io { path, source })?;
            hasher.update((rel.len() as u64).to_le_bytes());
            hasher.update(rel.as_bytes());
            hasher.update((buf.len() as u64).to_le_bytes());
            hasher.update(&buf);
        }
        let digest = hasher.finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Ok(format!("sha256:{hex}"))
    }
}

fn read_to_string(path: &Path) -> Result<String, DatasetError> {
    fs::read_to_string(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Decodes PNG/JPEG/PGM bytes to 8-bit gray (colour images are converted).
pub fn decode_gray(bytes: &[u8]) -> Result<GrayFrame, DecodeError> {
    let img = image::load_from_memory(bytes).map_err(DecodeError)?;
    let (width, height) = img.dimensions();
    Ok(GrayFrame {
        width,
        height,
        pixels: img.into_luma8().into_raw(),
    })
}

/// Parses and validates `dataset.toml` text.
pub fn parse_manifest(text: &str) -> Result<Manifest, ManifestError> {
    let m: Manifest = toml::from_str(text).map_err(|e| ManifestError::Syntax(Box::new(e)))?;
    if m.format_version != FORMAT_VERSION {
        return Err(ManifestError::UnsupportedVersion {
            found: m.format_version,
        });
    }
    let c = &m.camera;
    if c.width == 0 || c.height == 0 || c.width > 16384 || c.height > 16384 {
        return Err(ManifestError::ImplausibleSize {
            width: c.width,
            height: c.height,
        });
    }
    for (name, value) in [("fx", c.fx), ("fy", c.fy)] {
        if !(value.is_finite() && value > 0.0) {
            return Err(ManifestError::FocalLength { name, value });
        }
    }
    for (name, value) in [("cx", c.cx), ("cy", c.cy)] {
        if !value.is_finite() {
            return Err(ManifestError::PrincipalPoint { name, value });
        }
    }
    if !(m.tags.size_m.is_finite() && m.tags.size_m > 0.0 && m.tags.size_m < 10.0) {
        return Err(ManifestError::TagSize {
            value: m.tags.size_m,
        });
    }
    Ok(m)
}

/// Parses and validates `truth.jsonl` text against the manifest. Errors carry the 1-based
/// line number.
pub fn parse_truth(
    text: &str,
    manifest: &Manifest,
) -> Result<Vec<FrameTruth>, (usize, TruthProblem)> {
    let layout =
        FamilyLayout::load(manifest.tags.family).map_err(|e| (0, TruthProblem::Family(e)))?;
    let mut frames = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let frame: FrameTruth =
            serde_json::from_str(line).map_err(|e| (line_no, TruthProblem::Json(e)))?;
        validate_frame(&frame, manifest, &layout).map_err(|e| (line_no, TruthProblem::Frame(e)))?;
        if !seen.insert(frame.frame.clone()) {
            return Err((line_no, TruthProblem::ListedTwice { frame: frame.frame }));
        }
        frames.push(frame);
    }
    if frames.is_empty() {
        return Err((1, TruthProblem::Empty));
    }
    Ok(frames)
}

fn validate_frame(
    f: &FrameTruth,
    m: &Manifest,
    layout: &FamilyLayout,
) -> Result<(), FrameTruthError> {
    let rel = Path::new(&f.frame);
    if f.frame.is_empty()
        || rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(FrameTruthError::PathOutsideDataset {
            frame: f.frame.clone(),
        });
    }
    let (w, h) = (f64::from(m.camera.width), f64::from(m.camera.height));
    let mut ids = std::collections::HashSet::new();
    for (index, t) in f.tags.iter().enumerate() {
        let id = t.id;
        if id >= layout.ncodes {
            return Err(FrameTruthError::UnknownId {
                index,
                id,
                family: layout.name.clone(),
                ncodes: layout.ncodes,
            });
        }
        if !ids.insert(id) {
            return Err(FrameTruthError::IdTwice { index, id });
        }
        for (corner, c) in t.corners.iter().enumerate() {
            if !(c.x.is_finite() && c.y.is_finite())
                || c.x < -w
                || c.x > 2.0 * w
                || c.y < -h
                || c.y > 2.0 * h
            {
                return Err(FrameTruthError::CornerOffImage {
                    index,
                    id,
                    corner,
                    x: c.x,
                    y: c.y,
                });
            }
        }
        let r = t.pose.rotation.matrix();
        let orthogonality = (r.transpose() * r - nalgebra::Matrix3::identity())
            .abs()
            .max();
        let determinant = r.determinant();
        if !(orthogonality < 1e-6 && (determinant - 1.0).abs() < 1e-6) {
            return Err(FrameTruthError::NotARotation {
                index,
                id,
                orthogonality,
                determinant,
            });
        }
        if !(t.pose.translation.iter().all(|v| v.is_finite()) && t.pose.translation.z > 0.0) {
            return Err(FrameTruthError::BehindCamera { index, id });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        parse_manifest(
            r#"
name = "t"
format_version = 1
[camera]
model = "m"
width = 320
height = 240
fx = 225.0
fy = 227.0
cx = 160.0
cy = 120.0
[tags]
family = "tag36h11"
size_m = 0.08
"#,
        )
        .unwrap()
    }

    const GOOD_TAG: &str = r#"{"id":3,"corners":[[10,20],[30,20],[30,0],[10,0]],"pose":{"rotation":[[1,0,0],[0,1,0],[0,0,1]],"translation_m":[0,0,1]}}"#;

    #[test]
    fn a_good_line_parses() {
        let line = format!(
            r#"{{"frame":"frames/0.png","scene":{{"blur_sigma_px":0.5}},"tags":[{GOOD_TAG}]}}"#
        );
        let frames = parse_truth(&line, &manifest()).unwrap();
        assert_eq!(frames[0].tags[0].id, 3);
        assert_eq!(frames[0].tags[0].corners[2], Point2::new(30.0, 0.0));
        assert_eq!(frames[0].scene.blur_sigma_px, Some(0.5));
    }

    #[test]
    fn three_corners_name_the_line() {
        let good = format!(r#"{{"frame":"frames/0.png","tags":[{GOOD_TAG}]}}"#);
        let bad = r#"{"frame":"frames/1.png","tags":[{"id":1,"corners":[[1,2],[3,4],[5,6]],"pose":{"rotation":[[1,0,0],[0,1,0],[0,0,1]],"translation_m":[0,0,1]}}]}"#;
        let (line, problem) = parse_truth(&format!("{good}\n{bad}\n"), &manifest()).unwrap_err();
        let msg = problem.to_string();
        assert_eq!(line, 2);
        assert!(msg.contains("a tag has 4 corners, this one has 3"), "{msg}");
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            (
                GOOD_TAG.replace("\"id\":3", "\"id\":600"),
                "id 600 is not in tag36h11",
            ),
            (
                GOOD_TAG.replace("[[1,0,0]", "[[2,0,0]"),
                "not a rotation matrix",
            ),
            (
                GOOD_TAG.replace("[0,0,1]}", "[0,0,-1]}"),
                "in front of the camera",
            ),
        ];
        for (tag, want) in cases {
            let line = format!(r#"{{"frame":"frames/0.png","tags":[{tag}]}}"#);
            let (n, problem) = parse_truth(&line, &manifest()).unwrap_err();
            let msg = problem.to_string();
            assert_eq!(n, 1);
            assert!(msg.contains(want), "{msg} should contain {want}");
        }
        let line = format!(r#"{{"frame":"../x.png","tags":[{GOOD_TAG}]}}"#);
        assert!(matches!(
            parse_truth(&line, &manifest()).unwrap_err().1,
            TruthProblem::Frame(FrameTruthError::PathOutsideDataset { .. })
        ));
        let dup = format!(r#"{{"frame":"frames/0.png","tags":[{GOOD_TAG},{GOOD_TAG}]}}"#);
        let (_, problem) = parse_truth(&dup, &manifest()).unwrap_err();
        assert!(
            matches!(
                problem,
                TruthProblem::Frame(FrameTruthError::IdTwice { index: 1, id: 3 })
            ),
            "{problem}"
        );
        assert!(problem.to_string().contains("appears twice"), "{problem}");
    }

    #[test]
    fn unknown_family_is_refused_with_the_line() {
        let text = toml::to_string(&manifest())
            .unwrap()
            .replace("tag36h11", "tag99h9");
        let msg = parse_manifest(&text).unwrap_err().to_string();
        assert!(msg.contains("unknown tag family 'tag99h9'"), "{msg}");
        assert!(msg.contains("line"), "{msg}");
    }

    #[test]
    fn quad_center_is_the_diagonal_intersection() {
        let c = [
            Point2::new(0.0, 10.0),
            Point2::new(10.0, 10.0),
            Point2::new(10.0, 0.0),
            Point2::new(0.0, 0.0),
        ];
        assert_eq!(quad_center(&c), Point2::new(5.0, 5.0));
        assert_eq!(quad_mean_edge(&c), 10.0);
    }
}
