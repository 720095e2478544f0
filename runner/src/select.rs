//! Which camera a command works on, and following that one camera — and no other — as it
//! drops off the bus and comes back with another identity (firmware → bootloader →
//! firmware). Parsed once from `--camera`, `--port` or `--serial` into a
//! [`CameraSelector`]; USB listing goes behind [`UsbBus`] (the `nusb` implementation, and
//! [`FakeBus`] for tests), so the following logic is tested without a kernel.
//!
//! A camera is followed by its chip's unique id (the firmware reports it: protocol v2's
//! SYS_INFO, protocol v1's ARCH_STR), from which the serial number of each of its USB
//! identities follows ([`visreg_firmware::serial`]), and by the USB port it was on (a
//! re-enumerated device keeps its port). A device with the wanted VID:PID that is neither
//! is another camera: it is left alone and named if ours does not come back.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use visreg_firmware::serial;

/// The camera a command works on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CameraSelector {
    /// A virtual camera this process starts.
    Sim,
    /// A serial port (`/dev/ttyACM0`, `COM3`, a pseudo-terminal).
    Port(String),
    /// A USB serial number (of the camera's firmware identity).
    Serial(String),
}

impl CameraSelector {
    /// `sim`, a port (a path or `COMn`) or a USB serial number.
    pub fn parse(s: &str) -> Self {
        let s = s.trim();
        if s.eq_ignore_ascii_case("sim") {
            CameraSelector::Sim
        } else if s.starts_with('/') || s.to_ascii_uppercase().starts_with("COM") {
            CameraSelector::Port(s.to_string())
        } else {
            CameraSelector::Serial(s.to_string())
        }
    }

    /// From `--port` / `--serial` (at most one of them; clap enforces it).
    pub fn from_flags(port: Option<&str>, serial: Option<&str>) -> Option<Self> {
        match (port, serial) {
            (Some(p), _) => Some(CameraSelector::Port(p.to_string())),
            (None, Some(s)) => Some(CameraSelector::Serial(s.to_string())),
            (None, None) => None,
        }
    }

    /// The key a camera is reserved under in a store shared by hosts: a serial number is
    /// the same camera on any host, a port only on this one; each process has its own
    /// virtual camera, which needs none.
    pub fn reservation_key(&self, host: &str) -> Option<String> {
        match self {
            CameraSelector::Sim => None,
            CameraSelector::Serial(s) => Some(format!("serial:{s}")),
            CameraSelector::Port(p) => Some(format!("port:{host}:{p}")),
        }
    }

    /// The form `--camera` takes back (stored with a run, for its resume).
    pub fn to_arg(&self) -> String {
        match self {
            CameraSelector::Sim => "sim".into(),
            CameraSelector::Port(p) | CameraSelector::Serial(p) => p.clone(),
        }
    }
}

impl std::fmt::Display for CameraSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CameraSelector::Sim => f.write_str("the virtual camera"),
            CameraSelector::Port(p) => write!(f, "the camera on {p}"),
            CameraSelector::Serial(s) => write!(f, "the camera with serial {s}"),
        }
    }
}

/// One USB device as the bus lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsbDevice {
    /// idVendor.
    pub vid: u16,
    /// idProduct.
    pub pid: u16,
    /// Serial number string.
    pub serial: Option<String>,
    /// Bus number.
    pub bus: u8,
    /// Device address.
    pub address: u8,
    /// The USB port path, as the kernel names the device (`1-1`, `3-1.4`).
    pub port_path: Option<String>,
    /// Its serial port, if a driver made one.
    pub tty: Option<String>,
    /// Manufacturer string.
    pub manufacturer: Option<String>,
    /// Product string.
    pub product: Option<String>,
}

impl UsbDevice {
    /// One line naming the device for people.
    pub fn describe(&self) -> String {
        format!(
            "{:04X}:{:04X} serial {} at USB {}{}",
            self.vid,
            self.pid,
            self.serial.as_deref().unwrap_or("(none)"),
            self.port_path
                .clone()
                .unwrap_or_else(|| format!("bus {} address {}", self.bus, self.address)),
            self.tty
                .as_deref()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default()
        )
    }
}

