//! The virtual camera's flash and its OpenMV DFU bootloader: a DFU 1.1 device (one
//! alternate setting per partition, 4096-byte blocks at `start + n·4096`, GETSTATUS poll
//! timeouts, manifestation) driven through `dfu-core`'s [`DfuIo`] — the same abstraction
//! the flasher uses for a real camera over `nusb` — so the real DFU state machine runs end
//! to end. It models time (USB transfer rate, flash programming as poll timeouts) and
//! power loss mid-flash, which leaves a half-written partition behind.
//!
//! Simulated firmware images ([`visreg_firmware::image::sim`]) carry a header naming their build, so after
//! a reset the camera boots whatever build was flashed — or stays in its bootloader when
//! the FIRMWARE partition holds no valid image.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dfu_core::functional_descriptor::FunctionalDescriptor;
use dfu_core::memory_layout::MemoryLayout;
use dfu_core::{DfuIo, DfuProtocol};
use visreg_firmware::board::Board;
use visreg_firmware::dfu::{openmv_dfu_descriptor, State, BLOCK, ST_ROM_TRANSFER};
use visreg_firmware::image::sim::{bootloader_valid, installed_build, sim_bootloader_image};
use visreg_firmware::image::{partitions, Partition};

/// How the virtual bootloader spends time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DfuTiming {
    /// USB throughput for control transfers, bytes/s (`None` = instantaneous).
    pub usb_bytes_per_s: Option<f64>,
    /// Time to program one 4096-byte block (reported as bwPollTimeout).
    pub program_block_ms: u32,
    /// Time to manifest (reported as bwPollTimeout).
    pub manifest_ms: u32,
}

impl DfuTiming {
    /// Instant: for unit tests.
    pub fn instant() -> Self {
        DfuTiming {
            usb_bytes_per_s: None,
            program_block_ms: 0,
            manifest_ms: 0,
        }
    }

    /// Served on a real USB stack: the kernel's link carries the bytes (no modelled
    /// transfer time), flash programming as [`DfuTiming::realistic`].
    pub fn over_real_usb() -> Self {
        DfuTiming {
            usb_bytes_per_s: None,
            ..Self::realistic()
        }
    }

    /// Of the order of an STM32H7 on USB full speed: ~1 MB/s of control transfers, a few
    /// milliseconds to program a block.
    pub fn realistic() -> Self {
        DfuTiming {
            usb_bytes_per_s: Some(1.0e6),
            program_block_ms: 3,
            manifest_ms: 20,
        }
    }
}

/// Time accounting of a session.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DfuStats {
    /// Bytes downloaded.
    pub bytes: u64,
    /// Blocks programmed.
    pub blocks: u32,
    /// Time spent moving bytes over USB.
    pub transfer: Duration,
    /// Time the host was told to wait (poll timeouts).
    pub waiting: Duration,
}

/// What the virtual camera is running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Its OpenMV DFU bootloader.
    Bootloader,
    /// The firmware build installed in FIRMWARE.
    Firmware(String),
    /// Unpowered (after a power loss, until power returns).
    Off,
    /// ST's ROM system DFU (BOOT0 jumpered at power-on).
    StRom,
    /// No USB identity at all: the bootloader is gone and BOOT0 is not set.
    Dead,
}

/// The virtual camera's flash and bootloader.
pub struct VirtualBootloader {
    board: Board,
    parts: Vec<(Partition, Vec<u8>)>,
    alt: u8,
    state: State,
    status: u8,
    pending_block: Option<(u16, Vec<u8>)>,
    timing: DfuTiming,
    /// Time accounting.
    pub stats: DfuStats,
    power_loss_after_blocks: Option<u32>,
    mode: Mode,
    /// The BOOT0 jumper: at power-on the MCU starts ST's ROM bootloader.
    pub boot0: bool,
    rom_address: u32,
}

