//! The run report: what `visreg report` and the end of every `visreg run` write beside
//! `verdicts.json` — `index.html` (self-contained, charts inline as SVG), `summary.md` (a
//! CI job summary), `junit.xml` and `bmf/<build>.json` (Bencher Metric Format, one file
//! per build).
//!
//! Everything here is pure: the caller gathers a [`ReportInput`] from the store and the
//! dataset, and each format is a function from it to a string.

mod bisect;
mod bmf;
mod charts;
mod history;
mod html;
mod junit;
mod summary;
mod svg;

pub use bisect::{bisect_html, bisect_summary_md, BisectBuild, BisectReport, BisectStepRow};
pub use bmf::{bmf_documents, bmf_file_name};
pub use history::{
    history_html, history_subdir, lab_index_html, slug, HistoryInput, HistoryRun, LabRow,
};
pub use html::html;
pub use junit::junit_xml;
pub use summary::summary_md;

use serde::{Deserialize, Serialize};
use visreg_bench::scoring::FrameScore;
use visreg_bench::verdict::{TestName, Verdict};
use visreg_datasets::DetectedTag;

use crate::store::RunRecord;

/// One line of `verdicts.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerdictEntry {
    /// Candidate build.
    pub build: String,
    /// Baseline build.
    pub baseline: String,
    /// Metric (`latency_ms`, `recall`, `pose_coverage`, …).
    pub metric: String,
    /// Bucket (`angle:45-60`), or null for the whole dataset.
    pub bucket: Option<String>,
    /// Verdict.
    pub verdict: Verdict,
    /// Change (relative for latency and errors, absolute for proportions).
    pub change: Option<f64>,
    /// Interval of the change.
    pub ci_low: Option<f64>,
    /// Interval of the change.
    pub ci_high: Option<f64>,
    /// Two-sided p-value of the test.
    pub p_value: Option<f64>,
    /// Independent units judged (pairs of frames, tags or captures).
    #[serde(default)]
    pub n: u64,
    /// What a unit is: `frame`, `tag` or `capture`.
    #[serde(default)]
    pub unit: String,
    /// The test used.
    #[serde(default)]
    pub test: Option<TestName>,
    /// A primary check (can make the run fail), or a drill-down bucket (says where).
    #[serde(default = "primary_default")]
    pub primary: bool,
    /// Why this change is not what it seems (a latency change of a build that finds
    /// fewer tags).
    #[serde(default)]
    pub confounded: Option<String>,
    /// A finding about the evidence itself (a camera that is not deterministic).
    #[serde(default)]
    pub note: Option<String>,
}

fn primary_default() -> bool {
    true
}

/// One point of a metric's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// Run.
    pub run_id: String,
    /// When it started.
    pub started_unix_s: f64,
    /// Build.
    pub build: String,
    /// The metric's summary in that run, as its rule summarises it: the median, the
    /// tail quantile (p90), or the share (proportions).
    pub value: f64,
    /// Whether a change point starts here.
    pub change_point: bool,
    /// Where it was measured: `host / camera`. A lab run's cameras are separate
    /// sources, so each is its own series, never successive runs of one.
    #[serde(default)]
    pub source: String,
}

/// One camera frame result of a build.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoredFrame {
    /// Dataset frame index.
    pub frame: u32,
    /// Repetition.
    pub repeat: u32,
    /// Its score.
    pub score: FrameScore,
}

/// A build's camera results in the run.
#[derive(Clone, Debug, PartialEq)]
pub struct BuildResults {
    /// Build name.
    pub name: String,
    /// Board it ran on.
    pub board: String,
    /// Camera serial (or port) it ran on.
    pub camera: String,
    /// Every camera frame result, all repetitions.
    pub frames: Vec<ScoredFrame>,
}

impl BuildResults {
    /// The scores alone.
    pub fn scores(&self) -> Vec<FrameScore> {
        self.frames.iter().map(|f| f.score.clone()).collect()
    }
}

/// A metric's history: one point per run and build.
#[derive(Clone, Debug, PartialEq)]
pub struct HistorySeries {
    /// Metric name.
    pub metric: String,
    /// Points, oldest first, change points marked.
    pub points: Vec<HistoryPoint>,
}

