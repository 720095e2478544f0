//! The README's first impression cannot go stale: every command of the sh blocks of its
//! quick start (between `<!-- quickstart` and `<!-- /quickstart -->`) runs as written, in
//! a fresh folder with `visreg` the binary cargo built, under a deadline, with the exit
//! code its `# exit N` comment names (else 0); the sample output shown after a command is
//! compared with what the command printed — every line, run ids aside, and of each table
//! row the columns that do not vary from run to run. The set-up block's commands must be
//! the build and test commands, and `.ci/run` must run that very test command.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const README: &str = include_str!("../../README.md");
const CI_RUN: &str = include_str!("../../.ci/run");

/// How long one quick-start command may take (the default run takes seconds).
const DEADLINE: Duration = Duration::from_secs(240);

#[derive(Debug)]
enum Block {
    /// Commands, each with the exit code its comment names.
    Sh(Vec<(String, i32)>),
    /// Sample output of the command before it.
    Text(Vec<String>),
}

/// The fenced blocks after `marker` (up to `end`, or the next fenced sh block's end when
/// `end` is None).
fn blocks(marker: &str, end: Option<&str>) -> Vec<Block> {
    let start = README
        .find(marker)
        .unwrap_or_else(|| panic!("README.md has no {marker} marker"));
    let rest = &README[start..];
    let rest = match end {
        Some(e) => {
            &rest[..rest
                .find(e)
                .unwrap_or_else(|| panic!("README.md has no {e}"))]
        }
        None => rest,
    };
    let mut out = Vec::new();
    let mut lines = rest.lines();
    while let Some(l) = lines.next() {
        let fence = l.trim_end();
        if !fence.starts_with("```") {
            continue;
        }
        let body: Vec<String> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .map(String::from)
            .collect();
        match fence {
            "```sh" => out.push(Block::Sh(
                body.iter()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| command(l))
                    .collect(),
            )),
            _ => out.push(Block::Text(body)),
        }
        if end.is_none() && matches!(out.last(), Some(Block::Sh(_))) {
            break;
        }
    }
    out
}

/// A command line without its comment, and the exit code the comment names.
fn command(line: &str) -> (String, i32) {
    let (cmd, comment) = match line.find("  #") {
        Some(i) => (&line[..i], &line[i..]),
        None => (line, ""),
    };
    let code = comment
        .split("exit ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (cmd.trim().to_string(), code)
}

/// `run-1764028800-1a2b3c4d` (and any such id) written as `run-…`, as the README does.
fn without_ids(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("run-") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 4..];
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        let id_end = if digits > 0 && after[digits..].starts_with('-') {
            let hex = after[digits + 1..]
                .chars()
                .take_while(char::is_ascii_hexdigit)
                .count();
            (hex > 0).then_some(digits + 1 + hex)
        } else {
            None
        };
        match id_end {
            Some(n) => {
                out.push_str("run-…");
                rest = &after[n..];
            }
            None => {
                out.push_str("run-");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A table row's cells (`│ a ┆ b │`), trimmed; None for any other line.
fn cells(line: &str) -> Option<Vec<String>> {
    let inner = line.trim().strip_prefix('│')?.strip_suffix('│')?;
    Some(inner.split('┆').map(|c| c.trim().to_string()).collect())
}

/// Runs `cmd` with `sh -c` in `dir`, `visreg` first on the PATH, under [`DEADLINE`].
fn sh(dir: &Path, bin_dir: &Path, cmd: &str) -> (Option<i32>, String, String) {
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new("sh")
        .args(["-c", cmd])
        .current_dir(dir)
        .env("PATH", path)
        .env("VISREG_CACHE_DIR", dir.join("cache"))
        .env("VISREG_RUNTIME_DIR", dir.join("runtime"))
        .env_remove("COLUMNS")
        .env_remove("VISREG_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let o = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).map(|_| s).unwrap_or_default()
    });
    let e = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).map(|_| s).unwrap_or_default()
    });
    let until = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("README command `{cmd}` did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status.code(), o.join().unwrap(), e.join().unwrap())
}

/// The sample `want` against the real `got`: every line alike once run ids are written
/// `run-…`, except that of each table row only the first `stable` columns are compared
/// (the rest are measured numbers). A sample line `…` stands for the rest of the output.
fn compare(cmd: &str, want: &[String], got: &str, stable: usize) {
    let got: Vec<String> = without_ids(got).lines().map(String::from).collect();
    let mut g = got.iter();
    for w in want {
        if w.trim() == "…" {
            return;
        }
        let Some(line) = g.next() else {
            panic!(
                "`{cmd}` printed fewer lines than the README shows; missing: {w}\nprinted:\n{}",
                got.join("\n")
            );
        };
        match (cells(w), cells(line)) {
            (Some(a), Some(b)) => assert_eq!(
                a[..stable.min(a.len())],
                b[..stable.min(b.len())],
                "`{cmd}`: the README's row\n{w}\nis not the real one\n{line}"
            ),
            _ if w.starts_with('┌') || w.starts_with('╞') || w.starts_with('└') => {}
            _ => assert_eq!(w, line, "`{cmd}`: the README's line is not the real one"),
        }
    }
    if let Some(extra) = g.next() {
        panic!(
            "`{cmd}` printed more than the README shows, from: {extra}\nprinted:\n{}",
            got.join("\n")
        );
    }
}

