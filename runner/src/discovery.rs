//! Finding cameras: every USB identity an OpenMV camera can show (PROTOCOL.md §3) —
//! running firmware, the OpenMV DFU bootloader, the legacy CDC bootloader, ST's ROM DFU —
//! classified from VID:PID and serial, their serial ports, and the virtual cameras that
//! `visreg sim` registers. USB is enumerated with `nusb` (pure Rust: no libusb, no
//! libudev); serial ports are found through sysfs on Linux.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use visreg_firmware::board::{Board, LEGACY_PID, LEGACY_VID, OPENMV_VID};

/// ST's ROM bootloader (system DFU).
pub const ST_VID: u16 = 0x0483;
/// ST's ROM DFU product id.
pub const ST_DFU_PID: u16 = 0xDF11;
/// Arduino's vendor id.
pub const ARDUINO_VID: u16 = 0x2341;

/// What state a USB device is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceState {
    /// OpenMV firmware running under the 37C5 identity (4.6.0 and later: protocol v1 up
    /// to 4.8.1, v2 from 5.0).
    Firmware,
    /// Legacy firmware (≤ 4.5.x identity, 1209:ABD1; protocol v1).
    LegacyFirmware,
    /// The OpenMV DFU bootloader (firmware ≥ 4.6) waiting.
    DfuBootloader,
    /// The legacy CDC bootloader (≤ 4.5) waiting.
    CdcBootloader,
    /// ST's ROM system DFU: the camera has no working bootloader.
    StRomDfu,
    /// An Arduino board running an application.
    ArduinoApp,
    /// An Arduino board in DFU.
    ArduinoDfu,
}

/// A classified identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// State.
    pub state: DeviceState,
    /// Board, when the PID tells it.
    pub board: Option<Board>,
    /// Protocol a firmware identity likely speaks (`v1`/`v2`).
    pub protocol: Option<&'static str>,
    /// One line for people.
    pub description: String,
    /// What to do next.
    pub next_step: &'static str,
}

fn board_of_firmware_pid(pid: u16) -> Option<Board> {
    Board::ALL.into_iter().find(|b| b.firmware_pid() == pid)
}

/// Classifies a USB identity; `None` for devices that are not OpenMV cameras.
pub fn classify(vid: u16, pid: u16, serial: Option<&str>) -> Option<Identity> {
    match (vid, pid) {
        (OPENMV_VID, p)
            if p & 0x8000 != 0
                && board_of_firmware_pid(p & !0x8000)
                    .is_none_or(|b| b.has_openmv_dfu_bootloader()) =>
        {
            let board = board_of_firmware_pid(p & !0x8000);
            let name = board
                .map(|b| b.name().to_string())
                .unwrap_or_else(|| format!("PID {p:04X}"));
            Some(Identity {
                state: DeviceState::DfuBootloader,
                board,
                protocol: None,
                description: format!("OpenMV {name} in its DFU bootloader"),
                next_step: "the bootloader leaves DFU after 1.5 s unless held: flash it now with `visreg flash`, or replug it to boot the firmware",
            })
        }
        // A bootloader PID of a board without an OpenMV DFU bootloader (the RT1062's ROM
        // bootloader is NXP's, under NXP's IDs): not a state an OpenMV camera has.
        (OPENMV_VID, p) if p & 0x8000 != 0 => None,
        // 37C5 is shown by firmware from 4.6.0 on, and 4.6.0 … 4.8.1 still speak protocol
        // v1 (visreg_firmware::generation): the USB identity cannot tell v1 from v2, only
        // a probe of the port can.
        (OPENMV_VID, p) => {
            let board = board_of_firmware_pid(p);
            Some(Identity {
                state: DeviceState::Firmware,
                board,
                protocol: None,
                description: format!(
                    "OpenMV {} running firmware ≥ 4.6 (protocol v1 up to 4.8.1, v2 from 5.0)",
                    board.map(|b| b.name()).unwrap_or("camera")
                ),
                next_step: "ready: `visreg devices` probes its port for the protocol and version; `visreg verify` checks its pose function",
            })
        }
        (LEGACY_VID, LEGACY_PID) => match serial {
            Some("000000000010") | Some("000000000011") => Some(Identity {
                state: DeviceState::CdcBootloader,
                board: None,
                protocol: None,
                description: format!(
                    "OpenMV legacy CDC bootloader ({} speed)",
                    if serial == Some("000000000010") {
                        "high"
                    } else {
                        "full"
                    }
                ),
                next_step:
                    "the bootloader waits about a second for a host: flash it with `visreg flash`",
            }),
            _ => Some(Identity {
                state: DeviceState::LegacyFirmware,
                board: None,
                protocol: Some("v1"),
                description: "OpenMV camera running 4.x firmware".into(),
                next_step: "ready (protocol v1): `visreg verify` checks its pose function",
            }),
        },
        (ST_VID, ST_DFU_PID) => Some(Identity {
            state: DeviceState::StRomDfu,
            board: None,
            protocol: None,
            description: "STM32 ROM bootloader (system DFU): the camera has no working bootloader"
                .into(),
            next_step: "the camera is bricked or BOOT0 is jumpered: run `visreg recover`",
        }),
        (ARDUINO_VID, 0x045B) => Some(Identity {
            state: DeviceState::ArduinoApp,
            board: None,
            protocol: Some("v2"),
            description: "Arduino Portenta running OpenMV firmware".into(),
            next_step: "ready: `visreg verify` checks its pose function",
        }),
        (ARDUINO_VID, 0x035B) => Some(Identity {
            state: DeviceState::ArduinoDfu,
            board: None,
            protocol: None,
            description: "Arduino Portenta in DFU".into(),
            next_step: "flash it with `visreg flash`",
        }),
        _ => None,
    }
}

