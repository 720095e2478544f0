//! The camera client: protocol v2 ([`v2`]) for firmware ≥ 5.0, protocol v1 ([`v1`]) for
//! 4.x, and [`probe`] to tell which a camera speaks. Errors name the port, the step and
//! the next thing to try.

pub mod v1;
pub mod v2;

use std::time::{Duration, Instant};

use visreg_firmware::protocol::v1 as p1;
use visreg_firmware::protocol::v2::{self as p2, Status};
use visreg_firmware::transport::{Transport, TransportError};

/// A frame read from a camera.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Pixel format (GRAY 0x08020001, RGB565 0x0C030002, JPEG 0x06060000).
    pub pixfmt: u32,
    /// Pixels or compressed bytes.
    pub data: Vec<u8>,
}

/// A frame visreg cannot turn into gray pixels.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A JPEG frame that does not decode.
    #[error("JPEG frame does not decode: {0}")]
    Jpeg(image::ImageError),
    /// A pixel format visreg does not read, or too few bytes for it.
    #[error("frame of {len} bytes in pixel format 0x{pixfmt:08X} is not one visreg reads")]
    Format {
        /// The pixel format.
        pixfmt: u32,
        /// Bytes received.
        len: usize,
    },
}

impl Frame {
    /// The frame as 8-bit gray (JPEG decoded, RGB565 converted).
    pub fn to_gray(&self) -> Result<Vec<u8>, FrameError> {
        let n = (self.width * self.height) as usize;
        match self.pixfmt {
            0x0802_0001 if self.data.len() >= n => Ok(self.data[..n].to_vec()),
            0x0C03_0002 if self.data.len() >= 2 * n => Ok(self.data[..2 * n]
                .chunks_exact(2)
                .map(|p| {
                    let v = u16::from_le_bytes([p[0], p[1]]);
                    let (r, g, b) = (
                        ((v >> 11) & 31) * 255 / 31,
                        ((v >> 5) & 63) * 255 / 63,
                        (v & 31) * 255 / 31,
                    );
                    ((u32::from(r) * 299 + u32::from(g) * 587 + u32::from(b) * 114) / 1000) as u8
                })
                .collect()),
            0x0606_0000 => {
                image::load_from_memory_with_format(&self.data, image::ImageFormat::Jpeg)
                    .map(|i| i.into_luma8().into_raw())
                    .map_err(FrameError::Jpeg)
            }
            f => Err(FrameError::Format {
                pixfmt: f,
                len: self.data.len(),
            }),
        }
    }
}

/// What went wrong, as a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// No reply before the deadline.
    Timeout,
    /// Not even a SYNC was answered.
    NoAnswer,
    /// The camera's reply had a bad checksum.
    Checksum,
    /// The reply's sequence number was not the expected one.
    Sequence {
        /// Expected.
        expected: u8,
        /// Received.
        got: u8,
    },
    /// The camera refused the request.
    Nak(Status),
    /// The camera answered before, then stopped answering for this long, resyncs
    /// and retries included.
    Stopped(std::time::Duration),
    /// The port went away.
    Disconnected,
    /// A reply that does not follow the protocol.
    Protocol(String),
    /// The channel does not exist.
    NoChannel(String),
    /// A v1 camera's script kept running (SCRIPT_RUNNING stayed 1) for this long.
    StillRunning(std::time::Duration),
    /// Another I/O error.
    Io(String),
}

impl ErrorKind {
    /// Whether a resync and a retry may help.
    pub fn recoverable(&self) -> bool {
        matches!(
            self,
            ErrorKind::Timeout
                | ErrorKind::Checksum
                | ErrorKind::Sequence { .. }
                | ErrorKind::Nak(Status::Checksum | Status::Sequence | Status::Timeout)
        )
    }
}

/// A client error: the port, the step, what happened, and what to try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientError {
    /// The port.
    pub port: String,
    /// The step (`connect (SYNC)`, `read a frame`, …).
    pub step: String,
    /// What happened.
    pub kind: ErrorKind,
}

