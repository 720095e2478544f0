//! `bmf.json`: the run in Bencher Metric Format, so a Bencher server (`bencher run
//! --adapter json --file bmf.json`) can track it. One benchmark per build and source —
//! `visreg/<dataset>/<build>` for a camera build, `visreg/<dataset>/host` for the host
//! reference — with Bencher's built-in `latency` measure (nanoseconds; lower/upper are
//! the quartiles) and custom measures for accuracy: `recall` (%), `false-positives`
//! (per frame), `pose-coverage` (%), `corner-error` (px), `translation-error`
//! (% of range), `rotation-error` (degrees), `free-heap` (bytes) — medians, with the
//! quartiles as bounds where the samples are per tag or per frame.

use serde_json::{json, Map, Value};
use visreg_bench::metrics::samples;
use visreg_bench::scoring::FrameScore;
use visreg_bench::stats::{mean, quantile};

use super::ReportInput;

fn spread(xs: &[f64], scale: f64) -> Option<Value> {
    let q = |p: f64| quantile(xs, p).map(|v| v * scale);
    Some(json!({
        "value": q(0.5)?,
        "lower_value": q(0.25)?,
        "upper_value": q(0.75)?,
    }))
}

fn measures(scores: &[FrameScore]) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    };
    put("latency", spread(&samples(scores, "latency_ms", None), 1e6));
    let prop =
        |metric: &str| mean(&samples(scores, metric, None)).map(|v| json!({"value": 100.0 * v}));
    put("recall", prop("recall"));
    put("pose-coverage", prop("pose_coverage"));
    put(
        "false-positives",
        mean(&samples(scores, "false_positives", None)).map(|v| json!({ "value": v })),
    );
    put(
        "corner-error",
        spread(&samples(scores, "corner_err_px", None), 1.0),
    );
    put(
        "translation-error",
        spread(&samples(scores, "trans_err_pct", None), 1.0),
    );
    put(
        "rotation-error",
        spread(&samples(scores, "rot_err_deg", None), 1.0),
    );
    put(
        "free-heap",
        spread(&samples(scores, "mem_free_bytes", None), 1.0),
    );
    m
}

/// The BMF document.
pub fn bmf_json(input: &ReportInput) -> String {
    let mut doc = Map::new();
    for b in &input.builds {
        doc.insert(
            format!("visreg/{}/{}", input.run.dataset_name, b.name),
            Value::Object(measures(&b.scores())),
        );
    }
    if !input.host.is_empty() {
        doc.insert(
            format!("visreg/{}/host", input.run.dataset_name),
            Value::Object(measures(&input.host)),
        );
    }
    serde_json::to_string_pretty(&Value::Object(doc)).expect("JSON of plain values") + "\n"
}
