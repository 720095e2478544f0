//! The results store: every measurement of every run, written as it is measured so that a
//! run that dies loses nothing already measured, with unique keys so that a resumed run
//! never writes a frame twice. One [`Backend`] trait with an implementation per database —
//! SQLite (one file, WAL journal: `sqlite.rs`) and PostgreSQL (`postgres.rs`, for labs
//! where several hosts write at once; its connection spec as libpq reads it: `pg_spec.rs`,
//! its TLS: `tls.rs`) — each query written once per dialect; [`Store`] delegates and
//! owns what is the same for both (naming, the staleness of a run). The schema is
//! versioned and migrated forward on open.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod pg_spec;
mod postgres;
mod sqlite;
mod tls;

pub use pg_spec::{SpecError, SyntaxError};

/// Errors of the store, naming the store (a PostgreSQL spec's secrets masked).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("results store {store}: {cause}")]
    Sqlite {
        /// Which store.
        store: String,
        /// Why (in the message, so not also an error source: a chain would say it twice).
        cause: rusqlite::Error,
    },
    /// PostgreSQL failed.
    #[error("results store {store}: {}", pg_detail(.cause))]
    Postgres {
        /// Which store.
        store: String,
        /// Why (in the message, with its causes).
        cause: ::postgres::Error,
    },
    /// The PostgreSQL spec, its environment, its password file or its TLS set-up is wrong.
    #[error("results store {store}: {cause}")]
    Spec {
        /// Which store.
        store: String,
        /// What is wrong, and what to give instead.
        cause: SpecError,
    },
    /// `sslmode=verify-full` and the server's certificate does not name the host.
    #[error("results store {store}: the server's certificate is not valid for host {host:?} (sslmode=verify-full checks the name): connect by a name the certificate lists, or use sslmode=verify-ca to check only who signed it")]
    TlsHostName {
        /// Which store.
        store: String,
        /// The host name visreg checked the certificate against.
        host: String,
    },
    /// The store was written by a newer visreg.
    #[error("results store {store} has schema version {found}; this visreg knows up to {known}: upgrade visreg")]
    TooNew {
        /// Which store.
        store: String,
        /// Its version.
        found: i64,
        /// Ours.
        known: i64,
    },
    /// SQLite's integrity check found damage (a disk or copy gone wrong).
    #[error("results store {store} is damaged (SQLite's quick_check: {detail}): restore it from a backup, or start a new store with --store other.sqlite")]
    Damaged {
        /// Which store.
        store: String,
        /// What the check reported (its first findings).
        detail: String,
    },
    /// The store could only be opened for reading, and something tried to write.
    #[error("results store {store} is read-only (visreg may not write it here, so it opened it for reading): write to a store you may write (--store other.sqlite), or make this one writable")]
    ReadOnly {
        /// Which store.
        store: String,
    },
    /// A read-only store older than this visreg: reading it needs a migration, which
    /// needs writing.
    #[error("results store {store} is read-only and has schema version {found}; this visreg needs {known}: open it once where it may be written (visreg migrates it), or copy it somewhere writable")]
    ReadOnlyNeedsMigration {
        /// Which store.
        store: String,
        /// Its version.
        found: i64,
        /// Ours.
        known: i64,
    },
    /// A run's stored status is not one this visreg knows.
    #[error("results store {store}: run {run} has status {found:?}, which this visreg does not know: upgrade visreg")]
    UnknownStatus {
        /// Which store.
        store: String,
        /// The run.
        run: String,
        /// The stored text.
        found: String,
    },
}

/// A PostgreSQL error in full: the server's own message (`postgres::Error` alone says only
/// "db error"), or every cause (a TLS refusal says why only two causes down).
fn pg_detail(e: &::postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.to_string();
    }
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        out.push_str(&format!(": {c}"));
        cause = c.source();
    }
    out
}

/// Schema migrations, in order; index + 1 is the version they bring the store to.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: runs and per-frame results.
    "CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        started_unix_s REAL NOT NULL,
        finished_unix_s REAL,
        status TEXT NOT NULL,
        host_json TEXT NOT NULL,
        dataset_name TEXT NOT NULL,
        dataset_hash TEXT NOT NULL,
        camera TEXT NOT NULL,
        baseline TEXT NOT NULL,
        builds_json TEXT NOT NULL,
        detector_json TEXT NOT NULL
    );
    CREATE TABLE frame_results (
        run_id TEXT NOT NULL REFERENCES runs(id),
        build TEXT NOT NULL,
        board TEXT NOT NULL,
        camera_serial TEXT NOT NULL,
        repeat INTEGER NOT NULL,
        frame INTEGER NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('camera', 'host')),
        latency_ms REAL,
        detections_json TEXT NOT NULL,
        score_json TEXT NOT NULL,
        recorded_unix_s REAL NOT NULL,
        UNIQUE (run_id, build, repeat, frame, source)
    );
    CREATE INDEX frame_results_run_build ON frame_results (run_id, build);",
    // 2: what lab workers report of their cameras (append-only: no row is ever updated,
    // so hosts writing at once cannot race).
    "CREATE TABLE camera_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        lab_run TEXT NOT NULL,
        host TEXT NOT NULL,
        camera TEXT NOT NULL,
        board TEXT NOT NULL,
        run_id TEXT,
        state TEXT NOT NULL,
        detail TEXT NOT NULL,
        recorded_unix_s REAL NOT NULL
    );
    CREATE INDEX camera_events_camera ON camera_events (camera, recorded_unix_s);",
    // 3: how a run measured — `replay` (one unit per frame and tag, whatever the
    // repetitions) or `live` (one per capture) — so a report re-judges it with its units.
    "ALTER TABLE runs ADD COLUMN mode TEXT NOT NULL DEFAULT 'replay';",
    // 4: bisects — the plan and the path taken so far (the measurements are runs).
    "CREATE TABLE bisects (
        id TEXT PRIMARY KEY,
        started_unix_s REAL NOT NULL,
        finished_unix_s REAL,
        status TEXT NOT NULL,
        plan_json TEXT NOT NULL,
        state_json TEXT NOT NULL
    );",
    // 5: a running run's sign of life (so one killed without a word stops reading
    // `running`), and the repetitions it planned (so a resume does exactly the rest).
    "ALTER TABLE runs ADD COLUMN heartbeat_unix_s REAL;
    ALTER TABLE runs ADD COLUMN repeats INTEGER;",
    // 6: which process holds which camera (a reservation, renewed with the heartbeat).
    "CREATE TABLE reservations (
        camera TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        host TEXT NOT NULL,
        pid BIGINT NOT NULL,
        since_unix_s REAL NOT NULL,
        heartbeat_unix_s REAL NOT NULL
    );",
    // 7: a finished run's verdict in two numbers (failing checks, checks judged), so
    // `visreg runs` lists many runs without judging each again.
    "ALTER TABLE runs ADD COLUMN verdict_regressions INTEGER;
    ALTER TABLE runs ADD COLUMN verdict_checks INTEGER;",
];

