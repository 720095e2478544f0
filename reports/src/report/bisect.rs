//! A bisect's report: the first bad build and the change it brought first, then the path
//! taken — each build measured, its verdict against the good build, its flashes, and a
//! link to its own run report. As `summary.md` (a CI job summary) and `index.html`.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::esc;

/// A build named by the answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BisectBuild {
    /// Build name.
    pub name: String,
    /// Its place in the series (a date, a build number).
    pub place: String,
    /// Its commit, when the catalog has one.
    pub commit: Option<String>,
}

impl BisectBuild {
    fn label(&self) -> String {
        match &self.commit {
            Some(c) => format!("{} ({}, {c})", self.name, self.place),
            None => format!("{} ({})", self.name, self.place),
        }
    }
}

/// One measured build, as the report shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BisectStepRow {
    /// Build.
    pub build: String,
    /// Its place in the series.
    pub place: String,
    /// `baseline`, `good`, `bad`, `partial`, `inconclusive`, `skipped`.
    pub verdict: String,
    /// In plain words: the checks and their changes, or why it was skipped.
    pub detail: String,
    /// Its run in the store.
    pub run: String,
    /// Its run report, relative to the bisect's report folder.
    pub report: Option<String>,
    /// Repetitions measured.
    pub repeats: u32,
    /// Flashes it took.
    pub flashes: u32,
    /// Seconds it took.
    pub seconds: f64,
}

/// What a bisect report shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BisectReport {
    /// Bisect id.
    pub id: String,
    /// `done`, `interrupted`, `failed`, `running`.
    pub status: String,
    /// The one-line answer.
    pub headline: String,
    /// Whether the answer names one build (no unjudged build in between).
    pub exact: bool,
    /// The series bisected.
    pub series: String,
    /// The good end.
    pub good: String,
    /// The bad end.
    pub bad: String,
    /// The checks followed.
    pub checks: Vec<String>,
    /// Dataset name.
    pub dataset: String,
    /// Camera.
    pub camera: String,
    /// The first bad build, when found.
    pub first_bad: Option<BisectBuild>,
    /// The last good build before it.
    pub last_good: Option<BisectBuild>,
    /// What the first bad build changed, against the good build.
    pub change: Option<String>,
    /// Builds between the last good and the first bad that could not be judged.
    pub unjudged_between: Vec<String>,
    /// Flashes made.
    pub flashes: u32,
    /// The most a search without skips needs: ⌈log2 N⌉ + 2 for N candidates.
    pub flash_bound: u32,
    /// Builds measured, in order.
    pub steps: Vec<BisectStepRow>,
    /// Findings worth a line (a partial regression; good builds after bad ones).
    pub notes: Vec<String>,
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The bisect's `summary.md`.
pub fn bisect_summary_md(r: &BisectReport) -> String {
    let mut s = String::new();
    let mark = match (r.status.as_str(), &r.first_bad) {
        ("done", Some(_)) => "🔎",
        _ => "⚠️",
    };
    let _ = writeln!(s, "## visreg bisect: {mark} {}\n", cell(&r.headline));
    let _ = writeln!(
        s,
        "Bisect `{}` · series **{}** from **{}** (good) to **{}** (bad) · checks `{}` · dataset **{}** · camera {} · {} flash(es) (bound {})\n",
        r.id,
        cell(&r.series),
        cell(&r.good),
        cell(&r.bad),
        cell(&r.checks.join(", ")),
        cell(&r.dataset),
        cell(&r.camera),
        r.flashes,
        r.flash_bound
    );
    if let Some(c) = &r.change {
        let _ = writeln!(s, "First change: {}\n", cell(c));
    }
    for n in &r.notes {
        let _ = writeln!(s, "> {}\n", cell(n));
    }
    s.push_str("| # | build | place | verdict | against the good build | run |\n|---|---|---|---|---|---|\n");
    for (i, st) in r.steps.iter().enumerate() {
        let run = match &st.report {
            Some(href) => format!("[`{}`]({href})", st.run),
            None => format!("`{}`", st.run),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | **{}** | {} | {run} |",
            i + 1,
            cell(&st.build),
            cell(&st.place),
            st.verdict,
            cell(&st.detail)
        );
    }
    s
}

