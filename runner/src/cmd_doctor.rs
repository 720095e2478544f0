//! `visreg verify`, `visreg doctor`, `visreg recover`: the user whose camera no longer
//! connects or no longer finds a pose after an update. Each names the state the camera is
//! in, in plain words, with the next step; no wait is without a deadline.

use std::time::Duration;

use anyhow::{bail, Context};
use visreg::check::{pose_check, PoseCheck};
use visreg::client::probe_patiently;
use visreg::dfu_tunnel::Tunnel;
use visreg::discovery::{list_sims, usb_devices, DeviceState};
use visreg::link::{SerialTransport, DEBUG_BAUD};
use visreg::select::{locate, CameraSelector, Located, NusbBus, Track, UsbBus, UsbDevice, Wanted};
use visreg_datasets::cache::ensure_preset;
use visreg_datasets::{preset, Dataset};

use crate::cli::{DoctorArgs, RecoverArgs, VerifyArgs};
use crate::Outcome;

/// The port of the camera `--port` or `--serial` names (a camera in its bootloader has
/// none: said so, with the next step).
pub fn port_arg(port: Option<String>, serial: Option<&str>) -> anyhow::Result<Option<String>> {
    let Some(sel) = CameraSelector::from_flags(port.as_deref(), serial) else {
        return Ok(None);
    };
    match locate(&sel, &NusbBus) {
        Located::Port(p) => Ok(Some(p)),
        Located::Usb(dev, _) => bail!(
            "{}: the camera is in its bootloader, with no serial port: `visreg recover{}` writes a firmware",
            dev.describe(),
            serial.map(|s| format!(" --serial {s}")).unwrap_or_default()
        ),
        Located::NotFound(what) => bail!("{what} (`visreg devices` lists every camera in every state)"),
    }
}

fn check_dataset() -> anyhow::Result<Dataset> {
    let p = preset::find("qvga-basic")?;
    Ok(ensure_preset(p, preset::DEFAULT_SEED, &|_| {})?)
}

fn open(port: &str) -> anyhow::Result<SerialTransport> {
    SerialTransport::open(port, DEBUG_BAUD).map_err(|e| {
        anyhow::anyhow!("{port}: {e}\n(is another program, such as the OpenMV IDE, holding it? `visreg devices` lists the cameras)")
    })
}

fn report(c: &PoseCheck) {
    let m = &c.metrics;
    println!(
        "  firmware {}.{}.{} (protocol {}): {}/{} tags found in {} frames, {} with a 3D pose{}",
        c.firmware[0],
        c.firmware[1],
        c.firmware[2],
        c.protocol,
        m.detected,
        m.tags,
        c.frames,
        c.with_pose,
        match (m.trans_err_pct_median, m.rot_err_deg_median) {
            (Some(t), Some(r)) => format!("; pose error {t:.1} % of range, {r:.1}° (medians)"),
            _ => String::new(),
        }
    );
}

pub fn verify(args: VerifyArgs) -> anyhow::Result<Outcome> {
    let port =
        port_arg(args.port.clone(), args.serial.as_deref())?.context("give --port or --serial")?;
    let ds = check_dataset()?;
    // Checked before the camera is touched: more frames than the check dataset has
    // would silently verify fewer than asked.
    if args.frames == 0 || args.frames > ds.frames.len() {
        anyhow::bail!(
            "--frames {}: the check dataset {} has {} frames; give 1 to {}",
            args.frames,
            ds.manifest.name,
            ds.frames.len(),
            ds.frames.len()
        );
    }
    let t = open(&port)?;
    println!(
        "verifying {port}: replaying {} frames of {} through the camera's find_apriltags",
        args.frames, ds.manifest.name
    );
    let c = pose_check(t, &ds, args.frames, Duration::from_secs(args.timeout_s))
        .map_err(|e| anyhow::anyhow!("{port}: {e}"))?;
    report(&c);
    if c.passed() {
        println!("PASS: tags found and their 3D pose matches ground truth");
        Ok(Outcome::Clean)
    } else {
        for p in &c.problems {
            println!("FAIL: {p}");
        }
        Ok(Outcome::Regression)
    }
}

/// Whether firmware answers on `t`, probed for up to 3 s: a link that stalls for a second
/// or two (a busy hub, a camera finishing a script) is a camera that answers, not one that
/// says nothing — a diagnosis must not send its user to replug a working camera.
fn answers(t: &mut SerialTransport) -> bool {
    probe_patiently(
        t,
        Duration::from_millis(500),
        std::time::Instant::now() + Duration::from_secs(3),
        None,
    )
    .is_ok()
}