/// Why the bus could not be listed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot enumerate USB devices: {0}")]
pub struct BusError(pub String);

/// Lists USB devices.
pub trait UsbBus: Sync {
    /// Every device on the bus now.
    fn list(&self) -> Result<Vec<UsbDevice>, BusError>;
}

/// The machine's USB, through `nusb` (pure Rust: no libusb, no libudev).
pub struct NusbBus;

impl UsbBus for NusbBus {
    fn list(&self) -> Result<Vec<UsbDevice>, BusError> {
        if cfg!(target_os = "linux") && !Path::new("/sys/bus/usb/devices").exists() {
            // Containers and some sandboxes have no USB subsystem at all: nothing to list.
            return Ok(Vec::new());
        }
        let list = nusb::list_devices().map_err(|e| BusError(e.to_string()))?;
        Ok(list.map(|d| from_nusb(&d)).collect())
    }
}

fn from_nusb(d: &nusb::DeviceInfo) -> UsbDevice {
    #[cfg(target_os = "linux")]
    let (port_path, tty) = (
        d.sysfs_path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
        crate::discovery::tty_of(d.sysfs_path()),
    );
    #[cfg(not(target_os = "linux"))]
    let (port_path, tty) = (None, None);
    UsbDevice {
        vid: d.vendor_id(),
        pid: d.product_id(),
        // A device names itself: its strings are shown only once made printable.
        serial: d.serial_number().map(crate::discovery::printable),
        bus: d.bus_number(),
        address: d.device_address(),
        port_path,
        tty,
        manufacturer: d.manufacturer_string().map(crate::discovery::printable),
        product: d.product_string().map(crate::discovery::printable),
    }
}

/// The `nusb` handle of a listed device, to open it.
pub fn nusb_info(dev: &UsbDevice) -> Option<nusb::DeviceInfo> {
    nusb::list_devices()
        .ok()?
        .find(|d| d.bus_number() == dev.bus && d.device_address() == dev.address)
}

/// A bus of made-up devices whose contents a test changes as it goes.
#[derive(Default)]
pub struct FakeBus(pub Mutex<Vec<UsbDevice>>);

impl FakeBus {
    /// Replaces what the bus shows.
    pub fn set(&self, devices: Vec<UsbDevice>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = devices;
    }
}

impl UsbBus for FakeBus {
    fn list(&self) -> Result<Vec<UsbDevice>, BusError> {
        Ok(self.0.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

/// The USB port path of the device behind a tty (`/dev/ttyACM0` → `1-1`), on Linux.
pub fn port_path_of_tty(tty: &str) -> Option<String> {
    let name = Path::new(tty).file_name()?.to_string_lossy().into_owned();
    let link: PathBuf = std::fs::canonicalize(format!("/sys/class/tty/{name}/device")).ok()?;
    // …/usb1/1-1/1-1:1.0 → the interface's parent is the device.
    let dev = link.parent()?;
    let n = dev.file_name()?.to_string_lossy().into_owned();
    dev.join("idVendor").exists().then_some(n)
}

/// What identifies one camera across its USB identities.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Track {
    /// The chip's unique id, as the firmware reported it.
    pub uid: Option<[u32; 3]>,
    /// The USB port it was last seen on.
    pub port_path: Option<String>,
}

/// Which identity of the camera is wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted {
    /// Running firmware (STM32 MicroPython serial).
    Firmware,
    /// The OpenMV DFU bootloader (24-digit unique id serial).
    DfuBootloader,
    /// The legacy CDC bootloader (fixed serial: by port only).
    CdcBootloader,
    /// ST's ROM DFU.
    StRom,
}

/// Another camera answered where ours was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stranger(pub UsbDevice);

impl Track {
    /// A camera found waiting in its OpenMV DFU bootloader: its unique id is in the
    /// bootloader's serial, its port is where it is.
    pub fn of_dfu_device(dev: &UsbDevice) -> Self {
        Track {
            uid: dev.serial.as_deref().and_then(serial::uid_from_hex),
            port_path: dev.port_path.clone(),
        }
    }