/// The bisect's `index.html`.
pub fn bisect_html(r: &BisectReport) -> String {
    let mut s = String::new();
    let found = r.status == "done" && r.first_bad.is_some();
    let _ = write!(
        s,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>visreg bisect {}</title><style>{}
tr.bad td, tr.partial td {{ background: #fdf3ee; }} tr.first td {{ font-weight: 600; }}
</style></head><body><header><h1>visreg bisect <code>{}</code></h1><p class="meta">series <b>{}</b> from <b>{}</b> (good) to <b>{}</b> (bad) · checks <code>{}</code> · dataset <b>{}</b> · camera {} · status {}</p></header>"#,
        esc(&r.id),
        super::html::STYLE,
        esc(&r.id),
        esc(&r.series),
        esc(&r.good),
        esc(&r.bad),
        esc(&r.checks.join(", ")),
        esc(&r.dataset),
        esc(&r.camera),
        esc(&r.status),
    );
    let _ = write!(
        s,
        r#"<section id="answer" class="verdict{}"><h2>Answer</h2><p class="headline">{}</p>"#,
        if found { " fail" } else { "" },
        esc(&r.headline)
    );
    if let (Some(bad), Some(good)) = (&r.first_bad, &r.last_good) {
        let _ = write!(
            s,
            r#"<p>First bad: <b id="first-bad">{}</b> · last good: <b id="last-good">{}</b>{}</p>"#,
            esc(&bad.label()),
            esc(&good.label()),
            if r.unjudged_between.is_empty() {
                String::new()
            } else {
                format!(
                    " · could not be judged in between: {}",
                    esc(&r.unjudged_between.join(", "))
                )
            }
        );
    }
    if let Some(c) = &r.change {
        let _ = write!(s, "<p>First change: {}</p>", esc(c));
    }
    let _ = write!(
        s,
        "<p>{} flash(es); a search without skips needs at most {}.</p>",
        r.flashes, r.flash_bound
    );
    for n in &r.notes {
        let _ = write!(s, "<p>{}</p>", esc(n));
    }
    s.push_str(r#"</section><section id="path"><h2>Path taken</h2><table><thead><tr><th>#</th><th>build</th><th>place</th><th>verdict</th><th>against the good build</th><th class="num">repetitions</th><th class="num">flashes</th><th class="num">time</th><th>run</th></tr></thead><tbody>"#);
    for (i, st) in r.steps.iter().enumerate() {
        let first = r.first_bad.as_ref().is_some_and(|b| b.name == st.build);
        let run = match &st.report {
            Some(href) => format!(r#"<a href="{}">{}</a>"#, esc(href), esc(&st.run)),
            None => esc(&st.run),
        };
        let _ = write!(
            s,
            r#"<tr class="{}{}" data-verdict="{}"><td class="num">{}</td><td>{}</td><td>{}</td><td><span class="badge {}">{}</span></td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{:.1} s</td><td>{run}</td></tr>"#,
            esc(&st.verdict),
            if first { " first" } else { "" },
            esc(&st.verdict),
            i + 1,
            esc(&st.build),
            esc(&st.place),
            badge_class(&st.verdict),
            esc(&st.verdict),
            esc(&st.detail),
            st.repeats,
            st.flashes,
            st.seconds
        );
    }
    s.push_str("</tbody></table></section><footer>Each build was judged against the good build with the verdict engine of <code>visreg run</code>; its run report holds the evidence.</footer></body></html>\n");
    s
}

/// The badge style of a step verdict, in the colours of run verdicts.
fn badge_class(v: &str) -> &'static str {
    match v {
        "bad" | "partial" => "regressed",
        "good" | "baseline" => "unchanged",
        _ => "inconclusive",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> BisectReport {
        let step = |b: &str, v: &str| BisectStepRow {
            build: b.into(),
            place: "2026-11-07".into(),
            verdict: v.into(),
            detail: "recall regressed -31.6 pts | x".into(),
            run: format!("bisect-1.{b}"),
            report: Some(format!("runs/bisect-1.{b}/index.html")),
            repeats: 3,
            flashes: 1,
            seconds: 2.5,
        };
        BisectReport {
            id: "bisect-1".into(),
            status: "done".into(),
            headline: "first bad build: n7 <script>".into(),
            exact: true,
            series: "5.1-nightly".into(),
            good: "5.0.0".into(),
            bad: "rc3".into(),
            checks: vec!["recall".into()],
            dataset: "qvga-basic".into(),
            camera: "sim".into(),
            first_bad: Some(BisectBuild {
                name: "n7".into(),
                place: "2026-11-07".into(),
                commit: Some("abc123".into()),
            }),
            last_good: Some(BisectBuild {
                name: "n6".into(),
                place: "2026-11-06".into(),
                commit: None,
            }),
            change: Some("recall -31.6 pts".into()),
            unjudged_between: vec![],
            flashes: 6,
            flash_bound: 7,
            steps: vec![
                step("5.0.0", "baseline"),
                step("rc3", "bad"),
                step("n7", "bad"),
            ],
            notes: vec![],
        }
    }

    #[test]
    fn the_summary_names_the_first_bad_build_and_links_every_step() {
        let s = bisect_summary_md(&report());
        assert!(
            s.starts_with("## visreg bisect: 🔎 first bad build: n7"),
            "{s}"
        );
        assert!(s.contains("| 3 | n7 | 2026-11-07 | **bad** | recall regressed -31.6 pts \\| x | [`bisect-1.n7`](runs/bisect-1.n7/index.html) |"), "{s}");
        assert!(s.contains("6 flash(es) (bound 7)"), "{s}");
    }

    #[test]
    fn the_page_escapes_names_and_marks_the_first_bad_build() {
        let h = bisect_html(&report());
        assert!(!h.contains("<script>") && h.contains("&lt;script&gt;"));
        assert!(
            h.contains(r#"<b id="first-bad">n7 (2026-11-07, abc123)</b>"#),
            "{h}"
        );
        assert!(
            h.contains(r#"<tr class="bad first" data-verdict="bad">"#),
            "{h}"
        );
        assert_eq!(h.matches(r#"<a href="runs/"#).count(), 3);
    }
}
