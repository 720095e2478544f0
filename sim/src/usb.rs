//! A whole virtual camera on the kernel's USB stack (`visreg sim --usb`): each state of
//! the camera is the USB identity its firmware or bootloader presents, attached to
//! `vhci_hcd` through USB/IP ([`crate::usbip`]); entering the bootloader, a reset and a
//! power loss detach the device and attach it again with the new identity on the same
//! port, as a real camera drops off the bus and re-enumerates.
//!
//! | state | identity (source) |
//! |---|---|
//! | firmware, STM32, ≥ 4.6 | 37C5:board PID, CDC-ACM, full speed, 64-byte bulk (MicroPython `ports/stm32/usbd_desc.c`, `usbd_cdc_msc_hid.c`) |
//! | firmware ≤ 4.5.x | 1209:ABD1, otherwise the same |
//! | OpenMV DFU bootloader (≥ 4.6) | 37C5:PID + 0x8000, "OpenMV Camera (DFU Mode)", one alt per partition named as the partition, one functional descriptor after the last alt (`boot/src/common/desc.c`, v4.8.1/v5.0.0) |
//! | legacy CDC bootloader (≤ 4.5.x) | 1209:ABD1, serial 000000000011, CDC-ACM (`src/omv/ports/stm32/boot/src/usbd_desc.c`, v4.5.9) |
//! | ST's ROM (BOOT0) | 0483:DF11, DfuSe, one functional descriptor after the last alt |
//!
//! The USB/IP function answering each identity feeds the same device engines the
//! pseudo-terminal path uses: the protocol endpoints, the CDC bootloader and the flash
//! with its DFU bootloader.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use visreg_firmware::board::{Board, LEGACY_PID, LEGACY_VID, OPENMV_VID};
use visreg_firmware::catalog::{Flasher, Protocol};
use visreg_firmware::dfu::{openmv_dfu_descriptor, st_rom_descriptor, ST_ROM_LAYOUT};
use visreg_firmware::image::{partitions, ST_ROM_DFU};
use visreg_firmware::serial;
use visreg_firmware::usb::{
    cdc_acm_configuration, dfu_configuration, CdcEndpoints, DeviceDescriptor, FunctionalPlacement,
    Speed,
};

use crate::bootloader::{DfuSimError, Mode};
use crate::cdc_bootloader::{CdcBootloader, CdcControl};
use crate::device::VirtualCamera;
use crate::faults::{Action, FaultSpec, Faults};
use crate::serve::ServeEnd;
use crate::unit::{VirtualUnit, POWER_OFF};
use crate::usbip::{serve_attached, End, Next, Refusal, Setup, UsbFunction, Vhci, VhciError};
use crate::v1::{Framing, V1Device};
use crate::v2::{Control, V2Device};

/// What the camera looks like on the bus right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attached {
    /// The kernel's bus id (`3-1`).
    pub busid: String,
    /// VID.
    pub vid: u16,
    /// PID.
    pub pid: u16,
    /// Serial number string.
    pub serial: String,
    /// `firmware`, `dfu-bootloader`, `cdc-bootloader` or `st-rom`.
    pub state: &'static str,
    /// The tty `cdc_acm` made, for a serial identity.
    pub tty: Option<String>,
}

/// What the USB camera reports as it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsbEvent {
    /// A new identity is on the bus (and bound, for a serial port).
    Attached(Attached),
    /// The kernel did not enumerate the device (the `descriptor-fail` fault).
    NotEnumerated {
        /// The bus id it was given.
        busid: Option<String>,
    },
    /// The device left the bus.
    Detached(String),
}

