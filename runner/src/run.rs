//! `visreg run`, the suite's main job: for each repetition, for each build in turn
//! (interleaved, so slow drift hits every build alike) flash it, check its version, replay
//! the dataset through the camera's find_apriltags, convert and score; the host reference
//! detector sees the same frames once. Every frame's result is written to the store as it
//! arrives, so a run that dies keeps what it measured and `--resume` finishes it without
//! writing anything twice. Then every candidate is judged against the baseline.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use visreg_apriltag::{DetectorSettings, GrayImage};
use visreg_bench::detector::PoseParams;
use visreg_bench::metrics::{self, metric_def, metric_defs, metric_rules, samples, MetricDef, Per};
use visreg_bench::scoring::FrameScore;
use visreg_bench::verdict::{judge_family, Check, JudgeConfig, Verdict};
use visreg_bench::{score_frame, BucketAxis, HostDetector, MatchConfig};
use visreg_datasets::Dataset;
use visreg_firmware::catalog::Build;
pub use visreg_reports::report::{HistoryPoint, HistorySeries, VerdictEntry};
use visreg_reports::store::{now_unix_s, FrameRecord, Store};

use crate::check::{replay, CheckError};
use crate::flash::{flash_camera, FlashDeadlines};
use crate::link::{SerialTransport, DEBUG_BAUD};

/// Progress of a run, as values.
#[derive(Clone, Debug, PartialEq)]
pub enum RunEvent {
    /// A phase started for a build.
    Phase {
        /// Build.
        build: String,
        /// Repetition.
        repeat: u32,
        /// What.
        phase: String,
    },
    /// The host reference detector started on the dataset's frames (before any build,
    /// when the sensor shows the dataset).
    Host {
        /// Frames it has left to detect.
        frames: u64,
    },
    /// A frame was measured.
    Frame {
        /// Frames measured so far (all builds, repetitions and the host).
        done: u64,
        /// Frames to measure in all.
        total: u64,
    },
}

/// What to run.
pub struct RunPlan {
    /// Run id.
    pub run_id: String,
    /// The camera's port.
    pub port: String,
    /// Builds, in order.
    pub builds: Vec<Build>,
    /// The baseline build's name.
    pub baseline: String,
    /// The dataset.
    pub dataset: Dataset,
    /// Repetitions.
    pub repeats: u32,
    /// Replay dataset frames, or let the camera capture (virtual sensor).
    pub live: bool,
    /// Check the camera's health (it answers and names its firmware) before each build,
    /// as a lab does; a failed check ends the run with [`RunError::Unhealthy`].
    pub health_check: bool,
    /// The camera's sensor shows the dataset's very frames (replay; the virtual camera in
    /// live mode). False for a real camera on a rig in live mode: the dataset then only
    /// gives the truth (the fixture's), and the host reference runs on the captures.
    pub sensor_shows_dataset: bool,
    /// The build the camera is known to run already (a bisect measuring one build's
    /// repetitions back to back): it is not flashed again before measuring.
    pub on_camera: Option<String>,
    /// The folder the catalog's relative image paths start from (its file's folder).
    pub image_base: std::path::PathBuf,
}

/// What a run left behind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executed {
    /// The camera's port now (a USB camera may come back on another tty).
    pub port: String,
    /// The build the camera runs now, when the run flashed or found one.
    pub on_camera: Option<String>,
    /// Flashes made.
    pub flashes: u32,
}

