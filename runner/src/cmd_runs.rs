//! `visreg runs`: the stored runs, newest first — what a run id stands for, without
//! opening its report. A finished run's verdict is the one kept with it in the store; a
//! run finished before visreg kept verdicts is judged once now (as `visreg report`
//! judges it) and its verdict kept.

use anyhow::Context;
use serde::Serialize;
use visreg_reports::store::{RunOverview, RunStatus, RunVerdict, Store};

use crate::cli::RunsArgs;
use crate::Outcome;

/// What a run concluded, in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Conclusion {
    /// Finished, no check failed.
    Pass,
    /// Finished, at least one check failed.
    Regressed,
    /// Ended by an error.
    Failed,
    /// Not finished: interrupted, quarantined, or still running.
    Incomplete,
    /// Finished, but its stored results cannot be judged (`problem` says why).
    Unreadable,
}

/// One run of `visreg runs --json`.
#[derive(Debug, Serialize)]
struct RunLine {
    id: String,
    started_unix_s: f64,
    /// Local time, RFC 3339 with its offset.
    started: String,
    status: RunStatus,
    builds: Vec<String>,
    baseline: String,
    boards: Vec<String>,
    camera: String,
    host: String,
    dataset: String,
    camera_frames: u64,
    verdict: Conclusion,
    regressions: Option<u64>,
    checks: Option<u64>,
    /// Why the run could not be judged, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

pub fn run(args: RunsArgs) -> anyhow::Result<Outcome> {
    let store = Store::open(&args.store)?;
    let limit = (args.limit > 0).then_some(args.limit);
    let overviews = store.run_overviews(limit)?;
    let mut lines = Vec::new();
    for o in overviews {
        // One damaged run does not hide the others: it is listed as unreadable, with why.
        let (verdict, problem) = match (o.record.status, o.verdict) {
            (RunStatus::Done, None) => match judge(&store, &o) {
                Ok(v) => (Some(v), None),
                Err(e) => (None, Some(format!("{e:#}"))),
            },
            (_, v) => (v, None),
        };
        lines.push(line(o, verdict, problem));
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "schema": "visreg.runs/1",
                "store": store.name(),
                "runs": lines,
            }))?
        );
        return Ok(Outcome::Clean);
    }
    if lines.is_empty() {
        println!(
            "{} holds no run yet: `visreg run --store {}` writes one",
            store.name(),
            store.name()
        );
        return Ok(Outcome::Clean);
    }
    let mut t = crate::term::table();
    t.set_header([
        "run",
        "started",
        "status",
        "verdict",
        "builds",
        "board · camera · host",
    ]);
    for l in &lines {
        t.add_row([
            l.id.clone(),
            local_time(l.started_unix_s).0,
            l.status.to_string(),
            verdict_cell(l),
            builds_cell(&l.builds, &l.baseline),
            format!(
                "{} · {} · {}",
                if l.boards.is_empty() {
                    "–".into()
                } else {
                    l.boards.join(", ")
                },
                if l.camera == "sim" {
                    "virtual"
                } else {
                    l.camera.as_str()
                },
                l.host
            ),
        ]);
    }
    // What is copied or read at a glance never wraps; builds and where wrap to the width.
    for i in 0..4 {
        if let Some(c) = t.column_mut(i) {
            c.set_constraint(comfy_table::ColumnConstraint::ContentWidth);
        }
    }
    println!("{t}");
    for l in &lines {
        if let Some(why) = &l.problem {
            println!("{}: unreadable: {why}", l.id);
        }
    }
    if limit.is_some_and(|n| lines.len() as u64 == n) {
        // Without the store's name: a URL would not fit the width the table keeps to.
        println!(
            "the {} newest run(s); `--limit 0` lists every one",
            lines.len()
        );
    }
    Ok(Outcome::Clean)
}