/// The diagnosis of one port.
fn diagnose_port(port: &str, timeout: Duration) -> anyhow::Result<bool> {
    let mut t = open(port)?;
    if answers(&mut t) {
        println!("{port}: firmware is running; checking its pose function…");
        let ds = check_dataset()?;
        return match pose_check(t, &ds, 8, timeout) {
            Ok(c) => {
                report(&c);
                if c.passed() {
                    println!("  healthy: tags and 3D pose are right. Next: `visreg run` to benchmark it.");
                    Ok(true)
                } else {
                    for p in &c.problems {
                        println!("  problem: {p}");
                    }
                    println!("  next: flash a known-good build (`visreg firmware list`, then `visreg flash BUILD --port {port}`)");
                    Ok(false)
                }
            }
            Err(e) => {
                println!("  the firmware answers but the pose check could not run: {e}\n  next: power-cycle the camera and run `visreg doctor` again");
                Ok(false)
            }
        };
    }
    let tunnel = Tunnel::new(
        t,
        visreg::dfu_tunnel::CONTROL_TIMEOUT,
        std::time::Instant::now() + Duration::from_secs(2),
    );
    if let Ok((0x0483, 0xDF11)) = tunnel.identify() {
        println!(
            "{port}: the camera is in ST's ROM bootloader (0483:DF11): its own bootloader is gone or BOOT0 is jumpered — it is bricked, but recoverable.\n  next: `visreg recover --port {port}` writes the bootloader through the ROM, then the firmware"
        );
        return Ok(false);
    }
    if let Ok((vid, pid)) = tunnel.identify() {
        println!(
            "{port}: the camera is in its DFU bootloader ({vid:04X}:{pid:04X}) and no firmware boots — an update was interrupted (power loss or unplugged mid-flash).\n  next: `visreg recover --port {port}` writes a known-good firmware and checks it"
        );
        return Ok(false);
    }
    println!(
        "{port}: the port opens but nothing answers, neither firmware (protocol v1/v2) nor a bootloader.\n  next: unplug the camera, plug it in again (a data cable, no hub), and run `visreg doctor`; if it still says nothing, `visreg recover` explains the BOOT0 recovery"
    );
    Ok(false)
}

pub fn doctor(args: DoctorArgs) -> anyhow::Result<Outcome> {
    let timeout = Duration::from_secs(args.timeout_s);
    if let Some(sel) = CameraSelector::from_flags(args.port.as_deref(), args.serial.as_deref()) {
        let ok = match locate(&sel, &NusbBus) {
            Located::Port(port) => diagnose_port(&port, timeout)?,
            Located::Usb(dev, _) => {
                diagnose_usb_bootloader(&dev, args.serial.as_deref());
                false
            }
            Located::NotFound(what) => {
                println!("{what}");
                kernel_diagnosis();
                false
            }
        };
        return Ok(if ok {
            Outcome::Clean
        } else {
            Outcome::Regression
        });
    }
    let usb = usb_devices().unwrap_or_else(|e| {
        println!("USB: {e}");
        Vec::new()
    });
    let sims = list_sims();
    if usb.is_empty() && sims.is_empty() {
        println!(
            "no camera found: no OpenMV camera is on USB in any state (firmware, bootloader, ST ROM), and no virtual camera runs."
        );
        if !kernel_diagnosis() {
            println!("  next: plug the camera in with a data cable (charge-only cables enumerate nothing), try another USB port without a hub; on Windows an \"Unknown USB Device (Device Descriptor Request Failed)\" means a cable or board fault. For a virtual camera, start `visreg sim`.");
        }
        return Ok(Outcome::Regression);
    }
    let mut all_ok = true;
    for d in &usb {
        match (&d.identity.state, &d.port) {
            (
                DeviceState::Firmware | DeviceState::LegacyFirmware | DeviceState::ArduinoApp,
                Some(port),
            ) => all_ok &= diagnose_port(port, timeout)?,
            _ => {
                all_ok = false;
                println!(
                    "{:04X}:{:04X}: {}\n  next: {}",
                    d.vid, d.pid, d.identity.description, d.identity.next_step
                );
            }
        }
    }
    for s in &sims {
        all_ok &= diagnose_port(&s.port, timeout)?;
    }
    Ok(if all_ok {
        Outcome::Clean
    } else {
        Outcome::Regression
    })
}

