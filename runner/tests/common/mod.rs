//! What the CLI tests share: the binary cargo built, run in a test's own folder.

// Each test binary uses its part.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// `visreg` in `dir`, with its runtime folder inside `dir` (tests share no camera), the
/// tests' one preset cache, and without COLUMNS, so tables take their no-terminal width
/// whatever the shell running the tests has set.
pub fn visreg(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_visreg"));
    c.current_dir(dir)
        .env("VISREG_CACHE_DIR", preset_cache())
        .env("VISREG_RUNTIME_DIR", dir.join("run"))
        .env_remove("COLUMNS");
    c
}

/// Where the tests' rendered presets are kept: `VISREG_CACHE_DIR` when set, else
/// `target/tmp/preset-cache`. One for all tests: a preset is the same pixels wherever it
/// is rendered (its folder names the seed and the generator version), a cached one is
/// validated before use, and a new one is renamed into place whole, so tests that render
/// it at once cannot see each other's half. Rendering it again in every test's folder was
/// most of the test command's work. The README's quick start keeps a cache of its own: it
/// is a first run.
pub fn preset_cache() -> std::path::PathBuf {
    std::env::var_os("VISREG_CACHE_DIR")
        .filter(|d| !d.is_empty())
        .map(Into::into)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("preset-cache"))
}

/// A finished command's exit code, stdout and stderr, to search and to show when an
/// assertion fails.
pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Whether a missing test component must fail the test rather than skip it: with
/// `require_var=1`, or in CI (where a component that cannot start is a failure).
pub fn required(require_var: &str) -> bool {
    std::env::var(require_var).as_deref() == Ok("1")
        || std::env::var("CI").is_ok_and(|c| !c.is_empty())
}

/// Whether a component a test needs is there. Without it the test fails when the
/// component is [`required`], and otherwise says what it skips and how to get it.
pub fn available(ready: bool, require_var: &str, missing: &str, get_it: &str) -> bool {
    if !ready {
        assert!(
            !required(require_var),
            "{missing}, and in CI (or with {require_var}=1) this test must run: {get_it}"
        );
        eprintln!("skipped: {missing} ({get_it})");
    }
    ready
}

/// The Python the tests use (`VISREG_PYTHON`, default `python3`).
pub fn python() -> String {
    std::env::var("VISREG_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether `py` can run `import {modules}`.
pub fn imports(py: &str, modules: &str) -> bool {
    Command::new(py)
        .args(["-c", &format!("import {modules}")])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A database of a test's own on the PostgreSQL server `VISREG_TEST_POSTGRES` names
/// (`.ci/start-postgres` starts one), dropped when the test ends. The server is shared by
/// every PostgreSQL test, and a database outlives a test run: listings of "every run"
/// would otherwise see other tests' runs, and earlier runs' of the same test.
pub struct TestDatabase {
    /// The store spec to give visreg: the server's, with this database.
    pub spec: String,
    server: String,
    name: String,
}

/// The test's own database, or None — saying so — when no server is given. In CI (or with
/// `VISREG_REQUIRE_POSTGRES=1`) a missing server fails the test instead.
pub fn test_postgres() -> Option<TestDatabase> {
    let server = std::env::var("VISREG_TEST_POSTGRES").unwrap_or_default();
    if !available(
        !server.is_empty(),
        "VISREG_REQUIRE_POSTGRES",
        "VISREG_TEST_POSTGRES is not set",
        "set it to postgres://…; .ci/start-postgres starts a server",
    ) {
        return None;
    }
    let name = format!(
        "visreg_test_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    postgres::Client::connect(&server, postgres::NoTls)
        .and_then(|mut c| c.batch_execute(&format!("CREATE DATABASE {name}")))
        .unwrap_or_else(|e| panic!("creating a database on {server}: {e}"));
    // libpq takes the last dbname given: a URL's query, a keyword string's last pair.
    let spec = if server.contains("://") {
        let sep = if server.contains('?') { '&' } else { '?' };
        format!("{server}{sep}dbname={name}")
    } else {
        format!("{server} dbname={name}")
    };
    Some(TestDatabase { spec, server, name })
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let dropped = postgres::Client::connect(&self.server, postgres::NoTls).and_then(|mut c| {
            c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
        });
        if let Err(e) = dropped {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}