/// Why a USB camera cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum UsbSimError {
    /// vhci_hcd is not usable.
    #[error(transparent)]
    Vhci(#[from] VhciError),
    /// The USB/IP stream failed.
    #[error("USB/IP: {0}")]
    Io(#[from] std::io::Error),
}

/// How the USB camera starts.
#[derive(Clone, Debug, Default)]
pub struct UsbOptions {
    /// Start waiting in its DFU (or CDC) bootloader, as after `machine.bootloader()`.
    pub in_bootloader: bool,
    /// Put a DFU functional descriptor after each alternate setting instead of one after
    /// the last (as the real bootloader does): the other layout a host must read.
    pub functional_each_alt: bool,
}

const CDC_EP: CdcEndpoints = CdcEndpoints {
    notify_in: 0x82,
    data_out: 0x01,
    data_in: 0x81,
};
const MANUFACTURER: &str = "OpenMV";
const CDC_PRODUCT: &str = "OpenMV Virtual Comm Port in FS Mode";

/// The board's runtime USB speed: full speed on the STM32 boards' OTG_FS port (the H7 Plus
/// too), high speed on the RT1062's TinyUSB port and the N6.
pub fn runtime_speed(board: Board) -> Speed {
    // One place for each board's speed: the board table (from OMV_USB_IRQN).
    match board.usb_speed() {
        visreg_firmware::board::UsbSpeed::High => Speed::High,
        visreg_firmware::board::UsbSpeed::Full => Speed::Full,
    }
}

/// Serves `unit` on the kernel's USB stack until `stop` is set.
pub fn serve_usb(
    unit: &VirtualUnit,
    faults: &FaultSpec,
    opts: &UsbOptions,
    stop: &AtomicBool,
    on_event: &dyn Fn(UsbEvent),
) -> Result<ServeEnd, UsbSimError> {
    let vhci = Vhci::open()?;
    let port = vhci.free_port(None)?;
    let devid = 0x0001_0000 | (port + 2);
    // Which bootloader the camera has follows the generation of what it last ran.
    let mut legacy_bootloader = unit_flasher(unit) == Flasher::CdcBootloader;
    let mut power_loss = faults.power_loss_after_blocks;
    if opts.in_bootloader {
        unit.flash
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .enter_bootloader();
    }
    let mut byte_faults = Some(Faults::new(faults.clone()));
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(ServeEnd::Stopped);
        }
        let mode = unit
            .flash
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .mode()
            .clone();
        let mut function: Box<dyn CameraFunction + '_> = match mode {
            Mode::Firmware(name) => match unit.boot_camera(&name) {
                Some((cam, protocol)) => {
                    legacy_bootloader = cam.build().flasher() == Flasher::CdcBootloader;
                    Box::new(FirmwareFn::new(
                        unit,
                        cam,
                        protocol,
                        byte_faults.take().unwrap_or_else(Faults::none),
                        power_loss.take(),
                        faults.descriptor_fail,
                    ))
                }
                None => {
                    tracing::warn!("FIRMWARE holds {name}, which does not boot (unknown to the catalog, or planted to fault at start-up): staying in the bootloader");
                    unit.flash
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .enter_bootloader();
                    continue;
                }
            },
            Mode::Bootloader if legacy_bootloader => Box::new(CdcBootloaderFn::new(unit)),
            Mode::Bootloader => Box::new(DfuFn::openmv(unit, opts.functional_each_alt)),
            Mode::StRom => Box::new(DfuFn::st_rom(unit)),
            Mode::Off => {
                on_event(UsbEvent::Detached("power lost".into()));
                sleep_unless(stop, POWER_OFF);
                unit.flash.lock().unwrap_or_else(|p| p.into_inner()).reset();
                continue;
            }
            Mode::Dead => {
                on_event(UsbEvent::Detached(
                    "no bootloader and BOOT0 not set: nothing answers".into(),
                ));
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return Ok(ServeEnd::Stopped);
            }
        };
        let speed = function.speed();
        let mut att = vhci.attach(port, devid, speed)?;
        let ident = function.identity();
        let announced = std::cell::Cell::new(false);
        let announce = |tty: Option<String>, busid: String| {
            announced.set(true);
            on_event(UsbEvent::Attached(Attached {
                busid,
                vid: ident.0,
                pid: ident.1,
                serial: ident.2.clone(),
                state: ident.3,
                tty,
            }));
        };
        // Announce once the kernel has enumerated (and, for serial ports, bound) it.
        let watch_start = Instant::now();
        let mut watcher = Watcher {
            inner: function.as_mut(),
            check: &mut |_| {
                if announced.get() {
                    return;
                }
                let Some(busid) = vhci.busid(port) else {
                    return;
                };
                let waited = watch_start.elapsed();
                if ident.3 == "firmware" || ident.3 == "cdc-bootloader" {
                    if let Some(tty) = crate::usbip::tty_of(&busid) {
                        announce(Some(tty), busid);
                    } else if waited > Duration::from_secs(5) && faults.descriptor_fail {
                        announced.set(true);
                        on_event(UsbEvent::NotEnumerated { busid: Some(busid) });
                    }
                } else if std::path::Path::new("/sys/bus/usb/devices")
                    .join(&busid)
                    .join("idVendor")
                    .exists()
                {
                    announce(None, busid);
                }
            },
        };
        let end = serve_attached(&mut att.sock, &mut watcher, stop)?;
        drop(att.sock);
        vhci.detach(port)?;
        match end {
            End::Stopped => return Ok(ServeEnd::Stopped),
            End::Detach if watcher.inner.disconnected() => {
                on_event(UsbEvent::Detached("disconnected (planned fault)".into()));
                return Ok(ServeEnd::FaultDisconnect);
            }
            End::Detach => on_event(UsbEvent::Detached("re-enumerating".into())),
            End::HostGone(why) => {
                on_event(UsbEvent::Detached(why.clone()));
                return Ok(ServeEnd::Disconnected(why));
            }
        }
    }
}

