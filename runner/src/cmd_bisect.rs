//! `visreg bisect`: finds the first build of a series that regressed. Both ends are
//! measured first (the bad one must regress against the good one on the checks followed),
//! then the search of `visreg::bisect` picks each next build; every build is measured as a
//! run of its own (the good build's rows copied in, so each step's run report stands
//! alone) and judged by the run's own verdict engine. The plan and the path are stored
//! after every step, so Ctrl-C loses nothing and `--resume` goes on.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use visreg::bisect::{
    default_checks, judge_step, max_steps, names, BisectPlan, BisectState, CheckId, DatasetSource,
    Judged, Next, StepRecord, StepVerdict,
};
use visreg::run::{execute, verdicts, RunError, RunPlan, Units, VerdictEntry};
use visreg::select::CameraSelector;
use visreg_datasets::cache::ensure_preset;
use visreg_datasets::{preset, Dataset};
use visreg_firmware::catalog::{Build, Catalog};
use visreg_reports::report::{BisectBuild, BisectReport, BisectStepRow};
use visreg_reports::store::{now_unix_s, BisectRecord, RunRecord, RunStatus, Store};
use visreg_reports::HostInfo;

use crate::cli::BisectArgs;
use crate::Outcome;

/// Everything a step needs to measure.
struct Bench<'a> {
    id: &'a str,
    plan: &'a BisectPlan,
    catalog: &'a Catalog,
    image_base: &'a Path,
    dataset: &'a Dataset,
    store: &'a Store,
    stop: &'a AtomicBool,
    progress: crate::progress::RunProgress,
    /// The camera's port now, and the build it runs (when known).
    port: String,
    on_camera: Option<String>,
}

/// A build measured and judged, or why it could not be.
enum Measured {
    Judged {
        judged: Judged,
        entries: Vec<VerdictEntry>,
        repeats: u32,
        flashes: u32,
    },
    /// It did not flash or boot.
    Unflashable { why: String, flashes: u32 },
    /// Ctrl-C.
    Stopped { flashes: u32 },
}

