//! The PostgreSQL backend: one connection per process (behind a mutex, so a `Store` may be
//! shared by threads), connected as `pg_spec.rs` resolves the spec, migrated under an
//! advisory lock so that hosts starting at once migrate a new database once.

use std::sync::{Mutex, MutexGuard};

use super::{
    parse_status, pg_spec, tls, Backend, BisectRecord, CameraEvent, FrameRecord, Holder, RunRecord,
    RunStatus, RunVerdict, StoreError, StoredOverview, StoredRun, MIGRATIONS, PG_MIGRATIONS,
};

pub(crate) struct Postgres {
    client: Mutex<postgres::Client>,
    name: String,
}

/// The runs columns, in the order `run_from_row` reads them.
const RUN_COLS: &str = "id, started_unix_s, finished_unix_s, status, host_json, dataset_name, dataset_hash, camera, baseline, builds_json, detector_json, mode, repeats, heartbeat_unix_s";

impl Postgres {
    pub(crate) fn open(
        spec: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, StoreError> {
        let name = pg_spec::mask(spec);
        let target = pg_spec::resolve(spec, env).map_err(|cause| StoreError::Spec {
            store: name.clone(),
            cause,
        })?;
        let client = target
            .config
            .connect(target.tls)
            .map_err(|e| match target.tls_host {
                Some(host) if tls::is_name_mismatch(&e) => StoreError::TlsHostName {
                    store: name.clone(),
                    host,
                },
                _ => StoreError::Postgres {
                    store: name.clone(),
                    cause: e,
                },
            })?;
        let s = Postgres {
            client: Mutex::new(client),
            name,
        };
        s.migrate()?;
        Ok(s)
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// A run from the 15 leading columns of a `runs` query: `RUN_COLS`, then the newest
    /// frame's time.
    fn stored_run(&self, r: &postgres::Row) -> Result<StoredRun, StoreError> {
        let id: String = r.get(0);
        let status = parse_status(&self.name, &id, r.get(3))?;
        Ok(StoredRun {
            record: RunRecord {
                id,
                started_unix_s: r.get(1),
                finished_unix_s: r.get(2),
                status,
                host_json: r.get(4),
                dataset_name: r.get(5),
                dataset_hash: r.get(6),
                camera: r.get(7),
                baseline: r.get(8),
                builds_json: r.get(9),
                detector_json: r.get(10),
                mode: r.get(11),
                repeats: r.get::<_, Option<i64>>(12).map(|n| n as u32),
                heartbeat_unix_s: r.get(13),
            },
            last_frame_unix_s: r.get(14),
        })
    }

    fn client(&self) -> MutexGuard<'_, postgres::Client> {
        // A panic elsewhere while holding the lock leaves the connection itself usable.
        self.client.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, cause: postgres::Error) -> StoreError {
        StoreError::Postgres {
            store: self.name.clone(),
            cause,
        }
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let known = MIGRATIONS.len() as i64;
        let mut c = self.client();
        let e = |cause| StoreError::Postgres {
            store: self.name.clone(),
            cause,
        };
        let mut tx = c.transaction().map_err(e)?;
        tx.execute("SELECT pg_advisory_xact_lock(7365761)", &[])
            .map_err(e)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY)")
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
        tx.commit().map_err(e)
    }
}

