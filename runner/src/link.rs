//! The serial-port transport of a real camera (USB CDC), behind the same
//! [`Transport`] trait the virtual camera serves on. Opened at 921600 baud with DTR
//! asserted, which selects protocol v2 on firmware ≥ 5 (PROTOCOL.md).

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use visreg_firmware::transport::{Transport, TransportError};

/// The baud rate that selects the debug protocols.
pub const DEBUG_BAUD: u32 = 921_600;

/// A camera's serial port.
pub struct SerialTransport {
    port: Box<dyn serialport::SerialPort>,
    name: String,
}

impl SerialTransport {
    /// Opens `path` at `baud` with DTR asserted.
    pub fn open(path: &str, baud: u32) -> Result<Self, TransportError> {
        let port = serialport::new(path, baud)
            .timeout(Duration::from_millis(20))
            .dtr_on_open(true)
            .open()
            .map_err(|e| match e.kind() {
                serialport::ErrorKind::NoDevice => {
                    TransportError::Disconnected(format!("{path}: no such port ({e})"))
                }
                _ => TransportError::Io(std::io::Error::other(format!("{path}: {e}"))),
            })?;
        Ok(SerialTransport {
            port,
            name: path.to_string(),
        })
    }

    fn classify(&self, e: std::io::Error) -> TransportError {
        match e.kind() {
            // A signal (Ctrl-C's handler) interrupts poll() whatever SA_RESTART says: that
            // is a slice of the wait ending early, not a broken link — the caller's loop
            // retries until its deadline or sees the stop flag.
            ErrorKind::TimedOut | ErrorKind::WouldBlock | ErrorKind::Interrupted => {
                TransportError::Timeout
            }
            ErrorKind::BrokenPipe | ErrorKind::NotConnected | ErrorKind::UnexpectedEof => {
                TransportError::Disconnected(format!("{}: {e}", self.name))
            }
            // A vanished USB CDC port or a closed pseudo-terminal reads as EIO.
            _ if e.raw_os_error() == Some(5) => {
                TransportError::Disconnected(format!("{}: {e}", self.name))
            }
            _ => TransportError::Io(e),
        }
    }

    fn slice_timeout(&mut self, deadline: Instant) -> Result<(), TransportError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(TransportError::Timeout);
        }
        self.port
            .set_timeout(left.min(Duration::from_millis(100)))
            .map_err(|e| TransportError::Io(std::io::Error::other(e.to_string())))
    }
}

impl Transport for SerialTransport {
    fn send(&mut self, mut data: &[u8], deadline: Instant) -> Result<(), TransportError> {
        while !data.is_empty() {
            self.slice_timeout(deadline)?;
            match self.port.write(data) {
                Ok(0) => return Err(TransportError::Disconnected(self.name.clone())),
                Ok(n) => data = &data[n..],
                Err(e) => match self.classify(e) {
                    TransportError::Timeout => continue,
                    other => return Err(other),
                },
            }
        }
        self.port
            .flush()
            .map_err(|e| self.classify(e))
            .or_else(|e| match e {
                TransportError::Timeout => Ok(()),
                other => Err(other),
            })
    }

    fn recv(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
        loop {
            self.slice_timeout(deadline)?;
            match self.port.read(buf) {
                Ok(0) => continue,
                Ok(n) => return Ok(n),
                Err(e) => match self.classify(e) {
                    TransportError::Timeout => continue,
                    other => return Err(other),
                },
            }
        }
    }

    fn name(&self) -> String {
        self.name.clone()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use visreg_firmware::transport::PtyDevice;

    #[test]
    fn serial_transport_talks_to_a_pty_and_notices_it_vanish() {
        let mut dev = PtyDevice::open().unwrap();
        let mut host = SerialTransport::open(dev.path().to_str().unwrap(), DEBUG_BAUD).unwrap();
        host.send(b"ping", Instant::now() + Duration::from_secs(1))
            .unwrap();
        let mut buf = [0u8; 16];
        let n = dev
            .recv(&mut buf, Instant::now() + Duration::from_secs(1))
            .unwrap();
        assert_eq!(&buf[..n], b"ping");
        dev.send(b"pong", Instant::now() + Duration::from_secs(1))
            .unwrap();
        let n = host
            .recv(&mut buf, Instant::now() + Duration::from_secs(1))
            .unwrap();
        assert_eq!(&buf[..n], b"pong");
        let t0 = Instant::now();
        assert!(matches!(
            host.recv(&mut buf, Instant::now() + Duration::from_millis(150)),
            Err(TransportError::Timeout)
        ));
        assert!(t0.elapsed() < Duration::from_secs(1));
        drop(dev);
        let r = host.recv(&mut buf, Instant::now() + Duration::from_secs(2));
        assert!(matches!(r, Err(TransportError::Disconnected(_))), "{r:?}");
    }
}