impl Bench<'_> {
    fn build(&self, index: usize) -> &Build {
        self.catalog
            .build(&self.plan.builds[index])
            .expect("checked when the bisect started")
    }

    fn run_id(&self, index: usize) -> String {
        if index == 0 || index == self.plan.builds.len() - 1 {
            format!("{}.ends", self.id)
        } else {
            format!("{}.{index:02}", self.id)
        }
    }

    /// Creates the run holding `builds` unless a resumed bisect made it already.
    fn ensure_run(&self, run_id: &str, builds: &[&str]) -> anyhow::Result<()> {
        if self.store.run(run_id)?.is_none() {
            self.store.create_run(&RunRecord {
                id: run_id.to_string(),
                started_unix_s: now_unix_s(),
                finished_unix_s: None,
                status: RunStatus::Running,
                host_json: serde_json::to_string(&HostInfo::current())?,
                dataset_name: self.dataset.manifest.name.clone(),
                dataset_hash: self.plan.dataset_hash.clone(),
                camera: self.plan.camera.clone(),
                baseline: self.plan.good.clone(),
                builds_json: serde_json::to_string(builds)?,
                detector_json: serde_json::to_string(
                    &visreg_apriltag::DetectorSettings::reference(
                        self.dataset.manifest.tags.family,
                    ),
                )?,
                mode: "replay".into(),
                repeats: Some(self.plan.repeats),
                heartbeat_unix_s: None,
            })?;
        }
        Ok(())
    }

    /// Measures `repeats` repetitions of build `index` into `run_id` (what is there
    /// already is kept), flashing it only if the camera does not run it already.
    fn measure(&mut self, run_id: &str, index: usize, repeats: u32) -> Result<u32, RunError> {
        let build = self.build(index).clone();
        let plan = RunPlan {
            run_id: run_id.to_string(),
            port: self.port.clone(),
            builds: vec![build],
            baseline: self.plan.good.clone(),
            dataset: self.dataset.clone(),
            repeats,
            live: false,
            health_check: false,
            sensor_shows_dataset: true,
            on_camera: self.on_camera.clone(),
            image_base: self.image_base.to_path_buf(),
        };
        let progress = &self.progress;
        let result = execute(&plan, self.store, self.stop, &|e| progress.event(e));
        match result {
            Ok(done) => {
                self.port = done.port;
                self.on_camera = done.on_camera;
                Ok(done.flashes)
            }
            Err(e) => {
                // Whatever the camera runs now, it is not known.
                self.on_camera = None;
                Err(e)
            }
        }
    }

    /// Measures build `index` against the good build in `run_id` and judges it on
    /// `checks`; an inconclusive verdict is measured again with twice the repetitions,
    /// up to the plan's most.
    fn step(
        &mut self,
        run_id: &str,
        index: usize,
        checks: Option<&[CheckId]>,
    ) -> anyhow::Result<Measured> {
        let name = self.plan.builds[index].clone();
        let mut repeats = self.plan.repeats;
        let mut flashes = 0;
        loop {
            match self.measure(run_id, index, repeats) {
                Ok(f) => flashes += f,
                Err(RunError::Flash { message, .. }) => {
                    return Ok(Measured::Unflashable {
                        why: message,
                        flashes: flashes + 1,
                    })
                }
                Err(e) => return Err(e.into()),
            }
            if self.stop.load(Ordering::Relaxed) {
                return Ok(Measured::Stopped { flashes });
            }
            let entries = verdicts(
                self.store,
                run_id,
                &[self.plan.good.clone(), name.clone()],
                &self.plan.good,
                Units::Replay,
            )?
            .into_iter()
            .filter(|e| e.build == name)
            .collect::<Vec<_>>();
            // No checks named yet (the bad end, before the checks to follow are known):
            // every primary check judged.
            let every: Vec<CheckId> = entries
                .iter()
                .filter(|e| e.primary)
                .map(CheckId::of)
                .collect();
            let judged = judge_step(checks.unwrap_or(&every), &entries);
            if judged.verdict == StepVerdict::Inconclusive && repeats < self.plan.max_repeats {
                repeats = (repeats * 2).min(self.plan.max_repeats);
                eprintln!(
                    "  {name}: {} — measuring again with {repeats} repetitions",
                    judged.detail
                );
                continue;
            }
            return Ok(Measured::Judged {
                judged,
                entries,
                repeats,
                flashes,
            });
        }
    }
}

/// The dataset of a plan.
fn open_dataset(source: &DatasetSource) -> anyhow::Result<Dataset> {
    Ok(match source {
        DatasetSource::Dir(dir) => Dataset::open(dir).map_err(|e| anyhow::anyhow!("{e}"))?,
        DatasetSource::Preset(name) => {
            ensure_preset(preset::find(name)?, preset::DEFAULT_SEED, &|_| {})?
        }
    })
}

/// A new plan from the command line, every input checked before anything is stored or a
/// camera touched.
fn new_plan(args: &BisectArgs) -> anyhow::Result<(BisectPlan, Catalog, PathBuf, Dataset)> {
    let (good, bad) = match (&args.good, &args.bad) {
        (Some(g), Some(b)) => (g.clone(), b.clone()),
        _ => bail!("name both ends: --good BUILD --bad BUILD (or --resume ID)"),
    };
    if args.repeat == 0 {
        bail!("--repeat 0 measures nothing: give at least 1 (default 3)");
    }
    if args.max_repeat < args.repeat {
        bail!(
            "--max-repeat {} is below --repeat {}: an inconclusive build is measured again with more repetitions, never fewer",
            args.max_repeat,
            args.repeat
        );
    }
    let checks = args
        .checks
        .iter()
        .map(|c| CheckId::parse(c))
        .collect::<Result<Vec<_>, _>>()?;
    let catalog_path = match &args.catalog {
        Some(p) => {
            Some(std::fs::canonicalize(p).with_context(|| format!("--catalog {}", p.display()))?)
        }
        None => None,
    };
    let (catalog, base) = crate::cmd_firmware::catalog(catalog_path.as_deref())?;
    let (series, builds) = catalog.range(&good, &bad, args.series.as_deref())?;
    // Every image is read and checked now: a build that cannot be flashed is refused
    // before the camera is touched, not skipped after an hour.
    for b in &builds {
        b.check_flasher()?;
        b.plan(&base)
            .with_context(|| format!("build {} of the range cannot be flashed as it is", b.name))?;
    }
    let source = match (&args.dataset, &args.preset) {
        (Some(dir), _) => DatasetSource::Dir(
            std::fs::canonicalize(dir).with_context(|| format!("--dataset {}", dir.display()))?,
        ),
        (None, p) => DatasetSource::Preset(p.clone().unwrap_or_else(|| "qvga-basic".into())),
    };
    let dataset = open_dataset(&source)?;
    crate::cmd_run::check_board_runs_dataset(&builds, &dataset)?;
    let selector = args
        .camera
        .as_deref()
        .map_or(CameraSelector::Sim, CameraSelector::parse);
    let plan = BisectPlan {
        good,
        bad,
        series,
        builds: builds.iter().map(|b| b.name.clone()).collect(),
        checks,
        repeats: args.repeat,
        max_repeats: args.max_repeat,
        dataset_name: dataset.manifest.name.clone(),
        dataset_hash: dataset.content_hash()?,
        dataset: source,
        camera: selector.to_arg(),
        catalog: catalog_path,
    };
    Ok((plan, catalog, base, dataset))
}

