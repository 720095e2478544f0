//! `visreg run --lab lab.toml` (one worker per camera, bars per camera, the lab's
//! summary and exit code) and `visreg lab status`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use comfy_table::Table;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::json;
use visreg::lab::{work, CameraOutcome, LabEvent, LabFile, LabPlan, LabSource};
use visreg_bench::verdict::Verdict;
use visreg_reports::store::{now_unix_s, Store};

use crate::cli::{LabCommand, RunArgs};
use crate::Outcome;

pub fn run_lab(args: RunArgs) -> anyhow::Result<Outcome> {
    let path = args.lab.clone().expect("--lab given");
    let lab = LabFile::load(&path)?;
    let cameras = lab.select(args.boards.as_deref());
    if cameras.is_empty() {
        let mut have: Vec<&str> = lab.cameras.iter().map(|c| c.board.name()).collect();
        have.sort();
        have.dedup();
        bail!(
            "no camera of {} is on board(s) {} (its cameras are on: {})",
            path.display(),
            args.boards.as_deref().unwrap_or("any"),
            have.join(", ")
        );
    }
    let (catalog, image_base, builds, baseline) = crate::cmd_run::plan_builds(&args)?;
    // Live mode measures each camera's fixture: no dataset to load (or render) then.
    let source = if args.mode() == "live" {
        LabSource::Live
    } else {
        let dataset = crate::cmd_run::load_dataset(&args)?;
        crate::cmd_run::check_board_runs_dataset(&builds, &dataset)?;
        let hash = dataset.content_hash()?;
        LabSource::Replay(Box::new(dataset), hash)
    };
    // Fail on a bad store before any camera is touched (and migrate it once); its name,
    // not the spec, goes in messages (a spec may hold a password).
    let store_name = Store::open(&args.store)?.name().to_string();
    // Seconds for order, 32 random bits for uniqueness across hosts and containers.
    let lab_run = format!("lab-{}-{:08x}", now_unix_s() as u64, rand::random::<u32>());
    let plan = LabPlan {
        lab_run: lab_run.clone(),
        catalog,
        image_base,
        builds,
        baseline: baseline.clone(),
        source,
        repeats: args.repeats(),
    };
    eprintln!(
        "lab run {lab_run}: {} camera(s) of {} in parallel, {} build(s) × {} repetition(s), baseline {baseline}, {}; store {}",
        cameras.len(),
        path.display(),
        plan.builds.len(),
        args.repeats(),
        match &plan.source {
            LabSource::Live => format!(
                "live: each camera captures its fixture ({} frames a build)",
                visreg::lab::FIXTURE_FRAMES
            ),
            LabSource::Replay(ds, _) =>
                format!("dataset {} ({} frames)", ds.manifest.name, ds.frames.len()),
        },
        store_name
    );
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed));
    }
    let multi = MultiProgress::new();
    let style = ProgressStyle::with_template(
        "{prefix:>14} {msg:<34} [{bar:24}] {pos}/{len} frames (eta {eta})",
    )
    .expect("template")
    .progress_chars("=> ");
    let bars: BTreeMap<String, ProgressBar> = cameras
        .iter()
        .map(|c| {
            let b = multi.add(ProgressBar::new(0));
            b.set_style(style.clone());
            b.set_prefix(c.name.clone());
            (c.name.clone(), b)
        })
        .collect();
    // Without a terminal the bars draw nothing: each camera's phases go to the log.
    let logs: BTreeMap<String, crate::progress::RunProgress> = cameras
        .iter()
        .filter(|_| !std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .map(|c| {
            (
                c.name.clone(),
                crate::progress::RunProgress::Log(std::sync::Mutex::new(
                    crate::progress::PhaseLog::new(&format!("{}: ", c.name)),
                )),
            )
        })
        .collect();
    let on_event = |e: LabEvent| match e {
        LabEvent::State {
            camera,
            state,
            detail,
        } => {
            if let Some(b) = bars.get(&camera) {
                b.set_message(state.clone());
                if matches!(
                    state.as_str(),
                    "error" | "power-cycled" | "quarantined" | "power-cycle-failed"
                ) {
                    b.println(format!("{camera}: {state}: {detail}"));
                }
            }
        }
        LabEvent::Run { camera, event } => {
            if let Some(log) = logs.get(&camera) {
                log.event(event);
            } else if let Some(b) = bars.get(&camera) {
                crate::progress::show_run_event(b, event);
            }
        }
    };
    let outcomes: Vec<(String, String, anyhow::Result<CameraOutcome>)> = std::thread::scope(|s| {
        let handles: Vec<_> = cameras
            .iter()
            .map(|cam| {
                let (plan, stop, on_event, store_spec) = (&plan, &stop, &on_event, &args.store);
                s.spawn(move || {
                    // One connection per worker: SQLite and PostgreSQL both serialise
                    // concurrent writers safely, and no worker waits on another's lock.
                    let r = Store::open(store_spec)
                        .map_err(anyhow::Error::from)
                        .and_then(|store| Ok(work(plan, cam, &store, stop, on_event)?));
                    (cam.name.clone(), cam.board.name().to_string(), r)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a lab worker panicked"))
            .collect()
    });
    for b in bars.values() {
        b.finish_and_clear();
    }
    for log in logs.values() {
        log.finish();
    }

    // Reports: one folder per measured camera, and the lab's own summary.
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| crate::cmd_report::reports_dir().join(&lab_run));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let store = Store::open(&args.store)?;
    let mut table = crate::term::table();
    fit(&mut table);
    table.set_header(["camera", "board", "outcome", "detail"]);
    let mut all_verdicts = Vec::new();
    let mut cams_json = Vec::new();
    let (mut quarantined, mut regressions, mut incomplete) = (0, 0, 0);
    let mut lines = Vec::new();
    let mut index_rows = Vec::new();
    for (name, board, r) in &outcomes {
        let (outcome, detail, run_id) = match r {
            Ok(CameraOutcome::Done {
                run_id,
                verdicts,
                dataset: measured,
            }) => {
                crate::ci::annotate_regressions(verdicts, Some(name));
                let n = verdicts
                    .iter()
                    .filter(|e| e.verdict == Verdict::Regressed)
                    .count();
                regressions += n;
                for e in verdicts {
                    let mut v = serde_json::to_value(e)?;
                    v["camera"] = json!(name);
                    all_verdicts.push(v);
                }
                let input = crate::cmd_report::write_report(
                    &store,
                    run_id,
                    Some(measured),
                    Some(verdicts.clone()),
                    &out.join(name),
                )?;
                ("done", input.headline(), Some(run_id.clone()))
            }
            Ok(CameraOutcome::Quarantined { run_id, reason }) => {
                quarantined += 1;
                crate::ci::annotate_quarantine(name, reason);
                (
                    "quarantined",
                    format!("infrastructure failure: {reason}"),
                    Some(run_id.clone()),
                )
            }
            Ok(CameraOutcome::Interrupted { run_id }) => {
                incomplete += 1;
                (
                    "interrupted",
                    "stopped by Ctrl-C; what was measured is kept".into(),
                    Some(run_id.clone()),
                )
            }
            Ok(CameraOutcome::Skipped { reason }) => ("skipped", reason.clone(), None),
            Err(e) => {
                incomplete += 1;
                ("failed", format!("{e:#}"), None)
            }
        };
        table.add_row([name.as_str(), board.as_str(), outcome, detail.as_str()]);
        index_rows.push(visreg_reports::report::LabRow {
            camera: name.clone(),
            board: board.clone(),
            outcome: outcome.to_string(),
            detail: detail.clone(),
            report: (outcome == "done").then(|| format!("{name}/index.html")),
        });
        lines.push(format!(
            "| {name} | {board} | **{outcome}** | {} |",
            detail.replace('|', "\\|")
        ));
        cams_json.push(json!({"camera": name, "board": board, "outcome": outcome, "detail": detail, "run": run_id}));
    }
    std::fs::write(
        out.join("verdicts.json"),
        serde_json::to_string_pretty(&all_verdicts)? + "\n",
    )?;
    let exit = if quarantined > 0 || incomplete > 0 {
        2
    } else if regressions > 0 {
        1
    } else {
        0
    };
    std::fs::write(
        out.join("lab.json"),
        serde_json::to_string_pretty(&json!({
            "lab_run": lab_run,
            "lab": lab.name,
            "host": visreg_reports::HostInfo::current().hostname,
            "cameras": cams_json,
            "regressions": regressions,
            "quarantined": quarantined,
            "exit_code": exit,
        }))? + "\n",
    )?;
    let headline = match (quarantined, regressions) {
        (0, 0) if incomplete == 0 => "✅ no regression on any camera".to_string(),
        (0, r) if incomplete == 0 => format!("❌ {r} regression(s)"),
        (q, r) => format!(
            "⚠️ infrastructure failure: {q} camera(s) quarantined{}; {r} regression(s) on the others",
            if incomplete > 0 { format!(", {incomplete} unfinished") } else { String::new() }
        ),
    };
    let mut md = format!(
        "## visreg lab {lab_run}: {headline}\n\n| camera | board | outcome | detail |\n|---|---|---|---|\n{}\n",
        lines.join("\n")
    );
    for (name, _, r) in &outcomes {
        if let Ok(CameraOutcome::Done { .. }) = r {
            if let Ok(s) = std::fs::read_to_string(out.join(name).join("summary.md")) {
                let _ = write!(
                    md,
                    "\n<details><summary>{name}</summary>\n\n{s}\n</details>\n"
                );
            }
        }
    }
    std::fs::write(out.join("summary.md"), md)?;
    std::fs::write(
        out.join("index.html"),
        visreg_reports::report::lab_index_html(&lab_run, &headline, exit != 0, &index_rows),
    )?;
    println!("lab run {lab_run}: {headline}\n{table}");
    println!(
        "lab summary written to {}",
        out.join("summary.md").display()
    );
    Ok(match exit {
        2 => Outcome::Incomplete,
        1 => Outcome::Regression,
        _ => Outcome::Clean,
    })
}

pub fn run(cmd: LabCommand) -> anyhow::Result<Outcome> {
    match cmd {
        LabCommand::Status { lab, store } => status(lab, &store),
    }
}

fn status(lab: Option<PathBuf>, store: &str) -> anyhow::Result<Outcome> {
    let store = Store::open(store)?;
    let events = store.camera_events(None)?;
    let mut names: Vec<(String, String)> = match &lab {
        Some(p) => LabFile::load(p)?
            .cameras
            .iter()
            .map(|c| (c.name.clone(), c.board.name().to_string()))
            .collect(),
        None => {
            let mut v: Vec<(String, String)> = events
                .iter()
                .map(|e| (e.camera.clone(), e.board.clone()))
                .collect();
            v.sort();
            v.dedup();
            v
        }
    };
    if names.is_empty() {
        println!(
            "no camera has reported to {} yet (visreg run --lab lab.toml writes there)",
            store.name()
        );
        return Ok(Outcome::Clean);
    }
    names.dedup();
    let now = now_unix_s();
    let age = |t: f64| {
        let s = (now - t).max(0.0) as u64;
        match s {
            0..=119 => format!("{s} s ago"),
            120..=7199 => format!("{} min ago", s / 60),
            _ => format!("{} h ago", s / 3600),
        }
    };
    let mut t = crate::term::table();
    fit(&mut t);
    t.set_header([
        "camera",
        "board",
        "state",
        "since",
        "host",
        "detail",
        "last result",
    ]);
    let mut unhealthy = false;
    for (name, board) in names {
        let mine: Vec<_> = events.iter().filter(|e| e.camera == name).collect();
        let Some(last) = mine.last() else {
            t.add_row([
                name,
                board,
                "unknown".into(),
                "–".into(),
                "–".into(),
                "never reported".into(),
                "–".into(),
            ]);
            continue;
        };
        unhealthy |= last.state == "quarantined";
        let result = mine
            .iter()
            .rev()
            .find(|e| matches!(e.state.as_str(), "done" | "quarantined"))
            .map(|e| {
                // A verdict is short; a quarantine's reason is already in `detail`.
                let what = if e.state == "done" {
                    e.detail.as_str()
                } else {
                    "quarantined"
                };
                format!(
                    "{}: {what} ({})",
                    e.run_id.clone().unwrap_or_default(),
                    age(e.recorded_unix_s)
                )
            })
            .unwrap_or_else(|| "–".into());
        t.add_row([
            name,
            board,
            last.state.clone(),
            age(last.recorded_unix_s),
            last.host.clone(),
            last.detail.clone(),
            result,
        ]);
    }
    println!("{t}");
    Ok(if unhealthy {
        Outcome::Regression
    } else {
        Outcome::Clean
    })
}

/// Wraps long cells (errors, verdicts) to the terminal (or `COLUMNS`), or to 140 columns
/// in a CI log.
fn fit(t: &mut Table) {
    crate::term::fit(t);
    if t.width().is_none() {
        t.set_width(140);
    }
}
