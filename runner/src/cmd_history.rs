//! `visreg compare RUN_A RUN_B` and `visreg history`: judgements across stored runs.

use visreg::run::{compare_runs, history};
use visreg_reports::store::Store;

use crate::cli::{CompareArgs, HistoryArgs};
use crate::Outcome;

pub fn compare(args: CompareArgs) -> anyhow::Result<Outcome> {
    let store = Store::open(&args.store)?;
    let v = compare_runs(&store, &args.run_a, &args.run_b)?;
    if v.is_empty() {
        anyhow::bail!(
            "runs {} and {} have no build in common",
            args.run_a,
            args.run_b
        );
    }
    let mut t = crate::term::table();
    t.set_header(["build", "metric", "verdict", "change", "95 % interval", "p"]);
    for e in &v {
        let f = |x: Option<f64>| {
            x.map(|x| visreg_bench::metrics::format_change(&e.metric, x))
                .unwrap_or_else(|| "–".into())
        };
        t.add_row([
            e.build.clone(),
            e.metric.clone(),
            format!("{:?}", e.verdict).to_lowercase(),
            f(e.change),
            format!("{} … {}", f(e.ci_low), f(e.ci_high)),
            visreg_bench::metrics::format_p(e.p_value),
        ]);
    }
    println!(
        "{} (candidate) against {} (baseline)\n{t}",
        args.run_b, args.run_a
    );
    // As `visreg run` counts: drill-down buckets and confounded changes do not fail.
    Ok(if v.iter().any(visreg_reports::report::fails_run) {
        Outcome::Regression
    } else {
        Outcome::Clean
    })
}

pub fn history_cmd(args: HistoryArgs) -> anyhow::Result<Outcome> {
    let store = Store::open(&args.store)?;
    let points = history(
        &store,
        args.board.as_deref(),
        args.build.as_deref(),
        None,
        &args.metric,
    )?;
    if points.is_empty() {
        println!("no runs with {} in {}", args.metric, store.name());
        return Ok(Outcome::Clean);
    }
    let mut t = crate::term::table();
    // One series per build and host / camera: a lab run's cameras are separate sources.
    t.set_header([
        "run",
        "started",
        "build",
        "host / camera",
        &args.metric,
        "change point",
    ]);
    for p in &points {
        t.add_row([
            p.run_id.clone(),
            crate::cmd_runs::local_time(p.started_unix_s).0,
            p.build.clone(),
            p.source.clone(),
            format!("{:.4}", p.value),
            if p.change_point {
                "◀ change starts here".into()
            } else {
                String::new()
            },
        ]);
    }
    println!("{t}");
    Ok(Outcome::Clean)
}
