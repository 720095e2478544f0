//! What CI tools and a maintainer read of stored runs, through the real binary in a
//! fresh folder: `visreg runs` (table and --json) on SQLite and — when CI provides one
//! (VISREG_TEST_POSTGRES) — PostgreSQL; junit.xml as junitparser reads it (the class
//! names Jenkins splits at their last dot, the root's totals); one BMF file per build.
//! The junitparser half needs a Python with junitparser (VISREG_PYTHON); without it it
//! says it skipped, unless VISREG_REQUIRE_JUNITPARSER=1 or CI is set (.ci/run installs
//! it), where a missing parser fails.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common;
use common::{text, visreg};

/// A short run of `builds` into `store`, its report in `out`; returns its id.
fn run(dir: &Path, store: &str, builds: &str, out: &str, code: i32) -> String {
    let o = visreg(dir)
        .args([
            "run",
            "--firmware",
            builds,
            "--preset",
            "qqvga",
            "--repeat",
            "1",
            "--store",
            store,
            "--out",
            out,
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(code), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    // Without a terminal, each phase is a line of the log.
    assert!(
        stderr.contains("host reference detector: 200 frame(s) in"),
        "{stderr}"
    );
    assert!(
        stderr.contains("5.0.0 (rep 1): measuring: 200 frame(s) in"),
        "{stderr}"
    );
    stderr
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(':')
        .to_string()
}

/// `visreg runs` on `store` after a regressed run and a clean one: newest first, with
/// their verdicts, as a table that fits 80 columns and as JSON. The store may hold other
/// runs (a PostgreSQL store is shared, as a lab's is).
fn runs_are_listed(dir: &Path, store: &str) {
    let regressed = run(dir, store, "5.0.0,5.1.0-rc2", "out-a", 1);
    let clean = run(dir, store, "5.0.0,5.0.1", "out-b", 0);
    let o = visreg(dir)
        .args(["runs", "--json", "--limit", "0", "--store", store])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["schema"], "visreg.runs/1");
    let runs = doc["runs"].as_array().unwrap();
    let started: Vec<f64> = runs
        .iter()
        .map(|r| r["started_unix_s"].as_f64().unwrap())
        .collect();
    assert!(
        started.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {started:?}"
    );
    let at = |id: &str| {
        runs.iter()
            .position(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id} not listed"))
    };
    let (c, r) = (&runs[at(&clean)], &runs[at(&regressed)]);
    assert!(at(&clean) < at(&regressed), "newest first");
    assert_eq!(
        (c["status"].as_str(), c["verdict"].as_str()),
        (Some("done"), Some("pass"))
    );
    assert_eq!(c["regressions"], 0);
    assert_eq!(
        (r["verdict"].as_str(), r["status"].as_str()),
        (Some("regressed"), Some("done"))
    );
    // The count is verdicts.json's: the primary checks that fail the run.
    let verdicts: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out-a/verdicts.json")).unwrap())
            .unwrap();
    let failing = verdicts
        .iter()
        .filter(|e| {
            e["primary"] == true && e["verdict"] == "regressed" && e["confounded"].is_null()
        })
        .count();
    assert!(failing >= 1);
    assert_eq!(r["regressions"].as_u64(), Some(failing as u64));
    assert_eq!(r["checks"].as_u64(), Some(verdicts.len() as u64));
    assert_eq!(r["builds"], serde_json::json!(["5.0.0", "5.1.0-rc2"]));
    assert_eq!(r["boards"], serde_json::json!(["H7 Plus"]));
    assert_eq!(r["camera"], "sim");
    assert_eq!(r["dataset"], "qqvga");
    assert_eq!(r["camera_frames"], 400);
    let host = r["host"].as_str().unwrap();
    assert!(!host.is_empty() && host != "–");
    let started = r["started"].as_str().unwrap();
    assert_eq!(&started[10..11], "T", "RFC 3339: {started}");

    // The table, fitted to COLUMNS without a terminal (a 100-column one), of the runs
    // from the regressed one on.
    let limit = (at(&regressed) + 1).to_string();
    let o = visreg(dir)
        .env("COLUMNS", "100")
        .args(["runs", "--limit", &limit, "--store", store])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    let widest = table.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest <= 100, "{widest} columns wide:\n{table}");
    for want in ["pass", "regression(s)", "virtual", "H7", host, "done"] {
        assert!(table.contains(want), "{want} in\n{table}");
    }
    // Newest first in the table too, each id whole (it is what one copies).
    let (at_clean, at_regressed) = (
        table.find(clean.as_str()).unwrap(),
        table.find(regressed.as_str()).unwrap(),
    );
    assert!(at_clean < at_regressed, "{table}");
    assert!(table.contains("`--limit 0` lists every one"), "{table}");
}

