//! Annotations for CI systems that read them from the log: on GitHub Actions
//! (`GITHUB_ACTIONS=true`), each regression and each quarantined camera becomes an
//! `::error` line, which the run's page shows at the top (GitHub shows about ten per
//! step, so at most ten are written; the job summary has the rest).

use visreg::run::VerdictEntry;
use visreg_bench::metrics::format_change;

const MAX: usize = 10;

fn on_github() -> bool {
    std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true")
}

/// GitHub's workflow commands end at a newline and treat `%` specially.
fn escape(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// The annotation lines for `verdicts` (of `camera`, in a lab): one per check that fails
/// the run — not drill-down buckets, not confounded changes, as the exit code counts.
pub fn regression_lines(verdicts: &[VerdictEntry], camera: Option<&str>) -> Vec<String> {
    verdicts
        .iter()
        .filter(|e| visreg_reports::report::fails_run(e))
        .take(MAX)
        .map(|e| {
            let c = |x: Option<f64>| {
                x.map(|x| format_change(&e.metric, x))
                    .unwrap_or_else(|| "–".into())
            };
            let check = visreg_reports::report::check_name(e);
            let on = camera.map(|c| format!(" on {c}")).unwrap_or_default();
            format!(
                "::error title=visreg: {} regressed::{}",
                escape(&e.build),
                escape(&format!(
                    "{check} of {} against {}{on}: {} (95 % CI {} … {})",
                    e.build,
                    e.baseline,
                    c(e.change),
                    c(e.ci_low),
                    c(e.ci_high)
                ))
            )
        })
        .collect()
}

/// Prints the regression annotations when on GitHub Actions.
pub fn annotate_regressions(verdicts: &[VerdictEntry], camera: Option<&str>) {
    if on_github() {
        for l in regression_lines(verdicts, camera) {
            println!("{l}");
        }
    }
}

/// Prints an infrastructure-failure annotation when on GitHub Actions.
pub fn annotate_quarantine(camera: &str, reason: &str) {
    if on_github() {
        println!(
            "::error title=visreg: camera {} quarantined::{}",
            escape(camera),
            escape(&format!(
                "infrastructure failure, not a regression: {reason}"
            ))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use visreg_bench::verdict::Verdict;

    #[test]
    fn a_regression_is_one_line_with_its_interval() {
        let e = VerdictEntry {
            build: "5.1.0-rc1".into(),
            baseline: "5.0.0".into(),
            metric: "latency_ms".into(),
            bucket: None,
            verdict: Verdict::Regressed,
            change: Some(0.25),
            ci_low: Some(0.24),
            ci_high: Some(0.26),
            p_value: Some(0.0),
            n: 415,
            unit: "tag".into(),
            test: None,
            primary: true,
            confounded: None,
            note: None,
        };
        let unchanged = VerdictEntry {
            verdict: Verdict::Unchanged,
            ..e.clone()
        };
        let drill_down = VerdictEntry {
            bucket: Some("angle:30-45".into()),
            primary: false,
            ..e.clone()
        };
        let confounded = VerdictEntry {
            confounded: Some("faster because it finds fewer tags".into()),
            ..e.clone()
        };
        let lines = regression_lines(&[e, unchanged, drill_down, confounded], Some("cam-1"));
        assert_eq!(
            lines,
            ["::error title=visreg: 5.1.0-rc1 regressed::latency_ms of 5.1.0-rc1 against 5.0.0 on cam-1: +25.0 %25 (95 %25 CI +24.0 %25 … +26.0 %25)"],
            "% is escaped as GitHub's workflow commands require"
        );
        assert_eq!(escape("50%\nx"), "50%25%0Ax");
    }
}
