//! Labs end to end: two lab processes (two "hosts", named by VISREG_HOST_NAME), each with
//! three virtual cameras of which one vanishes mid-run and stays dead, write at once to
//! one store — SQLite, then PostgreSQL when CI provides one (VISREG_TEST_POSTGRES; without
//! it that half says it skipped). The dead cameras are power-cycled once, quarantined and
//! reported as an infrastructure failure (exit 2); every other measurement is stored
//! exactly once; `visreg lab status` and `visreg report --history` see both hosts.

use std::path::Path;

use serde_json::Value;

use crate::common;
use common::visreg;

const FRAMES: u64 = 60;

/// Runs visreg in `dir` and expects it to succeed.
fn run_ok(dir: &Path, args: &[&str]) {
    let o = visreg(dir).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Starts `visreg sim ARGS` in `dir`: the process and the port it serves on.
#[cfg(unix)]
fn spawn_sim(dir: &Path, args: &[&str]) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = visreg(dir)
        .arg("sim")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut port = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    (child, port.trim().to_string())
}

fn lab_file(host: &str) -> String {
    format!(
        "name = \"lab-{host}\"\n\
         [[camera]]\nname = \"{host}-1\"\nboard = \"H7Plus\"\nsim = true\n\
         [[camera]]\nname = \"{host}-2\"\nboard = \"H7 Plus\"\nsim = true\n\
         [[camera]]\nname = \"{host}-dies\"\nboard = \"H7Plus\"\nsim = true\nsim_faults = \"disconnect@40KB\"\nsim_dies = true\n"
    )
}

