//! The history page (`visreg report --history`): every stored run of a dataset, from every
//! host and camera that writes to the store, with each metric's trend per build and the
//! change points E-Divisive means found in it. Self-contained like the run report.

use std::fmt::Write;

use visreg_bench::metrics::metric_info;

use super::svg::utc;
use super::{charts, esc, HistorySeries};
use crate::store::RunRecord;

/// A stored run as the history lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryRun {
    /// The run.
    pub run: RunRecord,
    /// The host it ran on.
    pub host: String,
}

/// Everything the history page shows.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryInput {
    /// The store's name.
    pub store: String,
    /// The dataset (name and hash).
    pub dataset: (String, String),
    /// Runs, oldest first.
    pub runs: Vec<HistoryRun>,
    /// Per metric: points of finished runs only (a quarantined, failed or interrupted
    /// run's partial data would read as a change).
    pub series: Vec<HistorySeries>,
    /// Build name → its firmware as the catalog knows it ("firmware 5.1.0, commit …").
    pub labels: Vec<(String, String)>,
}

impl HistoryInput {
    /// Distinct hosts and cameras.
    pub fn hosts_and_cameras(&self) -> (Vec<String>, Vec<String>) {
        let mut hosts: Vec<String> = self.runs.iter().map(|r| r.host.clone()).collect();
        let mut cams: Vec<String> = self.runs.iter().map(|r| r.run.camera.clone()).collect();
        hosts.sort();
        hosts.dedup();
        cams.sort();
        cams.dedup();
        (hosts, cams)
    }
}

/// The page.
pub fn history_html(input: &HistoryInput) -> String {
    let (hosts, cams) = input.hosts_and_cameras();
    let change_points: Vec<_> = input
        .series
        .iter()
        .flat_map(|s| {
            s.points
                .iter()
                .filter(|p| p.change_point)
                .map(move |p| (s, p))
        })
        .collect();
    let headline = format!(
        "{} run(s) from {} host(s) and {} camera(s); {} change point(s)",
        input.runs.len(),
        hosts.len(),
        cams.len(),
        change_points.len()
    );
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>visreg history — {}</title><style>{}</style></head><body>"#,
        esc(&input.dataset.0),
        super::html::STYLE
    );
    let _ = write!(
        s,
        r#"<header><h1>visreg history: {}</h1><p class=meta>dataset <code>{}</code>, store {}</p></header><section id="verdict" class="verdict"><h2>Summary</h2><p class="headline" data-runs="{}" data-hosts="{}">{}</p><p>Hosts: {}. Cameras: {}.</p>"#,
        esc(&input.dataset.0),
        esc(&input.dataset.1.chars().take(23).collect::<String>()),
        esc(&input.store),
        input.runs.len(),
        hosts.len(),
        esc(&headline),
        esc(&hosts.join(", ")),
        esc(&cams.join(", "))
    );
    if !change_points.is_empty() {
        s.push_str("<table><thead><tr><th>metric</th><th>build</th><th>change starts at run</th><th>value there</th></tr></thead><tbody>");
        for (series, p) in &change_points {
            let _ = write!(
                s,
                "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td class=num>{:.4}</td></tr>",
                esc(&series.metric),
                esc(&p.build),
                esc(&p.run_id),
                p.value
            );
        }
        s.push_str("</tbody></table>");
    }
    s.push_str(r#"</section><section id="charts"><h2>Trends</h2>"#);
    let mut builds: Vec<String> = input
        .series
        .iter()
        .flat_map(|x| x.points.iter().map(|p| p.build.clone()))
        .collect();
    builds.sort();
    builds.dedup();
    let partial: Vec<&HistoryRun> = input
        .runs
        .iter()
        .filter(|r| r.run.status.as_str() != "done")
        .collect();
    if !partial.is_empty() {
        let _ = write!(
            s,
            r#"<p class="partial" data-left-out="{}">Left out of the trends: {} run(s) that did not finish ({}) — their data is partial; they are listed under Runs.</p>"#,
            partial.len(),
            partial.len(),
            esc(&partial
                .iter()
                .map(|r| format!("{} {}", r.run.id, r.run.status.as_str()))
                .collect::<Vec<_>>()
                .join(", "))
        );
    }
    for series in input.series.iter().filter(|x| !x.points.is_empty()) {
        let _ = write!(
            s,
            "<figure>{}<figcaption>{}: the {} per run, one series per build (colour and dash) and host / camera (marker), at the date the run started; a lab run's cameras are separate series. Dashed vertical marks: change points (E-Divisive means, α = 0.01, per series), at the run where the change starts.</figcaption></figure>",
            charts::history(series, &builds, &input.labels),
            esc(metric_info(&series.metric).label),
            charts::summary_word(&series.metric)
        );
    }
    s.push_str(r#"</section><section id="runs"><h2>Runs</h2><table><thead><tr><th>run</th><th>started (UTC)</th><th>host</th><th>camera</th><th>status</th><th>builds</th></tr></thead><tbody>"#);
    for r in &input.runs {
        let builds: Vec<String> = serde_json::from_str(&r.run.builds_json).unwrap_or_default();
        let _ = write!(
            s,
            "<tr data-host=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.host),
            esc(&r.run.id),
            utc(r.run.started_unix_s),
            esc(&r.host),
            esc(&r.run.camera),
            esc(r.run.status.as_str()),
            esc(&builds.join(", "))
        );
    }
    s.push_str("</tbody></table></section></body></html>\n");
    s
}

/// A name as a folder name: lowercase letters and digits, every other run of characters
/// one `-`, at most 80 characters (a store's URL, whose password is already masked,
/// becomes `postgres-ci-db-5432-visreg`).
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out.trim_matches('-').chars().take(80).collect();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "store".into()
    } else {
        out
    }
}

