//! The `visreg` binary: parses arguments, runs the verb, draws progress, and decides the
//! exit code in one place (0 clean, 1 regression found, 2 could not run).

mod ci;
mod cli;
mod cmd_bisect;
mod cmd_dataset;
mod cmd_detect;
mod cmd_devices;
mod cmd_doctor;
mod cmd_eval;
mod cmd_firmware;
mod cmd_flash;
mod cmd_history;
mod cmd_lab;
mod cmd_report;
mod cmd_run;
mod cmd_sim;
mod detector_args;

mod cmd_runs;
mod progress;
mod term;

use std::process::ExitCode;

use clap::Parser;

/// What a verb concluded.
pub enum Outcome {
    /// Ran, nothing to flag.
    Clean,
    /// Ran, found a regression or an unhealthy camera (exit code 1).
    Regression,
    /// Could not finish (interrupted, or a camera failed and was quarantined): no verdict
    /// can be given for what is missing (exit code 2, like a run that could not start).
    Incomplete,
}

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    init_logging(args.verbose, args.quiet);
    let result = match args.command {
        cli::Command::Dataset(cmd) => cmd_dataset::run(cmd),
        cli::Command::Detect(cmd) => cmd_detect::run(cmd),
        cli::Command::Eval(cmd) => cmd_eval::run(cmd),
        cli::Command::Sim(cmd) => cmd_sim::run(cmd),
        cli::Command::Devices(cmd) => cmd_devices::run(cmd),
        cli::Command::Firmware(cmd) => cmd_firmware::run(cmd),
        cli::Command::Bisect(args) => cmd_bisect::run(args),
        cli::Command::Flash(cmd) => cmd_flash::run(cmd),
        cli::Command::Verify(cmd) => cmd_doctor::verify(cmd),
        cli::Command::Doctor(cmd) => cmd_doctor::doctor(cmd),
        cli::Command::Recover(cmd) => cmd_doctor::recover(cmd),
        cli::Command::Run(cmd) => cmd_run::run(cmd),
        cli::Command::Compare(cmd) => cmd_history::compare(cmd),
        cli::Command::History(cmd) => cmd_history::history_cmd(cmd),
        cli::Command::Report(cmd) => cmd_report::run(cmd),
        cli::Command::Runs(cmd) => cmd_runs::run(cmd),
        cli::Command::Lab(cmd) => cmd_lab::run(cmd),
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Regression) => ExitCode::from(1),
        Ok(Outcome::Incomplete) => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("VISREG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