/// A finished run without a kept verdict, judged now (and kept, by `verdicts`).
fn judge(store: &Store, o: &RunOverview) -> anyhow::Result<RunVerdict> {
    let r = &o.record;
    let builds: Vec<String> = serde_json::from_str(&r.builds_json)
        .with_context(|| format!("run {}: its stored builds", r.id))?;
    let units = if r.mode == "live" {
        visreg::run::Units::Live
    } else {
        visreg::run::Units::Replay
    };
    let v = visreg::run::verdicts(store, &r.id, &builds, &r.baseline, units)
        .with_context(|| format!("judging run {}", r.id))?;
    Ok(RunVerdict {
        regressions: v
            .iter()
            .filter(|e| visreg_reports::report::fails_run(e))
            .count() as u64,
        checks: v.len() as u64,
    })
}

fn line(o: RunOverview, verdict: Option<RunVerdict>, problem: Option<String>) -> RunLine {
    let r = o.record;
    let host = serde_json::from_str::<serde_json::Value>(&r.host_json)
        .ok()
        .and_then(|h| h["hostname"].as_str().map(String::from))
        .unwrap_or_else(|| "–".into());
    let conclusion = match r.status {
        RunStatus::Done if problem.is_some() => Conclusion::Unreadable,
        RunStatus::Done => match verdict {
            Some(v) if v.regressions > 0 => Conclusion::Regressed,
            // A finished run with no check judged gives no verdict, never a pass.
            Some(v) if v.checks > 0 => Conclusion::Pass,
            _ => Conclusion::Incomplete,
        },
        RunStatus::Failed => Conclusion::Failed,
        RunStatus::Running | RunStatus::Interrupted | RunStatus::Quarantined => {
            Conclusion::Incomplete
        }
    };
    RunLine {
        started: local_time(r.started_unix_s).1,
        builds: serde_json::from_str(&r.builds_json).unwrap_or_default(),
        id: r.id,
        started_unix_s: r.started_unix_s,
        status: r.status,
        baseline: r.baseline,
        boards: o.boards,
        camera: r.camera,
        host,
        dataset: r.dataset_name,
        camera_frames: o.camera_frames,
        verdict: conclusion,
        regressions: verdict.map(|v| v.regressions),
        checks: verdict.map(|v| v.checks),
        problem,
    }
}

/// The baseline first and marked, then the candidates.
fn builds_cell(builds: &[String], baseline: &str) -> String {
    let mut out = vec![format!("{baseline} (base)")];
    out.extend(builds.iter().filter(|b| *b != baseline).cloned());
    out.join(", ")
}

fn verdict_cell(l: &RunLine) -> String {
    match (l.verdict, l.regressions) {
        (Conclusion::Regressed, Some(n)) => format!("{n} regression(s)"),
        (Conclusion::Pass, _) => "pass".into(),
        (Conclusion::Failed, _) => "failed".into(),
        (Conclusion::Unreadable, _) => "unreadable (below)".into(),
        _ => "incomplete".into(),
    }
}

/// `unix_s` in the local time zone: ("2025-06-01 14:03", "2025-06-01T14:03:22+02:00").
pub(crate) fn local_time(unix_s: f64) -> (String, String) {
    let (t, offset_s) = local_parts(unix_s.floor() as i64);
    let sign = if offset_s < 0 { '-' } else { '+' };
    let off = offset_s.unsigned_abs();
    (
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            t.year, t.month, t.day, t.hour, t.minute
        ),
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
            t.year,
            t.month,
            t.day,
            t.hour,
            t.minute,
            t.second,
            off / 3600,
            off % 3600 / 60
        ),
    )
}

/// A calendar date and time of day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

/// `unix_s` as UTC (Howard Hinnant's days-to-civil).
fn utc(unix_s: i64) -> Civil {
    let days = unix_s.div_euclid(86_400);
    let secs = unix_s.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: secs / 3600,
        minute: secs % 3600 / 60,
        second: secs % 60,
    }
}

/// The local time of `unix_s` and the zone's offset from UTC then, in seconds (the C
/// library's `localtime_r`, which reads TZ and the system's zone files).
#[cfg(unix)]
fn local_parts(unix_s: i64) -> (Civil, i64) {
    let t: libc::time_t = unix_s as libc::time_t;
    // SAFETY: `tm` is plain data that localtime_r fills; both pointers are valid for the
    // call and it keeps neither.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return (utc(unix_s), 0);
    }
    (
        Civil {
            year: i64::from(tm.tm_year) + 1900,
            month: (tm.tm_mon + 1) as u32,
            day: tm.tm_mday as u32,
            hour: tm.tm_hour as u32,
            minute: tm.tm_min as u32,
            second: tm.tm_sec as u32,
        },
        tm.tm_gmtoff,
    )
}

