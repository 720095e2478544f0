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
    let serial = visreg_firmware::serial::stm32_runtime(unit.uid());
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed))
            .context("installing the Ctrl-C handler")?;
    }
    if args.usb {
        return serve_usb(&unit, &faults, &args, &build, &stop);
    }
    let mut pty = PtyDevice::open().context("opening a pseudo-terminal for the virtual camera")?;
    let port = pty.path().display().to_string();
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

#[cfg(unix)]
fn serve_usb(
    unit: &VirtualUnit,
    faults: &FaultSpec,
    args: &SimArgs,
    build: &visreg_firmware::catalog::Build,
    stop: &AtomicBool,
) -> anyhow::Result<Outcome> {
    use visreg_sim::usb::{serve_usb, UsbEvent, UsbOptions};
    eprintln!(
        "virtual camera on USB: OpenMV {} {} firmware {} (protocol {}), unique id {}",
        build.board,
        if args.bricked {
            "BRICKED (ST ROM DFU, BOOT0 set); was running"
        } else {
            "running"
        },
        build.name,
        build.protocol,
        visreg_firmware::serial::dfu_bootloader(unit.uid()),
    );
    let first = std::sync::atomic::AtomicBool::new(true);
    let on_event = |e: UsbEvent| {
        let line = match &e {
            UsbEvent::Attached(a) => match &a.tty {
                Some(tty) => tty.clone(),
                None => format!("usb {} {:04X}:{:04X} {}", a.busid, a.vid, a.pid, a.serial),
            },
            UsbEvent::NotEnumerated { busid } => format!(
                "usb {} not enumerated (descriptor-fail)",
                busid.as_deref().unwrap_or("?")
            ),
            UsbEvent::Detached(why) => {
                eprintln!("left the bus: {why}");
                return;
            }
        };
        if let UsbEvent::Attached(a) = &e {
            eprintln!(
                "on the bus as {:04X}:{:04X} ({}), serial {}, at {}{}",
                a.vid,
                a.pid,
                a.state,
                a.serial,
                a.busid,
                a.tty
                    .as_deref()
                    .map(|t| format!(", {t}"))
                    .unwrap_or_default()
            );
        }
        if first.swap(false, Ordering::Relaxed) {
            println!("{line}");
            let _ = std::io::stdout().flush();
        }
    };
    let opts = UsbOptions {
        in_bootloader: args.in_bootloader,
        functional_each_alt: args.dfu_functional == "each-alt",
    };
    match serve_usb(unit, faults, &opts, stop, &on_event).map_err(|e| anyhow::anyhow!("{e}"))? {
        ServeEnd::Stopped => eprintln!("stopped"),
        ServeEnd::FaultDisconnect => eprintln!("disconnected (planned fault)"),
        ServeEnd::Disconnected(why) => eprintln!("disconnected: {why}"),
    }
    Ok(Outcome::Clean)
}

#[cfg(not(unix))]
fn serve_usb(
    _unit: &VirtualUnit,
    _faults: &FaultSpec,
    _args: &SimArgs,
    _build: &visreg_firmware::catalog::Build,
    _stop: &AtomicBool,
) -> anyhow::Result<Outcome> {
    anyhow::bail!("visreg sim --usb needs Linux's USB/IP host controller (vhci_hcd); serve a pseudo-terminal instead (drop --usb)")
}