/// The same schema for PostgreSQL (its own types), one entry per SQLite migration.
pub(crate) const PG_MIGRATIONS: &[&str] = &[
    "CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        started_unix_s DOUBLE PRECISION NOT NULL,
        finished_unix_s DOUBLE PRECISION,
        status TEXT NOT NULL,
        host_json TEXT NOT NULL,
        dataset_name TEXT NOT NULL,
        dataset_hash TEXT NOT NULL,
        camera TEXT NOT NULL,
        baseline TEXT NOT NULL,
        builds_json TEXT NOT NULL,
        detector_json TEXT NOT NULL
    );
    CREATE TABLE frame_results (
        run_id TEXT NOT NULL REFERENCES runs(id),
        build TEXT NOT NULL,
        board TEXT NOT NULL,
        camera_serial TEXT NOT NULL,
        repeat BIGINT NOT NULL,
        frame BIGINT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('camera', 'host')),
        latency_ms DOUBLE PRECISION,
        detections_json TEXT NOT NULL,
        score_json TEXT NOT NULL,
        recorded_unix_s DOUBLE PRECISION NOT NULL,
        UNIQUE (run_id, build, repeat, frame, source)
    );
    CREATE INDEX frame_results_run_build ON frame_results (run_id, build);",
    "CREATE TABLE camera_events (
        id BIGSERIAL PRIMARY KEY,
        lab_run TEXT NOT NULL,
        host TEXT NOT NULL,
        camera TEXT NOT NULL,
        board TEXT NOT NULL,
        run_id TEXT,
        state TEXT NOT NULL,
        detail TEXT NOT NULL,
        recorded_unix_s DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX camera_events_camera ON camera_events (camera, recorded_unix_s);",
    "ALTER TABLE runs ADD COLUMN mode TEXT NOT NULL DEFAULT 'replay';",
    "CREATE TABLE bisects (
        id TEXT PRIMARY KEY,
        started_unix_s DOUBLE PRECISION NOT NULL,
        finished_unix_s DOUBLE PRECISION,
        status TEXT NOT NULL,
        plan_json TEXT NOT NULL,
        state_json TEXT NOT NULL
    );",
    "ALTER TABLE runs ADD COLUMN heartbeat_unix_s DOUBLE PRECISION;
    ALTER TABLE runs ADD COLUMN repeats BIGINT;",
    "CREATE TABLE reservations (
        camera TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        host TEXT NOT NULL,
        pid BIGINT NOT NULL,
        since_unix_s DOUBLE PRECISION NOT NULL,
        heartbeat_unix_s DOUBLE PRECISION NOT NULL
    );",
    "ALTER TABLE runs ADD COLUMN verdict_regressions BIGINT;
    ALTER TABLE runs ADD COLUMN verdict_checks BIGINT;",
];

// One entry per version in each dialect, always.
const _: () = assert!(MIGRATIONS.len() == PG_MIGRATIONS.len());

/// How a run stands. Stored as its lower-case word (`running`, `done`, …), as visreg
/// always has, so stores written before this type read unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Measuring (or, when its heartbeat is stale, read as [`RunStatus::Interrupted`]).
    Running,
    /// Finished: every planned measurement was made.
    Done,
    /// Stopped before the end (Ctrl-C, or killed without a word); `--resume` finishes it.
    Interrupted,
    /// Ended by an error.
    Failed,
    /// A lab camera that failed again after a power cycle: set aside, its measurements kept.
    Quarantined,
}

