//! `visreg report RUN`: the run's report from the store, and the same files at the end of
//! every `visreg run`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use visreg_datasets::cache::ensure_preset;
use visreg_datasets::{preset, Dataset};
use visreg_reports::store::Store;

use crate::cli::ReportArgs;
use crate::Outcome;

pub fn run(args: ReportArgs) -> anyhow::Result<Outcome> {
    let store = Store::open(&args.store)?;
    if let Some(id) = &args.run {
        check_run_id(id)?;
    }
    let Some(run_id) = args.run.clone() else {
        return history(&store, &args);
    };
    let record = store.run(&run_id)?.with_context(|| {
        format!(
            "no run {} in {} (`visreg runs --store …` lists them)",
            run_id,
            store.name()
        )
    })?;
    let dataset = match &args.dataset {
        Some(dir) => Some(Dataset::open(dir).map_err(|e| anyhow::anyhow!("{e}"))?),
        None => preset::find(&record.dataset_name)
            .ok()
            .and_then(|p| ensure_preset(p, preset::DEFAULT_SEED, &|_| {}).ok()),
    };
    let dataset = match dataset {
        Some(ds) if ds.content_hash()? == record.dataset_hash => Some(ds),
        Some(_) => {
            eprintln!(
                "warning: that dataset is not the one run {} measured (hash {}): the gallery is left out",
                run_id, record.dataset_hash
            );
            None
        }
        None => {
            eprintln!(
                "note: dataset {} is not a built-in preset; give --dataset DIR to draw the gallery",
                record.dataset_name
            );
            None
        }
    };
    let out = args
        .out
        .unwrap_or_else(|| crate::cmd_report::reports_dir().join(&run_id));
    let input = write_report(&store, &run_id, dataset.as_ref(), None, &out)?;
    if let Some(why) = input.incomplete() {
        // A report of a run without a verdict is written, and never exits green.
        eprintln!("{why}");
        return Ok(Outcome::Incomplete);
    }
    Ok(
        if input.verdicts.iter().any(visreg_reports::report::fails_run) {
            Outcome::Regression
        } else {
            Outcome::Clean
        },
    )
}

/// `visreg report --history`: a history.html over every run of each dataset in the
/// store (of `--dataset`'s alone when given), each in its own folder.
fn history(store: &Store, args: &ReportArgs) -> anyhow::Result<Outcome> {
    let hashes = match &args.dataset {
        Some(dir) => vec![Dataset::open(dir)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .content_hash()?],
        None => {
            let mut runs = store.runs()?;
            if runs.is_empty() {
                anyhow::bail!(
                    "{} holds no run yet: `visreg run --store {}` writes one",
                    store.name(),
                    store.name()
                );
            }
            // Newest dataset first, as the pages are listed.
            runs.sort_by(|a, b| b.started_unix_s.total_cmp(&a.started_unix_s));
            let mut hashes: Vec<String> = Vec::new();
            for r in runs {
                if !hashes.contains(&r.dataset_hash) {
                    hashes.push(r.dataset_hash);
                }
            }
            hashes
        }
    };
    for hash in &hashes {
        let input = visreg::report::gather_history(store, Some(hash), args.board.as_deref())?;
        // One page per store and dataset: a shared file would be overwritten by whichever
        // store or dataset was read last.
        let subdir = visreg_reports::report::history_subdir(store.name(), &input.dataset.0, hash);
        let out = match (&args.out, &args.dataset) {
            (Some(out), Some(_)) => out.clone(),
            (Some(out), None) => out.join(subdir.file_name().expect("a dataset folder")),
            (None, _) => crate::cmd_report::reports_dir()
                .join("history")
                .join(&subdir),
        };
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        let page = out.join("history.html");
        std::fs::write(&page, visreg_reports::report::history_html(&input))
            .with_context(|| format!("writing {}", page.display()))?;
        let (hosts, cams) = input.hosts_and_cameras();
        println!(
            "history of {} ({} run(s) from {} host(s) and {} camera(s)) written to {}",
            input.dataset.0,
            input.runs.len(),
            hosts.len(),
            cams.len(),
            page.display()
        );
    }
    Ok(Outcome::Clean)
}

/// Where reports go without `--out`: `visreg-reports/` in the current folder (its own
/// folder, ignored by git in a checkout, never inside a crate's sources).
pub fn reports_dir() -> PathBuf {
    PathBuf::from("visreg-reports")
}

/// Gathers and writes the report of `run_id` into `out`, saying where it went.
pub fn write_report(
    store: &Store,
    run_id: &str,
    dataset: Option<&Dataset>,
    judged: Option<Vec<visreg::run::VerdictEntry>>,
    out: &Path,
) -> anyhow::Result<visreg_reports::report::ReportInput> {
    let input = visreg::report::gather(store, run_id, dataset, judged)?;
    visreg::report::write(&input, out)
        .with_context(|| format!("writing the report into {}", out.display()))?;
    println!(
        "report written to {} (index.html, summary.md, junit.xml, bmf/<build>.json)",
        out.display()
    );
    Ok(input)
}

/// Refuses a run id that is not one visreg makes or could be read as a path
/// (`../../tmp/x`): ids name folders under `visreg-reports/`.
pub fn check_run_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        anyhow::bail!(
            "'{id}' is not a run id (letters, digits, '-', '_' and '.', not starting with '.'): `visreg lab status` and the end of each run print them"
        )
    }
}

/// Makes the output folder and proves it writable, before anything is measured.
pub fn check_out_dir(out: &std::path::Path) -> anyhow::Result<()> {
    if out.exists() && !out.is_dir() {
        anyhow::bail!(
            "--out {} is a file, not a folder: name a folder (it is created if missing)",
            out.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| {
        format!(
            "creating the report folder {} (give --out a writable folder)",
            out.display()
        )
    })?;
    let probe = out.join(".visreg-write-check");
    std::fs::write(&probe, b"").with_context(|| {
        format!(
            "the report folder {} is not writable: give --out a writable folder",
            out.display()
        )
    })?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}
