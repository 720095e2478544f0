//! The fault matrix: every fault class `visreg sim --faults` has — corrupted and dropped
//! bytes, stalls of 1 s, 2 s and 30 s, a disconnect, a power loss mid-flash — against
//! `run`, `verify`, `doctor` and `flash`, each with the release-like binary against a
//! virtual camera on a pseudo-terminal. A transient fault (corruption, drops, a stall of
//! a second or two) must cost retries, not the command. A lasting one must end the
//! command within its deadline with exit 2 and a message that names the port and the
//! next step. A run never loses what it measured: after a failure, `--resume` on a
//! healthy camera finishes it with every frame exactly once. The table of outcomes is
//! printed (`cargo test --release -p visreg --test integration faults:: -- --nocapture`).
//! Cases run eight at a time, each with its own camera, folder and store: they mostly
//! wait.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use visreg_reports::store::Store;

use crate::common;

struct Sim(Child, String);

impl Sim {
    fn start(dir: &Path, faults: &str) -> Sim {
        let mut c = common::visreg(dir);
        c.args(["sim", "--firmware", "5.0.0", "--preset", "qqvga"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if !faults.is_empty() {
            c.args(["--faults", faults]);
        }
        let mut child = c.spawn().unwrap();
        let mut port = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        Sim(child, port.trim().to_string())
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn visreg(dir: &Path, args: &[&str]) -> (Output, Duration) {
    let t0 = Instant::now();
    let out = common::visreg(dir).args(args).output().unwrap();
    (out, t0.elapsed())
}

/// The run's plan: two builds, one repetition, the small preset.
const RUN: [&str; 9] = [
    "run",
    "--firmware",
    "5.0.0,5.0.1",
    "--preset",
    "qqvga",
    "--repeat",
    "1",
    "--store",
    "s.sqlite",
];
/// Its rows: the host's and each build's, 200 frames each.
const RUN_ROWS: u64 = 200 * 3;

/// Deadline of a command that cannot finish: its own (an 8 s call deadline, a 15 s
/// reboot wait) with room for a slow machine.
const GIVE_UP_WITHIN: Duration = Duration::from_secs(75);

/// Cases run at once. Most of a case is waiting — on a stall, a deadline, a reboot — so
/// more run than there are cores; each has its own camera, folder and store, and they
/// share the tests' preset cache, filled before the first case.
const CONCURRENT_CASES: usize = 8;

/// What one fault × command case showed: its table lines and what failed.
struct Outcome {
    lines: Vec<String>,
    failures: Vec<String>,
}

/// Runs `command` against a camera with `fault`; a lasting fault (`!transient`) may end
/// the command, if it ends it well.
fn case(fault: &str, transient: bool, command: &str) -> Outcome {
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let sim = Sim::start(dir, fault);
    let port = sim.1.clone();
    let args: Vec<&str> = match command {
        "run" => RUN.iter().copied().chain(["--camera", &port]).collect(),
        "verify" => vec!["verify", "--port", &port],
        "doctor" => vec!["doctor", "--port", &port],
        _ => vec!["flash", "5.0.1", "--port", &port],
    };
    let (out, took) = visreg(dir, &args);
    drop(sim);
    let code = out.status.code();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let rows = if command == "run" {
        let store = Store::open(dir.join("s.sqlite").to_str().unwrap()).unwrap();
        let run = store.runs().unwrap().pop().map(|r| r.id);
        run.map(|id| store.frame_count(&id).unwrap())
    } else {
        None
    };
    let completed = match command {
        // A run completes with every row, and a verdict (0 or 1).
        "run" => matches!(code, Some(0 | 1)) && rows == Some(RUN_ROWS),
        // verify PASSes and doctor finds the camera healthy.
        "verify" | "doctor" => code == Some(0),
        _ => code == Some(0) && stdout.contains("(verified)"),
    };
    let text = format!("{stdout}{stderr}");
    let gave_up_well = matches!(code, Some(1 | 2))
        && took < GIVE_UP_WITHIN
        && text.contains(&port)
        && [
            "visreg doctor",
            "visreg recover",
            "--resume",
            "power-cycle",
            "reconnect",
        ]
        .iter()
        .any(|n| text.contains(n));
    let message = text
        .lines()
        .rev()
        .find(|l| l.contains("error") || l.contains(&port))
        .unwrap_or("")
        .chars()
        .take(110)
        .collect::<String>();
    lines.push(format!(
        "{:<26} {:<7} {:>4} {:>6.1}s {:>5}  {}",
        if fault.is_empty() { "none" } else { fault },
        command,
        code.map_or("-".into(), |c| c.to_string()),
        took.as_secs_f64(),
        rows.map_or("".into(), |r| r.to_string()),
        if completed {
            "completed".to_string()
        } else {
            message
        }
    ));
    if !(completed || (!transient && gave_up_well)) {
        failures.push(format!(
            "{fault} × {command}: exit {code:?} after {took:?}, rows {rows:?}\n{text}"
        ));
        return Outcome { lines, failures };
    }
    // A run that gave up kept what it measured: resumed on a healthy camera it finishes
    // with every frame exactly once.
    if command == "run" && !completed {
        let store = Store::open(dir.join("s.sqlite").to_str().unwrap()).unwrap();
        let id = store.runs().unwrap().pop().unwrap().id;
        let kept = store.frame_count(&id).unwrap();
        let healthy = Sim::start(dir, "");
        let mut resume: Vec<&str> = RUN.to_vec();
        resume.extend(["--camera", &healthy.1, "--resume", &id]);
        let (out, _) = visreg(dir, &resume);
        let total = store.frame_count(&id).unwrap();
        if !matches!(out.status.code(), Some(0 | 1)) || total != RUN_ROWS {
            failures.push(format!(
                "{fault} × run: resumed from {kept} rows to {total} (exit {:?})\n{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        lines.push(format!(
            "{:<26} {:<7} resumed from {kept} rows to {total}",
            "", ""
        ));
    }
    Outcome { lines, failures }
}

#[test]
fn every_fault_class_against_every_command() {
    let faults: [(&str, bool); 8] = [
        ("", true),
        ("corrupt=0.000002,seed=7", true),
        ("drop=0.000002,seed=7", true),
        // 200 ms after the command's first byte: inside every command's work.
        ("stall=1s@200ms", true),
        ("stall=2s@200ms", true),
        ("stall=30s@200ms", false),
        // Once the camera has sent 4 KB: during every command's first exchanges.
        ("disconnect@4KB", false),
        ("power-loss@5", false),
    ];
    let cases: Vec<(&str, bool, &str)> = faults
        .iter()
        .flat_map(|&(fault, transient)| {
            ["run", "verify", "doctor", "flash"].map(|command| (fault, transient, command))
        })
        .collect();
    // The presets the cases use — qqvga (the camera's, the run's) and qvga-basic (verify's
    // and doctor's pose check) — rendered once, so the cases measure faults, not rendering.
    let shared = tempfile::tempdir().unwrap();
    for preset in ["qqvga", "qvga-basic"] {
        let (out, _) = visreg(shared.path(), &["eval", "--preset", preset]);
        assert!(out.status.success(), "{}", common::text(&out));
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let outcomes: Vec<std::sync::Mutex<Option<Outcome>>> =
        cases.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..CONCURRENT_CASES {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&(fault, transient, command)) = cases.get(i) else {
                    break;
                };
                *outcomes[i].lock().unwrap() = Some(case(fault, transient, command));
            });
        }
    });
    let mut table = vec![format!(
        "{:<26} {:<7} {:>4} {:>7} {:>5}  {}",
        "fault", "command", "exit", "time", "rows", "message"
    )];
    let mut failures = Vec::new();
    for o in outcomes {
        let o = o.into_inner().unwrap().expect("every case ran");
        table.extend(o.lines);
        failures.extend(o.failures);
    }
    eprintln!("{}", table.join("\n"));
    assert!(
        failures.is_empty(),
        "{}\n\n{}",
        table.join("\n"),
        failures.join("\n\n")
    );
}