impl DeviceState {
    /// Whether firmware runs (and its port can be probed for protocol and version).
    pub fn runs_firmware(self) -> bool {
        matches!(
            self,
            DeviceState::Firmware | DeviceState::LegacyFirmware | DeviceState::ArduinoApp
        )
    }
}

/// A USB device that looks like an OpenMV camera.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FoundDevice {
    /// USB vendor id.
    pub vid: u16,
    /// USB product id.
    pub pid: u16,
    /// USB serial number.
    pub serial: Option<String>,
    /// Manufacturer string.
    pub manufacturer: Option<String>,
    /// Product string.
    pub product: Option<String>,
    /// Bus number.
    pub bus: u8,
    /// Device address.
    pub address: u8,
    /// Its serial port, when it has one.
    pub port: Option<String>,
    /// Classification.
    pub identity: Identity,
}

/// Lists the USB devices that are OpenMV cameras in any state. A device whose strings
/// cannot be read is still listed with what is known.
pub fn usb_devices() -> Result<Vec<FoundDevice>, crate::select::BusError> {
    usb_devices_on(&crate::select::NusbBus)
}

/// The OpenMV cameras among what `bus` lists (the machine's USB, or a fake one in tests).
pub fn usb_devices_on(
    bus: &dyn crate::select::UsbBus,
) -> Result<Vec<FoundDevice>, crate::select::BusError> {
    let list = bus.list()?;
    Ok(list
        .into_iter()
        .filter_map(|d| {
            let identity = classify(d.vid, d.pid, d.serial.as_deref())?;
            Some(FoundDevice {
                vid: d.vid,
                pid: d.pid,
                serial: d.serial,
                manufacturer: d.manufacturer,
                product: d.product,
                bus: d.bus,
                address: d.address,
                port: d.tty,
                identity,
            })
        })
        .collect())
}

/// The tty of a USB device from its sysfs folder: `<dev>/<dev>:<cfg>.<iface>/tty/ttyACM*`.
pub fn tty_of(device_sysfs: &Path) -> Option<String> {
    let mut ttys = Vec::new();
    for iface in std::fs::read_dir(device_sysfs).ok()?.flatten() {
        let tty_dir = iface.path().join("tty");
        if let Ok(entries) = std::fs::read_dir(&tty_dir) {
            for e in entries.flatten() {
                ttys.push(format!("/dev/{}", e.file_name().to_string_lossy()));
            }
        }
    }
    ttys.sort();
    ttys.into_iter().next()
}

/// A running virtual camera, as `visreg sim` registers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimInfo {
    /// Its process id.
    pub pid: u32,
    /// The pseudo-terminal to open.
    pub port: String,
    /// Board.
    pub board: String,
    /// Firmware build.
    pub firmware: String,
    /// `v1` or `v2`.
    pub protocol: String,
    /// Serial number.
    pub serial: String,
}