/// A tag outline on a gallery frame: id and corners in dataset order (pixels).
pub type Outline = (u32, [[f64; 2]; 4]);

/// One frame of the gallery of worst misses.
#[derive(Clone, Debug, PartialEq)]
pub struct GalleryFrame {
    /// Dataset frame index.
    pub frame: u32,
    /// Why it is shown.
    pub caption: String,
    /// Size, pixels.
    pub width: u32,
    /// Size, pixels.
    pub height: u32,
    /// The frame as PNG.
    pub png: Vec<u8>,
    /// Truth outlines.
    pub truth: Vec<Outline>,
    /// Detections drawn: (source — a build name or `host`, outlines). The build whose
    /// miss the frame shows comes first, then the baseline's, then the host's.
    pub detections: Vec<(String, Vec<Outline>)>,
    /// The build whose misses the frame shows.
    pub build: String,
    /// The truth tags that build missed, circled on the frame.
    pub missed: Vec<MissedTag>,
}

/// A truth tag a build's camera missed, as the gallery circles and labels it.
#[derive(Clone, Debug, PartialEq)]
pub struct MissedTag {
    /// Its truth outline.
    pub outline: Outline,
    /// Distance from the camera, metres.
    pub range_m: f64,
    /// Angle between the tag's normal and the line of sight, degrees.
    pub view_angle_deg: f64,
    /// Its size in the image (mean edge), pixels.
    pub size_px: f64,
    /// Whether the baseline's camera found it.
    pub baseline_found: bool,
    /// Whether the host reference found it.
    pub host_found: bool,
}

/// Everything a report shows.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportInput {
    /// The run.
    pub run: RunRecord,
    /// Its builds in run order (the baseline among them).
    pub builds: Vec<BuildResults>,
    /// The host reference detector's scores on the same frames.
    pub host: Vec<FrameScore>,
    /// The verdicts.
    pub verdicts: Vec<VerdictEntry>,
    /// History of the metrics the history page charts, for this run's builds (empty
    /// without history).
    pub history: Vec<HistorySeries>,
    /// Build name → its firmware as the catalog knows it, for the history's legends.
    pub history_labels: Vec<(String, String)>,
    /// The worst misses.
    pub gallery: Vec<GalleryFrame>,
}

impl ReportInput {
    /// Verdict counts: (regressed, improved, inconclusive, unchanged). Regressions are
    /// the primary checks' (a drill-down bucket says where, it does not fail a run);
    /// a confounded change counts as neither an improvement nor a regression.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let n = |v: Verdict| {
            self.verdicts
                .iter()
                .filter(|e| e.verdict == v && e.confounded.is_none())
                .count()
        };
        (
            self.verdicts.iter().filter(|e| fails_run(e)).count(),
            n(Verdict::Improved),
            n(Verdict::Inconclusive),
            n(Verdict::Unchanged),
        )
    }

    /// Why this report gives no verdict, when it cannot: the run did not finish (failed,
    /// interrupted, still running) or nothing was judged. Every format says so, and
    /// none reads as a pass.
    pub fn incomplete(&self) -> Option<String> {
        let status = self.run.status.to_string();
        let measured: usize = self.builds.iter().map(|b| b.frames.len()).sum();
        if status != "done" {
            Some(format!(
                "Run {status}: no verdict ({measured} camera frame result(s) measured before it stopped; `visreg run --resume {}` finishes it)",
                self.run.id
            ))
        } else if self.verdicts.is_empty() {
            Some(format!(
                "No verdict: nothing was judged ({measured} camera frame result(s), {} build(s))",
                self.builds.len()
            ))
        } else {
            None
        }
    }

    /// The one-line verdict that heads every format.
    pub fn headline(&self) -> String {
        if let Some(why) = self.incomplete() {
            return why;
        }
        let (reg, imp, _, _) = self.counts();
        let mut bad: Vec<&str> = self
            .verdicts
            .iter()
            .filter(|e| fails_run(e))
            .map(|e| e.build.as_str())
            .collect();
        bad.dedup();
        let candidates = self.builds.len().saturating_sub(1);
        if reg == 0 {
            format!(
                "No regression: {candidates} build(s) against {} on {}{}",
                self.run.baseline,
                self.run.dataset_name,
                if imp > 0 {
                    format!(" ({imp} improvement(s))")
                } else {
                    String::new()
                }
            )
        } else {
            format!(
                "{reg} regression(s) in {} of {candidates} build(s) against {}: {}",
                bad.len(),
                self.run.baseline,
                bad.join(", ")
            )
        }
    }

    /// The checks that moved: regressed or improved, in verdict order.
    pub fn notable(&self) -> Vec<&VerdictEntry> {
        self.verdicts
            .iter()
            .filter(|e| matches!(e.verdict, Verdict::Regressed | Verdict::Improved))
            .collect()
    }

    /// The colour index of a build (its place in the run), the same in every chart.
    pub fn colour_of(&self, build: &str) -> usize {
        self.builds
            .iter()
            .position(|b| b.name == build)
            .unwrap_or(0)
    }
}

