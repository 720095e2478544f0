//! Flashing through a DFU 1.1 bootloader with `dfu-core`, over any [`DfuIo`]: a real
//! camera's OpenMV bootloader through `nusb`, or the virtual camera's. One write per
//! partition (alternate setting), progress reported as values, every step under the
//! caller's deadline (enforced by the I/O), the device reset at the end so it boots what
//! was written. Images are planned and refused before this runs
//! ([`visreg_firmware::image`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dfu_core::synchronous::DfuSync;
use dfu_core::DfuIo;
use visreg_firmware::board::Board;
use visreg_firmware::generation::Generation;
use visreg_firmware::image::{check_cdc_writes, check_dfu_writes, Write};

use crate::select::{port_path_of_tty, Track, UsbBus, UsbDevice, Wanted};

/// Progress of a flash, as a value (the binary draws the bar).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlashProgress {
    /// Partition being written.
    pub partition: &'static str,
    /// Bytes written over all partitions.
    pub done: u64,
    /// Bytes to write in all.
    pub total: u64,
}

/// Why a flash failed, naming the partition and the step.
#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    /// Opening the bootloader's alternate setting failed.
    #[error("opening partition {partition} (alt {alt}) of the DFU bootloader: {message}")]
    Open {
        /// Partition.
        partition: &'static str,
        /// Alternate setting.
        alt: u8,
        /// Why.
        message: String,
    },
    /// The download failed.
    #[error("writing partition {partition}: {message}")]
    Download {
        /// Partition.
        partition: &'static str,
        /// Why.
        message: String,
    },
    /// The plan cannot be written by a plain-DFU bootloader.
    #[error("{0}")]
    Plan(String),
    /// Refused while the camera still ran its firmware: nothing was written, and it runs
    /// what it ran.
    #[error("{0}")]
    Refused(String),
    /// The final reset failed.
    #[error("resetting the camera after flashing: {0}")]
    Reset(String),
}

/// Writes `writes` in order, opening alternate settings with `open`, and resets the
/// device at the end.
pub fn flash_dfu<IO, E, F>(
    board: visreg_firmware::board::Board,
    writes: &[Write],
    mut open: F,
    on_progress: Arc<dyn Fn(FlashProgress) + Send + Sync>,
) -> Result<(), FlashError>
where
    IO: DfuIo<Read = usize, Write = usize, Reset = (), Error = E>,
    E: From<std::io::Error> + From<dfu_core::Error> + std::fmt::Display,
    F: FnMut(u8) -> Result<IO, E>,
{
    // The plan was checked before the camera was touched (`Build::plan`); a hand-made one
    // is refused here, by the same rule, before the first block.
    check_dfu_writes(board, writes).map_err(|e| FlashError::Plan(e.to_string()))?;
    let total: u64 = writes.iter().map(|w| w.data.len() as u64).sum();
    let done = Arc::new(AtomicU64::new(0));
    let mut last = None;
    for w in writes {
        // The previous partition's handle still claims the DFU interface: a real device
        // refuses a second claim (EBUSY), so it goes before the next alt is opened.
        drop(last.take());
        let io = open(w.alt).map_err(|e| FlashError::Open {
            partition: w.partition,
            alt: w.alt,
            message: e.to_string(),
        })?;
        let mut dfu = DfuSync::new(io);
        {
            let (done, on_progress, partition) = (done.clone(), on_progress.clone(), w.partition);
            dfu.with_progress(move |n| {
                if n == 0 {
                    return; // the zero-length DNLOAD that starts manifestation
                }
                let d = done.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
                on_progress(FlashProgress {
                    partition,
                    done: d,
                    total,
                });
            });
        }
        match dfu.download_from_slice(&w.data) {
            Ok(Some(d)) => last = Some(d),
            Ok(None) => last = None, // the device reset itself after manifestation
            Err(e) => {
                return Err(FlashError::Download {
                    partition: w.partition,
                    message: e.to_string(),
                })
            }
        }
    }
    if let Some(d) = last {
        d.usb_reset()
            .map_err(|e| FlashError::Reset(e.to_string()))?;
    }
    Ok(())
}

