//! A whole virtual camera as one process serves it: its flash and DFU bootloader, and the
//! firmware build installed there. While firmware runs it speaks that build's protocol
//! (v1 or v2); SYS_BOOT (v2) or SYS_RESET_TO_BL (v1) sends it into its bootloader, which
//! answers USB control transfers through the virtual-USB tunnel
//! ([`visreg_firmware::protocol::vusb`]); a DFU reset boots whatever FIRMWARE now holds — or stays in
//! the bootloader when it holds no valid image, as after a power loss mid-flash.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use visreg_datasets::Dataset;

use visreg_firmware::board::OPENMV_VID;
use visreg_firmware::catalog::{Catalog, Defect, Flasher, Protocol, SIM_IMAGE_PAYLOAD};
use visreg_firmware::image::sim::{sim_bootloader_image, sim_image};
use visreg_firmware::protocol::vusb::{self, kind, status, Reply};

use crate::bootloader::{DfuSimError, DfuTiming, Mode, VirtualBootloader};
use crate::cdc_bootloader::{CdcBootloader, CdcControl};
use crate::device::{SimError, VirtualCamera, VirtualSensor};
use crate::faults::FaultSpec;
use crate::link::{LinkModel, PacedTransport};
use crate::serve::{serve_with, Flow, ServeEnd};
use crate::v1::{Framing, V1Device};
use crate::v2::{Control, V2Device};
use visreg_firmware::transport::{Transport, TransportError};

/// The unique id of a virtual camera's chip: a fixed STM32 lot and wafer word, the rest
/// from `seed`, so two virtual cameras with different seeds are two chips.
pub fn unit_uid(seed: u64) -> [u32; 3] {
    let h = seed
        .to_le_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
        });
    [0x0033_0042, (h >> 32) as u32 & 0x00FF_FFFF, h as u32]
}

/// How long a power loss lasts before the (simulated) user plugs the camera in again.
pub const POWER_OFF: Duration = Duration::from_secs(1);

/// A virtual camera with flash, bootloader and firmware.
pub struct VirtualUnit {
    /// Flash and bootloader.
    pub flash: Arc<Mutex<VirtualBootloader>>,
    catalog: Catalog,
    dataset: Option<Dataset>,
    run_seed: u64,
    uid: [u32; 3],
    // Each boot draws fresh latency noise, as a real camera's timing varies boot to boot.
    boots: std::sync::atomic::AtomicU64,
    link: Option<LinkModel>,
    // The library's detections, kept across boots: every build sees the same frames.
    detections: crate::engine::DetectionCache,
}

enum Running {
    Firmware {
        cam: Box<VirtualCamera>,
        protocol: Protocol,
        v2: V2Device,
        v1: V1Device,
    },
    Bootloader {
        buf: Vec<u8>,
        /// The last request (with its tag) and the reply sent: the same request again
        /// with the same tag (its reply was lost) is answered again, not executed twice —
        /// what USB's data toggle does for a real bootloader.
        last: Option<(u8, vusb::Request, Vec<u8>)>,
    },
    CdcBootloader {
        state: CdcBootloader,
    },
    Off {
        since: Instant,
    },
}

impl VirtualUnit {
    /// A camera with `build` installed (the factory state), seeing `dataset`.
    pub fn new(
        catalog: Catalog,
        build: &str,
        dataset: Option<Dataset>,
        timing: DfuTiming,
        run_seed: u64,
    ) -> Result<Self, SimError> {
        let b = catalog.build(build)?.clone();
        let mut flash = VirtualBootloader::new(b.board, timing);
        flash.preload("BOOTLOADER", &sim_bootloader_image(b.board));
        flash.preload("FIRMWARE", &sim_image(&b, SIM_IMAGE_PAYLOAD));
        flash.reset();
        Ok(VirtualUnit {
            flash: Arc::new(Mutex::new(flash)),
            catalog,
            dataset,
            run_seed,
            uid: unit_uid(run_seed),
            boots: std::sync::atomic::AtomicU64::new(0),
            link: None,
            detections: crate::engine::DetectionCache::new(),
        })
    }

    /// `--link real`: bytes cost the bus time of `link` and replayed frames keep the
    /// detector busy for their modelled time ([`crate::link`]); `None` (the default) is as
    /// fast as the transport.
    pub fn set_link(&mut self, link: Option<LinkModel>) {
        self.link = link;
    }

    /// The unique id of the camera's chip (it does not change with the firmware).
    pub fn uid(&self) -> [u32; 3] {
        self.uid
    }

    /// (hits, misses) of the detection cache its firmware boots share.
    pub fn detection_cache_stats(&self) -> (u64, u64) {
        self.detections.stats()
    }

