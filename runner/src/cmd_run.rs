//! `visreg run`: the main job. Parses the plan, starts a virtual camera when no real one
//! is named, draws progress, writes verdicts.json, decides the exit code.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use visreg::run::{execute, verdicts, RunPlan};
use visreg::select::{locate, CameraSelector, Located, NusbBus};
use visreg_bench::verdict::Verdict;
use visreg_datasets::cache::ensure_preset;
use visreg_datasets::{preset, Dataset};
use visreg_firmware::catalog::{Build, Channel, Protocol};
use visreg_reports::store::{now_unix_s, RunRecord, RunStatus, Store};
use visreg_reports::HostInfo;
use visreg_sim::bootloader::DfuTiming;
use visreg_sim::launch::ServedCamera;
use visreg_sim::unit::VirtualUnit;

use crate::cli::RunArgs;
use crate::Outcome;

/// The catalog, the builds of the plan and its baseline.
pub(crate) fn plan_builds(
    args: &RunArgs,
) -> anyhow::Result<(
    visreg_firmware::catalog::Catalog,
    PathBuf,
    Vec<Build>,
    String,
)> {
    let (catalog, image_base) = crate::cmd_firmware::catalog(args.catalog.as_deref())?;
    let builds: Vec<_> = match &args.firmware {
        Some(list) => list
            .split(',')
            .map(|b| catalog.build(b.trim()).cloned())
            .collect::<Result<_, _>>()?,
        None => {
            // The release builds of protocol v2 (nightlies are bisected, not run by
            // default) for one board — a run measures one camera: the board most of them
            // are for (the H7 Plus in the shipped catalog), the first listed on a tie.
            let releases: Vec<&Build> = catalog
                .builds
                .iter()
                .filter(|b| b.protocol == Protocol::V2 && b.channel == Channel::Release)
                .collect();
            let count = |board| releases.iter().filter(|b| b.board == board).count();
            let board = releases.iter().map(|b| b.board).fold(
                None,
                |best: Option<visreg_firmware::board::Board>, b| match best {
                    Some(x) if count(x) >= count(b) => Some(x),
                    _ => Some(b),
                },
            );
            releases
                .into_iter()
                .filter(|b| Some(b.board) == board)
                .cloned()
                .collect()
        }
    };
    if builds.is_empty() {
        bail!("no builds to run: name them with --firmware B1,B2");
    }
    // A run judges candidates against its baseline: one build (or one named twice) would
    // judge nothing, and zero checks must never read as a pass.
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = builds.iter().find(|b| !seen.insert(b.name.as_str())) {
        bail!(
            "build {} is named twice in --firmware: each build is measured once per repetition; name it once",
            dup.name
        );
    }
    if builds.len() < 2 {
        bail!(
            "a run judges candidate builds against a baseline, and {} alone has nothing to be judged against: name at least two builds (e.g. --firmware 5.0.0,{}), or check one build's pose function with `visreg verify`",
            builds[0].name,
            builds[0].name
        );
    }
    // Replay hands each frame to `image.Image(w, h, fmt, buffer=…)`, whose `buffer=` is
    // parsed only from 4.5.1 (openmv 6752c95ac; py_image.c at v4.5.0 zeroes the image):
    // older firmware would "find" nothing in every frame, a false regression.
    if args.mode() == "replay" {
        if let Some(old) = builds
            .iter()
            .find(|b| b.version_triple().is_ok_and(|v| v < [4, 5, 1]))
        {
            bail!(
                "build {} (firmware {}) ignores image.Image(buffer=…), which replay needs to hand the camera its frames (parsed from 4.5.1 on): every frame would read as empty. Use --mode live on a rig, or builds from 4.5.1",
                old.name,
                old.version
            );
        }
    }
    // One camera measures every build of a run: builds for two boards cannot share one.
    if let Some(other) = builds.iter().find(|b| b.board != builds[0].board) {
        bail!(
            "a run measures all its builds on one camera, but {} is for the {} and {} for the {}: run each board's builds on its own camera",
            builds[0].name,
            builds[0].board,
            other.name,
            other.board
        );
    }
    let baseline = args
        .baseline
        .clone()
        .unwrap_or_else(|| builds[0].name.clone());
    if !builds.iter().any(|b| b.name == baseline) {
        bail!(
            "the baseline {baseline} is not among the builds of the run ({})",
            builds
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // Every build's images are read and checked now — the preflight `visreg firmware
    // check` runs — so a build that cannot be flashed is refused before the camera is
    // touched, not after the builds before it were measured.
    for b in &builds {
        b.check_flasher()?;
        b.plan(&image_base)
            .with_context(|| format!("build {} cannot be flashed as it is", b.name))?;
    }
    Ok((catalog, image_base, builds, baseline))
}

/// Refuses, before any camera is touched, builds whose board cannot detect the dataset:
/// its tag family not compiled in, or frames beyond the board's 64K-pixel limit
/// ([`visreg_firmware::board::Board::can_detect`]).
pub(crate) fn check_board_runs_dataset(builds: &[Build], dataset: &Dataset) -> anyhow::Result<()> {
    let cam = &dataset.manifest.camera;
    let family = dataset.manifest.tags.family;
    let mut boards: Vec<visreg_firmware::board::Board> = builds.iter().map(|b| b.board).collect();
    boards.dedup();
    for board in boards {
        if let Err(e) = board.can_detect(family, cam.width, cam.height) {
            let who: Vec<&str> = builds
                .iter()
                .filter(|b| b.board == board)
                .map(|b| b.name.as_str())
                .collect();
            let fit: Vec<&str> = visreg_firmware::board::Board::ALL
                .into_iter()
                .filter(|b| b.can_detect(family, cam.width, cam.height).is_ok())
                .map(|b| b.name())
                .collect();
            bail!(
                "dataset {} ({family}, {}×{}) cannot run on build(s) {}: {e}; nothing was flashed. Boards that can run it: {} (`visreg dataset presets` shows each preset's boards)",
                dataset.manifest.name,
                cam.width,
                cam.height,
                who.join(", "),
                if fit.is_empty() { "none".to_string() } else { fit.join(", ") }
            );
        }
    }
    Ok(())
}

/// The dataset of the plan: a folder, or a built-in preset (default qvga-basic).
pub(crate) fn load_dataset(args: &RunArgs) -> anyhow::Result<Dataset> {
    Ok(match (&args.dataset, &args.preset) {
        (Some(dir), _) => Dataset::open(dir).map_err(|e| anyhow::anyhow!("{e}"))?,
        (None, name) => {
            let p = preset::find(name.as_deref().unwrap_or("qvga-basic"))?;
            ensure_preset(p, preset::DEFAULT_SEED, &|_| {})?
        }
    })
}

/// Takes the camera `selector` names for `what` (a run or bisect id) in `store`, so no
/// other visreg process — on any host sharing the store — measures or flashes it at the
/// same time; waits up to `wait` for a camera another process holds, counting down, and
/// then refuses with who holds it. A virtual camera is this process's own: nothing to
/// take.
pub(crate) fn reserve_camera<'s>(
    store: &'s Store,
    selector: &CameraSelector,
    what: &str,
    wait: std::time::Duration,
) -> anyhow::Result<Option<visreg_reports::store::Reservation<'s>>> {
    use visreg_reports::store::Reserved;
    let Some(key) = selector.reservation_key(&HostInfo::current().hostname) else {
        return Ok(None);
    };
    let until = std::time::Instant::now() + wait;
    let mut said = std::time::Instant::now() - std::time::Duration::from_secs(60);
    loop {
        match store.reserve(&key, what)? {
            Reserved::Got(r) => return Ok(Some(r)),
            Reserved::Held(h) => {
                let now = std::time::Instant::now();
                if now >= until {
                    bail!(
                        "{selector} is in use by {h}: wait for it (`--camera-wait 600` waits up to 10 minutes), or choose another camera (`visreg devices`)"
                    );
                }
                if now.duration_since(said).as_secs() >= 10 {
                    eprintln!(
                        "{selector} is in use by {h}; waiting, {} s left",
                        until.saturating_duration_since(now).as_secs()
                    );
                    said = now;
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        }
    }
}

/// The camera a run or bisect measures on: a virtual one (started here, with `first`
/// installed and `dataset` before its sensor) or a real one found by port or serial.
/// Returns its port, and the virtual camera to stop at the end.
pub(crate) fn start_camera(
    selector: &CameraSelector,
    catalog: &visreg_firmware::catalog::Catalog,
    first: &str,
    dataset: &Dataset,
    link_real: bool,
) -> anyhow::Result<(String, Option<ServedCamera>)> {
    Ok(match selector {
        CameraSelector::Sim => {
            let mut unit = VirtualUnit::new(
                catalog.clone(),
                first,
                Some(dataset.clone()),
                DfuTiming::instant(),
                now_unix_s() as u64,
            )
            .map_err(|e| anyhow::anyhow!(e))?;
            if link_real {
                let board = catalog.build(first)?.board;
                unit.set_link(Some(visreg_sim::link::LinkModel::for_board(board)));
            }
            let cam = ServedCamera::pty(Arc::new(unit), Default::default())?;
            (cam.port().to_string(), Some(cam))
        }
        real => match locate(real, &NusbBus) {
            Located::Port(p) => (p, None),
            Located::Usb(dev, _) => bail!(
                "{}: {real} waits in its bootloader, with no serial port: `visreg recover --camera …` or `visreg flash BUILD --serial …` puts a firmware on it first",
                dev.describe()
            ),
            Located::NotFound(what) => bail!("{what} (`visreg devices` lists every camera)"),
        },
    })
}

/// A resumed run measures exactly what it planned: its stored builds, baseline,
/// repetitions, mode, camera and dataset fill the arguments, and an argument that would
/// change them is refused with the difference shown. A finished run is not resumed (nor,
/// in `run`, one another process is measuring now).
fn adopt_stored_plan(args: &mut RunArgs, id: &str) -> anyhow::Result<()> {
    crate::cmd_report::check_run_id(id)?;
    let store = Store::open(&args.store)?;
    let r = store
        .run(id)?
        .with_context(|| format!("no run {id} in {}", store.name()))?;
    // `running` may be a run killed a moment ago: whether a process still measures it is
    // what its reservation says (taken in `run`).
    if r.status == RunStatus::Done {
        bail!(
            "run {id} is finished: there is nothing to resume; `visreg report {id} --store {}` writes its report again",
            store.name()
        );
    }
    let stored: Vec<String> = serde_json::from_str(&r.builds_json)
        .with_context(|| format!("run {id}: its stored builds"))?;
    let mut differences = Vec::new();
    if let Some(given) = &args.firmware {
        let given: Vec<String> = given.split(',').map(|b| b.trim().to_string()).collect();
        if given != stored {
            differences.push(format!(
                "--firmware {} (the run measures {})",
                given.join(","),
                stored.join(",")
            ));
        }
    }
    if let Some(b) = args.baseline.as_deref().filter(|b| *b != r.baseline) {
        differences.push(format!("--baseline {b} (the run's is {})", r.baseline));
    }
    if let (Some(given), Some(planned)) = (args.repeat, r.repeats) {
        if given != planned {
            differences.push(format!("--repeat {given} (the run plans {planned})"));
        }
    }
    if let Some(m) = args.mode.as_deref().filter(|m| *m != r.mode) {
        differences.push(format!("--mode {m} (the run's is {})", r.mode));
    }
    let stored_camera = CameraSelector::parse(&r.camera);
    if let Some(c) = &args.camera {
        let given = CameraSelector::parse(c);
        if (given == CameraSelector::Sim) != (stored_camera == CameraSelector::Sim) {
            differences.push(format!("--camera {c} (the run measured {})", r.camera));
        } else if given != stored_camera {
            // The same camera may come back on another port; a virtual camera never does.
            eprintln!("note: resuming run {id} on {c}; it began on {}", r.camera);
        }
    }
    if let Some(p) = args.preset.as_deref().filter(|p| *p != r.dataset_name) {
        differences.push(format!(
            "--preset {p} (the run measured dataset {})",
            r.dataset_name
        ));
    }
    if !differences.is_empty() {
        bail!(
            "run {id} resumes with the plan it was started with; these arguments would change it: {}. Drop them (`visreg run --resume {id} --store {}` takes the plan from the store), or start a new run",
            differences.join("; "),
            store.name()
        );
    }
    args.firmware = Some(stored.join(","));
    args.baseline = Some(r.baseline.clone());
    args.mode = Some(r.mode.clone());
    args.repeat = Some(match (r.repeats, args.repeat) {
        (Some(n), _) => n,
        // Stores written before repetitions were recorded: the argument, or the default.
        (None, given) => given.unwrap_or(3),
    });
    if args.camera.is_none() {
        args.camera = (stored_camera != CameraSelector::Sim).then(|| r.camera.clone());
    }
    if args.dataset.is_none() && args.preset.is_none() && preset::find(&r.dataset_name).is_ok() {
        args.preset = Some(r.dataset_name.clone());
    }
    Ok(())
}

/// The command that finishes run `id` as it was planned: everything else comes from the
/// store.
fn resume_command(args: &RunArgs, id: &str, store: &Store) -> String {
    let mut c = format!("visreg run --resume {id} --store {}", store.name());
    if let Some(cat) = &args.catalog {
        c += &format!(" --catalog {}", cat.display());
    }
    if let Some(ds) = &args.dataset {
        c += &format!(" --dataset {}", ds.display());
    }
    c
}

pub fn run(mut args: RunArgs) -> anyhow::Result<Outcome> {
    if let Some(id) = args.resume.clone() {
        adopt_stored_plan(&mut args, &id)?;
    }
    if args.repeats() == 0 {
        bail!("--repeat 0 measures nothing, and an empty run is never a pass: give at least 1 (default 3)");
    }
    if args.lab.is_some() {
        return crate::cmd_lab::run_lab(args);
    }
    let (catalog, image_base, builds, baseline) = plan_builds(&args)?;
    let dataset = load_dataset(&args)?;
    check_board_runs_dataset(&builds, &dataset)?;
    let hash = dataset.content_hash()?;
    let store = Store::open(&args.store)?;
    let run_id = match &args.resume {
        Some(id) => {
            crate::cmd_report::check_run_id(id)?;
            let r = store
                .run(id)?
                .with_context(|| format!("no run {id} in {}", store.name()))?;
            if r.dataset_hash != hash {
                bail!("run {id} measured dataset {} ({}); give the same --dataset/--preset to resume it", r.dataset_name, r.dataset_hash);
            }
            id.clone()
        }
        // Seconds for order, 32 random bits for uniqueness: two runs in the same second
        // (containers share pids across namespaces) must not collide.
        None => format!("run-{}-{:08x}", now_unix_s() as u64, rand::random::<u32>()),
    };
    // One process measures a run at a time: a resume of a run another process is still
    // measuring (its holder alive, on PostgreSQL its session open) is refused with who;
    // one killed a moment ago (SIGKILL) resumes at once.
    let _run_held = match store.reserve(&format!("run:{run_id}"), &run_id)? {
        visreg_reports::store::Reserved::Got(r) => r,
        visreg_reports::store::Reserved::Held(h) => {
            bail!("run {run_id} is being measured now by {h}: wait for it, or stop that process first")
        }
    };
    // Where the report goes is checked now, not after hours of measuring.
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| crate::cmd_report::reports_dir().join(&run_id));
    crate::cmd_report::check_out_dir(&out)?;
    // The camera: a real one by port or serial, else a virtual one on a pty.
    let stop = Arc::new(AtomicBool::new(false));
    let selector = args
        .camera
        .as_deref()
        .map_or(CameraSelector::Sim, CameraSelector::parse);
    if args.mode() == "live" && selector != CameraSelector::Sim {
        bail!(
            "live mode scores what the camera's own sensor sees against truth, which a real camera has only on a rig: describe it as a fixture in lab.toml and run `visreg run --lab lab.toml --mode live` (see lab.example.toml), or use --mode replay"
        );
    }
    // Held for the whole run; before the camera is opened, so two runs never share it.
    let _reservation = reserve_camera(
        &store,
        &selector,
        &run_id,
        std::time::Duration::from_secs(args.camera_wait),
    )?;
    let (port, sim_thread) = start_camera(
        &selector,
        &catalog,
        &builds[0].name,
        &dataset,
        args.link == "real",
    )?;
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed));
    }
    if args.resume.is_none() {
        store.create_run(&RunRecord {
            id: run_id.clone(),
            started_unix_s: now_unix_s(),
            finished_unix_s: None,
            status: RunStatus::Running,
            host_json: serde_json::to_string(&HostInfo::current())?,
            dataset_name: dataset.manifest.name.clone(),
            dataset_hash: hash.clone(),
            camera: selector.to_arg(),
            baseline: baseline.clone(),
            builds_json: serde_json::to_string(
                &builds.iter().map(|b| &b.name).collect::<Vec<_>>(),
            )?,
            detector_json: serde_json::to_string(&visreg_apriltag::DetectorSettings::reference(
                dataset.manifest.tags.family,
            ))?,
            mode: args.mode().to_string(),
            repeats: Some(args.repeats()),
            heartbeat_unix_s: None,
        })?;
    }
    eprintln!(
        "run {run_id}: {} build(s) × {} repetition(s) on {} ({}), baseline {baseline}, dataset {} ({} frames); store {}",
        builds.len(),
        args.repeats(),
        port,
        args.camera.as_deref().unwrap_or("virtual camera"),
        dataset.manifest.name,
        dataset.frames.len(),
        store.name()
    );
    let plan = RunPlan {
        run_id: run_id.clone(),
        port,
        builds: builds.clone(),
        baseline: baseline.clone(),
        dataset: dataset.clone(),
        repeats: args.repeats(),
        live: args.mode() == "live",
        health_check: false,
        sensor_shows_dataset: true,
        on_camera: None,
        image_base,
    };
    let progress = crate::progress::RunProgress::new(
        "{msg:>36} [{bar:30}] {pos}/{len} frames (eta {eta})",
        "",
    );
    let result = execute(&plan, &store, &stop, &|e| progress.event(e));
    progress.finish();
    if let Some(cam) = sim_thread {
        cam.stop();
    }
    // Stopped by the user: whatever the stop interrupted is not a failure of the run.
    if stop.load(Ordering::Relaxed) {
        if let Err(e) = &result {
            tracing::info!("stopped while: {e}");
        }
    } else if let Err(e) = result {
        store.finish_run(&run_id, RunStatus::Failed)?;
        let kept = store.frame_count(&run_id)?;
        if kept == 0 {
            bail!("{e}\nnothing was measured (run {run_id} is marked failed)");
        }
        bail!(
            "{e}\n{kept} frame results are kept: resume with `{}`",
            resume_command(&args, &run_id, &store)
        );
    }
    if stop.load(Ordering::Relaxed) {
        store.finish_run(&run_id, RunStatus::Interrupted)?;
        eprintln!(
            "interrupted: {} frame results kept; finish with `{}`",
            store.frame_count(&run_id)?,
            resume_command(&args, &run_id, &store)
        );
        return Ok(Outcome::Incomplete);
    }
    store.finish_run(&run_id, RunStatus::Done)?;
    let names: Vec<String> = builds.iter().map(|b| b.name.clone()).collect();
    let units = if plan.live {
        visreg::run::Units::Live
    } else {
        visreg::run::Units::Replay
    };
    let v = verdicts(&store, &run_id, &names, &baseline, units)?;
    std::fs::write(
        out.join("verdicts.json"),
        serde_json::to_string_pretty(&v)? + "\n",
    )?;
    let mut t = crate::term::table();
    t.set_header([
        "build",
        "metric",
        "bucket",
        "verdict",
        "change",
        "95 % interval",
        "p",
    ]);
    let mut regressions = 0;
    for e in &v {
        // Drill-down buckets say where a change lies, and a confounded change is explained
        // by another: neither fails a run (the report and `visreg runs` count the same).
        if visreg_reports::report::fails_run(e) {
            regressions += 1;
        }
        if e.verdict == Verdict::Unchanged
            || (e.bucket.is_some() && e.verdict == Verdict::Inconclusive)
        {
            continue;
        }
        let f = |x: Option<f64>| {
            x.map(|x| visreg_bench::metrics::format_change(&e.metric, x))
                .unwrap_or_else(|| "–".into())
        };
        t.add_row([
            e.build.clone(),
            e.metric.clone(),
            e.bucket.clone().unwrap_or_else(|| "all".into()),
            match &e.confounded {
                Some(_) => "confounded".to_string(),
                None if !e.primary => format!("{:?} (drill-down)", e.verdict).to_lowercase(),
                None => format!("{:?}", e.verdict).to_lowercase(),
            },
            f(e.change),
            format!("{} … {}", f(e.ci_low), f(e.ci_high)),
            visreg_bench::metrics::format_p(e.p_value),
        ]);
    }
    if regressions == 0 {
        println!(
            "run {run_id}: no regression against {baseline} ({} checks unchanged or inconclusive)",
            v.len()
        );
    } else {
        println!("run {run_id}: {regressions} regression(s) against {baseline}\n{t}");
    }
    for e in &v {
        if let Some(why) = &e.confounded {
            println!("  {} {}: {why}", e.build, e.metric);
        }
    }
    let mut notes: Vec<&str> = v.iter().filter_map(|e| e.note.as_deref()).collect();
    notes.dedup();
    for n in notes {
        println!("  note: {n}");
    }
    println!(
        "verdicts written to {}",
        out.join("verdicts.json").display()
    );
    crate::cmd_report::write_report(&store, &run_id, Some(&dataset), Some(v.clone()), &out)?;
    crate::ci::annotate_regressions(&v, None);
    Ok(if regressions > 0 {
        Outcome::Regression
    } else {
        Outcome::Clean
    })
}
