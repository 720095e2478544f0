//! The runner's integration tests, one module per file, in one binary: `cargo test -p
//! visreg --test integration cli::` runs one file's. Each test runs the real binary in a
//! folder of its own (see `common`), so the harness runs them side by side.

mod common;

mod bisect;
mod camera_link;
mod ci_formats;
mod cli;
mod faults;
mod flash;
mod lab;
mod official_client;
mod readme;
mod report;
mod run;
