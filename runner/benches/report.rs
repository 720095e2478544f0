//! The report of a large run: 5 builds × 500 frames × 3 repetitions (7 500 camera rows and
//! 500 host rows in an SQLite store, on a 500-frame QVGA dataset), read back, judged and
//! written — index.html with every chart and the gallery, summary.md, junit.xml,
//! bmf/<build>.json. Target: under 5 s. `cargo bench -p visreg --bench report` prints the time of
//! the whole and of its parts.

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use visreg_bench::{score_frame, MatchConfig};
use visreg_datasets::{preset, DetectedTag, Family};
use visreg_reports::store::{FrameRecord, RunRecord, RunStatus, Store};

const BUILDS: [&str; 5] = ["5.0.0", "5.0.1", "5.1.0-rc1", "5.1.0-rc2", "5.1.0-rc3"];
const FRAMES: usize = 500;
const REPEATS: u32 = 3;

/// Camera-like detections of the truth: integer corners, poses from the truth (none for
/// rc2), steep tags lost on rc3.
fn detections(truth: &visreg_datasets::FrameTruth, build: &str) -> Vec<DetectedTag> {
    truth
        .tags
        .iter()
        .filter(|t| {
            build != "5.1.0-rc3"
                || t.pose.rotation.matrix()[(2, 2)].abs() > 35f64.to_radians().cos()
        })
        .map(|t| {
            let corners = t
                .corners
                .map(|c| nalgebra::Point2::new(c.x.round(), c.y.round()));
            DetectedTag {
                family: Family::Tag36h11,
                id: t.id,
                center: t.center_px(),
                corners,
                hamming: 0,
                decision_margin: 0.5,
                pose: (build != "5.1.0-rc2").then_some(t.pose),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = preset::find("qvga-basic").expect("preset");
    let ds =
        visreg_datasets::generate::generate(p, 7, Some(FRAMES), &dir.path().join("ds"), &|_| {})
            .expect("dataset");
    let store = Store::open_sqlite(&dir.path().join("s.sqlite")).expect("store");
    let run_id = "run-bench";
    store
        .create_run(&RunRecord {
            id: run_id.into(),
            started_unix_s: 1.0,
            finished_unix_s: Some(2.0),
            status: RunStatus::Done,
            host_json: "{}".into(),
            dataset_name: "bench".into(),
            dataset_hash: ds.content_hash().expect("hash"),
            camera: "sim".into(),
            baseline: "5.0.0".into(),
            builds_json: serde_json::to_string(&BUILDS).expect("json"),
            detector_json: "{}".into(),
            mode: "replay".into(),
            repeats: None,
            heartbeat_unix_s: None,
        })
        .expect("run");
    let cfg = MatchConfig::default();
    let row = |build: &str, repeat: u32, frame: usize, source: &str, latency: f64| {
        let truth = &ds.frames[frame];
        let dets = detections(truth, if source == "host" { "host" } else { build });
        let score = score_frame(truth, &dets, Some(latency), &cfg);
        store
            .record_frame(&FrameRecord {
                run_id: run_id.into(),
                build: build.into(),
                board: "OpenMV Cam H7 Plus".into(),
                camera_serial: "sim".into(),
                repeat,
                frame: frame as u32,
                source: source.into(),
                latency_ms: Some(latency),
                detections_json: serde_json::to_string(&dets).expect("json"),
                score_json: serde_json::to_string(&score).expect("json"),
                recorded_unix_s: 1.5,
            })
            .expect("row");
    };
    for f in 0..FRAMES {
        row("host", 0, f, "host", 5.0 + (f % 7) as f64 * 0.1);
    }
    for (bi, b) in BUILDS.iter().enumerate() {
        for r in 0..REPEATS {
            for f in 0..FRAMES {
                let slow = if *b == "5.1.0-rc1" { 1.25 } else { 1.0 };
                row(
                    b,
                    r,
                    f,
                    "camera",
                    slow * (40.0 + (f % 9) as f64 + 0.01 * (bi as f64 + f64::from(r))),
                );
            }
        }
    }

    let out = dir.path().join("report");
    let t0 = Instant::now();
    let input = visreg::report::gather(&store, run_id, Some(&ds), None).expect("gather");
    let gathered = t0.elapsed();
    visreg::report::write(&input, &out).expect("write");
    let total = t0.elapsed();
    let html = std::fs::metadata(out.join("index.html"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "report of 5 builds × {FRAMES} frames × {REPEATS} repetitions: {:.2} s (read + judge {:.2} s, render + write {:.2} s); index.html {} KiB, {} gallery frames, {} checks",
        total.as_secs_f64(),
        gathered.as_secs_f64(),
        (total - gathered).as_secs_f64(),
        html / 1024,
        input.gallery.len(),
        input.verdicts.len()
    );

    let mut g = c.benchmark_group("report");
    g.sample_size(10);
    g.bench_function("gather_judge_render_write_5x500x3", |b| {
        b.iter(|| {
            let input = visreg::report::gather(&store, run_id, Some(&ds), None).expect("gather");
            visreg::report::write(&input, &out).expect("write");
        })
    });
    g.bench_function("render_only", |b| {
        b.iter(|| visreg_reports::report::html(&input).len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
