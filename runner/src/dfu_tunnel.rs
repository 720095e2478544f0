//! `dfu-core`'s I/O over visreg's virtual-USB tunnel ([`visreg_firmware::protocol::vusb`]):
//! how the flasher reaches a `visreg sim` camera's DFU bootloader through its serial
//! port. Every request waits for its reply under a deadline, and the whole flash under
//! the caller's.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use dfu_core::functional_descriptor::FunctionalDescriptor;
use dfu_core::memory_layout::MemoryLayout;
use dfu_core::{DfuIo, DfuProtocol};
use visreg_firmware::protocol::vusb::{self, kind, status, Reply, Request};
use visreg_firmware::transport::{Transport, TransportError};

/// Errors of the tunnel.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    /// A DFU protocol error.
    #[error("DFU protocol: {0}")]
    Dfu(#[from] dfu_core::Error),
    /// I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The transport failed.
    #[error("{0}")]
    Transport(String),
    /// The bootloader stalled a request.
    #[error("the bootloader refused the request (stall)")]
    Stall,
    /// The device vanished (power lost, left DFU).
    #[error("the bootloader vanished from the bus (power lost or the camera left DFU)")]
    Gone,
    /// The flash ran out of time.
    #[error("no answer before the deadline")]
    Deadline,
}

/// How long one control transfer may take: the kernel's USB control timeout
/// (`USB_CTRL_GET_TIMEOUT`/`USB_CTRL_SET_TIMEOUT`, 5000 ms, include/linux/usb.h), so a
/// virtual camera's link stalls no sooner than a real one's would.
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long to wait for a bootloader that may not be there yet (polling for it).
pub const IDENTIFY_TIMEOUT: Duration = Duration::from_millis(500);

/// How long to wait for a reply before sending the request again (its frame, or the
/// reply's, was lost or corrupted on the way), as USB hardware retries a packet.
pub const RETRANSMIT_AFTER: Duration = Duration::from_millis(200);

/// A tunnel to a bootloader on a transport.
pub struct Tunnel<T: Transport> {
    /// The transport, bytes received but not yet parsed, and the next request's tag.
    t: Mutex<(T, Vec<u8>, u8)>,
    /// Each request's own deadline.
    pub request_timeout: Duration,
    /// The deadline of everything.
    pub deadline: Instant,
}

impl<T: Transport> Tunnel<T> {
    /// A tunnel over `t`.
    pub fn new(t: T, request_timeout: Duration, deadline: Instant) -> Self {
        Tunnel {
            // A random first tag: a bootloader still holding the last request of an
            // earlier session must not take this session's first for a repeat of it.
            t: Mutex::new((t, Vec::new(), rand::random::<u8>())),
            request_timeout,
            deadline,
        }
    }

    /// Gives the transport back.
    pub fn into_inner(self) -> T {
        self.t.into_inner().unwrap_or_else(|p| p.into_inner()).0
    }

    /// One request and its reply.
    pub fn call(&self, req: Request) -> Result<Vec<u8>, TunnelError> {
        self.call_within(req, self.request_timeout)
    }

    /// One request and its reply, waited for at most `timeout`. Replies to earlier
    /// requests that timed out are dropped by their tag.
    fn call_within(&self, req: Request, timeout: Duration) -> Result<Vec<u8>, TunnelError> {
        let now = Instant::now();
        if now > self.deadline {
            return Err(TunnelError::Deadline);
        }
        let until = (now + timeout).min(self.deadline);
        let mut g = self.t.lock().unwrap_or_else(|p| p.into_inner());
        let (t, buf, next_tag) = &mut *g;
        let tag = *next_tag;
        *next_tag = next_tag.wrapping_add(1);
        let frame = req.encode(tag);
        t.send(&frame, until).map_err(map_err)?;
        let mut resend_at = Instant::now() + RETRANSMIT_AFTER;
        let mut chunk = [0u8; 8192];
        loop {
            while let Some(Reply {
                tag: got,
                status: s,
                data,
            }) = vusb::take_reply(buf)
            {
                if got != tag {
                    tracing::debug!("dropped a late tunnel reply (tag {got}, waiting for {tag})");
                    continue;
                }
                return match s {
                    status::OK => Ok(data),
                    status::STALL => Err(TunnelError::Stall),
                    _ => Err(TunnelError::Gone),
                };
            }
            match t.recv(&mut chunk, resend_at.min(until)) {
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(TransportError::Timeout) if Instant::now() < until => {
                    tracing::debug!("no reply to tunnel request {tag} yet: sending it again");
                    t.send(&frame, until).map_err(map_err)?;
                    resend_at = Instant::now() + RETRANSMIT_AFTER;
                }
                Err(e) => return Err(map_err(e)),
            }
        }
    }

