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
    /// The port's descriptor, for `tcdrain` (see [`SerialTransport::drain`]).
    #[cfg(unix)]
    fd: std::os::fd::RawFd,
    name: String,
}

impl SerialTransport {
    /// Opens `path` at `baud` with DTR asserted.
    pub fn open(path: &str, baud: u32) -> Result<Self, TransportError> {
        let port = serialport::new(path, baud)
            .timeout(Duration::from_millis(20))
            .dtr_on_open(true)
            .open_native()
            .map_err(|e| match e.kind() {
                serialport::ErrorKind::NoDevice => {
                    TransportError::Disconnected(format!("{path}: no such port ({e})"))
                }
                _ => TransportError::Io(std::io::Error::other(format!("{path}: {e}"))),
            })?;
        Ok(SerialTransport {
            #[cfg(unix)]
            fd: std::os::fd::AsRawFd::as_raw_fd(&port),
            port: Box::new(port),
            name: path.to_string(),
        })
    }

    /// Waits until the written bytes have left. On Unix this is `tcdrain` itself:
    /// serialport's `flush` reports every failure of it as "flush failed", without the
    /// errno, and the errno is what tells a port that vanished mid-write (EIO: a camera
    /// unplugged, a closed pseudo-terminal) from one the user may not open.
    fn drain(&mut self) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            // SAFETY: `fd` is the port's descriptor, open for as long as `self.port` is.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd) };
            nix::sys::termios::tcdrain(fd).map_err(std::io::Error::from)
        }
        #[cfg(not(unix))]
        {
            self.port.flush()
        }
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
        self.drain()
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

    #[test]
    fn a_dropped_device_disconnects_its_client_whatever_was_started_meanwhile() {
        // A program started while the device was open (here `sleep`; in the tests, the
        // other tests' binaries) must not keep the pseudo-terminal alive.
        let dev = PtyDevice::open().unwrap();
        let mut host = SerialTransport::open(dev.path().to_str().unwrap(), DEBUG_BAUD).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        drop(dev);
        let mut buf = [0u8; 16];
        let r = host.recv(&mut buf, Instant::now() + Duration::from_secs(2));
        let _ = child.kill();
        let _ = child.wait();
        assert!(matches!(r, Err(TransportError::Disconnected(_))), "{r:?}");
    }

    #[test]
    fn a_drain_on_a_vanished_port_is_a_disconnect_not_a_permission_problem() {
        // serialport's flush() said "flush failed" here, which read as an I/O error with
        // the permissions hint; the fault matrix met it when a disconnect fell between a
        // write and its drain.
        let dev = PtyDevice::open().unwrap();
        let mut host = SerialTransport::open(dev.path().to_str().unwrap(), DEBUG_BAUD).unwrap();
        host.drain().unwrap();
        drop(dev);
        let e = host.drain().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
        let t = host.classify(e);
        assert!(matches!(t, TransportError::Disconnected(_)), "{t:?}");
    }
}
