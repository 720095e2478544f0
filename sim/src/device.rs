//! The virtual camera's state, independent of the wire protocol: identity, channels
//! (stdin, stdout, stream, and the `visreg` channel a workload script registers), the
//! script it runs, its virtual sensor, and the events it raises. The protocol endpoints
//! (v1, v2) translate packets into calls on [`VirtualCamera`].
//!
//! Scripts: the suite's own workload scripts (`firmware/scripts/`, recognised by their
//! `# visreg-workload: NAME 1` marker) run natively, with the configuration the host
//! wrote into their `CONFIG = json.loads('…')` line; scripts made only of `print("…")`
//! lines, comments and imports print their text; anything else gets a MicroPython-style
//! traceback on stdout, as a camera without the needed module would.

use std::collections::VecDeque;
use std::path::PathBuf;

use base64::Engine as _;
use image::ImageEncoder;
use visreg_apriltag::{Family, GrayImage};
use visreg_datasets::{Dataset, Intrinsics};

use visreg_firmware::board::Board;
use visreg_firmware::catalog::{Build, Protocol, SimBehaviour};
use visreg_firmware::workload::{
    encode_bundle, parse_workload, FrameHeader, WorkloadConfig, FB_HEADER, FRAME_LINE, PIXFMT_GRAY,
    PIXFMT_JPEG, VRF_HEADER,
};

use crate::engine::{DetectionCache, Engine, FindResult};

/// Channel flag bits (PROTOCOL.md §1).
pub mod flags {
    /// Readable.
    pub const READ: u8 = 0x01;
    /// Writable.
    pub const WRITE: u8 = 0x02;
    /// Executes scripts.
    pub const EXEC: u8 = 0x04;
    /// Lockable.
    pub const LOCK: u8 = 0x08;
    /// A frame stream.
    pub const STREAM: u8 = 0x10;
    /// Registered by a script.
    pub const DYNAMIC: u8 = 0x20;
    /// The transport itself.
    pub const PHYSICAL: u8 = 0x40;
}

/// Fixed channel ids.
pub mod ids {
    /// Transport.
    pub const TRANSPORT: u8 = 0;
    /// Script input.
    pub const STDIN: u8 = 1;
    /// Script output.
    pub const STDOUT: u8 = 2;
    /// Frame stream.
    pub const STREAM: u8 = 3;
    /// The workload's channel, when a workload script runs: the first channel a script
    /// registers takes the first free slot (`omv_protocol_register_channel`,
    /// protocol/omv_protocol.c v5.0.0), 4 after transport, stdin, stdout and stream on a
    /// build without the profiler (5 on a profiler build, which registers `profile` as 4).
    pub const VISREG: u8 = 4;
}

/// The stdout ring's size on the camera (`OMV_PROTOCOL_STDIO_BUFFER_SIZE`,
/// protocol/omv_protocol_channel_stdio.c v5.0.0). MicroPython's `ringbuf_t` keeps one slot
/// empty, so it holds at most 1023 bytes (`ringbuf_free`, py/ringbuf.h).
pub const STDOUT_RING: usize = 1024;
/// How much printed text the camera holds for a v1 host (see `print`).
pub const V1_STDOUT_BOUND: usize = 4 << 20;

/// Why a channel operation failed; maps onto protocol status codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelError {
    /// No such channel, or it cannot do that.
    Invalid,
    /// Locked or not ready.
    Busy,
    /// Out of range.
    Overflow,
    /// The operation failed.
    Failed,
}

/// A channel as CHANNEL_LIST reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelInfo {
    /// Id.
    pub id: u8,
    /// Flag bits.
    pub flags: u8,
    /// Name.
    pub name: &'static str,
}

/// An event the camera raises: on channel 0 a system event (0 channel registered,
/// 1 unregistered, 2 soft reboot); on other channels a channel event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceEvent {
    /// Channel.
    pub channel: u8,
    /// Event code; `None` = a bare notification.
    pub code: Option<u16>,
}

/// Frames the virtual sensor shows, from a dataset.
pub struct VirtualSensor {
    dataset: Dataset,
    next: usize,
}

impl VirtualSensor {
    /// A sensor showing `dataset`'s frames in order, looping.
    pub fn new(dataset: Dataset) -> Self {
        VirtualSensor { dataset, next: 0 }
    }

    /// The dataset shown.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// Captures the next frame: (dataset index, width, height, gray pixels).
    pub fn capture(&mut self) -> Result<(usize, u32, u32, Vec<u8>), FrameError> {
        if self.dataset.frames.is_empty() {
            return Err(FrameError::NoFrames);
        }
        let i = self.next % self.dataset.frames.len();
        self.next += 1;
        let f = self.dataset.load_frame(i).map_err(FrameError::Load)?;
        Ok((i, f.width, f.height, f.pixels))
    }
}

enum Script {
    Idle,
    Replay {
        k: Intrinsics,
        engine: Engine,
        frame: Vec<u8>,
        result: Vec<u8>,
        /// Bytes of the current frame received (the frame itself is dropped once
        /// processed): a chunk re-sent after a lost reply is recognised by its end.
        received: usize,
    },
    Live {
        k: Intrinsics,
        engine: Engine,
        remaining: u32,
        captured: u32,
        bundle: Vec<u8>,
    },
}

/// The state of one virtual camera.
pub struct VirtualCamera {
    build: Build,
    behaviour: SimBehaviour,
    uid: [u32; 3],
    sensor: Option<VirtualSensor>,
    script_buf: Vec<u8>,
    stdout: VecDeque<u8>,
    stream_enabled: bool,
    stream_raw: bool,
    stream_raw_size: Option<(u32, u32)>,
    stream_locked: bool,
    framebuffer: Option<(u32, u32, Vec<u8>)>,
    stream_snapshot: Option<Vec<u8>>,
    script: Script,
    events: VecDeque<DeviceEvent>,
    run_seed: u64,
    /// `--link real`: a replayed frame keeps the detector busy for its modelled time.
    realtime: bool,
    /// While the detector is busy (realtime only): when it finishes, and the result line
    /// it will then make available.
    detecting: Option<(std::time::Instant, Vec<u8>)>,
    detections: DetectionCache,
}