#[cfg(unix)]
#[test]
fn runs_junit_and_bmf_as_ci_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    runs_are_listed(dir.path(), "s.sqlite");

    // One BMF file per build, the host's beside them.
    let bmf: Vec<String> = std::fs::read_dir(dir.path().join("out-a/bmf"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut bmf = bmf;
    bmf.sort();
    assert_eq!(bmf, ["5.0.0.json", "5.1.0-rc2.json", "host.json"]);
    assert!(!dir.path().join("out-a/bmf.json").exists());

    junit_as_junitparser_reads_it(&dir.path().join("out-a"));
}

fn junit_as_junitparser_reads_it(out: &Path) {
    let py = common::python();
    if !common::available(
        common::imports(&py, "junitparser"),
        "VISREG_REQUIRE_JUNITPARSER",
        &format!("{py} cannot import junitparser, so the JUnit check"),
        "pip install junitparser, or set VISREG_PYTHON; .ci/run installs it",
    ) {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_junit.py");
    let o = Command::new(&py)
        .arg(script)
        .arg(out.join("junit.xml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let found: Value = serde_json::from_slice(&o.stdout).unwrap();
    let verdicts: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("verdicts.json")).unwrap()).unwrap();
    let failing = verdicts
        .iter()
        .filter(|e| {
            e["primary"] == true && e["verdict"] == "regressed" && e["confounded"].is_null()
        })
        .count();
    let inconclusive = verdicts
        .iter()
        .filter(|e| e["verdict"] == "inconclusive")
        .count();
    let want = serde_json::json!({
        "tests": verdicts.len(),
        "failures": failing,
        "errors": 0,
        "skipped": inconclusive,
    });
    // The root's totals as written, as counted case by case, and as junitparser sums the
    // suites: all three agree with verdicts.json.
    let as_written: Value = found["root"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().unwrap().parse::<u64>().unwrap().into(),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    assert_eq!(as_written, want, "the root's totals");
    assert_eq!(found["counted"], want, "the cases");
    assert_eq!(found["parsed"], want, "junitparser's sums");
    // rc2's poses are all NaN: its pose errors have no units to judge, so inconclusive.
    assert!(inconclusive >= 1, "an inconclusive check to see skipped");
    let cases = found["cases"].as_array().unwrap();
    assert_eq!(cases.len(), verdicts.len());
    for c in cases {
        // Split where Jenkins splits: the package is the dataset, the class the build.
        assert_eq!(c["package"], "visreg.qqvga", "{c}");
        assert_eq!(c["class"], "5_1_0-rc2", "{c}");
        if c["result"] == "skipped" {
            let m = c["message"].as_str().unwrap_or_default();
            assert!(m.starts_with("inconclusive: "), "a skip says why: {c}");
            assert!(m.contains("n = "), "{c}");
        }
    }
    let failed: Vec<&str> = cases
        .iter()
        .filter(|c| c["result"] == "failure")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(failed.contains(&"pose_coverage"), "{failed:?}");
}

#[cfg(unix)]
#[test]
fn runs_on_postgresql() {
    let Some(db) = common::test_postgres() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    runs_are_listed(dir.path(), &db.spec);
}

#[test]
fn firmware_list_fits_a_100_column_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let widest = |columns: Option<&str>| {
        let mut c = visreg(dir.path());
        c.args(["firmware", "list", "--all"]);
        if let Some(n) = columns {
            c.env("COLUMNS", n);
        }
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let s = String::from_utf8_lossy(&o.stdout).into_owned();
        (s.lines().map(|l| l.chars().count()).max().unwrap(), s)
    };
    let (fitted, s) = widest(Some("100"));
    assert!(fitted <= 100, "{fitted} columns wide:\n{s}");
    assert!(
        s.contains("5.1.0-rc3") && s.contains("cdc-bootloader"),
        "{s}"
    );
    // Without a width to fit, the whole table is printed as it is: wider.
    let (whole, _) = widest(None);
    assert!(
        whole > 100,
        "the catalog's table is {whole} columns unfitted"
    );
}
