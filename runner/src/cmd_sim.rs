//! `visreg sim`: a virtual camera on a pseudo-terminal, until stopped.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use visreg_datasets::cache::ensure_preset;
use visreg_datasets::{preset, Dataset};
use visreg_firmware::catalog::Catalog;
use visreg_firmware::transport::PtyDevice;
use visreg_sim::bootloader::DfuTiming;
use visreg_sim::device::VirtualCamera;
use visreg_sim::faults::FaultSpec;
use visreg_sim::serve::ServeEnd;
use visreg_sim::unit::VirtualUnit;

use crate::cli::SimArgs;
use crate::Outcome;

pub fn run(args: SimArgs) -> anyhow::Result<Outcome> {
    let catalog = Catalog::builtin();
    let build = catalog.build(&args.firmware)?.clone();
    let faults: FaultSpec = args
        .faults
        .as_deref()
        .unwrap_or("")
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--faults: {e}"))?;
    let dataset = match (&args.dataset, &args.preset) {
        (Some(dir), _) => Dataset::open(dir)?,
        (None, name) => {
            let p = preset::find(name.as_deref().unwrap_or("qvga-basic"))?;
            ensure_preset(p, args.seed, &|_| {})
                .with_context(|| format!("preparing the built-in preset {}", p.name))?
        }
    };
    let dataset_name = dataset.manifest.name.clone();
    let serial = VirtualCamera::new(build.clone(), None, args.run_seed)
        .map_err(|e| anyhow::anyhow!(e))?
        .serial();
    let unit = VirtualUnit::new(
        catalog.clone(),
        &build.name,
        Some(dataset),
        DfuTiming::realistic(),
        args.run_seed,
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    if args.bricked {
        unit.brick();
    }
    let mut pty = PtyDevice::open().context("opening a pseudo-terminal for the virtual camera")?;
    let port = pty.path().display().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed))
            .context("installing the Ctrl-C handler")?;
    }
    let _registration = visreg::discovery::register_sim(&visreg::discovery::SimInfo {
        pid: std::process::id(),
        port: port.clone(),
        board: build.board.name().to_string(),
        firmware: build.name.clone(),
        protocol: build.protocol.to_string(),
        serial: serial.clone(),
    })
    .map_err(|e| tracing::warn!("could not register for `visreg devices`: {e}"))
    .ok();
    // The first line of stdout is the port, for scripts; the rest goes to stderr.
    println!("{port}");
    std::io::stdout().flush()?;
    eprintln!(
        "virtual camera: OpenMV {} {} firmware {} (protocol {}), serial {}, sensor showing {}{}\nopen {port} at 921600 baud; Ctrl-C stops",
        build.board,
        if args.bricked { "BRICKED (ST ROM DFU, BOOT0 set); was running" } else { "running" },
        build.name,
        build.protocol,
        serial,
        dataset_name,
        args.faults.as_deref().map(|f| format!(", faults: {f}")).unwrap_or_default()
    );
    match unit.serve(&mut pty, &faults, &stop)? {
        ServeEnd::Stopped => eprintln!("stopped"),
        ServeEnd::FaultDisconnect => eprintln!("disconnected (planned fault)"),
        ServeEnd::Disconnected(why) => eprintln!("disconnected: {why}"),
    }
    Ok(Outcome::Clean)
}