fn unit_flasher(unit: &VirtualUnit) -> Flasher {
    let f = unit.flash.lock().unwrap_or_else(|p| p.into_inner());
    let name = match f.mode() {
        Mode::Firmware(n) => Some(n.clone()),
        _ => visreg_firmware::image::sim::installed_build(f.partition("FIRMWARE").unwrap_or(&[])),
    };
    drop(f);
    name.and_then(|n| unit.catalog().build(&n).ok().map(|b| b.flasher()))
        .unwrap_or(Flasher::OpenmvDfu)
}

fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The identity of a function: VID, PID, serial, state name.
type Identity = (u16, u16, String, &'static str);

/// What every identity of the camera adds to a [`UsbFunction`].
trait CameraFunction: UsbFunction {
    fn speed(&self) -> Speed;
    fn identity(&self) -> Identity;
    fn disconnected(&self) -> bool {
        false
    }
}

/// Wraps a function to watch the kernel's side between URBs.
struct Watcher<'a> {
    inner: &'a mut dyn CameraFunction,
    check: &'a mut dyn FnMut(()),
}

impl UsbFunction for Watcher<'_> {
    fn device_descriptor(&self) -> [u8; 18] {
        self.inner.device_descriptor()
    }
    fn configuration(&self) -> Vec<u8> {
        self.inner.configuration()
    }
    fn string(&self, index: u8) -> Option<String> {
        self.inner.string(index)
    }
    fn fail_device_descriptor(&self) -> bool {
        self.inner.fail_device_descriptor()
    }
    fn class_request(&mut self, setup: &Setup, data: &[u8]) -> Result<Vec<u8>, Refusal> {
        self.inner.class_request(setup, data)
    }
    fn set_interface(&mut self, interface: u16, alt: u16) -> Result<(), Refusal> {
        self.inner.set_interface(interface, alt)
    }
    fn bus_reset(&mut self) -> Next {
        self.inner.bus_reset()
    }
    fn bulk_out(&mut self, ep: u8, data: &[u8]) {
        self.inner.bulk_out(ep, data)
    }
    fn bulk_in(&mut self, ep: u8, max: usize) -> Option<Vec<u8>> {
        self.inner.bulk_in(ep, max)
    }
    fn poll(&mut self) -> Next {
        (self.check)(());
        self.inner.poll()
    }
}

