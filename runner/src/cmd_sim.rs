//! `visreg sim`: a virtual camera on a pseudo-terminal, or with `--usb` a USB device on the
//! kernel's USB stack, until stopped.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Context;
use visreg_datasets::cache::ensure_preset;
use visreg_datasets::{preset, Dataset};
use visreg_firmware::catalog::Catalog;
use visreg_sim::bootloader::DfuTiming;
use visreg_sim::faults::FaultSpec;
use visreg_sim::launch::{Ended, ServedCamera};
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
        .map_err(|e: visreg_sim::faults::FaultSpecError| anyhow::anyhow!("--faults: {e}"))?;
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
        // On a real USB stack the kernel's link carries the bytes: no modelled transfer time.
        if args.usb {
            DfuTiming::over_real_usb()
        } else {
            DfuTiming::realistic()
        },
        args.run_seed,
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let mut unit = unit;
    if args.link == "real" {
        unit.set_link(Some(visreg_sim::link::LinkModel::for_board(build.board)));
    }
    if args.bricked {
        unit.brick();
    }
    let serial = visreg_firmware::serial::stm32_runtime(unit.uid());
    let state = if args.bricked {
        "BRICKED (ST ROM DFU, BOOT0 set); was running"
    } else if args.in_bootloader {
        "in its bootloader; installed"
    } else {
        "running"
    };
    let unit = Arc::new(unit);
    let (cam, _registration) = if args.usb {
        eprintln!(
            "virtual camera on USB: OpenMV {} {state} firmware {} (protocol {}), unique id {}, sensor showing {dataset_name}",
            build.board,
            build.name,
            build.protocol,
            visreg_firmware::serial::dfu_bootloader(unit.uid()),
        );
        (start_usb(unit, faults, &args)?, None)
    } else {
        let cam = ServedCamera::pty(unit, faults)?;
        // Pseudo-terminals are found by `visreg devices` through the registry; a USB
        // camera is found on the bus like any other.
        let registration = visreg::discovery::register_sim(&visreg::discovery::SimInfo {
            pid: std::process::id(),
            port: cam.port().to_string(),
            board: build.board.name().to_string(),
            firmware: build.name.clone(),
            protocol: build.protocol.to_string(),
            serial: serial.clone(),
        })
        .map_err(|e| tracing::warn!("could not register for `visreg devices`: {e}"))
        .ok();
        eprintln!(
            "virtual camera: OpenMV {} {state} firmware {} (protocol {}), serial {serial}, sensor showing {dataset_name}{}\nopen {} at 921600 baud; Ctrl-C stops",
            build.board,
            build.name,
            build.protocol,
            args.faults.as_deref().map(|f| format!(", faults: {f}")).unwrap_or_default(),
            cam.port()
        );
        (cam, registration)
    };
    {
        let stop = cam.stop_flag();
        ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed))
            .context("installing the Ctrl-C handler")?;
    }
    // The first line of stdout is the port, for scripts; the rest goes to stderr.
    println!("{}", cam.port());
    std::io::stdout().flush()?;
    match cam.join() {
        Some(Ended::Ok(ServeEnd::Stopped)) => eprintln!("stopped"),
        Some(Ended::Ok(ServeEnd::FaultDisconnect)) => eprintln!("disconnected (planned fault)"),
        Some(Ended::Ok(ServeEnd::Disconnected(why))) => eprintln!("disconnected: {why}"),
        Some(Ended::Err(e)) => anyhow::bail!("the virtual camera stopped serving: {e}"),
        None => anyhow::bail!("the virtual camera's thread panicked"),
    }
    Ok(Outcome::Clean)
}

#[cfg(unix)]
fn start_usb(
    unit: Arc<VirtualUnit>,
    faults: FaultSpec,
    args: &SimArgs,
) -> anyhow::Result<ServedCamera> {
    use visreg_sim::usb::{UsbEvent, UsbOptions};
    let opts = UsbOptions {
        in_bootloader: args.in_bootloader,
        functional_each_alt: args.dfu_functional == "each-alt",
    };
    let on_event = Box::new(|e: &UsbEvent| match e {
        UsbEvent::Attached(a) => eprintln!(
            "on the bus as {:04X}:{:04X} ({}), serial {}, at USB {}{}",
            a.vid,
            a.pid,
            a.state,
            a.serial,
            a.busid,
            a.tty
                .as_deref()
                .map(|t| format!(", {t}"))
                .unwrap_or_default()
        ),
        UsbEvent::NotEnumerated { busid } => eprintln!(
            "the kernel could not enumerate the camera at USB {} (descriptor-fail)",
            busid.as_deref().unwrap_or("?")
        ),
        UsbEvent::Detached(why) => eprintln!("left the bus: {why}"),
    });
    ServedCamera::usb(
        unit,
        faults,
        opts,
        std::time::Duration::from_secs(30),
        on_event,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))
}

#[cfg(not(unix))]
fn start_usb(
    _unit: Arc<VirtualUnit>,
    _faults: FaultSpec,
    _args: &SimArgs,
) -> anyhow::Result<ServedCamera> {
    anyhow::bail!("visreg sim --usb needs Linux's USB/IP host controller (vhci_hcd); serve a pseudo-terminal instead (drop --usb)")
}
