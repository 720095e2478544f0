//! Progress: the libraries report progress as values ([`RunEvent`]); only the binary
//! draws. On a terminal that is an indicatif bar; without one (a CI log, a pipe) it is one
//! line per phase as the phase ends — what it was, its frames, how long it took, and the
//! run's count and elapsed time — so a log shows the run advancing.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use visreg::run::RunEvent;

/// A bar for `total` items of `what`.
pub fn bar(total: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(total as u64);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg} (eta {eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_string());
    pb
}

/// What a phase is called in the bar and the log.
fn phase_label(event: &RunEvent) -> Option<String> {
    match event {
        RunEvent::Phase {
            build,
            repeat,
            phase,
        } => Some(format!("{build} (rep {}): {phase}", repeat + 1)),
        RunEvent::Host { .. } => Some("host reference detector".into()),
        RunEvent::Frame { .. } => None,
    }
}

/// Shows a run's progress event on `bar`: the phase as its message, frames as position.
pub fn show_run_event(bar: &ProgressBar, event: RunEvent) {
    if let Some(label) = phase_label(&event) {
        bar.set_message(label);
    }
    if let RunEvent::Frame { done, total } = event {
        bar.set_length(total);
        bar.set_position(done);
    }
}

/// The log lines of a run without a terminal: one per phase, written when it ends.
#[derive(Debug)]
pub struct PhaseLog {
    /// Put before every line (a lab camera's name), or empty.
    prefix: String,
    start: Instant,
    /// The phase under way: its label, when it began, frames done then.
    current: Option<(String, Instant, u64)>,
    done: u64,
    total: u64,
}

impl PhaseLog {
    /// A log starting now.
    pub fn new(prefix: &str) -> Self {
        Self::starting_at(prefix, Instant::now())
    }

    fn starting_at(prefix: &str, start: Instant) -> Self {
        PhaseLog {
            prefix: prefix.to_string(),
            start,
            current: None,
            done: 0,
            total: 0,
        }
    }

    /// Takes `event` at `now`; returns the line of the phase it ended, if any.
    pub fn event_at(&mut self, event: &RunEvent, now: Instant) -> Option<String> {
        if let RunEvent::Frame { done, total } = *event {
            self.done = done;
            self.total = total;
            return None;
        }
        let label = phase_label(event)?;
        let ended = self.end_at(now);
        self.current = Some((label, now, self.done));
        ended
    }

    /// Ends the phase under way at `now`; returns its line.
    pub fn end_at(&mut self, now: Instant) -> Option<String> {
        let (label, began, done_then) = self.current.take()?;
        let frames = self.done.saturating_sub(done_then);
        let what = if frames > 0 {
            format!("{frames} frame(s) in {}", secs(now - began))
        } else {
            secs(now - began)
        };
        Some(format!(
            "{}[{:>7}] {label}: {what} — {}/{} frames",
            self.prefix,
            secs(now - self.start),
            self.done,
            self.total
        ))
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Writes a progress line to stderr. A reader that went away (a closed pipe) costs the
/// line, never the run: `eprintln!` would panic there.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// A run's progress as the binary shows it: a bar on a terminal, phase lines in a log.
pub enum RunProgress {
    /// stderr is a terminal.
    Bar(ProgressBar),
    /// It is not: one line per phase on stderr.
    Log(Mutex<PhaseLog>),
}

impl RunProgress {
    /// A bar styled by `template` on a terminal, else a phase log prefixed by `prefix`.
    pub fn new(template: &str, prefix: &str) -> Self {
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(template)
                    .expect("template")
                    .progress_chars("=> "),
            );
            RunProgress::Bar(bar)
        } else {
            RunProgress::Log(Mutex::new(PhaseLog::new(prefix)))
        }
    }

    /// Shows `event`.
    pub fn event(&self, event: RunEvent) {
        match self {
            RunProgress::Bar(b) => show_run_event(b, event),
            RunProgress::Log(log) => {
                let line = log
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .event_at(&event, Instant::now());
                if let Some(line) = line {
                    say(&line);
                }
            }
        }
    }

    /// Ends the display: clears the bar, or writes the last phase's line.
    pub fn finish(&self) {
        match self {
            RunProgress::Bar(b) => b.finish_and_clear(),
            RunProgress::Log(log) => {
                let line = log
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .end_at(Instant::now());
                if let Some(line) = line {
                    say(&line);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_writes_one_line_per_phase_with_its_frames_and_times() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut log = PhaseLog::starting_at("", t0);
        let frame = |done| RunEvent::Frame { done, total: 600 };
        let phase = |build: &str, phase: &str| RunEvent::Phase {
            build: build.into(),
            repeat: 0,
            phase: phase.into(),
        };
        assert_eq!(log.event_at(&RunEvent::Host { frames: 200 }, at(0)), None);
        for i in 1..=200 {
            assert_eq!(log.event_at(&frame(i), at(i * 2)), None);
        }
        assert_eq!(
            log.event_at(&phase("5.0.0", "flashing"), at(400))
                .as_deref(),
            Some("[  0.4 s] host reference detector: 200 frame(s) in 0.4 s — 200/600 frames")
        );
        assert_eq!(
            log.event_at(&phase("5.0.0", "measuring"), at(500))
                .as_deref(),
            Some("[  0.5 s] 5.0.0 (rep 1): flashing: 0.1 s — 200/600 frames")
        );
        for i in 201..=400 {
            log.event_at(&frame(i), at(500 + i));
        }
        assert_eq!(
            log.end_at(at(1500)).as_deref(),
            Some("[  1.5 s] 5.0.0 (rep 1): measuring: 200 frame(s) in 1.0 s — 400/600 frames")
        );
        assert_eq!(log.end_at(at(1600)), None, "nothing under way");
    }
}
