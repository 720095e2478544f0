//! Measuring and judging: the host reference detector ([`detector`]), scoring of any
//! detector's output against ground truth ([`scoring`], pure functions over values), small
//! statistics ([`stats`]) and whole-dataset evaluation in parallel ([`eval`]).
#![warn(missing_docs)]

pub mod changepoint;
pub mod detector;
pub mod eval;
pub mod metrics;
pub mod scoring;
pub mod stats;
pub mod verdict;

pub use detector::{DetectedTag, HostDetector};
pub use eval::{evaluate, EvalError, EvalOptions, Evaluation, FrameResult};
pub use scoring::{
    aggregate, bucket_metrics, score_frame, BucketAxis, BucketMetrics, FrameScore, MatchConfig,
    Metrics, TagScore,
};
