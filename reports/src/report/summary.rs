//! `summary.md`: a CI job summary (GitHub's `$GITHUB_STEP_SUMMARY`, Buildkite
//! annotations) — the verdict first, then a compact table; always under 1 MiB.

use std::fmt::Write;

use visreg_bench::scoring::aggregate;

use super::{check_name, describe_change, entry_word, fmt_opt, fmt_pct, ReportInput};

/// GitHub refuses job summaries over 1 MiB; stay well inside it.
pub const SUMMARY_LIMIT: usize = 1024 * 1024;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The summary.
pub fn summary_md(input: &ReportInput) -> String {
    let (reg, imp, inc, unch) = input.counts();
    let mut s = String::new();
    let mark = if input.incomplete().is_some() {
        "⚠️"
    } else if reg > 0 {
        "❌"
    } else {
        "✅"
    };
    let _ = writeln!(s, "## visreg: {mark} {}\n", cell(&input.headline()));
    let _ = writeln!(
        s,
        "Run `{}` · dataset **{}** (`{}`) · camera {} · baseline **{}**\n",
        input.run.id,
        cell(&input.run.dataset_name),
        input.run.dataset_hash.chars().take(16).collect::<String>(),
        cell(&input.run.camera),
        cell(&input.run.baseline)
    );
    let _ = writeln!(
        s,
        "{reg} regressed · {imp} improved · {inc} inconclusive · {unch} unchanged\n"
    );
    let notable = input.notable();
    if !notable.is_empty() {
        s.push_str("| build | check | verdict | change (95 % interval, p) |\n|---|---|---|---|\n");
        // Keep the table (and so the summary) bounded whatever the plan's size.
        for e in notable.iter().take(500) {
            let _ = writeln!(
                s,
                "| {} | `{}` | **{}** | {} |",
                cell(&e.build),
                cell(&check_name(e)),
                entry_word(e),
                cell(&describe_change(e))
            );
        }
        if notable.len() > 500 {
            let _ = writeln!(s, "\n…and {} more in `verdicts.json`.", notable.len() - 500);
        }
        s.push('\n');
    }
    s.push_str("### Per build\n\n| build | recall | corner error median | translation error median | rotation error median | time per frame median |\n|---|---|---|---|---|---|\n");
    for b in input.builds.iter().take(200) {
        let m = aggregate(&b.scores());
        let _ = writeln!(
            s,
            "| {}{} | {} | {} | {} | {} | {} |",
            cell(&b.name),
            if b.name == input.run.baseline {
                " (baseline)"
            } else {
                ""
            },
            fmt_pct(m.recall),
            fmt_opt(m.corner_err_px_median, 3, "px"),
            fmt_opt(m.trans_err_pct_median, 2, "%"),
            fmt_opt(m.rot_err_deg_median, 2, "°"),
            fmt_opt(m.latency_ms_median, 2, "ms"),
        );
    }
    if !input.host.is_empty() {
        let m = aggregate(&input.host);
        let _ = writeln!(
            s,
            "| host reference | {} | {} | {} | {} | {} |",
            fmt_pct(m.recall),
            fmt_opt(m.corner_err_px_median, 3, "px"),
            fmt_opt(m.trans_err_pct_median, 2, "%"),
            fmt_opt(m.rot_err_deg_median, 2, "°"),
            fmt_opt(m.latency_ms_median, 2, "ms"),
        );
    }
    s.push_str("\nFull report: `index.html`; machine-readable: `verdicts.json`, `junit.xml`, `bmf.json`.\n");
    if s.len() > SUMMARY_LIMIT {
        let mut cut = SUMMARY_LIMIT - 200;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("\n\n…(cut to fit a job summary; see `index.html`)\n");
    }
    s
}
