//! Whole-dataset evaluation of the host reference detector: frames decoded, detected and
//! scored in parallel on a rayon pool of a chosen size, results kept per frame.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use visreg_apriltag::{DetectorSettings, GrayImage};
use visreg_datasets::{Dataset, DatasetError};

use crate::detector::{DetectedTag, HostDetector, PoseParams};
use crate::scoring::{
    aggregate, bucket_metrics, score_frame, BucketAxis, BucketMetrics, FrameScore, MatchConfig,
    Metrics,
};

/// How to evaluate.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Detector settings (their family must be the dataset's).
    pub settings: DetectorSettings,
    /// Worker threads; `None` = one per logical CPU.
    pub threads: Option<usize>,
    /// Matching rules.
    pub matching: MatchConfig,
}

impl EvalOptions {
    /// Reference settings for `dataset`, all CPUs.
    pub fn reference(dataset: &Dataset) -> Self {
        EvalOptions {
            settings: DetectorSettings::reference(dataset.manifest.tags.family),
            threads: None,
            matching: MatchConfig::default(),
        }
    }
}

/// One frame's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameResult {
    /// Index in the dataset.
    pub index: usize,
    /// Detections.
    pub detections: Vec<DetectedTag>,
    /// Score.
    pub score: FrameScore,
}

/// A whole evaluation.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Per-frame results, in dataset order.
    pub frames: Vec<FrameResult>,
    /// Threads used.
    pub threads: usize,
    /// Wall time, seconds (decode + detect + pose + score).
    pub wall_s: f64,
    /// Overall metrics.
    pub overall: Metrics,
    /// Metrics per bucket, every axis.
    pub buckets: Vec<BucketMetrics>,
}

impl Evaluation {
    /// Frames per second of wall time.
    pub fn frames_per_s(&self) -> f64 {
        if self.wall_s > 0.0 {
            self.frames.len() as f64 / self.wall_s
        } else {
            0.0
        }
    }
}

/// Errors of evaluation.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A frame could not be read.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// The detector could not be made or run.
    #[error("detector: {0}")]
    Detector(#[from] visreg_apriltag::Error),
    /// The detector's family differs from the dataset's.
    #[error("the detector decodes {detector} but the dataset's tags are {dataset}")]
    FamilyMismatch {
        /// Detector family.
        detector: visreg_apriltag::Family,
        /// Dataset family.
        dataset: visreg_apriltag::Family,
    },
    /// The thread pool could not be built.
    #[error("thread pool: {0}")]
    Pool(String),
}

/// Evaluates the host detector on `dataset`. `on_frame(done, total)` is called as frames
/// finish.
pub fn evaluate(
    dataset: &Dataset,
    opts: &EvalOptions,
    on_frame: &(dyn Fn(usize, usize) + Sync),
) -> Result<Evaluation, EvalError> {
    if opts.settings.family != dataset.manifest.tags.family {
        return Err(EvalError::FamilyMismatch {
            detector: opts.settings.family,
            dataset: dataset.manifest.tags.family,
        });
    }
    let detector = HostDetector::new(opts.settings.clone())?;
    let pose = PoseParams {
        intrinsics: dataset.manifest.intrinsics(),
        tag_size_m: dataset.manifest.tags.size_m,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.unwrap_or(0))
        .build()
        .map_err(|e| EvalError::Pool(e.to_string()))?;
    let threads = pool.current_num_threads();
    let total = dataset.frames.len();
    let done = AtomicUsize::new(0);
    let start = Instant::now();
    let frames: Vec<FrameResult> = pool.install(|| {
        (0..total)
            .into_par_iter()
            .map(|index| {
                let img = dataset.load_frame(index)?;
                let t0 = Instant::now();
                let detections = detector.detect(
                    GrayImage::new(img.width, img.height, &img.pixels),
                    Some(pose),
                )?;
                let latency_ms = t0.elapsed().as_secs_f64() * 1e3;
                let score = score_frame(
                    &dataset.frames[index],
                    &detections,
                    Some(latency_ms),
                    &opts.matching,
                );
                on_frame(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                Ok(FrameResult {
                    index,
                    detections,
                    score,
                })
            })
            .collect::<Result<_, EvalError>>()
    })?;
    let wall_s = start.elapsed().as_secs_f64();
    let scores: Vec<FrameScore> = frames.iter().map(|f| f.score.clone()).collect();
    let overall = aggregate(&scores);
    let buckets = BucketAxis::ALL
        .iter()
        .flat_map(|&axis| bucket_metrics(&scores, axis))
        .collect();
    Ok(Evaluation {
        frames,
        threads,
        wall_s,
        overall,
        buckets,
    })
}
