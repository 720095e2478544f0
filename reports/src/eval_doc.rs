//! The document `visreg eval --json FILE` writes. Its keys are a stable interface (CI
//! scripts read them); a change of meaning bumps [`EVAL_SCHEMA`].

use serde::{Deserialize, Serialize};
use visreg_apriltag::DetectorSettings;
use visreg_bench::{BucketMetrics, Evaluation, MatchConfig, Metrics};
use visreg_datasets::Dataset;

use crate::host::HostInfo;

/// Schema name and version of the evaluation document.
pub const EVAL_SCHEMA: &str = "visreg.eval/1";

/// What `visreg eval --json` writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalDocument {
    /// [`EVAL_SCHEMA`].
    pub schema: String,
    /// The dataset evaluated.
    pub dataset: DatasetRef,
    /// The detector and its settings.
    pub detector: DetectorRef,
    /// Matching rules used by scoring.
    pub matching: MatchConfig,
    /// The measuring host.
    pub host: HostInfo,
    /// Worker threads.
    pub threads: usize,
    /// Wall time of the evaluation, seconds.
    pub wall_s: f64,
    /// Frames per second of wall time.
    pub frames_per_s: f64,
    /// Metrics over all frames (flattened: `overall.recall`, …).
    pub overall: Metrics,
    /// Metrics per bucket.
    pub buckets: Vec<BucketMetrics>,
}

/// Which dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetRef {
    /// Name from `dataset.toml`.
    pub name: String,
    /// Folder.
    pub path: String,
    /// Content hash (`sha256:…`).
    pub hash: String,
    /// Frames.
    pub frames: usize,
    /// Truth tags.
    pub tags: usize,
}

/// Which detector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectorRef {
    /// `apriltag` (the C library).
    pub library: String,
    /// Its version.
    pub library_version: String,
    /// Every setting.
    pub settings: DetectorSettings,
}

impl EvalDocument {
    /// Builds the document of `eval` on `dataset` (whose content hash is `hash`).
    pub fn new(
        dataset: &Dataset,
        hash: String,
        settings: &DetectorSettings,
        matching: MatchConfig,
        eval: &Evaluation,
        host: HostInfo,
    ) -> Self {
        EvalDocument {
            schema: EVAL_SCHEMA.into(),
            dataset: DatasetRef {
                name: dataset.manifest.name.clone(),
                path: dataset.root.display().to_string(),
                hash,
                frames: dataset.frames.len(),
                tags: dataset.tag_count(),
            },
            detector: DetectorRef {
                library: "apriltag".into(),
                library_version: visreg_apriltag::C_LIBRARY_VERSION.into(),
                settings: settings.clone(),
            },
            matching,
            host,
            threads: eval.threads,
            wall_s: eval.wall_s,
            frames_per_s: eval.frames_per_s(),
            overall: eval.overall.clone(),
            buckets: eval.buckets.clone(),
        }
    }
}