/// Errors of a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] visreg_reports::store::StoreError),
    /// Checking, replaying to or capturing from the camera failed.
    #[error(transparent)]
    Check(#[from] CheckError),
    /// The camera's serial port would not open.
    #[error("{port}: {error}")]
    Open {
        /// The port.
        port: String,
        /// Why.
        error: visreg_firmware::transport::TransportError,
    },
    /// The host reference detector failed.
    #[error(transparent)]
    Detector(#[from] visreg_apriltag::Error),
    /// A dataset frame would not load (shown, not chained: it says its own cause).
    #[error("{0}")]
    Dataset(visreg_datasets::DatasetError),
    /// A build's images could not be planned for flashing.
    #[error(transparent)]
    Plan(#[from] visreg_firmware::catalog::CatalogError),
    /// The store failed to keep a camera frame's result while measuring. Apart from
    /// [`RunError::Store`] as before this type existed: a lab treats it as the camera's
    /// trouble (power cycle, then quarantine), not as the store's.
    #[error("{0}")]
    Record(visreg_reports::store::StoreError),
    /// The camera failed its health check before a build (the check's own error is
    /// shown, not chained).
    #[error("health check failed: {0}")]
    Unhealthy(CheckError),
    /// Stored score rows that do not parse: judging without them would judge less than
    /// was measured.
    #[error("run {run}: {rows} stored score row(s) of build {build} do not parse (first: {first}): the store is damaged or was written by another visreg; a verdict without them would leave out what was measured — re-measure the build (a new run), or restore the store from a backup")]
    Unreadable {
        /// Run.
        run: String,
        /// Build.
        build: String,
        /// How many rows.
        rows: usize,
        /// The first, with why.
        first: String,
    },
    /// A build could not be flashed, or did not boot after flashing.
    #[error("{message}")]
    Flash {
        /// The build.
        build: String,
        /// What went wrong.
        message: String,
    },
    /// No run of that id.
    #[error("no run {id} in {store}")]
    NoRun {
        /// The run id asked for.
        id: String,
        /// Where it was looked for.
        store: String,
    },
    /// The store holds no run at all.
    #[error(
        "{store} holds no run yet: `visreg run --store {store}` (or `--lab`) writes runs there"
    )]
    NoRuns {
        /// The store.
        store: String,
    },
    /// Two runs of different datasets cannot be compared.
    #[error("runs {a} and {b} measured different datasets ({a_dataset} and {b_dataset}): their frames cannot be paired; compare runs of the same dataset")]
    DifferentDatasets {
        /// The baseline run.
        a: String,
        /// The candidate run.
        b: String,
        /// The baseline run's dataset.
        a_dataset: String,
        /// The candidate run's dataset.
        b_dataset: String,
    },
    /// A metric name not known.
    #[error("unknown metric '{0}' (known: {known})", known = metric_rules().iter().map(|(m, _)| *m).collect::<Vec<_>>().join(", "))]
    UnknownMetric(String),
}

fn key(build: &str, repeat: u32, frame: u32, source: &str) -> String {
    format!("{build}\u{1f}{repeat}\u{1f}{frame}\u{1f}{source}")
}