impl RunStatus {
    /// Every status, in the order a run may pass through them.
    pub const ALL: [RunStatus; 5] = [
        RunStatus::Running,
        RunStatus::Done,
        RunStatus::Interrupted,
        RunStatus::Failed,
        RunStatus::Quarantined,
    ];

    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Done => "done",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Failed => "failed",
            RunStatus::Quarantined => "quarantined",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that names no [`RunStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a run status (running, done, interrupted, failed, quarantined)")]
pub struct UnknownRunStatus(pub String);

impl FromStr for RunStatus {
    type Err = UnknownRunStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRunStatus(s.to_string()))
    }
}

/// How long a `running` run may go unheard of before it reads as interrupted. A run
/// stamps a heartbeat about every 10 s and every frame it stores is a sign of life too,
/// so 120 s is a dozen missed beats: longer than any quiet stretch of a live run (a flash
/// through a ROM bootloader, a camera's power cycle with its 60 s deadline), short enough
/// that a run killed without a word (SIGKILL, a host losing power) reads interrupted —
/// and resumable — within two minutes instead of `running` forever. Times are the
/// writing hosts' clocks, so lab hosts must agree to well within this (NTP does).
pub const STALE_AFTER: Duration = Duration::from_secs(120);

/// A run as a backend read it, with the newest time one of its frames was recorded.
pub(crate) struct StoredRun {
    pub(crate) record: RunRecord,
    pub(crate) last_frame_unix_s: Option<f64>,
}

/// A run's verdict in two numbers, kept with the run once it is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunVerdict {
    /// Checks that make the run fail (primary, regressed, not confounded).
    pub regressions: u64,
    /// Checks judged in all.
    pub checks: u64,
}

/// A run as `visreg runs` lists it: its record and what its stored frames say.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunOverview {
    /// The run (a stale `running` one reads interrupted).
    pub record: RunRecord,
    /// The boards its camera frames name, sorted (empty before its first frame).
    pub boards: Vec<String>,
    /// Camera frame results stored.
    pub camera_frames: u64,
    /// Its verdict, once judged (None for a run not finished, or finished by a visreg
    /// that did not keep verdicts yet).
    pub verdict: Option<RunVerdict>,
}

/// [`RunOverview`] as a backend read it.
pub(crate) struct StoredOverview {
    pub(crate) run: StoredRun,
    /// Distinct boards, comma-separated, as the database aggregated them.
    pub(crate) boards: Option<String>,
    pub(crate) camera_frames: i64,
    pub(crate) regressions: Option<i64>,
    pub(crate) checks: Option<i64>,
}

/// What a stored status means at `now`: a `running` run whose last sign of life —
/// heartbeat, newest frame, or its start when it has neither — is older than
/// [`STALE_AFTER`] was stopped without being able to say so.
fn observed_status(r: &StoredRun, now_unix_s: f64) -> RunStatus {
    let rec = &r.record;
    if rec.status != RunStatus::Running {
        return rec.status;
    }
    let alive = [rec.heartbeat_unix_s, r.last_frame_unix_s]
        .into_iter()
        .flatten()
        .fold(rec.started_unix_s, f64::max);
    if now_unix_s - alive > STALE_AFTER.as_secs_f64() {
        RunStatus::Interrupted
    } else {
        RunStatus::Running
    }
}

/// One database's queries, written once in its dialect. Write methods of a store
/// opened read-only fail with [`StoreError::ReadOnly`].
pub(crate) trait Backend: Send {
    fn version(&self) -> Result<i64, StoreError>;
    fn create_run(&self, r: &RunRecord) -> Result<(), StoreError>;
    /// The run `id`, or every run (oldest first) when `id` is None.
    fn runs(&self, id: Option<&str>) -> Result<Vec<StoredRun>, StoreError>;
    fn finish_run(&self, id: &str, status: RunStatus, at_unix_s: f64) -> Result<(), StoreError>;
    /// Runs newest first (at most `limit`), each with what its frames say of it.
    fn run_overviews(&self, limit: Option<u64>) -> Result<Vec<StoredOverview>, StoreError>;
    fn record_verdict(&self, id: &str, v: RunVerdict) -> Result<(), StoreError>;
    fn heartbeat(&self, id: &str, at_unix_s: f64) -> Result<(), StoreError>;
    fn record_frame(&self, f: &FrameRecord) -> Result<bool, StoreError>;
    fn frames(&self, run_id: &str, build: Option<&str>) -> Result<Vec<FrameRecord>, StoreError>;
    fn frame_count(&self, run_id: &str) -> Result<u64, StoreError>;
    fn copy_frames(&self, from: &str, to: &str, build: &str) -> Result<u64, StoreError>;
    fn create_bisect(&self, b: &BisectRecord) -> Result<(), StoreError>;
    fn update_bisect(
        &self,
        id: &str,
        status: &str,
        state_json: &str,
        finished_unix_s: Option<f64>,
    ) -> Result<(), StoreError>;
    fn bisect(&self, id: &str) -> Result<Option<BisectRecord>, StoreError>;
    fn record_camera_event(&self, e: &CameraEvent) -> Result<(), StoreError>;
    fn camera_events(&self, lab_run: Option<&str>) -> Result<Vec<CameraEvent>, StoreError>;
    /// Takes `camera` for `me` unless someone else holds it (then: who), atomically.
    fn reserve(
        &self,
        camera: &str,
        me: &Holder,
        at_unix_s: f64,
    ) -> Result<Option<Holder>, StoreError>;
    /// Renews every reservation `me` holds.
    fn renew_reservations(&self, me: &Holder, at_unix_s: f64) -> Result<(), StoreError>;
    /// Gives `camera` back.
    fn release(&self, camera: &str, me: &Holder) -> Result<(), StoreError>;
}

/// Who holds a camera: a visreg process on a host.
#[derive(Clone, Debug, PartialEq)]
pub struct Holder {
    /// `host pid N` (with the run when one is named).
    pub holder: String,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// Since when, seconds since the Unix epoch.
    pub since_unix_s: f64,
    /// Its last renewal.
    pub heartbeat_unix_s: f64,
}

impl Holder {
    /// This process, holding for `what` (a run id, a lab run).
    pub fn me(what: &str) -> Holder {
        let host = crate::HostInfo::current().hostname;
        let pid = std::process::id();
        let now = now_unix_s();
        Holder {
            holder: format!("{what} on {host} (pid {pid})"),
            host,
            pid,
            since_unix_s: now,
            heartbeat_unix_s: now,
        }
    }

    /// Whether this reservation still stands at `now`: its process is alive (asked
    /// directly on its own host) and, from another host, it was renewed within
    /// [`STALE_AFTER`]. A holder that died without a word frees its camera.
    pub(crate) fn stands(&self, me: &Holder, now_unix_s: f64) -> bool {
        if self.host == me.host && self.pid == me.pid {
            return false;
        }
        if self.host == me.host && cfg!(target_os = "linux") {
            return std::path::Path::new(&format!("/proc/{}", self.pid)).exists();
        }
        now_unix_s - self.heartbeat_unix_s < STALE_AFTER.as_secs_f64()
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = (now_unix_s() - self.since_unix_s).max(0.0);
        write!(f, "{}, for {:.0} s", self.holder, held)
    }
}

/// A camera held by this process until dropped (or until the process ends: a dead
/// holder's reservation no longer stands).
pub struct Reservation<'a> {
    store: &'a Store,
    camera: String,
    me: Holder,
}

impl Reservation<'_> {
    /// The camera held.
    pub fn camera(&self) -> &str {
        &self.camera
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.store.backend.release(&self.camera, &self.me) {
            tracing::warn!("releasing camera {}: {e}", self.camera);
        }
    }
}

/// What asking for a camera gave.
pub enum Reserved<'a> {
    /// It is ours until dropped.
    Got(Reservation<'a>),
    /// Another process has it.
    Held(Holder),
}

/// Reads a stored status word; one the enum does not know names its run.
pub(crate) fn parse_status(store: &str, run: &str, text: &str) -> Result<RunStatus, StoreError> {
    text.parse().map_err(|_| StoreError::UnknownStatus {
        store: store.to_string(),
        run: run.to_string(),
        found: text.to_string(),
    })
}

/// A bisect as stored: what it looks for (plan) and how far it got (state); each build
/// it measured is a run of its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BisectRecord {
    /// Bisect id.
    pub id: String,
    /// Start, seconds since the Unix epoch.
    pub started_unix_s: f64,
    /// End, when finished.
    pub finished_unix_s: Option<f64>,
    /// `running`, `done`, `interrupted`, `failed`.
    pub status: String,
    /// The plan (JSON, written once).
    pub plan_json: String,
    /// The path taken so far (JSON, rewritten after every step).
    pub state_json: String,
}

/// What a lab worker reported of its camera, at one moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CameraEvent {
    /// The lab run (one `visreg run --lab` on one host).
    pub lab_run: String,
    /// The host the worker ran on.
    pub host: String,
    /// The camera's name in `lab.toml`.
    pub camera: String,
    /// Its board.
    pub board: String,
    /// The camera's run in the store, when it has one.
    pub run_id: Option<String>,
    /// `healthy`, `measuring`, `error`, `power-cycled`, `quarantined`, `done`, …
    pub state: String,
    /// In plain words: a version, a verdict, an error.
    pub detail: String,
    /// When, seconds since the Unix epoch.
    pub recorded_unix_s: f64,
}

/// A run as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Run id.
    pub id: String,
    /// Start, seconds since the Unix epoch.
    pub started_unix_s: f64,
    /// End, when finished.
    pub finished_unix_s: Option<f64>,
    /// How it stands: as stored, except that a `running` run nobody has heard of for
    /// [`STALE_AFTER`] reads [`RunStatus::Interrupted`].
    pub status: RunStatus,
    /// The host (JSON).
    pub host_json: String,
    /// Dataset name.
    pub dataset_name: String,
    /// Dataset content hash.
    pub dataset_hash: String,
    /// Camera (port, serial or `sim`).
    pub camera: String,
    /// Baseline build.
    pub baseline: String,
    /// Builds in the run (JSON list).
    pub builds_json: String,
    /// Host detector settings (JSON).
    pub detector_json: String,
    /// `replay` or `live`: what the units of evidence are.
    pub mode: String,
    /// Repetitions planned (None for runs stored before visreg recorded them).
    pub repeats: Option<u32>,
    /// The runner's last sign of life, seconds since the Unix epoch ([`Store::heartbeat`]).
    pub heartbeat_unix_s: Option<f64>,
}

/// One frame's result from one source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameRecord {
    /// Run id.
    pub run_id: String,
    /// Build.
    pub build: String,
    /// Board.
    pub board: String,
    /// Camera serial number.
    pub camera_serial: String,
    /// Repetition.
    pub repeat: u32,
    /// Frame index in the dataset.
    pub frame: u32,
    /// `camera` or `host`.
    pub source: String,
    /// Latency (on-device for the camera, host detection for the host), ms.
    pub latency_ms: Option<f64>,
    /// Detections in dataset conventions (JSON).
    pub detections_json: String,
    /// The frame's score (JSON).
    pub score_json: String,
    /// When recorded, seconds since the Unix epoch.
    pub recorded_unix_s: f64,
}

/// A results store: an SQLite file, or a PostgreSQL database for labs where several hosts
/// write at once (each write is one statement under a unique key, so concurrent writers
/// never collide or duplicate).
pub struct Store {
    backend: Box<dyn Backend>,
    name: String,
}

/// Seconds since the Unix epoch, now.
pub fn now_unix_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The process environment, as libpq reads it (PG* variables, HOME).
pub(crate) fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

impl Store {
    /// Opens `spec`. PostgreSQL when it starts with `postgres://` or `postgresql://`, or is
    /// a libpq keyword/value string (`host=db user=ci dbname=visreg`: every word
    /// `keyword=value` with a libpq keyword); anything else is an SQLite file path
    /// (created if needed). See [`Store::open_postgres`] for what PostgreSQL honours.
    pub fn open(spec: &str) -> Result<Self, StoreError> {
        Self::open_with_env(spec, &process_env)
    }

    pub(crate) fn open_with_env(
        spec: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, StoreError> {
        if pg_spec::is_postgres(spec) {
            Self::open_postgres_with_env(spec, env)
        } else {
            Self::open_sqlite(std::path::Path::new(spec))
        }
    }

    /// Opens (creating if needed) an SQLite store, checks it (`PRAGMA quick_check`) and
    /// migrates it forward. A store visreg may not write is opened read-only when it needs
    /// no migration: reads work, writes fail with [`StoreError::ReadOnly`].
    pub fn open_sqlite(path: &std::path::Path) -> Result<Self, StoreError> {
        Self::from_sqlite(sqlite::Sqlite::open(path, sqlite::Access::ReadWrite)?)
    }

    fn from_sqlite(s: sqlite::Sqlite) -> Result<Self, StoreError> {
        Ok(Store {
            name: s.name().to_string(),
            backend: Box::new(s),
        })
    }

    /// Connects to a PostgreSQL store and migrates it forward (under an advisory lock, so
    /// hosts starting at once migrate it once). `spec` is a URL or a keyword/value string
    /// as libpq takes them; what it leaves out comes from the PG* environment (`PGHOST`,
    /// `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`, `PGSSLROOTCERT`,
    /// `PGPASSFILE`), then the password file (`~/.pgpass`). TLS follows `sslmode`
    /// (`disable`, `prefer` — the default —, `require`, `verify-ca`, `verify-full`) and
    /// `sslrootcert`. Passwords never appear in [`Store::name`] or any error.
    pub fn open_postgres(spec: &str) -> Result<Self, StoreError> {
        Self::open_postgres_with_env(spec, &process_env)
    }

    fn open_postgres_with_env(
        spec: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, StoreError> {
        let pg = postgres::Postgres::open(spec, env)?;
        Ok(Store {
            name: pg.name().to_string(),
            backend: Box::new(pg),
        })
    }

    /// The store's name for messages (a PostgreSQL spec's passwords masked).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schema version.
    pub fn version(&self) -> Result<i64, StoreError> {
        self.backend.version()
    }

    /// Records a new run (its planned repetitions and first heartbeat with it).
    pub fn create_run(&self, r: &RunRecord) -> Result<(), StoreError> {
        self.backend.create_run(r)
    }

    /// The run `id`, if stored (a stale `running` one reads interrupted: [`STALE_AFTER`]).
    pub fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        Ok(self.observed(self.backend.runs(Some(id))?).pop())
    }

    /// Every run, oldest first (stale `running` ones read interrupted).
    pub fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        Ok(self.observed(self.backend.runs(None)?))
    }

    fn observed(&self, runs: Vec<StoredRun>) -> Vec<RunRecord> {
        let now = now_unix_s();
        runs.into_iter()
            .map(|r| RunRecord {
                status: observed_status(&r, now),
                ..r.record
            })
            .collect()
    }

    /// Runs newest first, at most `limit` of them, each with its boards, camera frame
    /// count and kept verdict (stale `running` ones read interrupted).
    pub fn run_overviews(&self, limit: Option<u64>) -> Result<Vec<RunOverview>, StoreError> {
        let now = now_unix_s();
        Ok(self
            .backend
            .run_overviews(limit)?
            .into_iter()
            .map(|o| {
                let mut boards: Vec<String> = o
                    .boards
                    .unwrap_or_default()
                    .split(',')
                    .filter(|b| !b.is_empty())
                    .map(String::from)
                    .collect();
                boards.sort();
                boards.dedup();
                RunOverview {
                    record: RunRecord {
                        status: observed_status(&o.run, now),
                        ..o.run.record
                    },
                    boards,
                    camera_frames: o.camera_frames.max(0) as u64,
                    verdict: match (o.regressions, o.checks) {
                        (Some(r), Some(c)) => Some(RunVerdict {
                            regressions: r.max(0) as u64,
                            checks: c.max(0) as u64,
                        }),
                        _ => None,
                    },
                }
            })
            .collect())
    }

    /// Keeps run `id`'s verdict with it (judging is deterministic: the same frames give
    /// the same verdict, so it is written again unchanged when re-judged).
    pub fn record_verdict(&self, id: &str, v: RunVerdict) -> Result<(), StoreError> {
        self.backend.record_verdict(id, v)
    }

    /// Marks a run finished with `status`.
    pub fn finish_run(&self, id: &str, status: RunStatus) -> Result<(), StoreError> {
        self.backend.finish_run(id, status, now_unix_s())
    }

    /// Stamps run `id`'s heartbeat now: the runner's sign of life (about every 10 s). The
    /// cameras this process holds are renewed with it.
    pub fn heartbeat(&self, id: &str) -> Result<(), StoreError> {
        let now = now_unix_s();
        self.backend.heartbeat(id, now)?;
        self.backend.renew_reservations(&Holder::me(""), now)
    }

    /// Takes `camera` (a key such as `serial:0123…` or `port:host:/dev/ttyACM0`) for this
    /// process, for `what`, unless another process anywhere sharing the store holds it —
    /// then says who. What labgrid calls acquiring a place.
    pub fn reserve(&self, camera: &str, what: &str) -> Result<Reserved<'_>, StoreError> {
        let me = Holder::me(what);
        Ok(match self.backend.reserve(camera, &me, now_unix_s())? {
            None => Reserved::Got(Reservation {
                store: self,
                camera: camera.to_string(),
                me,
            }),
            Some(other) => Reserved::Held(other),
        })
    }

