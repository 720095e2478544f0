//! Store throughput: measurements per second written by 8 concurrent workers, each with
//! its own connection and writing one frame result per statement as `visreg run` does
//! (so a run that dies loses nothing), to SQLite (WAL, one file) and to PostgreSQL (when
//! VISREG_BENCH_POSTGRES or VISREG_TEST_POSTGRES names a server). Checks every row landed
//! exactly once. `cargo bench -p visreg-reports --bench store` prints the figures.

use std::time::Instant;

use visreg_reports::store::{FrameRecord, RunRecord, RunStatus, Store};

const WORKERS: usize = 8;
const PER_WORKER: u32 = 1000;

fn record(run: &str, worker: usize, frame: u32) -> FrameRecord {
    FrameRecord {
        run_id: run.into(),
        build: format!("build-{worker}"),
        board: "OpenMV Cam H7 Plus".into(),
        camera_serial: format!("cam-{worker}"),
        repeat: 0,
        frame,
        source: "camera".into(),
        latency_ms: Some(40.0 + f64::from(frame % 7)),
        // The size of a real row: three tags with corners and poses, and their scores.
        detections_json: format!("[{}]", [r#"{"family":"tag36h11","id":3,"corners":[[101.0,52.0],[140.0,55.0],[138.0,93.0],[99.0,90.0]],"center":[119.5,72.5],"hamming":0,"decision_margin":0.41,"pose":{"rotation":[[0.98,0.01,0.2],[0.0,1.0,-0.05],[-0.2,0.05,0.98]],"translation_m":[0.02,-0.01,0.42]}}"#; 3].join(",")),
        score_json: format!("{{\"tags\":[{}],\"false_positives\":0,\"id_errors\":0,\"scene\":{{}},\"latency_ms\":41.0}}", [r#"{"id":3,"range_m":0.42,"view_angle_deg":12.0,"size_px":38.0,"matched":{"corner_rmse_px":0.41,"trans_err_m":0.001,"trans_err_pct":0.2,"rot_err_deg":0.7}}"#; 3].join(",")),
        recorded_unix_s: 1.0,
    }
}

fn bench(name: &str, spec: &str) {
    let run = format!("bench-{}-{}", name, std::process::id());
    let setup = Store::open(spec).expect("store");
    setup
        .create_run(&RunRecord {
            id: run.clone(),
            started_unix_s: 1.0,
            finished_unix_s: None,
            status: RunStatus::Running,
            host_json: "{}".into(),
            dataset_name: "bench".into(),
            dataset_hash: "sha256:bench".into(),
            camera: "bench".into(),
            baseline: "build-0".into(),
            builds_json: "[]".into(),
            detector_json: "{}".into(),
            mode: "replay".into(),
            repeats: None,
            heartbeat_unix_s: None,
        })
        .expect("run");
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for w in 0..WORKERS {
            let (run, spec) = (&run, spec);
            s.spawn(move || {
                let store = Store::open(spec).expect("store");
                for f in 0..PER_WORKER {
                    assert!(store.record_frame(&record(run, w, f)).expect("write"));
                }
            });
        }
    });
    let secs = t0.elapsed().as_secs_f64();
    let n = setup.frame_count(&run).expect("count");
    assert_eq!(
        n,
        (WORKERS as u64) * u64::from(PER_WORKER),
        "every row exactly once"
    );
    println!(
        "{name}: {n} measurements by {WORKERS} concurrent workers in {secs:.2} s = {:.0} measurements/s",
        n as f64 / secs
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    bench(
        "sqlite",
        &dir.path().join("bench.sqlite").display().to_string(),
    );
    match std::env::var("VISREG_BENCH_POSTGRES").or_else(|_| std::env::var("VISREG_TEST_POSTGRES"))
    {
        Ok(url) => bench("postgresql", &url),
        Err(_) => println!("postgresql: skipped (set VISREG_BENCH_POSTGRES=postgres://…)"),
    }
}
