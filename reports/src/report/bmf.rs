//! `bmf/<build>.json`: each build of the run in Bencher Metric Format, one file per build
//! (and `bmf/host.json` for the host reference), so a Bencher server keeps a history per
//! benchmark:
//!
//! ```sh
//! bencher run --branch 5.1.0-rc1 --testbed h7-plus --adapter json --file bmf/5.1.0-rc1.json
//! ```
//!
//! The build is Bencher's *branch* and the board its *testbed*, never part of a benchmark
//! name: a benchmark is `<dataset>/<metric>/<bucket>` (`qvga-basic/recall/all`,
//! `qvga-basic/recall/angle:45-60`), the same for every build, so each candidate's
//! numbers land on the benchmark's own history and its thresholds. Each benchmark has one
//! measure: Bencher's built-in `latency` (nanoseconds; lower/upper are the quartiles, or
//! none for a tail) or a custom one for accuracy — `recall` (%), `false-positives` (per
//! frame), `pose-coverage` (%), `corner-error` (px), `translation-error` (% of range),
//! `rotation-error` (degrees), `free-heap` (bytes) — medians with the quartiles as bounds
//! where the samples are per tag or per frame, means for proportions and counts. A bucket
//! without samples is left out, never written as zero.

use serde_json::{json, Map, Value};
use visreg_bench::metrics::samples;
use visreg_bench::scoring::FrameScore;
use visreg_bench::stats::{mean, quantile};
use visreg_bench::BucketAxis;

use super::ReportInput;

/// How a metric becomes one Bencher measure.
#[derive(Clone, Copy)]
enum Summary {
    /// Median, quartiles as bounds, times `scale`.
    Spread(f64),
    /// The 90th percentile, times `scale`.
    P90(f64),
    /// Mean × 100 (a proportion, in %).
    Percent,
    /// Mean.
    Mean,
}

/// (metric, Bencher measure, summary, has per-angle buckets): the judged metrics.
const METRICS: [(&str, &str, Summary, bool); 9] = [
    ("latency_ms", "latency", Summary::Spread(1e6), false),
    ("latency_ms_p90", "latency", Summary::P90(1e6), false),
    ("recall", "recall", Summary::Percent, true),
    ("pose_coverage", "pose-coverage", Summary::Percent, true),
    ("false_positives", "false-positives", Summary::Mean, false),
    ("corner_err_px", "corner-error", Summary::Spread(1.0), true),
    (
        "trans_err_pct",
        "translation-error",
        Summary::Spread(1.0),
        true,
    ),
    ("rot_err_deg", "rotation-error", Summary::Spread(1.0), true),
    ("mem_free_bytes", "free-heap", Summary::Spread(1.0), false),
];

fn summarise(xs: &[f64], how: Summary) -> Option<Value> {
    let q = |p: f64, scale: f64| quantile(xs, p).map(|v| v * scale);
    Some(match how {
        Summary::Spread(scale) => json!({
            "value": q(0.5, scale)?,
            "lower_value": q(0.25, scale)?,
            "upper_value": q(0.75, scale)?,
        }),
        Summary::P90(scale) => json!({ "value": q(0.9, scale)? }),
        Summary::Percent => json!({ "value": 100.0 * mean(xs)? }),
        Summary::Mean => json!({ "value": mean(xs)? }),
    })
}

/// The benchmarks of one build's (or the host's) `scores` on `dataset`.
fn document(dataset: &str, scores: &[FrameScore]) -> Map<String, Value> {
    let edges = BucketAxis::Angle.edges();
    let mut doc = Map::new();
    for (metric, measure, how, bucketed) in METRICS {
        let mut buckets = vec![("all".to_string(), None)];
        if bucketed {
            for (w, &lo) in edges.iter().enumerate() {
                let hi = edges.get(w + 1).copied().unwrap_or(90.0);
                // The names of the verdicts' angle buckets.
                buckets.push((format!("angle:{lo}-{hi}"), Some((lo, hi))));
            }
        }
        for (bucket, angle) in buckets {
            let xs = samples(scores, metric, angle);
            if let Some(v) = summarise(&xs, how) {
                let mut m = Map::new();
                m.insert(measure.to_string(), v);
                doc.insert(format!("{dataset}/{metric}/{bucket}"), Value::Object(m));
            }
        }
    }
    doc
}

/// The file a build's document goes in, inside `bmf/`: its name with anything but
/// letters, digits, `.`, `-` and `_` written as `_` (a catalog name is never a path).
pub fn bmf_file_name(build: &str) -> String {
    let safe: String = build
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = if safe.starts_with('.') {
        format!("_{safe}")
    } else {
        safe
    };
    format!("{safe}.json")
}

/// The BMF documents: (build — or `host` —, its file name in `bmf/`, the JSON), builds
/// in run order, the host last when it was measured.
pub fn bmf_documents(input: &ReportInput) -> Vec<(String, String, String)> {
    let dataset = &input.run.dataset_name;
    let text = |doc: Map<String, Value>| {
        serde_json::to_string_pretty(&Value::Object(doc)).expect("JSON of plain values") + "\n"
    };
    let mut out: Vec<(String, String, String)> = input
        .builds
        .iter()
        .map(|b| {
            (
                b.name.clone(),
                bmf_file_name(&b.name),
                text(document(dataset, &b.scores())),
            )
        })
        .collect();
    if !input.host.is_empty() {
        out.push((
            "host".into(),
            bmf_file_name("host"),
            text(document(dataset, &input.host)),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_inside_the_folder() {
        assert_eq!(bmf_file_name("5.1.0-rc1"), "5.1.0-rc1.json");
        assert_eq!(bmf_file_name("../x/y z"), "_.._x_y_z.json");
        assert_eq!(bmf_file_name("nightly/2025"), "nightly_2025.json");
    }
}
