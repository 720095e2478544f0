//! Scoring a detector's output against ground truth. Pure functions over values: a
//! frame's truth and detections in, per-tag outcomes and counts out; then aggregation into
//! metrics overall and per bucket (range, view angle, blur, noise, light).
//!
//! Matching: a detection matches a truth tag when the ids agree and its centre lies within
//! [`MatchConfig`]'s distance of the truth centre (centre distance does not depend on the
//! corner order, so a detector that reports its corners in another order still matches —
//! and shows a large corner error, which is the point). Each truth tag matches at most
//! one detection, nearest first. A detection left over that lies on a truth tag with
//! another id is an *id error*; any other leftover is a *false positive* (duplicates
//! included).

use serde::{Deserialize, Serialize};
use visreg_datasets::format::quad_center;
use visreg_datasets::geometry::rotation_angle_deg;
use visreg_datasets::{FrameTruth, SceneParams};

use crate::detector::DetectedTag;
use crate::stats::{median, quantile};

/// How close a detection must be to count as the truth tag.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchConfig {
    /// Largest centre distance as a fraction of the truth tag's mean edge.
    pub max_center_dist_frac: f64,
    /// ...but never less than this many pixels.
    pub min_center_dist_px: f64,
}

impl Default for MatchConfig {
    fn default() -> Self {
        MatchConfig {
            max_center_dist_frac: 0.5,
            min_center_dist_px: 3.0,
        }
    }
}

/// Errors of one matched tag.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchErrors {
    /// Root mean square of the four corner distances, pixels.
    pub corner_rmse_px: f64,
    /// Translation error, metres (when both poses exist).
    pub trans_err_m: Option<f64>,
    /// Translation error as a percentage of the true range.
    pub trans_err_pct: Option<f64>,
    /// Geodesic rotation error, degrees.
    pub rot_err_deg: Option<f64>,
}

/// One truth tag's outcome and the values it is bucketed by.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TagScore {
    /// Tag id.
    pub id: u32,
    /// True range, metres.
    pub range_m: f64,
    /// True view angle, degrees.
    pub view_angle_deg: f64,
    /// True mean edge, pixels.
    pub size_px: f64,
    /// Errors when detected; `None` when missed.
    pub matched: Option<MatchErrors>,
}

/// A frame's score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameScore {
    /// One entry per truth tag, in truth order.
    pub tags: Vec<TagScore>,
    /// Detections on no truth tag, or duplicates.
    pub false_positives: u32,
    /// Detections on a truth tag but with another id.
    pub id_errors: u32,
    /// Scene parameters of the frame.
    pub scene: SceneParams,
    /// Detection latency for the frame, milliseconds.
    pub latency_ms: Option<f64>,
    /// Free heap the camera reported after the frame, bytes (cameras only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_free_bytes: Option<f64>,
}

