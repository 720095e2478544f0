//! The SQLite backend: one file in WAL mode, checked (`PRAGMA quick_check`) every time it
//! is opened so that a damaged file is refused before anything is added to it, and opened
//! read-only when visreg may not write it, so reports and history still work.

use std::path::Path;

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension};

use super::{
    parse_status, Backend, BisectRecord, CameraEvent, FrameRecord, Holder, RunRecord, RunStatus,
    RunVerdict, StoreError, StoredOverview, StoredRun, MIGRATIONS,
};

/// How a store may be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read and write, falling back to read-only when the file may not be written.
    ReadWrite,
    /// Read only (what the fallback does; tests ask for it directly, since root may
    /// write any file whatever its mode).
    ReadOnly,
}

pub(crate) struct Sqlite {
    conn: Connection,
    name: String,
    read_only: bool,
}

/// The runs columns, in the order `run_from_row` reads them.
const RUN_COLS: &str = "id, started_unix_s, finished_unix_s, status, host_json, dataset_name, dataset_hash, camera, baseline, builds_json, detector_json, mode, repeats, heartbeat_unix_s";

/// SQLite's ways of saying "you may not write this".
fn cannot_write(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied))
}

impl Sqlite {
    pub(crate) fn open(path: &Path, access: Access) -> Result<Self, StoreError> {
        let name = path.display().to_string();
        if access == Access::ReadOnly {
            return Self::open_read_only(path, name);
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        match Self::open_read_write(path, name.clone()) {
            // A file that exists but may not be written (its mode, a read-only directory or
            // file system): still good for reading.
            Err(StoreError::ReadOnly { .. }) if path.is_file() => Self::open_read_only(path, name),
            Err(StoreError::Sqlite { cause: source, .. })
                if path.is_file() && cannot_write(&source) =>
            {
                Self::open_read_only(path, name)
            }
            r => r,
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    fn open_read_write(path: &Path, name: String) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(|e| classify(&name, e))?;
        let mut s = Sqlite {
            conn,
            name,
            read_only: false,
        };
        let e = |source| classify(&s.name, source);
        // SQLite opens a file it may not write read-only without a word: ask.
        if s.conn
            .is_readonly(rusqlite::DatabaseName::Main)
            .map_err(e)?
        {
            return Err(s.read_only_error());
        }
        s.conn
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(e)?;
        // Switching to WAL needs the database to itself for a moment and SQLite does not
        // wait for that on its own: retry while another process has it, up to 10 s.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match s.conn.pragma_update(None, "journal_mode", "WAL") {
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if f.code == ErrorCode::DatabaseBusy && std::time::Instant::now() < until =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                r => break r.map_err(e)?,
            }
        }
        quick_check(&s.conn, &s.name)?;
        s.conn
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(e)?;
        // In WAL mode NORMAL syncs at checkpoints, not at every commit: a commit survives
        // the process dying (SIGKILL, a panic) at once, and only an OS crash or power loss
        // can take back the last commits — never corrupt the file. Those are frames a
        // `--resume` measures again. FULL cost an fsync per frame result: seconds of a
        // default run spent waiting on the disk.
        s.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(e)?;
        s.migrate()?;
        Ok(s)
    }

