//! Writes a preset to disk as a dataset folder. Frames render in parallel; the folder is
//! built under a temporary name and renamed into place, so a dataset folder is either
//! complete or absent — an interrupted generation never leaves a half dataset behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use image::ImageEncoder;
use rayon::prelude::*;
use visreg_apriltag::FamilyLayout;

use crate::format::{Dataset, DatasetError, FrameTruth, MANIFEST_FILE, TRUTH_FILE};
use crate::preset::Preset;
use crate::render::{render, RenderError};

/// Progress of a long job, reported as a value (the binary draws the bar).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Items done.
    pub done: usize,
    /// Items in all.
    pub total: usize,
}

/// Errors of generation.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The output folder exists and is not empty.
    #[error("{0} already exists and is not empty; choose another --out or remove it first")]
    OutputExists(PathBuf),
    /// Writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Rendering failed.
    #[error("rendering frame {index}: {source}")]
    Render {
        /// Frame index.
        index: usize,
        /// Why.
        source: RenderError,
    },
    /// The written dataset did not validate (a bug).
    #[error("the generated dataset does not validate: {0}")]
    Invalid(#[from] DatasetError),
    /// The family data could not be loaded.
    #[error(transparent)]
    Family(#[from] visreg_apriltag::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GenerateError + '_ {
    move |source| GenerateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Renders `preset` with `seed` into the folder `out` (which must not exist or be empty)
/// and returns the loaded dataset. `frames` overrides the preset's frame count.
pub fn generate(
    preset: &Preset,
    seed: u64,
    frames: Option<usize>,
    out: &Path,
    on_progress: &(dyn Fn(Progress) + Sync),
) -> Result<Dataset, GenerateError> {
    let layout = FamilyLayout::load(preset.family)?;
    write_specs(
        out,
        &preset.manifest(seed),
        frames.unwrap_or(preset.frames),
        &|index| preset.frame_spec(seed, index, &layout),
        on_progress,
    )
}

/// Renders `total` frames, frame `i` from `spec_of(i)`, into the folder `out` (which must
/// not exist or be empty) as a dataset with `manifest`, and returns it loaded. The folder
/// is built under a temporary name and renamed into place.
pub fn write_specs(
    out: &Path,
    manifest: &crate::format::Manifest,
    total: usize,
    spec_of: &(dyn Fn(usize) -> crate::render::FrameSpec + Sync),
    on_progress: &(dyn Fn(Progress) + Sync),
) -> Result<Dataset, GenerateError> {
    if out.exists() {
        let empty = fs::read_dir(out).map_err(io(out))?.next().is_none();
        if !empty {
            return Err(GenerateError::OutputExists(out.to_path_buf()));
        }
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io(parent))?;
    let staging = parent.join(format!(
        ".{}.partial-{}",
        out.file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("dataset"),
        std::process::id()
    ));
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(io(&staging))?;
    }
    let result = write_dataset(manifest, total, spec_of, &staging, on_progress);
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    if out.exists() {
        fs::remove_dir(out).map_err(io(out))?;
    }
    if let Err(e) = fs::rename(&staging, out) {
        let _ = fs::remove_dir_all(&staging);
        return Err(io(out)(e));
    }
    Ok(Dataset::open(out)?)
}

fn write_dataset(
    manifest: &crate::format::Manifest,
    total: usize,
    spec_of: &(dyn Fn(usize) -> crate::render::FrameSpec + Sync),
    dir: &Path,
    on_progress: &(dyn Fn(Progress) + Sync),
) -> Result<(), GenerateError> {
    let frames_dir = dir.join("frames");
    fs::create_dir_all(&frames_dir).map_err(io(&frames_dir))?;
    let done = AtomicUsize::new(0);
    on_progress(Progress { done: 0, total });
    let truth: Vec<FrameTruth> = (0..total)
        .into_par_iter()
        .map(|index| {
            let spec = spec_of(index);
            let frame = render(&spec).map_err(|source| GenerateError::Render { index, source })?;
            let rel = format!("frames/{index:06}.png");
            let path = dir.join(&rel);
            let file = fs::File::create(&path).map_err(io(&path))?;
            image::codecs::png::PngEncoder::new(std::io::BufWriter::new(file))
                .write_image(
                    &frame.pixels,
                    spec.width,
                    spec.height,
                    image::ExtendedColorType::L8,
                )
                .map_err(|e| GenerateError::Io {
                    path: path.clone(),
                    source: std::io::Error::other(e),
                })?;
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            on_progress(Progress { done: n, total });
            Ok(FrameTruth {
                frame: rel,
                scene: frame.scene,
                tags: frame.tags,
            })
        })
        .collect::<Result<_, GenerateError>>()?;
    let manifest = toml::to_string_pretty(manifest).expect("a manifest serialises");
    let manifest_path = dir.join(MANIFEST_FILE);
    fs::write(&manifest_path, manifest).map_err(io(&manifest_path))?;
    let mut lines = String::new();
    for t in &truth {
        lines.push_str(&serde_json::to_string(t).expect("truth serialises"));
        lines.push('\n');
    }
    let truth_path = dir.join(TRUTH_FILE);
    fs::write(&truth_path, lines).map_err(io(&truth_path))?;
    Ok(())
}
