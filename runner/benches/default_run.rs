//! The first impression: how long the default `visreg run` takes — the README's first
//! command, every release build of the catalog on the virtual camera, three repetitions,
//! `qvga-basic` — run as a user runs it (the release binary, in a fresh folder, the
//! dataset already rendered into the cache as after a first `visreg eval`).
//!
//! `cargo bench -p visreg --bench default_run` prints each run's wall time, the CPU time
//! it used (user + system, from the kernel's accounting of the child), the load average
//! around it (a busy machine stretches wall time, not CPU time), and the median against
//! the budget: 8 s on 2 cores. `VISREG_BENCH_RUNS=N` sets the number of runs (default 3).
//! Not a test: a figure to read, on a machine whose load it prints.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// The budget the default run is held to (issue 15), on 2 cores.
const BUDGET_S: f64 = 8.0;

/// CPU seconds (user + system) used by waited-for children so far.
#[cfg(unix)]
fn children_cpu_s() -> f64 {
    // SAFETY: getrusage fills the plain struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) } != 0 {
        return f64::NAN;
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

#[cfg(not(unix))]
fn children_cpu_s() -> f64 {
    f64::NAN
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "?".into())
}

fn visreg(dir: &Path, cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_visreg"));
    c.current_dir(dir)
        .env("VISREG_CACHE_DIR", cache)
        .env("VISREG_RUNTIME_DIR", dir.join("runtime"))
        .env_remove("VISREG_LOG");
    c
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that is not this bench's name skips it.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"default_run".contains(a.as_str()))
    {
        return;
    }
    let runs: usize = std::env::var("VISREG_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let root = tempfile::tempdir().expect("a temporary folder");
    let cache = root.path().join("cache");
    // The dataset rendered once, as a user's first `visreg eval` leaves it.
    let o = visreg(root.path(), &cache)
        .arg("eval")
        .output()
        .expect("visreg runs");
    assert!(
        o.status.success(),
        "visreg eval: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    println!(
        "default `visreg run` ({}), {} core(s):",
        env!("CARGO_BIN_EXE_visreg"),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut walls = Vec::new();
    for i in 0..runs {
        let dir = root.path().join(format!("run{i}"));
        std::fs::create_dir_all(&dir).expect("a folder");
        let (load_before, cpu0, t0) = (load_average(), children_cpu_s(), Instant::now());
        let o = visreg(&dir, &cache)
            .arg("run")
            .output()
            .expect("visreg runs");
        let wall = t0.elapsed().as_secs_f64();
        let cpu = children_cpu_s() - cpu0;
        // The default run finds the planted regressions: exit 1, anything else is a failure.
        assert_eq!(
            o.status.code(),
            Some(1),
            "visreg run: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        println!(
            "  run {}: {wall:6.2} s wall, {cpu:6.2} s CPU (user + system), load average {load_before} → {}",
            i + 1,
            load_average()
        );
        walls.push(wall);
    }
    walls.sort_by(f64::total_cmp);
    let median = walls[walls.len() / 2];
    println!(
        "median {median:.2} s (min {:.2} s, max {:.2} s) over {runs} run(s); budget {BUDGET_S} s on 2 cores: {}",
        walls[0],
        walls[walls.len() - 1],
        if median <= BUDGET_S {
            "within"
        } else {
            "OVER (on a busy machine, compare the CPU time)"
        }
    );
}