/// CDC-ACM class requests (CDC PSTN 1.2 §6.3): line coding and control lines are kept;
/// nothing else is taken.
fn cdc_request(
    setup: &Setup,
    data: &[u8],
    line_coding: &mut [u8; 7],
    dtr: &mut bool,
) -> Result<Vec<u8>, Refusal> {
    match (setup.request_type, setup.request) {
        (0x21, 0x20) => {
            if data.len() >= 7 {
                line_coding.copy_from_slice(&data[..7]);
            }
            Ok(Vec::new())
        }
        (0xA1, 0x21) => Ok(line_coding.to_vec()),
        (0x21, 0x22) => {
            *dtr = setup.value & 1 != 0;
            Ok(Vec::new())
        }
        (0x21, 0x23) => Ok(Vec::new()),
        _ => Err(Refusal::Stall),
    }
}

fn cdc_device(vid: u16, pid: u16) -> [u8; 18] {
    DeviceDescriptor {
        bcd_usb: 0x0200,
        class: (0xEF, 0x02, 0x01),
        max_packet0: 64,
        vid,
        pid,
        bcd_device: 0x0200,
        strings: (1, 2, 3),
    }
    .encode()
}

/// Running firmware: its debug port as CDC-ACM, bytes into the protocol endpoint.
struct FirmwareFn<'a> {
    unit: &'a VirtualUnit,
    cam: Box<VirtualCamera>,
    protocol: Protocol,
    v2: V2Device,
    v1: V1Device,
    faults: Faults,
    power_loss: Option<u32>,
    descriptor_fail: bool,
    to_host: Vec<u8>,
    line_coding: [u8; 7],
    dtr: bool,
    first_byte: Option<Instant>,
    last_byte: Instant,
    stalled_until: Option<Instant>,
    held: Vec<Vec<u8>>,
    next: Next,
    disconnected: bool,
}

impl<'a> FirmwareFn<'a> {
    fn new(
        unit: &'a VirtualUnit,
        cam: VirtualCamera,
        protocol: Protocol,
        faults: Faults,
        power_loss: Option<u32>,
        descriptor_fail: bool,
    ) -> Self {
        // Each bulk OUT transfer reaches usbdbg in packets of the endpoint's size.
        let v1 = V1Device::new(Framing::for_build(cam.build(), true));
        FirmwareFn {
            unit,
            cam: Box::new(cam),
            protocol,
            v2: V2Device::new(),
            v1,
            faults,
            power_loss,
            descriptor_fail,
            to_host: Vec::new(),
            line_coding: [0x00, 0x10, 0x0E, 0x00, 0, 0, 8], // 921600 8N1
            dtr: false,
            first_byte: None,
            last_byte: Instant::now(),
            stalled_until: None,
            held: Vec::new(),
            next: Next::Serve,
            disconnected: false,
        }
    }

    /// Whether the firmware is of the legacy generation (≤ 4.5.x): 1209:ABD1 and the CDC
    /// bootloader; 4.6.0 … 4.8.1 speak v1 too but under 37C5 (visreg_firmware::generation).
    fn legacy(&self) -> bool {
        self.cam.build().generation() == visreg_firmware::generation::Generation::Legacy
    }

    fn feed(&mut self, data: &[u8]) {
        let data = self.faults.incoming(data);
        let mut out = Vec::new();
        let control = match self.protocol {
            Protocol::V2 => self.v2.on_bytes(&mut self.cam, &data, &mut out),
            Protocol::V1 => self.v1.on_bytes(&mut self.cam, &data, &mut out),
        };
        self.emit(&out);
        match control {
            Control::Continue => {}
            Control::Boot => {
                tracing::info!("entering the bootloader");
                let mut flash = self.unit.flash.lock().unwrap_or_else(|p| p.into_inner());
                flash.enter_bootloader();
                if let Some(n) = self.power_loss.take() {
                    flash.power_loss_after(n);
                }
                self.next = Next::Detach;
            }
            Control::Reset => self.next = Next::Detach,
        }
    }

    fn emit(&mut self, out: &[u8]) {
        if !out.is_empty() {
            let bytes = self.faults.outgoing(out);
            self.to_host.extend_from_slice(&bytes);
        }
    }
}