    /// The serial number this camera shows in `state`, when it can be told.
    pub fn expected_serial(&self, state: Wanted) -> Option<String> {
        let uid = self.uid?;
        match state {
            Wanted::Firmware => Some(serial::stm32_runtime(uid)),
            Wanted::DfuBootloader => Some(serial::dfu_bootloader(uid)),
            Wanted::CdcBootloader | Wanted::StRom => None,
        }
    }

    /// Finds this camera among `devices` as `vid:pid` in `state`. `Ok(None)`: not (yet)
    /// there; every other device with that VID:PID is returned in the error list of
    /// strangers, which the caller names if its camera never comes back.
    pub fn find(
        &self,
        devices: &[UsbDevice],
        vid: u16,
        pid: u16,
        state: Wanted,
    ) -> (Option<UsbDevice>, Vec<Stranger>) {
        let want_serial = self.expected_serial(state);
        let mut ours = None;
        let mut strangers = Vec::new();
        for d in devices.iter().filter(|d| d.vid == vid && d.pid == pid) {
            let serial_ok = match (&want_serial, &d.serial) {
                (Some(w), Some(s)) => w.eq_ignore_ascii_case(s),
                _ => false,
            };
            let port_ok = self.port_path.is_some() && self.port_path == d.port_path;
            // A serial that contradicts the expected one is another camera, whatever port
            // it is on; without an expected serial, the port decides.
            let is_ours = match &want_serial {
                Some(_) => serial_ok,
                None => port_ok,
            };
            if is_ours && ours.is_none() {
                ours = Some(d.clone());
            } else {
                strangers.push(Stranger(d.clone()));
            }
        }
        (ours, strangers)
    }

