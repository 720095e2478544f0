//! `visreg bisect` end to end on the virtual camera and the shipped 5.1 nightly series:
//! the planted nightlies found within the flash bound, a build that does not boot skipped,
//! an interrupted bisect resumed, and bad plans refused before a camera is touched. What
//! each test expects is computed from the catalog (which build carries which defect) and
//! from the search itself, not written down.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use visreg::bisect::{max_steps, Bisection, Next};
use visreg_firmware::catalog::{Build, Catalog, Defect};
use visreg_reports::store::{RunStatus, Store};

use crate::common;
use common::{text, visreg};

/// The shipped range from 5.0.0 to 5.1.0-rc3.
fn range() -> Vec<Build> {
    Catalog::builtin()
        .range("5.0.0", "5.1.0-rc3", None)
        .unwrap()
        .1
}

/// The first build of the range carrying a defect of the kind `is`.
fn first_with(is: fn(&Defect) -> bool) -> String {
    range()
        .into_iter()
        .find(|b| b.sim.as_ref().unwrap().defects.iter().any(is))
        .unwrap()
        .name
}

fn loses_steep_tags(d: &Defect) -> bool {
    matches!(d, Defect::AngleLimit { .. })
}

fn slows_down(d: &Defect) -> bool {
    matches!(d, Defect::Slow { .. })
}

const QUICK: [&str; 4] = ["--preset", "qqvga", "--store", "s.sqlite"];

fn bisect(dir: &Path, extra: &[&str]) -> (Output, Value) {
    let out = visreg(dir)
        .args([
            "bisect",
            "--good",
            "5.0.0",
            "--bad",
            "5.1.0-rc3",
            "--json",
            "b.json",
        ])
        .args(QUICK)
        .args(extra)
        .output()
        .unwrap();
    let json = std::fs::read_to_string(dir.join("b.json"))
        .map(|s| serde_json::from_str(&s).unwrap())
        .unwrap_or(Value::Null);
    (out, json)
}