/// How often a run says it is alive (well inside `store::STALE_AFTER`).
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// Runs `plan`, writing to `store`; stops cleanly (returning Ok) when `stop` is set.
pub fn execute(
    plan: &RunPlan,
    store: &Store,
    stop: &AtomicBool,
    on_event: &dyn Fn(RunEvent),
) -> Result<Executed, RunError> {
    let ds = &plan.dataset;
    let n = ds.frames.len();
    let done_keys: HashSet<String> = store
        .frames(&plan.run_id, None)?
        .into_iter()
        .map(|f| key(&f.build, f.repeat, f.frame, &f.source))
        .collect();
    let total = (n * (1 + plan.builds.len() * plan.repeats as usize)) as u64;
    // Frames measured so far; a Cell because both the host and the camera paths count.
    let done = std::cell::Cell::new(done_keys.len() as u64);
    // A sign of life every HEARTBEAT, so a run that dies without a word (SIGKILL, a host
    // losing power) reads interrupted, not running forever; see `store::STALE_AFTER`.
    let last_beat = std::cell::Cell::new(std::time::Instant::now());
    let beat = || {
        if last_beat.get().elapsed() >= HEARTBEAT {
            last_beat.set(std::time::Instant::now());
            if let Err(e) = store.heartbeat(&plan.run_id) {
                tracing::warn!("run {}: heartbeat not stored: {e}", plan.run_id);
            }
        }
    };
    let tick = || {
        beat();
        done.set(done.get() + 1);
        on_event(RunEvent::Frame {
            done: done.get(),
            total,
        });
    };
    // The host reference detector, once per frame.
    let settings = DetectorSettings::reference(ds.manifest.tags.family);
    let host = HostDetector::new(settings)?;
    let pose = PoseParams {
        intrinsics: ds.manifest.intrinsics(),
        tag_size_m: ds.manifest.tags.size_m,
    };
    // The host reference on frame `i`'s pixels: its tags, detection time and score.
    let host_detect =
        |i: usize,
         width: u32,
         height: u32,
         pixels: &[u8]|
         -> Result<(usize, Vec<visreg_datasets::DetectedTag>, f64, FrameScore), RunError> {
            let t0 = std::time::Instant::now();
            let tags = host.detect(GrayImage::new(width, height, pixels), Some(pose))?;
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            let score = score_frame(&ds.frames[i], &tags, Some(ms), &MatchConfig::default());
            Ok((i, tags, ms, score))
        };
    // Stored as the frame's host row.
    let host_record = |(i, tags, ms, score): (
        usize,
        Vec<visreg_datasets::DetectedTag>,
        f64,
        FrameScore,
    )|
     -> Result<(), RunError> {
        store.record_frame(&FrameRecord {
            run_id: plan.run_id.clone(),
            build: "host".into(),
            board: "host".into(),
            camera_serial: "host".into(),
            repeat: 0,
            frame: i as u32,
            source: "host".into(),
            latency_ms: Some(ms),
            detections_json: serde_json::to_string(&tags).unwrap_or_default(),
            score_json: serde_json::to_string(&score).unwrap_or_default(),
            recorded_unix_s: now_unix_s(),
        })?;
        Ok(())
    };
    let host_row = |i: usize, width: u32, height: u32, pixels: &[u8]| -> Result<(), RunError> {
        host_record(host_detect(i, width, height, pixels)?)
    };
    let mut host_done: HashSet<usize> = (0..n)
        .filter(|&i| done_keys.contains(&key("host", 0, i as u32, "host")))
        .collect();
    // When the sensor shows the dataset (replay, or the virtual camera's live sensor) the
    // host sees the dataset's frames up front; a real sensor's captures are only known
    // as they arrive, so then the host sees each frame's first capture (below).
    let mut state = Executed {
        port: plan.port.clone(),
        on_camera: plan.on_camera.clone(),
        flashes: 0,
    };
    if plan.sensor_shows_dataset {
        let left = (0..n).filter(|i| !host_done.contains(i)).count();
        if left > 0 {
            on_event(RunEvent::Host {
                frames: left as u64,
            });
        }
        use rayon::prelude::*;
        let missing: Vec<usize> = (0..n).filter(|i| !host_done.contains(i)).collect();
        // Detected on every core a chunk at a time (one detector each, from the host
        // detector's pool), stored here in frame order: the store is this thread's.
        for chunk in missing.chunks(32) {
            if stop.load(Ordering::Relaxed) {
                return Ok(state);
            }
            let rows: Vec<_> = chunk
                .par_iter()
                .map(|&i| {
                    let f = ds.load_frame(i).map_err(RunError::Dataset)?;
                    host_detect(i, f.width, f.height, &f.pixels)
                })
                .collect::<Result<_, RunError>>()?;
            for row in rows {
                let i = row.0;
                host_record(row)?;
                host_done.insert(i);
                tick();
            }
        }
    }
    for repeat in 0..plan.repeats {
        for build in &plan.builds {
            if stop.load(Ordering::Relaxed) {
                return Ok(state);
            }
            let missing: Vec<usize> = (0..n)
                .filter(|&i| !done_keys.contains(&key(&build.name, repeat, i as u32, "camera")))
                .collect();
            if missing.is_empty() {
                continue;
            }
            let port = state.port.clone();
            beat();
            if plan.health_check {
                on_event(RunEvent::Phase {
                    build: build.name.clone(),
                    repeat,
                    phase: "health check".into(),
                });
                crate::check::health_check(&port, crate::check::HEALTH_DEADLINE, Some(build.board))
                    .map_err(RunError::Unhealthy)?;
            }
            if state.on_camera.as_deref() != Some(build.name.as_str()) {
                on_event(RunEvent::Phase {
                    build: build.name.clone(),
                    repeat,
                    phase: "flashing".into(),
                });
                let writes = build.plan(&plan.image_base)?;
                let t =
                    SerialTransport::open(&port, DEBUG_BAUD).map_err(|error| RunError::Open {
                        port: port.clone(),
                        error,
                    })?;
                // Whatever the camera ran is gone once a flash begins.
                state.on_camera = None;
                state.flashes += 1;
                // A USB camera may come back on another tty: follow it.
                let flashed = flash_camera(
                    t,
                    build,
                    &writes,
                    FlashDeadlines::default(),
                    &crate::select::NusbBus,
                    Arc::new(|_| {}),
                )
                .map_err(|e| RunError::Flash {
                    build: build.name.clone(),
                    message: e.to_string(),
                })?;
                state.port = flashed.port;
                state.on_camera = Some(build.name.clone());
            }
            let port = state.port.clone();
            on_event(RunEvent::Phase {
                build: build.name.clone(),
                repeat,
                phase: "measuring".into(),
            });
            let t = SerialTransport::open(&port, DEBUG_BAUD).map_err(|error| RunError::Open {
                port: port.clone(),
                error,
            })?;
            let mut err = None;
            let missing_set: HashSet<usize> = missing.iter().copied().collect();
            let mut record = |cf: crate::check::CameraFrame| -> Result<(), CheckError> {
                if !missing_set.contains(&cf.index) {
                    return Ok(());
                }
                let latency_ms = cf.result.t_us.map(|us| us as f64 / 1e3);
                let mut score = score_frame(
                    &ds.frames[cf.index],
                    &cf.tags,
                    latency_ms,
                    &MatchConfig::default(),
                );
                score.mem_free_bytes = cf.result.mem_free.map(|m| m as f64);
                let r = store.record_frame(&FrameRecord {
                    run_id: plan.run_id.clone(),
                    build: build.name.clone(),
                    board: build.board.to_string(),
                    camera_serial: plan.port.clone(),
                    repeat,
                    frame: cf.index as u32,
                    source: "camera".into(),
                    latency_ms,
                    detections_json: serde_json::to_string(&cf.tags).unwrap_or_default(),
                    score_json: serde_json::to_string(&score).unwrap_or_default(),
                    recorded_unix_s: now_unix_s(),
                });
                if let Err(e) = r {
                    err = Some(e);
                    return Err(CheckError::FrameRefused("the store failed".into()));
                }
                tick();
                Ok(())
            };
            let outcome = if plan.live {
                crate::check::live(
                    t,
                    Some(build.board),
                    ds,
                    n,
                    Duration::from_secs(600),
                    stop,
                    &mut |cf, pixels| {
                        if plan.sensor_shows_dataset {
                            // The host's results and the truth are those of the dataset's
                            // frame: they hold only if the camera saw exactly that frame.
                            let want = ds.load_frame(cf.index).map_err(CheckError::Dataset)?;
                            if pixels != want.pixels {
                                return Err(CheckError::FrameRefused(format!(
                                    "live capture of frame {} is not the dataset's frame: the sensor does not show the dataset, so its truth does not apply (use --mode replay)",
                                    cf.index
                                )));
                            }
                        } else if !host_done.contains(&cf.index) {
                            // A rig: the truth is the fixture's, the pixels the sensor's.
                            let (w, h) = (ds.manifest.camera.width, ds.manifest.camera.height);
                            if pixels.len() != (w * h) as usize {
                                return Err(CheckError::FrameRefused(format!(
                                    "the camera captured {} bytes, not a {w}×{h} gray frame: set the camera's frame size to the fixture's",
                                    pixels.len()
                                )));
                            }
                            host_row(cf.index, w, h, &pixels)
                                .map_err(|e| CheckError::FrameRefused(e.to_string()))?;
                            host_done.insert(cf.index);
                            tick();
                        }
                        record(cf)
                    },
                )
            } else {
                replay(
                    t,
                    Some(build.board),
                    ds,
                    &missing,
                    Duration::from_secs(600),
                    stop,
                    &mut record,
                )
            };
            outcome.map_err(|e| match err.take() {
                Some(store) => RunError::Record(store),
                None => RunError::Check(e),
            })?;
        }
    }
    Ok(state)
}