impl ClientError {
    /// The next thing for the user to try.
    pub fn next_step(&self) -> &'static str {
        match &self.kind {
            ErrorKind::NoAnswer => "check that the camera runs OpenMV firmware (4.x speaks protocol v1, 5.x protocol v2) and that no other program (the OpenMV IDE) holds the port; `visreg doctor` diagnoses it",
            ErrorKind::Timeout | ErrorKind::Checksum | ErrorKind::Sequence { .. } => "the link is unreliable: try another USB cable or port, avoid hubs; `visreg doctor` checks the camera",
            ErrorKind::Stopped(_) => "the camera hangs (a crashed script or firmware, or a stalled USB link): power-cycle it, run `visreg doctor`, then resume",
            ErrorKind::Disconnected => "the camera went away: reconnect it (or power-cycle it) and run `visreg devices`",
            ErrorKind::Nak(Status::Busy) => "the camera is busy: stop the running script and try again",
            ErrorKind::Nak(_) | ErrorKind::Protocol(_) => "the firmware does not support this request: check its version with `visreg devices`",
            ErrorKind::NoChannel(_) => "the script did not register that channel: check the script's output with the OpenMV IDE",
            ErrorKind::StillRunning(_) => "a script still runs on the camera (perhaps one the OpenMV IDE started): stop it there, or power-cycle the camera, and try again",
            ErrorKind::Io(_) => "check the port's permissions (the dialout group on Linux) and that it exists",
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match &self.kind {
            ErrorKind::Timeout => "no reply before the deadline".to_string(),
            ErrorKind::NoAnswer => "the camera did not answer a protocol SYNC".to_string(),
            ErrorKind::Checksum => "reply failed its checksum".to_string(),
            ErrorKind::Sequence { expected, got } => {
                format!("reply out of sequence (expected {expected}, got {got})")
            }
            ErrorKind::Nak(s) => format!("the camera refused the request ({s:?})"),
            ErrorKind::Stopped(d) => format!(
                "the camera answered before, then nothing for {:.0} s, resyncs and retries included",
                d.as_secs_f64()
            ),
            ErrorKind::Disconnected => "the port disconnected".to_string(),
            ErrorKind::Protocol(m) => format!("unexpected reply: {m}"),
            ErrorKind::NoChannel(n) => format!("the camera has no channel named '{n}'"),
            ErrorKind::StillRunning(d) => format!(
                "the camera still reported a running script after {:.1} s",
                d.as_secs_f64()
            ),
            ErrorKind::Io(m) => m.clone(),
        };
        write!(
            f,
            "{}: {}: {} — {}",
            self.port,
            self.step,
            what,
            self.next_step()
        )
    }
}

impl std::error::Error for ClientError {}

/// Which protocol a camera answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probed {
    /// Protocol v2 answered a SYNC.
    V2,
    /// Protocol v1 answered FW_VERSION with this version.
    V1([u32; 3]),
}

/// [`probe_for`] `board` again and again until `deadline`, for a camera known to be there (it
/// answered a moment ago): a link that stalls for a second or two must not turn "the
/// camera is busy" into "the camera runs no OpenMV". Gives up at once when the port goes.
pub fn probe_patiently(
    t: &mut dyn Transport,
    attempt: Duration,
    deadline: Instant,
    board: Option<visreg_firmware::board::Board>,
) -> Result<Probed, ClientError> {
    loop {
        match probe_for(t, attempt, board) {
            Ok(p) => return Ok(p),
            Err(e) if e.kind == ErrorKind::Disconnected || Instant::now() >= deadline => {
                return Err(e)
            }
            Err(e) => tracing::debug!("{e}; probing again"),
        }
    }
}

/// How long a camera that was found may take to answer a probe again: longer than the
/// stalls a USB link has, well within any command's deadline.
pub const PROBE_PATIENCE: Duration = Duration::from_secs(6);

/// Tells which protocol the camera on `t` speaks: a v1 FW_VERSION header first, then a
/// v2 SYNC; each under `timeout`.
///
/// The order is the one no generation chokes on (PROTOCOL.md §2 ✱):
/// - a 6-byte v1 header is one whole chunk for a TinyUSB 4.x camera (RT1060, AE3), which
///   reads its FIFO 6 bytes at a time with no resync (`common/tinyusb_debug.c`, v4.8.1):
///   a 10-byte SYNC sent first would leave it 4 bytes out of step for good, and a 4.5.x
///   one hangs on it (`__fatal_error`, `src/omv/common/tinyusb_debug.c` v4.5.9). A 4.x
///   camera that answers is never sent the SYNC.
/// - an STM32 4.x camera drops a packet that does not start with 0x30
///   (`usbd_cdc_receive`, `ports/stm32/usbd_cdc_interface.c` in openmv/micropython at the
///   v4.5.9 pin): either order suits it.
/// - a 5.x camera's parser, in its SYNC state, consumes bytes one at a time until it sees
///   the sync word (`omv_protocol_poll`, `protocol/omv_protocol.c` v5.0.0): the v1 header
///   is skipped and the SYNC that follows answered. The price is one `timeout` of
///   silence before a 5.x camera is sent its SYNC.
pub fn probe(t: &mut dyn Transport, timeout: Duration) -> Result<Probed, ClientError> {
    probe_for(t, timeout, None)
}