pub fn run(args: BisectArgs) -> anyhow::Result<Outcome> {
    let store = Store::open(&args.store)?;
    let (id, plan, mut state, catalog, base, dataset) = match &args.resume {
        Some(id) => {
            crate::cmd_report::check_run_id(id)?;
            let rec = store
                .bisect(id)?
                .with_context(|| format!("no bisect {id} in {}", store.name()))?;
            let plan: BisectPlan = serde_json::from_str(&rec.plan_json)
                .with_context(|| format!("bisect {id}: its stored plan"))?;
            let state: BisectState = serde_json::from_str(&rec.state_json)
                .with_context(|| format!("bisect {id}: its stored path"))?;
            let (catalog, base) = crate::cmd_firmware::catalog(plan.catalog.as_deref())?;
            for b in &plan.builds {
                catalog.build(b).with_context(|| {
                    format!("bisect {id} measures build {b}, which its catalog no longer lists")
                })?;
            }
            let dataset = open_dataset(&plan.dataset)?;
            if dataset.content_hash()? != plan.dataset_hash {
                bail!(
                    "bisect {id} measured dataset {} ({}), which has changed since: its steps could not be compared",
                    plan.dataset_name,
                    plan.dataset_hash
                );
            }
            (id.clone(), plan, state, catalog, base, dataset)
        }
        None => {
            let (plan, catalog, base, dataset) = new_plan(&args)?;
            let id = format!(
                "bisect-{}-{:08x}",
                now_unix_s() as u64,
                rand::random::<u32>()
            );
            (id, plan, BisectState::default(), catalog, base, dataset)
        }
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| crate::cmd_report::reports_dir().join(&id));
    crate::cmd_report::check_out_dir(&out)?;
    if let Some(j) = &args.json {
        if j.is_dir() {
            bail!("--json {} is a folder: name a file", j.display());
        }
    }
    let selector = CameraSelector::parse(&plan.camera);
    let _reservation = crate::cmd_run::reserve_camera(
        &store,
        &selector,
        &id,
        std::time::Duration::from_secs(args.camera_wait),
    )?;
    let (port, sim) =
        crate::cmd_run::start_camera(&selector, &catalog, &plan.good, &dataset, false)?;
    if args.resume.is_none() {
        store.create_bisect(&BisectRecord {
            id: id.clone(),
            started_unix_s: now_unix_s(),
            finished_unix_s: None,
            status: "running".into(),
            plan_json: serde_json::to_string(&plan)?,
            state_json: serde_json::to_string(&state)?,
        })?;
    } else {
        store.update_bisect(&id, "running", &serde_json::to_string(&state)?, false)?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed));
    }
    let candidates = plan.builds.len() - 1;
    let bound = max_steps(candidates) + 2;
    eprintln!(
        "bisect {id}: {} builds of series {} from {} (good) to {} (bad), {} candidate(s) for the first bad one — at most {bound} flashes without skips; {} repetition(s) per build, dataset {}; store {}",
        plan.builds.len(),
        plan.series,
        plan.good,
        plan.bad,
        candidates,
        plan.repeats,
        plan.dataset_name,
        store.name()
    );
    let progress = crate::progress::RunProgress::new(
        "{msg:>36} [{bar:30}] {pos}/{len} frames (eta {eta})",
        "",
    );
    let mut bench = Bench {
        id: &id,
        plan: &plan,
        catalog: &catalog,
        image_base: &base,
        dataset: &dataset,
        store: &store,
        stop: &stop,
        progress,
        port,
        on_camera: None,
    };
    let result = bisect(&mut bench, &mut state);
    bench.progress.finish();
    if let Some(cam) = sim {
        cam.stop();
    }
    let save = |status: &str, finished: bool| -> anyhow::Result<()> {
        store.update_bisect(&id, status, &serde_json::to_string(&state)?, finished)?;
        Ok(())
    };
    // The report as the bisect stands, whatever ended it.
    let write = |status: &str| {
        write_outputs(
            &id,
            status,
            &plan,
            &state,
            &catalog,
            &store,
            &dataset,
            &out,
            args.json.as_deref(),
        )
    };
    let resume_hint = format!("visreg bisect --resume {id} --store {}", store.name());
    match result {
        Err(e) => {
            save("failed", true)?;
            bail!(
                "{e:#}\nbisect {id} stopped after {} measured build(s), kept in the store: `{resume_hint}` goes on from there",
                state.steps.len()
            );
        }
        Ok(Ended::Stopped) => {
            save("interrupted", false)?;
            eprintln!(
                "interrupted: {} build(s) measured and kept; go on with `{resume_hint}`",
                state.steps.len()
            );
            write("interrupted")?;
            Ok(Outcome::Incomplete)
        }
        Ok(Ended::NothingToBisect(why)) => {
            save("failed", true)?;
            write("failed")?;
            bail!("{why}");
        }
        Ok(Ended::Answered) => {
            save("done", true)?;
            let report = write("done")?;
            print_answer(&report, &state);
            for st in &report.steps {
                if let Some(href) = &st.report {
                    println!(
                        "  {} ({}): {}",
                        st.build,
                        st.verdict,
                        out.join(href).display()
                    );
                }
            }
            println!(
                "report written to {} (index.html, summary.md; each build's run report under runs/)",
                out.display()
            );
            Ok(if report.exact {
                Outcome::Clean
            } else {
                Outcome::Regression
            })
        }
    }
}