/// Okabe & Ito's colour-blind-safe palette (without its black, kept for the host and
/// yellow, too faint on white): builds take these in run order.
pub const PALETTE: [&str; 6] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9",
];
/// The host reference detector's colour.
pub const HOST_COLOUR: &str = "#000000";
/// The truth's colour on gallery frames: Okabe & Ito's yellow, which no build takes and
/// which stands out on a gray frame.
pub const TRUTH_COLOUR: &str = "#F0E442";
/// The truth's reference line in charts (yellow is too faint on white).
pub const TRUTH_LINE_COLOUR: &str = "#777777";

/// The colour of build number `i` (wrapping; the line style tells builds 7+ apart).
pub fn build_colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// A frame the gallery shows: where a build's camera missed truth tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Miss {
    /// Index of the build in the run.
    pub build: usize,
    /// Dataset frame.
    pub frame: u32,
    /// Truth tags the build's camera missed (repetition 0).
    pub missed: usize,
    /// Of those, found by the baseline's camera (a regression's misses).
    pub baseline_found: usize,
    /// Of those, found by the host reference.
    pub host_found: usize,
}

/// Picks the gallery: at most `k` distinct frames (of repetition 0) where a camera
/// missed truth tags — first the misses the baseline's camera did not make (what a
/// regression looks like), then those the host did not make, then the most misses. The
/// baseline's own misses count only against the host. Ties go by build, then frame, so
/// the choice is stable.
pub fn worst_misses(
    builds: &[BuildResults],
    baseline: &str,
    host: &[FrameScore],
    k: usize,
) -> Vec<Miss> {
    let found = |scores: Option<&FrameScore>, t: usize| {
        scores
            .and_then(|s| s.tags.get(t))
            .is_some_and(|x| x.matched.is_some())
    };
    let base: std::collections::HashMap<u32, &FrameScore> = builds
        .iter()
        .find(|b| b.name == baseline)
        .map(|b| {
            b.frames
                .iter()
                .filter(|f| f.repeat == 0)
                .map(|f| (f.frame, &f.score))
                .collect()
        })
        .unwrap_or_default();
    let mut cands = Vec::new();
    for (bi, b) in builds.iter().enumerate() {
        let is_base = b.name == baseline;
        for f in b.frames.iter().filter(|f| f.repeat == 0) {
            let missed: Vec<usize> = (0..f.score.tags.len())
                .filter(|&t| f.score.tags[t].matched.is_none())
                .collect();
            if missed.is_empty() {
                continue;
            }
            let count = |s: Option<&FrameScore>| missed.iter().filter(|&&t| found(s, t)).count();
            cands.push(Miss {
                build: bi,
                frame: f.frame,
                missed: missed.len(),
                baseline_found: if is_base {
                    0
                } else {
                    count(base.get(&f.frame).copied())
                },
                host_found: count(host.get(f.frame as usize)),
            });
        }
    }
    cands.sort_by(|a, b| {
        b.baseline_found
            .cmp(&a.baseline_found)
            .then(b.host_found.cmp(&a.host_found))
            .then(b.missed.cmp(&a.missed))
            .then(a.build.cmp(&b.build))
            .then(a.frame.cmp(&b.frame))
    });
    let mut seen = std::collections::HashSet::new();
    cands
        .into_iter()
        .filter(|c| seen.insert(c.frame))
        .take(k)
        .collect()
}