impl VirtualBootloader {
    /// A camera of `board` in its bootloader: its bootloader installed, the rest erased.
    pub fn new(board: Board, timing: DfuTiming) -> Self {
        VirtualBootloader {
            board,
            // Factory state: the board's bootloader installed, everything else erased.
            parts: partitions(board)
                .into_iter()
                .map(|p| {
                    let contents = if p.name == "BOOTLOADER" {
                        sim_bootloader_image(board)
                    } else {
                        Vec::new()
                    };
                    (p, contents)
                })
                .collect(),
            alt: 0,
            state: State::Idle,
            status: 0,
            pending_block: None,
            timing,
            stats: DfuStats::default(),
            power_loss_after_blocks: None,
            mode: Mode::Bootloader,
            boot0: false,
            rom_address: 0x0800_0000,
        }
    }

    /// Power fails after `n` more programmed blocks (the flash keeps what was written).
    pub fn power_loss_after(&mut self, n: u32) {
        self.power_loss_after_blocks = Some(self.stats.blocks + n);
    }

    /// The board.
    pub fn board(&self) -> Board {
        self.board
    }

    /// What it runs.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// The contents of partition `name`.
    pub fn partition(&self, name: &str) -> Option<&[u8]> {
        self.parts
            .iter()
            .find(|(p, _)| p.name == name)
            .map(|(_, d)| d.as_slice())
    }

    /// Installs an image directly (the factory state of a camera).
    pub fn preload(&mut self, name: &str, data: &[u8]) {
        if let Some((_, d)) = self.parts.iter_mut().find(|(p, _)| p.name == name) {
            *d = data.to_vec();
        }
    }

    /// Power-on or reset: boots the installed firmware if FIRMWARE holds a valid image,
    /// else stays in the bootloader (as a camera whose flash was interrupted does).
    pub fn reset(&mut self) {
        self.state = State::Idle;
        self.status = 0;
        self.pending_block = None;
        self.power_loss_after_blocks = None;
        let bootloader_ok = self.partition("BOOTLOADER").is_some_and(bootloader_valid);
        self.mode = if self.boot0 {
            Mode::StRom
        } else if !bootloader_ok {
            Mode::Dead
        } else {
            match self.partition("FIRMWARE").and_then(installed_build) {
                Some(b) => Mode::Firmware(b),
                None => Mode::Bootloader,
            }
        };
    }

    /// Writes `data` at absolute `address` of the internal flash (ST's ROM writes by
    /// address, not by partition).
    fn write_at(&mut self, address: u32, data: &[u8]) -> Result<(), u8> {
        let (part, contents) = self
            .parts
            .iter_mut()
            .find(|(p, _)| {
                address >= p.start
                    && u64::from(address) + data.len() as u64
                        <= u64::from(p.start) + u64::from(p.size)
            })
            .ok_or(8u8)?;
        let off = (address - part.start) as usize;
        if contents.len() < off + data.len() {
            contents.resize(off + data.len(), 0xFF);
        }
        contents[off..off + data.len()].copy_from_slice(data);
        Ok(())
    }

    /// Erases `len` bytes at absolute `address`.
    fn erase_at(&mut self, address: u32, len: u32) {
        for (p, contents) in &mut self.parts {
            let (a, b) = (address.max(p.start), (address + len).min(p.start + p.size));
            if a < b {
                let (from, to) = ((a - p.start) as usize, (b - p.start) as usize);
                if from < contents.len() {
                    let end = to.min(contents.len());
                    contents[from..end].fill(0xFF);
                }
            }
        }
    }

