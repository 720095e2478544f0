//! The host's side of visreg: talking to cameras (real ones over a serial port, virtual
//! ones over a pseudo-terminal or in memory). The `visreg` binary on top parses
//! arguments, draws progress and decides exit codes.
#![warn(missing_docs)]

pub mod bisect;
pub mod check;
pub mod client;
pub mod dfu_tunnel;
pub mod discovery;
pub mod flash;
pub mod flash_cdc;
pub mod kernel_usb;
pub mod lab;
pub mod link;
pub mod report;
pub mod run;
pub mod select;
pub mod usb_dfu;
pub mod workload;