impl Backend for Postgres {
    fn version(&self) -> Result<i64, StoreError> {
        let row = self
            .client()
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_version",
                &[],
            )
            .map_err(|e| self.err(e))?;
        Ok(row.get(0))
    }

    fn create_run(&self, r: &RunRecord) -> Result<(), StoreError> {
        self.client()
            .execute(
                &format!("INSERT INTO runs ({RUN_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"),
                &[&r.id, &r.started_unix_s, &r.finished_unix_s, &r.status.as_str(), &r.host_json, &r.dataset_name, &r.dataset_hash, &r.camera, &r.baseline, &r.builds_json, &r.detector_json, &r.mode, &r.repeats.map(i64::from), &r.heartbeat_unix_s],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn runs(&self, id: Option<&str>) -> Result<Vec<StoredRun>, StoreError> {
        // The newest frame only where it can matter (a run still marked running).
        let rows = self
            .client()
            .query(
                &format!(
                    "SELECT {RUN_COLS}, CASE WHEN status = 'running' THEN (SELECT MAX(f.recorded_unix_s) FROM frame_results f WHERE f.run_id = runs.id) END
                     FROM runs WHERE ($1::TEXT IS NULL OR id = $1) ORDER BY started_unix_s, id"
                ),
                &[&id],
            )
            .map_err(|e| self.err(e))?;
        rows.iter().map(|r| self.stored_run(r)).collect()
    }

    fn run_overviews(&self, limit: Option<u64>) -> Result<Vec<StoredOverview>, StoreError> {
        let limit = limit.map(|n| n.min(i64::MAX as u64) as i64);
        let rows = self
            .client()
            .query(
                &format!(
                    "SELECT {RUN_COLS}, CASE WHEN status = 'running' THEN (SELECT MAX(f.recorded_unix_s) FROM frame_results f WHERE f.run_id = runs.id) END,
                            (SELECT string_agg(DISTINCT f.board, ',') FROM frame_results f WHERE f.run_id = runs.id AND f.source = 'camera'),
                            (SELECT COUNT(*) FROM frame_results f WHERE f.run_id = runs.id AND f.source = 'camera'),
                            verdict_regressions, verdict_checks
                     FROM runs ORDER BY started_unix_s DESC, id DESC LIMIT $1"
                ),
                &[&limit],
            )
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok(StoredOverview {
                    run: self.stored_run(r)?,
                    boards: r.get(15),
                    camera_frames: r.get(16),
                    regressions: r.get(17),
                    checks: r.get(18),
                })
            })
            .collect()
    }

    fn record_verdict(&self, id: &str, v: RunVerdict) -> Result<(), StoreError> {
        self.client()
            .execute(
                "UPDATE runs SET verdict_regressions = $2, verdict_checks = $3 WHERE id = $1",
                &[&id, &(v.regressions as i64), &(v.checks as i64)],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn finish_run(&self, id: &str, status: RunStatus, at: f64) -> Result<(), StoreError> {
        self.client()
            .execute(
                "UPDATE runs SET status = $2, finished_unix_s = $3 WHERE id = $1",
                &[&id, &status.as_str(), &at],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn heartbeat(&self, id: &str, at: f64) -> Result<(), StoreError> {
        self.client()
            .execute(
                "UPDATE runs SET heartbeat_unix_s = $2 WHERE id = $1",
                &[&id, &at],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn record_frame(&self, f: &FrameRecord) -> Result<bool, StoreError> {
        self.client()
            .execute(
                "INSERT INTO frame_results (run_id, build, board, camera_serial, repeat, frame, source, latency_ms, detections_json, score_json, recorded_unix_s)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (run_id, build, repeat, frame, source) DO NOTHING",
                &[&f.run_id, &f.build, &f.board, &f.camera_serial, &i64::from(f.repeat), &i64::from(f.frame), &f.source, &f.latency_ms, &f.detections_json, &f.score_json, &f.recorded_unix_s],
            )
            .map(|n| n == 1)
            .map_err(|e| self.err(e))
    }

    fn frames(&self, run_id: &str, build: Option<&str>) -> Result<Vec<FrameRecord>, StoreError> {
        let rows = self
            .client()
            .query(
                "SELECT run_id, build, board, camera_serial, repeat, frame, source, latency_ms, detections_json, score_json, recorded_unix_s FROM frame_results
                 WHERE run_id = $1 AND ($2::TEXT IS NULL OR build = $2) ORDER BY build, repeat, frame, source",
                &[&run_id, &build],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows
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
            .collect())
    }

    fn frame_count(&self, run_id: &str) -> Result<u64, StoreError> {
        let n: i64 = self
            .client()
            .query_one(
                "SELECT COUNT(*) FROM frame_results WHERE run_id = $1",
                &[&run_id],
            )
            .map_err(|e| self.err(e))?
            .get(0);
        Ok(n as u64)
    }

    fn copy_frames(&self, from: &str, to: &str, build: &str) -> Result<u64, StoreError> {
        const COLS: &str = "build, board, camera_serial, repeat, frame, source, latency_ms, detections_json, score_json, recorded_unix_s";
        self.client()
            .execute(
                &format!("INSERT INTO frame_results (run_id, {COLS}) SELECT $2, {COLS} FROM frame_results WHERE run_id = $1 AND (build = $3 OR source = 'host') ON CONFLICT (run_id, build, repeat, frame, source) DO NOTHING"),
                &[&from, &to, &build],
            )
            .map_err(|e| self.err(e))
    }

    fn create_bisect(&self, b: &BisectRecord) -> Result<(), StoreError> {
        self.client()
            .execute(
                "INSERT INTO bisects (id, started_unix_s, finished_unix_s, status, plan_json, state_json) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&b.id, &b.started_unix_s, &b.finished_unix_s, &b.status, &b.plan_json, &b.state_json],
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
        self.client()
            .execute(
                "UPDATE bisects SET status = $2, state_json = $3, finished_unix_s = $4 WHERE id = $1",
                &[&id, &status, &state_json, &end],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn bisect(&self, id: &str) -> Result<Option<BisectRecord>, StoreError> {
        let rows = self
            .client()
            .query(
                "SELECT id, started_unix_s, finished_unix_s, status, plan_json, state_json FROM bisects WHERE id = $1",
                &[&id],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows.first().map(|r| BisectRecord {
            id: r.get(0),
            started_unix_s: r.get(1),
            finished_unix_s: r.get(2),
            status: r.get(3),
            plan_json: r.get(4),
            state_json: r.get(5),
        }))
    }

    fn record_camera_event(&self, e: &CameraEvent) -> Result<(), StoreError> {
        self.client()
            .execute(
                "INSERT INTO camera_events (lab_run, host, camera, board, run_id, state, detail, recorded_unix_s)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[&e.lab_run, &e.host, &e.camera, &e.board, &e.run_id, &e.state, &e.detail, &e.recorded_unix_s],
            )
            .map(|_| ())
            .map_err(|err| self.err(err))
    }

    fn camera_events(&self, lab_run: Option<&str>) -> Result<Vec<CameraEvent>, StoreError> {
        let rows = self
            .client()
            .query(
                "SELECT lab_run, host, camera, board, run_id, state, detail, recorded_unix_s FROM camera_events
                 WHERE ($1::TEXT IS NULL OR lab_run = $1) ORDER BY recorded_unix_s, id",
                &[&lab_run],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows
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
            .collect())
    }

    fn reserve(&self, camera: &str, me: &Holder, at: f64) -> Result<Option<Holder>, StoreError> {
        let mut c = self.client();
        // A session advisory lock on this process's connection: the server frees it when
        // the connection ends, however the process ends, on any host. The row only says
        // who holds it.
        let got: bool = c
            .query_one(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 7365762))",
                &[&camera],
            )
            .map_err(|e| self.err(e))?
            .get(0);
        if got {
            c.execute(
                "INSERT INTO reservations (camera, holder, host, pid, since_unix_s, heartbeat_unix_s) VALUES ($1, $2, $3, $4, $5, $5)
                 ON CONFLICT (camera) DO UPDATE SET holder = $2, host = $3, pid = $4, since_unix_s = $5, heartbeat_unix_s = $5",
                &[&camera, &me.holder, &me.host, &i64::from(me.pid), &at],
            )
            .map_err(|e| self.err(e))?;
            return Ok(None);
        }
        let row = c
            .query_opt(
                "SELECT holder, host, pid, since_unix_s, heartbeat_unix_s FROM reservations WHERE camera = $1",
                &[&camera],
            )
            .map_err(|e| self.err(e))?;
        Ok(Some(match row {
            Some(r) => Holder {
                holder: r.get(0),
                host: r.get(1),
                pid: r.get::<_, i64>(2) as u32,
                since_unix_s: r.get(3),
                heartbeat_unix_s: r.get(4),
            },
            None => Holder {
                holder: "another visreg process".into(),
                host: String::new(),
                pid: 0,
                since_unix_s: at,
                heartbeat_unix_s: at,
            },
        }))
    }

    fn renew_reservations(&self, me: &Holder, at: f64) -> Result<(), StoreError> {
        self.client()
            .execute(
                "UPDATE reservations SET heartbeat_unix_s = $3 WHERE host = $1 AND pid = $2",
                &[&me.host, &i64::from(me.pid), &at],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn release(&self, camera: &str, me: &Holder) -> Result<(), StoreError> {
        let mut c = self.client();
        c.execute(
            "DELETE FROM reservations WHERE camera = $1 AND host = $2 AND pid = $3",
            &[&camera, &me.host, &i64::from(me.pid)],
        )
        .map_err(|e| self.err(e))?;
        c.query_one(
            "SELECT pg_advisory_unlock(hashtextextended($1, 7365762))",
            &[&camera],
        )
        .map(|_| ())
        .map_err(|e| self.err(e))
    }
}