    /// Records one frame's result; returns false when it was already there (a resumed run
    /// re-measuring it), which is not an error and writes nothing.
    pub fn record_frame(&self, f: &FrameRecord) -> Result<bool, StoreError> {
        self.backend.record_frame(f)
    }

    /// Every frame result of `run_id` (and `build`, when given), in a stable order.
    pub fn frames(
        &self,
        run_id: &str,
        build: Option<&str>,
    ) -> Result<Vec<FrameRecord>, StoreError> {
        self.backend.frames(run_id, build)
    }

    /// How many frame results `run_id` holds.
    pub fn frame_count(&self, run_id: &str) -> Result<u64, StoreError> {
        self.backend.frame_count(run_id)
    }

    /// Copies the frame results of `from` — the host's and those of `build` — into run
    /// `to` (which must exist), skipping any already there: a bisect step reuses the
    /// baseline it measured once. Returns the rows written.
    pub fn copy_frames(&self, from: &str, to: &str, build: &str) -> Result<u64, StoreError> {
        self.backend.copy_frames(from, to, build)
    }

    /// Records a new bisect.
    pub fn create_bisect(&self, b: &BisectRecord) -> Result<(), StoreError> {
        self.backend.create_bisect(b)
    }

    /// Saves a bisect's path so far and its status (`finished` stamps its end).
    pub fn update_bisect(
        &self,
        id: &str,
        status: &str,
        state_json: &str,
        finished: bool,
    ) -> Result<(), StoreError> {
        self.backend
            .update_bisect(id, status, state_json, finished.then(now_unix_s))
    }

    /// The bisect `id`, if stored.
    pub fn bisect(&self, id: &str) -> Result<Option<BisectRecord>, StoreError> {
        self.backend.bisect(id)
    }

    /// Appends a camera event.
    pub fn record_camera_event(&self, e: &CameraEvent) -> Result<(), StoreError> {
        self.backend.record_camera_event(e)
    }

    /// Camera events, oldest first: of one lab run, or all.
    pub fn camera_events(&self, lab_run: Option<&str>) -> Result<Vec<CameraEvent>, StoreError> {
        self.backend.camera_events(lab_run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::tests_support::{frame, run};

    #[test]
    fn camera_events_append_and_filter_by_lab_run() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sqlite(&dir.path().join("e.sqlite")).unwrap();
        let ev = |lab: &str, state: &str, t: f64| CameraEvent {
            lab_run: lab.into(),
            host: "bench-1".into(),
            camera: "cam-a".into(),
            board: "H7 Plus".into(),
            run_id: None,
            state: state.into(),
            detail: String::new(),
            recorded_unix_s: t,
        };
        s.record_camera_event(&ev("lab-1", "healthy", 1.0)).unwrap();
        s.record_camera_event(&ev("lab-2", "quarantined", 3.0))
            .unwrap();
        s.record_camera_event(&ev("lab-1", "done", 2.0)).unwrap();
        let all = s.camera_events(None).unwrap();
        assert_eq!(
            all.iter().map(|e| e.state.as_str()).collect::<Vec<_>>(),
            ["healthy", "done", "quarantined"],
            "oldest first"
        );
        assert_eq!(s.camera_events(Some("lab-2")).unwrap().len(), 1);
    }

    #[test]
    fn runs_and_frames_survive_reopening_and_duplicates_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.sqlite");
        {
            let s = Store::open_sqlite(&path).unwrap();
            assert_eq!(s.version().unwrap(), MIGRATIONS.len() as i64);
            s.create_run(&run("r1")).unwrap();
            s.create_run(&RunRecord {
                mode: "live".into(),
                ..run("r2")
            })
            .unwrap();
            assert!(s.record_frame(&frame("r1", 0, 0, "camera")).unwrap());
            assert!(s.record_frame(&frame("r1", 0, 0, "host")).unwrap());
            assert!(
                !s.record_frame(&frame("r1", 0, 0, "camera")).unwrap(),
                "a duplicate writes nothing"
            );
        }
        let s = Store::open_sqlite(&path).unwrap();
        assert_eq!(s.frame_count("r1").unwrap(), 2);
        let f = s.frames("r1", Some("5.0.0")).unwrap();
        assert_eq!(f[0], frame("r1", 0, 0, "camera"));
        s.finish_run("r1", RunStatus::Done).unwrap();
        let r = s.run("r1").unwrap().unwrap();
        assert_eq!(r.status, RunStatus::Done);
        assert!(r.finished_unix_s.is_some());
        // The mode survives, so a report re-judges a live run with live units.
        assert_eq!(
            (r.mode.as_str(), s.run("r2").unwrap().unwrap().mode.as_str()),
            ("replay", "live")
        );
        assert!(s.run("nope").unwrap().is_none());
    }