/// A camera waiting in its DFU bootloader, in plain words.
fn diagnose_usb_bootloader(dev: &UsbDevice, serial: Option<&str>) {
    let sel = serial.map(|s| format!(" --serial {s}")).unwrap_or_default();
    println!(
        "{}: the camera is in its DFU bootloader and no firmware runs — an update was interrupted (power loss or unplugged mid-flash), or it was sent there and left.\n  next: `visreg recover{sel}` writes a known-good firmware and checks its pose function (the bootloader waits while a host talks to it; replugging the camera without a flash boots whatever firmware is left)",
        dev.describe()
    );
}

/// Says what the kernel saw of USB devices that never enumerated; whether it saw any.
fn kernel_diagnosis() -> bool {
    let Some(log) = visreg::kernel_usb::read_kernel_log() else {
        println!("  (the kernel log is not readable here, so what the kernel saw of the cable cannot be told: run as root, or `dmesg | grep usb`)");
        return false;
    };
    let failures = visreg::kernel_usb::enumeration_failures(&log);
    if failures.is_empty() {
        return false;
    }
    let n = failures.len();
    println!("the kernel saw a USB device that it could not enumerate ({n} log line(s); newest):");
    for f in failures.iter().skip(n.saturating_sub(4)) {
        println!("  kernel: {}", f.line);
    }
    println!(
        "  this is what Windows shows as \"Unknown USB Device (Device Descriptor Request Failed)\": the device on USB port {} did not answer its device descriptor request.\n  next: try another data cable and a USB port without a hub; if it persists the firmware crashes before its USB starts — power the camera off, connect BOOT0 to 3.3 V, power it on (it then shows as 0483:DF11) and run `visreg recover`",
        failures
            .iter()
            .rev()
            .map(|f| f.port.as_str())
            .find(|p| !p.starts_with("usb"))
            .unwrap_or(&failures[n - 1].port)
    );
    true
}

