//! `visreg eval`: the host reference detector on a dataset, scored against its truth.

use anyhow::{bail, Context};
use visreg_bench::{evaluate, EvalOptions, MatchConfig};
use visreg_datasets::cache::ensure_preset;
use visreg_datasets::{preset, Dataset};
use visreg_reports::{table, EvalDocument, HostInfo};

use crate::cli::EvalArgs;
use crate::progress::bar;
use crate::Outcome;

pub fn run(args: EvalArgs) -> anyhow::Result<Outcome> {
    let dataset = match (&args.dataset, &args.preset) {
        (Some(dir), _) => Dataset::open(dir).map_err(|e| {
            anyhow::anyhow!(
                "{e}\n(not a valid dataset: check it with `visreg dataset check {}`)",
                dir.display()
            )
        })?,
        (None, name) => {
            let p = preset::find(name.as_deref().unwrap_or("qvga-basic"))?;
            let pb = bar(p.frames, "rendering");
            let ds = ensure_preset(p, args.seed, &|pr| {
                pb.set_length(pr.total as u64);
                pb.set_position(pr.done as u64)
            })
            .with_context(|| format!("preparing the built-in preset {}", p.name))?;
            pb.finish_and_clear();
            ds
        }
    };
    let family = dataset.manifest.tags.family;
    if let Some(f) = args.detector.family()? {
        if f != family {
            bail!("--family {f} differs from the dataset's family {family}; leave --family out for eval");
        }
    }
    if args.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    // Each worker holds a detector and frames in flight: far more workers than CPUs only
    // costs memory (300 took 5.8 GB) and time to start.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(n) = args.threads.filter(|&n| n > 4 * cpus) {
        bail!("--threads {n} is more than 4 per CPU on this machine ({cpus} CPUs): give at most {} (default: one per CPU)", 4 * cpus);
    }
    let opts = EvalOptions {
        settings: args.detector.settings(family),
        threads: args.threads,
        matching: MatchConfig::default(),
    };
    let pb = bar(dataset.frames.len(), "detecting");
    let eval = evaluate(&dataset, &opts, &|done, _| pb.set_position(done as u64))?;
    pb.finish_and_clear();
    let hash = dataset.content_hash()?;
    let doc = EvalDocument::new(
        &dataset,
        hash,
        &opts.settings,
        opts.matching,
        &eval,
        HostInfo::current(),
    );
    let to_stdout = args.json.as_deref().is_some_and(|p| p.as_os_str() == "-");
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&doc)? + "\n";
        if to_stdout {
            print!("{text}");
        } else {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if !to_stdout {
        println!(
            "dataset {} ({} frames, {} tags, {}) — {}",
            doc.dataset.name, doc.dataset.frames, doc.dataset.tags, family, doc.dataset.hash
        );
        println!(
            "detector AprilTag C {} (quad_decimate {}, refine_edges {}, max_hamming {}) — {} threads, {:.1} frames/s",
            doc.detector.library_version,
            opts.settings.quad_decimate,
            opts.settings.refine_edges,
            opts.settings.max_hamming,
            doc.threads,
            doc.frames_per_s
        );
        println!(
            "{}",
            table::metrics_table(&doc.overall, &doc.buckets, crate::term::width_override())
        );
        if let Some(path) = args.json.as_ref() {
            println!("metrics written to {}", path.display());
        }
    }
    Ok(Outcome::Clean)
}