/// Elsewhere: UTC, said as such by its +00:00 offset.
#[cfg(not(unix))]
fn local_parts(unix_s: i64) -> (Civil, i64) {
    (utc(unix_s), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_are_the_calendars() {
        let c = |y, mo, d, h, mi, s| Civil {
            year: y,
            month: mo,
            day: d,
            hour: h,
            minute: mi,
            second: s,
        };
        assert_eq!(utc(0), c(1970, 1, 1, 0, 0, 0));
        // 2024 is a leap year: 29 February exists, and 1 March follows it.
        assert_eq!(utc(1_709_164_800), c(2024, 2, 29, 0, 0, 0));
        assert_eq!(utc(1_709_251_199), c(2024, 2, 29, 23, 59, 59));
        assert_eq!(utc(1_709_251_200), c(2024, 3, 1, 0, 0, 0));
        assert_eq!(utc(1_764_028_800), c(2025, 11, 25, 0, 0, 0));
        assert_eq!(utc(-1), c(1969, 12, 31, 23, 59, 59));
    }

    #[test]
    fn local_time_carries_its_offset() {
        let (short, rfc) = local_time(1_764_028_800.7);
        assert_eq!(short.len(), "2025-11-25 00:00".len(), "{short}");
        let (c, off) = local_parts(1_764_028_800);
        // The local reading and its offset are the UTC instant, whatever the zone.
        let back = utc(1_764_028_800 + off);
        assert_eq!(back, c);
        assert!(rfc.ends_with(&format!(
            "{}{:02}:{:02}",
            if off < 0 { '-' } else { '+' },
            off.unsigned_abs() / 3600,
            off.unsigned_abs() % 3600 / 60
        )));
    }

    #[test]
    fn a_finished_run_with_nothing_judged_is_no_pass() {
        let mut o = RunOverview {
            record: visreg_reports::store::RunRecord {
                id: "r".into(),
                started_unix_s: 0.0,
                finished_unix_s: Some(1.0),
                status: RunStatus::Done,
                host_json: r#"{"hostname": "lab-1"}"#.into(),
                dataset_name: "qvga-basic".into(),
                dataset_hash: "h".into(),
                camera: "sim".into(),
                baseline: "5.0.0".into(),
                builds_json: r#"["5.0.0", "5.0.1"]"#.into(),
                detector_json: "{}".into(),
                mode: "replay".into(),
                repeats: Some(1),
                heartbeat_unix_s: None,
            },
            boards: vec!["H7 Plus".into()],
            camera_frames: 400,
            verdict: None,
        };
        let judged = |regressions, checks| {
            Some(RunVerdict {
                regressions,
                checks,
            })
        };
        assert_eq!(
            line(o.clone(), judged(0, 0), None).verdict,
            Conclusion::Incomplete
        );
        assert_eq!(
            line(o.clone(), judged(0, 9), None).verdict,
            Conclusion::Pass
        );
        let l = line(o.clone(), judged(2, 9), None);
        assert_eq!(
            (l.verdict, verdict_cell(&l).as_str()),
            (Conclusion::Regressed, "2 regression(s)")
        );
        assert_eq!(l.host, "lab-1");
        // A finished run whose results cannot be judged is neither a pass nor hidden.
        let l = line(o.clone(), None, Some("damaged".into()));
        assert_eq!(
            (l.verdict, verdict_cell(&l).as_str()),
            (Conclusion::Unreadable, "unreadable (below)")
        );
        o.record.status = RunStatus::Quarantined;
        assert_eq!(line(o.clone(), None, None).verdict, Conclusion::Incomplete);
        o.record.status = RunStatus::Failed;
        assert_eq!(line(o, None, None).verdict, Conclusion::Failed);
        assert_eq!(
            builds_cell(&["5.0.0".into(), "5.0.1".into()], "5.0.0"),
            "5.0.0 (base), 5.0.1"
        );
    }
}