/// What a whole flash of a camera reports as it goes.
#[derive(Clone, Debug, PartialEq)]
pub enum FlashEvent {
    /// A step started.
    Step(String),
    /// Waiting for something, with the time left before giving up.
    Waiting {
        /// What for.
        what: String,
        /// Time left.
        left: std::time::Duration,
    },
    /// Bytes written.
    Progress(FlashProgress),
}

/// Deadlines of a whole flash.
#[derive(Clone, Copy, Debug)]
pub struct FlashDeadlines {
    /// For the bootloader to appear after the camera is sent there.
    pub enter_bootloader: std::time::Duration,
    /// For the writes.
    pub write: std::time::Duration,
    /// For the firmware to answer after the reset.
    pub reboot: std::time::Duration,
}

impl Default for FlashDeadlines {
    fn default() -> Self {
        FlashDeadlines {
            enter_bootloader: std::time::Duration::from_secs(10),
            write: std::time::Duration::from_secs(300),
            reboot: std::time::Duration::from_secs(15),
        }
    }
}

/// What a flash left behind: the version the camera reports and the port it answers on
/// now (a USB camera may come back on another tty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flashed {
    /// Firmware version read back.
    pub version: [u8; 3],
    /// The camera's serial port after the flash.
    pub port: String,
}

/// Which bootloader a camera of `board` running firmware `v` has: its generation's
/// ([`visreg_firmware::generation`]): the legacy CDC bootloader up to 4.5.x, the OpenMV DFU
/// bootloader from 4.6.0, NXP's ROM bootloader on an RT1062.
pub fn bootloader_of(board: Board, v: [u32; 3]) -> visreg_firmware::catalog::Flasher {
    Generation::of_version(v).bootloader(board)
}

/// The unique id in a protocol v1 ARCH_STR (`"OMV4 H7 1024 [H7:0123…]"`).
pub fn uid_of_arch(arch: &str) -> Option<[u32; 3]> {
    let inner = arch.rsplit_once('[')?.1;
    let hex = inner.split_once(':')?.1.trim_end_matches([']', '\0']);
    visreg_firmware::serial::uid_from_hex(hex.get(..24)?)
}