pub fn recover(args: RecoverArgs) -> anyhow::Result<Outcome> {
    let (cat, base) = crate::cmd_firmware::catalog(args.catalog.as_deref())?;
    let build = match &args.firmware {
        Some(b) => cat.build(b)?.clone(),
        None => cat
            .builds
            .iter()
            .rev()
            .find(|b| {
                b.sim.as_ref().is_none_or(|s| s.defects.is_empty())
                    && b.protocol == visreg_firmware::catalog::Protocol::V2
                    && b.channel == visreg_firmware::catalog::Channel::Release
            })
            .cloned()
            .context("the catalog has no build without known defects; name one with --firmware")?,
    };
    let writes = build
        .plan(&base)
        .context("refusing to flash the recovery build")?;
    // The bootloader ST's ROM would get is read and checked now too, not after the
    // camera was found in ROM DFU.
    let rom_image = match &args.bootloader {
        Some(f) => {
            let bytes = std::fs::read(f)
                .with_context(|| format!("reading the bootloader image {}", f.display()))?;
            let w = visreg_firmware::image::plan_rom_bootloader(&bytes, build.board)
                .with_context(|| format!("refusing the bootloader image {}", f.display()))?;
            Some(w.data)
        }
        None => None,
    };
    let sel = CameraSelector::from_flags(args.port.as_deref(), args.serial.as_deref());
    let port = match sel.as_ref().map(|s| locate(s, &NusbBus)) {
        Some(Located::Port(p)) => p,
        Some(Located::Usb(dev, _)) => {
            return recover_usb_dfu(&dev, &build, &writes)
        }
        Some(Located::NotFound(what)) => bail!(
            "{what}\n  a camera in ST's ROM DFU (0483:DF11, BOOT0 set) has no serial of its own: run `visreg recover` without --port/--serial"
        ),
        None => {
            let roms: Vec<UsbDevice> = NusbBus
                .list()
                .unwrap_or_default()
                .into_iter()
                .filter(|d| (d.vid, d.pid) == visreg_firmware::image::ST_ROM_DFU)
                .collect();
            match roms.as_slice() {
                [rom] => return recover_usb_st_rom(rom, &build, &writes, rom_image),
                [] => bail!(
                    "give the camera's port with --port or its serial with --serial (see `visreg devices`). If no port appears at all: power the camera off, connect BOOT0 to 3.3 V (the jumper next to the SD card slot), power it on — it then shows as 0483:DF11 in `visreg devices`, and `visreg recover` writes its bootloader"
                ),
                many => bail!(
                    "{} cameras are in ST's ROM DFU ({}): unplug all but the one to recover",
                    many.len(),
                    many.iter().map(UsbDevice::describe).collect::<Vec<_>>().join("; ")
                ),
            }
        }
    };
    let mut t = open(&port)?;
    if answers(&mut t) {
        println!("{port}: firmware is running; nothing to recover. To change builds: `visreg flash BUILD --port {port}`; to check it: `visreg verify --port {port}`");
        return Ok(Outcome::Clean);
    }
    println!(
        "{port}: recovering with {} ({})",
        build.name,
        if build.notes.is_empty() {
            "the newest build without known defects"
        } else {
            &build.notes
        }
    );
    // A camera in ST's ROM DFU gets its bootloader back first.
    let tunnel = Tunnel::new(
        t,
        visreg::dfu_tunnel::CONTROL_TIMEOUT,
        std::time::Instant::now() + Duration::from_secs(120),
    );
    let t = if let Ok((0x0483, 0xDF11)) = tunnel.identify() {
        let image = match rom_image {
            Some(image) => image,
            // Only a virtual camera answers through this port in ROM mode: give it its own.
            None => sim_rom_image(build.board)?,
        };
        println!("  the camera is in ST's ROM DFU: writing the OpenMV bootloader ({} bytes) at 0x08000000 through DfuSe", image.len());
        visreg::flash::flash_st_rom(&tunnel, &image, std::sync::Arc::new(|_| {}))?;
        println!("  the ROM left DFU without answering its last status — normal for ST's ROM.\n  now remove the BOOT0 jumper and reconnect the camera");
        let until = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            match tunnel.identify() {
                Ok((0x0483, 0xDF11)) | Err(_) if std::time::Instant::now() < until => {
                    eprintln!("  waiting for the OpenMV bootloader: {:.0} s left", until.saturating_duration_since(std::time::Instant::now()).as_secs_f64().ceil());
                    std::thread::sleep(Duration::from_millis(500));
                }
                Ok((vid, pid)) if (vid, pid) != (0x0483, 0xDF11) => {
                    println!("  the OpenMV bootloader is back ({vid:04X}:{pid:04X})");
                    break;
                }
                _ => bail!("{port}: the OpenMV bootloader did not appear within 60 s: check that the BOOT0 jumper is off and reconnect the camera"),
            }
        }
        tunnel.into_inner()
    } else {
        tunnel.into_inner()
    };
    let v = visreg::flash::flash_camera(
        t,
        &build,
        &writes,
        visreg::flash::FlashDeadlines::default(),
        &NusbBus,
        flash_events(),
    )?;
    pose_check_after_recovery(&build, &v.port)
}

/// The simulated OpenMV bootloader, planned as a user's image is, so that the path
/// writing it is the one the real image takes.
fn sim_rom_image(board: visreg_firmware::board::Board) -> anyhow::Result<Vec<u8>> {
    let image = visreg_firmware::image::sim::sim_bootloader_image(board);
    Ok(visreg_firmware::image::plan_rom_bootloader(&image, board)
        .context("the simulated bootloader")?
        .data)
}

fn flash_events() -> std::sync::Arc<dyn Fn(visreg::flash::FlashEvent) + Send + Sync> {
    std::sync::Arc::new(|e: visreg::flash::FlashEvent| match e {
        visreg::flash::FlashEvent::Step(s) => eprintln!("  {s}"),
        visreg::flash::FlashEvent::Waiting { what, left } => eprintln!(
            "  waiting for {what}: {:.0} s left",
            left.as_secs_f64().ceil()
        ),
        visreg::flash::FlashEvent::Progress(_) => {}
    })
}

/// A camera waiting in its OpenMV DFU bootloader on USB: the firmware through it, the
/// camera followed back to its firmware, its pose function checked.
fn recover_usb_dfu(
    dev: &UsbDevice,
    build: &visreg_firmware::catalog::Build,
    writes: &[visreg_firmware::image::Write],
) -> anyhow::Result<Outcome> {
    println!(
        "{}: the camera waits in its DFU bootloader; recovering with {}",
        dev.describe(),
        build.name
    );
    let track = Track::of_dfu_device(dev);
    let done = visreg::flash::flash_over_usb(
        dev,
        build,
        writes,
        visreg::flash::FlashDeadlines::default(),
        &NusbBus,
        &track,
        &flash_events(),
    )?;
    pose_check_after_recovery(build, &done.port)
}