/// How the search ended.
enum Ended {
    Answered,
    Stopped,
    NothingToBisect(String),
}

/// Measures the ends (unless a resumed bisect has), then steps until the answer is known.
fn bisect(bench: &mut Bench<'_>, state: &mut BisectState) -> anyhow::Result<Ended> {
    let plan = bench.plan;
    let last = plan.builds.len() - 1;
    let save = |state: &BisectState| -> anyhow::Result<()> {
        bench
            .store
            .update_bisect(bench.id, "running", &serde_json::to_string(state)?, false)?;
        Ok(())
    };
    if state.steps.is_empty() {
        let ends = bench.run_id(0);
        bench.ensure_run(&ends, &[&plan.good, &plan.bad])?;
        eprintln!(
            "measuring the good end {} and the bad end {}",
            plan.good, plan.bad
        );
        let t0 = Instant::now();
        let good_flashes = match bench.measure(&ends, 0, plan.repeats) {
            Ok(f) => f,
            Err(e) => bail!("the good build {} could not be measured: {e}", plan.good),
        };
        state.flashes += good_flashes;
        if bench.stop.load(Ordering::Relaxed) {
            return Ok(Ended::Stopped);
        }
        let good_s = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let named = !plan.checks.is_empty();
        // With no checks named, the checks to follow are those the bad end regresses;
        // judged on every primary check until that is decided.
        let mut checks = plan.checks.clone();
        let (judged, entries, repeats, flashes) =
            match bench.step(&ends, last, named.then_some(checks.as_slice()))? {
                Measured::Stopped { flashes } => {
                    state.flashes += flashes;
                    return Ok(Ended::Stopped);
                }
                Measured::Unflashable { why, flashes } => {
                    state.flashes += flashes;
                    bail!(
                        "the bad build {} could not be flashed or did not boot: {why}",
                        plan.bad
                    )
                }
                Measured::Judged {
                    judged,
                    entries,
                    repeats,
                    flashes,
                } => (judged, entries, repeats, flashes),
            };
        state.flashes += flashes;
        bench.store.finish_run(&ends, RunStatus::Done)?;
        if !named {
            checks = default_checks(&entries);
        }
        let confirm = judge_step(&checks, &entries);
        state.steps.push(StepRecord {
            build: plan.good.clone(),
            index: 0,
            verdict: StepVerdict::Baseline,
            run: ends.clone(),
            repeats: plan.repeats,
            regressed: Vec::new(),
            detail: "the good end: every build is judged against it".into(),
            change: String::new(),
            flashes: good_flashes,
            seconds: good_s,
        });
        state.steps.push(StepRecord {
            build: plan.bad.clone(),
            index: last,
            verdict: confirm.verdict,
            run: ends.clone(),
            repeats,
            regressed: confirm.regressed.clone(),
            detail: confirm.detail.clone(),
            change: confirm.change.clone(),
            flashes,
            seconds: t1.elapsed().as_secs_f64(),
        });
        if checks.is_empty() || confirm.verdict != StepVerdict::Bad {
            save(state)?;
            return Ok(Ended::NothingToBisect(if checks.is_empty() {
                format!(
                    "{} does not regress against {} on any check ({}): there is nothing to bisect — `visreg report {ends} --store {}` shows the evidence",
                    plan.bad,
                    plan.good,
                    judged.detail,
                    bench.store.name()
                )
            } else {
                format!(
                    "{} does not regress against {} on every check named ({}): there is nothing to bisect on them",
                    plan.bad, plan.good, confirm.detail
                )
            }));
        }
        state.checks = checks;
        eprintln!(
            "confirmed: {} regresses against {} ({}); following {}",
            plan.bad,
            plan.good,
            confirm.detail,
            names(&state.checks)
        );
        save(state)?;
    }
    loop {
        let search = state.bisection(plan.builds.len());
        let index = match search.next() {
            Next::Done(_) => return Ok(Ended::Answered),
            Next::Test(i) => i,
        };
        let name = plan.builds[index].clone();
        let open = search.open();
        eprintln!(
            "step {}: {name} ({} build(s) still open)",
            state.steps.len() - 1,
            open
        );
        let run_id = bench.run_id(index);
        bench.ensure_run(&run_id, &[&plan.good, &name])?;
        bench
            .store
            .copy_frames(&bench.run_id(0), &run_id, &plan.good)?;
        let t0 = Instant::now();
        let checks = state.checks.clone();
        let rec = match bench.step(&run_id, index, Some(&checks))? {
            Measured::Stopped { flashes } => {
                state.flashes += flashes;
                bench.store.finish_run(&run_id, RunStatus::Interrupted)?;
                save(state)?;
                return Ok(Ended::Stopped);
            }
            Measured::Unflashable { why, flashes } => {
                bench.store.finish_run(&run_id, RunStatus::Failed)?;
                StepRecord {
                    build: name.clone(),
                    index,
                    verdict: StepVerdict::Skipped,
                    run: run_id.clone(),
                    repeats: 0,
                    regressed: Vec::new(),
                    detail: format!("did not flash or boot: {why}"),
                    change: String::new(),
                    flashes,
                    seconds: t0.elapsed().as_secs_f64(),
                }
            }
            Measured::Judged {
                judged,
                repeats,
                flashes,
                ..
            } => {
                bench.store.finish_run(&run_id, RunStatus::Done)?;
                StepRecord {
                    build: name.clone(),
                    index,
                    verdict: judged.verdict,
                    run: run_id.clone(),
                    repeats,
                    regressed: judged.regressed,
                    detail: judged.detail,
                    change: judged.change,
                    flashes,
                    seconds: t0.elapsed().as_secs_f64(),
                }
            }
        };
        eprintln!("  → {}: {}", rec.verdict.word(), rec.detail);
        state.flashes += rec.flashes;
        state.steps.push(rec);
        save(state)?;
    }
}