/// Flashes `build` onto the camera behind `t` — a running firmware is sent into its
/// bootloader first; a camera already in its bootloader is flashed as it is — then waits
/// for the new firmware and reads its version back, which must be the build's. A USB
/// camera is followed through its re-enumerations on `bus` by its unique id and its USB
/// port: a bootloader of another camera with the same VID:PID is never written.
pub fn flash_camera<T: visreg_firmware::transport::Transport>(
    t: T,
    build: &visreg_firmware::catalog::Build,
    writes: &[Write],
    deadlines: FlashDeadlines,
    bus: &dyn UsbBus,
    on_event: Arc<dyn Fn(FlashEvent) + Send + Sync>,
) -> Result<Flashed, FlashError> {
    use std::time::{Duration, Instant};

    use crate::client::{
        probe_for,
        v1::V1Client,
        v2::{V2Client, V2Options},
        Probed,
    };
    use crate::dfu_tunnel::{Tunnel, TunnelDfuIo};

    let mut t = t;
    let port = t.name();
    let fail = |m: String| FlashError::Plan(format!("{port}: {m}"));
    let refuse = |m: String| FlashError::Refused(format!("{port}: {m}"));
    let mut track = Track {
        uid: None,
        port_path: port_path_of_tty(&port),
    };
    on_event(FlashEvent::Step("asking the camera what it runs".into()));
    let t = match probe_for(&mut t, Duration::from_millis(400), Some(build.board)) {
        Ok(Probed::V2) => {
            let c = V2Client::connect(t, V2Options::default()).map_err(|e| fail(e.to_string()))?;
            let pid = (c.sys_info.usb_id & 0xFFFF) as u16;
            if pid != build.board.firmware_pid() {
                return Err(refuse(format!(
                    "the camera is a board with USB PID {pid:04X}, the build is for the {} ({:04X}); nothing was written",
                    build.board,
                    build.board.firmware_pid()
                )));
            }
            track.uid = Some(c.sys_info.dev_id);
            // The last moment to refuse a plan with the camera still in its firmware.
            check_dfu_writes(build.board, writes).map_err(|e| refuse(not_written(e)))?;
            on_event(FlashEvent::Step(format!(
                "firmware {}.{}.{} running: entering the bootloader",
                c.version.firmware[0], c.version.firmware[1], c.version.firmware[2]
            )));
            c.boot().map_err(|e| fail(e.to_string()))?
        }
        Ok(Probed::V1(v)) => {
            let c =
                V1Client::connect(t, Duration::from_secs(1)).map_err(|e| fail(e.to_string()))?;
            // The ARCH prefix names the board; the bracket says `H7` for the H7 Plus too.
            if Board::of_arch(&c.arch) != Some(build.board) {
                return Err(refuse(format!(
                    "the camera says '{}' ({}), the build is for the {} ({}); nothing was written",
                    c.arch.trim_end_matches('\0'),
                    Board::of_arch(&c.arch)
                        .map(|b| format!("an {b}"))
                        .unwrap_or_else(|| "a board visreg does not know".into()),
                    build.board,
                    build.board.arch()
                )));
            }
            track.uid = uid_of_arch(&c.arch);
            // Which bootloader writes depends on the firmware the camera runs now, not on
            // the build: refuse what that one cannot write while the firmware still runs.
            match bootloader_of(build.board, v) {
                visreg_firmware::catalog::Flasher::CdcBootloader => {
                    check_cdc_writes(writes).map(|_| ())
                }
                visreg_firmware::catalog::Flasher::OpenmvDfu => check_dfu_writes(build.board, writes),
                other => Err(visreg_firmware::image::ImageError::Refused(format!(
                    "the camera's bootloader is {other}, which visreg does not drive: flash it with OpenMV IDE"
                ))),
            }
            .map_err(|e| refuse(not_written(e)))?;
            on_event(FlashEvent::Step(format!(
                "firmware {}.{}.{} running: entering the bootloader",
                v[0], v[1], v[2]
            )));
            let t = c.reset_to_bootloader().map_err(|e| fail(e.to_string()))?;
            if bootloader_of(build.board, v) == visreg_firmware::catalog::Flasher::CdcBootloader {
                return flash_legacy(t, build, writes, deadlines, bus, &track, &port, &on_event);
            }
            t
        }
        // No firmware answers: perhaps the bootloader is already waiting.
        Err(_) => t,
    };
    let tunnel = Tunnel::new(
        t,
        crate::dfu_tunnel::CONTROL_TIMEOUT,
        Instant::now() + deadlines.enter_bootloader + deadlines.write,
    );
    let until = Instant::now() + deadlines.enter_bootloader;
    let want = visreg_firmware::image::dfu_identity(build.board);
    let (vid, pid) = loop {
        // A virtual camera on a pseudo-terminal answers DFU through the port itself.
        let tunnel_err = if track.port_path.is_some() {
            None
        } else {
            match tunnel.identify() {
                Ok(id) => break id,
                Err(e) => Some(e.to_string()),
            }
        };
        // A USB camera re-enumerates as a DFU device of its own: look for it there.
        let list = bus.list().unwrap_or_default();
        let (mine, strangers) = track.find(&list, want.0, want.1, Wanted::DfuBootloader);
        if let Some(dev) = mine {
            drop(tunnel);
            return flash_over_usb(&dev, build, writes, deadlines, bus, &track, &on_event);
        }
        if Instant::now() >= until {
            let others = strangers
                .iter()
                .map(|s| s.0.describe())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(fail(format!(
                "no DFU bootloader of {} answered within {:?}{}, neither on this port nor as USB device {:04X}:{:04X}{}: run `visreg doctor`",
                track.describe(Wanted::DfuBootloader),
                deadlines.enter_bootloader,
                tunnel_err.map(|e| format!(" ({e})")).unwrap_or_default(),
                want.0,
                want.1,
                if others.is_empty() {
                    String::new()
                } else {
                    format!("; another camera's bootloader is on the bus and was left alone: {others}")
                }
            )));
        }
        on_event(FlashEvent::Waiting {
            what: "the DFU bootloader".into(),
            left: until.saturating_duration_since(Instant::now()),
        });
        std::thread::sleep(Duration::from_millis(100));
    };
    if (vid, pid) != want {
        return Err(fail(format!("the bootloader is {vid:04X}:{pid:04X}, the build needs {:04X}:{:04X}; nothing was written", want.0, want.1)));
    }
    on_event(FlashEvent::Step(format!(
        "writing {} partition(s)",
        writes.len()
    )));
    let ev = on_event.clone();
    flash_dfu(
        build.board,
        writes,
        |alt| TunnelDfuIo::open(&tunnel, alt),
        Arc::new(move |p| ev(FlashEvent::Progress(p))),
    )
    .map_err(|e| fail(e.to_string()))?;
    let t = tunnel.into_inner();
    wait_for_firmware(t, build, &port, deadlines, &on_event)
}