/// Text from outside visreg — a USB string descriptor, a registry file — made safe to
/// print: control characters (a terminal's escape sequences among them) become U+FFFD,
/// and it is cut at 128 characters. Every such string passes here before it is shown.
pub fn printable(s: &str) -> String {
    s.chars()
        .take(128)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// Where virtual cameras register: `$VISREG_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/visreg`,
/// else a folder of this user's own in the temporary folder (`visreg-runtime-<uid>`):
/// a shared folder would let another user list cameras that are not there.
pub fn registry_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("VISREG_RUNTIME_DIR").filter(|s| !s.is_empty()) {
        return PathBuf::from(d).join("sims");
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|s| !s.is_empty()) {
        return PathBuf::from(d).join("visreg").join("sims");
    }
    #[cfg(unix)]
    let user = format!("visreg-runtime-{}", nix::unistd::getuid());
    #[cfg(not(unix))]
    let user = "visreg-runtime".to_string();
    std::env::temp_dir().join(user).join("sims")
}

/// Makes `dir` (and its parent, the runtime folder) private to this user: created 0700,
/// and refused when it belongs to someone else.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        for d in [dir.parent(), Some(dir)].into_iter().flatten() {
            if !d.exists() {
                std::fs::DirBuilder::new().mode(0o700).create(d)?;
            }
            let meta = std::fs::metadata(d)?;
            if meta.uid() != nix::unistd::getuid().as_raw() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!(
                        "{} belongs to another user: set VISREG_RUNTIME_DIR to a folder of your own",
                        d.display()
                    ),
                ));
            }
            if meta.mode() & 0o077 != 0 {
                std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))?;
            }
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// Whether a registration describes a camera visreg could have registered: a process,
/// a device node, and names that are short printable words.
fn plausible(info: &SimInfo) -> bool {
    let word = |s: &str| !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_graphic());
    info.pid > 0
        && info.port.starts_with("/dev/")
        && word(&info.port)
        && word(&info.board.replace(' ', "_"))
        && word(&info.firmware)
        && matches!(info.protocol.as_str(), "v1" | "v2")
        && word(&info.serial)
}

/// A registration, removed when dropped.
pub struct SimRegistration(PathBuf);

impl Drop for SimRegistration {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Registers a running virtual camera.
pub fn register_sim(info: &SimInfo) -> std::io::Result<SimRegistration> {
    let dir = registry_dir();
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent.parent().unwrap_or(parent))?;
    }
    private_dir(&dir)?;
    let path = dir.join(format!("{}.json", info.pid));
    std::fs::write(
        &path,
        serde_json::to_string(info).map_err(std::io::Error::other)?,
    )?;
    Ok(SimRegistration(path))
}

fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

