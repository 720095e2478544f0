//! The report of a real run on the virtual camera: every file is written, the formats
//! agree with `verdicts.json`, `visreg report` rebuilds the same page from the store, a
//! second run brings the history in, and — in a real headless Chromium — the page shows
//! its verdict and every chart with no console error and no request leaving the file;
//! junit.xml validates against the Jenkins JUnit schema and bmf/<build>.json against the Bencher
//! Metric Format's. The browser half needs a Python with playwright, xmlschema and
//! jsonschema (VISREG_PYTHON) and /usr/bin/chromium; without them it says it skipped,
//! unless VISREG_REQUIRE_BROWSER=1 (CI sets it).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common;
use common::visreg;

fn run_once(dir: &Path, out: &str) -> String {
    let o = visreg(dir)
        .args([
            "run",
            "--firmware",
            "5.0.0,5.1.0-rc1,5.1.0-rc3",
            "--preset",
            "qqvga",
            "--repeat",
            "1",
            "--out",
            out,
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    stderr
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(':')
        .to_string()
}

#[cfg(unix)]
#[test]
fn a_run_writes_its_report_and_the_formats_agree() {
    let dir = tempfile::tempdir().unwrap();
    let run_id = run_once(dir.path(), "out");
    let out = dir.path().join("out");
    for f in [
        "verdicts.json",
        "index.html",
        "summary.md",
        "junit.xml",
        "bmf/5.0.0.json",
        "bmf/5.1.0-rc1.json",
        "bmf/5.1.0-rc3.json",
        "bmf/host.json",
    ] {
        assert!(out.join(f).is_file(), "{f} written");
    }
    let verdicts: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("verdicts.json")).unwrap()).unwrap();
    let regressed = verdicts
        .iter()
        .filter(|e| e["verdict"] == "regressed" && e["primary"] == true)
        .count();
    assert!(regressed >= 2, "rc1 latency and rc3 recall");

    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<failure ").count(), regressed);
    assert_eq!(junit.matches("<testcase ").count(), verdicts.len());
    assert!(junit.contains(r#"<property name="board" value="H7 Plus"/>"#));

    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        summary.starts_with(&format!("## visreg: ❌ {regressed} regression(s)")),
        "{summary}"
    );
    assert!(summary.len() < 1024 * 1024);

    // One BMF file per build, the same benchmark names in each (the build is Bencher's
    // branch, never in a benchmark's name).
    let bmf = |build: &str| -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(out.join(format!("bmf/{build}.json"))).unwrap(),
        )
        .unwrap()
    };
    let latency = |doc: &Value| {
        doc["qqvga/latency_ms/all"]["latency"]["value"]
            .as_f64()
            .unwrap()
    };
    let (rc1, base) = (latency(&bmf("5.1.0-rc1")), latency(&bmf("5.0.0")));
    assert!(
        rc1 > 1.15 * base,
        "rc1 is 25 % slower: {rc1} ns vs {base} ns"
    );
    let keys = |doc: &Value| {
        doc.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(keys(&bmf("5.0.0")), keys(&bmf("5.1.0-rc1")));
    assert!(bmf("host").get("qqvga/recall/all").is_some());

    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains(r#"data-verdict="regressed""#));
    assert!(
        html.contains("data-frame="),
        "the gallery shows rc3's misses"
    );
    assert!(
        !html.contains(r#"data-chart="history-"#),
        "no history after one run"
    );

    // The same page from the store alone.
    let o = visreg(dir.path())
        .args(["report", &run_id, "--out", "again"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("again/index.html")).unwrap(),
        html,
        "visreg report rebuilds the run's page exactly"
    );

    // A second run of the same builds on the same dataset: the history appears.
    run_once(dir.path(), "out2");
    let html2 = std::fs::read_to_string(dir.path().join("out2/index.html")).unwrap();
    assert!(html2.contains(r#"data-chart="history-latency_ms""#));

    // The screenshot outlives the test, for a human to look at.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("visreg-report.png");
    browser_checks(&dir.path().join("out2"), &shot);
}

fn browser_checks(folder: &Path, screenshot: &Path) {
    let py = common::python();
    if !common::available(
        Path::new("/usr/bin/chromium").exists()
            && common::imports(&py, "playwright.sync_api, xmlschema, jsonschema"),
        "VISREG_REQUIRE_BROWSER",
        &format!("no /usr/bin/chromium, or {py} lacks playwright, xmlschema, jsonschema, so the browser checks"),
        "apt install chromium; pip install playwright xmlschema jsonschema, or set VISREG_PYTHON",
    ) {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_report.py");
    let o = Command::new(&py)
        .arg(script)
        .arg(folder)
        .arg(screenshot)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let found: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(found["state"], "regressed");
    assert!(found["verdict"].as_str().unwrap().contains("5.1.0-rc1"));
    let charts: Vec<&str> = found["charts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for want in [
        "latency",
        "recall-angle",
        "recall-range",
        "trans_err_pct-range",
        "trans_err_pct-angle",
        "rot_err_deg-range",
        "rot_err_deg-angle",
        "corner-error",
        "history-latency_ms",
        "history-recall",
    ] {
        assert!(charts.contains(&want), "chart {want} rendered: {charts:?}");
    }
    assert!(found["gallery_frames"].as_u64().unwrap() >= 1);
    assert_eq!(found["junit"], "valid");
    assert_eq!(found["bmf"], "valid");
    assert!(
        std::fs::metadata(screenshot).unwrap().len() > 10_000,
        "a screenshot"
    );
}

/// The builds of the chart checks: 5.0.1 and rc1 are identical to 5.0.0 in accuracy (rc1
/// is only slower), rc2 finds tags but no pose, rc3 loses steep tags.
const CHART_BUILDS: [&str; 5] = ["5.0.0", "5.0.1", "5.1.0-rc1", "5.1.0-rc2", "5.1.0-rc3"];

fn run_builds(dir: &Path, out: &str) {
    let o = visreg(dir)
        .args([
            "run",
            "--firmware",
            &CHART_BUILDS.join(","),
            "--preset",
            "qqvga",
            "--repeat",
            "1",
            "--out",
            out,
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Every `history.html` under `root`.
fn history_pages(root: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.file_name().is_some_and(|n| n == "history.html") {
                found.push(p);
            }
        }
    }
    found
}

#[cfg(unix)]
#[test]
fn report_history_writes_one_page_per_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let ok = |args: &[&str]| {
        let o = visreg(dir.path()).args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", common::text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // Two datasets of one name (qqvga, seeds 1 and 2): two hashes, two histories.
    for (seed, ds) in [("1", "ds1"), ("2", "ds2")] {
        ok(&[
            "dataset", "generate", "--preset", "qqvga", "--seed", seed, "--frames", "30", "--out",
            ds,
        ]);
        ok(&[
            "run",
            "--firmware",
            "5.0.0,5.0.1",
            "--repeat",
            "1",
            "--dataset",
            ds,
        ]);
    }

    let printed = ok(&["report", "--history"]);
    let root = dir
        .path()
        .join("visreg-reports/history/visreg-results-sqlite");
    let mut pages = history_pages(&root);
    pages.sort();
    assert_eq!(pages.len(), 2, "one page per dataset: {pages:?}\n{printed}");
    assert_ne!(pages[0].parent(), pages[1].parent());
    assert_eq!(
        printed.matches("history of qqvga (1 run(s)").count(),
        2,
        "{printed}"
    );
    // Each page shows its own dataset's run only.
    for p in &pages {
        let html = std::fs::read_to_string(p).unwrap();
        let hash8 = p.parent().unwrap().file_name().unwrap().to_string_lossy()["qqvga-".len()..]
            .to_string();
        assert!(html.contains(&hash8), "{} names its dataset", p.display());
    }

    // --out is then the parent of the pages; with --dataset, the one page's folder.
    ok(&["report", "--history", "--out", "site"]);
    assert_eq!(history_pages(&dir.path().join("site")).len(), 2);
    ok(&["report", "--history", "--dataset", "ds2", "--out", "one"]);
    assert!(dir.path().join("one/history.html").is_file());
    assert_eq!(history_pages(&dir.path().join("one")).len(), 1);
}

#[cfg(unix)]
#[test]
fn the_charts_cannot_mislead() {
    let dir = tempfile::tempdir().unwrap();
    run_builds(dir.path(), "out");
    run_builds(dir.path(), "out2");
    let out = dir.path().join("out2");
    let verdicts: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("verdicts.json")).unwrap()).unwrap();
    // qqvga stops at 50°: its 60–75° and 75–90° buckets hold no tag and are not checks.
    for e in verdicts.iter().filter(|e| e["bucket"].is_string()) {
        assert!(e["n"].as_u64().unwrap() > 0, "a bucket without units: {e}");
        let bucket = e["bucket"].as_str().unwrap_or("");
        assert!(
            !bucket.starts_with("angle:60") && !bucket.starts_with("angle:75"),
            "an empty bucket is a check: {e}"
        );
    }
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert_eq!(
        html.matches(r#"<g class="forest-row""#).count(),
        verdicts.len(),
        "one forest row per judged check"
    );
    let inconclusive = verdicts
        .iter()
        .filter(|e| e["verdict"] == "inconclusive")
        .count();
    assert_eq!(
        html.matches(r#"data-why="inconclusive""#).count(),
        inconclusive,
        "every inconclusive check says why"
    );

    // The history page: its own folder per store and dataset.
    let o = visreg(dir.path())
        .args(["report", "--history"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pages = history_pages(&dir.path().join("visreg-reports/history"));
    assert_eq!(pages.len(), 1, "{pages:?}");
    let rel = pages[0]
        .strip_prefix(dir.path().join("visreg-reports/history"))
        .unwrap();
    assert_eq!(
        rel.components().count(),
        3,
        "<store>/<dataset>/history.html: {rel:?}"
    );
    assert!(
        rel.to_string_lossy()
            .starts_with("visreg-results-sqlite/qqvga-"),
        "{rel:?}"
    );
    let page = std::fs::read_to_string(&pages[0]).unwrap();
    for chart in [
        "history-latency_ms",
        "history-latency_ms_p90",
        "history-recall",
        "history-pose_coverage",
        "history-trans_err_pct",
        "history-rot_err_deg",
    ] {
        assert!(
            page.contains(&format!(r#"data-chart="{chart}""#)),
            "{chart}"
        );
    }
    assert!(page.contains("(median per run)") && page.contains("(p90 per run)"));
    assert!(
        page.contains("firmware 5.1.0"),
        "builds labelled with their firmware"
    );

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let Some(found) = chart_checks(&out.join("index.html"), &pages[0], shots) else {
        return;
    };
    let run = &found["run"];
    let charts = run["charts"].as_object().unwrap();
    // Each build's series present and distinguishable in every line chart of the run.
    for (id, c) in charts {
        if id.starts_with("history-") || id == "latency" || id == "forest" {
            continue;
        }
        let series = c["series"].as_array().unwrap();
        for b in CHART_BUILDS {
            let s: Vec<&Value> = series.iter().filter(|s| s["build"] == b).collect();
            assert_eq!(s.len(), 1, "{id}: {b}'s series present once");
            let s = s[0];
            if s["points"].as_u64().unwrap() == 0 {
                assert!(s["empty"].is_string(), "{id}: {b} says why it is empty");
            } else {
                assert!(s["drawn_w"].as_f64().unwrap() > 0.0, "{id}: {b} drawn: {s}");
            }
        }
        let styles: std::collections::HashSet<String> = series
            .iter()
            .map(|s| format!("{} {} {}", s["colour"], s["marker"], s["dash"]))
            .collect();
        assert_eq!(styles.len(), series.len(), "{id}: distinct styles");
        let markers: std::collections::HashSet<&str> = series
            .iter()
            .map(|s| s["marker"].as_str().unwrap())
            .collect();
        assert_eq!(markers.len(), series.len(), "{id}: distinct markers");
    }
    // Builds that coincide say so: 5.0.1 and rc1 find exactly what 5.0.0 finds.
    let recall = &charts["recall-angle"]["series"];
    for b in ["5.0.1", "5.1.0-rc1"] {
        let s = recall
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["build"] == b)
            .unwrap();
        assert_eq!(s["identical_to"], "5.0.0 (camera, baseline)", "{s}");
    }
    assert!(charts["recall-angle"]["legend_text"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t.as_str().unwrap().contains("identical to 5.0.0")));
    // rc2 has no pose: shown, never silently absent.
    for id in [
        "trans_err_pct-range",
        "trans_err_pct-angle",
        "rot_err_deg-range",
        "rot_err_deg-angle",
    ] {
        let s = charts[id]["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["build"] == "5.1.0-rc2")
            .unwrap()
            .clone();
        let note = s["empty"].as_str().unwrap();
        assert!(note.starts_with("no pose: 0 of "), "{id}: {note}");
        assert!(
            charts[id]["legend_text"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == note),
            "{id}: the legend says {note}"
        );
    }
    // Legends outside the plot rectangles, in the run's and the history's charts.
    for part in ["run", "history"] {
        for (id, c) in found[part]["charts"].as_object().unwrap() {
            if c["has_legend"] == true && !c["legend_overlaps_plot"].is_null() {
                assert_eq!(
                    c["legend_overlaps_plot"], false,
                    "{part} {id}: legend over the plot"
                );
            }
        }
    }
    // Baseline and threshold wherever a metric is judged.
    for id in [
        "latency",
        "recall-angle",
        "rot_err_deg-range",
        "corner-error",
    ] {
        assert!(
            charts[id]["bands"].as_u64().unwrap() >= 1,
            "{id}: threshold band"
        );
    }
    assert!(charts["latency"]["references"].as_u64().unwrap() >= 1);
    // Whiskers within the data, outliers drawn as points.
    let boxes = run["boxes"].as_array().unwrap();
    assert_eq!(boxes.len(), CHART_BUILDS.len());
    for b in boxes {
        let f = |k: &str| b[k].as_f64().unwrap();
        assert!(f("min") <= f("lo") && f("lo") <= f("q1"), "{b}");
        assert!(f("q3") <= f("hi") && f("hi") <= f("max"), "{b}");
        assert_eq!(b["whiskers"], serde_json::json!([f("lo"), f("hi")]));
        assert_eq!(b["outliers"], b["outlier_points"], "{b}");
    }
    // The forest plot: one row per judged check, in verdict order, coloured by verdict.
    let forest = run["forest"].as_array().unwrap();
    assert_eq!(forest.len(), verdicts.len());
    for (row, e) in forest.iter().zip(&verdicts) {
        assert_eq!(row["build"], e["build"]);
        let word = if e["confounded"].is_string() {
            "confounded"
        } else {
            e["verdict"].as_str().unwrap()
        };
        assert_eq!(row["verdict"], word);
        if word == "inconclusive" {
            assert!(
                row["title"]
                    .as_str()
                    .unwrap()
                    .contains("inconclusive because"),
                "{row}"
            );
        }
    }
    let colours: std::collections::HashSet<&str> = forest
        .iter()
        .map(|r| r["colour"].as_str().unwrap())
        .collect();
    assert!(
        colours.len() >= 3,
        "regressed, unchanged and more: {colours:?}"
    );
    // A tooltip on every point.
    assert!(run["points"].as_u64().unwrap() > 50);
    assert_eq!(run["untitled_points"], 0);
    assert_eq!(found["history"]["untitled_points"], 0);
    // The gallery shows the regression: the build that missed, the baseline, the circled
    // miss with its geometry, at a readable size.
    let gallery = run["gallery"].as_array().unwrap();
    assert!(!gallery.is_empty());
    for g in gallery {
        assert!(g["width"].as_f64().unwrap() >= 400.0, "readable: {g}");
        let missed = g["missed"].as_array().unwrap();
        assert!(!missed.is_empty(), "{g}");
        for m in missed {
            let label = m["label"].as_str().unwrap();
            assert!(
                label.contains(" m, ") && label.contains("°") && label.contains(" px"),
                "{label}"
            );
        }
        let sources: Vec<&str> = g["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert_eq!(sources[0], g["build"].as_str().unwrap());
        if g["build"] != "5.0.0" {
            assert!(
                sources.contains(&"5.0.0"),
                "the baseline drawn: {sources:?}"
            );
        }
    }
    // A narrow window: nothing wider than the window.
    let narrow = &found["narrow"];
    assert!(
        narrow["scroll_width"].as_f64().unwrap() <= 440.0,
        "{narrow}"
    );
    assert!(
        narrow["widest_chart"].as_f64().unwrap() <= 420.0,
        "{narrow}"
    );
    // The history: dates on the x axis, change points (if any) name their run.
    let hist = found["history"]["charts"].as_object().unwrap();
    let ticks = hist["history-latency_ms"]["x_ticks"].as_array().unwrap();
    assert!(
        ticks.iter().any(|t| t.as_str().unwrap().contains(':')),
        "dates on the x axis: {ticks:?}"
    );
    for c in hist.values() {
        for cp in c["change_points"].as_array().unwrap() {
            assert!(cp.as_str().unwrap().contains("starts at run "), "{cp}");
        }
    }
    for shot in [
        "visreg-report-run.png",
        "visreg-report-gallery.png",
        "visreg-report-narrow.png",
        "visreg-history.png",
    ] {
        assert!(
            std::fs::metadata(shots.join(shot)).unwrap().len() > 5_000,
            "{shot}"
        );
    }
}

/// Runs `check_charts.py` in Chromium; `None` (and a note) when the browser or
/// playwright is missing outside CI, a failure with VISREG_REQUIRE_BROWSER=1.
fn chart_checks(index: &Path, history: &Path, shots: &Path) -> Option<Value> {
    let py = std::env::var("VISREG_PYTHON").unwrap_or_else(|_| "python3".into());
    let ready = Path::new("/usr/bin/chromium").exists()
        && Command::new(&py)
            .args(["-c", "import playwright.sync_api"])
            .status()
            .is_ok_and(|s| s.success());
    if !ready {
        if std::env::var("VISREG_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("no /usr/bin/chromium or {py} lacks playwright, and VISREG_REQUIRE_BROWSER=1");
        }
        eprintln!("skipped the chart checks in the browser: needs /usr/bin/chromium and {py} with playwright");
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_charts.py");
    let o = Command::new(&py)
        .arg(script)
        .arg(index)
        .arg(history)
        .arg(shots)
        .args(CHART_BUILDS)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    Some(serde_json::from_str(stdout.trim()).unwrap())
}