fn two_hosts_on(dir: &Path, store: &str) {
    let hosts = ["host-a", "host-b"];
    let children: Vec<_> = hosts
        .iter()
        .map(|h| {
            std::fs::write(dir.join(format!("{h}.toml")), lab_file(h)).unwrap();
            let child = visreg(dir)
                .env("VISREG_HOST_NAME", h)
                .args([
                    "run",
                    "--lab",
                    &format!("{h}.toml"),
                    "--builds",
                    "5.0.0,5.1.0-rc1",
                    "--dataset",
                    "ds",
                    "--repeat",
                    "1",
                    "--store",
                    store,
                    "--out",
                    &format!("out-{h}"),
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (*h, child)
        })
        .collect();
    // Both labs run at once, against one store.
    for (h, child) in children {
        let o = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(2),
            "a quarantined camera is an infrastructure failure (exit 2)\n{stdout}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            stdout.contains("infrastructure failure: 1 camera(s) quarantined"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let lab: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("out-{h}/lab.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(lab["host"], h);
        assert_eq!(lab["exit_code"], 2);
        for cam in lab["cameras"].as_array().unwrap() {
            let name = cam["camera"].as_str().unwrap();
            let want = if name.ends_with("-dies") {
                "quarantined"
            } else {
                "done"
            };
            assert_eq!(cam["outcome"], want, "{cam}");
        }
        // The healthy cameras found the slow build on both hosts.
        assert!(dir.join(format!("out-{h}/{h}-1/index.html")).is_file());
        let summary = std::fs::read_to_string(dir.join(format!("out-{h}/summary.md"))).unwrap();
        assert!(summary.starts_with("## visreg lab"), "{summary}");
        let index = std::fs::read_to_string(dir.join(format!("out-{h}/index.html"))).unwrap();
        assert!(
            index.contains(&format!(r#"<a href="{h}-1/index.html">"#)),
            "{index}"
        );
        assert!(index.contains(r#"data-outcome="quarantined""#));
    }

    let spec = if store.starts_with("postgres") {
        store.to_string()
    } else {
        dir.join(store).display().to_string()
    };
    let s = visreg_reports::store::Store::open(&spec).unwrap();
    let runs: Vec<_> = s
        .runs()
        .unwrap()
        .into_iter()
        .filter(|r| r.camera.starts_with("host-"))
        .collect();
    let mine: Vec<_> = runs
        .iter()
        .filter(|r| {
            hosts
                .iter()
                .any(|h| r.host_json.contains(&format!("\"hostname\":\"{h}\"")))
        })
        .collect();
    assert_eq!(mine.len(), 6, "one run per camera per host");
    for r in &mine {
        let n = s.frame_count(&r.id).unwrap();
        if r.camera.ends_with("-dies") {
            assert_eq!(r.status, visreg_reports::store::RunStatus::Quarantined);
            assert!(
                (FRAMES..3 * FRAMES).contains(&n),
                "what the dead camera measured before it died is kept ({n})"
            );
        } else {
            assert_eq!(r.status, visreg_reports::store::RunStatus::Done, "{}", r.id);
            assert_eq!(
                n,
                FRAMES + 2 * FRAMES,
                "every measurement exactly once in {}",
                r.id
            );
        }
    }
    let events = s.camera_events(None).unwrap();
    for h in hosts {
        let states: Vec<&str> = events
            .iter()
            .filter(|e| e.camera == format!("{h}-dies"))
            .map(|e| e.state.as_str())
            .collect();
        assert!(
            states.ends_with(&["error", "power-cycled", "quarantined"]),
            "power-cycled once, then quarantined: {states:?}"
        );
        assert!(events.iter().any(|e| e.host == h));
    }

    let o = visreg(dir)
        .args(["lab", "status", "--store", store])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a quarantined camera makes status exit 1\n{status}"
    );
    for h in hosts {
        assert!(
            status.contains(&format!("{h}-dies")) && status.contains(h),
            "{status}"
        );
    }

    let o = visreg(dir)
        .args([
            "report",
            "--history",
            "--dataset",
            "ds",
            "--store",
            store,
            "--out",
            "hist",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = std::fs::read_to_string(dir.join("hist/history.html")).unwrap();
    assert!(
        page.contains(r#"data-hosts="2""#),
        "both hosts in one history"
    );
    for h in hosts {
        assert!(page.contains(&format!(r#"data-host="{h}""#)));
    }
    assert!(page.contains(r#"data-chart="history-latency_ms""#));
    // Each camera is its own series, and the quarantined cameras' partial data is left
    // out of the trends (and said to be).
    assert!(
        page.contains(r#"data-left-out="2""#),
        "two quarantined runs left out"
    );
    for h in hosts {
        for cam in ["1", "2"] {
            assert!(
                page.contains(&format!(r#" · {h} / {h}-{cam}" data-build="#)),
                "a series per host and camera: {h}-{cam}"
            );
        }
        assert!(
            !page.contains(&format!(r#" / {h}-dies""#)),
            "no series of the quarantined camera"
        );
    }
    for chart in [
        "history-latency_ms_p90",
        "history-pose_coverage",
        "history-rot_err_deg",
    ] {
        assert!(
            page.contains(&format!(r#"data-chart="{chart}""#)),
            "{chart}"
        );
    }
}

#[cfg(unix)]
#[test]
fn two_lab_hosts_share_one_store_and_quarantine_their_dead_camera() {
    let dir = tempfile::tempdir().unwrap();
    run_ok(
        dir.path(),
        &[
            "dataset", "generate", "--preset", "qqvga", "--seed", "99", "--frames", "60", "--out",
            "ds",
        ],
    );
    two_hosts_on(dir.path(), "lab.sqlite");
    if let Some(db) = common::test_postgres() {
        let pg = tempfile::tempdir().unwrap();
        std::fs::rename(dir.path().join("ds"), pg.path().join("ds")).unwrap();
        two_hosts_on(pg.path(), &db.spec);
    }
}

#[cfg(unix)]
#[test]
fn the_health_check_names_the_firmware_and_refuses_the_wrong_board() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use visreg_firmware::board::Board;

    let unit = visreg_sim::unit::VirtualUnit::new(
        visreg_firmware::catalog::Catalog::builtin(),
        "5.0.0",
        None,
        visreg_sim::bootloader::DfuTiming::instant(),
        1,
    )
    .unwrap();
    let mut pty = visreg_firmware::transport::PtyDevice::open().unwrap();
    let port = pty.path().display().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let h = std::thread::spawn(move || {
        let _ = unit.serve(&mut pty, &Default::default(), &s);
    });
    let ok =
        visreg::check::health_check(&port, Duration::from_secs(5), Some(Board::H7Plus)).unwrap();
    assert!(ok.contains("firmware 5.0.0 (protocol v2)"), "{ok}");
    let e = visreg::check::health_check(&port, Duration::from_secs(5), Some(Board::H7))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not the H7"), "{e}");
    stop.store(true, Ordering::Relaxed);
    h.join().unwrap();
    // A port nobody answers on (held open, so its number is not reused by another
    // test's pty): a deadline, not a hang.
    let silent = visreg_firmware::transport::PtyDevice::open().unwrap();
    let silent_port = silent.path().display().to_string();
    let t = std::time::Instant::now();
    let e = visreg::check::health_check(&silent_port, Duration::from_millis(800), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("did not answer"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5));
}

/// A camera named by its USB serial, with a power-cycle command: it vanishes mid-run, the
/// command brings it back (a new port, the same serial — as a real camera re-enumerates),
/// and the worker finds it again by serial and finishes its run without losing or
/// doubling a measurement.
#[cfg(unix)]
#[test]
fn a_camera_by_serial_comes_back_after_its_power_cycle_command() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_ok(
        d,
        &[
            "dataset", "generate", "--preset", "qqvga", "--seed", "98", "--frames", "60", "--out",
            "ds",
        ],
    );
    let sim_args = ["--firmware", "5.0.0", "--dataset", "ds", "--run-seed", "7"];
    let faulty: Vec<&str> = sim_args
        .iter()
        .copied()
        .chain(["--faults", "disconnect@40KB"])
        .collect();
    let (mut first, port) = spawn_sim(d, &faulty);
    let devices: Value = serde_json::from_slice(
        &visreg(d)
            .args(["devices", "--json", "--no-probe"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let serial = devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["port"] == port.as_str())
        .and_then(|x| x["serial"].as_str())
        .expect("the virtual camera is listed with its serial")
        .to_string();
    // The power switch: start the camera again (same serial) and wait until it is listed.
    let exe = env!("CARGO_BIN_EXE_visreg");
    let cycle = format!(
        "{exe} sim {} > sim2.log 2>&1 & echo $! > sim2.pid; for i in $(seq 50); do grep -q /dev/ sim2.log && exit 0; sleep 0.1; done; exit 1",
        sim_args.join(" ")
    );
    std::fs::write(
        d.join("lab.toml"),
        format!(
            "[[camera]]\nname = \"bench-cam\"\nboard = \"H7Plus\"\nserial = \"{serial}\"\npower_cycle = '''{cycle}'''\n"
        ),
    )
    .unwrap();
    let o = visreg(d)
        .args([
            "run",
            "--lab",
            "lab.toml",
            "--builds",
            "5.0.0,5.1.0-rc1",
            "--dataset",
            "ds",
            "--repeat",
            "1",
            "--store",
            "s.sqlite",
            "--out",
            "out",
        ])
        .output()
        .unwrap();
    let _ = first.kill();
    let _ = first.wait();
    if let Ok(pid) = std::fs::read_to_string(d.join("sim2.pid")) {
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    }
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(1),
        "back after the power cycle, the run finishes and finds rc1's regression\n{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = visreg_reports::store::Store::open(&d.join("s.sqlite").display().to_string()).unwrap();
    let states: Vec<String> = s
        .camera_events(None)
        .unwrap()
        .into_iter()
        .map(|e| e.state)
        .collect();
    let i = states
        .iter()
        .position(|x| x == "power-cycled")
        .expect("power-cycled");
    assert_eq!(states[i - 1], "error", "{states:?}");
    assert_eq!(states[i + 1], "healthy", "{states:?}");
    assert_eq!(
        states.last().map(String::as_str),
        Some("done"),
        "{states:?}"
    );
    let run = &s.runs().unwrap()[0];
    assert_eq!(run.status, visreg_reports::store::RunStatus::Done);
    assert_eq!(
        s.frame_count(&run.id).unwrap(),
        FRAMES + 2 * FRAMES,
        "nothing lost, nothing twice"
    );
}

/// Live mode on rigs: a virtual camera whose sensor shows its fixture, and a camera on a
/// port (a `visreg sim` showing the same rig with other sensor noise, so its captures
/// are not the lab's rendered frames — as with a real sensor). Both are scored against
/// the fixture's truth; the host reference runs on the port camera's own captures; the
/// steep rig (40°) shows rc3's lost tags on both.
#[cfg(unix)]
#[test]
fn live_mode_scores_each_camera_against_its_fixture() {
    use visreg_bench::scoring::{aggregate, FrameScore};

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fixture = "fixture = { family = \"tag36h11\", ids = [0, 1, 2, 3], size_mm = 50.0, distance_m = 0.5, yaw_deg = 40.0 }";
    let lab = |port: &str| {
        format!(
            "[[camera]]\nname = \"rig-sim\"\nboard = \"H7Plus\"\nsim = true\n{fixture}\n\
             [[camera]]\nname = \"rig-port\"\nboard = \"H7Plus\"\nport = \"{port}\"\n{fixture}\n"
        )
    };
    std::fs::write(d.join("lab.toml"), lab("/dev/null")).unwrap();
    run_ok(
        d,
        &[
            "dataset", "fixture", "--lab", "lab.toml", "--camera", "rig-port", "--seed", "5",
            "--out", "rig",
        ],
    );
    let (mut sim, port) = spawn_sim(d, &["--firmware", "5.0.0", "--dataset", "rig"]);
    std::fs::write(d.join("lab.toml"), lab(&port)).unwrap();
    let o = visreg(d)
        .args([
            "run",
            "--lab",
            "lab.toml",
            "--mode",
            "live",
            "--builds",
            "5.0.0,5.1.0-rc3",
            "--repeat",
            "1",
            "--store",
            "s.sqlite",
            "--out",
            "out",
        ])
        .output()
        .unwrap();
    let _ = sim.kill();
    let _ = sim.wait();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = visreg_reports::store::Store::open(&d.join("s.sqlite").display().to_string()).unwrap();
    for run in s.runs().unwrap() {
        assert_eq!(
            run.status,
            visreg_reports::store::RunStatus::Done,
            "{}",
            run.id
        );
        assert_eq!(run.dataset_name, format!("fixture-{}", run.camera));
        let n = visreg::lab::FIXTURE_FRAMES as u64;
        assert_eq!(
            s.frame_count(&run.id).unwrap(),
            3 * n,
            "host + two builds, each frame once"
        );
        let scores = |build: &str| -> Vec<FrameScore> {
            s.frames(&run.id, Some(build))
                .unwrap()
                .iter()
                .map(|f| serde_json::from_str(&f.score_json).unwrap())
                .collect()
        };
        let host = aggregate(&scores("host"));
        assert_eq!(
            host.recall,
            Some(1.0),
            "the host finds the rig in {}",
            run.camera
        );
        assert!(host.trans_err_pct_median.unwrap() < 1.0, "{host:?}");
        let base = aggregate(&scores("5.0.0"));
        assert!(base.recall.unwrap() > 0.95, "{} {base:?}", run.camera);
        assert!(
            base.trans_err_pct_median.unwrap() < 5.0,
            "{} {base:?}",
            run.camera
        );
        let rc3 = aggregate(&scores("5.1.0-rc3"));
        assert!(
            rc3.recall.unwrap() < 0.5,
            "rc3 loses the steep rig: {rc3:?}"
        );
    }
    // The port camera's host rows were detected on its own captures, which are not the
    // lab's render of the rig: its host corners differ from the virtual camera's.
    let runs = s.runs().unwrap();
    let host_json = |cam: &str| {
        let r = runs.iter().find(|r| r.camera == cam).unwrap();
        s.frames(&r.id, Some("host")).unwrap()[0]
            .detections_json
            .clone()
    };
    assert_ne!(host_json("rig-sim"), host_json("rig-port"));
}