/// [`probe`] for a camera known to be `board`: on a board with ST's USB stack (M4, M7, H7,
/// H7 Plus) a v2 SYNC is harmless to 4.x firmware — its first byte is no header's 0x30, so
/// `usbd_cdc_interface.c` drops the packet whole — and the SYNC goes first, sparing a 5.x
/// camera the v1 probe's timeout. On a TinyUSB board, or one not known, v1 goes first.
pub fn probe_for(
    t: &mut dyn Transport,
    timeout: Duration,
    board: Option<visreg_firmware::board::Board>,
) -> Result<Probed, ClientError> {
    if board.is_some_and(|b| !b.tinyusb()) {
        match probe_v2(t, timeout) {
            Ok(p) => return Ok(p),
            Err(e) if e.kind == ErrorKind::Disconnected => return Err(e),
            Err(_) => {}
        }
    }
    probe_v1_then_v2(t, timeout)
}

/// A probe's error on `port`.
fn probe_error(port: &str, kind: ErrorKind) -> ClientError {
    ClientError {
        port: port.into(),
        step: "probe the protocol".into(),
        kind,
    }
}

/// What a transport error means to a probe.
fn kind_of(e: TransportError) -> ErrorKind {
    match e {
        TransportError::Disconnected(_) => ErrorKind::Disconnected,
        TransportError::Io(e) => ErrorKind::Io(e.to_string()),
        TransportError::Timeout => ErrorKind::Timeout,
    }
}

/// A v2 SYNC alone, expecting its ACK.
fn probe_v2(t: &mut dyn Transport, timeout: Duration) -> Result<Probed, ClientError> {
    let port = t.name();
    let err = |kind| probe_error(&port, kind);
    let mut buf = [0u8; 512];
    t.send(
        &p2::Packet::new(0, 0, p2::op::PROTO_SYNC, vec![]).encode(true),
        Instant::now() + timeout,
    )
    .map_err(|e| err(kind_of(e)))?;
    let mut dec = p2::Decoder::new(true, p2::MAX_PAYLOAD);
    let deadline = Instant::now() + timeout;
    loop {
        match t.recv(&mut buf, deadline) {
            Ok(n) => {
                dec.push(&buf[..n]);
                while let Some(d) = dec.next() {
                    if let p2::Decoded::Packet(p) = d {
                        if p.opcode == p2::op::PROTO_SYNC && p.has(p2::flags::ACK) {
                            return Ok(Probed::V2);
                        }
                    }
                }
            }
            Err(TransportError::Timeout) => return Err(err(ErrorKind::NoAnswer)),
            Err(e) => return Err(err(kind_of(e))),
        }
    }
}

/// v1 FW_VERSION first, then — only if it went unanswered — a v2 SYNC: the order no
/// generation chokes on.
fn probe_v1_then_v2(t: &mut dyn Transport, timeout: Duration) -> Result<Probed, ClientError> {
    let port = t.name();
    let err = |kind| probe_error(&port, kind);
    let mut buf = [0u8; 512];
    // v1: FW_VERSION, expect exactly 12 bytes.
    t.send(
        &p1::Header {
            command: p1::cmd::FW_VERSION,
            length: 12,
        }
        .encode(),
        Instant::now() + timeout,
    )
    .map_err(|e| err(kind_of(e)))?;
    let mut got = Vec::new();
    let deadline = Instant::now() + timeout;
    while got.len() < 12 {
        match t.recv(&mut buf, deadline) {
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(TransportError::Timeout) => break,
            Err(e) => return Err(err(kind_of(e))),
        }
    }
    if got.len() == 12 {
        let w = |i: usize| u32::from_le_bytes([got[i], got[i + 1], got[i + 2], got[i + 3]]);
        let v = [w(0), w(4), w(8)];
        if v[0] > 0 && v[0] < 100 && v[1] < 100 && v[2] < 100 {
            return Ok(Probed::V1(v));
        }
    }
    // v2: SYNC, expect an ACK.
    probe_v2(t, timeout)
}