/// How a run's repetitions count as evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Units {
    /// Replay: every repetition of a frame saw the same pixels, so a frame (and each of
    /// its tags) is one unit whatever the repetitions; latency is its repetitions' median.
    Replay,
    /// Live: every capture is a new sample of its rig pose.
    Live,
}

/// A build's camera units in `run_id`.
fn units_of(
    store: &Store,
    run_id: &str,
    build: &str,
    units: Units,
) -> Result<metrics::Units, RunError> {
    let mut records: Vec<(u32, u32, FrameScore)> = Vec::new();
    let mut unreadable = Vec::new();
    for f in store
        .frames(run_id, Some(build))?
        .into_iter()
        .filter(|f| f.source == "camera")
    {
        match serde_json::from_str(&f.score_json) {
            Ok(score) => records.push((f.frame, f.repeat, score)),
            Err(e) => unreadable.push(format!("frame {} repetition {}: {e}", f.frame, f.repeat)),
        }
    }
    // A row that does not parse is evidence the verdict would silently lack: say so.
    if let Some(first) = unreadable.first() {
        return Err(RunError::Unreadable {
            run: run_id.to_string(),
            build: build.to_string(),
            rows: unreadable.len(),
            first: first.clone(),
        });
    }
    Ok(match units {
        Units::Replay => metrics::replay_units(&records),
        Units::Live => metrics::live_units(&records),
    })
}

