//! The official OpenMV client (PyPI `openmv` 1.0.7, used as a library) against
//! `visreg sim` over a pseudo-terminal: connect, run a script, read its stdout, read a
//! frame. Needs a Python with `openmv` and `pillow` (VISREG_PYTHON, default python3);
//! without one the test says so and passes, unless VISREG_REQUIRE_OPENMV=1 (CI sets it).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python() -> Option<String> {
    let py = crate::common::python();
    crate::common::available(
        crate::common::imports(&py, "openmv, PIL"),
        "VISREG_REQUIRE_OPENMV",
        &format!("{py} cannot import the official client, so this test"),
        "pip install openmv==1.0.7 pillow, or set VISREG_PYTHON",
    )
    .then_some(py)
}

#[cfg(unix)]
#[test]
fn official_openmv_client_talks_to_visreg_sim() {
    let Some(py) = python() else { return };
    let cache = tempfile::tempdir().unwrap();
    let mut sim = Killed(
        Command::new(env!("CARGO_BIN_EXE_visreg"))
            .args(["sim", "--firmware", "5.0.1"])
            .env("VISREG_CACHE_DIR", cache.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = sim.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let port = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("visreg sim printed its port")
        .trim()
        .to_string();
    assert!(port.starts_with("/dev/"), "{port}");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let t0 = Instant::now();
    let out = Command::new(&py)
        .arg(format!("{root}/runner/tests/python/openmv_client_check.py"))
        .arg(&port)
        .arg(format!("{root}/firmware/scripts/live.py"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the official client failed:\n{stdout}\n{stderr}"
    );
    assert!(t0.elapsed() < Duration::from_secs(60));
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["firmware"], "5.0.1");
    assert_eq!(report["usb"], "37C5:124A");
    assert_eq!(report["stdout"], "hello from the official client");
    assert_eq!(report["frame"]["width"], 320);
    assert_eq!(report["frame"]["height"], 240);
    assert_eq!(
        report["frame"]["format"], "0x06060000",
        "JPEG by default, as the camera streams"
    );
    assert!(report["channels"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "stdout"));
    let live = &report["live_result"];
    assert!(
        live["tags"]
            .as_array()
            .map(|t| !t.is_empty())
            .unwrap_or(false),
        "{report}"
    );
}