#[test]
fn the_set_up_commands_are_the_build_and_the_test_ci_runs() {
    let [Block::Sh(cmds)] = &blocks("<!-- setup", None)[..] else {
        panic!("the set-up has one sh block");
    };
    let cmds_exit = cmds;
    let cmds: Vec<&str> = cmds.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        cmds,
        [
            "cargo run --release -- run",
            "cargo test --release --workspace"
        ]
    );
    assert_eq!(
        cmds_exit.iter().map(|(_, e)| *e).collect::<Vec<_>>(),
        [1, 0],
        "the set-up's main job ends with exit 1 (the planted regressions): say so"
    );
    // .ci/run runs the README's very test command (with --locked), so the tests CI runs
    // reuse the release build as a user's do.
    assert!(
        CI_RUN
            .lines()
            .any(|l| l.trim() == format!("{} --locked", cmds[1])),
        ".ci/run does not run `{} --locked`",
        cmds[1]
    );
    assert!(README.contains("cargo install --path runner"));
}

/// Each package with its feature sets (one per build kind it is compiled for), as
/// `cargo tree` resolves the workspace with the dependency `edges` given.
fn feature_sets(edges: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--locked",
            "--workspace",
            "--prefix",
            "none",
        ])
        .args(["-e", edges, "-f", "{p}|{f}"])
        .current_dir(root)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut sets = std::collections::BTreeMap::<String, Vec<String>>::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let line = line.trim_end_matches(" (*)");
        if let Some((package, features)) = line.split_once('|') {
            let set = sets.entry(package.trim().to_string()).or_default();
            if !set.iter().any(|f| f == features) {
                set.push(features.to_string());
                set.sort();
            }
        }
    }
    sets
}

#[test]
fn the_tests_reuse_every_crate_the_build_compiled() {
    // The test command's dev-dependencies must not turn on a feature of a crate the build
    // compiled: cargo would compile it, and everything built on it, a second time (with
    // serde among them, most of the workspace — minutes on 2 cores). runner/Cargo.toml
    // names those features for the build; this finds the ones a dependency change adds.
    let build = feature_sets("normal,build");
    let tests = feature_sets("normal,build,dev");
    assert!(
        build.len() > 100,
        "cargo tree listed {} packages",
        build.len()
    );
    let differ: Vec<String> = build
        .iter()
        .filter(|(p, f)| tests.get(*p) != Some(*f))
        .map(|(p, f)| format!("{p}: build {f:?}, tests {:?}", tests.get(p)))
        .collect();
    assert!(
        differ.is_empty(),
        "the tests would compile these again with other features — name the features \
         in runner/Cargo.toml's [dependencies.*-for-tests]:\n{}",
        differ.join("\n")
    );
}

#[cfg(unix)]
#[test]
fn every_quick_start_command_runs_as_written() {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_visreg"));
    let bin_dir = bin.parent().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let blocks = blocks("<!-- quickstart", Some("<!-- /quickstart -->"));
    let mut ran = 0;
    let mut last: Option<(String, String)> = None;
    for b in &blocks {
        match b {
            Block::Sh(cmds) => {
                for (cmd, code) in cmds {
                    let (got, stdout, stderr) = sh(dir.path(), bin_dir, cmd);
                    assert_eq!(
                        got,
                        Some(*code),
                        "README command `{cmd}` exited {got:?}, the README says {code}\n{stdout}\n{stderr}"
                    );
                    ran += 1;
                    last = Some((cmd.clone(), stdout));
                }
            }
            Block::Text(sample) => {
                let (cmd, stdout) = last
                    .take()
                    .expect("a sample output follows the command it shows");
                // `visreg run`'s table: build, metric, bucket and verdict do not vary; the
                // numbers do. The eval table's row label, tags found and recall do not.
                let stable = if cmd.ends_with(" run") || cmd == "visreg run" {
                    4
                } else {
                    3
                };
                let (stdout, sample) = if cmd == "visreg eval" {
                    // Its second line ends in a throughput, measured now.
                    let cut = |l: &str| l.split(" — ").next().unwrap_or(l).to_string();
                    let mut s: Vec<String> = sample.clone();
                    s[1] = cut(&s[1]);
                    let out: Vec<String> = stdout
                        .lines()
                        .enumerate()
                        .map(|(i, l)| if i == 1 { cut(l) } else { l.to_string() })
                        .collect();
                    (out.join("\n"), s)
                } else {
                    (stdout, sample.clone())
                };
                compare(&cmd, &sample, &stdout, stable);
            }
        }
    }
    assert!(ran >= 4, "the quick start runs {ran} command(s)");
    // Following the README leaves its reports where git ignores them.
    assert!(dir.path().join("visreg-reports").is_dir());
    assert!(!dir.path().join("reports").exists());
}

#[test]
fn run_ids_are_written_as_the_readme_writes_them() {
    assert_eq!(
        without_ids("run run-1796137103-eab483aa: 7 regression(s); visreg-reports/run-1796137103-eab483aa/x"),
        "run run-…: 7 regression(s); visreg-reports/run-…/x"
    );
    assert_eq!(without_ids("run-*/ run-x"), "run-*/ run-x");
    assert_eq!(
        command("visreg run   # exit 1: found"),
        ("visreg run".into(), 1)
    );
    assert_eq!(command("visreg runs"), ("visreg runs".into(), 0));
}