/// Checks what every finished bisect must show: the answer, each step a run in the store
/// with its report linked from index.html and summary.md.
fn check_reports(dir: &Path, j: &Value) {
    let id = j["id"].as_str().unwrap();
    let out = dir.join("visreg-reports").join(id);
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(html.contains(&format!(
        r#"<b id="first-bad">{}"#,
        j["first_bad"].as_str().unwrap()
    )));
    assert!(
        md.contains(&format!(
            "first bad build: {}",
            j["first_bad"].as_str().unwrap()
        )),
        "{md}"
    );
    let store = Store::open(dir.join("s.sqlite").to_str().unwrap()).unwrap();
    for step in j["steps"].as_array().unwrap() {
        let run = step["run"].as_str().unwrap();
        let rec = store.run(run).unwrap().unwrap();
        if step["verdict"] == "skipped" {
            assert_eq!(rec.status, RunStatus::Failed);
            continue;
        }
        assert_eq!(rec.status, RunStatus::Done, "{run}");
        let link = format!("runs/{run}/index.html");
        assert!(out.join(&link).exists(), "{link}");
        assert!(html.contains(&format!(r#"href="{link}""#)), "{link} linked");
        assert!(md.contains(&format!("]({link})")), "{link} in summary.md");
    }
}

#[cfg(unix)]
#[test]
fn the_default_bisect_finds_the_nightly_that_lost_the_steep_tags_and_latency_finds_the_slow_one() {
    let dir = tempfile::tempdir().unwrap();
    let candidates = range().len() - 1;
    let bound = u64::from(max_steps(candidates)) + 2;
    let (out, j) = bisect(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let lost = first_with(loses_steep_tags);
    assert_eq!(j["first_bad"], lost.as_str(), "{}", text(&out));
    let builds: Vec<String> = range().into_iter().map(|b| b.name).collect();
    let at = builds.iter().position(|b| *b == lost).unwrap();
    assert_eq!(j["last_good"], builds[at - 1].as_str());
    assert_eq!(j["exact"], true);
    let flashes = j["flashes"].as_u64().unwrap();
    assert!(
        flashes <= bound,
        "{flashes} flashes for {candidates} candidates (bound ⌈log2 N⌉ + 2 = {bound})"
    );
    assert_eq!(j["flash_bound"], bound);
    // Every step's verdict is what its build carries: bad from the planted nightly on.
    let catalog = Catalog::builtin();
    for step in j["steps"].as_array().unwrap() {
        let b = catalog.build(step["build"].as_str().unwrap()).unwrap();
        let loses = b.sim.as_ref().unwrap().defects.iter().any(loses_steep_tags);
        let v = step["verdict"].as_str().unwrap();
        match v {
            "baseline" => assert_eq!(b.name, "5.0.0"),
            "bad" | "partial" => assert!(loses, "{step}"),
            "good" => assert!(!loses, "{step}"),
            other => panic!("{other}: {step}"),
        }
        // Steep tags lost without the slow-down: faster only because fewer tags are
        // found, which is flagged and never counted as a change of its own.
        if loses && !b.sim.as_ref().unwrap().defects.iter().any(slows_down) {
            assert_eq!(v, "partial", "{step}");
            assert!(
                step["detail"]
                    .as_str()
                    .unwrap()
                    .contains("confounded: faster because it finds fewer tags"),
                "{step}"
            );
        }
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The terminal links each step's run report too.
    for step in j["steps"].as_array().unwrap() {
        let run = step["run"].as_str().unwrap();
        assert!(
            stdout.contains(&format!("runs/{run}/index.html")),
            "{run}\n{stdout}"
        );
    }
    assert!(
        stdout.contains("--check latency_ms") && stdout.contains("regressed later"),
        "the partial first bad build points at the later regression\n{stdout}"
    );
    check_reports(dir.path(), &j);

    // Following latency alone finds the nightly that made find_apriltags slower.
    let (out, j) = bisect(dir.path(), &["--check", "latency_ms"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        j["first_bad"],
        first_with(slows_down).as_str(),
        "{}",
        text(&out)
    );
    assert_eq!(j["checks"], serde_json::json!(["latency_ms"]));
    assert!(j["flashes"].as_u64().unwrap() <= bound);
    check_reports(dir.path(), &j);
}

#[cfg(unix)]
#[test]
fn a_build_that_does_not_boot_is_skipped_and_the_answer_still_found() {
    let dir = tempfile::tempdir().unwrap();
    // Plant the boot failure on the very build the search measures first.
    let builds: Vec<String> = range().into_iter().map(|b| b.name).collect();
    let Next::Test(first) = Bisection::new(builds.len()).next() else {
        panic!("a search over the shipped range measures something")
    };
    let victim = &builds[first];
    let mut cat = visreg_firmware::catalog::BUILTIN_CATALOG.to_string();
    let at = cat.find(&format!("name = \"{victim}\"")).unwrap();
    let jitter = at + cat[at..].find("jitter = 0.02\n").unwrap() + "jitter = 0.02\n".len();
    cat.insert_str(jitter, "[[build.sim.defect]]\nkind = \"boot-fail\"\n");
    std::fs::write(dir.path().join("cat.toml"), cat).unwrap();
    let (out, j) = bisect(dir.path(), &["--catalog", "cat.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        j["first_bad"],
        first_with(loses_steep_tags).as_str(),
        "{}",
        text(&out)
    );
    let skipped: Vec<&Value> = j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["verdict"] == "skipped")
        .collect();
    assert_eq!(skipped.len(), 1, "{}", text(&out));
    assert_eq!(skipped[0]["build"], victim.as_str());
    assert!(
        skipped[0]["detail"]
            .as_str()
            .unwrap()
            .contains("did not flash or boot"),
        "{}",
        skipped[0]
    );
    // A skip costs its flash and one more step at most.
    let bound = u64::from(max_steps(builds.len() - 1)) + 2;
    assert!(j["flashes"].as_u64().unwrap() <= bound + 1, "{j}");
    let md = std::fs::read_to_string(
        dir.path()
            .join("visreg-reports")
            .join(j["id"].as_str().unwrap())
            .join("summary.md"),
    )
    .unwrap();
    assert!(
        md.contains(&format!(
            "could not be judged and skipped: {victim} (skipped)"
        )),
        "{md}"
    );
    check_reports(dir.path(), &j);
}

#[cfg(unix)]
#[test]
fn an_interrupted_bisect_keeps_its_steps_and_resume_finishes_it_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = visreg(dir.path())
        .args([
            "bisect",
            "--good",
            "5.0.0",
            "--bad",
            "5.1.0-rc3",
            "--repeat",
            "2",
        ])
        .args(QUICK)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until two builds inside the range are judged, then Ctrl-C.
    let store_path = dir.path().join("s.sqlite");
    let until = Instant::now() + Duration::from_secs(120);
    let id = loop {
        assert!(Instant::now() < until, "the bisect made no progress");
        std::thread::sleep(Duration::from_millis(100));
        let Ok(store) = Store::open(store_path.to_str().unwrap()) else {
            continue;
        };
        let Ok(runs) = store.runs() else { continue };
        let Some(id) = runs
            .iter()
            .find_map(|r| r.id.strip_suffix(".ends").map(String::from))
        else {
            continue;
        };
        let b = store.bisect(&id).unwrap().unwrap();
        let state: Value = serde_json::from_str(&b.state_json).unwrap();
        if state["steps"].as_array().unwrap().len() >= 4 {
            break id;
        }
    };
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("visreg bisect --resume {id} --store s.sqlite")),
        "{err}"
    );
    let store = Store::open(store_path.to_str().unwrap()).unwrap();
    let rec = store.bisect(&id).unwrap().unwrap();
    assert_eq!(rec.status, "interrupted");
    let kept: Value = serde_json::from_str(&rec.state_json).unwrap();
    let kept = kept["steps"].as_array().unwrap().clone();
    // The interrupted report says so.
    let html = std::fs::read_to_string(
        dir.path()
            .join("visreg-reports")
            .join(&id)
            .join("index.html"),
    )
    .unwrap();
    assert!(html.contains("interrupted after"), "interrupted report");

    // The stored plan is authoritative: a resume that names another one is refused.
    let out = visreg(dir.path())
        .args([
            "bisect", "--resume", &id, "--store", "s.sqlite", "--good", "5.0.1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("cannot be used with"), "{}", text(&out));

    let out = visreg(dir.path())
        .args([
            "bisect", "--resume", &id, "--store", "s.sqlite", "--json", "b.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let j: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("b.json")).unwrap()).unwrap();
    assert_eq!(j["first_bad"], first_with(loses_steep_tags).as_str());
    let steps = j["steps"].as_array().unwrap();
    // The steps measured before the interruption are kept as they were, none twice.
    assert_eq!(&steps[..kept.len()], &kept[..]);
    let mut names: Vec<&str> = steps.iter().map(|s| s["build"].as_str().unwrap()).collect();
    names.sort();
    names.dedup();
    assert_eq!(
        names.len(),
        steps.len(),
        "no build measured twice: {names:?}"
    );
    // Every step's run holds exactly its frames: the host's, the good build's two
    // repetitions (copied once into each step) and its own build's repetitions.
    let frames = visreg_datasets::preset::find("qqvga").unwrap().frames as u64;
    for s in steps.iter().filter(|s| s["verdict"] != "baseline") {
        let run = s["run"].as_str().unwrap();
        let n = store.frame_count(run).unwrap();
        assert_eq!(
            n,
            frames * (1 + 2 + s["repeats"].as_u64().unwrap()),
            "{run}"
        );
    }
    assert_eq!(store.bisect(&id).unwrap().unwrap().status, "done");
    check_reports(dir.path(), &j);
}

#[cfg(unix)]
#[test]
fn bad_plans_are_refused_before_a_camera_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let refuse = |args: &[&str], want: &str| {
        let out = visreg(dir.path())
            .arg("bisect")
            .args(args)
            .args(QUICK)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(want), "want {want:?}\n{}", text(&out));
    };
    refuse(
        &["--good", "5.1.0-rc3", "--bad", "5.0.0"],
        "comes after the bad build",
    );
    refuse(
        &["--good", "5.0.0", "--bad", "5.1.0-rc1"],
        "no series holds both 5.0.0 and 5.1.0-rc1",
    );
    refuse(
        &[
            "--good",
            "5.0.0",
            "--bad",
            "5.1.0-rc3",
            "--check",
            "latency",
        ],
        "no such metric",
    );
    refuse(
        &[
            "--good",
            "5.0.0",
            "--bad",
            "5.1.0-rc3",
            "--repeat",
            "4",
            "--max-repeat",
            "2",
        ],
        "--max-repeat 2 is below --repeat 4",
    );
    let out = visreg(dir.path())
        .args([
            "bisect",
            "--resume",
            "bisect-0-00000000",
            "--store",
            "s.sqlite",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no bisect bisect-0-00000000 in s.sqlite"),
        "{}",
        text(&out)
    );
    // Nothing was started, so nothing is in the store.
    let store = Store::open(dir.path().join("s.sqlite").to_str().unwrap()).unwrap();
    assert!(store.runs().unwrap().is_empty());
    // Ends that do not differ: measured, and refused with the evidence, never green.
    let first = range()[1].name.clone();
    refuse(
        &["--good", "5.0.0", "--bad", &first],
        "there is nothing to bisect",
    );
}