    /// What this camera is, for messages.
    pub fn describe(&self, state: Wanted) -> String {
        let mut parts = Vec::new();
        if let Some(s) = self.expected_serial(state) {
            parts.push(format!("serial {s}"));
        }
        if let Some(p) = &self.port_path {
            parts.push(format!("at USB {p}"));
        }
        if parts.is_empty() {
            "the camera".into()
        } else {
            format!("the camera ({})", parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(vid: u16, pid: u16, serial: &str, port: &str) -> UsbDevice {
        UsbDevice {
            vid,
            pid,
            serial: Some(serial.into()),
            bus: 1,
            address: 2,
            port_path: Some(port.into()),
            tty: None,
            manufacturer: None,
            product: None,
        }
    }

    #[test]
    fn selectors_parse_once() {
        assert_eq!(CameraSelector::parse("sim"), CameraSelector::Sim);
        assert_eq!(
            CameraSelector::parse("/dev/ttyACM0"),
            CameraSelector::Port("/dev/ttyACM0".into())
        );
        assert_eq!(
            CameraSelector::parse("COM3"),
            CameraSelector::Port("COM3".into())
        );
        assert_eq!(
            CameraSelector::parse("1D5DEFE600CD"),
            CameraSelector::Serial("1D5DEFE600CD".into())
        );
        assert_eq!(CameraSelector::parse("COM3").to_arg(), "COM3");
    }

    #[test]
    fn two_cameras_of_one_board_on_one_bus_are_told_apart() {
        let a = Track {
            uid: Some([0x0033_0042, 0x0012_3456, 0x89AB_CDEF]),
            port_path: Some("1-1".into()),
        };
        let b = Track {
            uid: Some([0x0033_0042, 0x0065_4321, 0x0BAD_F00D]),
            port_path: Some("1-2".into()),
        };
        let bus = FakeBus::default();
        // Both cameras in their DFU bootloaders at once: each finds its own.
        bus.set(vec![
            dev(
                0x37C5,
                0x924A,
                &serial::dfu_bootloader(b.uid.unwrap()),
                "1-2",
            ),
            dev(
                0x37C5,
                0x924A,
                &serial::dfu_bootloader(a.uid.unwrap()),
                "1-1",
            ),
        ]);
        let list = bus.list().unwrap();
        let (mine, others) = a.find(&list, 0x37C5, 0x924A, Wanted::DfuBootloader);
        assert_eq!(mine.unwrap().port_path.as_deref(), Some("1-1"));
        assert_eq!(others.len(), 1);
        let (mine, _) = b.find(&list, 0x37C5, 0x924A, Wanted::DfuBootloader);
        assert_eq!(mine.unwrap().port_path.as_deref(), Some("1-2"));
        // Only the other camera is in its bootloader: not ours, even on our old port.
        bus.set(vec![dev(
            0x37C5,
            0x924A,
            &serial::dfu_bootloader(b.uid.unwrap()),
            "1-1",
        )]);
        let (mine, others) = a.find(&bus.list().unwrap(), 0x37C5, 0x924A, Wanted::DfuBootloader);
        assert!(mine.is_none());
        assert_eq!(others.len(), 1);
        // Back as firmware: found by its MicroPython serial.
        bus.set(vec![dev(
            0x37C5,
            0x124A,
            &serial::stm32_runtime(a.uid.unwrap()),
            "1-1",
        )]);
        let (mine, _) = a.find(&bus.list().unwrap(), 0x37C5, 0x124A, Wanted::Firmware);
        assert!(mine.is_some());
    }

    #[test]
    fn a_fixed_serial_bootloader_is_followed_by_its_port() {
        let a = Track {
            uid: Some([1, 2, 3]),
            port_path: Some("1-1".into()),
        };
        let list = vec![
            dev(0x1209, 0xABD1, "000000000011", "1-2"),
            dev(0x1209, 0xABD1, "000000000011", "1-1"),
        ];
        let (mine, others) = a.find(&list, 0x1209, 0xABD1, Wanted::CdcBootloader);
        assert_eq!(mine.unwrap().port_path.as_deref(), Some("1-1"));
        assert_eq!(others.len(), 1);
        // No port known: nothing can be told, nothing is taken.
        let blind = Track {
            uid: Some([1, 2, 3]),
            port_path: None,
        };
        assert!(blind
            .find(&list, 0x1209, 0xABD1, Wanted::CdcBootloader)
            .0
            .is_none());
    }
}

/// Where the selected camera is now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Located {
    /// It has a serial port (running firmware, or a virtual camera's pseudo-terminal).
    Port(String),
    /// It is on USB without a serial port, in `state` (a DFU bootloader, ST's ROM).
    Usb(UsbDevice, Wanted),
    /// Not found: what was looked for.
    NotFound(String),
}

/// Finds the camera `sel` names: a port as given; a serial number among running
/// firmware (and running virtual cameras), and among DFU bootloaders whose unique id gives
/// that runtime serial — so a camera left in its bootloader is still found by the serial
/// its user knows. `Sim` is not a camera that exists yet: `NotFound`.
pub fn locate(sel: &CameraSelector, bus: &dyn UsbBus) -> Located {
    let serial = match sel {
        CameraSelector::Port(p) => return Located::Port(p.clone()),
        CameraSelector::Sim => {
            return Located::NotFound("a virtual camera is started by the command itself".into())
        }
        CameraSelector::Serial(s) => s,
    };
    let list = bus.list().unwrap_or_default();
    let same = |s: &Option<String>| s.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(serial));
    if let Some(tty) = list
        .iter()
        .filter(|d| same(&d.serial))
        .find_map(|d| d.tty.clone())
    {
        return Located::Port(tty);
    }
    if let Some(sim) = crate::discovery::list_sims()
        .into_iter()
        .find(|s| s.serial.eq_ignore_ascii_case(serial))
    {
        return Located::Port(sim.port);
    }
    for d in &list {
        let (vid, pid) = (d.vid, d.pid);
        let in_dfu = vid == visreg_firmware::board::OPENMV_VID && pid & 0x8000 != 0;
        if !in_dfu {
            continue;
        }
        let uid = d.serial.as_deref().and_then(serial::uid_from_hex);
        let runtime = uid.map(serial::stm32_runtime);
        if same(&d.serial)
            || runtime
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(serial))
        {
            return Located::Usb(d.clone(), Wanted::DfuBootloader);
        }
    }
    let seen: Vec<String> = list
        .iter()
        .filter(|d| crate::discovery::classify(d.vid, d.pid, d.serial.as_deref()).is_some())
        .map(UsbDevice::describe)
        .collect();
    Located::NotFound(format!(
        "no camera with serial {serial} is on USB, neither running firmware nor in its DFU bootloader{}",
        if seen.is_empty() {
            String::new()
        } else {
            format!(" (on the bus: {})", seen.join("; "))
        }
    ))
}