    #[test]
    fn a_bisect_keeps_its_plan_and_path_and_a_step_reuses_its_baseline_rows() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sqlite(&dir.path().join("s.sqlite")).unwrap();
        let b = BisectRecord {
            id: "bisect-1".into(),
            started_unix_s: 1.0,
            finished_unix_s: None,
            status: "running".into(),
            plan_json: "{}".into(),
            state_json: "{\"steps\":[]}".into(),
        };
        s.create_bisect(&b).unwrap();
        s.update_bisect("bisect-1", "done", "{\"steps\":[1]}", true)
            .unwrap();
        let got = s.bisect("bisect-1").unwrap().unwrap();
        assert_eq!(
            (got.status.as_str(), got.state_json.as_str()),
            ("done", "{\"steps\":[1]}")
        );
        assert!(got.finished_unix_s.is_some());
        assert!(s.bisect("bisect-2").unwrap().is_none());
        s.create_run(&run("a")).unwrap();
        s.create_run(&run("b")).unwrap();
        for f in [frame("a", 0, 0, "camera"), frame("a", 0, 0, "host")] {
            s.record_frame(&f).unwrap();
        }
        let mut other = frame("a", 0, 1, "camera");
        other.build = "other".into();
        s.record_frame(&other).unwrap();
        let build = frame("a", 0, 0, "camera").build;
        assert_eq!(
            s.copy_frames("a", "b", &build).unwrap(),
            2,
            "the build's row and the host's"
        );
        assert_eq!(s.copy_frames("a", "b", &build).unwrap(), 0, "nothing twice");
        let copied = s.frames("b", None).unwrap();
        assert_eq!(copied.len(), 2);
        assert!(copied.iter().all(|f| f.run_id == "b" && f.build != "other"));
    }

    #[test]
    fn a_store_from_a_newer_visreg_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.sqlite");
        drop(Store::open_sqlite(&path).unwrap());
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute("INSERT INTO schema_version (version) VALUES (99)", [])
            .unwrap();
        drop(c);
        let e = Store::open_sqlite(&path).err().unwrap().to_string();
        assert!(
            e.contains("schema version 99") && e.contains("upgrade visreg"),
            "{e}"
        );
    }

    #[test]
    fn a_frame_of_an_unknown_run_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sqlite(&dir.path().join("r.sqlite")).unwrap();
        assert!(s.record_frame(&frame("ghost", 0, 0, "camera")).is_err());
    }

    #[test]
    fn run_statuses_are_their_stored_words() {
        for s in RunStatus::ALL {
            assert_eq!(s.to_string().parse::<RunStatus>(), Ok(s));
        }
        assert_eq!(RunStatus::Interrupted.to_string(), "interrupted");
        assert_eq!(
            "Done".parse::<RunStatus>().unwrap_err().to_string(),
            "\"Done\" is not a run status (running, done, interrupted, failed, quarantined)"
        );
        assert_eq!(
            serde_json::to_string(&RunStatus::Quarantined).unwrap(),
            "\"quarantined\""
        );
    }

    /// A version-4 store, as visreg wrote it before heartbeats.
    fn v4_store(path: &std::path::Path) {
        let c = rusqlite::Connection::open(path).unwrap();
        c.execute_batch("CREATE TABLE schema_version (version INTEGER PRIMARY KEY)")
            .unwrap();
        for (i, sql) in MIGRATIONS[..4].iter().enumerate() {
            c.execute_batch(sql).unwrap();
            c.execute("INSERT INTO schema_version VALUES (?1)", [i as i64 + 1])
                .unwrap();
        }
        c.execute_batch(
            "INSERT INTO runs (id, started_unix_s, finished_unix_s, status, host_json, dataset_name, dataset_hash, camera, baseline, builds_json, detector_json)
             VALUES ('old', 1.0, 2.0, 'interrupted', '{}', 'd', 'h', 'sim', '5.0.0', '[]', '{}')",
        )
        .unwrap();
    }

    #[test]
    fn an_old_store_migrates_and_its_statuses_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        v4_store(&path);
        let s = Store::open_sqlite(&path).unwrap();
        assert_eq!(s.version().unwrap(), MIGRATIONS.len() as i64);
        let r = s.run("old").unwrap().unwrap();
        assert_eq!(
            (r.status, r.repeats, r.heartbeat_unix_s),
            (RunStatus::Interrupted, None, None)
        );
        // A word no visreg wrote is refused by run, not read as something else.
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute("UPDATE runs SET status = 'paused'", [])
            .unwrap();
        let e = s.runs().unwrap_err().to_string();
        assert!(
            e.contains("run old has status \"paused\"") && e.contains("upgrade visreg"),
            "{e}"
        );
    }

    #[test]
    fn observed_status_follows_the_last_sign_of_life() {
        let stale = STALE_AFTER.as_secs_f64();
        let at = |status, heartbeat, last_frame| StoredRun {
            record: RunRecord {
                status,
                heartbeat_unix_s: heartbeat,
                started_unix_s: 1000.0,
                ..run("r")
            },
            last_frame_unix_s: last_frame,
        };
        let now = 1000.0 + stale + 10.0;
        use RunStatus::*;
        assert_eq!(
            observed_status(&at(Running, None, None), 1000.0 + stale - 1.0),
            Running
        );
        assert_eq!(observed_status(&at(Running, None, None), now), Interrupted);
        assert_eq!(
            observed_status(&at(Running, Some(now - 5.0), None), now),
            Running
        );
        assert_eq!(
            observed_status(&at(Running, None, Some(now - 5.0)), now),
            Running
        );
        assert_eq!(
            observed_status(&at(Running, Some(1001.0), Some(1002.0)), now),
            Interrupted
        );
        assert_eq!(observed_status(&at(Done, None, None), now), Done);
        assert_eq!(observed_status(&at(Failed, None, None), now), Failed);
    }

    /// The heartbeat contract, for any backend.
    pub(super) fn heartbeat_marks_a_silent_run_interrupted(s: &Store, id: &str) {
        let long_ago = now_unix_s() - STALE_AFTER.as_secs_f64() - 60.0;
        s.create_run(&RunRecord {
            started_unix_s: long_ago,
            repeats: Some(7),
            ..run(id)
        })
        .unwrap();
        let r = s.run(id).unwrap().unwrap();
        assert_eq!(
            (r.status, r.repeats, r.heartbeat_unix_s),
            (RunStatus::Interrupted, Some(7), None),
            "started long ago and never heard of since: killed without a word"
        );
        s.heartbeat(id).unwrap();
        let r = s.run(id).unwrap().unwrap();
        assert_eq!(r.status, RunStatus::Running);
        assert!(r.heartbeat_unix_s.unwrap() > long_ago + 60.0);
        assert_eq!(
            s.runs()
                .unwrap()
                .iter()
                .find(|x| x.id == id)
                .unwrap()
                .status,
            RunStatus::Running
        );
        // A fresh run with a heartbeat given at creation reads running; one whose heartbeat
        // stopped long ago reads interrupted in runs() too.
        let quiet = format!("{id}-quiet");
        s.create_run(&RunRecord {
            started_unix_s: long_ago,
            heartbeat_unix_s: Some(long_ago + 1.0),
            ..run(&quiet)
        })
        .unwrap();
        let all = s.runs().unwrap();
        let q = all.iter().find(|x| x.id == quiet).unwrap();
        assert_eq!(
            (q.status, q.heartbeat_unix_s),
            (RunStatus::Interrupted, Some(long_ago + 1.0))
        );
        s.finish_run(&quiet, RunStatus::Done).unwrap();
        assert_eq!(s.run(&quiet).unwrap().unwrap().status, RunStatus::Done);
    }

    #[test]
    fn a_camera_is_held_by_one_process_until_it_gives_it_back_or_dies() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sqlite(&dir.path().join("r.sqlite")).unwrap();
        let now = now_unix_s();
        let other = |host: &str, pid: u32, heartbeat: f64| Holder {
            holder: format!("run-x on {host} (pid {pid})"),
            host: host.into(),
            pid,
            since_unix_s: heartbeat,
            heartbeat_unix_s: heartbeat,
        };
        let me = Holder::me("test");
        // A live process on this host (pid 1 always is) holds it: refused, and who is said.
        let init = other(&me.host, 1, now - 1000.0);
        assert_eq!(s.backend.reserve("cam", &init, now - 1000.0).unwrap(), None);
        match s.reserve("cam", "run-y").unwrap() {
            Reserved::Held(h) => assert!(h.to_string().starts_with("run-x on "), "{h}"),
            Reserved::Got(_) => panic!("a live holder's camera was taken"),
        }
        // A holder on this host whose process is gone: the camera is free again.
        let dead = other(&me.host, u32::MAX - 7, now);
        s.backend.release("cam", &init).unwrap();
        assert_eq!(s.backend.reserve("cam", &dead, now).unwrap(), None);
        let got = match s.reserve("cam", "run-y").unwrap() {
            Reserved::Got(r) => r,
            Reserved::Held(h) => panic!("a dead holder keeps the camera: {h}"),
        };
        assert_eq!(got.camera(), "cam");
        drop(got);
        // Another host's holder stands while it renews, and not once it stops.
        let far = other("elsewhere", 42, now);
        assert_eq!(s.backend.reserve("cam2", &far, now).unwrap(), None);
        assert!(matches!(
            s.reserve("cam2", "run-y").unwrap(),
            Reserved::Held(_)
        ));
        let stale = now - STALE_AFTER.as_secs_f64() - 1.0;
        s.backend.renew_reservations(&far, stale).unwrap();
        assert!(matches!(
            s.reserve("cam2", "run-y").unwrap(),
            Reserved::Got(_)
        ));
    }

    /// `visreg runs`'s query on `s`: newest first, limited, boards and camera frames
    /// counted from the frames, a kept verdict read back. Its runs start in the future
    /// (later each time), so a shared database's other runs come after them.
    pub(super) fn run_overviews_list_newest_first(s: &Store, prefix: &str) {
        let t0 = 5.0e9 + now_unix_s();
        let ids: Vec<String> = (0..3).map(|i| format!("{prefix}-{i}")).collect();
        for (i, id) in ids.iter().enumerate() {
            let mut r = run(id);
            r.started_unix_s = t0 + i as f64;
            s.create_run(&r).unwrap();
        }
        // Run 1: two boards' camera frames and a host frame (not counted).
        for (i, board) in [(0, "H7 Plus"), (1, "H7"), (2, "H7 Plus")] {
            let mut f = frame(&ids[1], 0, i, "camera");
            f.board = board.into();
            f.build = format!("b{i}");
            s.record_frame(&f).unwrap();
        }
        let mut h = frame(&ids[1], 0, 0, "host");
        h.board = "host".into();
        h.build = "host".into();
        s.record_frame(&h).unwrap();
        s.finish_run(&ids[1], RunStatus::Done).unwrap();
        let v = RunVerdict {
            regressions: 4,
            checks: 31,
        };
        s.record_verdict(&ids[1], v).unwrap();
        s.finish_run(&ids[0], RunStatus::Failed).unwrap();
        let all = s.run_overviews(Some(3)).unwrap();
        let got: Vec<&str> = all.iter().map(|o| o.record.id.as_str()).collect();
        assert_eq!(got, [&ids[2], &ids[1], &ids[0]], "newest first");
        assert_eq!(all[1].boards, ["H7", "H7 Plus"]);
        assert_eq!(all[1].camera_frames, 3);
        assert_eq!(all[1].verdict, Some(v));
        assert_eq!(all[1].record.status, RunStatus::Done);
        assert_eq!(all[0].boards, Vec::<String>::new());
        assert_eq!(all[0].camera_frames, 0);
        assert_eq!(all[0].verdict, None);
        assert_eq!(all[2].record.status, RunStatus::Failed);
        assert_eq!(s.run_overviews(Some(1)).unwrap().len(), 1);
        assert!(s.run_overviews(None).unwrap().len() >= 3);
    }

    #[test]
    fn sqlite_run_overviews_list_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sqlite(&dir.path().join("o.sqlite")).unwrap();
        run_overviews_list_newest_first(&s, "o");
    }

    #[test]
    fn sqlite_heartbeat_marks_a_silent_run_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sqlite(&dir.path().join("h.sqlite")).unwrap();
        heartbeat_marks_a_silent_run_interrupted(&s, "hb");
    }

    #[test]
    fn a_damaged_file_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.sqlite");
        {
            let s = Store::open_sqlite(&path).unwrap();
            s.create_run(&run("r1")).unwrap();
            for i in 0..400 {
                s.record_frame(&frame("r1", 0, i, "camera")).unwrap();
            }
        }
        assert!(Store::open_sqlite(&path).is_ok(), "intact before");
        // Scribble over the b-tree page headers past the schema page (the first page holds
        // the file header, whose damage SQLite reports differently and also refuses).
        let mut bytes = std::fs::read(&path).unwrap();
        let page = 4096;
        assert!(bytes.len() >= 6 * page, "{} bytes", bytes.len());
        for p in 2..bytes.len() / page {
            for b in &mut bytes[p * page..p * page + 12] {
                *b ^= 0x5a;
            }
        }
        std::fs::write(&path, bytes).unwrap();
        let e = Store::open(path.to_str().unwrap()).err().unwrap();
        assert!(matches!(e, StoreError::Damaged { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains(&path.display().to_string())
                && msg.contains("is damaged")
                && msg.contains("restore it from a backup")
                && msg.contains("--store other.sqlite"),
            "{msg}"
        );
        // Not a database at all: refused the same way.
        let junk = dir.path().join("junk.sqlite");
        std::fs::write(&junk, vec![0x17u8; 8192]).unwrap();
        let msg = Store::open_sqlite(&junk).err().unwrap().to_string();
        assert!(
            msg.contains("is damaged") && msg.contains("junk.sqlite"),
            "{msg}"
        );
    }

    fn open_read_only(path: &std::path::Path) -> Result<Store, StoreError> {
        Store::from_sqlite(sqlite::Sqlite::open(path, sqlite::Access::ReadOnly)?)
    }

    #[test]
    fn a_read_only_store_serves_reads_and_names_itself_on_a_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro.sqlite");
        {
            let s = Store::open_sqlite(&path).unwrap();
            s.create_run(&run("r1")).unwrap();
            s.record_frame(&frame("r1", 0, 0, "camera")).unwrap();
        }
        let s = open_read_only(&path).unwrap();
        assert_eq!(s.frames("r1", None).unwrap().len(), 1);
        assert_eq!(s.runs().unwrap().len(), 1);
        assert!(s.camera_events(None).unwrap().is_empty());
        for e in [
            s.record_frame(&frame("r1", 0, 1, "camera")).err(),
            s.finish_run("r1", RunStatus::Done).err(),
            s.heartbeat("r1").err(),
            s.create_run(&run("r2")).err(),
        ] {
            let msg = e.expect("a write to a read-only store fails").to_string();
            assert!(
                msg.contains(&format!("results store {} is read-only", path.display()))
                    && msg.contains("--store other.sqlite"),
                "{msg}"
            );
        }
        // One that would need a migration cannot be read without writing.
        let old = dir.path().join("old.sqlite");
        v4_store(&old);
        let msg = open_read_only(&old).err().unwrap().to_string();
        assert!(
            msg.contains(&format!(
                "is read-only and has schema version 4; this visreg needs {}",
                MIGRATIONS.len()
            )),
            "{msg}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_store_visreg_may_not_write_is_opened_read_only() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("ro");
        std::fs::create_dir(&sub).unwrap();
        let path = sub.join("results.sqlite");
        Store::open_sqlite(&path)
            .unwrap()
            .create_run(&run("r1"))
            .unwrap();
        if std::fs::metadata(&path).unwrap().uid() == 0 {
            // Root writes whatever the modes say: the read-only path is tested by
            // a_read_only_store_serves_reads_and_names_itself_on_a_write instead.
            eprintln!("skipped: running as root, which file modes do not stop");
            return;
        }
        let mode = |p: &std::path::Path, m| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
        };
        mode(&path, 0o444);
        mode(&sub, 0o555);
        let s = Store::open(path.to_str().unwrap());
        mode(&sub, 0o755);
        let s = s.unwrap();
        assert_eq!(s.run("r1").unwrap().unwrap().id, "r1");
        assert!(s
            .heartbeat("r1")
            .unwrap_err()
            .to_string()
            .contains("is read-only"));
    }
}