/// Why a virtual camera (or the unit it belongs to) could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The build has no `[build.sim]` behaviour to run.
    #[error("build {0} is not a simulated build (no [build.sim] section)")]
    NotSimulated(String),
    /// The catalog has no such build.
    #[error(transparent)]
    Catalog(#[from] visreg_firmware::catalog::CatalogError),
    /// The virtual sensor's dataset could not be opened. Shown, not chained: the
    /// dataset's error already says its cause.
    #[error("{0}")]
    Dataset(visreg_datasets::DatasetError),
}

/// Why the camera has no frame to run `find_apriltags` on; the workload reports it as
/// its result line's error, as the firmware would raise it.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The virtual sensor shows an empty dataset.
    #[error("the virtual sensor's dataset has no frames")]
    NoFrames,
    /// A dataset frame would not load (shown, not chained: it says its own cause).
    #[error("{0}")]
    Load(visreg_datasets::DatasetError),
    /// A v1 replay script's CONFIG lacks the frame size.
    #[error("CONFIG has no {0}")]
    NoSize(&'static str),
    /// A v1 replay script without its embedded frame.
    #[error("the script has no FRAME = ubinascii.a2b_base64(b'…') line")]
    NoFrameLine,
    /// The embedded frame is not base64.
    #[error("FRAME is not base64: {0}")]
    Base64(base64::DecodeError),
    /// The embedded frame is not the size CONFIG says.
    #[error("FRAME has {got} bytes, not {width}x{height}")]
    Size {
        /// Bytes found.
        got: usize,
        /// CONFIG's width.
        width: u32,
        /// CONFIG's height.
        height: u32,
    },
}

impl VirtualCamera {
    /// A camera running `build` (which must be a simulated build), seeing `sensor`.
    /// `run_seed` varies the latency noise between runs.
    pub fn new(
        build: Build,
        sensor: Option<VirtualSensor>,
        run_seed: u64,
    ) -> Result<Self, SimError> {
        let behaviour = build
            .sim
            .clone()
            .ok_or_else(|| SimError::NotSimulated(build.name.clone()))?;
        let h = build.name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        Ok(VirtualCamera {
            uid: [0x0033_0042, (h >> 32) as u32 & 0x00FF_FFFF, h as u32],
            build,
            behaviour,
            sensor,
            script_buf: Vec::new(),
            stdout: VecDeque::new(),
            stream_enabled: false,
            stream_raw: false,
            stream_raw_size: None,
            stream_locked: false,
            framebuffer: None,
            stream_snapshot: None,
            script: Script::Idle,
            events: VecDeque::new(),
            run_seed,
            realtime: false,
            detecting: None,
            detections: DetectionCache::new(),
        })
    }

    /// Makes each replayed frame's `find_apriltags` take the time it reports (`--link
    /// real`, see [`crate::link`]); off, results are there as soon as the frame is.
    pub fn set_realtime(&mut self, on: bool) {
        self.realtime = on;
    }

    /// Whether the detector is still busy at `now`; once it is done, its result line
    /// becomes readable on the `visreg` channel.
    pub fn detecting(&mut self, now: std::time::Instant) -> bool {
        match &self.detecting {
            Some((until, _)) if *until > now => true,
            Some(_) => {
                let (_, line) = self.detecting.take().expect("checked");
                if let Script::Replay { result, .. } = &mut self.script {
                    *result = line;
                }
                self.events.push_back(DeviceEvent {
                    channel: ids::STREAM,
                    code: None,
                });
                false
            }
            None => false,
        }
    }

    /// The build it runs.
    pub fn build(&self) -> &Build {
        &self.build
    }

    /// The board.
    pub fn board(&self) -> Board {
        self.build.board
    }

    /// The unique id (three words), as SYS_INFO and ARCH_STR report it.
    pub fn uid(&self) -> [u32; 3] {
        self.uid
    }

    /// Gives the camera the unique id of its chip (the unit's, whatever build it runs).
    pub fn set_uid(&mut self, uid: [u32; 3]) {
        self.uid = uid;
    }

    /// Shares `cache` for the library's detections: a unit gives each firmware it boots
    /// its own, so a frame replayed to every build and repetition is detected once.
    pub fn set_detection_cache(&mut self, cache: DetectionCache) {
        self.detections = cache;
    }

    /// The USB serial number running firmware reports, derived from the unique id as
    /// MicroPython's USB stack derives it ([`visreg_firmware::serial`]).
    pub fn serial(&self) -> String {
        visreg_firmware::serial::stm32_runtime(self.uid)
    }

    /// Firmware version triple.
    pub fn version(&self) -> [u8; 3] {
        self.build.version_triple().unwrap_or([0, 0, 0])
    }

    /// The channels, as CHANNEL_LIST reports them.
    pub fn channels(&self) -> Vec<ChannelInfo> {
        let mut v = vec![
            ChannelInfo {
                id: ids::TRANSPORT,
                flags: flags::PHYSICAL,
                name: "transport",
            },
            ChannelInfo {
                id: ids::STDIN,
                flags: flags::WRITE | flags::EXEC,
                name: "stdin",
            },
            ChannelInfo {
                id: ids::STDOUT,
                flags: flags::READ,
                name: "stdout",
            },
            ChannelInfo {
                id: ids::STREAM,
                flags: flags::READ | flags::LOCK | flags::STREAM,
                name: "stream",
            },
        ];
        if !matches!(self.script, Script::Idle) {
            v.push(ChannelInfo {
                id: ids::VISREG,
                flags: flags::READ | flags::WRITE | flags::DYNAMIC,
                name: "visreg",
            });
        }
        v
    }