/// One check before judging: build, metric, bucket, paired samples, rule, weight.
struct Pending {
    metric: &'static str,
    bucket: Option<String>,
    x: Vec<f64>,
    y: Vec<f64>,
    def: MetricDef,
}

/// Judges every candidate build of `run_id` against `baseline`. Each build's primary
/// checks (every metric of [`metric_defs`]) are one family under weighted Holm; recall
/// per view-angle bucket is a second, drill-down family that says where a change lies
/// and cannot alone make a run fail.
pub fn verdicts(
    store: &Store,
    run_id: &str,
    builds: &[String],
    baseline: &str,
    units: Units,
) -> Result<Vec<VerdictEntry>, RunError> {
    use rayon::prelude::*;
    let base = units_of(store, run_id, baseline, units)?;
    let edges = BucketAxis::Angle.edges();
    let recall = metric_def("recall").expect("recall rule");
    let cfg = JudgeConfig::default();
    // Gather every build's samples first (the store is read on this thread), then judge
    // the builds in parallel: the tests are deterministic, and the order is kept.
    let mut families = Vec::new();
    for b in builds.iter().filter(|b| b.as_str() != baseline) {
        let cand = units_of(store, run_id, b, units)?;
        let mut primary = Vec::new();
        for def in metric_defs() {
            let (x, y) = metrics::paired(&base.units, &cand.units, def.name, None);
            if x.iter().chain(&y).all(|v| v.is_nan()) {
                // A metric neither build reports (memory on firmware 4.x) is not a check.
                continue;
            }
            if def.name == metrics::P99 && (x.len() as f64 * 0.01) < cfg.min_units as f64 {
                // Its tail would hold fewer units than any verdict needs.
                continue;
            }
            primary.push(Pending {
                metric: def.name,
                bucket: None,
                x,
                y,
                def,
            });
        }
        let mut drill = Vec::new();
        for w in 0..edges.len() {
            let (lo, hi) = (edges[w], edges.get(w + 1).copied().unwrap_or(90.0));
            let (x, y) = metrics::paired(&base.units, &cand.units, "recall", Some((lo, hi)));
            if x.is_empty() {
                // No truth tag at these angles (a dataset that stops at 50°): nothing to
                // judge, so not a check — counting it as inconclusive would be noise in
                // every report.
                continue;
            }
            drill.push(Pending {
                metric: "recall",
                bucket: Some(format!("angle:{lo}-{hi}")),
                x,
                y,
                def: MetricDef {
                    weight: 1.0,
                    ..recall
                },
            });
        }
        let note = (!cand.nondeterministic_frames.is_empty()
            || !base.nondeterministic_frames.is_empty())
        .then(|| {
            format!(
                "not deterministic: repetitions of the very same pixels scored differently on {} frame(s) of {b} and {} of {baseline}; the first repetition is judged",
                cand.nondeterministic_frames.len(),
                base.nondeterministic_frames.len()
            )
        });
        families.push((b.clone(), primary, drill, note));
    }
    let judged: Vec<Vec<VerdictEntry>> = families
        .into_par_iter()
        .map(|(build, primary, drill, note)| {
            let mut out = Vec::new();
            for (family, is_primary) in [(primary, true), (drill, false)] {
                let checks: Vec<Check<'_>> = family
                    .iter()
                    .map(|p| Check {
                        rule: p.def.rule,
                        weight: p.def.weight,
                        baseline: &p.x,
                        candidate: &p.y,
                    })
                    .collect();
                for (p, j) in family.iter().zip(judge_family(&checks, &cfg)) {
                    let e = j.evidence;
                    out.push(VerdictEntry {
                        build: build.clone(),
                        baseline: baseline.to_string(),
                        metric: p.metric.to_string(),
                        bucket: p.bucket.clone(),
                        verdict: j.verdict,
                        change: e.change,
                        ci_low: e.ci_low,
                        ci_high: e.ci_high,
                        p_value: Some(e.p_value),
                        n: e.n as u64,
                        unit: unit_name(units, &p.def).to_string(),
                        test: Some(e.test),
                        primary: is_primary,
                        confounded: None,
                        note: note.clone(),
                    });
                }
            }
            mark_confounded(&mut out);
            out
        })
        .collect();
    let entries: Vec<VerdictEntry> = judged.into_iter().flatten().collect();
    keep_verdict(store, run_id, builds, baseline, &entries)?;
    Ok(entries)
}