/// Where a store's history of one dataset goes, under the history folder:
/// `<store-slug>/<dataset>-<first 8 hex digits of its hash>`, so two stores, or two
/// datasets of one name, never overwrite each other's page.
pub fn history_subdir(store: &str, dataset_name: &str, dataset_hash: &str) -> std::path::PathBuf {
    let hex: String = dataset_hash
        .rsplit(':')
        .next()
        .unwrap_or("")
        .chars()
        .take(8)
        .collect();
    let ds = if hex.is_empty() {
        slug(dataset_name)
    } else {
        format!("{}-{}", slug(dataset_name), slug(&hex))
    };
    std::path::PathBuf::from(slug(store)).join(ds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_store_and_dataset_has_its_own_history_folder() {
        assert_eq!(slug("visreg-results.sqlite"), "visreg-results-sqlite");
        assert_eq!(
            slug("postgres://ci:***@db:5432/visreg"),
            "postgres-ci-db-5432-visreg"
        );
        assert_eq!(slug("../.."), "store");
        let a = history_subdir("a/lab.sqlite", "qvga-basic", "sha256:84671895136c");
        let b = history_subdir("b/lab.sqlite", "qvga-basic", "sha256:84671895136c");
        let c = history_subdir("a/lab.sqlite", "qvga-basic", "sha256:0000aaaa");
        assert_eq!(
            a,
            std::path::PathBuf::from("a-lab-sqlite/qvga-basic-84671895")
        );
        assert!(a != b && a != c, "{a:?} {b:?} {c:?}");
    }

    #[test]
    fn the_page_counts_hosts_and_marks_change_points() {
        let base = super::super::testdata::input();
        let run = |id: &str, host: &str, cam: &str| HistoryRun {
            run: RunRecord {
                id: id.into(),
                camera: cam.into(),
                ..base.run.clone()
            },
            host: host.into(),
        };
        let input = HistoryInput {
            store: "s".into(),
            dataset: ("qvga-basic".into(), "sha256:00".into()),
            runs: vec![
                run("a", "host-a", "cam-1"),
                run("b", "host-b", "cam-2"),
                run("c", "host-b", "cam-3"),
            ],
            series: base.history.clone(),
            labels: vec![("5.0.0".into(), "firmware 5.0.0".into())],
        };
        let h = history_html(&input);
        assert!(
            h.contains("3 run(s) from 2 host(s) and 3 camera(s); 1 change point(s)"),
            "{h}"
        );
        assert!(h.contains(r#"data-chart="history-latency_ms""#));
        assert_eq!(h.matches("<tr data-host=").count(), 3);
    }
}

/// One camera's line on a lab run's index page.
#[derive(Clone, Debug, PartialEq)]
pub struct LabRow {
    /// Camera name.
    pub camera: String,
    /// Board.
    pub board: String,
    /// `done`, `quarantined`, `interrupted`, `skipped`, `failed`.
    pub outcome: String,
    /// Its verdict, or why it stopped.
    pub detail: String,
    /// Its report, relative to the index (for measured cameras).
    pub report: Option<String>,
}

/// The lab run's `index.html`: the outcome first, then one line per camera linking to its
/// own report.
pub fn lab_index_html(lab_run: &str, headline: &str, failed: bool, rows: &[LabRow]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>visreg lab {}</title><style>{}</style></head><body><header><h1>visreg lab run <code>{}</code></h1></header><section id="verdict" class="verdict{}"><h2>Verdict</h2><p class="headline">{}</p></section><section id="cameras"><h2>Cameras</h2><table><thead><tr><th>camera</th><th>board</th><th>outcome</th><th>detail</th></tr></thead><tbody>"#,
        esc(lab_run),
        super::html::STYLE,
        esc(lab_run),
        if failed { " fail" } else { "" },
        esc(headline)
    );
    for r in rows {
        let name = match &r.report {
            Some(link) => format!(r#"<a href="{}">{}</a>"#, esc(link), esc(&r.camera)),
            None => esc(&r.camera),
        };
        let _ = write!(
            s,
            "<tr data-outcome=\"{}\"><td>{name}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.outcome),
            esc(&r.board),
            esc(&r.outcome),
            esc(&r.detail)
        );
    }
    s.push_str("</tbody></table></section></body></html>\n");
    s
}
