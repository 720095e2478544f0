//! The metrics visreg judges: their rules (which way is better, how a change is measured,
//! the smallest change that matters) and their samples from frame scores. The one place
//! for both, so the verdicts, the history and the reports agree.

use crate::scoring::FrameScore;
use crate::verdict::{Better, Change, MetricRule};

/// What one sample of a metric is: a frame (or live capture), or a truth tag in one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Per {
    /// One value per frame (per capture in live mode).
    Frame,
    /// One value per truth tag.
    Tag,
}

/// A judged metric: its name, rule, what a sample is, and its share of a build's
/// false-alarm budget (weighted Holm over the build's primary checks).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricDef {
    /// Name, as `verdicts.json` writes it.
    pub name: &'static str,
    /// The rule.
    pub rule: MetricRule,
    /// What a sample is.
    pub per: Per,
    /// Weight in the build's family of primary checks. Recall gets half the budget: a
    /// loss of 8 tags in 415 is at best p = ½⁸ = 0.0039 one-sided (McNemar exact), so it
    /// needs a level above that; latency and error checks have hundreds of units and
    /// reach their thresholds far below their smaller levels.
    pub weight: f64,
}

const fn def(
    name: &'static str,
    better: Better,
    change: Change,
    threshold: f64,
    per: Per,
    weight: f64,
) -> MetricDef {
    MetricDef {
        name,
        rule: MetricRule {
            better,
            change,
            threshold,
        },
        per,
        weight,
    }
}

/// The tail quantile judged only where the run has enough frames for it (its tail must
/// hold the minimum number of units).
pub const P99: &str = "latency_ms_p99";

/// Every metric visreg judges, in report order: the one place for their rules.
pub fn metric_defs() -> Vec<MetricDef> {
    use Better::{Higher, Lower};
    vec![
        def(
            "latency_ms",
            Lower,
            Change::RelativeMedian,
            0.03,
            Per::Frame,
            0.06,
        ),
        def(
            "latency_ms_p90",
            Lower,
            Change::RelativeTail { q: 0.9 },
            0.10,
            Per::Frame,
            0.06,
        ),
        def(
            P99,
            Lower,
            Change::RelativeTail { q: 0.99 },
            0.10,
            Per::Frame,
            0.04,
        ),
        def("recall", Higher, Change::Proportion, 0.01, Per::Tag, 0.5),
        def(
            "false_positives",
            Lower,
            Change::AbsoluteMean,
            0.05,
            Per::Frame,
            0.05,
        ),
        def(
            "pose_coverage",
            Higher,
            Change::Proportion,
            0.02,
            Per::Tag,
            0.1,
        ),
        def(
            "corner_err_px",
            Lower,
            Change::RelativeMedian,
            0.15,
            Per::Tag,
            0.05,
        ),
        def(
            "trans_err_pct",
            Lower,
            Change::RelativeMedian,
            0.25,
            Per::Tag,
            0.05,
        ),
        def(
            "rot_err_deg",
            Lower,
            Change::RelativeMedian,
            0.25,
            Per::Tag,
            0.05,
        ),
        // Free heap after find_apriltags (gc.mem_free()): less free is worse. Judged
        // only where the camera reports it.
        def(
            "mem_free_bytes",
            Higher,
            Change::RelativeMedian,
            0.05,
            Per::Frame,
            0.04,
        ),
    ]
}

/// The metrics judged and their rules.
pub fn metric_rules() -> Vec<(&'static str, MetricRule)> {
    metric_defs()
        .into_iter()
        .map(|d| (d.name, d.rule))
        .collect()
}

/// The definition of `metric`.
pub fn metric_def(metric: &str) -> Option<MetricDef> {
    metric_defs().into_iter().find(|d| d.name == metric)
}