/// A refused plan, said with the camera's state: nothing was written, it runs what it ran.
fn not_written(e: visreg_firmware::image::ImageError) -> String {
    format!("{e}; nothing was written, the camera still runs its firmware")
}

/// A 4.5.x camera: its legacy CDC bootloader — on the same pseudo-terminal for a virtual
/// camera, or re-enumerated on the camera's USB port (1209:ABD1, fixed serial) with a tty
/// of its own — then the firmware back on USB.
#[allow(clippy::too_many_arguments)]
fn flash_legacy<T: visreg_firmware::transport::Transport>(
    t: T,
    build: &visreg_firmware::catalog::Build,
    writes: &[Write],
    deadlines: FlashDeadlines,
    bus: &dyn UsbBus,
    track: &Track,
    port: &str,
    on_event: &Arc<dyn Fn(FlashEvent) + Send + Sync>,
) -> Result<Flashed, FlashError> {
    use std::time::Instant;
    let total = writes.iter().map(|w| w.data.len()).sum::<usize>();
    let ev = on_event.clone();
    let progress = move |p| ev(FlashEvent::Progress(p));
    if track.port_path.is_none() {
        let mut t = t;
        on_event(FlashEvent::Step(format!(
            "writing FIRMWARE through the legacy CDC bootloader ({total} bytes)"
        )));
        crate::flash_cdc::flash_cdc(&mut t, writes, Instant::now() + deadlines.write, &progress)?;
        return wait_for_firmware(t, build, port, deadlines, on_event);
    }
    close_after_reset(t, port);
    let bl = wait_on_bus(
        bus,
        track,
        (
            visreg_firmware::board::LEGACY_VID,
            visreg_firmware::board::LEGACY_PID,
        ),
        Wanted::CdcBootloader,
        deadlines.enter_bootloader,
        "the legacy CDC bootloader",
        on_event,
    )?;
    let tty = bl.tty.clone().unwrap_or_default();
    let mut t = crate::link::SerialTransport::open(&tty, crate::link::DEBUG_BAUD)
        .map_err(|e| FlashError::Plan(format!("{tty}: opening the CDC bootloader: {e}")))?;
    on_event(FlashEvent::Step(format!(
        "writing FIRMWARE through the legacy CDC bootloader on {tty} ({total} bytes)"
    )));
    crate::flash_cdc::flash_cdc(&mut t, writes, Instant::now() + deadlines.write, &progress)?;
    close_after_reset(t, &tty);
    firmware_on_bus(
        build,
        runtime_identity(build),
        deadlines,
        bus,
        track,
        on_event,
    )
}