#[cfg(test)]
mod postgres_tests {
    use super::*;

    /// A test server's spec from `var` (`.ci/run` starts one with `.ci/start-postgres`
    /// and exports them). In CI (`CI` set, or `VISREG_REQUIRE_POSTGRES=1`) a missing one
    /// fails the test: a half of the store that cannot be tested is not a pass.
    fn need(var: &str) -> Option<String> {
        match std::env::var(var) {
            Ok(u) if !u.is_empty() => Some(u),
            _ if std::env::var("VISREG_REQUIRE_POSTGRES").as_deref() == Ok("1")
                || std::env::var("CI").is_ok_and(|c| !c.is_empty()) =>
            {
                panic!("{var} is not set, and in CI the PostgreSQL tests must run (.ci/start-postgres starts a server)")
            }
            _ => {
                eprintln!("skipped: {var} is not set (.ci/start-postgres starts a server)");
                None
            }
        }
    }

    fn url() -> Option<String> {
        need("VISREG_TEST_POSTGRES")
    }

    #[test]
    fn postgres_holds_a_camera_for_one_connection_until_released_or_closed() {
        let Some(url) = url() else { return };
        let camera = unique("cam");
        let a = Store::open(&url).unwrap();
        let b = Store::open(&url).unwrap();
        let held = match a.reserve(&camera, "run-a").unwrap() {
            Reserved::Got(r) => r,
            Reserved::Held(h) => panic!("{h}"),
        };
        match b.reserve(&camera, "run-b").unwrap() {
            Reserved::Held(h) => assert!(h.holder.starts_with("run-a on "), "{h}"),
            Reserved::Got(_) => panic!("two holders of one camera"),
        }
        drop(held);
        assert!(matches!(
            b.reserve(&camera, "run-b").unwrap(),
            Reserved::Got(_)
        ));
        // A holder whose connection ends without a word (a process killed) frees it.
        let c = Store::open(&url).unwrap();
        let other = unique("cam");
        std::mem::forget(match c.reserve(&other, "run-c").unwrap() {
            Reserved::Got(r) => r,
            Reserved::Held(h) => panic!("{h}"),
        });
        assert!(matches!(
            b.reserve(&other, "run-b").unwrap(),
            Reserved::Held(_)
        ));
        drop(c);
        let t0 = std::time::Instant::now();
        while !matches!(b.reserve(&other, "run-b").unwrap(), Reserved::Got(_)) {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(10),
                "the lock outlived its connection"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// An environment with nothing of the tester's (no PG*, no ~/.pgpass, no root.crt).
    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
                .or_else(|| (k == "HOME").then(|| "/nonexistent".to_string()))
        }
    }

