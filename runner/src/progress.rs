//! Progress bars: the libraries report progress as values; only the binary draws, and
//! only on a terminal (indicatif hides the bar when stderr is not one).

use indicatif::{ProgressBar, ProgressStyle};

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

/// Shows a run's progress event on `bar`: the phase as its message, frames as position.
pub fn show_run_event(bar: &ProgressBar, event: visreg::run::RunEvent) {
    match event {
        visreg::run::RunEvent::Phase {
            build,
            repeat,
            phase,
        } => bar.set_message(format!("{build} (rep {}): {phase}", repeat + 1)),
        visreg::run::RunEvent::Frame { done, total } => {
            bar.set_length(total);
            bar.set_position(done);
        }
    }
}