/// Scores one frame.
pub fn score_frame(
    truth: &FrameTruth,
    detections: &[DetectedTag],
    latency_ms: Option<f64>,
    cfg: &MatchConfig,
) -> FrameScore {
    let centers: Vec<_> = truth.tags.iter().map(|t| quad_center(&t.corners)).collect();
    let radius: Vec<f64> = truth
        .tags
        .iter()
        .map(|t| (t.size_px() * cfg.max_center_dist_frac).max(cfg.min_center_dist_px))
        .collect();
    let near = |d: &DetectedTag, ti: usize| (d.center - centers[ti]).norm() <= radius[ti];

    // Candidate (distance, detection, truth) pairs with equal ids, nearest first.
    let mut pairs = Vec::new();
    for (di, d) in detections.iter().enumerate() {
        for (ti, t) in truth.tags.iter().enumerate() {
            if d.id == t.id && near(d, ti) {
                pairs.push(((d.center - centers[ti]).norm(), di, ti));
            }
        }
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut det_used = vec![false; detections.len()];
    let mut matched: Vec<Option<usize>> = vec![None; truth.tags.len()];
    for (_, di, ti) in pairs {
        if !det_used[di] && matched[ti].is_none() {
            det_used[di] = true;
            matched[ti] = Some(di);
        }
    }
    let (mut false_positives, mut id_errors) = (0, 0);
    for (di, d) in detections.iter().enumerate() {
        if det_used[di] {
            continue;
        }
        let on_other_tag = truth
            .tags
            .iter()
            .enumerate()
            .any(|(ti, t)| t.id != d.id && near(d, ti));
        if on_other_tag {
            id_errors += 1;
        } else {
            false_positives += 1;
        }
    }
    let tags = truth
        .tags
        .iter()
        .zip(&matched)
        .map(|(t, m)| TagScore {
            id: t.id,
            range_m: t.pose.range_m(),
            view_angle_deg: t.pose.view_angle_deg(),
            size_px: t.size_px(),
            matched: m.map(|di| tag_errors(t, &detections[di])),
        })
        .collect();
    FrameScore {
        tags,
        false_positives,
        id_errors,
        scene: truth.scene.clone(),
        latency_ms,
        mem_free_bytes: None,
    }
}

fn tag_errors(truth: &visreg_datasets::TagTruth, d: &DetectedTag) -> MatchErrors {
    let sq: f64 = truth
        .corners
        .iter()
        .zip(&d.corners)
        .map(|(a, b)| (a - b).norm_squared())
        .sum();
    let corner_rmse_px = (sq / 4.0).sqrt();
    let (trans_err_m, trans_err_pct, rot_err_deg) = match &d.pose {
        Some(p) => {
            let e = (p.translation - truth.pose.translation).norm();
            (
                Some(e),
                Some(100.0 * e / truth.pose.range_m()),
                Some(rotation_angle_deg(&p.rotation, &truth.pose.rotation)),
            )
        }
        None => (None, None, None),
    };
    MatchErrors {
        corner_rmse_px,
        trans_err_m,
        trans_err_pct,
        rot_err_deg,
    }
}

/// Aggregate metrics over a set of frames (or a bucket). Keys are stable: they are the
/// JSON keys of `visreg eval --json` (see the README).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Frames counted.
    pub frames: usize,
    /// Truth tags counted.
    pub tags: usize,
    /// Truth tags detected.
    pub detected: usize,
    /// detected / tags (`null` with no tags).
    pub recall: Option<f64>,
    /// False positives (`null` in per-tag buckets, where they have no place).
    pub false_positives: Option<u64>,
    /// Id errors (`null` in per-tag buckets).
    pub id_errors: Option<u64>,
    /// Median per-tag corner RMSE, pixels.
    pub corner_err_px_median: Option<f64>,
    /// 90th percentile per-tag corner RMSE, pixels.
    pub corner_err_px_p90: Option<f64>,
    /// Median translation error, metres.
    pub trans_err_m_median: Option<f64>,
    /// Median translation error, % of range.
    pub trans_err_pct_median: Option<f64>,
    /// Median rotation error, degrees.
    pub rot_err_deg_median: Option<f64>,
    /// 90th percentile rotation error, degrees.
    pub rot_err_deg_p90: Option<f64>,
    /// Median detection latency per frame, milliseconds.
    pub latency_ms_median: Option<f64>,
    /// 90th percentile latency per frame, milliseconds.
    pub latency_ms_p90: Option<f64>,
}

/// Aggregates tag scores (and, when `frames` is given, the frame-level counts and
/// latencies of those frames).
fn metrics_of<'a>(
    tags: impl Iterator<Item = &'a TagScore>,
    frames: Option<&[&FrameScore]>,
    frame_count: usize,
) -> Metrics {
    let (mut n, mut detected) = (0, 0);
    let (mut corner, mut trans, mut trans_pct, mut rot) = (vec![], vec![], vec![], vec![]);
    for t in tags {
        n += 1;
        if let Some(m) = &t.matched {
            detected += 1;
            corner.push(m.corner_rmse_px);
            trans.extend(m.trans_err_m);
            trans_pct.extend(m.trans_err_pct);
            rot.extend(m.rot_err_deg);
        }
    }
    let latencies: Vec<f64> = frames
        .map(|fs| fs.iter().filter_map(|f| f.latency_ms).collect())
        .unwrap_or_default();
    Metrics {
        frames: frame_count,
        tags: n,
        detected,
        recall: (n > 0).then(|| detected as f64 / n as f64),
        false_positives: frames.map(|fs| fs.iter().map(|f| u64::from(f.false_positives)).sum()),
        id_errors: frames.map(|fs| fs.iter().map(|f| u64::from(f.id_errors)).sum()),
        corner_err_px_median: median(&corner),
        corner_err_px_p90: quantile(&corner, 0.9),
        trans_err_m_median: median(&trans),
        trans_err_pct_median: median(&trans_pct),
        rot_err_deg_median: median(&rot),
        rot_err_deg_p90: quantile(&rot, 0.9),
        latency_ms_median: median(&latencies),
        latency_ms_p90: quantile(&latencies, 0.9),
    }
}