    /// Connects as the store would and asks the server whether the session is encrypted.
    /// A spec that does not resolve fails the test here; a connection that fails is the
    /// driver's error (`pg_detail` shows it as the store would).
    fn session_is_tls(spec: &str, vars: &[(&str, &str)]) -> Result<bool, ::postgres::Error> {
        let t = pg_spec::resolve(spec, &env(vars)).unwrap_or_else(|e| panic!("{spec}: {e}"));
        let t0 = std::time::Instant::now();
        let mut c = t.config.connect(t.tls)?;
        eprintln!(
            "connected ({}) in {:.1} ms",
            pg_spec::mask(spec),
            t0.elapsed().as_secs_f64() * 1e3
        );
        c.query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .map(|r| r.get(0))
    }

    /// The URL `spec` rewritten with its query replaced by `query`.
    fn with_query(spec: &str, query: &str) -> String {
        format!("{}?{query}", spec.split('?').next().unwrap())
    }

    fn unique(prefix: &str) -> String {
        format!(
            "{prefix}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        )
    }

    #[test]
    fn postgres_round_trip_and_duplicates() {
        let Some(url) = url() else { return };
        let s = Store::open(&url).unwrap();
        assert_eq!(s.version().unwrap(), MIGRATIONS.len() as i64);
        let id = unique("pg");
        let mut r = super::tests_support::run(&id);
        r.finished_unix_s = None;
        r.mode = "live".into();
        s.create_run(&r).unwrap();
        assert_eq!(s.run(&id).unwrap().unwrap().mode, "live");
        let f = super::tests_support::frame(&id, 1, 7, "camera");
        assert!(s.record_frame(&f).unwrap());
        assert!(!s.record_frame(&f).unwrap());
        assert_eq!(s.frames(&id, Some("5.0.0")).unwrap(), vec![f]);
        assert_eq!(s.frame_count(&id).unwrap(), 1);
        s.finish_run(&id, RunStatus::Done).unwrap();
        assert_eq!(s.run(&id).unwrap().unwrap().status, RunStatus::Done);
        assert!(s.runs().unwrap().iter().any(|x| x.id == id));
        // A bisect step's copy of its baseline, in this dialect too.
        let step = format!("{id}.01");
        s.create_run(&super::tests_support::run(&step)).unwrap();
        assert_eq!(s.copy_frames(&id, &step, "5.0.0").unwrap(), 1);
        assert_eq!(s.copy_frames(&id, &step, "5.0.0").unwrap(), 0);
        assert_eq!(s.frames(&step, None).unwrap()[0].frame, 7);
        let b = BisectRecord {
            id: unique("pgb"),
            started_unix_s: 1.0,
            finished_unix_s: None,
            status: "running".into(),
            plan_json: "{}".into(),
            state_json: "{}".into(),
        };
        s.create_bisect(&b).unwrap();
        s.update_bisect(&b.id, "done", "{\"x\":1}", true).unwrap();
        let got = s.bisect(&b.id).unwrap().unwrap();
        assert_eq!(
            (got.status.as_str(), got.state_json.as_str()),
            ("done", "{\"x\":1}")
        );
        super::tests::heartbeat_marks_a_silent_run_interrupted(&s, &unique("pghb"));
        super::tests::run_overviews_list_newest_first(&s, &unique("pgov"));
    }

    #[test]
    fn no_password_appears_in_a_message() {
        for (spec, shown) in [
            (
                "postgres://nobody:s3cret@127.0.0.1:1/x",
                "nobody:***@127.0.0.1",
            ),
            (
                "postgres://nobody@127.0.0.1:1/x?password=s3cret",
                "?password=***",
            ),
            (
                "host=127.0.0.1 port=1 user=nobody password=s3cret",
                "password=***",
            ),
            (
                "host=127.0.0.1 port=1 user=nobody password='s3cret",
                "password=*** …",
            ),
        ] {
            let e = Store::open_with_env(spec, &env(&[])).err().unwrap();
            // The cause is in the message, not also a source: `{:#}` says it once.
            assert!(std::error::Error::source(&e).is_none(), "{e:?}");
            let e = e.to_string();
            assert!(e.contains(shown) && !e.contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn postgres_by_keyword_value_string() {
        let Some(url) = url() else { return };
        let p = pg_spec::tests::parsed(&url);
        let kv = format!(
            "host={} port={} user={} dbname={}",
            p["host"], p["port"], p["user"], p["dbname"]
        );
        let s = Store::open_with_env(&kv, &env(&[])).unwrap();
        assert_eq!(s.name(), kv);
        assert_eq!(s.version().unwrap(), MIGRATIONS.len() as i64);
        // The same from the environment alone.
        let s = Store::open_with_env(
            "sslmode=disable",
            &env(&[
                ("PGHOST", &p["host"]),
                ("PGPORT", &p["port"]),
                ("PGUSER", &p["user"]),
                ("PGDATABASE", &p["dbname"]),
            ]),
        )
        .unwrap();
        assert_eq!(s.version().unwrap(), MIGRATIONS.len() as i64);
    }

    #[test]
    fn postgres_tls_modes() {
        let Some(tls) = need("VISREG_TEST_POSTGRES_TLS") else {
            return;
        };
        // verify-full against the test CA: encrypted, and the store works over it.
        assert!(session_is_tls(&tls, &[]).unwrap());
        let s = Store::open_with_env(&tls, &env(&[])).unwrap();
        assert_eq!(s.version().unwrap(), MIGRATIONS.len() as i64);
        // require: encrypted, nothing verified (no root certificate anywhere).
        assert!(session_is_tls(&with_query(&tls, "sslmode=require"), &[]).unwrap());
        assert!(!session_is_tls(&with_query(&tls, "sslmode=disable"), &[]).unwrap());
        // PGSSLMODE when the spec has none.
        assert!(session_is_tls(&with_query(&tls, ""), &[("PGSSLMODE", "require")]).unwrap());
        // Another name for the same server: verify-full refuses it and says why,
        // verify-ca (the chain only) accepts it.
        let p = pg_spec::tests::parsed(&tls);
        let wrong = format!(
            "host=wrong-name.invalid hostaddr=127.0.0.1 port={} user={} dbname={} sslrootcert={}",
            p["port"], p["user"], p["dbname"], p["sslrootcert"]
        );
        let e = Store::open_with_env(&format!("{wrong} sslmode=verify-full"), &env(&[]))
            .err()
            .unwrap();
        assert!(matches!(e, StoreError::TlsHostName { .. }), "{e:?}");
        assert!(
            e.to_string()
                .contains("not valid for host \"wrong-name.invalid\"")
                && e.to_string().contains("sslmode=verify-ca"),
            "{e}"
        );
        assert!(session_is_tls(&format!("{wrong} sslmode=verify-ca"), &[]).unwrap());
        // A CA that did not sign the server's certificate: refused even by verify-ca.
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("other-ca.crt");
        std::fs::write(&other, OTHER_CA).unwrap();
        let e = session_is_tls(
            &format!("{wrong} sslmode=verify-ca sslrootcert={}", other.display()),
            &[],
        )
        .unwrap_err();
        let e = pg_detail(&e);
        assert!(e.to_lowercase().contains("certificate"), "{e}");
    }

    /// A CA certificate of no server here (a throw-away self-signed one).
    const OTHER_CA: &str = include_str!("testdata/other-ca.crt");

    #[test]
    fn postgres_password_from_the_environment_or_a_password_file() {
        let Some(spec) = need("VISREG_TEST_POSTGRES_PASSWORD_SPEC") else {
            return;
        };
        let pw = need("VISREG_TEST_POSTGRES_PASSWORD").expect("set with its spec");
        assert!(!spec.contains(&pw), "the password is not in the spec");
        let s = Store::open_with_env(&spec, &env(&[("PGPASSWORD", &pw)])).unwrap();
        assert_eq!(s.version().unwrap(), MIGRATIONS.len() as i64);
        let e = Store::open_with_env(&spec, &env(&[("PGPASSWORD", "wrong")]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("password authentication failed"), "{e}");
        // The password file, named by PGPASSFILE.
        let p = pg_spec::tests::parsed(&spec);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        let esc = pw.replace('\\', "\\\\").replace(':', "\\:");
        std::fs::write(
            &file,
            format!(
                "# visreg test\n*:*:other:*:nope\n{}:{}:{}:{}:{esc}\n",
                p["host"], p["port"], p["dbname"], p["user"]
            ),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let path = file.display().to_string();
        let s = Store::open_with_env(&spec, &env(&[("PGPASSFILE", &path)])).unwrap();
        assert_eq!(s.version().unwrap(), MIGRATIONS.len() as i64);
    }

    #[test]
    fn eight_concurrent_writers_store_every_row_exactly_once() {
        let Some(url) = url() else { return };
        let id = unique("pgc");
        Store::open(&url)
            .unwrap()
            .create_run(&super::tests_support::run(&id))
            .unwrap();
        std::thread::scope(|scope| {
            for w in 0..8u32 {
                let (url, id) = (url.clone(), id.clone());
                scope.spawn(move || {
                    let s = Store::open(&url).unwrap();
                    // Each worker writes its own 50 frames and then 10 of its neighbour's.
                    for i in 0..50 {
                        s.record_frame(&super::tests_support::frame(&id, w, i, "camera"))
                            .unwrap();
                    }
                    for i in 0..10 {
                        s.record_frame(&super::tests_support::frame(&id, (w + 1) % 8, i, "camera"))
                            .unwrap();
                    }
                });
            }
        });
        assert_eq!(Store::open(&url).unwrap().frame_count(&id).unwrap(), 400);
    }
}

#[cfg(test)]
mod tests_support {
    use super::*;

    pub fn run(id: &str) -> RunRecord {
        RunRecord {
            id: id.into(),
            started_unix_s: 1.0,
            finished_unix_s: None,
            status: RunStatus::Running,
            host_json: "{}".into(),
            dataset_name: "qvga-basic".into(),
            dataset_hash: "sha256:00".into(),
            camera: "sim".into(),
            baseline: "5.0.0".into(),
            builds_json: "[\"5.0.0\"]".into(),
            detector_json: "{}".into(),
            mode: "replay".into(),
            repeats: Some(3),
            heartbeat_unix_s: None,
        }
    }

    pub fn frame(run_id: &str, repeat: u32, frame: u32, source: &str) -> FrameRecord {
        FrameRecord {
            run_id: run_id.into(),
            build: "5.0.0".into(),
            board: "H7 Plus".into(),
            camera_serial: "S".into(),
            repeat,
            frame,
            source: source.into(),
            latency_ms: Some(42.5),
            detections_json: "[]".into(),
            score_json: "{}".into(),
            recorded_unix_s: 2.0,
        }
    }
}