impl UsbFunction for FirmwareFn<'_> {
    fn device_descriptor(&self) -> [u8; 18] {
        let (vid, pid, ..) = self.identity();
        cdc_device(vid, pid)
    }
    fn configuration(&self) -> Vec<u8> {
        cdc_acm_configuration(self.speed(), CDC_EP)
    }
    fn string(&self, index: u8) -> Option<String> {
        match index {
            1 => Some(MANUFACTURER.into()),
            2 => Some(CDC_PRODUCT.into()),
            3 => Some(self.identity().2),
            _ => None,
        }
    }
    fn fail_device_descriptor(&self) -> bool {
        self.descriptor_fail
    }
    fn class_request(&mut self, setup: &Setup, data: &[u8]) -> Result<Vec<u8>, Refusal> {
        if (setup.request_type, setup.request) == (0x21, 0x20) && self.protocol == Protocol::V1 {
            // SET_LINE_CODING: the STM32 port's `usb_cdc_reset_buffers`.
            self.v1.line_coding();
        }
        cdc_request(setup, data, &mut self.line_coding, &mut self.dtr)
    }
    fn bulk_out(&mut self, ep: u8, data: &[u8]) {
        if ep != CDC_EP.data_out || data.is_empty() {
            return;
        }
        self.first_byte.get_or_insert_with(Instant::now);
        self.last_byte = Instant::now();
        if self.stalled_until.is_some() {
            // Kept transfer by transfer: usbdbg on an STM32 board reads packets.
            self.held.push(data.to_vec());
            return;
        }
        self.feed(data);
    }
    fn bulk_in(&mut self, ep: u8, max: usize) -> Option<Vec<u8>> {
        if ep != (CDC_EP.data_in & 0x7F) || self.to_host.is_empty() || self.stalled_until.is_some()
        {
            return None;
        }
        let n = max.min(self.to_host.len());
        Some(self.to_host.drain(..n).collect())
    }
    fn poll(&mut self) -> Next {
        if let Some(until) = self.stalled_until {
            if Instant::now() < until {
                return self.next;
            }
            self.stalled_until = None;
            for transfer in std::mem::take(&mut self.held) {
                self.feed(&transfer);
            }
        }
        if let Some(t0) = self.first_byte {
            match self.faults.check(t0.elapsed()) {
                Action::Continue => {}
                Action::Stall(d) => {
                    tracing::info!("fault: stalling for {d:?}");
                    self.stalled_until = Some(Instant::now() + d);
                }
                Action::Disconnect => {
                    tracing::info!("fault: disconnecting");
                    self.disconnected = true;
                    return Next::Detach;
                }
            }
        }
        if self.next == Next::Serve {
            let mut out = Vec::new();
            match self.protocol {
                Protocol::V2 => self.v2.on_idle(&mut self.cam, &mut out),
                Protocol::V1 => {
                    // usbdbg's parser forgets a partial command after an idle second.
                    if self.v1.has_partial() && self.last_byte.elapsed() > Duration::from_secs(1) {
                        self.v1.idle_reset();
                    }
                    self.v1.on_idle(&mut self.cam)
                }
            }
            self.emit(&out);
        }
        self.next
    }
}

impl CameraFunction for FirmwareFn<'_> {
    fn speed(&self) -> Speed {
        runtime_speed(self.cam.board())
    }
    fn identity(&self) -> Identity {
        let (vid, pid) = if self.legacy() {
            (LEGACY_VID, LEGACY_PID)
        } else {
            (OPENMV_VID, self.cam.board().firmware_pid())
        };
        (vid, pid, self.cam.serial(), "firmware")
    }
    fn disconnected(&self) -> bool {
        self.disconnected
    }
}

/// The legacy CDC bootloader of 4.5.x: CDC-ACM, commands one per packet.
struct CdcBootloaderFn<'a> {
    unit: &'a VirtualUnit,
    state: CdcBootloader,
    to_host: Vec<u8>,
    line_coding: [u8; 7],
    dtr: bool,
    next: Next,
}

impl<'a> CdcBootloaderFn<'a> {
    fn new(unit: &'a VirtualUnit) -> Self {
        CdcBootloaderFn {
            unit,
            state: CdcBootloader::new(),
            to_host: Vec::new(),
            line_coding: [0x00, 0x10, 0x0E, 0x00, 0, 0, 8],
            dtr: false,
            next: Next::Serve,
        }
    }
}