/// The registered virtual cameras that are still running; stale entries are removed and
/// unreadable ones skipped.
pub fn list_sims() -> Vec<SimInfo> {
    let Ok(entries) = std::fs::read_dir(registry_dir()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().and_then(|s| s.to_str()) != Some("json") {
            continue;
        }
        match std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<SimInfo>(&t).ok())
        {
            Some(info) if !plausible(&info) => tracing::warn!(
                "ignoring virtual-camera registration {}: it does not describe one visreg made",
                printable(&path.display().to_string())
            ),
            Some(info) if alive(info.pid) && Path::new(&info.port).exists() => out.push(info),
            Some(_) => {
                let _ = std::fs::remove_file(&path);
            }
            None => tracing::warn!(
                "ignoring unreadable virtual-camera registration {}",
                path.display()
            ),
        }
    }
    out.sort_by_key(|s| s.pid);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_text_reaches_the_terminal_without_escape_sequences() {
        assert_eq!(
            printable("OpenMV\u{1b}[2J\u{7}cam"),
            "OpenMV\u{FFFD}[2J\u{FFFD}cam"
        );
        assert_eq!(printable(&"x".repeat(500)).len(), 128);
        let ok = SimInfo {
            pid: 42,
            port: "/dev/pts/3".into(),
            board: "H7 Plus".into(),
            firmware: "5.0.0".into(),
            protocol: "v2".into(),
            serial: "0123456789AB".into(),
        };
        assert!(plausible(&ok));
        for bad in [
            SimInfo {
                port: "/etc/passwd\u{1b}]0;x".into(),
                ..ok.clone()
            },
            SimInfo {
                port: "relative".into(),
                ..ok.clone()
            },
            SimInfo {
                firmware: "\u{1b}[31mred".into(),
                ..ok.clone()
            },
            SimInfo {
                protocol: "v9".into(),
                ..ok.clone()
            },
            SimInfo {
                pid: 0,
                ..ok.clone()
            },
        ] {
            assert!(!plausible(&bad), "{bad:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_registry_is_private_to_its_user() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let sims = dir.path().join("rt").join("sims");
        std::fs::create_dir_all(dir.path().join("rt")).unwrap();
        std::fs::set_permissions(
            dir.path().join("rt"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        private_dir(&sims).unwrap();
        for d in [dir.path().join("rt"), sims] {
            let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", d.display());
        }
    }

    #[test]
    fn every_identity_of_protocol_md_is_classified() {
        for (pid, board) in [
            (0x1202, Board::M4),
            (0x1203, Board::M7),
            (0x1204, Board::H7),
            (0x124A, Board::H7Plus),
            (0x1060, Board::RT1062),
            (0x1206, Board::N6),
        ] {
            let id = classify(OPENMV_VID, pid, None).unwrap();
            // 4.6.0 … 4.8.1 show 37C5 too and speak v1: the identity cannot say which.
            assert_eq!(
                (id.state, id.board, id.protocol),
                (DeviceState::Firmware, Some(board), None)
            );
            assert!(
                id.description.contains("v1 up to 4.8.1"),
                "{}",
                id.description
            );
            assert!(id.state.runs_firmware());
            if !board.has_openmv_dfu_bootloader() {
                // The RT1062 enters NXP's ROM bootloader; 37C5:9060 is nothing of OpenMV's.
                assert!(classify(OPENMV_VID, pid + 0x8000, None).is_none());
                continue;
            }
            let dfu = classify(OPENMV_VID, pid + 0x8000, None).unwrap();
            assert_eq!(
                (dfu.state, dfu.board),
                (DeviceState::DfuBootloader, Some(board))
            );
        }
        assert_eq!(
            classify(OPENMV_VID, 0x96E3, None).unwrap().state,
            DeviceState::DfuBootloader
        );
        assert_eq!(
            classify(LEGACY_VID, LEGACY_PID, Some("000000000010"))
                .unwrap()
                .state,
            DeviceState::CdcBootloader
        );
        assert_eq!(
            classify(LEGACY_VID, LEGACY_PID, Some("000000000011"))
                .unwrap()
                .state,
            DeviceState::CdcBootloader
        );
        let legacy = classify(LEGACY_VID, LEGACY_PID, Some("3A0039001051")).unwrap();
        assert_eq!(
            (legacy.state, legacy.protocol),
            (DeviceState::LegacyFirmware, Some("v1"))
        );
        let st = classify(ST_VID, ST_DFU_PID, None).unwrap();
        assert_eq!(st.state, DeviceState::StRomDfu);
        assert!(st.next_step.contains("visreg recover"));
        assert_eq!(
            classify(ARDUINO_VID, 0x045B, None).unwrap().state,
            DeviceState::ArduinoApp
        );
        assert_eq!(
            classify(ARDUINO_VID, 0x035B, None).unwrap().state,
            DeviceState::ArduinoDfu
        );
        assert_eq!(classify(0x046D, 0xC52B, None), None);
    }

    #[test]
    fn only_cameras_are_listed_from_the_bus() {
        let dev = |vid, pid, serial: &str, tty: Option<&str>| crate::select::UsbDevice {
            vid,
            pid,
            serial: Some(serial.into()),
            bus: 1,
            address: 3,
            port_path: Some("1-1".into()),
            tty: tty.map(str::to_string),
            manufacturer: None,
            product: None,
        };
        let bus = crate::select::FakeBus::default();
        bus.set(vec![
            dev(0x046D, 0xC52B, "mouse", None),
            dev(OPENMV_VID, 0x124A, "1D5DEFE600CD", Some("/dev/ttyACM0")),
            dev(OPENMV_VID, 0x924A, "1D2AEFA400CD312900330042", None),
        ]);
        let found = usb_devices_on(&bus).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(
            (found[0].identity.state, found[0].port.as_deref()),
            (DeviceState::Firmware, Some("/dev/ttyACM0"))
        );
        assert_eq!(found[1].identity.state, DeviceState::DfuBootloader);
    }

    #[test]
    fn sysfs_tty_is_found_under_the_interface() {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("1-1");
        std::fs::create_dir_all(dev.join("1-1:1.0/tty/ttyACM3")).unwrap();
        std::fs::create_dir_all(dev.join("1-1:1.1")).unwrap();
        assert_eq!(tty_of(&dev), Some("/dev/ttyACM3".into()));
        assert_eq!(tty_of(&dir.path().join("missing")), None);
    }
}