    fn open_read_only(path: &Path, name: String) -> Result<Self, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let open = |flags, target: &str| -> Result<Connection, StoreError> {
            let c = Connection::open_with_flags(target, flags).map_err(|e| classify(&name, e))?;
            c.busy_timeout(std::time::Duration::from_secs(10))
                .map_err(|e| classify(&name, e))?;
            Ok(c)
        };
        let mut conn = open(flags, &path.to_string_lossy())?;
        match quick_check(&conn, &name) {
            // A WAL store in a directory visreg may not write: SQLite cannot create the
            // shared-memory file a reader needs. Nobody can write the store there either (a
            // writer needs that file too), so reading it as immutable is exact.
            Err(StoreError::Sqlite { cause: source, .. }) if cannot_write(&source) => {
                conn = open(flags | OpenFlags::SQLITE_OPEN_URI, &immutable_uri(path))?;
                quick_check(&conn, &name)?;
            }
            r => r?,
        }
        let s = Sqlite {
            conn,
            name,
            read_only: true,
        };
        let known = MIGRATIONS.len() as i64;
        // A file without visreg's tables (empty, or not yet migrated) needs migrating.
        let found = s.version().unwrap_or(0);
        if found > known {
            return Err(StoreError::TooNew {
                store: s.name.clone(),
                found,
                known,
            });
        }
        if found < known {
            return Err(StoreError::ReadOnlyNeedsMigration {
                store: s.name.clone(),
                found,
                known,
            });
        }
        Ok(s)
    }

    fn read_only_error(&self) -> StoreError {
        StoreError::ReadOnly {
            store: self.name.clone(),
        }
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        if self.read_only && cannot_write(&source) {
            return self.read_only_error();
        }
        classify(&self.name, source)
    }

    /// Every write starts here: a read-only store refuses it by name, before SQLite's
    /// terser "attempt to write a readonly database".
    fn writable(&self) -> Result<&Connection, StoreError> {
        if self.read_only {
            return Err(self.read_only_error());
        }
        Ok(&self.conn)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let known = MIGRATIONS.len() as i64;
        let name = self.name.clone();
        let e = |source| classify(&name, source);
        // One IMMEDIATE transaction for the check and the migrations: processes opening a
        // new store at once then queue on the write lock (busy timeout) instead of both
        // reading version 0 and failing to upgrade their read locks.
        let tx = self
            .conn
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
        tx.commit().map_err(e)
    }
}

/// An SQLite error, or the damage it reports as such.
fn classify(store: &str, source: rusqlite::Error) -> StoreError {
    match &source {
        rusqlite::Error::SqliteFailure(f, msg)
            if matches!(f.code, ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) =>
        {
            StoreError::Damaged {
                store: store.to_string(),
                detail: msg.clone().unwrap_or_else(|| f.to_string()),
            }
        }
        _ => StoreError::Sqlite {
            store: store.to_string(),
            cause: source,
        },
    }
}

/// `PRAGMA quick_check`: the b-trees' structure and every page's bounds (not the indexes'
/// agreement with their tables, which `integrity_check` adds at many times the cost).
fn quick_check(conn: &Connection, store: &str) -> Result<(), StoreError> {
    let mut st = conn
        .prepare("PRAGMA quick_check(5)")
        .map_err(|e| classify(store, e))?;
    let found: Vec<String> = st
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| classify(store, e))?;
    if found.len() == 1 && found[0] == "ok" {
        return Ok(());
    }
    Err(StoreError::Damaged {
        store: store.to_string(),
        detail: found.join("; "),
    })
}

/// `file:PATH?immutable=1`, the path percent-encoded as SQLite's URI parser wants.
fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/._-~".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri + "?immutable=1"
}

fn run_from_row(
    store: &str,
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<StoredRun, StoreError>> {
    let id: String = r.get(0)?;
    let status: String = r.get(3)?;
    let status = match parse_status(store, &id, &status) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(StoredRun {
        record: RunRecord {
            id,
            started_unix_s: r.get(1)?,
            finished_unix_s: r.get(2)?,
            status,
            host_json: r.get(4)?,
            dataset_name: r.get(5)?,
            dataset_hash: r.get(6)?,
            camera: r.get(7)?,
            baseline: r.get(8)?,
            builds_json: r.get(9)?,
            detector_json: r.get(10)?,
            mode: r.get(11)?,
            repeats: r.get(12)?,
            heartbeat_unix_s: r.get(13)?,
        },
        last_frame_unix_s: r.get(14)?,
    }))
}