impl UsbFunction for CdcBootloaderFn<'_> {
    fn device_descriptor(&self) -> [u8; 18] {
        cdc_device(LEGACY_VID, LEGACY_PID)
    }
    fn configuration(&self) -> Vec<u8> {
        let mut c = cdc_acm_configuration(Speed::Full, CDC_EP);
        c[7] = 0xC0; // self-powered, as the bootloader's USBD_CDC_CfgFSDesc says
        c
    }
    fn string(&self, index: u8) -> Option<String> {
        match index {
            1 => Some(MANUFACTURER.into()),
            2 => Some(CDC_PRODUCT.into()),
            3 => Some(serial::LEGACY_BOOTLOADER_SERIAL_FS.into()),
            _ => None,
        }
    }
    fn class_request(&mut self, setup: &Setup, data: &[u8]) -> Result<Vec<u8>, Refusal> {
        cdc_request(setup, data, &mut self.line_coding, &mut self.dtr)
    }
    fn bulk_out(&mut self, ep: u8, data: &[u8]) {
        if ep != CDC_EP.data_out {
            return;
        }
        let mut flash = self.unit.flash.lock().unwrap_or_else(|p| p.into_inner());
        if self.state.on_bytes(&mut flash, data, &mut self.to_host) == CdcControl::Boot {
            flash.reset();
            self.next = Next::Detach;
        }
    }
    fn bulk_in(&mut self, ep: u8, max: usize) -> Option<Vec<u8>> {
        if ep != (CDC_EP.data_in & 0x7F) || self.to_host.is_empty() {
            return None;
        }
        let n = max.min(self.to_host.len());
        Some(self.to_host.drain(..n).collect())
    }
    fn poll(&mut self) -> Next {
        self.next
    }
}

impl CameraFunction for CdcBootloaderFn<'_> {
    fn speed(&self) -> Speed {
        Speed::Full
    }
    fn identity(&self) -> Identity {
        (
            LEGACY_VID,
            LEGACY_PID,
            serial::LEGACY_BOOTLOADER_SERIAL_FS.into(),
            "cdc-bootloader",
        )
    }
}

/// The OpenMV DFU bootloader, or ST's ROM (DfuSe): control transfers into the flash.
struct DfuFn<'a> {
    unit: &'a VirtualUnit,
    rom: bool,
    each_alt: bool,
    board: Board,
    alt_names: Vec<String>,
    next: Next,
}

impl<'a> DfuFn<'a> {
    fn openmv(unit: &'a VirtualUnit, each_alt: bool) -> Self {
        let board = unit.flash.lock().unwrap_or_else(|p| p.into_inner()).board();
        DfuFn {
            unit,
            rom: false,
            each_alt,
            board,
            alt_names: partitions(board)
                .iter()
                .map(|p| p.name.to_string())
                .collect(),
            next: Next::Serve,
        }
    }

    fn st_rom(unit: &'a VirtualUnit) -> Self {
        let board = unit.flash.lock().unwrap_or_else(|p| p.into_inner()).board();
        DfuFn {
            unit,
            rom: true,
            each_alt: false,
            board,
            alt_names: vec![ST_ROM_LAYOUT.to_string()],
            next: Next::Serve,
        }
    }

    fn gone(&mut self, e: DfuSimError) -> Refusal {
        match e {
            DfuSimError::Stall(_) => Refusal::Stall,
            DfuSimError::PowerLoss | DfuSimError::Gone => {
                self.next = Next::Detach;
                Refusal::Gone
            }
        }
    }

    /// After the DFU interface asks to leave (DETACH, bus reset): the bootloader jumps
    /// to the firmware (`boot/src/common/main.c`, v4.8.1: `DFU_STATE_RESET`).
    fn leave(&mut self) -> Next {
        self.unit
            .flash
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reset();
        self.next = Next::Detach;
        self.next
    }
}