fn pose_check_after_recovery(
    build: &visreg_firmware::catalog::Build,
    port: &str,
) -> anyhow::Result<Outcome> {
    println!(
        "  firmware {} is back on {port}; checking its pose function…",
        build.name
    );
    let ds = check_dataset()?;
    let c = pose_check(open(port)?, &ds, 8, Duration::from_secs(30))
        .map_err(|e| anyhow::anyhow!("{port}: {e}"))?;
    report(&c);
    if c.passed() {
        println!(
            "recovered: {port} runs {} and its pose check passes",
            build.name
        );
        Ok(Outcome::Clean)
    } else {
        for p in &c.problems {
            println!("FAIL: {p}");
        }
        Ok(Outcome::Regression)
    }
}

/// Recovers a camera in ST's ROM DFU on USB: the OpenMV bootloader through DfuSe, then —
/// the camera followed by its USB port — the firmware through the OpenMV DFU bootloader,
/// then the version and the pose function.
fn recover_usb_st_rom(
    rom: &UsbDevice,
    build: &visreg_firmware::catalog::Build,
    writes: &[visreg_firmware::image::Write],
    bootloader: Option<Vec<u8>>,
) -> anyhow::Result<Outcome> {
    let image = match bootloader {
        Some(image) => image,
        // A simulated build only ever runs on a virtual camera: its bootloader is simulated too.
        None if build.sim.is_some() => {
            println!("  the recovery build {} is simulated: writing the simulated OpenMV bootloader of the {}", build.name, build.board);
            sim_rom_image(build.board)?
        }
        None => bail!(
            "the camera is in ST's ROM DFU (0483:DF11): its bootloader must be written first. Give the OpenMV bootloader image for the {} with --bootloader FILE (from the OpenMV firmware release for the board)",
            build.board
        ),
    };
    let info = visreg::select::nusb_info(rom)
        .with_context(|| format!("{}: vanished before it could be opened", rom.describe()))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    println!(
        "{}: ST's ROM DFU: writing the OpenMV bootloader ({} bytes) at 0x08000000 through DfuSe",
        rom.describe(),
        image.len()
    );
    let io = visreg::usb_dfu::UsbDfu::open(&info, 0, Duration::from_secs(5), deadline)?;
    visreg::flash::flash_rom_dfuse(io, &image, std::sync::Arc::new(|_| {}))?;
    println!("  the ROM left DFU without answering its last status — normal for ST's ROM.\n  now remove the BOOT0 jumper and reconnect the camera");
    let want = visreg_firmware::image::dfu_identity(build.board);
    let track = Track {
        uid: None,
        port_path: rom.port_path.clone(),
    };
    let until = std::time::Instant::now() + Duration::from_secs(120);
    let dfu = loop {
        let list = NusbBus.list().unwrap_or_default();
        let (mine, others) = track.find(&list, want.0, want.1, Wanted::DfuBootloader);
        if let Some(d) = mine {
            break d;
        }
        if std::time::Instant::now() >= until {
            bail!(
                "the OpenMV bootloader ({:04X}:{:04X}) did not appear on USB {} within 120 s{}: check that the BOOT0 jumper is off, reconnect, and run `visreg doctor`",
                want.0,
                want.1,
                rom.port_path.as_deref().unwrap_or("?"),
                if others.is_empty() { String::new() } else { format!(" (another camera's is on the bus and was left alone: {})", others.iter().map(|s| s.0.describe()).collect::<Vec<_>>().join("; ")) }
            );
        }
        eprintln!(
            "  waiting for the OpenMV bootloader: {:.0} s left",
            until
                .saturating_duration_since(std::time::Instant::now())
                .as_secs_f64()
                .ceil()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    println!("  the OpenMV bootloader is back: {}", dfu.describe());
    let track = Track::of_dfu_device(&dfu);
    let done = visreg::flash::flash_over_usb(
        &dfu,
        build,
        writes,
        visreg::flash::FlashDeadlines::default(),
        &NusbBus,
        &track,
        &flash_events(),
    )?;
    pose_check_after_recovery(build, &done.port)
}