    /// The catalog the camera's firmware comes from.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The firmware `name` booting: the camera running it, and its protocol; `None` when
    /// it does not boot (unknown to the catalog, or planted to fault at start-up).
    pub fn boot_camera(&self, name: &str) -> Option<(VirtualCamera, Protocol)> {
        if self.fails_to_boot(name) {
            return None;
        }
        let b = self.catalog.build(name).ok()?;
        let seed = self.run_seed.wrapping_mul(1_000_003).wrapping_add(
            self.boots
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        );
        let mut cam = VirtualCamera::new(
            b.clone(),
            self.dataset.clone().map(VirtualSensor::new),
            seed,
        )
        .ok()?;
        cam.set_uid(self.uid);
        cam.set_realtime(self.link.is_some());
        cam.set_detection_cache(self.detections.clone());
        Some((cam, b.protocol))
    }

    /// Whether build `name` carries the planted defect that keeps it from booting.
    fn fails_to_boot(&self, name: &str) -> bool {
        self.catalog.build(name).is_ok_and(|b| {
            b.sim
                .as_ref()
                .is_some_and(|s| s.defects.contains(&Defect::BootFail))
        })
    }

    /// Bricks the camera: its bootloader and firmware erased (as a power loss while the
    /// bootloader itself was being written leaves it) and the BOOT0 jumper set, so it
    /// starts ST's ROM DFU — the state `visreg recover` starts from.
    pub fn brick(&self) {
        let mut f = self.flash.lock().unwrap_or_else(|p| p.into_inner());
        f.preload("BOOTLOADER", &[]);
        f.preload("FIRMWARE", &[]);
        f.boot0 = true;
        f.reset();
    }

    /// Boots what the flash holds; `keeps_writes`: whether the link shows the host's
    /// writes as they were sent (see [`Framing::for_build`]).
    fn boot(&self, keeps_writes: bool) -> Running {
        let mode = self
            .flash
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .mode()
            .clone();
        match mode {
            Mode::Firmware(name) => match self.boot_camera(&name) {
                Some((cam, protocol)) => {
                    tracing::info!("booted firmware {name}");
                    let v1 = V1Device::new(Framing::for_build(cam.build(), keeps_writes));
                    Running::Firmware {
                        cam: Box::new(cam),
                        protocol,
                        v2: V2Device::new(),
                        v1,
                    }
                }
                None => {
                    tracing::warn!("FIRMWARE holds build {name}, which does not boot (unknown to the catalog, or planted to fault at start-up): staying in the bootloader");
                    self.flash
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .enter_bootloader();
                    Running::Bootloader {
                        buf: Vec::new(),
                        last: None,
                    }
                }
            },
            Mode::Bootloader | Mode::StRom => Running::Bootloader {
                buf: Vec::new(),
                last: None,
            },
            // Nothing answers at all; a power cycle with BOOT0 set is the way out.
            Mode::Dead => Running::Off {
                since: Instant::now(),
            },
            Mode::Off => Running::Off {
                since: Instant::now(),
            },
        }
    }

    fn tunnel(&self, req: vusb::Request) -> Reply {
        let mut dev = self.flash.lock().unwrap_or_else(|p| p.into_inner());
        let rom = dev.mode() == &Mode::StRom;
        let result: Result<Vec<u8>, DfuSimError> = match req.kind {
            kind::CONTROL_OUT if rom => dev
                .rom_control_out(req.request, req.value, &req.data)
                .map(|_| Vec::new()),
            kind::CONTROL_OUT => dev
                .control_out(req.request, req.value, &req.data)
                .map(|_| Vec::new()),
            kind::CONTROL_IN => {
                let mut buf = vec![0u8; usize::from(req.length)];
                let n = if rom {
                    dev.rom_control_in(req.request, &mut buf)
                } else {
                    dev.control_in(req.request, req.value, &mut buf)
                };
                n.map(|n| buf[..n].to_vec())
            }
            kind::SET_ALT if rom => Ok(Vec::new()),
            kind::SET_ALT => dev.set_alt(req.value as u8).map(|_| Vec::new()),
            kind::RESET => {
                dev.reset();
                Ok(Vec::new())
            }
            kind::IDENTIFY => {
                let (vid, pid) = if rom {
                    visreg_firmware::image::ST_ROM_DFU
                } else {
                    (OPENMV_VID, dev.board().firmware_pid() + 0x8000)
                };
                let mut d = vid.to_le_bytes().to_vec();
                d.extend_from_slice(&pid.to_le_bytes());
                Ok(d)
            }
            _ => Err(DfuSimError::Stall("unknown tunnel request")),
        };
        match result {
            Ok(data) => Reply {
                tag: 0,
                status: status::OK,
                data,
            },
            Err(DfuSimError::Stall(_)) => Reply {
                tag: 0,
                status: status::STALL,
                data: Vec::new(),
            },
            Err(_) => Reply {
                tag: 0,
                status: status::GONE,
                data: Vec::new(),
            },
        }
    }