impl UsbFunction for DfuFn<'_> {
    fn device_descriptor(&self) -> [u8; 18] {
        let (vid, pid, ..) = self.identity();
        DeviceDescriptor {
            bcd_usb: 0x0200,
            class: (0, 0, 0),
            max_packet0: 64,
            vid,
            pid,
            // The bootloader's own version (boot/include/header.h: 1.0.3 at v5.0.0).
            bcd_device: if self.rom { 0x2200 } else { 0x0103 },
            strings: (1, 2, 3),
        }
        .encode()
    }
    fn configuration(&self) -> Vec<u8> {
        let strings: Vec<u8> = (0..self.alt_names.len() as u8).map(|i| 4 + i).collect();
        let f = if self.rom {
            st_rom_descriptor()
        } else {
            openmv_dfu_descriptor()
        };
        // Both put one functional descriptor after the last alternate setting.
        let placement = if self.each_alt {
            FunctionalPlacement::EachAlt
        } else {
            FunctionalPlacement::AfterLastAlt
        };
        dfu_configuration(&strings, &f, placement)
    }
    fn string(&self, index: u8) -> Option<String> {
        match index {
            1 if self.rom => Some("STMicroelectronics".into()),
            2 if self.rom => Some("DFU in FS Mode".into()),
            1 => Some(MANUFACTURER.into()),
            2 => Some("OpenMV Camera (DFU Mode)".into()),
            3 => Some(self.identity().2),
            i if i >= 4 => self.alt_names.get(usize::from(i - 4)).cloned(),
            _ => None,
        }
    }
    fn class_request(&mut self, setup: &Setup, data: &[u8]) -> Result<Vec<u8>, Refusal> {
        let mut flash = self.unit.flash.lock().unwrap_or_else(|p| p.into_inner());
        let dir_in = setup.request_type & 0x80 != 0;
        if !self.rom && setup.request == visreg_firmware::dfu::request::DETACH && !dir_in {
            drop(flash);
            self.leave();
            return Ok(Vec::new());
        }
        let r = if dir_in {
            let mut buf = vec![0u8; usize::from(setup.length)];
            let n = if self.rom {
                flash.rom_control_in(setup.request, &mut buf)
            } else {
                flash.control_in(setup.request, setup.value, &mut buf)
            };
            n.map(|n| buf[..n].to_vec())
        } else if self.rom {
            flash
                .rom_control_out(setup.request, setup.value, data)
                .map(|_| Vec::new())
        } else {
            flash
                .control_out(setup.request, setup.value, data)
                .map(|_| Vec::new())
        };
        drop(flash);
        r.map_err(|e| self.gone(e))
    }
    fn set_interface(&mut self, _interface: u16, alt: u16) -> Result<(), Refusal> {
        if self.rom {
            return if usize::from(alt) < self.alt_names.len() {
                Ok(())
            } else {
                Err(Refusal::Stall)
            };
        }
        let r = self
            .unit
            .flash
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set_alt(alt as u8);
        r.map_err(|e| self.gone(e))
    }
    fn bus_reset(&mut self) -> Next {
        if self.rom {
            Next::Serve
        } else {
            self.leave()
        }
    }
    fn bulk_out(&mut self, _ep: u8, _data: &[u8]) {}
    fn bulk_in(&mut self, _ep: u8, _max: usize) -> Option<Vec<u8>> {
        None
    }
    fn poll(&mut self) -> Next {
        self.next
    }
}

impl CameraFunction for DfuFn<'_> {
    fn speed(&self) -> Speed {
        if self.board == Board::N6 {
            Speed::High
        } else {
            Speed::Full
        }
    }
    fn identity(&self) -> Identity {
        if self.rom {
            // ST's ROM reports the chip's unique id as its serial, too.
            let uid = self.unit.uid();
            (
                ST_ROM_DFU.0,
                ST_ROM_DFU.1,
                format!("{:X}{:X}", uid[2], uid[0]),
                "st-rom",
            )
        } else {
            (
                OPENMV_VID,
                self.board.firmware_pid() | 0x8000,
                serial::dfu_bootloader(self.unit.uid()),
                "dfu-bootloader",
            )
        }
    }
}