/// Metrics over all `frames`.
pub fn aggregate(frames: &[FrameScore]) -> Metrics {
    let refs: Vec<&FrameScore> = frames.iter().collect();
    metrics_of(
        frames.iter().flat_map(|f| &f.tags),
        Some(&refs),
        frames.len(),
    )
}

/// What a bucket is keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BucketAxis {
    /// Tag range, metres (per tag).
    Range,
    /// Tag view angle, degrees (per tag).
    Angle,
    /// Frame blur σ, pixels (per frame).
    Blur,
    /// Frame noise σ, gray levels (per frame).
    Noise,
    /// Frame illumination (per frame).
    Light,
}

impl BucketAxis {
    /// Every axis, in report order.
    pub const ALL: [BucketAxis; 5] = [
        BucketAxis::Range,
        BucketAxis::Angle,
        BucketAxis::Blur,
        BucketAxis::Noise,
        BucketAxis::Light,
    ];

    /// Bucket edges: `[lo, hi)` intervals, the last open-ended.
    pub fn edges(self) -> &'static [f64] {
        match self {
            BucketAxis::Range => &[0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0],
            BucketAxis::Angle => &[0.0, 15.0, 30.0, 45.0, 60.0, 75.0],
            BucketAxis::Blur => &[0.0, 0.001, 1.0, 2.0],
            BucketAxis::Noise => &[0.0, 2.0, 4.0, 8.0],
            BucketAxis::Light => &[0.0, 0.4, 0.7],
        }
    }

    /// The unit of the axis, for labels.
    pub fn unit(self) -> &'static str {
        match self {
            BucketAxis::Range => "m",
            BucketAxis::Angle => "deg",
            BucketAxis::Blur => "px",
            BucketAxis::Noise => "DN",
            BucketAxis::Light => "",
        }
    }

    fn is_per_tag(self) -> bool {
        matches!(self, BucketAxis::Range | BucketAxis::Angle)
    }

    fn value(self, tag: &TagScore, scene: &SceneParams) -> Option<f64> {
        match self {
            BucketAxis::Range => Some(tag.range_m),
            BucketAxis::Angle => Some(tag.view_angle_deg),
            BucketAxis::Blur => scene.blur_sigma_px,
            BucketAxis::Noise => scene.noise_sigma,
            BucketAxis::Light => scene.illumination,
        }
    }
}

/// Metrics of one bucket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BucketMetrics {
    /// Axis.
    pub axis: BucketAxis,
    /// Label, e.g. `0.25-0.50` (unit in `axis`).
    pub label: String,
    /// Lower edge (inclusive).
    pub lo: f64,
    /// Upper edge (exclusive); `null` for the last, open-ended bucket.
    pub hi: Option<f64>,
    /// Metrics.
    #[serde(flatten)]
    pub metrics: Metrics,
}

fn bucket_index(edges: &[f64], v: f64) -> usize {
    edges.iter().rposition(|&e| v >= e).unwrap_or(0)
}