/// Keeps a finished run's verdict with it in the store, when `entries` judge the run
/// as planned (its own builds and baseline), so `visreg runs` lists it without judging
/// again. A store visreg may only read keeps nothing, and says nothing: the verdict is
/// still right, only not remembered.
fn keep_verdict(
    store: &Store,
    run_id: &str,
    builds: &[String],
    baseline: &str,
    entries: &[VerdictEntry],
) -> Result<(), RunError> {
    let Some(run) = store.run(run_id)? else {
        return Ok(());
    };
    let planned: Vec<String> = serde_json::from_str(&run.builds_json).unwrap_or_default();
    if run.status != visreg_reports::store::RunStatus::Done
        || run.baseline != baseline
        || planned != builds
    {
        return Ok(());
    }
    let v = visreg_reports::store::RunVerdict {
        regressions: entries
            .iter()
            .filter(|e| visreg_reports::report::fails_run(e))
            .count() as u64,
        checks: entries.len() as u64,
    };
    match store.record_verdict(run_id, v) {
        Err(visreg_reports::store::StoreError::ReadOnly { .. }) => Ok(()),
        r => Ok(r?),
    }
}

/// A build that finds fewer tags has less to do: its latency "improves" for that reason
/// alone (and one that finds more gets slower). Such latency verdicts are marked with
/// the reason, so no report shows them as an improvement (or a regression) on their own.
fn mark_confounded(entries: &mut [VerdictEntry]) {
    let moved = |metric: &str, v: Verdict| {
        entries
            .iter()
            .find(|e| e.primary && e.metric == metric && e.verdict == v)
            .map(|e| {
                format!(
                    "{metric} {}",
                    e.change
                        .map(|c| visreg_bench::metrics::format_change(metric, c))
                        .unwrap_or_default()
                )
            })
    };
    let fewer =
        moved("recall", Verdict::Regressed).or_else(|| moved("pose_coverage", Verdict::Regressed));
    let more = moved("recall", Verdict::Improved);
    for e in entries
        .iter_mut()
        .filter(|e| e.metric.starts_with("latency_ms"))
    {
        e.confounded = match (e.verdict, &fewer, &more) {
            (Verdict::Improved, Some(why), _) => {
                Some(format!("faster because it finds fewer tags ({why})"))
            }
            (Verdict::Regressed, _, Some(why)) => {
                Some(format!("slower because it finds more tags ({why})"))
            }
            _ => None,
        };
    }
}

/// What one independent unit of a metric is, as `verdicts.json` names it.
fn unit_name(units: Units, def: &MetricDef) -> &'static str {
    match (units, def.per) {
        (Units::Live, Per::Frame) => "capture",
        (_, Per::Frame) => "frame",
        (_, Per::Tag) => "tag",
    }
}

/// Judges each build measured in both runs: `b` (candidate) against `a` (baseline).
/// Two runs on the same dataset pair frame by frame (replay units); on different
/// datasets there is nothing to pair and no verdict is given.
pub fn compare_runs(store: &Store, a: &str, b: &str) -> Result<Vec<VerdictEntry>, RunError> {
    let run = |id: &str| -> Result<visreg_reports::store::RunRecord, RunError> {
        store.run(id)?.ok_or_else(|| RunError::NoRun {
            id: id.into(),
            store: "the store".into(),
        })
    };
    let (ra, rb) = (run(a)?, run(b)?);
    if ra.dataset_hash != rb.dataset_hash {
        return Err(RunError::DifferentDatasets {
            a: a.into(),
            b: b.into(),
            a_dataset: ra.dataset_name,
            b_dataset: rb.dataset_name,
        });
    }
    let builds = |r: &visreg_reports::store::RunRecord| -> Vec<String> {
        serde_json::from_str(&r.builds_json).unwrap_or_default()
    };
    let (ba, bb) = (builds(&ra), builds(&rb));
    // Live captures pair with live captures; anything else pairs frame by frame.
    let units = if ra.mode == "live" && rb.mode == "live" {
        Units::Live
    } else {
        Units::Replay
    };
    let cfg = JudgeConfig::default();
    let mut out = Vec::new();
    for build in bb.iter().filter(|x| ba.contains(x)) {
        let (ua, ub) = (
            units_of(store, a, build, units)?,
            units_of(store, b, build, units)?,
        );
        let pending: Vec<(MetricDef, Vec<f64>, Vec<f64>)> = metric_defs()
            .into_iter()
            .map(|d| {
                let (x, y) = metrics::paired(&ua.units, &ub.units, d.name, None);
                (d, x, y)
            })
            .filter(|(_, x, y)| !x.iter().chain(y).all(|v| v.is_nan()))
            .collect();
        let checks: Vec<Check<'_>> = pending
            .iter()
            .map(|(d, x, y)| Check {
                rule: d.rule,
                weight: d.weight,
                baseline: x,
                candidate: y,
            })
            .collect();
        for ((d, _, _), j) in pending.iter().zip(judge_family(&checks, &cfg)) {
            let e = j.evidence;
            out.push(VerdictEntry {
                build: build.clone(),
                baseline: format!("{build}@{a}"),
                metric: d.name.to_string(),
                bucket: None,
                verdict: j.verdict,
                change: e.change,
                ci_low: e.ci_low,
                ci_high: e.ci_high,
                p_value: Some(e.p_value),
                n: e.n as u64,
                unit: unit_name(units, d).to_string(),
                test: Some(e.test),
                primary: true,
                confounded: None,
                note: None,
            });
        }
    }
    Ok(out)
}