    /// ST's ROM system DFU (DfuSe): control transfers while in [`Mode::StRom`]. Block 0
    /// carries commands (0x21 set address, 0x41 erase page); blocks n ≥ 2 write at the
    /// address pointer + (n − 2) × 2048. A zero-length DNLOAD leaves DFU: the ROM jumps to
    /// the new bootloader without answering the last GETSTATUS.
    pub fn rom_control_out(
        &mut self,
        request: u8,
        value: u16,
        data: &[u8],
    ) -> Result<usize, DfuSimError> {
        match request {
            1 if data.is_empty() => {
                self.state = State::ManifestSync;
                Ok(0)
            }
            1 if value == 0 => {
                match (data.first(), data.len()) {
                    (Some(0x21), 5) => {
                        self.rom_address = u32::from_le_bytes([data[1], data[2], data[3], data[4]])
                    }
                    (Some(0x41), 5) => {
                        let a = u32::from_le_bytes([data[1], data[2], data[3], data[4]]);
                        self.erase_at(a, 128 * 1024); // the H7's sectors are 128 KiB
                    }
                    (Some(0x41), 1) => {
                        for (_, c) in &mut self.parts {
                            c.clear();
                        }
                    }
                    _ => {
                        self.fail(14);
                        return Err(DfuSimError::Stall("unknown DfuSe command"));
                    }
                }
                self.state = State::DnloadSync;
                Ok(data.len())
            }
            1 => {
                self.usb_time(data.len());
                let addr = self.rom_address + u32::from(value - 2) * ST_ROM_TRANSFER as u32;
                if let Err(code) = self.write_at(addr, data) {
                    self.fail(code);
                } else {
                    self.stats.blocks += 1;
                    self.stats.bytes += data.len() as u64;
                    self.state = State::DnloadSync;
                }
                Ok(data.len())
            }
            4 | 6 => {
                self.status = 0;
                self.state = State::Idle;
                Ok(0)
            }
            _ => Err(DfuSimError::Stall("unsupported request")),
        }
    }

    /// ST's ROM: control transfers to the host.
    pub fn rom_control_in(&mut self, request: u8, buf: &mut [u8]) -> Result<usize, DfuSimError> {
        match request {
            3 => {
                let mut poll = 0u32;
                match self.state {
                    State::DnloadSync => {
                        self.state = State::DnBusy;
                        poll = self.timing.program_block_ms;
                    }
                    State::DnBusy => self.state = State::DnloadIdle,
                    State::ManifestSync => {
                        // The ROM leaves DFU and starts the new bootloader: no answer. The
                        // user removes the BOOT0 jumper as `visreg recover` asks.
                        self.boot0 = false;
                        self.reset();
                        return Err(DfuSimError::Gone);
                    }
                    _ => {}
                }
                self.stats.waiting += Duration::from_millis(u64::from(poll));
                let p = poll.to_le_bytes();
                let s = [self.status, p[0], p[1], p[2], self.state as u8, 0];
                let n = buf.len().min(6);
                buf[..n].copy_from_slice(&s[..n]);
                Ok(n)
            }
            5 => {
                if let Some(b) = buf.first_mut() {
                    *b = self.state as u8;
                }
                Ok(buf.len().min(1))
            }
            _ => Err(DfuSimError::Stall("unsupported request")),
        }
    }

    /// Enters the bootloader (SYS_BOOT from firmware, or held at power-on).
    pub fn enter_bootloader(&mut self) {
        self.state = State::Idle;
        self.mode = Mode::Bootloader;
    }

    fn usb_time(&mut self, bytes: usize) {
        if let Some(rate) = self.timing.usb_bytes_per_s {
            let d = Duration::from_secs_f64(bytes as f64 / rate);
            std::thread::sleep(d);
            self.stats.transfer += d;
        }
    }

    fn fail(&mut self, status: u8) {
        self.status = status;
        self.state = State::Error;
    }

    fn on_dnload(&mut self, block: u16, data: &[u8]) -> Result<(), DfuSimError> {
        self.usb_time(data.len());
        match self.state {
            State::Idle | State::DnloadIdle => {}
            _ => {
                self.fail(14);
                return Err(DfuSimError::Stall("DNLOAD in the wrong state"));
            }
        }
        if data.is_empty() {
            self.state = State::ManifestSync;
        } else {
            self.pending_block = Some((block, data.to_vec()));
            self.state = State::DnloadSync;
        }
        Ok(())
    }