    fn has_channel(&self, id: u8) -> bool {
        self.channels().iter().any(|c| c.id == id)
    }

    /// Takes the events raised since the last call.
    pub fn take_events(&mut self) -> Vec<DeviceEvent> {
        self.events.drain(..).collect()
    }

    /// Bitmap of channels with data to read (CHANNEL_POLL).
    pub fn poll_bitmap(&self) -> u32 {
        let mut bits = 0;
        if !self.stdout.is_empty() {
            bits |= 1 << ids::STDOUT;
        }
        if self.stream_enabled && self.framebuffer.is_some() {
            bits |= 1 << ids::STREAM;
        }
        if self.size(ids::VISREG).unwrap_or(0) > 0 {
            bits |= 1 << ids::VISREG;
        }
        bits
    }

    /// Whether a script runs (v1 SCRIPT_RUNNING).
    pub fn script_running(&self) -> bool {
        !matches!(self.script, Script::Idle)
    }

    /// Bytes available on a channel (CHANNEL_SIZE).
    pub fn size(&self, ch: u8) -> Result<u32, ChannelError> {
        match ch {
            ids::STDOUT => Ok(self.stdout.len() as u32),
            ids::STREAM => Ok(self
                .stream_snapshot
                .as_ref()
                .map(|s| s.len() as u32)
                .unwrap_or(0)),
            ids::STDIN => Ok(self.script_buf.len() as u32),
            ids::VISREG => match &self.script {
                Script::Replay { result, .. } => Ok(result.len() as u32),
                Script::Live { bundle, .. } => Ok(bundle.len() as u32),
                Script::Idle => Err(ChannelError::Invalid),
            },
            _ => Err(ChannelError::Invalid),
        }
    }

    /// The shape of a channel's data (CHANNEL_SHAPE): its size as one dimension.
    pub fn shape(&self, ch: u8) -> Result<Vec<u32>, ChannelError> {
        Ok(vec![self.size(ch)?])
    }

    /// Reads `len` bytes at `offset` (CHANNEL_READ). Reading stdout consumes it. The
    /// replay result of the `visreg` channel stays until the next frame's first write, so
    /// a read whose reply was lost on the link is simply read again; reading the whole
    /// live bundle consumes it (the next capture starts).
    pub fn read(&mut self, ch: u8, offset: u32, len: u32) -> Result<Vec<u8>, ChannelError> {
        let (off, len) = (offset as usize, len as usize);
        match ch {
            ids::STDOUT => {
                let n = len.min(self.stdout.len());
                Ok(self.stdout.drain(..n).collect())
            }
            ids::STREAM => {
                let snap = self.stream_snapshot.as_ref().ok_or(ChannelError::Busy)?;
                slice(snap, off, len)
            }
            ids::VISREG => match &mut self.script {
                Script::Replay { result, .. } => slice(result, off, len),
                Script::Live { bundle, .. } => {
                    let out = slice(bundle, off, len)?;
                    if off + out.len() >= bundle.len() {
                        bundle.clear();
                        self.advance();
                    }
                    Ok(out)
                }
                Script::Idle => Err(ChannelError::Invalid),
            },
            _ => Err(ChannelError::Invalid),
        }
    }

    /// Writes `data` at `offset` (CHANNEL_WRITE).
    pub fn write(&mut self, ch: u8, offset: u32, data: &[u8]) -> Result<(), ChannelError> {
        let off = offset as usize;
        match ch {
            ids::STDIN => {
                if off == 0 {
                    self.script_buf.clear();
                }
                if off != self.script_buf.len() {
                    return Err(ChannelError::Overflow);
                }
                self.script_buf.extend_from_slice(data);
                Ok(())
            }
            ids::VISREG => {
                let Script::Replay {
                    frame,
                    result,
                    received,
                    ..
                } = &mut self.script
                else {
                    return Err(ChannelError::Invalid);
                };
                if off == 0 {
                    frame.clear();
                    result.clear();
                    *received = 0;
                    self.detecting = None;
                }
                // A chunk written again because its reply was lost: already here.
                if off + data.len() == *received && off != 0 {
                    return Ok(());
                }
                if off != frame.len() || off + data.len() > VRF_HEADER + 16 * 1024 * 1024 {
                    return Err(ChannelError::Overflow);
                }
                frame.extend_from_slice(data);
                *received = frame.len();
                self.replay_if_complete();
                Ok(())
            }
            _ => Err(ChannelError::Invalid),
        }
    }

    /// CHANNEL_LOCK.
    pub fn lock(&mut self, ch: u8) -> Result<(), ChannelError> {
        if ch != ids::STREAM {
            return Err(ChannelError::Invalid);
        }
        if self.stream_locked {
            return Err(ChannelError::Busy);
        }
        // The stream holds no frame until streaming is on and a script has made one.
        if !self.stream_enabled || self.framebuffer.is_none() {
            return Err(ChannelError::Busy);
        }
        self.stream_snapshot = Some(self.encode_stream());
        self.stream_locked = true;
        Ok(())
    }

    /// CHANNEL_UNLOCK.
    pub fn unlock(&mut self, ch: u8) -> Result<(), ChannelError> {
        if ch != ids::STREAM {
            return Err(ChannelError::Invalid);
        }
        self.stream_locked = false;
        self.stream_snapshot = None;
        Ok(())
    }