impl Backend for Sqlite {
    fn version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    fn create_run(&self, r: &RunRecord) -> Result<(), StoreError> {
        self.writable()?
            .execute(
                &format!("INSERT INTO runs ({RUN_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"),
                params![r.id, r.started_unix_s, r.finished_unix_s, r.status.as_str(), r.host_json, r.dataset_name, r.dataset_hash, r.camera, r.baseline, r.builds_json, r.detector_json, r.mode, r.repeats, r.heartbeat_unix_s],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn runs(&self, id: Option<&str>) -> Result<Vec<StoredRun>, StoreError> {
        // The newest frame only where it can matter (a run still marked running).
        let sql = format!(
            "SELECT {RUN_COLS}, CASE WHEN status = 'running' THEN (SELECT MAX(f.recorded_unix_s) FROM frame_results f WHERE f.run_id = runs.id) END
             FROM runs WHERE (?1 IS NULL OR id = ?1) ORDER BY started_unix_s, id"
        );
        let mut st = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = st
            .query_map([id], |r| run_from_row(&self.name, r))
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        rows.into_iter().collect()
    }

    fn run_overviews(&self, limit: Option<u64>) -> Result<Vec<StoredOverview>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLS}, CASE WHEN status = 'running' THEN (SELECT MAX(f.recorded_unix_s) FROM frame_results f WHERE f.run_id = runs.id) END,
                    (SELECT GROUP_CONCAT(DISTINCT f.board) FROM frame_results f WHERE f.run_id = runs.id AND f.source = 'camera'),
                    (SELECT COUNT(*) FROM frame_results f WHERE f.run_id = runs.id AND f.source = 'camera'),
                    verdict_regressions, verdict_checks
             FROM runs ORDER BY started_unix_s DESC, id DESC LIMIT ?1"
        );
        // SQLite's LIMIT -1 is no limit.
        let limit = limit.map_or(-1, |n| n.min(i64::MAX as u64) as i64);
        let mut st = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = st
            .query_map([limit], |r| {
                let run = run_from_row(&self.name, r)?;
                let (boards, camera_frames, regressions, checks) =
                    (r.get(15)?, r.get(16)?, r.get(17)?, r.get(18)?);
                Ok(run.map(|run| StoredOverview {
                    run,
                    boards,
                    camera_frames,
                    regressions,
                    checks,
                }))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        rows.into_iter().collect()
    }

    fn record_verdict(&self, id: &str, v: RunVerdict) -> Result<(), StoreError> {
        self.writable()?
            .execute(
                "UPDATE runs SET verdict_regressions = ?2, verdict_checks = ?3 WHERE id = ?1",
                params![id, v.regressions as i64, v.checks as i64],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn finish_run(&self, id: &str, status: RunStatus, at: f64) -> Result<(), StoreError> {
        self.writable()?
            .execute(
                "UPDATE runs SET status = ?2, finished_unix_s = ?3 WHERE id = ?1",
                params![id, status.as_str(), at],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn heartbeat(&self, id: &str, at: f64) -> Result<(), StoreError> {
        self.writable()?
            .execute(
                "UPDATE runs SET heartbeat_unix_s = ?2 WHERE id = ?1",
                params![id, at],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn record_frame(&self, f: &FrameRecord) -> Result<bool, StoreError> {
        // Prepared once per connection: a run writes thousands of these.
        self.writable()?
            .prepare_cached(
                "INSERT INTO frame_results (run_id, build, board, camera_serial, repeat, frame, source, latency_ms, detections_json, score_json, recorded_unix_s)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (run_id, build, repeat, frame, source) DO NOTHING",
            )
            .map_err(|e| self.err(e))?
            .execute(params![f.run_id, f.build, f.board, f.camera_serial, f.repeat, f.frame, f.source, f.latency_ms, f.detections_json, f.score_json, f.recorded_unix_s],
            )
            .map(|n| n == 1)
            .map_err(|e| self.err(e))
    }

    fn frames(&self, run_id: &str, build: Option<&str>) -> Result<Vec<FrameRecord>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT run_id, build, board, camera_serial, repeat, frame, source, latency_ms, detections_json, score_json, recorded_unix_s FROM frame_results
                      WHERE run_id = ?1 AND (?2 IS NULL OR build = ?2) ORDER BY build, repeat, frame, source")
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

    fn frame_count(&self, run_id: &str) -> Result<u64, StoreError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM frame_results WHERE run_id = ?1",
                [run_id],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    fn copy_frames(&self, from: &str, to: &str, build: &str) -> Result<u64, StoreError> {
        const COLS: &str = "build, board, camera_serial, repeat, frame, source, latency_ms, detections_json, score_json, recorded_unix_s";
        self.writable()?
            .execute(
                &format!("INSERT INTO frame_results (run_id, {COLS}) SELECT ?2, {COLS} FROM frame_results WHERE run_id = ?1 AND (build = ?3 OR source = 'host') ON CONFLICT (run_id, build, repeat, frame, source) DO NOTHING"),
                params![from, to, build],
            )
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    fn create_bisect(&self, b: &BisectRecord) -> Result<(), StoreError> {
        self.writable()?
            .execute(
                "INSERT INTO bisects (id, started_unix_s, finished_unix_s, status, plan_json, state_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![b.id, b.started_unix_s, b.finished_unix_s, b.status, b.plan_json, b.state_json],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn update_bisect(
        &self,
        id: &str,
        status: &str,
        state_json: &str,
        end: Option<f64>,
    ) -> Result<(), StoreError> {
        self.writable()?
            .execute(
                "UPDATE bisects SET status = ?2, state_json = ?3, finished_unix_s = ?4 WHERE id = ?1",
                params![id, status, state_json, end],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn bisect(&self, id: &str) -> Result<Option<BisectRecord>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, started_unix_s, finished_unix_s, status, plan_json, state_json FROM bisects WHERE id = ?1",
                [id],
                |r| {
                    Ok(BisectRecord {
                        id: r.get(0)?,
                        started_unix_s: r.get(1)?,
                        finished_unix_s: r.get(2)?,
                        status: r.get(3)?,
                        plan_json: r.get(4)?,
                        state_json: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    fn record_camera_event(&self, e: &CameraEvent) -> Result<(), StoreError> {
        self.writable()?
            .execute(
                "INSERT INTO camera_events (lab_run, host, camera, board, run_id, state, detail, recorded_unix_s)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![e.lab_run, e.host, e.camera, e.board, e.run_id, e.state, e.detail, e.recorded_unix_s],
            )
            .map(|_| ())
            .map_err(|err| self.err(err))
    }

    fn camera_events(&self, lab_run: Option<&str>) -> Result<Vec<CameraEvent>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT lab_run, host, camera, board, run_id, state, detail, recorded_unix_s FROM camera_events
                      WHERE (?1 IS NULL OR lab_run = ?1) ORDER BY recorded_unix_s, id")
            .map_err(|e| self.err(e))?;
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
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    fn reserve(&self, camera: &str, me: &Holder, at: f64) -> Result<Option<Holder>, StoreError> {
        let conn = self.writable()?;
        // Checked and taken in one write transaction: two processes asking at once
        // queue on SQLite's write lock, and the second sees the first's row.
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))?;
        let result = (|| {
            let held: Option<Holder> = conn
                .query_row(
                    "SELECT holder, host, pid, since_unix_s, heartbeat_unix_s FROM reservations WHERE camera = ?1",
                    [camera],
                    |r| {
                        Ok(Holder {
                            holder: r.get(0)?,
                            host: r.get(1)?,
                            pid: r.get::<_, i64>(2)? as u32,
                            since_unix_s: r.get(3)?,
                            heartbeat_unix_s: r.get(4)?,
                        })
                    },
                )
                .optional()?;
            if let Some(h) = held.filter(|h| h.stands(me, at)) {
                return Ok(Some(h));
            }
            conn.execute(
                "INSERT INTO reservations (camera, holder, host, pid, since_unix_s, heartbeat_unix_s) VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT (camera) DO UPDATE SET holder = ?2, host = ?3, pid = ?4, since_unix_s = ?5, heartbeat_unix_s = ?5",
                params![camera, me.holder, me.host, i64::from(me.pid), at],
            )?;
            Ok(None)
        })();
        match result {
            Ok(v) => {
                conn.execute_batch("COMMIT").map_err(|e| self.err(e))?;
                Ok(v)
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(self.err(e))
            }
        }
    }

    fn renew_reservations(&self, me: &Holder, at: f64) -> Result<(), StoreError> {
        self.writable()?
            .execute(
                "UPDATE reservations SET heartbeat_unix_s = ?3 WHERE host = ?1 AND pid = ?2",
                params![me.host, i64::from(me.pid), at],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn release(&self, camera: &str, me: &Holder) -> Result<(), StoreError> {
        self.writable()?
            .execute(
                "DELETE FROM reservations WHERE camera = ?1 AND host = ?2 AND pid = ?3",
                params![camera, me.host, i64::from(me.pid)],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The immutable fallback (a WAL store in a read-only directory, which root cannot
    /// reproduce) reaches the very file, whatever its name holds.
    #[test]
    fn the_immutable_uri_names_the_file_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a b?c#d%e ü.sqlite");
        Sqlite::open(&path, Access::ReadWrite).unwrap();
        let uri = immutable_uri(&path);
        assert!(
            uri.ends_with("%3Fc%23d%25e%20%C3%BC.sqlite?immutable=1"),
            "{uri}"
        );
        let c = Connection::open_with_flags(
            &uri,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
        )
        .unwrap();
        let v: i64 = c
            .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
    }
}