    fn program(&mut self) -> Result<(), u8> {
        let Some((block, data)) = self.pending_block.take() else {
            return Ok(());
        };
        let alt = self.alt;
        let (part, contents) = self
            .parts
            .iter_mut()
            .find(|(p, _)| p.alt == alt)
            .ok_or(8u8)?;
        if !part.writable {
            return Err(3); // errWRITE
        }
        let offset = usize::from(block) * BLOCK;
        if offset + data.len() > part.size as usize {
            return Err(8); // errADDRESS
        }
        if contents.len() < offset + data.len() {
            contents.resize(offset + data.len(), 0xFF);
        }
        contents[offset..offset + data.len()].copy_from_slice(&data);
        self.stats.blocks += 1;
        self.stats.bytes += data.len() as u64;
        Ok(())
    }

    fn on_getstatus(&mut self) -> Result<[u8; 6], DfuSimError> {
        self.usb_time(6);
        let mut poll = 0u32;
        match self.state {
            State::DnloadSync => {
                if let Err(code) = self.program() {
                    self.fail(code);
                } else {
                    self.state = State::DnBusy;
                    poll = self.timing.program_block_ms;
                }
                if let Some(limit) = self.power_loss_after_blocks {
                    if self.stats.blocks >= limit {
                        self.mode = Mode::Off;
                        return Err(DfuSimError::PowerLoss);
                    }
                }
            }
            State::DnBusy => self.state = State::DnloadIdle,
            State::ManifestSync => {
                self.state = State::Manifest;
                poll = self.timing.manifest_ms;
            }
            // Manifestation tolerant: back to idle for the next partition.
            State::Manifest => self.state = State::Idle,
            _ => {}
        }
        self.stats.waiting += Duration::from_millis(u64::from(poll));
        let p = poll.to_le_bytes();
        Ok([self.status, p[0], p[1], p[2], self.state as u8, 0])
    }

    /// A control transfer from the host (class requests of the DFU interface).
    pub fn control_out(
        &mut self,
        request: u8,
        value: u16,
        data: &[u8],
    ) -> Result<usize, DfuSimError> {
        if self.mode == Mode::Off {
            return Err(DfuSimError::Gone);
        }
        if self.mode != Mode::Bootloader {
            return Err(DfuSimError::Gone);
        }
        match request {
            0 => Ok(0), // DETACH: nothing to do in DFU mode
            1 => self.on_dnload(value, data).map(|_| data.len()),
            4 => {
                self.status = 0;
                self.state = State::Idle;
                Ok(0)
            }
            6 => {
                self.state = State::Idle;
                self.pending_block = None;
                Ok(0)
            }
            _ => Err(DfuSimError::Stall("unsupported request")),
        }
    }

    /// A control transfer to the host.
    pub fn control_in(
        &mut self,
        request: u8,
        value: u16,
        buf: &mut [u8],
    ) -> Result<usize, DfuSimError> {
        if self.mode != Mode::Bootloader {
            return Err(DfuSimError::Gone);
        }
        match request {
            3 => {
                let s = self.on_getstatus()?;
                let n = buf.len().min(6);
                buf[..n].copy_from_slice(&s[..n]);
                Ok(n)
            }
            5 => {
                if let Some(b) = buf.first_mut() {
                    *b = self.state as u8;
                }
                Ok(buf.len().min(1))
            }
            2 => {
                // UPLOAD block `value` of the current partition.
                let alt = self.alt;
                let contents = self
                    .parts
                    .iter()
                    .find(|(p, _)| p.alt == alt)
                    .map(|(_, d)| d.clone())
                    .unwrap_or_default();
                let off = usize::from(value) * BLOCK;
                let n = buf.len().min(contents.len().saturating_sub(off));
                buf[..n].copy_from_slice(&contents[off..off + n]);
                self.usb_time(n);
                self.state = if n < buf.len() {
                    State::Idle
                } else {
                    State::UploadIdle
                };
                Ok(n)
            }
            _ => Err(DfuSimError::Stall("unsupported request")),
        }
    }