    /// Serves the camera on `t` until `stop` is set or the transport fails.
    pub fn serve(
        &self,
        t: &mut dyn Transport,
        faults: &FaultSpec,
        stop: &AtomicBool,
    ) -> Result<ServeEnd, TransportError> {
        match self.link {
            Some(link) => self.serve_on(&mut PacedTransport::new(t, link), faults, stop),
            None => self.serve_on(t, faults, stop),
        }
    }

    fn serve_on(
        &self,
        t: &mut dyn Transport,
        faults: &FaultSpec,
        stop: &AtomicBool,
    ) -> Result<ServeEnd, TransportError> {
        let keeps_writes = t.keeps_writes();
        let mut running = self.boot(keeps_writes);
        let mut power_loss = faults.power_loss_after_blocks;
        serve_with(t, faults, stop, &mut |input, out| {
            let mut next: Option<Running> = None;
            match &mut running {
                Running::Firmware {
                    cam,
                    protocol,
                    v2,
                    v1,
                } => {
                    if let Some(data) = input {
                        let control = match protocol {
                            Protocol::V2 => v2.on_bytes(cam, data, out),
                            Protocol::V1 => v1.on_bytes(cam, data, out),
                        };
                        match control {
                            Control::Boot => {
                                tracing::info!("entering the bootloader");
                                let mut flash =
                                    self.flash.lock().unwrap_or_else(|p| p.into_inner());
                                flash.enter_bootloader();
                                if let Some(n) = power_loss.take() {
                                    flash.power_loss_after(n);
                                }
                                drop(flash);
                                // A 4.x camera has the legacy CDC bootloader, a 5.x one the DFU bootloader.
                                next = Some(if cam.build().flasher() == Flasher::CdcBootloader {
                                    Running::CdcBootloader {
                                        state: CdcBootloader::new(),
                                    }
                                } else {
                                    Running::Bootloader {
                                        buf: Vec::new(),
                                        last: None,
                                    }
                                });
                            }
                            Control::Reset => next = Some(self.boot(keeps_writes)),
                            Control::Continue => {}
                        }
                    } else if *protocol == Protocol::V1 && v1.has_partial() {
                        v1.idle_reset();
                    }
                    if next.is_none() {
                        match protocol {
                            Protocol::V2 => v2.on_idle(cam, out),
                            Protocol::V1 => v1.on_idle(cam),
                        }
                    }
                }
                Running::Bootloader { buf, last } => {
                    if let Some(data) = input {
                        buf.extend_from_slice(data);
                    }
                    while let Some((tag, req)) = vusb::take_request(buf) {
                        if let Some((t, _, reply)) =
                            last.as_ref().filter(|(t, r, _)| *t == tag && *r == req)
                        {
                            tracing::debug!("request {t} again: its reply was lost; sent again");
                            out.extend_from_slice(reply);
                            continue;
                        }
                        let is_reset = req.kind == kind::RESET;
                        let reply = Reply {
                            tag,
                            ..self.tunnel(req.clone())
                        }
                        .encode();
                        out.extend_from_slice(&reply);
                        *last = Some((tag, req, reply));
                        let mode = self
                            .flash
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .mode()
                            .clone();
                        if mode == Mode::Off {
                            tracing::warn!("power lost mid-flash");
                            next = Some(Running::Off {
                                since: Instant::now(),
                            });
                            break;
                        }
                        if is_reset {
                            next = Some(self.boot(keeps_writes));
                            break;
                        }
                    }
                }
                Running::CdcBootloader { state } => {
                    if let Some(data) = input {
                        let mut flash = self.flash.lock().unwrap_or_else(|p| p.into_inner());
                        if state.on_bytes(&mut flash, data, out) == CdcControl::Boot {
                            flash.reset();
                            drop(flash);
                            next = Some(self.boot(keeps_writes));
                        }
                    }
                }
                Running::Off { since } => {
                    // Nothing answers while unpowered; then the user plugs it in again.
                    if since.elapsed() >= POWER_OFF {
                        self.flash.lock().unwrap_or_else(|p| p.into_inner()).reset();
                        next = Some(self.boot(keeps_writes));
                    }
                }
            }
            if let Some(n) = next {
                running = n;
            }
            Flow::Continue
        })
    }
}