    /// CHANNEL_IOCTL.
    pub fn ioctl(&mut self, ch: u8, request: u32, args: &[u8]) -> Result<(), ChannelError> {
        let arg = |i: usize| -> Result<u32, ChannelError> {
            args.get(i * 4..i * 4 + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or(ChannelError::Invalid)
        };
        match (ch, request) {
            (ids::STDIN, 1) => {
                self.stop_script();
                Ok(())
            }
            (ids::STDIN, 2) => {
                let text = String::from_utf8_lossy(&self.script_buf).into_owned();
                self.exec(&text);
                Ok(())
            }
            (ids::STDIN, 3) => {
                self.script_buf.clear();
                Ok(())
            }
            (ids::STREAM, 0) => {
                self.stream_enabled = arg(0)? != 0;
                Ok(())
            }
            (ids::STREAM, 1) => {
                self.stream_raw = arg(0)? != 0;
                Ok(())
            }
            (ids::STREAM, 2) => {
                self.stream_raw_size = Some((arg(0)?, arg(1)?));
                Ok(())
            }
            (ids::STREAM, 3) => Ok(()),
            _ if self.has_channel(ch) => Err(ChannelError::Invalid),
            _ => Err(ChannelError::Invalid),
        }
    }

    /// Releases every lock (a protocol resync does, as the firmware does).
    pub fn release_locks(&mut self) {
        self.stream_locked = false;
        self.stream_snapshot = None;
    }

    /// Stops the running script, if any.
    pub fn stop(&mut self) {
        self.stop_script();
    }

    /// Soft reset (protocol resync or SYS_RESET): stops the script, clears buffers.
    pub fn soft_reset(&mut self) {
        self.stop_script();
        self.stdout.clear();
        self.stream_locked = false;
        self.stream_snapshot = None;
    }

    /// The current framebuffer, for v1's FRAME_SIZE / FRAME_DUMP: (w, h, encoded bytes,
    /// size field). Raw gray frames report bpp 1 as their size field, JPEG its length.
    pub fn framebuffer_v1(&self) -> Option<(u32, u32, Vec<u8>, u32)> {
        let (w, h, px) = self.framebuffer.as_ref()?;
        Some((*w, *h, px.clone(), 1))
    }

    /// Text waiting on stdout, consumed (v1 TX_BUF).
    pub fn take_stdout(&mut self, max: usize) -> Vec<u8> {
        let n = max.min(self.stdout.len());
        self.stdout.drain(..n).collect()
    }

    /// Executes a script's text.
    pub fn exec(&mut self, text: &str) {
        self.stop_script();
        self.events.push_back(DeviceEvent {
            channel: ids::STDIN,
            code: Some(1),
        });
        match parse_workload(text) {
            Some(Ok((name, cfg))) => self.start_workload(&name, cfg, text),
            Some(Err(msg)) => {
                self.traceback("ValueError", &msg.to_string());
                self.script_ended();
            }
            None => {
                self.run_plain(text);
                self.script_ended();
            }
        }
    }

    fn script_ended(&mut self) {
        self.events.push_back(DeviceEvent {
            channel: ids::STDIN,
            code: Some(0),
        });
    }

    fn stop_script(&mut self) {
        if !matches!(self.script, Script::Idle) {
            self.script = Script::Idle;
            self.events.push_back(DeviceEvent {
                channel: 0,
                code: Some(1),
            });
            self.script_ended();
        }
    }

    fn print(&mut self, line: &str) {
        match self.build.protocol {
            // MicroPython's print() writes its argument, then its `end`, each one call
            // of mp_hal_stdout_tx_strn, which 5.x wraps onto the stdout ring.
            Protocol::V2 => {
                self.stdout_put(line.as_bytes());
                self.stdout_put(b"\n");
            }
            // Under usbdbg (v1) a print blocks until the IDE has read the text; the
            // virtual camera models that by holding it (up to a bound a real script could
            // not exceed).
            Protocol::V1 => {
                self.stdout.extend(line.as_bytes());
                self.stdout.push_back(b'\n');
                while self.stdout.len() > V1_STDOUT_BOUND {
                    self.stdout.pop_front();
                }
            }
        }
    }

    /// One write onto the 5.x stdout ring, as `__wrap_mp_hal_stdout_tx_strn`
    /// (protocol/omv_protocol_channel_stdio.c v5.0.0) does it: a string that fits is
    /// appended; one that does not **resets the whole ring** and keeps only the string's
    /// tail (at most the ring's 1023 bytes) — the older text is lost, not just the oldest
    /// bytes.
    fn stdout_put(&mut self, s: &[u8]) {
        let cap = STDOUT_RING - 1;
        if s.len() <= cap - self.stdout.len() {
            self.stdout.extend(s);
        } else {
            self.stdout.clear();
            self.stdout.extend(&s[s.len().saturating_sub(cap)..]);
        }
    }

    /// Whether CHANNEL_READ of `ch` is zero-copy (`readp`): only the stream channel
    /// (protocol/omv_protocol_channel_stream.c v5.0.0). stdout and script channels have
    /// `read` and are sent in ≤ 512-byte pieces.
    pub fn zero_copy(&self, ch: u8) -> bool {
        ch == ids::STREAM
    }

    fn traceback(&mut self, kind: &str, msg: &str) {
        self.print("Traceback (most recent call last):");
        self.print("  File \"<stdin>\", line 1, in <module>");
        self.print(&format!("{kind}: {msg}"));
    }

    /// A script of `print("…")` lines, comments and imports; else a traceback.
    fn run_plain(&mut self, text: &str) {
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let l = line.trim();
            if l.is_empty()
                || l.starts_with('#')
                || l.starts_with("import ")
                || l.starts_with("from ")
            {
                continue;
            }
            let literal = l
                .strip_prefix("print(")
                .and_then(|r| r.strip_suffix(')'))
                .map(str::trim)
                .and_then(|s| {
                    s.strip_prefix('"')
                        .and_then(|s| s.strip_suffix('"'))
                        .or_else(|| s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
                });
            match literal {
                Some(s) if !s.contains('\\') => out.push(s.to_string()),
                _ => {
                    for o in out {
                        self.print(&o);
                    }
                    self.print("Traceback (most recent call last):");
                    self.print(&format!("  File \"<stdin>\", line {}, in <module>", n + 1));
                    self.print(&format!(
                        "NotImplementedError: the virtual camera runs visreg's workload scripts and print() lines only: {}",
                        truncate(l, 60)
                    ));
                    return;
                }
            }
        }
        for o in out {
            self.print(&o);
        }
    }

    fn engine(&self, family: Family) -> Result<Engine, visreg_apriltag::Error> {
        let major = u32::from(self.version()[0]);
        Engine::with_cache(
            family,
            visreg_firmware::openmv::TagConventions::for_major(major),
            self.behaviour.clone(),
            self.run_seed,
            self.detections.clone(),
        )
    }

    fn start_workload(&mut self, name: &str, cfg: WorkloadConfig, text: &str) {
        let family: Family = match cfg.family.parse() {
            Ok(f) => f,
            Err(e) => {
                self.traceback("ValueError", &e.to_string());
                return self.script_ended();
            }
        };
        // A family the board's firmware is not compiled with has no `image.TAGxxx`
        // (boards/*/imlib_config.h): replay.py's family_flag() raises ValueError, live.py
        // and replay_v1.py fail on getattr() with MicroPython's AttributeError.
        if !self.build.board.apriltag_families().contains(&family) {
            let flag = family.name().to_uppercase();
            if name == "replay" {
                self.traceback(
                    "ValueError",
                    &format!("this firmware has no AprilTag family {}", cfg.family),
                );
            } else {
                self.traceback(
                    "AttributeError",
                    &format!("'module' object has no attribute '{flag}'"),
                );
            }
            return self.script_ended();
        }
        let k = Intrinsics {
            fx: cfg.fx,
            fy: cfg.fy,
            cx: cfg.cx,
            cy: cfg.cy,
        };
        let engine = match self.engine(family) {
            Ok(e) => e,
            Err(e) => {
                self.traceback("MemoryError", &e.to_string());
                return self.script_ended();
            }
        };
        match name {
            "replay" => {
                self.script = Script::Replay {
                    k,
                    engine,
                    frame: Vec::new(),
                    result: Vec::new(),
                    received: 0,
                };
                self.events.push_back(DeviceEvent {
                    channel: 0,
                    code: Some(0),
                });
                self.print(r#"{"event": "ready", "workload": "replay"}"#);
            }
            "live" => {
                if self.sensor.is_none() {
                    self.traceback(
                        "RuntimeError",
                        "Sensor control failed (the virtual camera has no dataset to show)",
                    );
                    return self.script_ended();
                }
                self.script = Script::Live {
                    k,
                    engine,
                    remaining: cfg.frames.unwrap_or(1),
                    captured: 0,
                    bundle: Vec::new(),
                };
                self.events.push_back(DeviceEvent {
                    channel: 0,
                    code: Some(0),
                });
                self.print(r#"{"event": "ready", "workload": "live"}"#);
                self.advance();
            }
            "replay_v1" => {
                let mut engine = engine;
                let line = match embedded_frame(text, &cfg) {
                    Ok((w, h, _)) if !self.build.board.fits_apriltag_region(w, h) => {
                        // replay_v1.py does not catch it: the script ends in a traceback.
                        self.traceback("OSError", APRILTAG_64K);
                        return self.script_ended();
                    }
                    Ok((w, h, mut px)) => {
                        // `image.Image(w, h, fmt, buffer=…)` parses `buffer=` only from
                        // 4.5.1 (openmv 6752c95ac "imlib: Support creating images from
                        // bytearrays"; src/omv/modules/py_image.c at v4.5.0 zeroes a
                        // new image and ignores the keyword).
                        if self.version() < [4, 5, 1] {
                            px.iter_mut().for_each(|p| *p = 0);
                        }
                        self.framebuffer = Some((w, h, px.clone()));
                        match engine.find_apriltags(GrayImage::new(w, h, &px), &k) {
                            Ok(r) => result_line(Some(cfg.frame_index.unwrap_or(0)), &r),
                            Err(e) => error_line(cfg.frame_index, &e.to_string()),
                        }
                    }
                    Err(e) => error_line(cfg.frame_index, &e.to_string()),
                };
                self.print(&line);
                self.print(r#"{"event": "done"}"#);
                self.script_ended();
            }
            other => {
                self.traceback("ImportError", &format!("no workload named '{other}'"));
                self.script_ended();
            }
        }
    }

    fn replay_if_complete(&mut self) {
        let Script::Replay {
            k,
            engine,
            frame,
            result,
            ..
        } = &mut self.script
        else {
            return;
        };
        if frame.len() < VRF_HEADER {
            return;
        }
        let hdr = match FrameHeader::decode(frame) {
            Ok(h) => h,
            Err(e) => {
                *result = (error_line(None, &e.to_string()) + "\n").into_bytes();
                frame.clear();
                return;
            }
        };
        let (index, w, h, pixfmt, len) = (
            hdr.index,
            hdr.width,
            hdr.height,
            hdr.pixfmt,
            hdr.len as usize,
        );
        if frame.len() < VRF_HEADER + len {
            return;
        }
        let mut busy_us = 0;
        // The modelled time counts from the frame's arrival, not from when the host's
        // own detector finished.
        let started = std::time::Instant::now();
        let line = if pixfmt != PIXFMT_GRAY || len != (w as usize) * (h as usize) {
            error_line(
                Some(index),
                &format!(
                    "frame {w}x{h} pixfmt 0x{pixfmt:08X} with {len} bytes is not a GRAYSCALE frame"
                ),
            )
        } else if !self.build.board.fits_apriltag_region(w, h) {
            // replay.py catches it and reports "<type>: <message>" with no frame index.
            error_line(None, &format!("OSError: {APRILTAG_64K}"))
        } else {
            let px = &frame[VRF_HEADER..VRF_HEADER + len];
            match engine.find_apriltags(GrayImage::new(w, h, px), k) {
                Ok(r) => {
                    busy_us = r.t_us;
                    result_line(Some(index), &r)
                }
                Err(e) => error_line(Some(index), &e.to_string()),
            }
        };
        let line = (line + "\n").into_bytes();
        let px = frame[VRF_HEADER..].to_vec();
        frame.clear();
        self.framebuffer = Some((w, h, px));
        if self.realtime && busy_us > 0 {
            let until = started + std::time::Duration::from_micros(busy_us);
            self.detecting = Some((until, line));
            return;
        }
        *result = line;
        self.events.push_back(DeviceEvent {
            channel: ids::STREAM,
            code: None,
        });
    }

    /// Live workload: capture the next frame once the previous bundle was read.
    fn advance(&mut self) {
        let Some(sensor) = self.sensor.as_mut() else {
            return;
        };
        let Script::Live {
            k,
            engine,
            remaining,
            captured,
            bundle,
        } = &mut self.script
        else {
            return;
        };
        if !bundle.is_empty() {
            return;
        }
        if *remaining == 0 {
            self.script = Script::Idle;
            self.events.push_back(DeviceEvent {
                channel: 0,
                code: Some(1),
            });
            self.print(r#"{"event": "done"}"#);
            self.script_ended();
            return;
        }
        let (line, fb) = match sensor.capture() {
            Ok((_, w, h, _)) if !self.build.board.fits_apriltag_region(w, h) => {
                // live.py does not catch it: the script ends in a traceback.
                self.traceback("OSError", APRILTAG_64K);
                return self.script_ended();
            }
            Ok((_, w, h, px)) => {
                let line = match engine.find_apriltags(GrayImage::new(w, h, &px), k) {
                    Ok(r) => result_line(Some(*captured), &r),
                    Err(e) => error_line(Some(*captured), &e.to_string()),
                };
                (line, Some((w, h, px)))
            }
            Err(e) => (error_line(Some(*captured), &e.to_string()), None),
        };
        let b = encode_bundle(
            &line,
            fb.as_ref()
                .map(|(w, h, px)| (*captured, *w, *h, px.as_slice())),
        );
        *bundle = b;
        *captured += 1;
        *remaining -= 1;
        if let Some(fb) = fb {
            self.framebuffer = Some(fb);
            self.events.push_back(DeviceEvent {
                channel: ids::STREAM,
                code: None,
            });
        }
    }

    fn encode_stream(&self) -> Vec<u8> {
        let Some((w, h, px)) = &self.framebuffer else {
            return Vec::new();
        };
        let (w, h) = (*w, *h);
        let (pixfmt, size, data, ow, oh) = if self.stream_raw {
            let (tw, th) = self.stream_raw_size.unwrap_or((w, h));
            let scaled = scale_nearest(px, w, h, tw.max(1), th.max(1));
            (PIXFMT_GRAY, 1u32, scaled, tw.max(1), th.max(1))
        } else {
            let mut jpeg = Vec::new();
            let ok = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
                .write_image(px, w, h, image::ExtendedColorType::L8)
                .is_ok();
            if !ok {
                return Vec::new();
            }
            (PIXFMT_JPEG, jpeg.len() as u32, jpeg, w, h)
        };
        let mut out = Vec::with_capacity(FB_HEADER + data.len());
        for v in [ow, oh, pixfmt, size, FB_HEADER as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&30.0f32.to_le_bytes());
        out.extend_from_slice(&data);
        out
    }
}

fn slice(buf: &[u8], off: usize, len: usize) -> Result<Vec<u8>, ChannelError> {
    if off > buf.len() {
        return Err(ChannelError::Overflow);
    }
    Ok(buf[off..(off + len).min(buf.len())].to_vec())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}

fn scale_nearest(px: &[u8], w: u32, h: u32, tw: u32, th: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity((tw * th) as usize);
    for y in 0..th {
        let sy = (u64::from(y) * u64::from(h) / u64::from(th)) as usize;
        for x in 0..tw {
            let sx = (u64::from(x) * u64::from(w) / u64::from(tw)) as usize;
            out.push(px[sy * w as usize + sx]);
        }
    }
    out
}

fn result_line(frame: Option<u32>, r: &FindResult) -> String {
    serde_json::json!({
        "frame": frame,
        "t_us": r.t_us,
        "mem_free": 180_000 - 1200 * r.tags.len() as u64,
        "tags": r.tags,
    })
    .to_string()
}

/// What `find_apriltags` raises (an OSError) on a region of 64K pixels or more on a board
/// without `IMLIB_ENABLE_HIGH_RES_APRILTAGS` (`modules/py_image.c`, v5.0.0; the same text at
/// v4.8.1).
const APRILTAG_64K: &str = "The maximum supported resolution for find_apriltags() is < 64K pixels.";

fn error_line(frame: Option<u32>, msg: &str) -> String {
    serde_json::json!({ "frame": frame, "error": msg }).to_string()
}

fn embedded_frame(text: &str, cfg: &WorkloadConfig) -> Result<(u32, u32, Vec<u8>), FrameError> {
    let (w, h) = (
        cfg.width.ok_or(FrameError::NoSize("width"))?,
        cfg.height.ok_or(FrameError::NoSize("height"))?,
    );
    let b64 = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix(FRAME_LINE)
                .and_then(|r| r.strip_suffix("')"))
        })
        .ok_or(FrameError::NoFrameLine)?;
    let px = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(FrameError::Base64)?;
    if px.len() != (w * h) as usize {
        return Err(FrameError::Size {
            got: px.len(),
            width: w,
            height: h,
        });
    }
    Ok((w, h, px))
}

/// Loads a dataset for the virtual sensor.
pub fn sensor_from(dir: PathBuf) -> Result<VirtualSensor, SimError> {
    Dataset::open(&dir)
        .map(VirtualSensor::new)
        .map_err(SimError::Dataset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use visreg_firmware::catalog::Catalog;

    fn cam(build: &str, sensor: Option<VirtualSensor>) -> VirtualCamera {
        VirtualCamera::new(Catalog::builtin().build(build).unwrap().clone(), sensor, 1).unwrap()
    }

    fn stdout(c: &mut VirtualCamera) -> String {
        String::from_utf8(c.take_stdout(usize::MAX)).unwrap()
    }

    #[test]
    fn plain_scripts_print_and_others_get_a_traceback() {
        let mut c = cam("5.0.0", None);
        c.exec("import time\n# hi\nprint('hello')\nprint(\"world\")\n");
        assert_eq!(stdout(&mut c), "hello\nworld\n");
        c.exec("import sensor\nsensor.reset()\n");
        let out = stdout(&mut c);
        assert!(
            out.starts_with(
                "Traceback (most recent call last):\n  File \"<stdin>\", line 2, in <module>\n"
            ),
            "{out}"
        );
        assert!(out.contains("NotImplementedError"));
    }

    #[test]
    fn stdout_ring_is_reset_whole_when_a_string_does_not_fit() {
        let mut c = cam("5.0.0", None);
        let line = |i: usize| format!("line {i:04}\n");
        let script: String = (0..300)
            .map(|i| format!("print('line {i:04}')\n"))
            .collect();
        c.exec(&script);
        let out = stdout(&mut c);
        // Each print is two writes ("line NNNN", "\n"): the ring (1023 bytes) holds
        // `per` whole lines; the text of line `per` does not fit, so the ring is reset
        // to it — and so again every `per` lines. What is left is the last run of lines
        // since a reset, not the newest 1023 bytes (a ring dropping its oldest bytes).
        let per = (STDOUT_RING - 1) / line(0).len();
        let first = 300 / per * per;
        let expect: String = (first..300).map(line).collect();
        assert_eq!(out, expect);
        assert!(
            out.len() < STDOUT_RING - line(0).len(),
            "{} bytes",
            out.len()
        );
        // A string of 1022 bytes after a short line: it does not fit, so it replaces the
        // ring, and its newline just fits (1023 bytes).
        let long = "x".repeat(STDOUT_RING - 2);
        c.exec(&format!("print('short')\nprint('{long}')\n"));
        assert_eq!(stdout(&mut c), format!("{long}\n"));
        // One longer than the ring keeps its last 1023 bytes — and then the newline does
        // not fit either and resets the ring again: only "\n" is left.
        c.exec(&format!("print('{}')\n", "y".repeat(1500)));
        assert_eq!(stdout(&mut c), "\n");
    }

    #[test]
    fn replay_workload_answers_each_frame_once() {
        let mut c = cam("5.0.0", None);
        let script = "# visreg-workload: replay 1\nimport json\nCONFIG = json.loads('{\"family\": \"tag36h11\", \"fx\": 224.9, \"fy\": 227.6, \"cx\": 160.0, \"cy\": 120.0}')\n";
        c.exec(script);
        assert!(c.channels().iter().any(|ch| ch.name == "visreg"));
        assert!(stdout(&mut c).contains("\"ready\""));
        let px = vec![128u8; 320 * 240];
        let frame = visreg_firmware::workload::pack_frame(7, 320, 240, &px);
        for (i, chunk) in frame.chunks(4088).enumerate() {
            assert_eq!(c.size(ids::VISREG).unwrap(), 0);
            c.write(ids::VISREG, (i * 4088) as u32, chunk).unwrap();
        }
        let n = c.size(ids::VISREG).unwrap();
        let line = c.read(ids::VISREG, 0, n).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["frame"], 7);
        assert_eq!(v["tags"].as_array().unwrap().len(), 0);
        assert!(v["t_us"].as_u64().unwrap() > 10_000);
        // A read does not consume the result (a lost reply is read again), nor does a
        // chunk written twice disturb it; the next frame's first write clears it.
        assert_eq!(
            c.read(ids::VISREG, 0, n).unwrap(),
            line,
            "read again, the same"
        );
        let last = frame.chunks(4088).count() - 1;
        c.write(
            ids::VISREG,
            (last * 4088) as u32,
            frame.chunks(4088).last().unwrap(),
        )
        .unwrap();
        assert_eq!(c.read(ids::VISREG, 0, n).unwrap(), line);
        c.write(ids::VISREG, 0, &frame[..100]).unwrap();
        assert_eq!(c.size(ids::VISREG).unwrap(), 0, "the next frame clears it");
        // A bad header gives an error line.
        c.write(ids::VISREG, 0, &[0u8; 40]).unwrap();
        let n = c.size(ids::VISREG).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&c.read(ids::VISREG, 0, n).unwrap()).unwrap();
        assert!(v["error"].as_str().unwrap().contains("magic"));
    }

    fn replay_script(family: &str) -> String {
        format!("# visreg-workload: replay 1\nimport json\nCONFIG = json.loads('{{\"family\": \"{family}\", \"fx\": 224.9, \"fy\": 227.6, \"cx\": 160.0, \"cy\": 120.0}}')\n")
    }

    fn replay_v1_script(family: &str, w: u32, h: u32, px: &[u8]) -> String {
        use base64::Engine as _;
        format!(
            "# visreg-workload: replay_v1 1\nimport json, ubinascii\nCONFIG = json.loads('{{\"family\": \"{family}\", \"fx\": 224.9, \"fy\": 227.6, \"cx\": 160.0, \"cy\": 120.0, \"width\": {w}, \"height\": {h}, \"frame_index\": 0}}')\n{FRAME_LINE}{}')\n",
            base64::engine::general_purpose::STANDARD.encode(px)
        )
    }

    #[test]
    fn families_the_board_lacks_end_every_workload_as_its_script_would() {
        // boards/OPENMV4P/imlib_config.h: TAG36H11 only. replay.py's family_flag raises
        // ValueError; replay_v1.py's getattr(image, "TAG16H5") an AttributeError.
        let mut c = cam("5.0.0", None);
        c.exec(&replay_script("tag16h5"));
        let out = stdout(&mut c);
        assert!(
            out.contains("ValueError: this firmware has no AprilTag family tag16h5"),
            "{out}"
        );
        assert!(!c.script_running());
        let mut c = cam("4.8.1", None);
        c.exec(&replay_v1_script("tag16h5", 8, 8, &[0; 64]));
        let out = stdout(&mut c);
        assert!(
            out.contains("AttributeError: 'module' object has no attribute 'TAG16H5'"),
            "{out}"
        );
        // The RT1060 has it (boards/OPENMV_RT1060/imlib_config.h).
        let mut c = cam("5.0.0-rt1062", None);
        c.exec(&replay_script("tag16h5"));
        assert!(stdout(&mut c).contains("\"ready\""));
    }

    #[test]
    fn the_64k_pixel_limit_holds_on_replay_and_v1() {
        // modules/py_image.c: roi.w·roi.h < 65536 without IMLIB_ENABLE_HIGH_RES_APRILTAGS,
        // else OSError. replay.py catches it (no frame index); replay_v1.py does not.
        let mut c = cam("5.0.0-h7", None);
        c.exec(&replay_script("tag36h11"));
        let frame = visreg_firmware::workload::pack_frame(3, 320, 240, &vec![128u8; 320 * 240]);
        for (i, chunk) in frame.chunks(4088).enumerate() {
            c.write(ids::VISREG, (i * 4088) as u32, chunk).unwrap();
        }
        let n = c.size(ids::VISREG).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&c.read(ids::VISREG, 0, n).unwrap()).unwrap();
        assert_eq!(
            v["error"],
            "OSError: The maximum supported resolution for find_apriltags() is < 64K pixels."
        );
        assert!(v["frame"].is_null(), "{v}");
        // 160×120 is within the limit.
        let small = visreg_firmware::workload::pack_frame(4, 160, 120, &vec![128u8; 160 * 120]);
        c.write(ids::VISREG, 0, &small).unwrap();
        let n = c.size(ids::VISREG).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&c.read(ids::VISREG, 0, n).unwrap()).unwrap();
        assert_eq!(v["frame"], 4, "{v}");
        // A QVGA frame through replay_v1.py, on the H7 and then the H7 Plus.
        let replay_qvga_v1 = |build| {
            let mut c = cam(build, None);
            c.exec(&replay_v1_script(
                "tag36h11",
                320,
                240,
                &vec![128u8; 320 * 240],
            ));
            (stdout(&mut c), c.script_running())
        };
        let (out, running) = replay_qvga_v1("4.8.1-h7");
        assert!(
            out.contains(
                "OSError: The maximum supported resolution for find_apriltags() is < 64K pixels."
            ),
            "{out}"
        );
        assert!(!running);
        // The H7 Plus has high-res AprilTags.
        let (out, _) = replay_qvga_v1("4.8.1");
        assert!(
            out.contains("\"frame\":0") && out.contains("\"tags\""),
            "{out}"
        );
    }

