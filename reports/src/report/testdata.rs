//! A made-up run for the report's unit tests: three builds (a baseline, a slower one, one
//! that loses steep tags), a host, verdicts of each kind, a history and a gallery frame.

use visreg_bench::scoring::{FrameScore, MatchErrors, TagScore};
use visreg_bench::verdict::Verdict;
use visreg_datasets::SceneParams;

use super::*;
use crate::store::{RunRecord, RunStatus};

fn frame(i: u32, latency: f64, lose_steep: bool) -> FrameScore {
    let tags = (0..3)
        .map(|t| {
            let angle = f64::from((i * 7 + t * 20) % 60);
            let range = 0.2 + 0.05 * f64::from((i + t) % 12);
            let found = !(lose_steep && angle > 35.0);
            TagScore {
                id: t,
                range_m: range,
                view_angle_deg: angle,
                size_px: 30.0,
                matched: found.then_some(MatchErrors {
                    corner_rmse_px: 0.3 + 0.01 * f64::from(i % 10),
                    trans_err_m: Some(0.002),
                    trans_err_pct: Some(0.5 + 0.02 * f64::from(t)),
                    rot_err_deg: Some(0.8 + 0.05 * f64::from(i % 5)),
                }),
            }
        })
        .collect();
    FrameScore {
        tags,
        false_positives: u32::from(i % 17 == 0),
        id_errors: 0,
        scene: SceneParams::default(),
        latency_ms: Some(latency + 0.01 * f64::from(i % 9)),
        mem_free_bytes: Some(180_000.0 - 1200.0 * 3.0),
    }
}

fn build(name: &str, latency: f64, lose_steep: bool) -> BuildResults {
    BuildResults {
        name: name.into(),
        board: "OpenMV Cam H7 Plus".into(),
        camera: "/dev/pts/7".into(),
        frames: (0..2)
            .flat_map(|r| {
                (0..40).map(move |i| ScoredFrame {
                    frame: i,
                    repeat: r,
                    score: frame(i, latency, lose_steep),
                })
            })
            .collect(),
    }
}

fn entry(
    build: &str,
    metric: &str,
    bucket: Option<&str>,
    verdict: Verdict,
    c: f64,
) -> VerdictEntry {
    let latency = metric.starts_with("latency");
    VerdictEntry {
        build: build.into(),
        baseline: "5.0.0".into(),
        metric: metric.into(),
        bucket: bucket.map(String::from),
        verdict,
        change: Some(c),
        ci_low: Some(c - 0.01),
        ci_high: Some(c + 0.01),
        p_value: Some(1e-6),
        n: if latency { 200 } else { 415 },
        unit: if latency { "frame" } else { "tag" }.into(),
        test: Some(if latency {
            visreg_bench::verdict::TestName::WilcoxonApprox
        } else {
            visreg_bench::verdict::TestName::McnemarExact
        }),
        primary: bucket.is_none(),
        confounded: None,
        note: None,
    }
}

/// The made-up run.
pub fn input() -> ReportInput {
    let run = RunRecord {
        id: "run-1-abcd".into(),
        started_unix_s: 1.0,
        finished_unix_s: Some(2.0),
        status: RunStatus::Done,
        host_json: r#"{"os":"linux"}"#.into(),
        dataset_name: "qvga-basic".into(),
        dataset_hash: "0123456789abcdef0123".into(),
        camera: "virtual camera <&>".into(),
        baseline: "5.0.0".into(),
        builds_json: r#"["5.0.0","5.1.0-rc1","5.1.0-rc3"]"#.into(),
        detector_json: "{}".into(),
        mode: "replay".into(),
        repeats: Some(3),
        heartbeat_unix_s: Some(1.5),
    };
    let history = vec![HistorySeries {
        metric: "latency_ms".into(),
        points: (0..8)
            .map(|i| HistoryPoint {
                run_id: format!("run-{i}"),
                started_unix_s: f64::from(i),
                build: "5.0.0".into(),
                value: if i < 4 { 4.5 } else { 5.6 },
                change_point: i == 4,
                source: "host-a / sim".into(),
            })
            .collect(),
    }];
    let png = {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, 4, 3);
        enc.set_color(png::ColorType::Grayscale);
        enc.write_header()
            .unwrap()
            .write_image_data(&[128; 12])
            .unwrap();
        out
    };
    ReportInput {
        run,
        builds: vec![
            build("5.0.0", 4.5, false),
            build("5.1.0-rc1", 5.6, false),
            build("5.1.0-rc3", 4.4, true),
        ],
        host: (0..40)
            .map(|i| FrameScore {
                mem_free_bytes: None,
                ..frame(i, 3.0, false)
            })
            .collect(),
        verdicts: vec![
            entry("5.1.0-rc1", "latency_ms", None, Verdict::Regressed, 0.25),
            entry("5.1.0-rc1", "recall", None, Verdict::Unchanged, 0.0),
            entry("5.1.0-rc3", "recall", None, Verdict::Regressed, -0.25),
            entry(
                "5.1.0-rc3",
                "recall",
                Some("angle:45-60"),
                Verdict::Regressed,
                -0.6,
            ),
            // Its interval straddles rotation error's 25 % threshold.
            VerdictEntry {
                ci_low: Some(-0.05),
                ci_high: Some(0.35),
                ..entry("5.1.0-rc3", "rot_err_deg", None, Verdict::Inconclusive, 0.1)
            },
            VerdictEntry {
                confounded: Some("faster because it finds fewer tags (recall -25.0 pts)".into()),
                ..entry("5.1.0-rc3", "latency_ms", None, Verdict::Improved, -0.05)
            },
        ],
        history,
        history_labels: vec![("5.0.0".into(), "firmware 5.0.0, commit 1a2b3c4".into())],
        gallery: vec![GalleryFrame {
            frame: 3,
            caption: "frame 3: 5.1.0-rc3 missed 1 tag the host found".into(),
            width: 4,
            height: 3,
            png,
            truth: vec![(0, [[0.5, 0.5], [3.5, 0.5], [3.5, 2.5], [0.5, 2.5]])],
            detections: vec![
                ("5.1.0-rc3".into(), vec![]),
                (
                    "5.0.0".into(),
                    vec![(0, [[0.6, 0.5], [3.5, 0.6], [3.4, 2.5], [0.5, 2.4]])],
                ),
                (
                    "host".into(),
                    vec![(0, [[0.6, 0.5], [3.5, 0.6], [3.4, 2.5], [0.5, 2.4]])],
                ),
            ],
            build: "5.1.0-rc3".into(),
            missed: vec![MissedTag {
                outline: (0, [[0.5, 0.5], [3.5, 0.5], [3.5, 2.5], [0.5, 2.5]]),
                range_m: 0.62,
                view_angle_deg: 43.5,
                size_px: 24.0,
                baseline_found: true,
                host_found: true,
            }],
        }],
    }
}