/// The history of `metric` for `build` (or every build) on `board` (or every board),
/// optionally only on one dataset (by content hash): one point per run and build, oldest
/// first, from every host and camera that wrote to the store. Change points (E-Divisive
/// means) are found in each build's own series: builds are never mixed in one series.
pub fn history(
    store: &Store,
    board: Option<&str>,
    build: Option<&str>,
    dataset_hash: Option<&str>,
    metric: &str,
) -> Result<Vec<HistoryPoint>, RunError> {
    let mut all = histories(store, board, build, dataset_hash, &[metric])?;
    Ok(all.pop().map(|h| h.points).unwrap_or_default())
}

/// [`history`] of several metrics at once: each run's frames are read once for all.
pub fn histories(
    store: &Store,
    board: Option<&str>,
    build: Option<&str>,
    dataset_hash: Option<&str>,
    metrics: &[&str],
) -> Result<Vec<HistorySeries>, RunError> {
    let rules = metrics
        .iter()
        .map(|metric| {
            metric_rules()
                .into_iter()
                .find(|(m, _)| m == metric)
                .map(|(_, r)| r)
                .ok_or_else(|| RunError::UnknownMetric(metric.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut series: Vec<Vec<HistoryPoint>> = vec![Vec::new(); metrics.len()];
    let mut runs = store.runs()?;
    // Only finished runs: a quarantined camera's, a failed or an interrupted run's data is
    // partial (some frames, some builds) and would read as a change.
    runs.retain(|r| {
        dataset_hash.is_none_or(|h| r.dataset_hash == h)
            && r.status == visreg_reports::store::RunStatus::Done
    });
    runs.sort_by(|a, b| a.started_unix_s.total_cmp(&b.started_unix_s));
    for run in runs {
        let builds: Vec<String> = serde_json::from_str(&run.builds_json).unwrap_or_default();
        let source = history_source(&run);
        for b in builds.into_iter().filter(|b| build.is_none_or(|w| w == b)) {
            let frames = store.frames(&run.id, Some(&b))?;
            if board.is_some_and(|want| {
                !frames.iter().any(|f| {
                    f.board.eq_ignore_ascii_case(want)
                        || f.board.replace(' ', "").eq_ignore_ascii_case(want)
                })
            }) {
                continue;
            }
            let scores: Vec<FrameScore> = frames
                .iter()
                .filter(|f| f.source == "camera")
                .filter_map(|f| serde_json::from_str(&f.score_json).ok())
                .collect();
            for ((metric, rule), points) in metrics.iter().zip(&rules).zip(&mut series) {
                let xs = samples(&scores, metric, None);
                let value = metrics::summary(rule, &xs);
                if let Some(value) = value {
                    points.push(HistoryPoint {
                        run_id: run.id.clone(),
                        started_unix_s: run.started_unix_s,
                        build: b.clone(),
                        value,
                        change_point: false,
                        source: source.clone(),
                    });
                }
            }
        }
    }
    for points in &mut series {
        mark_change_points(points);
    }
    Ok(metrics
        .iter()
        .zip(series)
        .map(|(m, points)| HistorySeries {
            metric: m.to_string(),
            points,
        })
        .collect())
}

/// Where a run measured, as a history series names it: `host / camera`. Two cameras of
/// one lab run are two sources, so their points never read as successive runs.
pub fn history_source(run: &visreg_reports::store::RunRecord) -> String {
    let host = serde_json::from_str::<visreg_reports::HostInfo>(&run.host_json)
        .map(|h| h.hostname)
        .unwrap_or_else(|_| "unknown host".into());
    format!("{host} / {}", run.camera)
}

/// Marks E-Divisive change points in each series of `points`: one build on one source
/// (host / camera), so neither builds nor cameras are mixed in one series.
fn mark_change_points(points: &mut [HistoryPoint]) {
    let cfg = visreg_bench::changepoint::ChangePointConfig::default();
    let mut keys: Vec<(String, String)> = points
        .iter()
        .map(|p| (p.build.clone(), p.source.clone()))
        .collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let at: Vec<usize> = (0..points.len())
            .filter(|&i| points[i].build == key.0 && points[i].source == key.1)
            .collect();
        let series: Vec<f64> = at.iter().map(|&i| points[i].value).collect();
        for cp in visreg_bench::changepoint::change_points(&series, &cfg) {
            if let Some(&i) = at.get(cp.index) {
                points[i].change_point = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SQLite store in a temp folder holding run `r`: builds `a` (the baseline) and `b`.
    fn store_with_run() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("s.sqlite")).unwrap();
        store
            .create_run(&visreg_reports::store::RunRecord {
                id: "r".into(),
                started_unix_s: 0.0,
                finished_unix_s: None,
                status: visreg_reports::store::RunStatus::Done,
                host_json: "{}".into(),
                dataset_name: "d".into(),
                dataset_hash: "h".into(),
                camera: "sim".into(),
                baseline: "a".into(),
                builds_json: "[\"a\",\"b\"]".into(),
                detector_json: "{}".into(),
                mode: "replay".into(),
                repeats: Some(1),
                heartbeat_unix_s: None,
            })
            .unwrap();
        (dir, store)
    }

    #[test]
    fn a_score_row_that_does_not_parse_stops_the_verdict_and_is_named() {
        let (_dir, store) = store_with_run();
        let frame = |build: &str, i: u32, score: &str| FrameRecord {
            run_id: "r".into(),
            build: build.into(),
            board: "H7 Plus".into(),
            camera_serial: "sim".into(),
            repeat: 0,
            frame: i,
            source: "camera".into(),
            latency_ms: Some(20.0),
            detections_json: "[]".into(),
            score_json: score.into(),
            recorded_unix_s: 0.0,
        };
        for b in ["a", "b"] {
            store
                .record_frame(&frame(b, 0, "{\"frame\": 0, \"bad"))
                .unwrap();
        }
        let e = verdicts(&store, "r", &["a".into(), "b".into()], "a", Units::Replay)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("run r: 1 stored score row(s) of build a do not parse (first: frame 0 repetition 0:"),
            "{e}"
        );
    }

    #[test]
    fn angle_buckets_without_a_truth_tag_are_not_checks() {
        use visreg_bench::scoring::{MatchErrors, TagScore};
        let (_dir, store) = store_with_run();
        // Tags seen at 10° and 40° only: the 15–30° bucket and everything from 45° on
        // hold no truth tag, so they have nothing to judge.
        for b in ["a", "b"] {
            for i in 0..20u32 {
                let tag = |id: u32, angle: f64| TagScore {
                    id,
                    range_m: 0.5,
                    view_angle_deg: angle,
                    size_px: 30.0,
                    matched: Some(MatchErrors {
                        corner_rmse_px: 0.4,
                        trans_err_m: Some(0.001),
                        trans_err_pct: Some(0.2),
                        rot_err_deg: Some(0.5),
                    }),
                };
                let score = FrameScore {
                    tags: vec![tag(0, 10.0), tag(1, 40.0)],
                    false_positives: 0,
                    id_errors: 0,
                    scene: Default::default(),
                    latency_ms: Some(20.0 + f64::from(i % 3)),
                    mem_free_bytes: None,
                };
                store
                    .record_frame(&FrameRecord {
                        run_id: "r".into(),
                        build: b.into(),
                        board: "H7 Plus".into(),
                        camera_serial: "sim".into(),
                        repeat: 0,
                        frame: i,
                        source: "camera".into(),
                        latency_ms: score.latency_ms,
                        detections_json: "[]".into(),
                        score_json: serde_json::to_string(&score).unwrap(),
                        recorded_unix_s: 0.0,
                    })
                    .unwrap();
            }
        }
        let v = verdicts(&store, "r", &["a".into(), "b".into()], "a", Units::Replay).unwrap();
        let buckets: Vec<&str> = v.iter().filter_map(|e| e.bucket.as_deref()).collect();
        assert_eq!(buckets, ["angle:0-15", "angle:30-45"], "{v:?}");
        assert!(v.iter().all(|e| e.n > 0), "every check judged something");
    }
}