    #[test]
    fn image_buffers_are_ignored_before_4_5_1() {
        // src/omv/modules/py_image.c at v4.5.0 zeroes a new image and parses no `buffer=`
        // (added by openmv 6752c95ac, first in v4.5.1).
        let px: Vec<u8> = (0..64).map(|i| i as u8 + 1).collect();
        let script = replay_v1_script("tag36h11", 8, 8, &px);
        let mut old = Catalog::builtin().build("4.5.9").unwrap().clone();
        old.version = "4.5.0".into();
        let mut c = VirtualCamera::new(old, None, 1).unwrap();
        c.exec(&script);
        assert_eq!(c.framebuffer_v1().unwrap().2, vec![0u8; 64]);
        let mut c = cam("4.5.9", None);
        c.exec(&script);
        assert_eq!(c.framebuffer_v1().unwrap().2, px);
    }

    #[test]
    fn bad_workload_config_is_a_traceback() {
        let mut c = cam("5.0.0", None);
        c.exec("# visreg-workload: replay 1\nCONFIG = json.loads('{\"family\": \"tag99\"}')\n");
        let out = stdout(&mut c);
        assert!(
            out.contains("Traceback") && out.contains("ValueError"),
            "{out}"
        );
        assert!(!c.script_running());
    }

    #[test]
    fn with_a_real_link_a_frame_keeps_the_detector_busy_for_the_time_it_reports() {
        let mut c = cam("5.0.0", None);
        c.set_realtime(true);
        c.exec("# visreg-workload: replay 1\nimport json\nCONFIG = json.loads('{\"family\": \"tag36h11\", \"fx\": 224.9, \"fy\": 227.6, \"cx\": 160.0, \"cy\": 120.0}')\n");
        let frame = visreg_firmware::workload::pack_frame(3, 160, 120, &vec![128; 160 * 120]);
        let t0 = std::time::Instant::now();
        c.write(ids::VISREG, 0, &frame).unwrap();
        assert_eq!(
            c.size(ids::VISREG).unwrap(),
            0,
            "no result while it detects"
        );
        while c.detecting(std::time::Instant::now()) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let took = t0.elapsed();
        let n = c.size(ids::VISREG).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&c.read(ids::VISREG, 0, n).unwrap()).unwrap();
        assert_eq!(v["frame"], 3);
        let t_us = v["t_us"].as_u64().unwrap();
        assert!(took.as_micros() as u64 >= t_us, "{took:?} < {t_us} µs");
    }
}
