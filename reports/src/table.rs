//! Plain-text tables for the terminal (the binary decides whether to print them).

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};
use visreg_bench::{BucketMetrics, Metrics};

use crate::fmt::{count, pct};

fn opt(v: Option<f64>, digits: usize) -> String {
    crate::fmt::opt(v, digits, "")
}

const HEADER: [&str; 10] = [
    "",
    "found",
    "recall",
    "false pos",
    "id err",
    "corner px\nmed / p90",
    "trans m\nmedian",
    "trans %\nof range",
    "rot deg\nmed / p90",
    "latency ms\nmed / p90",
];

fn row(label: &str, m: &Metrics) -> Vec<Cell> {
    vec![
        Cell::new(label),
        Cell::new(format!("{}/{}", m.detected, m.tags)).set_alignment(CellAlignment::Right),
        Cell::new(pct(m.recall)).set_alignment(CellAlignment::Right),
        Cell::new(count(m.false_positives)).set_alignment(CellAlignment::Right),
        Cell::new(count(m.id_errors)).set_alignment(CellAlignment::Right),
        Cell::new(format!(
            "{} / {}",
            opt(m.corner_err_px_median, 3),
            opt(m.corner_err_px_p90, 3)
        ))
        .set_alignment(CellAlignment::Right),
        Cell::new(opt(m.trans_err_m_median, 4)).set_alignment(CellAlignment::Right),
        Cell::new(opt(m.trans_err_pct_median, 2)).set_alignment(CellAlignment::Right),
        Cell::new(format!(
            "{} / {}",
            opt(m.rot_err_deg_median, 2),
            opt(m.rot_err_deg_p90, 2)
        ))
        .set_alignment(CellAlignment::Right),
        Cell::new(format!(
            "{} / {}",
            opt(m.latency_ms_median, 2),
            opt(m.latency_ms_p90, 2)
        ))
        .set_alignment(CellAlignment::Right),
    ]
}

/// The summary table of an evaluation: one overall row, then a row per bucket. Cells
/// wrap to fit the terminal, or `width` columns when given (a caller without a
/// terminal that knows its width).
pub fn metrics_table(overall: &Metrics, buckets: &[BucketMetrics], width: Option<u16>) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(w) = width {
        t.set_width(w);
    }
    t.set_header(HEADER);
    t.add_row(row("overall", overall));
    for b in buckets {
        let unit = b.axis.unit();
        let axis = serde_json::to_value(b.axis)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let label = if unit.is_empty() {
            format!("{axis} {}", b.label)
        } else {
            format!("{axis} {} {unit}", b.label)
        };
        t.add_row(row(&label, &b.metrics));
    }
    t.to_string()
}