/// Outlines of detections.
pub fn outlines(tags: &[DetectedTag]) -> Vec<Outline> {
    tags.iter()
        .map(|t| (t.id, t.corners.map(|c| [c.x, c.y])))
        .collect()
}

/// Escapes text for HTML and XML (quick-xml's escaping: `& < > " '`).
pub(crate) fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

pub(crate) use crate::fmt::{opt as fmt_opt, pct as fmt_pct};

/// Whether an entry makes the run fail: a primary check that regressed, not explained
/// away as confounded.
pub fn fails_run(e: &VerdictEntry) -> bool {
    e.primary && e.verdict == Verdict::Regressed && e.confounded.is_none()
}

/// The word a report shows for an entry: its verdict, or `confounded` when the change
/// has another cause (a latency "improvement" of a build that finds fewer tags).
pub(crate) fn entry_word(e: &VerdictEntry) -> &'static str {
    if e.confounded.is_some() {
        "confounded"
    } else {
        verdict_word(e.verdict)
    }
}

/// The verdict's word.
pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Regressed => "regressed",
        Verdict::Improved => "improved",
        Verdict::Unchanged => "unchanged",
        Verdict::Inconclusive => "inconclusive",
    }
}

/// "+25.0 % (95 % CI +24.1 % … +26.0 %), p = 1.2e-8" for an entry.
pub(crate) fn describe_change(e: &VerdictEntry) -> String {
    use visreg_bench::metrics::format_change;
    let c = |x: Option<f64>| {
        x.map(|x| format_change(&e.metric, x))
            .unwrap_or_else(|| "–".into())
    };
    let p = e
        .p_value
        .map(|p| format!(", {}", visreg_bench::metrics::format_p(Some(p))))
        .unwrap_or_default();
    let test = e
        .test
        .map(|t| {
            serde_json::to_value(t)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let mut s = format!(
        "{} (95 % CI {} … {}){p}; n = {} {}s, {test}",
        c(e.change),
        c(e.ci_low),
        c(e.ci_high),
        e.n,
        e.unit
    );
    if !e.primary {
        s.push_str(" (drill-down)");
    }
    if let Some(why) = &e.confounded {
        s.push_str(&format!(" — confounded: {why}"));
    }
    s
}

/// Why an inconclusive entry is inconclusive, in words a reader can act on (too few
/// units, no estimate, an interval straddling the threshold); `None` for other verdicts.
pub fn inconclusive_reason(e: &VerdictEntry) -> Option<String> {
    use visreg_bench::metrics::{format_change, metric_def};
    use visreg_bench::verdict::{why_inconclusive, JudgeConfig, WhyInconclusive};
    if e.verdict != Verdict::Inconclusive {
        return None;
    }
    let rule = metric_def(&e.metric)?.rule;
    let unit = if e.unit.is_empty() { "unit" } else { &e.unit };
    let why = why_inconclusive(
        e.change,
        e.ci_low,
        e.ci_high,
        usize::try_from(e.n).unwrap_or(usize::MAX),
        &rule,
        &JudgeConfig::default(),
    )?;
    let threshold = charts::threshold_words(&e.metric, &rule);
    let c = |x: Option<f64>| x.map_or("–".into(), |v| format_change(&e.metric, v));
    Some(match why {
        WhyInconclusive::NoEstimate => format!(
            "no estimate: no {unit} has a value in both builds (n = {})",
            e.n
        ),
        WhyInconclusive::TooFewUnits { n, min } => {
            format!("too few units: n = {n} {unit}(s), a verdict needs at least {min}")
        }
        WhyInconclusive::NotSignificant { .. } => format!(
            "the change {} is past the threshold {threshold} but not significant after the Holm correction ({})",
            c(e.change),
            visreg_bench::metrics::format_p(e.p_value)
        ),
        WhyInconclusive::Straddles { .. } => format!(
            "the 95 % interval {} … {} straddles the threshold {threshold}: a change that matters is neither shown nor ruled out",
            c(e.ci_low),
            c(e.ci_high)
        ),
    })
}

/// The metric and bucket of an entry, as a test or row name: `recall[angle:45-60]`.
pub fn check_name(e: &VerdictEntry) -> String {
    match &e.bucket {
        Some(b) => format!("{}[{b}]", e.metric),
        None => e.metric.clone(),
    }
}

#[cfg(test)]
pub(crate) mod testdata;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headline_names_the_regressed_builds() {
        let i = testdata::input();
        assert_eq!(
            i.headline(),
            "2 regression(s) in 2 of 2 build(s) against 5.0.0: 5.1.0-rc1, 5.1.0-rc3"
        );
        let mut clean = i.clone();
        clean.verdicts.retain(|e| e.verdict != Verdict::Regressed);
        assert!(
            clean.headline().starts_with("No regression"),
            "{}",
            clean.headline()
        );
    }

    #[test]
    fn the_html_puts_the_verdict_first_and_is_self_contained() {
        let i = testdata::input();
        let h = html(&i);
        let verdict = h.find(r#"id="verdict""#).unwrap();
        for later in [
            r#"id="builds""#,
            r#"id="charts""#,
            r#"id="gallery""#,
            r#"id="history""#,
        ] {
            assert!(
                h.find(later).unwrap() > verdict,
                "{later} after the verdict"
            );
        }
        for chart in [
            "latency",
            "recall-angle",
            "recall-range",
            "trans_err_pct-range",
            "trans_err_pct-angle",
            "rot_err_deg-range",
            "rot_err_deg-angle",
            "corner-error",
            "history-latency_ms",
            "forest",
        ] {
            assert!(
                h.contains(&format!(r#"data-chart="{chart}""#)),
                "chart {chart} missing"
            );
        }
        assert!(!h.contains("chart-error"), "every chart drew");
        assert_eq!(
            h.matches(r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="#)
                .count(),
            10,
            "every chart (and the forest plot) has an accessible name"
        );
        assert_eq!(
            h.matches(r#"<g class="forest-row""#).count(),
            i.verdicts.len(),
            "one forest row per judged check"
        );
        // The inconclusive check says why.
        assert!(h.contains(r#"data-why="inconclusive""#), "why inconclusive");
        assert!(
            h.contains("why: the 95 % interval -5.0 % … +35.0 % straddles the threshold ± 25 %"),
            "{h}"
        );
        assert!(h.contains("1 inconclusive (1: interval straddles the threshold)"));
        // The gallery circles the miss and writes its geometry beside it.
        assert!(h.contains(
            r#"<g class="missed" data-tag="0" data-range-m="0.620" data-angle-deg="43.5""#
        ));
        assert!(h.contains("tag 0: 0.62 m, 44°, 24 px"));
        assert!(
            h.contains(r#"<span data-source="5.0.0" data-dash="6 3">"#),
            "the baseline is drawn"
        );
        assert!(!h.contains("<script"), "no scripts");
        assert!(
            !h.contains("src=\"http") && !h.contains("href=\"http"),
            "no external resources"
        );
        // Escaped user text: the camera name holds <&>.
        assert!(h.contains("virtual camera &lt;&amp;&gt;"));
        assert!(h.contains(r#"data-frame="3""#) && h.contains("data:image/png;base64,"));
        // Units on the axes.
        for unit in ["(ms)", "(%)", "(m)", "(deg)", "(px)"] {
            assert!(h.contains(unit), "axis unit {unit}");
        }
    }

    #[test]
    fn the_run_reports_history_names_each_builds_firmware() {
        let i = testdata::input();
        let h = html(&i);
        let history = &h[h.find(r#"id="history""#).unwrap()..];
        assert!(
            history.contains("firmware 5.0.0, commit 1a2b3c4"),
            "the legend carries the catalog's label, as the history page's does"
        );
    }

    #[test]
    fn builds_keep_their_colour_across_charts() {
        let i = testdata::input();
        let h = html(&i);
        // rc1 is the second build: its colour appears in the box plot, the recall lines
        // and its table swatch.
        let c = build_colour(1);
        for chart in ["latency", "recall-angle", "corner-error"] {
            let at = h.find(&format!(r#"data-chart="{chart}""#)).unwrap();
            let end = at + h[at..].find("</svg>").unwrap();
            assert!(
                h[at..end].contains(c) || h[at..end].contains(&c.to_lowercase()),
                "{chart} draws rc1 in {c}"
            );
        }
    }

    #[test]
    fn the_summary_is_verdict_first_and_small() {
        let i = testdata::input();
        let s = summary_md(&i);
        assert!(s.starts_with("## visreg: ❌ 2 regression(s)"), "{s}");
        assert!(s.contains("| 5.1.0-rc1 | `latency_ms` | **regressed** | +25.0 % (95 % CI +24.0 % … +26.0 %), p = 1.0e-6; n = 200 frames, wilcoxon-approx |"), "{s}");
        // A latency "improvement" of a build that lost tags is named for what it is.
        assert!(
            s.contains("| 5.1.0-rc3 | `latency_ms` | **confounded** |"),
            "{s}"
        );
        assert!(
            s.contains("confounded: faster because it finds fewer tags"),
            "{s}"
        );
        assert!(s.contains("`recall[angle:45-60]`"));
        assert!(
            !s.contains("`rot_err_deg`"),
            "inconclusive checks stay out of the table"
        );
        assert!(s.len() < summary::SUMMARY_LIMIT);
    }

    #[test]
    fn a_run_without_a_verdict_reads_as_such_in_every_format_never_as_a_pass() {
        let mut failed = testdata::input();
        failed.run.status = crate::store::RunStatus::Failed;
        let mut empty = testdata::input();
        empty.verdicts.clear();
        for (i, word) in [
            (&failed, "Run failed: no verdict"),
            (&empty, "No verdict: nothing was judged"),
        ] {
            assert!(i.headline().starts_with(word), "{}", i.headline());
            let s = summary_md(i);
            assert!(s.starts_with(&format!("## visreg: ⚠️ {word}")), "{s}");
            assert!(!s.contains("✅"), "{s}");
            let h = html(i);
            assert!(h.contains(r#"class="verdict fail"><h2>Verdict</h2><p class="headline" data-verdict="incomplete">"#), "html");
            let x = junit_xml(i);
            assert!(
                x.contains(r#"errors="1""#) && x.contains(r#"<error message="#),
                "{x}"
            );
        }
        assert!(testdata::input().incomplete().is_none());
    }

    #[test]
    fn junit_has_a_failure_per_regression_with_its_interval() {
        let i = testdata::input();
        let x = junit_xml(&i);
        assert_eq!(
            x.matches("<testsuite ").count(),
            2,
            "one suite per candidate"
        );
        assert_eq!(x.matches("<testcase ").count(), i.verdicts.len());
        // The angle bucket is drill-down: it says where, it does not fail the run.
        assert_eq!(x.matches("<failure ").count(), 2);
        assert_eq!(x.matches("<skipped message=\"inconclusive: ").count(), 1);
        assert!(x.contains(r#"failures="2""#));
        // The root totals every suite, skipped (inconclusive) checks too.
        let root = &x[x.find("<testsuites ").unwrap()..];
        let root = &root[..root.find('>').unwrap()];
        assert!(
            root.contains(&format!(r#"tests="{}""#, i.verdicts.len()))
                && root.contains(r#"failures="2""#)
                && root.contains(r#"errors="0""#)
                && root.contains(r#"skipped="1""#),
            "{root}"
        );
        // A class name whose last dot parts the dataset from the build (Jenkins splits
        // there): package visreg.qvga-basic, class 5_1_0-rc1.
        assert!(
            x.contains(r#"classname="visreg.qvga-basic.5_1_0-rc1""#),
            "{x}"
        );
        assert!(!x.contains(r#"classname="visreg.5."#));
        assert!(x.contains(r#"<property name="dataset_hash" value="0123456789abcdef0123"/>"#));
        assert!(x.contains(r#"<property name="board" value="OpenMV Cam H7 Plus"/>"#));
        assert!(
            x.contains("recall[angle:45-60] regressed: -60.0 pts (95 % CI -61.0 pts … -59.0 pts)"),
            "{x}"
        );
        assert!(x.contains("virtual camera &lt;&amp;&gt;"));
    }

    #[test]
    fn bmf_has_a_file_per_build_with_the_same_benchmark_names() {
        let i = testdata::input();
        let docs = bmf_documents(&i);
        let names: Vec<(&str, &str)> = docs
            .iter()
            .map(|(b, f, _)| (b.as_str(), f.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("5.0.0", "5.0.0.json"),
                ("5.1.0-rc1", "5.1.0-rc1.json"),
                ("5.1.0-rc3", "5.1.0-rc3.json"),
                ("host", "host.json")
            ]
        );
        let doc = |build: &str| -> serde_json::Map<String, serde_json::Value> {
            let (_, _, text) = docs.iter().find(|(b, _, _)| b == build).unwrap();
            serde_json::from_str(text).unwrap()
        };
        let (base, rc1, rc3, host) = (
            doc("5.0.0"),
            doc("5.1.0-rc1"),
            doc("5.1.0-rc3"),
            doc("host"),
        );
        // No build in any benchmark name: the build is Bencher's branch.
        for d in [&base, &rc1, &rc3, &host] {
            for k in d.keys() {
                assert!(k.starts_with("qvga-basic/"), "{k}");
                assert_eq!(k.split('/').count(), 3, "dataset/metric/bucket: {k}");
                assert!(!k.contains("5.") && !k.contains("host"), "{k}");
            }
        }
        let keys = |d: &serde_json::Map<String, serde_json::Value>| {
            d.keys().cloned().collect::<std::collections::BTreeSet<_>>()
        };
        assert_eq!(keys(&base), keys(&rc1), "every build the same benchmarks");
        // Latency in nanoseconds, Bencher's unit: 5.6 ms and up.
        let lat = rc1["qvga-basic/latency_ms/all"]["latency"]["value"]
            .as_f64()
            .unwrap();
        assert!((5.6e6..5.7e6).contains(&lat), "{lat}");
        assert!(
            rc1["qvga-basic/latency_ms/all"]["latency"]["lower_value"]
                .as_f64()
                .unwrap()
                <= lat
        );
        assert!(
            rc1["qvga-basic/latency_ms_p90/all"]["latency"]["value"]
                .as_f64()
                .unwrap()
                >= lat
        );
        assert_eq!(
            rc1["qvga-basic/recall/all"]["recall"]["value"].as_f64(),
            Some(100.0)
        );
        assert!(
            rc3["qvga-basic/recall/all"]["recall"]["value"]
                .as_f64()
                .unwrap()
                < 90.0
        );
        // Each build's buckets are computed from its own tags: rc3 loses the steep ones.
        let steep = |d: &serde_json::Map<String, serde_json::Value>| {
            d.get("qvga-basic/recall/angle:45-60")
                .map(|v| v["recall"]["value"].as_f64().unwrap())
        };
        assert!(
            steep(&rc3).unwrap() < steep(&base).unwrap(),
            "{:?} vs {:?}",
            steep(&rc3),
            steep(&base)
        );
        assert!(
            host.keys().all(|k| !k.contains("mem_free_bytes")),
            "the host has no heap"
        );
    }

    #[test]
    fn the_gallery_prefers_misses_the_baseline_did_not_make() {
        let mut i = testdata::input();
        // On frame 1 rc3 finds everything and the baseline misses tag 0 (the host finds
        // it): a baseline miss ranks below every regression miss of rc3.
        i.builds[2].frames[1].score = i.builds[0].frames[1].score.clone();
        i.builds[0].frames[1].score.tags[0].matched = None;
        let w = worst_misses(&i.builds, "5.0.0", &i.host, 40);
        assert!(w.len() > 4);
        let first_base = w
            .iter()
            .position(|m| m.build == 0)
            .expect("the baseline's miss is listed");
        assert!(w[..first_base]
            .iter()
            .all(|m| m.build == 2 && m.baseline_found == m.missed));
        assert_eq!(w[first_base].baseline_found, 0);
        assert_eq!(w[first_base].host_found, 1);
        let frames: std::collections::HashSet<u32> = w.iter().map(|m| m.frame).collect();
        assert_eq!(frames.len(), w.len(), "distinct frames");
    }
}