    /// The USB identity the bootloader presents (VID, PID); asked briefly, as the
    /// flasher polls for a bootloader that may not have started yet.
    pub fn identify(&self) -> Result<(u16, u16), TunnelError> {
        let d = self.call_within(
            Request {
                kind: kind::IDENTIFY,
                request: 0,
                value: 0,
                length: 0,
                data: vec![],
            },
            IDENTIFY_TIMEOUT.min(self.request_timeout),
        )?;
        if d.len() < 4 {
            return Err(TunnelError::Transport("short identity".into()));
        }
        Ok((
            u16::from_le_bytes([d[0], d[1]]),
            u16::from_le_bytes([d[2], d[3]]),
        ))
    }
}

fn map_err(e: TransportError) -> TunnelError {
    match e {
        TransportError::Timeout => TunnelError::Deadline,
        other => TunnelError::Transport(other.to_string()),
    }
}

/// `dfu-core` I/O for one alternate setting through a [`Tunnel`].
pub struct TunnelDfuIo<'a, T: Transport> {
    tunnel: &'a Tunnel<T>,
    descriptor: FunctionalDescriptor,
    protocol: DfuProtocol<MemoryLayout>,
}

impl<'a, T: Transport> TunnelDfuIo<'a, T> {
    /// Selects `alt` and returns its I/O. The OpenMV bootloader's descriptor: DFU 1.1,
    /// 4096-byte transfers, manifestation tolerant.
    pub fn open(tunnel: &'a Tunnel<T>, alt: u8) -> Result<Self, TunnelError> {
        tunnel.call(Request {
            kind: kind::SET_ALT,
            request: 0,
            value: u16::from(alt),
            length: 0,
            data: vec![],
        })?;
        Ok(TunnelDfuIo {
            tunnel,
            descriptor: visreg_firmware::dfu::openmv_dfu_descriptor(),
            protocol: DfuProtocol::Dfu,
        })
    }
}

impl<T: Transport> DfuIo for TunnelDfuIo<'_, T> {
    type Read = usize;
    type Write = usize;
    type Reset = ();
    type Error = TunnelError;
    type MemoryLayout = MemoryLayout;

    fn read_control(
        &self,
        _request_type: u8,
        request: u8,
        value: u16,
        buffer: &mut [u8],
    ) -> Result<usize, TunnelError> {
        let d = self.tunnel.call(Request {
            kind: kind::CONTROL_IN,
            request,
            value,
            length: buffer.len() as u16,
            data: vec![],
        })?;
        let n = d.len().min(buffer.len());
        buffer[..n].copy_from_slice(&d[..n]);
        Ok(n)
    }

    fn write_control(
        &self,
        _request_type: u8,
        request: u8,
        value: u16,
        buffer: &[u8],
    ) -> Result<usize, TunnelError> {
        self.tunnel.call(Request {
            kind: kind::CONTROL_OUT,
            request,
            value,
            length: buffer.len() as u16,
            data: buffer.to_vec(),
        })?;
        Ok(buffer.len())
    }

    fn usb_reset(self) -> Result<(), TunnelError> {
        self.tunnel
            .call(Request {
                kind: kind::RESET,
                request: 0,
                value: 0,
                length: 0,
                data: vec![],
            })
            .map(|_| ())
    }

    fn protocol(&self) -> &DfuProtocol<MemoryLayout> {
        &self.protocol
    }

    fn functional_descriptor(&self) -> &FunctionalDescriptor {
        &self.descriptor
    }
}

impl<'a, T: Transport> TunnelDfuIo<'a, T> {
    /// I/O for ST's ROM system DFU (DfuSe, alt 0 = internal flash): 2048-byte transfers,
    /// the H7's memory layout, leaves DFU after the download (will detach).
    pub fn open_st_rom(tunnel: &'a Tunnel<T>) -> Result<Self, TunnelError> {
        tunnel.call(Request {
            kind: kind::SET_ALT,
            request: 0,
            value: 0,
            length: 0,
            data: vec![],
        })?;
        Ok(TunnelDfuIo {
            tunnel,
            descriptor: visreg_firmware::dfu::st_rom_descriptor(),
            protocol: DfuProtocol::new(visreg_firmware::dfu::ST_ROM_LAYOUT, (0x01, 0x1a))?,
        })
    }
}
