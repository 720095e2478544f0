//! The results store: every measurement of every run, written as it is measured so that a
//! run that dies loses nothing already measured, with unique keys so that a resumed run
//! never writes a frame twice. SQLite (one file, WAL journal) here; the schema is
//! versioned and migrated forward on open.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

/// Errors of the store, naming the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("results store {store}: {source}")]
    Sqlite {
        /// Which store.
        store: String,
        /// Why.
        source: rusqlite::Error,
    },
    /// PostgreSQL failed.
    #[error("results store {store}: {source}")]
    Postgres {
        /// Which store.
        store: String,
        /// Why.
        source: postgres::Error,
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
}

/// Schema migrations, in order; index + 1 is the version they bring the store to.
const MIGRATIONS: &[&str] = &[
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
];

/// The same schema for PostgreSQL (its own types), one entry per SQLite migration.
const PG_MIGRATIONS: &[&str] = &[
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
];

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
    /// `running`, `done`, `interrupted`, `failed`.
    pub status: String,
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
    backend: Backend,
    name: String,
}

enum Backend {
    Sqlite(Connection),
    Postgres(std::sync::Mutex<postgres::Client>),
}

/// A store URL with any password hidden, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(a), Some(b)) if b > a => match url[a + 3..b].split_once(':') {
            Some((user, _)) => format!("{}{}:***{}", &url[..a + 3], user, &url[b..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

/// Seconds since the Unix epoch, now.
pub fn now_unix_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Store {
    /// Opens `spec`: a `postgres://…` URL, or an SQLite file path (created if needed).
    pub fn open(spec: &str) -> Result<Self, StoreError> {
        if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            Self::open_postgres(spec)
        } else {
            Self::open_sqlite(Path::new(spec))
        }
    }

    /// Opens (creating if needed) an SQLite store and migrates it forward.
    pub fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        let name = path.display().to_string();
        let err = |source| StoreError::Sqlite {
            store: name.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(err)?;
        // Switching to WAL needs the database to itself for a moment and SQLite does not
        // wait for that on its own: retry while another process has it, up to 10 s.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL") {
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if f.code == rusqlite::ErrorCode::DatabaseBusy
                        && std::time::Instant::now() < until =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                r => break r.map_err(err)?,
            }
        }
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        let mut s = Store {
            backend: Backend::Sqlite(conn),
            name,
        };
        s.migrate()?;
        Ok(s)
    }

    /// Connects to a PostgreSQL store and migrates it forward (under an advisory lock, so
    /// hosts starting at once migrate it once).
    pub fn open_postgres(url: &str) -> Result<Self, StoreError> {
        let name = redact(url);
        let mut config: postgres::Config = url.parse().map_err(|e| StoreError::Postgres {
            store: name.clone(),
            source: e,
        })?;
        config.connect_timeout(std::time::Duration::from_secs(10));
        let client = config
            .connect(postgres::NoTls)
            .map_err(|e| StoreError::Postgres {
                store: name.clone(),
                source: e,
            })?;
        let mut s = Store {
            backend: Backend::Postgres(std::sync::Mutex::new(client)),
            name,
        };
        s.migrate()?;
        Ok(s)
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            store: self.name.clone(),
            source,
        }
    }

    fn pg_err(&self, source: postgres::Error) -> StoreError {
        StoreError::Postgres {
            store: self.name.clone(),
            source,
        }
    }

    fn pg(&self) -> Option<std::sync::MutexGuard<'_, postgres::Client>> {
        match &self.backend {
            Backend::Postgres(c) => Some(c.lock().unwrap_or_else(|p| p.into_inner())),
            Backend::Sqlite(_) => None,
        }
    }

    fn conn(&self) -> &Connection {
        match &self.backend {
            Backend::Sqlite(c) => c,
            Backend::Postgres(_) => unreachable!("callers check for PostgreSQL first"),
        }
    }

    /// The store's name for messages (a URL's password hidden).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schema version.
    pub fn version(&self) -> Result<i64, StoreError> {
        if let Some(mut c) = self.pg() {
            let row = c
                .query_one(
                    "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_version",
                    &[],
                )
                .map_err(|e| self.pg_err(e))?;
            return Ok(row.get(0));
        }
        self.conn()
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let known = MIGRATIONS.len() as i64;
        if let Some(mut c) = self.pg() {
            let mut tx = c.transaction().map_err(|e| StoreError::Postgres {
                store: self.name.clone(),
                source: e,
            })?;
            let e = |source| StoreError::Postgres {
                store: self.name.clone(),
                source,
            };
            tx.execute("SELECT pg_advisory_xact_lock(7365761)", &[])
                .map_err(e)?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY)",
            )
            .map_err(e)?;
            let have: i64 = tx
                .query_one(
                    "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_version",
                    &[],
                )
                .map_err(e)?
                .get(0);
            if have > known {
                return Err(StoreError::TooNew {
                    store: self.name.clone(),
                    found: have,
                    known,
                });
            }
            for (i, sql) in PG_MIGRATIONS.iter().enumerate().skip(have as usize) {
                tx.batch_execute(sql).map_err(e)?;
                tx.execute(
                    "INSERT INTO schema_version (version) VALUES ($1)",
                    &[&(i as i64 + 1)],
                )
                .map_err(e)?;
            }
            return tx.commit().map_err(e);
        }
        let Backend::Sqlite(conn) = &mut self.backend else {
            unreachable!()
        };
        let name = self.name.clone();
        let e = |source| StoreError::Sqlite {
            store: name.clone(),
            source,
        };
        // One IMMEDIATE transaction for the check and the migrations: processes opening a
        // new store at once then queue on the write lock (busy timeout) instead of both
        // reading version 0 and failing to upgrade their read locks.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)")
            .map_err(e)?;
        let have: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                [],
                |r| r.get(0),
            )
            .map_err(e)?;
        if have > known {
            return Err(StoreError::TooNew {
                store: name.clone(),
                found: have,
                known,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(have as usize) {
            tx.execute_batch(sql).map_err(e)?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES (?1)",
                [i as i64 + 1],
            )
            .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(())
    }

    /// Records a new run.
    pub fn create_run(&self, r: &RunRecord) -> Result<(), StoreError> {
        if let Some(mut c) = self.pg() {
            return c
                .execute(
                    "INSERT INTO runs (id, started_unix_s, finished_unix_s, status, host_json, dataset_name, dataset_hash, camera, baseline, builds_json, detector_json, mode)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    &[&r.id, &r.started_unix_s, &r.finished_unix_s, &r.status, &r.host_json, &r.dataset_name, &r.dataset_hash, &r.camera, &r.baseline, &r.builds_json, &r.detector_json, &r.mode],
                )
                .map(|_| ())
                .map_err(|e| self.pg_err(e));
        }
        self.conn()
            .execute(
                "INSERT INTO runs (id, started_unix_s, finished_unix_s, status, host_json, dataset_name, dataset_hash, camera, baseline, builds_json, detector_json, mode)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![r.id, r.started_unix_s, r.finished_unix_s, r.status, r.host_json, r.dataset_name, r.dataset_hash, r.camera, r.baseline, r.builds_json, r.detector_json, r.mode],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The run `id`, if stored.
    pub fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        const SQL: &str = "SELECT id, started_unix_s, finished_unix_s, status, host_json, dataset_name, dataset_hash, camera, baseline, builds_json, detector_json, mode FROM runs WHERE id = ";
        if let Some(mut c) = self.pg() {
            let rows = c
                .query(&format!("{SQL}$1"), &[&id])
                .map_err(|e| self.pg_err(e))?;
            return Ok(rows.first().map(|r| RunRecord {
                id: r.get(0),
                started_unix_s: r.get(1),
                finished_unix_s: r.get(2),
                status: r.get(3),
                host_json: r.get(4),
                dataset_name: r.get(5),
                dataset_hash: r.get(6),
                camera: r.get(7),
                baseline: r.get(8),
                builds_json: r.get(9),
                detector_json: r.get(10),
                mode: r.get(11),
            }));
        }
        self.conn()
            .query_row(&format!("{SQL}?1"), [id], |r| {
                Ok(RunRecord {
                    id: r.get(0)?,
                    started_unix_s: r.get(1)?,
                    finished_unix_s: r.get(2)?,
                    status: r.get(3)?,
                    host_json: r.get(4)?,
                    dataset_name: r.get(5)?,
                    dataset_hash: r.get(6)?,
                    camera: r.get(7)?,
                    baseline: r.get(8)?,
                    builds_json: r.get(9)?,
                    detector_json: r.get(10)?,
                    mode: r.get(11)?,
                })
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Marks a run finished with `status`.
    pub fn finish_run(&self, id: &str, status: &str) -> Result<(), StoreError> {
        if let Some(mut c) = self.pg() {
            return c
                .execute(
                    "UPDATE runs SET status = $2, finished_unix_s = $3 WHERE id = $1",
                    &[&id, &status, &now_unix_s()],
                )
                .map(|_| ())
                .map_err(|e| self.pg_err(e));
        }
        self.conn()
            .execute(
                "UPDATE runs SET status = ?2, finished_unix_s = ?3 WHERE id = ?1",
                params![id, status, now_unix_s()],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Records one frame's result; returns false when it was already there (a resumed run
    /// re-measuring it), which is not an error and writes nothing.
    pub fn record_frame(&self, f: &FrameRecord) -> Result<bool, StoreError> {
        if let Some(mut c) = self.pg() {
            return c
                .execute(
                    "INSERT INTO frame_results (run_id, build, board, camera_serial, repeat, frame, source, latency_ms, detections_json, score_json, recorded_unix_s)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     ON CONFLICT (run_id, build, repeat, frame, source) DO NOTHING",
                    &[&f.run_id, &f.build, &f.board, &f.camera_serial, &i64::from(f.repeat), &i64::from(f.frame), &f.source, &f.latency_ms, &f.detections_json, &f.score_json, &f.recorded_unix_s],
                )
                .map(|n| n == 1)
                .map_err(|e| self.pg_err(e));
        }
        self.conn()
            .execute(
                "INSERT INTO frame_results (run_id, build, board, camera_serial, repeat, frame, source, latency_ms, detections_json, score_json, recorded_unix_s)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (run_id, build, repeat, frame, source) DO NOTHING",
                params![f.run_id, f.build, f.board, f.camera_serial, f.repeat, f.frame, f.source, f.latency_ms, f.detections_json, f.score_json, f.recorded_unix_s],
            )
            .map(|n| n == 1)
            .map_err(|e| self.err(e))
    }

    /// Every frame result of `run_id` (and `build`, when given), in a stable order.
    pub fn frames(
        &self,
        run_id: &str,
        build: Option<&str>,
    ) -> Result<Vec<FrameRecord>, StoreError> {
        const SQL: &str = "SELECT run_id, build, board, camera_serial, repeat, frame, source, latency_ms, detections_json, score_json, recorded_unix_s FROM frame_results";
        if let Some(mut c) = self.pg() {
            let rows = c
                .query(&format!("{SQL} WHERE run_id = $1 AND ($2::TEXT IS NULL OR build = $2) ORDER BY build, repeat, frame, source"), &[&run_id, &build])
                .map_err(|e| self.pg_err(e))?;
            return Ok(rows
                .iter()
                .map(|r| FrameRecord {
                    run_id: r.get(0),
                    build: r.get(1),
                    board: r.get(2),
                    camera_serial: r.get(3),
                    repeat: r.get::<_, i64>(4) as u32,
                    frame: r.get::<_, i64>(5) as u32,
                    source: r.get(6),
                    latency_ms: r.get(7),
                    detections_json: r.get(8),
                    score_json: r.get(9),
                    recorded_unix_s: r.get(10),
                })
                .collect());
        }
        let mut st = self
            .conn()
            .prepare(&format!("{SQL} WHERE run_id = ?1 AND (?2 IS NULL OR build = ?2) ORDER BY build, repeat, frame, source"))
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![run_id, build], |r| {
                Ok(FrameRecord {
                    run_id: r.get(0)?,
                    build: r.get(1)?,
                    board: r.get(2)?,
                    camera_serial: r.get(3)?,
                    repeat: r.get(4)?,
                    frame: r.get(5)?,
                    source: r.get(6)?,
                    latency_ms: r.get(7)?,
                    detections_json: r.get(8)?,
                    score_json: r.get(9)?,
                    recorded_unix_s: r.get(10)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Every run, oldest first.
    pub fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let ids: Vec<String> = if let Some(mut c) = self.pg() {
            c.query("SELECT id FROM runs ORDER BY started_unix_s, id", &[])
                .map_err(|e| self.pg_err(e))?
                .iter()
                .map(|r| r.get(0))
                .collect()
        } else {
            let mut st = self
                .conn()
                .prepare("SELECT id FROM runs ORDER BY started_unix_s, id")
                .map_err(|e| self.err(e))?;
            let ids = st
                .query_map([], |r| r.get(0))
                .map_err(|e| self.err(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.err(e))?;
            ids
        };
        ids.iter()
            .filter_map(|id| self.run(id).transpose())
            .collect()
    }

    /// Appends a camera event.
    pub fn record_camera_event(&self, e: &CameraEvent) -> Result<(), StoreError> {
        if let Some(mut c) = self.pg() {
            return c
                .execute(
                    "INSERT INTO camera_events (lab_run, host, camera, board, run_id, state, detail, recorded_unix_s)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[&e.lab_run, &e.host, &e.camera, &e.board, &e.run_id, &e.state, &e.detail, &e.recorded_unix_s],
                )
                .map(|_| ())
                .map_err(|err| self.pg_err(err));
        }
        self.conn()
            .execute(
                "INSERT INTO camera_events (lab_run, host, camera, board, run_id, state, detail, recorded_unix_s)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![e.lab_run, e.host, e.camera, e.board, e.run_id, e.state, e.detail, e.recorded_unix_s],
            )
            .map(|_| ())
            .map_err(|err| self.err(err))
    }

    /// Camera events, oldest first: of one lab run, or all.
    pub fn camera_events(&self, lab_run: Option<&str>) -> Result<Vec<CameraEvent>, StoreError> {
        const COLS: &str =
            "lab_run, host, camera, board, run_id, state, detail, recorded_unix_s FROM camera_events";
        if let Some(mut c) = self.pg() {
            let rows = match lab_run {
                Some(l) => c.query(
                    &format!("SELECT {COLS} WHERE lab_run = $1 ORDER BY recorded_unix_s, id"),
                    &[&l],
                ),
                None => c.query(&format!("SELECT {COLS} ORDER BY recorded_unix_s, id"), &[]),
            }
            .map_err(|e| self.pg_err(e))?;
            return Ok(rows
                .iter()
                .map(|r| CameraEvent {
                    lab_run: r.get(0),
                    host: r.get(1),
                    camera: r.get(2),
                    board: r.get(3),
                    run_id: r.get(4),
                    state: r.get(5),
                    detail: r.get(6),
                    recorded_unix_s: r.get(7),
                })
                .collect());
        }
        let sql = match lab_run {
            Some(_) => format!("SELECT {COLS} WHERE lab_run = ?1 ORDER BY recorded_unix_s, id"),
            None => format!("SELECT {COLS} WHERE ?1 IS NULL ORDER BY recorded_unix_s, id"),
        };
        let mut st = self.conn().prepare(&sql).map_err(|e| self.err(e))?;
        let rows = st
            .query_map([lab_run], |r| {
                Ok(CameraEvent {
                    lab_run: r.get(0)?,
                    host: r.get(1)?,
                    camera: r.get(2)?,
                    board: r.get(3)?,
                    run_id: r.get(4)?,
                    state: r.get(5)?,
                    detail: r.get(6)?,
                    recorded_unix_s: r.get(7)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e));
        rows
    }

    /// Copies the frame results of `from` — the host's and those of `build` — into run
    /// `to` (which must exist), skipping any already there: a bisect step reuses the
    /// baseline it measured once. Returns the rows written.
    pub fn copy_frames(&self, from: &str, to: &str, build: &str) -> Result<u64, StoreError> {
        const COLS: &str = "build, board, camera_serial, repeat, frame, source, latency_ms, detections_json, score_json, recorded_unix_s";
        if let Some(mut c) = self.pg() {
            return c
                .execute(
                    &format!("INSERT INTO frame_results (run_id, {COLS}) SELECT $2, {COLS} FROM frame_results WHERE run_id = $1 AND (build = $3 OR source = 'host') ON CONFLICT (run_id, build, repeat, frame, source) DO NOTHING"),
                    &[&from, &to, &build],
                )
                .map_err(|e| self.pg_err(e));
        }
        self.conn()
            .execute(
                &format!("INSERT INTO frame_results (run_id, {COLS}) SELECT ?2, {COLS} FROM frame_results WHERE run_id = ?1 AND (build = ?3 OR source = 'host') ON CONFLICT (run_id, build, repeat, frame, source) DO NOTHING"),
                params![from, to, build],
            )
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// Records a new bisect.
    pub fn create_bisect(&self, b: &BisectRecord) -> Result<(), StoreError> {
        if let Some(mut c) = self.pg() {
            return c
                .execute(
                    "INSERT INTO bisects (id, started_unix_s, finished_unix_s, status, plan_json, state_json) VALUES ($1, $2, $3, $4, $5, $6)",
                    &[&b.id, &b.started_unix_s, &b.finished_unix_s, &b.status, &b.plan_json, &b.state_json],
                )
                .map(|_| ())
                .map_err(|e| self.pg_err(e));
        }
        self.conn()
            .execute(
                "INSERT INTO bisects (id, started_unix_s, finished_unix_s, status, plan_json, state_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![b.id, b.started_unix_s, b.finished_unix_s, b.status, b.plan_json, b.state_json],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Saves a bisect's path so far and its status (`finished` stamps its end).
    pub fn update_bisect(
        &self,
        id: &str,
        status: &str,
        state_json: &str,
        finished: bool,
    ) -> Result<(), StoreError> {
        let end = finished.then(now_unix_s);
        if let Some(mut c) = self.pg() {
            return c
                .execute(
                    "UPDATE bisects SET status = $2, state_json = $3, finished_unix_s = $4 WHERE id = $1",
                    &[&id, &status, &state_json, &end],
                )
                .map(|_| ())
                .map_err(|e| self.pg_err(e));
        }
        self.conn()
            .execute(
                "UPDATE bisects SET status = ?2, state_json = ?3, finished_unix_s = ?4 WHERE id = ?1",
                params![id, status, state_json, end],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The bisect `id`, if stored.
    pub fn bisect(&self, id: &str) -> Result<Option<BisectRecord>, StoreError> {
        const SQL: &str = "SELECT id, started_unix_s, finished_unix_s, status, plan_json, state_json FROM bisects WHERE id = ";
        if let Some(mut c) = self.pg() {
            let rows = c
                .query(&format!("{SQL}$1"), &[&id])
                .map_err(|e| self.pg_err(e))?;
            return Ok(rows.first().map(|r| BisectRecord {
                id: r.get(0),
                started_unix_s: r.get(1),
                finished_unix_s: r.get(2),
                status: r.get(3),
                plan_json: r.get(4),
                state_json: r.get(5),
            }));
        }
        self.conn()
            .query_row(&format!("{SQL}?1"), [id], |r| {
                Ok(BisectRecord {
                    id: r.get(0)?,
                    started_unix_s: r.get(1)?,
                    finished_unix_s: r.get(2)?,
                    status: r.get(3)?,
                    plan_json: r.get(4)?,
                    state_json: r.get(5)?,
                })
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    /// How many frame results `run_id` holds.
    pub fn frame_count(&self, run_id: &str) -> Result<u64, StoreError> {
        if let Some(mut c) = self.pg() {
            let n: i64 = c
                .query_one(
                    "SELECT COUNT(*) FROM frame_results WHERE run_id = $1",
                    &[&run_id],
                )
                .map_err(|e| self.pg_err(e))?
                .get(0);
            return Ok(n as u64);
        }
        self.conn()
            .query_row(
                "SELECT COUNT(*) FROM frame_results WHERE run_id = ?1",
                [run_id],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str) -> RunRecord {
        RunRecord {
            id: id.into(),
            started_unix_s: 1.0,
            finished_unix_s: None,
            status: "running".into(),
            host_json: "{}".into(),
            dataset_name: "qvga-basic".into(),
            dataset_hash: "sha256:00".into(),
            camera: "sim".into(),
            baseline: "5.0.0".into(),
            builds_json: "[\"5.0.0\"]".into(),
            detector_json: "{}".into(),
            mode: "replay".into(),
        }
    }

    fn frame(run_id: &str, repeat: u32, frame: u32, source: &str) -> FrameRecord {
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
        s.finish_run("r1", "done").unwrap();
        let r = s.run("r1").unwrap().unwrap();
        assert_eq!(r.status, "done");
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
        let c = Connection::open(&path).unwrap();
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
}

#[cfg(test)]
mod postgres_tests {
    use super::*;

    /// The test server's URL (`.ci/run` starts one with `.ci/start-postgres`).
    fn url() -> Option<String> {
        match std::env::var("VISREG_TEST_POSTGRES") {
            Ok(u) if !u.is_empty() => Some(u),
            _ if std::env::var("VISREG_REQUIRE_POSTGRES").as_deref() == Ok("1") => {
                panic!("VISREG_TEST_POSTGRES is not set and VISREG_REQUIRE_POSTGRES=1")
            }
            _ => {
                eprintln!(
                    "skipped: VISREG_TEST_POSTGRES is not set (.ci/start-postgres starts a server)"
                );
                None
            }
        }
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
        s.finish_run(&id, "done").unwrap();
        assert_eq!(s.run(&id).unwrap().unwrap().status, "done");
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
        assert!(Store::open("postgres://nobody:secret@127.0.0.1:1/x")
            .err()
            .unwrap()
            .to_string()
            .contains("nobody:***@127.0.0.1"));
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
            status: "running".into(),
            host_json: "{}".into(),
            dataset_name: "qvga-basic".into(),
            dataset_hash: "sha256:00".into(),
            camera: "sim".into(),
            baseline: "5.0.0".into(),
            builds_json: "[\"5.0.0\"]".into(),
            detector_json: "{}".into(),
            mode: "replay".into(),
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