    /// Selects the alternate setting (partition).
    pub fn set_alt(&mut self, alt: u8) -> Result<(), DfuSimError> {
        if self.mode != Mode::Bootloader {
            return Err(DfuSimError::Gone);
        }
        if !self.parts.iter().any(|(p, _)| p.alt == alt) {
            return Err(DfuSimError::Stall("no such alternate setting"));
        }
        self.alt = alt;
        self.state = State::Idle;
        Ok(())
    }
}

/// Errors of the virtual DFU device, as a USB host would see them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DfuSimError {
    /// The endpoint stalled the request.
    #[error("the device stalled the request ({0})")]
    Stall(&'static str),
    /// Power was lost mid-flash.
    #[error("the device vanished from the bus (power lost mid-flash)")]
    PowerLoss,
    /// The device is not in DFU mode (or not powered).
    #[error("no DFU device: the camera is not in its bootloader")]
    Gone,
}

/// Errors the DFU flasher surfaces through `dfu-core`.
#[derive(Debug, thiserror::Error)]
pub enum DfuIoError {
    /// A DFU protocol error from `dfu-core`.
    #[error("DFU protocol: {0}")]
    Dfu(#[from] dfu_core::Error),
    /// An I/O error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The virtual device failed the transfer.
    #[error(transparent)]
    Device(#[from] DfuSimError),
    /// The whole flash ran past its deadline.
    #[error("the flash did not finish before its deadline")]
    Deadline,
}

/// `dfu-core`'s I/O over the virtual bootloader, for one alternate setting.
pub struct VirtualDfuIo {
    dev: Arc<Mutex<VirtualBootloader>>,
    descriptor: FunctionalDescriptor,
    protocol: DfuProtocol<MemoryLayout>,
    deadline: std::time::Instant,
}

impl VirtualDfuIo {
    /// I/O for alternate setting `alt` of `dev`, failing every call after `deadline`.
    pub fn new(
        dev: Arc<Mutex<VirtualBootloader>>,
        alt: u8,
        deadline: std::time::Instant,
    ) -> Result<Self, DfuIoError> {
        dev.lock().unwrap_or_else(|p| p.into_inner()).set_alt(alt)?;
        Ok(VirtualDfuIo {
            dev,
            descriptor: openmv_dfu_descriptor(),
            protocol: DfuProtocol::Dfu,
            deadline,
        })
    }

    fn check_deadline(&self) -> Result<(), DfuIoError> {
        if std::time::Instant::now() > self.deadline {
            Err(DfuIoError::Deadline)
        } else {
            Ok(())
        }
    }
}

impl DfuIo for VirtualDfuIo {
    type Read = usize;
    type Write = usize;
    type Reset = ();
    type Error = DfuIoError;
    type MemoryLayout = MemoryLayout;

    fn read_control(
        &self,
        _request_type: u8,
        request: u8,
        value: u16,
        buffer: &mut [u8],
    ) -> Result<usize, DfuIoError> {
        self.check_deadline()?;
        Ok(self
            .dev
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .control_in(request, value, buffer)?)
    }

    fn write_control(
        &self,
        _request_type: u8,
        request: u8,
        value: u16,
        buffer: &[u8],
    ) -> Result<usize, DfuIoError> {
        self.check_deadline()?;
        Ok(self
            .dev
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .control_out(request, value, buffer)?)
    }

    fn usb_reset(self) -> Result<(), DfuIoError> {
        self.dev.lock().unwrap_or_else(|p| p.into_inner()).reset();
        Ok(())
    }

    fn protocol(&self) -> &DfuProtocol<MemoryLayout> {
        &self.protocol
    }

    fn functional_descriptor(&self) -> &FunctionalDescriptor {
        &self.descriptor
    }
}
