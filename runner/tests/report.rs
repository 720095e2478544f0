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

fn visreg(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_visreg"));
    c.current_dir(dir)
        .env("VISREG_CACHE_DIR", dir.join("cache"))
        .env("VISREG_RUNTIME_DIR", dir.join("run"));
    c
}

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
    let py = std::env::var("VISREG_PYTHON").unwrap_or_else(|_| "python3".into());
    let ready = Path::new("/usr/bin/chromium").exists()
        && Command::new(&py)
            .args(["-c", "import playwright.sync_api, xmlschema, jsonschema"])
            .status()
            .is_ok_and(|s| s.success());
    if !ready {
        if std::env::var("VISREG_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("no /usr/bin/chromium or {py} lacks playwright/xmlschema/jsonschema, and VISREG_REQUIRE_BROWSER=1");
        }
        eprintln!("skipped the browser checks: needs /usr/bin/chromium (apt install chromium) and {py} with playwright, xmlschema, jsonschema");
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