/// The bisect's answer and path as a report, written as index.html, summary.md (and
/// JSON), with each measured build's run report under `runs/`.
#[allow(clippy::too_many_arguments)]
fn write_outputs(
    id: &str,
    status: &str,
    plan: &BisectPlan,
    state: &BisectState,
    catalog: &Catalog,
    store: &Store,
    dataset: &Dataset,
    out: &Path,
    json: Option<&Path>,
) -> anyhow::Result<BisectReport> {
    let place = |name: &str| -> (String, Option<String>) {
        catalog
            .build(name)
            .ok()
            .and_then(|b| b.series.iter().find(|p| p.name == plan.series))
            .map(|p| (p.order.to_string(), p.commit.clone()))
            .unwrap_or_default()
    };
    let named = |i: usize| {
        let name = plan.builds[i].clone();
        let (place, commit) = place(&name);
        BisectBuild {
            name,
            place,
            commit,
        }
    };
    let answer = (status == "done" && !state.checks.is_empty()).then(|| {
        match state.bisection(plan.builds.len()).next() {
            Next::Done(a) => Some(a),
            Next::Test(_) => None,
        }
    });
    let answer = answer.flatten();
    // Each measured build's own run report, linked from the path.
    let mut reports = std::collections::HashMap::new();
    for st in &state.steps {
        if reports.contains_key(&st.run) || store.frame_count(&st.run)? == 0 {
            continue;
        }
        let dir = out.join("runs").join(&st.run);
        let input = visreg::report::gather(store, &st.run, Some(dataset), None)?;
        visreg::report::write(&input, &dir)
            .with_context(|| format!("writing the report into {}", dir.display()))?;
        reports.insert(st.run.clone(), format!("runs/{}/index.html", st.run));
    }
    let steps: Vec<BisectStepRow> = state
        .steps
        .iter()
        .map(|s| BisectStepRow {
            build: s.build.clone(),
            place: place(&s.build).0,
            verdict: s.verdict.word().to_string(),
            detail: s.detail.clone(),
            run: s.run.clone(),
            report: reports.get(&s.run).cloned(),
            repeats: s.repeats,
            flashes: s.flashes,
            seconds: s.seconds,
        })
        .collect();
    let mut notes = Vec::new();
    let step_of = |i: usize| state.steps.iter().find(|s| s.index == i);
    if let Some(a) = &answer {
        if let Some(st) = step_of(a.first_bad) {
            if st.verdict == StepVerdict::Partial {
                let later: Vec<&CheckId> = state
                    .checks
                    .iter()
                    .filter(|c| !st.regressed.contains(c))
                    .collect();
                notes.push(format!(
                    "{} regressed only {} of the checks followed; {} regressed later — `visreg bisect --good {} --bad {} --check {}` finds where",
                    st.build,
                    names(&st.regressed),
                    later.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", "),
                    plan.good,
                    plan.bad,
                    later.first().map(|c| c.to_string()).unwrap_or_default()
                ));
            }
        }
        if !a.good_after_bad.is_empty() {
            notes.push(format!(
                "judged good after the first bad build: {} — the regression may have been fixed and brought back, or the evidence is noisy",
                a.good_after_bad.iter().map(|&i| plan.builds[i].clone()).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let skipped: Vec<&StepRecord> = state
        .steps
        .iter()
        .filter(|s| matches!(s.verdict, StepVerdict::Skipped | StepVerdict::Inconclusive))
        .collect();
    if !skipped.is_empty() {
        notes.push(format!(
            "could not be judged and skipped: {}",
            skipped
                .iter()
                .map(|s| format!("{} ({})", s.build, s.verdict.word()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let headline = match (&answer, status) {
        (Some(a), _) if a.unjudged_between.is_empty() => format!(
            "first bad build: {}, after {} (last good)",
            plan.builds[a.first_bad], plan.builds[a.last_good]
        ),
        (Some(a), _) => format!(
            "the regression began in one of {} or {} (after {}, the last good): {} could not be judged",
            a.unjudged_between.iter().map(|&i| plan.builds[i].clone()).collect::<Vec<_>>().join(", "),
            plan.builds[a.first_bad],
            plan.builds[a.last_good],
            if a.unjudged_between.len() == 1 { "one build between them" } else { "builds between them" }
        ),
        (None, "interrupted") => format!("interrupted after {} measured build(s): no answer yet", state.steps.len()),
        (None, _) => format!("no answer: {} does not regress against {} on the checks followed", plan.bad, plan.good),
    };
    let report = BisectReport {
        id: id.to_string(),
        status: status.to_string(),
        headline,
        exact: answer
            .as_ref()
            .is_some_and(|a| a.unjudged_between.is_empty()),
        series: plan.series.clone(),
        good: plan.good.clone(),
        bad: plan.bad.clone(),
        checks: state.checks.iter().map(|c| c.to_string()).collect(),
        dataset: plan.dataset_name.clone(),
        camera: plan.camera.clone(),
        first_bad: answer.as_ref().map(|a| named(a.first_bad)),
        last_good: answer.as_ref().map(|a| named(a.last_good)),
        change: answer
            .as_ref()
            .and_then(|a| step_of(a.first_bad))
            .map(|s| s.change.clone()),
        unjudged_between: answer
            .as_ref()
            .map(|a| {
                a.unjudged_between
                    .iter()
                    .map(|&i| plan.builds[i].clone())
                    .collect()
            })
            .unwrap_or_default(),
        flashes: state.flashes,
        flash_bound: max_steps(plan.builds.len() - 1) + 2,
        steps,
        notes,
    };
    std::fs::write(
        out.join("index.html"),
        visreg_reports::report::bisect_html(&report),
    )
    .with_context(|| format!("writing {}", out.join("index.html").display()))?;
    std::fs::write(
        out.join("summary.md"),
        visreg_reports::report::bisect_summary_md(&report),
    )
    .with_context(|| format!("writing {}", out.join("summary.md").display()))?;
    if let Some(path) = json {
        let v = serde_json::json!({
            "id": id,
            "status": status,
            "series": plan.series,
            "good": plan.good,
            "bad": plan.bad,
            "checks": report.checks,
            "first_bad": report.first_bad.as_ref().map(|b| &b.name),
            "last_good": report.last_good.as_ref().map(|b| &b.name),
            "exact": report.exact,
            "unjudged_between": report.unjudged_between,
            "flashes": state.flashes,
            "flash_bound": report.flash_bound,
            "steps": state.steps,
            "report": out.join("index.html"),
        });
        std::fs::write(path, serde_json::to_string_pretty(&v)? + "\n")
            .with_context(|| format!("writing --json {}", path.display()))?;
    }
    Ok(report)
}

/// The answer and the path on the terminal.
fn print_answer(r: &BisectReport, state: &BisectState) {
    println!("bisect {}: {}", r.id, r.headline);
    if let (Some(b), Some(g)) = (&r.first_bad, &r.last_good) {
        println!(
            "  first bad {} ({}), last good {} ({})",
            b.name, b.place, g.name, g.place
        );
    }
    if let Some(c) = &r.change {
        println!("  its change against {}: {c}", r.good);
    }
    for n in &r.notes {
        println!("  note: {n}");
    }
    println!(
        "  {} flash(es); a search without skips needs at most {}",
        r.flashes, r.flash_bound
    );
    let mut t = crate::term::table();
    // Fit the terminal; without one (a CI log), a width a log viewer shows whole.
    t.set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    if t.width().is_none() {
        t.set_width(140);
    }
    t.set_header([
        "#",
        "build",
        "place",
        "verdict",
        "against the good build",
        "reps",
        "flashes",
        "time",
    ]);
    for (i, (row, st)) in r.steps.iter().zip(&state.steps).enumerate() {
        t.add_row([
            (i + 1).to_string(),
            row.build.clone(),
            row.place.clone(),
            row.verdict.clone(),
            row.detail.clone(),
            st.repeats.to_string(),
            st.flashes.to_string(),
            format!("{:.1} s", st.seconds),
        ]);
    }
    println!("{t}");
}
