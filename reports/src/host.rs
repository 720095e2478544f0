//! The host a result was measured on: results from different machines are not
//! comparable without it.

use serde::{Deserialize, Serialize};

/// A description of the measuring host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Host name.
    pub hostname: String,
    /// Operating system (`linux`, `macos`, …).
    pub os: String,
    /// CPU architecture.
    pub arch: String,
    /// CPU model name, where the OS tells it.
    pub cpu_model: Option<String>,
    /// Logical CPUs.
    pub logical_cpus: usize,
    /// visreg version.
    pub visreg_version: String,
}

impl HostInfo {
    /// Describes this machine. `VISREG_HOST_NAME` overrides the host name (a lab host's
    /// name in CI, where machines are ephemeral).
    pub fn current() -> Self {
        let hostname = std::env::var("VISREG_HOST_NAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".into());
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        });
        HostInfo {
            hostname,
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            cpu_model,
            logical_cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            visreg_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}
