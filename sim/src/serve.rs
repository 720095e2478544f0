//! Serving a virtual camera on a transport: bytes in, replies and events out, faults
//! applied, until asked to stop or the connection is lost. Every wait is bounded; the
//! stop flag is checked at least every 20 ms.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::device::VirtualCamera;
use crate::faults::{Action, FaultSpec, Faults};
use crate::v1::{Framing, V1Device};
use crate::v2::{Control, V2Device};
use visreg_firmware::catalog::Protocol;
use visreg_firmware::transport::{Transport, TransportError};

/// How serving ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ServeEnd {
    /// The stop flag was set.
    Stopped,
    /// A planned disconnect fault fired.
    FaultDisconnect,
    /// The host went away for good.
    Disconnected(String),
}

/// What a served device wants after handling bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep serving.
    Continue,
    /// Stop serving: the device went away (its link is closed).
    Gone,
}

/// Serves `cam` speaking `protocol` on `t` until `stop` is set, the transport fails or a
/// disconnect fault fires.
pub fn serve(
    t: &mut dyn Transport,
    cam: &mut VirtualCamera,
    protocol: Protocol,
    faults: &FaultSpec,
    stop: &AtomicBool,
) -> Result<ServeEnd, TransportError> {
    let mut v2 = V2Device::new();
    let mut v1 = V1Device::new(Framing::for_build(cam.build(), t.keeps_writes()));
    serve_with(t, faults, stop, &mut |input, out| {
        match input {
            Some(data) => {
                let control = match protocol {
                    Protocol::V2 => v2.on_bytes(cam, data, out),
                    Protocol::V1 => v1.on_bytes(cam, data, out),
                };
                if control != Control::Continue {
                    tracing::info!("camera reset by the host ({control:?})");
                }
            }
            None => {
                if protocol == Protocol::V1 && v1.has_partial() {
                    v1.idle_reset();
                }
            }
        }
        match protocol {
            Protocol::V2 => v2.on_idle(cam, out),
            Protocol::V1 => v1.on_idle(cam),
        }
        Flow::Continue
    })
}

/// What the serving loop calls with the bytes it read (`None` after a second of
/// silence); it appends what to send.
pub type Handler<'a> = dyn FnMut(Option<&[u8]>, &mut Vec<u8>) -> Flow + 'a;

/// The serving loop: reads from `t` under a 20 ms deadline, hands bytes (or `None` after a
/// second of silence) to `handle`, sends what it produced, applies `faults`.
pub fn serve_with(
    t: &mut dyn Transport,
    faults: &FaultSpec,
    stop: &AtomicBool,
    handle: &mut Handler<'_>,
) -> Result<ServeEnd, TransportError> {
    let mut faults = Faults::new(faults.clone());
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    let mut first_byte: Option<Instant> = None;
    let mut last_byte = Instant::now();
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(ServeEnd::Stopped);
        }
        if let Some(t0) = first_byte {
            match faults.check(t0.elapsed()) {
                Action::Continue => {}
                Action::Stall(d) => {
                    tracing::info!("fault: stalling for {d:?}");
                    let until = Instant::now() + d;
                    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    continue;
                }
                Action::Disconnect => {
                    tracing::info!("fault: disconnecting");
                    return Ok(ServeEnd::FaultDisconnect);
                }
            }
        }
        let flow = match t.recv(&mut buf, Instant::now() + Duration::from_millis(20)) {
            Ok(n) => {
                first_byte.get_or_insert_with(Instant::now);
                last_byte = Instant::now();
                let data = faults.incoming(&buf[..n]);
                handle(Some(&data), &mut out)
            }
            Err(TransportError::Timeout) => {
                // usbdbg's parser forgets a partial command after an idle second.
                let idle = last_byte.elapsed() > Duration::from_secs(1);
                if idle {
                    last_byte = Instant::now();
                }
                handle(if idle { None } else { Some(&[]) }, &mut out)
            }
            Err(TransportError::Disconnected(why)) => return Ok(ServeEnd::Disconnected(why)),
            Err(e) => return Err(e),
        };
        if !out.is_empty() {
            let bytes = faults.outgoing(&out);
            out.clear();
            match t.send(&bytes, Instant::now() + Duration::from_secs(2)) {
                Ok(()) => {}
                // A host that stopped reading: drop the reply as a USB device would.
                Err(TransportError::Timeout) => {
                    tracing::warn!("host is not reading; dropped {} bytes", bytes.len())
                }
                Err(TransportError::Disconnected(why)) => return Ok(ServeEnd::Disconnected(why)),
                Err(e) => return Err(e),
            }
        }
        if flow == Flow::Gone {
            return Ok(ServeEnd::Disconnected("the device went away".into()));
        }
    }
}