/// A run's summary of `samples` under `rule`: the median, the tail quantile, or the mean
/// — what a history point and a report's table show.
pub fn summary(rule: &MetricRule, samples: &[f64]) -> Option<f64> {
    match rule.change {
        Change::RelativeMedian => crate::stats::median(samples),
        Change::RelativeTail { q } => crate::stats::quantile(samples, q),
        Change::Proportion | Change::AbsoluteMean => crate::stats::mean(samples),
    }
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
        "latency_ms" | "latency_ms_p90" | P99 => {
            scores.iter().filter_map(|s| s.latency_ms).collect()
        }
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

/// One independent unit of a build's results: a dataset frame in replay (every
/// repetition saw the same pixels), or one capture in live mode.
#[derive(Clone, Debug, PartialEq)]
pub struct Unit {
    /// (frame, capture): the capture is 0 for replay units.
    pub key: (u32, u32),
    /// The unit's score; its latency and free heap are the median over the unit's
    /// repetitions.
    pub score: FrameScore,
}

/// What a build's repetitions give as units.
#[derive(Clone, Debug, PartialEq)]
pub struct Units {
    /// The units, by key.
    pub units: Vec<Unit>,
    /// Replay frames whose repetitions scored differently on the very same pixels: the
    /// camera is not deterministic there (the lowest repetition is the one judged).
    pub nondeterministic_frames: Vec<u32>,
}

/// Replay units: one per frame whatever the repetitions. `records` are (frame,
/// repetition, score).
pub fn replay_units(records: &[(u32, u32, FrameScore)]) -> Units {
    let mut by_frame: std::collections::BTreeMap<u32, Vec<(u32, &FrameScore)>> = Default::default();
    for (f, r, s) in records {
        by_frame.entry(*f).or_default().push((*r, s));
    }
    let mut units = Vec::new();
    let mut nondeterministic_frames = Vec::new();
    for (frame, mut reps) in by_frame {
        reps.sort_by_key(|(r, _)| *r);
        let first = reps[0].1;
        if reps.iter().any(|(_, s)| {
            s.tags != first.tags
                || s.false_positives != first.false_positives
                || s.id_errors != first.id_errors
        }) {
            nondeterministic_frames.push(frame);
        }
        let med = |f: fn(&FrameScore) -> Option<f64>| {
            crate::stats::median(&reps.iter().filter_map(|(_, s)| f(s)).collect::<Vec<_>>())
        };
        let mut score = first.clone();
        score.latency_ms = med(|s| s.latency_ms);
        score.mem_free_bytes = med(|s| s.mem_free_bytes);
        units.push(Unit {
            key: (frame, 0),
            score,
        });
    }
    Units {
        units,
        nondeterministic_frames,
    }
}

/// Live units: every capture is a new sample (new sensor noise), keyed by the rig pose
/// it shows (the dataset frame) and its capture number, so two builds pair capture by
/// capture of the same pose.
pub fn live_units(records: &[(u32, u32, FrameScore)]) -> Units {
    let mut units: Vec<Unit> = records
        .iter()
        .map(|(f, r, s)| Unit {
            key: (*f, *r),
            score: s.clone(),
        })
        .collect();
    units.sort_by_key(|u| u.key);
    Units {
        units,
        nondeterministic_frames: Vec::new(),
    }
}

/// The paired samples of `metric` for two builds' units: `(baseline, candidate)`, one
/// entry per unit both have — per frame, or per truth tag (found by both, for the
/// measures that need a found tag) — optionally only tags whose view angle is in
/// `[lo, hi)`. A value one side lacks is NaN, which the judge leaves out.
pub fn paired(
    base: &[Unit],
    cand: &[Unit],
    metric: &str,
    angle: Option<(f64, f64)>,
) -> (Vec<f64>, Vec<f64>) {
    let by_key: std::collections::HashMap<(u32, u32), &FrameScore> =
        cand.iter().map(|u| (u.key, &u.score)).collect();
    let in_bucket = |a: f64| angle.is_none_or(|(lo, hi)| a >= lo && a < hi);
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    let nan = f64::NAN;
    for u in base {
        let Some(c) = by_key.get(&u.key) else {
            continue;
        };
        let b = &u.score;
        let frame_value = |s: &FrameScore| match metric {
            "latency_ms" | "latency_ms_p90" | P99 => s.latency_ms,
            "mem_free_bytes" => s.mem_free_bytes,
            "false_positives" => Some(f64::from(s.false_positives)),
            _ => None,
        };
        if metric_def(metric).is_some_and(|d| d.per == Per::Frame) {
            xs.push(frame_value(b).unwrap_or(nan));
            ys.push(frame_value(c).unwrap_or(nan));
            continue;
        }
        for (tb, tc) in b.tags.iter().zip(&c.tags) {
            if !in_bucket(tb.view_angle_deg) {
                continue;
            }
            let found = |t: &crate::scoring::TagScore| f64::from(u8::from(t.matched.is_some()));
            let v = |t: &crate::scoring::TagScore| -> Option<f64> {
                let m = t.matched?;
                match metric {
                    "pose_coverage" => Some(f64::from(u8::from(m.trans_err_m.is_some()))),
                    "corner_err_px" => Some(m.corner_rmse_px),
                    "trans_err_pct" => m.trans_err_pct,
                    "rot_err_deg" => m.rot_err_deg,
                    _ => None,
                }
            };
            match metric {
                "recall" => {
                    xs.push(found(tb));
                    ys.push(found(tc));
                }
                // Found by both: a tag one build lost is recall's business.
                _ if tb.matched.is_some() && tc.matched.is_some() => {
                    xs.push(v(tb).unwrap_or(nan));
                    ys.push(v(tc).unwrap_or(nan));
                }
                _ => {}
            }
        }
    }
    (xs, ys)
}

/// A p-value as every visreg output writes it: two significant digits, and below f64's
/// resolution of a tail probability `p < 1e-15` (never `0.0e0`).
pub fn format_p(p: Option<f64>) -> String {
    match p {
        Some(p) if p.is_finite() && p < 1e-15 => "p < 1e-15".into(),
        Some(p) if p.is_finite() && p >= 0.01 => format!("p = {p:.2}"),
        Some(p) if p.is_finite() => format!("p = {p:.1e}"),
        _ => "p –".into(),
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
        "latency_ms_p90" => ("find_apriltags time, slowest 10 % of frames", "ms"),
        P99 => ("find_apriltags time, slowest 1 % of frames", "ms"),
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
        (_, Some(Change::Proportion)) => format!("{:+.1} pts", 100.0 * change),
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
    fn p_values_read_the_same_everywhere() {
        assert_eq!(format_p(Some(0.0)), "p < 1e-15");
        assert_eq!(format_p(Some(3e-17)), "p < 1e-15");
        assert_eq!(format_p(Some(1.234e-9)), "p = 1.2e-9");
        assert_eq!(format_p(Some(0.0078)), "p = 7.8e-3");
        assert_eq!(format_p(Some(0.5)), "p = 0.50");
        assert_eq!(format_p(None), "p –");
    }

    fn score(found: &[bool], latency: f64) -> FrameScore {
        use crate::scoring::{MatchErrors, TagScore};
        FrameScore {
            tags: found
                .iter()
                .enumerate()
                .map(|(i, &f)| TagScore {
                    id: i as u32,
                    range_m: 1.0,
                    view_angle_deg: 10.0 * i as f64,
                    size_px: 20.0,
                    matched: f.then_some(MatchErrors {
                        corner_rmse_px: 0.5,
                        trans_err_m: Some(0.01),
                        trans_err_pct: Some(1.0),
                        rot_err_deg: Some(1.0),
                    }),
                })
                .collect(),
            false_positives: 0,
            id_errors: 0,
            scene: Default::default(),
            latency_ms: Some(latency),
            mem_free_bytes: None,
        }
    }

    #[test]
    fn replay_repetitions_are_one_unit_per_frame_and_disagreement_is_reported() {
        // Two frames × three repetitions; frame 1's third repetition loses a tag.
        let recs = vec![
            (0, 0, score(&[true, true], 10.0)),
            (0, 1, score(&[true, true], 12.0)),
            (0, 2, score(&[true, true], 11.0)),
            (1, 0, score(&[true, false], 20.0)),
            (1, 1, score(&[true, false], 22.0)),
            (1, 2, score(&[false, false], 21.0)),
        ];
        let u = replay_units(&recs);
        assert_eq!(u.units.len(), 2);
        assert_eq!(u.units[0].score.latency_ms, Some(11.0));
        assert_eq!(u.nondeterministic_frames, vec![1]);
        let (x, y) = paired(&u.units, &u.units, "recall", None);
        assert_eq!(
            (x.len(), y.len()),
            (4, 4),
            "one sample per tag, not per repetition"
        );
        assert_eq!(x, vec![1.0, 1.0, 1.0, 0.0]);
        // Only tags at 10°..20° (the second tag of each frame).
        assert_eq!(
            paired(&u.units, &u.units, "recall", Some((10.0, 20.0))).0,
            vec![1.0, 0.0]
        );
        // Live: every capture is a unit.
        assert_eq!(live_units(&recs).units.len(), 6);
        // Errors pair only tags both builds found.
        assert_eq!(paired(&u.units, &u.units, "corner_err_px", None).0.len(), 3);
    }

    #[test]
    fn every_judged_metric_has_a_label() {
        for (m, _) in metric_rules() {
            assert!(!metric_info(m).label.is_empty(), "{m}");
        }
    }
}
