//! Gathers a run's report from the store (and the dataset, for the gallery's frames) and
//! writes its files: `index.html`, `summary.md`, `junit.xml`, `bmf/<build>.json`. The formats
//! themselves are pure functions in `visreg_reports::report`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use visreg_bench::scoring::FrameScore;
use visreg_datasets::{Dataset, DetectedTag};
use visreg_reports::report::{
    bmf_documents, html, junit_xml, outlines, summary_md, worst_misses, BuildResults, GalleryFrame,
    MissedTag, ReportInput, ScoredFrame,
};
use visreg_reports::store::Store;

use crate::run::{histories, verdicts, RunError, VerdictEntry};

/// Frames in the gallery of worst misses.
pub const GALLERY_FRAMES: usize = 6;

/// Metrics the history page (and the run report's history section) charts: time (median
/// and tail), recall, and the pose.
pub const HISTORY_PAGE_METRICS: [&str; 7] = [
    "latency_ms",
    "latency_ms_p90",
    "recall",
    "pose_coverage",
    "corner_err_px",
    "trans_err_pct",
    "rot_err_deg",
];

/// Reads run `run_id` back from `store`. `dataset` (the run's own, checked by hash) gives
/// the gallery its frames; without it the gallery is left out. `judged` are the run's
/// verdicts when the caller has them (the end of `visreg run`); else they are judged again
/// from the store (deterministic: no test resamples).
pub fn gather(
    store: &Store,
    run_id: &str,
    dataset: Option<&Dataset>,
    judged: Option<Vec<VerdictEntry>>,
) -> Result<ReportInput, RunError> {
    let run = store.run(run_id)?.ok_or_else(|| RunError::NoRun {
        id: run_id.into(),
        store: store.name().to_string(),
    })?;
    let names: Vec<String> = serde_json::from_str(&run.builds_json).unwrap_or_default();
    let mut builds = Vec::new();
    let mut detections: HashMap<(String, u32), Vec<DetectedTag>> = HashMap::new();
    for name in &names {
        let records = store.frames(run_id, Some(name))?;
        let first = records.iter().find(|r| r.source == "camera");
        let mut b = BuildResults {
            name: name.clone(),
            board: first.map(|r| r.board.clone()).unwrap_or_default(),
            camera: first.map(|r| r.camera_serial.clone()).unwrap_or_default(),
            frames: Vec::new(),
        };
        for r in records.iter().filter(|r| r.source == "camera") {
            if let Ok(score) = serde_json::from_str::<FrameScore>(&r.score_json) {
                b.frames.push(ScoredFrame {
                    frame: r.frame,
                    repeat: r.repeat,
                    score,
                });
            }
            if r.repeat == 0 {
                detections.insert(
                    (name.clone(), r.frame),
                    serde_json::from_str(&r.detections_json).unwrap_or_default(),
                );
            }
        }
        b.frames.sort_by_key(|f| (f.repeat, f.frame));
        builds.push(b);
    }
    let mut host_records: Vec<_> = store
        .frames(run_id, Some("host"))?
        .into_iter()
        .filter(|r| r.source == "host")
        .collect();
    host_records.sort_by_key(|r| r.frame);
    let host: Vec<FrameScore> = host_records
        .iter()
        .filter_map(|r| serde_json::from_str(&r.score_json).ok())
        .collect();
    for r in &host_records {
        detections.insert(
            ("host".into(), r.frame),
            serde_json::from_str(&r.detections_json).unwrap_or_default(),
        );
    }
    let verdicts = match judged {
        Some(v) => v,
        // A stored run is re-judged with the units its mode had.
        None => verdicts(
            store,
            run_id,
            &names,
            &run.baseline,
            if run.mode == "live" {
                crate::run::Units::Live
            } else {
                crate::run::Units::Replay
            },
        )?,
    };
    // The history of this run's builds on this dataset, every run read once.
    // The same metrics and build labels as the history page, so the run's page is its
    // first screen.
    let mut series = histories(
        store,
        None,
        None,
        Some(&run.dataset_hash),
        &HISTORY_PAGE_METRICS,
    )?;
    for h in &mut series {
        h.points.retain(|p| names.contains(&p.build));
    }
    let history_labels = firmware_labels(&names);
    let mut gallery = Vec::new();
    if let Some(ds) = dataset {
        let first_score = |build: &str, frame: u32| {
            builds
                .iter()
                .find(|b| b.name == build)
                .and_then(|b| b.frames.iter().find(|f| f.repeat == 0 && f.frame == frame))
                .map(|f| &f.score)
        };
        for m in worst_misses(&builds, &run.baseline, &host, GALLERY_FRAMES) {
            let (i, frame) = (m.frame as usize, m.frame);
            let (Some(truth), Ok(png)) = (ds.frames.get(i), std::fs::read(ds.frame_path(i))) else {
                continue;
            };
            // Every frame of a dataset has its camera's size.
            let (width, height) = (ds.manifest.camera.width, ds.manifest.camera.height);
            let build = &builds[m.build].name;
            let mut drawn = vec![(
                build.clone(),
                outlines(
                    detections
                        .get(&(build.clone(), frame))
                        .map_or(&[][..], |v| v),
                ),
            )];
            // The baseline beside the candidate: what the regression lost is what the
            // baseline still finds.
            if *build != run.baseline {
                if let Some(b) = detections.get(&(run.baseline.clone(), frame)) {
                    drawn.push((run.baseline.clone(), outlines(b)));
                }
            }
            if let Some(h) = detections.get(&("host".to_string(), frame)) {
                drawn.push(("host".into(), outlines(h)));
            }
            let found_by = |score: Option<&FrameScore>, t: usize| {
                score
                    .and_then(|s| s.tags.get(t))
                    .is_some_and(|x| x.matched.is_some())
            };
            let missed: Vec<MissedTag> = first_score(build, frame)
                .map(|score| {
                    score
                        .tags
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| t.matched.is_none())
                        .filter_map(|(ti, t)| {
                            let truth_tag = truth.tags.get(ti)?;
                            Some(MissedTag {
                                outline: (truth_tag.id, truth_tag.corners.map(|c| [c.x, c.y])),
                                range_m: t.range_m,
                                view_angle_deg: t.view_angle_deg,
                                size_px: t.size_px,
                                baseline_found: found_by(first_score(&run.baseline, frame), ti),
                                host_found: found_by(host.get(i), ti),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            let base = if *build == run.baseline {
                String::new()
            } else {
                format!("the baseline {} found {}, ", run.baseline, m.baseline_found)
            };
            gallery.push(GalleryFrame {
                frame,
                caption: format!(
                    "frame {frame} ({}): {build} missed {} of {} truth tag(s); of those {base}the host {}",
                    truth.frame,
                    m.missed,
                    truth.tags.len(),
                    m.host_found
                ),
                width,
                height,
                png,
                truth: truth
                    .tags
                    .iter()
                    .map(|t| (t.id, t.corners.map(|c| [c.x, c.y])))
                    .collect(),
                detections: drawn,
                build: build.clone(),
                missed,
            });
        }
    }
    Ok(ReportInput {
        run,
        builds,
        host,
        verdicts,
        history: series,
        history_labels,
        gallery,
    })
}

/// The files of a report, beside the folder `bmf/` with one Bencher Metric Format file
/// per build (`bmf/<build>.json`, and `bmf/host.json`).
pub const REPORT_FILES: [&str; 3] = ["index.html", "summary.md", "junit.xml"];

/// The folder of a report that holds the BMF files.
pub const BMF_DIR: &str = "bmf";

/// Writes the report's files into `dir` (created if needed); returns their paths. A
/// `bmf/` left by an earlier report in the same folder is replaced, so it holds exactly
/// this run's builds.
pub fn write(input: &ReportInput, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let docs = [html(input), summary_md(input), junit_xml(input)];
    let mut out = Vec::new();
    for (name, text) in REPORT_FILES.iter().zip(docs) {
        let p = dir.join(name);
        std::fs::write(&p, text)?;
        out.push(p);
    }
    let bmf = dir.join(BMF_DIR);
    if bmf.is_dir() {
        for e in std::fs::read_dir(&bmf)? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "json") {
                std::fs::remove_file(p)?;
            }
        }
    }
    std::fs::create_dir_all(&bmf)?;
    for (_, file, text) in bmf_documents(input) {
        let p = bmf.join(file);
        std::fs::write(&p, text)?;
        out.push(p);
    }
    Ok(out)
}

/// Gathers the history page: every run in `store` on the dataset with `dataset_hash`
/// (default: the newest run's dataset), optionally only on `board`, from every host and
/// camera.
pub fn gather_history(
    store: &Store,
    dataset_hash: Option<&str>,
    board: Option<&str>,
) -> Result<visreg_reports::report::HistoryInput, RunError> {
    let all = store.runs()?;
    let hash = match dataset_hash {
        Some(h) => h.to_string(),
        None => all
            .iter()
            .max_by(|a, b| a.started_unix_s.total_cmp(&b.started_unix_s))
            .map(|r| r.dataset_hash.clone())
            .ok_or_else(|| RunError::NoRuns {
                store: store.name().to_string(),
            })?,
    };
    let runs: Vec<visreg_reports::report::HistoryRun> = all
        .into_iter()
        .filter(|r| r.dataset_hash == hash)
        .map(|r| {
            let host = serde_json::from_str::<visreg_reports::HostInfo>(&r.host_json)
                .map(|h| h.hostname)
                .unwrap_or_else(|_| "unknown".into());
            visreg_reports::report::HistoryRun { run: r, host }
        })
        .collect();
    let dataset = (
        runs.first()
            .map(|r| r.run.dataset_name.clone())
            .unwrap_or_default(),
        hash.clone(),
    );
    let series = histories(store, board, None, Some(&hash), &HISTORY_PAGE_METRICS)?;
    let mut names: Vec<String> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.build.clone()))
        .collect();
    names.sort();
    names.dedup();
    let labels = firmware_labels(&names);
    Ok(visreg_reports::report::HistoryInput {
        store: store.name().to_string(),
        dataset,
        runs,
        series,
        labels,
    })
}

/// Each of `names` the catalog knows with its [`firmware_label`].
fn firmware_labels(names: &[String]) -> Vec<(String, String)> {
    let catalog = visreg_firmware::catalog::Catalog::builtin();
    names
        .iter()
        .filter_map(|name| {
            let b = catalog.builds.iter().find(|b| &b.name == name)?;
            Some((name.clone(), firmware_label(b)))
        })
        .collect()
}

/// A build as a history's legend names it: the version the firmware reports and, where
/// the catalog has them, its places in series and the commit it was built from.
pub fn firmware_label(b: &visreg_firmware::catalog::Build) -> String {
    let mut parts = vec![format!("firmware {}", b.version)];
    for p in &b.series {
        let mut place = format!("{} {}", p.name, p.order);
        if let Some(c) = &p.commit {
            place.push_str(&format!(
                ", commit {}",
                c.chars().take(10).collect::<String>()
            ));
        }
        parts.push(place);
    }
    parts.join(" · ")
}
