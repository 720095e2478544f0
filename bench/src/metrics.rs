//! The metrics visreg judges: their rules (which way is better, how a change is measured,
//! the smallest change that matters) and their samples from frame scores. The one place
//! for both, so the verdicts, the history and the reports agree.

use crate::scoring::FrameScore;
use crate::verdict::{Better, Change, MetricRule};

/// The metrics judged, their rules and their samples from a build's frame scores.
pub fn metric_rules() -> Vec<(&'static str, MetricRule)> {
    vec![
        (
            "latency_ms",
            MetricRule {
                better: Better::Lower,
                change: Change::RelativeMedian,
                threshold: 0.03,
            },
        ),
        (
            "recall",
            MetricRule {
                better: Better::Higher,
                change: Change::AbsoluteMean,
                threshold: 0.02,
            },
        ),
        (
            "false_positives",
            MetricRule {
                better: Better::Lower,
                change: Change::AbsoluteMean,
                threshold: 0.05,
            },
        ),
        (
            "pose_coverage",
            MetricRule {
                better: Better::Higher,
                change: Change::AbsoluteMean,
                threshold: 0.02,
            },
        ),
        (
            "corner_err_px",
            MetricRule {
                better: Better::Lower,
                change: Change::RelativeMedian,
                threshold: 0.15,
            },
        ),
        (
            "trans_err_pct",
            MetricRule {
                better: Better::Lower,
                change: Change::RelativeMedian,
                threshold: 0.25,
            },
        ),
        (
            "rot_err_deg",
            MetricRule {
                better: Better::Lower,
                change: Change::RelativeMedian,
                threshold: 0.25,
            },
        ),
        (
            // Free heap after find_apriltags (gc.mem_free()): less free is worse. Judged
            // only where the camera reports it.
            "mem_free_bytes",
            MetricRule {
                better: Better::Higher,
                change: Change::RelativeMedian,
                threshold: 0.05,
            },
        ),
    ]
}

/// The samples of `metric` in `scores`: per frame (latency, false positives, memory) or
/// per truth tag (recall, pose coverage, errors), optionally only tags whose view angle is
/// in `[lo, hi)`.
pub fn samples(scores: &[FrameScore], metric: &str, angle: Option<(f64, f64)>) -> Vec<f64> {
    let in_bucket = |a: f64| angle.is_none_or(|(lo, hi)| a >= lo && a < hi);
    let tags = || {
        scores
            .iter()
            .flat_map(|s| s.tags.iter())
            .filter(|t| in_bucket(t.view_angle_deg))
    };
    match metric {
        "latency_ms" => scores.iter().filter_map(|s| s.latency_ms).collect(),
        "mem_free_bytes" => scores.iter().filter_map(|s| s.mem_free_bytes).collect(),
        "false_positives" => scores
            .iter()
            .map(|s| f64::from(s.false_positives))
            .collect(),
        "recall" => tags()
            .map(|t| f64::from(u8::from(t.matched.is_some())))
            .collect(),
        "pose_coverage" => tags()
            .filter_map(|t| t.matched)
            .map(|m| f64::from(u8::from(m.trans_err_m.is_some())))
            .collect(),
        "corner_err_px" => tags()
            .filter_map(|t| t.matched)
            .map(|m| m.corner_rmse_px)
            .collect(),
        "trans_err_pct" => tags()
            .filter_map(|t| t.matched)
            .filter_map(|m| m.trans_err_pct)
            .collect(),
        "rot_err_deg" => tags()
            .filter_map(|t| t.matched)
            .filter_map(|m| m.rot_err_deg)
            .collect(),
        _ => Vec::new(),
    }
}

/// How a metric reads in a report: a label, its unit, and how its change is written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricInfo {
    /// Label for tables and charts.
    pub label: &'static str,
    /// Unit of its samples (empty for counts and proportions).
    pub unit: &'static str,
}

/// The label and unit of `metric` (the metric's own name for one visreg does not know).
pub fn metric_info(metric: &str) -> MetricInfo {
    let (label, unit) = match metric {
        "latency_ms" => ("find_apriltags time per frame", "ms"),
        "recall" => ("recall", ""),
        "false_positives" => ("false positives per frame", ""),
        "pose_coverage" => ("pose coverage", ""),
        "corner_err_px" => ("corner error (RMS)", "px"),
        "trans_err_pct" => ("translation error", "% of range"),
        "rot_err_deg" => ("rotation error", "deg"),
        "mem_free_bytes" => ("free heap after find_apriltags", "bytes"),
        _ => {
            return MetricInfo {
                label: "",
                unit: "",
            }
        }
    };
    MetricInfo { label, unit }
}

/// Writes a change of `metric` as its rule measures it: relative changes in %, proportions
/// in percentage points, false positives per frame.
pub fn format_change(metric: &str, change: f64) -> String {
    let rule = metric_rules()
        .into_iter()
        .find(|(m, _)| *m == metric)
        .map(|(_, r)| r);
    match (metric, rule.map(|r| r.change)) {
        ("false_positives", _) => format!("{change:+.2}/frame"),
        (_, Some(Change::AbsoluteMean)) => format!("{:+.1} pts", 100.0 * change),
        _ => format!("{:+.1} %", 100.0 * change),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_written_in_the_unit_of_their_rule() {
        assert_eq!(format_change("latency_ms", 0.25), "+25.0 %");
        assert_eq!(format_change("recall", -0.258), "-25.8 pts");
        assert_eq!(format_change("false_positives", 0.125), "+0.12/frame");
    }

    #[test]
    fn every_judged_metric_has_a_label() {
        for (m, _) in metric_rules() {
            assert!(!metric_info(m).label.is_empty(), "{m}");
        }
    }
}