fn fmt_edge(v: f64) -> String {
    if v == 0.001 {
        return "0".into(); // the "sharp" edge of the blur axis
    }
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Metrics per bucket of `axis`; empty buckets are left out.
pub fn bucket_metrics(frames: &[FrameScore], axis: BucketAxis) -> Vec<BucketMetrics> {
    let edges = axis.edges();
    let mut out = Vec::new();
    for b in 0..edges.len() {
        let in_bucket = |v: Option<f64>| v.map(|v| bucket_index(edges, v) == b).unwrap_or(false);
        let label = match (b + 1 < edges.len(), axis) {
            (_, BucketAxis::Blur) if b == 0 => "0".to_string(),
            (true, _) => format!("{}-{}", fmt_edge(edges[b]), fmt_edge(edges[b + 1])),
            (false, _) => format!("{}+", fmt_edge(edges[b])),
        };
        let hi = edges.get(b + 1).copied();
        let metrics = if axis.is_per_tag() {
            let tags: Vec<&TagScore> = frames
                .iter()
                .flat_map(|f| f.tags.iter().filter(|t| in_bucket(axis.value(t, &f.scene))))
                .collect();
            let frame_count = frames
                .iter()
                .filter(|f| f.tags.iter().any(|t| in_bucket(axis.value(t, &f.scene))))
                .count();
            let mut m = metrics_of(tags.into_iter(), None, frame_count);
            m.false_positives = None;
            m.id_errors = None;
            m
        } else {
            let dummy = TagScore {
                id: 0,
                range_m: 0.0,
                view_angle_deg: 0.0,
                size_px: 0.0,
                matched: None,
            };
            let fs: Vec<&FrameScore> = frames
                .iter()
                .filter(|f| in_bucket(axis.value(&dummy, &f.scene)))
                .collect();
            metrics_of(fs.iter().flat_map(|f| &f.tags), Some(&fs), fs.len())
        };
        if metrics.frames > 0 {
            out.push(BucketMetrics {
                axis,
                label,
                lo: edges[b],
                hi,
                metrics,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Point2, Rotation3, Vector3};
    use visreg_apriltag::Family;
    use visreg_datasets::{Pose, TagTruth};

    /// A 40 px tag centred at (100, 100), face-on at 0.5 m.
    fn truth_tag(id: u32, cx: f64) -> TagTruth {
        TagTruth {
            id,
            corners: [
                Point2::new(cx - 20.0, 120.0),
                Point2::new(cx + 20.0, 120.0),
                Point2::new(cx + 20.0, 80.0),
                Point2::new(cx - 20.0, 80.0),
            ],
            pose: Pose {
                rotation: Rotation3::identity(),
                translation: Vector3::new(0.0, 0.0, 0.5),
            },
        }
    }

    fn det_from(t: &TagTruth, dx: f64) -> DetectedTag {
        let corners = t.corners.map(|p| Point2::new(p.x + dx, p.y));
        DetectedTag {
            family: Family::Tag36h11,
            id: t.id,
            corners,
            center: quad_center(&corners),
            hamming: 0,
            decision_margin: 50.0,
            pose: Some(t.pose),
        }
    }

    fn frame(tags: Vec<TagTruth>) -> FrameTruth {
        FrameTruth {
            frame: "frames/0.png".into(),
            scene: SceneParams {
                blur_sigma_px: Some(0.0),
                noise_sigma: Some(1.0),
                illumination: Some(0.9),
                jpeg_quality: None,
            },
            tags,
        }
    }

    #[test]
    fn exact_detection_scores_zero_error() {
        let t = truth_tag(1, 100.0);
        let s = score_frame(
            &frame(vec![t.clone()]),
            &[det_from(&t, 0.0)],
            Some(2.0),
            &MatchConfig::default(),
        );
        let m = s.tags[0].matched.unwrap();
        assert_eq!(m.corner_rmse_px, 0.0);
        assert_eq!((m.trans_err_m, m.rot_err_deg), (Some(0.0), Some(0.0)));
        assert_eq!((s.false_positives, s.id_errors), (0, 0));
    }

    #[test]
    fn a_shift_is_measured_in_pixels() {
        let t = truth_tag(1, 100.0);
        let s = score_frame(
            &frame(vec![t.clone()]),
            &[det_from(&t, 0.5)],
            None,
            &MatchConfig::default(),
        );
        assert!((s.tags[0].matched.unwrap().corner_rmse_px - 0.5).abs() < 1e-12);
    }

    #[test]
    fn swapped_corner_order_shows_as_large_corner_error() {
        let t = truth_tag(1, 100.0);
        let mut d = det_from(&t, 0.0);
        // The camera's order (reversed): the same quad, corners in the other direction.
        d.corners.reverse();
        let s = score_frame(&frame(vec![t]), &[d], None, &MatchConfig::default());
        let m = s.tags[0].matched.expect("still matched by centre");
        assert!(m.corner_rmse_px > 20.0, "{}", m.corner_rmse_px);
    }

    #[test]
    fn transposed_rotation_shows_as_rotation_error() {
        let mut t = truth_tag(1, 100.0);
        t.pose.rotation = Rotation3::from_euler_angles(0.3, 0.2, 0.1);
        let mut d = det_from(&t, 0.0);
        d.pose.as_mut().unwrap().rotation =
            Rotation3::from_matrix_unchecked(t.pose.rotation.matrix().transpose());
        let s = score_frame(&frame(vec![t]), &[d], None, &MatchConfig::default());
        assert!(s.tags[0].matched.unwrap().rot_err_deg.unwrap() > 20.0);
    }

    #[test]
    fn millimetres_for_metres_is_a_huge_translation_error() {
        let t = truth_tag(1, 100.0);
        let mut d = det_from(&t, 0.0);
        d.pose.as_mut().unwrap().translation *= 1000.0; // a unit slip
        let s = score_frame(&frame(vec![t]), &[d], None, &MatchConfig::default());
        let m = s.tags[0].matched.unwrap();
        assert!((m.trans_err_m.unwrap() - 499.5).abs() < 1e-9);
        assert!((m.trans_err_pct.unwrap() - 99_900.0).abs() < 1e-6);
    }

    #[test]
    fn misses_false_positives_id_errors_and_duplicates() {
        let a = truth_tag(1, 100.0);
        let b = truth_tag(2, 200.0);
        let mut wrong_id = det_from(&b, 0.0);
        wrong_id.id = 9;
        let mut elsewhere = det_from(&a, 0.0);
        elsewhere.id = 5;
        elsewhere.center = Point2::new(300.0, 10.0);
        let dets = vec![det_from(&a, 0.2), det_from(&a, 0.0), wrong_id, elsewhere];
        let s = score_frame(&frame(vec![a, b]), &dets, None, &MatchConfig::default());
        // Tag 1 matched by the nearer detection; tag 2 missed.
        assert_eq!(s.tags[0].matched.unwrap().corner_rmse_px, 0.0);
        assert!(s.tags[1].matched.is_none());
        assert_eq!(s.id_errors, 1);
        assert_eq!(s.false_positives, 2); // the duplicate of tag 1 and the stray
        let m = aggregate(&[s]);
        assert_eq!((m.tags, m.detected, m.recall), (2, 1, Some(0.5)));
        assert_eq!((m.false_positives, m.id_errors), (Some(2), Some(1)));
    }

    #[test]
    fn buckets_split_by_range_and_keep_frame_counts() {
        let near = truth_tag(1, 100.0);
        let mut far = truth_tag(2, 200.0);
        far.pose.translation = Vector3::new(0.0, 0.0, 1.2);
        let s = score_frame(
            &frame(vec![near.clone(), far]),
            &[det_from(&near, 0.0)],
            Some(3.0),
            &MatchConfig::default(),
        );
        let b = bucket_metrics(std::slice::from_ref(&s), BucketAxis::Range);
        assert_eq!(b.len(), 2);
        assert_eq!(
            (b[0].label.as_str(), b[0].metrics.recall),
            ("0.5-0.75", Some(1.0))
        );
        assert_eq!(
            (b[1].label.as_str(), b[1].metrics.recall),
            ("1-1.5", Some(0.0))
        );
        assert_eq!(b[0].metrics.false_positives, None);
        let light = bucket_metrics(&[s], BucketAxis::Light);
        assert_eq!(light.len(), 1);
        assert_eq!(light[0].label, "0.7+");
        assert_eq!(light[0].metrics.latency_ms_median, Some(3.0));
        assert_eq!(light[0].metrics.false_positives, Some(0));
    }
}