/// The USB identity a camera running `build` shows: its generation's — 1209:ABD1 up to
/// 4.5.x, 37C5 and the board's PID from 4.6.0 (PROTOCOL.md §3; openmv/micropython
/// `mpconfigboard.h` at the commits v4.5.9 and v4.6.0 pin) — whatever the camera ran
/// before the flash.
pub fn runtime_identity(build: &visreg_firmware::catalog::Build) -> (u16, u16) {
    build.generation().usb_identity(build.board)
}

/// Closes a USB camera's serial port once the camera, just told to reset, has left the
/// bus: closing it while the device is still going makes `cdc_acm` send its DTR-off
/// request to a device that no longer answers, and the close then waits out the kernel's
/// 5 s control timeout (seen through the VM: 5.5 s per reset). Bounded at 2 s.
fn close_after_reset<T: visreg_firmware::transport::Transport>(t: T, port: &str) {
    let name = std::path::Path::new(port)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let node = std::path::Path::new("/sys/class/tty").join(name);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while node.exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(t);
}

/// Waits until `track`'s camera shows as `id` in `state`, naming other cameras if it does
/// not.
fn wait_on_bus(
    bus: &dyn UsbBus,
    track: &Track,
    id: (u16, u16),
    state: Wanted,
    within: std::time::Duration,
    what: &str,
    on_event: &Arc<dyn Fn(FlashEvent) + Send + Sync>,
) -> Result<UsbDevice, FlashError> {
    use std::time::{Duration, Instant};
    let until = Instant::now() + within;
    loop {
        let list = bus.list().unwrap_or_default();
        let (mine, strangers) = track.find(&list, id.0, id.1, state);
        if let Some(d) = mine.filter(|d| {
            // A serial identity is ready once its tty exists.
            !matches!(state, Wanted::Firmware | Wanted::CdcBootloader) || d.tty.is_some()
        }) {
            return Ok(d);
        }
        if Instant::now() >= until {
            let others: Vec<String> = strangers.iter().map(|s| s.0.describe()).collect();
            return Err(FlashError::Plan(format!(
                "{what} of {} ({:04X}:{:04X}) did not appear within {within:?}{}: run `visreg doctor`",
                track.describe(state),
                id.0,
                id.1,
                if others.is_empty() {
                    String::new()
                } else {
                    format!("; other cameras with that identity are on the bus and were left alone: {}", others.join("; "))
                }
            )));
        }
        on_event(FlashEvent::Waiting {
            what: what.to_string(),
            left: until.saturating_duration_since(Instant::now()),
        });
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// After a USB flash: the camera's firmware back on its port, its version read back.
fn firmware_on_bus(
    build: &visreg_firmware::catalog::Build,
    id: (u16, u16),
    deadlines: FlashDeadlines,
    bus: &dyn UsbBus,
    track: &Track,
    on_event: &Arc<dyn Fn(FlashEvent) + Send + Sync>,
) -> Result<Flashed, FlashError> {
    use std::time::Instant;
    let t0 = Instant::now();
    let dev = wait_on_bus(
        bus,
        track,
        id,
        Wanted::Firmware,
        deadlines.reboot,
        &format!("firmware {}", build.name),
        on_event,
    )?;
    let port = dev.tty.clone().unwrap_or_default();
    let t = crate::link::SerialTransport::open(&port, crate::link::DEBUG_BAUD)
        .map_err(|e| FlashError::Plan(format!("{port}: {e}")))?;
    wait_for_firmware(
        t,
        build,
        &port,
        FlashDeadlines {
            reboot: deadlines.reboot.saturating_sub(t0.elapsed()),
            ..deadlines
        },
        on_event,
    )
}

/// After a reset: waits (with a visible countdown) for the firmware to answer and checks
/// that it reports the build's version.
fn wait_for_firmware<T: visreg_firmware::transport::Transport>(
    mut t: T,
    build: &visreg_firmware::catalog::Build,
    port: &str,
    deadlines: FlashDeadlines,
    on_event: &Arc<dyn Fn(FlashEvent) + Send + Sync>,
) -> Result<Flashed, FlashError> {
    use std::time::{Duration, Instant};

    use crate::client::{
        probe_for,
        v2::{V2Client, V2Options},
        Probed,
    };

    let fail = |m: String| FlashError::Plan(format!("{port}: {m}"));
    let until = Instant::now() + deadlines.reboot;
    loop {
        on_event(FlashEvent::Waiting {
            what: format!("firmware {} to boot", build.name),
            left: until.saturating_duration_since(Instant::now()),
        });
        match probe_for(&mut t, Duration::from_millis(300), Some(build.board)) {
            Ok(Probed::V2) => {
                let c = V2Client::connect(t, V2Options::default()).map_err(|e| fail(e.to_string()))?;
                return verify_version(build, c.version.firmware, port);
            }
            Ok(Probed::V1(v)) => {
                return verify_version(build, [v[0] as u8, v[1] as u8, v[2] as u8], port)
            }
            Err(_) if Instant::now() < until => continue,
            Err(e) => {
                return Err(fail(format!(
                    "the camera did not come back with firmware within {:?} ({e}): it may be stuck in its bootloader — run `visreg doctor`",
                    deadlines.reboot
                )))
            }
        }
    }
}

fn verify_version(
    build: &visreg_firmware::catalog::Build,
    got: [u8; 3],
    port: &str,
) -> Result<Flashed, FlashError> {
    let want = build
        .version_triple()
        .map_err(|e| FlashError::Plan(e.to_string()))?;
    if got == want {
        Ok(Flashed {
            version: got,
            port: port.to_string(),
        })
    } else {
        Err(FlashError::Plan(format!(
            "{port}: the camera reports firmware {}.{}.{} after flashing {} ({}.{}.{}): the flash did not take; run `visreg doctor`",
            got[0], got[1], got[2], build.name, want[0], want[1], want[2]
        )))
    }
}

/// Writes an OpenMV bootloader image at 0x08000000 through ST's ROM system DFU (DfuSe) on
/// `tunnel` (a virtual camera). See [`flash_rom_dfuse`].
pub fn flash_st_rom<T: visreg_firmware::transport::Transport>(
    tunnel: &crate::dfu_tunnel::Tunnel<T>,
    image: &[u8],
    on_progress: Arc<dyn Fn(FlashProgress) + Send + Sync>,
) -> Result<(), FlashError> {
    let io = crate::dfu_tunnel::TunnelDfuIo::open_st_rom(tunnel).map_err(|e| FlashError::Open {
        partition: "BOOTLOADER",
        alt: 0,
        message: e.to_string(),
    })?;
    flash_rom_dfuse(io, image, on_progress)
}

/// Writes `image` through ST's ROM DfuSe bootloader on `io` (alt 0, the internal flash,
/// from the address its memory layout starts at). The ROM leaves DFU after the last block
/// without answering its final status; as dfu-util users are told, an error at that point
/// — once every byte was written — is the normal end, not a failure.
pub fn flash_rom_dfuse<IO, E>(
    io: IO,
    image: &[u8],
    on_progress: Arc<dyn Fn(FlashProgress) + Send + Sync>,
) -> Result<(), FlashError>
where
    IO: DfuIo<Read = usize, Write = usize, Reset = (), Error = E>,
    E: From<std::io::Error> + From<dfu_core::Error> + std::fmt::Display,
{
    let total = image.len() as u64;
    let done = Arc::new(AtomicU64::new(0));
    let mut dfu = DfuSync::new(io);
    {
        let (done, on_progress) = (done.clone(), on_progress.clone());
        dfu.with_progress(move |n| {
            if n > 0 {
                let d = done.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
                on_progress(FlashProgress {
                    partition: "BOOTLOADER",
                    done: d,
                    total,
                });
            }
        });
    }
    match dfu.download_from_slice(image) {
        Ok(_) => Ok(()),
        Err(_) if done.load(Ordering::Relaxed) == total => Ok(()),
        Err(e) => Err(FlashError::Download {
            partition: "BOOTLOADER",
            message: e.to_string(),
        }),
    }
}

/// The rest of a flash once the camera re-enumerated as a USB DFU device: write through
/// `nusb`, let it reset, follow it back to its firmware, check the version. Also the way
/// to flash a camera found waiting in its DFU bootloader (`visreg recover`).
pub fn flash_over_usb(
    dev: &UsbDevice,
    build: &visreg_firmware::catalog::Build,
    writes: &[Write],
    deadlines: FlashDeadlines,
    bus: &dyn UsbBus,
    track: &Track,
    on_event: &Arc<dyn Fn(FlashEvent) + Send + Sync>,
) -> Result<Flashed, FlashError> {
    use std::time::{Duration, Instant};

    let info = crate::select::nusb_info(dev).ok_or_else(|| {
        FlashError::Plan(format!(
            "{}: the DFU device vanished before it could be opened",
            dev.describe()
        ))
    })?;
    on_event(FlashEvent::Step(format!(
        "DFU bootloader {}: writing {} partition(s)",
        dev.describe(),
        writes.len()
    )));
    let deadline = Instant::now() + deadlines.write;
    let ev = on_event.clone();
    flash_dfu(
        build.board,
        writes,
        |alt| crate::usb_dfu::UsbDfu::open(&info, alt, Duration::from_secs(5), deadline),
        Arc::new(move |p| ev(FlashEvent::Progress(p))),
    )
    .map_err(|e| {
        // A device that dropped off the bus mid-write lost power or was unplugged.
        let still_there = bus
            .list()
            .unwrap_or_default()
            .iter()
            .any(|d| d.bus == dev.bus && d.address == dev.address);
        match e {
            FlashError::Download { partition, message } if !still_there => FlashError::Download {
                partition,
                message: format!(
                    "{message}: the camera dropped off the bus mid-write (power lost or unplugged); it is likely waiting in its bootloader with no firmware — `visreg doctor` tells, `visreg recover` writes a known-good build"
                ),
            },
            other => other,
        }
    })?;
    let track = Track {
        uid: track.uid,
        port_path: dev.port_path.clone().or_else(|| track.port_path.clone()),
    };
    firmware_on_bus(
        build,
        runtime_identity(build),
        deadlines,
        bus,
        &track,
        on_event,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unique_id_is_read_back_from_arch_str_and_the_generation_picks_the_bootloader() {
        let uid = [0x0033_0042, 0x0012_3456, 0x89AB_CDEF];
        let arch = format!(
            "OMV4P H7 32768 SDRAM [H7:{}]\0\0",
            visreg_firmware::serial::arch_uid(uid)
        );
        assert_eq!(uid_of_arch(&arch), Some(uid));
        assert_eq!(uid_of_arch("OMV4 H7 1024"), None);
        use visreg_firmware::catalog::Flasher;
        let h7p = Board::H7Plus;
        assert_eq!(bootloader_of(h7p, [4, 5, 9]), Flasher::CdcBootloader);
        assert_eq!(bootloader_of(h7p, [4, 6, 0]), Flasher::OpenmvDfu);
        assert_eq!(bootloader_of(h7p, [4, 8, 1]), Flasher::OpenmvDfu);
        assert_eq!(bootloader_of(h7p, [5, 0, 0]), Flasher::OpenmvDfu);
        assert_eq!(bootloader_of(Board::RT1062, [5, 0, 0]), Flasher::NxpRom);
        let c = visreg_firmware::catalog::Catalog::builtin();
        assert_eq!(
            runtime_identity(c.build("4.5.9").unwrap()),
            (0x1209, 0xABD1)
        );
        assert_eq!(
            runtime_identity(c.build("5.0.0").unwrap()),
            (0x37C5, 0x124A)
        );
    }
}
