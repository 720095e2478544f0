//! The cache of generated presets: presets are rendered on first use into
//! `$VISREG_CACHE_DIR` (default `$XDG_CACHE_HOME/visreg`, else `~/.cache/visreg`) under a
//! name that includes the seed and the generator version, and reused afterwards.

use std::path::PathBuf;

use crate::format::Dataset;
use crate::generate::{generate, GenerateError, Progress};
use crate::preset::{Preset, GENERATOR_VERSION};

/// The cache root.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("VISREG_CACHE_DIR").filter(|s| !s.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(dir).join("visreg");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(home).join(".cache").join("visreg");
    }
    std::env::temp_dir().join("visreg-cache")
}

/// Where `preset` rendered with `seed` is cached.
pub fn preset_path(preset: &Preset, seed: u64) -> PathBuf {
    cache_root().join("datasets").join(format!(
        "{}-seed{}-gen{}",
        preset.name, seed, GENERATOR_VERSION
    ))
}

/// The cached dataset of `preset` and `seed`, rendering it first when it is missing or
/// does not validate.
pub fn ensure_preset(
    preset: &Preset,
    seed: u64,
    on_progress: &(dyn Fn(Progress) + Sync),
) -> Result<Dataset, GenerateError> {
    let path = preset_path(preset, seed);
    if let Ok(ds) = Dataset::open(&path) {
        return Ok(ds);
    }
    if path.exists() {
        std::fs::remove_dir_all(&path).map_err(|source| GenerateError::Io {
            path: path.clone(),
            source,
        })?;
    }
    match generate(preset, seed, None, &path, on_progress) {
        Ok(ds) => Ok(ds),
        // Another process may have finished the same preset first: use theirs.
        Err(e) => Dataset::open(&path).map_err(|_| e),
    }
}
