//! One transport trait for bytes, with every wait under a deadline, and the two
//! transports the virtual camera serves on: an in-memory pipe (unit tests) and a
//! pseudo-terminal (what a real client opens like a USB CDC port). The serial-port
//! transport of a real camera lives in the runner and implements the same trait; nothing
//! above it knows whether a camera is real.

use std::io;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Instant;

/// Why a transport call failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Nothing arrived (or could be sent) before the deadline.
    #[error("timed out")]
    Timeout,
    /// The other end is gone (port closed, camera unplugged).
    #[error("disconnected: {0}")]
    Disconnected(String),
    /// Any other I/O failure.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A byte stream to or from a camera.
pub trait Transport: Send {
    /// Writes all of `data`, failing with [`TransportError::Timeout`] past `deadline`.
    fn send(&mut self, data: &[u8], deadline: Instant) -> Result<(), TransportError>;
    /// Reads at least one byte into `buf`, waiting until `deadline`; returns how many.
    fn recv(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError>;
    /// What to call this transport in messages (a port path, "memory", …).
    fn name(&self) -> String;
    /// Whether each [`Transport::send`] of the other end arrives as one
    /// [`Transport::recv`] here, as a USB transfer does: true for the in-memory pipe (the
    /// reader's buffer permitting), false for a pseudo-terminal or serial port, which may
    /// join two writes or split one. The virtual camera models the STM32 boards' one
    /// header per USB packet only where this holds.
    fn keeps_writes(&self) -> bool {
        false
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn send(&mut self, data: &[u8], deadline: Instant) -> Result<(), TransportError> {
        (**self).send(data, deadline)
    }
    fn recv(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
        (**self).recv(buf, deadline)
    }
    fn name(&self) -> String {
        (**self).name()
    }
    fn keeps_writes(&self) -> bool {
        (**self).keeps_writes()
    }
}

/// One end of an in-memory pipe.
pub struct MemoryTransport {
    name: String,
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
    pending: Vec<u8>,
    pos: usize,
}

/// A connected pair of in-memory transports (host end, device end).
pub fn memory_pair(name: &str) -> (MemoryTransport, MemoryTransport) {
    let (a_tx, b_rx) = mpsc::channel();
    let (b_tx, a_rx) = mpsc::channel();
    (
        MemoryTransport {
            name: format!("{name} (host end)"),
            tx: a_tx,
            rx: a_rx,
            pending: Vec::new(),
            pos: 0,
        },
        MemoryTransport {
            name: format!("{name} (device end)"),
            tx: b_tx,
            rx: b_rx,
            pending: Vec::new(),
            pos: 0,
        },
    )
}

impl Transport for MemoryTransport {
    fn send(&mut self, data: &[u8], _deadline: Instant) -> Result<(), TransportError> {
        if data.is_empty() {
            return Ok(());
        }
        self.tx.send(data.to_vec()).map_err(|_| {
            TransportError::Disconnected(format!("{}: the other end is closed", self.name))
        })
    }

    fn recv(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
        if self.pos >= self.pending.len() {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(wait) {
                Ok(chunk) => {
                    self.pending = chunk;
                    self.pos = 0;
                }
                Err(RecvTimeoutError::Timeout) => return Err(TransportError::Timeout),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(TransportError::Disconnected(format!(
                        "{}: the other end is closed",
                        self.name
                    )))
                }
            }
        }
        let n = buf.len().min(self.pending.len() - self.pos);
        buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn keeps_writes(&self) -> bool {
        true
    }
}

#[cfg(unix)]
pub use pty::PtyDevice;

#[cfg(unix)]
mod pty {
    use std::os::fd::{AsFd, AsRawFd, OwnedFd};
    use std::path::PathBuf;
    use std::time::Instant;

    use nix::errno::Errno;
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::termios;

    use super::{Transport, TransportError};

    /// The device side of a pseudo-terminal: the virtual camera reads and writes the
    /// master; a client opens [`PtyDevice::path`] as it would `/dev/ttyACM0`.
    pub struct PtyDevice {
        master: OwnedFd,
        // Held open so the master does not see EIO between client connections, as a USB
        // CDC port stays present while no program has it open.
        _slave: OwnedFd,
        path: PathBuf,
    }

    impl PtyDevice {
        /// Opens a new pseudo-terminal in raw mode.
        pub fn open() -> std::io::Result<Self> {
            let (master, slave) = open_pair()?;
            // Raw mode: no echo (the line discipline would send our replies back to us),
            // no CR/LF translation, no signals.
            let mut attrs = termios::tcgetattr(&slave).map_err(std::io::Error::from)?;
            termios::cfmakeraw(&mut attrs);
            termios::tcsetattr(&slave, termios::SetArg::TCSANOW, &attrs)
                .map_err(std::io::Error::from)?;
            let path = nix::unistd::ttyname(&slave).map_err(std::io::Error::from)?;
            let flags = nix::fcntl::fcntl(master.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)
                .map_err(std::io::Error::from)?;
            let mut oflags = nix::fcntl::OFlag::from_bits_truncate(flags);
            oflags.insert(nix::fcntl::OFlag::O_NONBLOCK);
            nix::fcntl::fcntl(master.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(oflags))
                .map_err(std::io::Error::from)?;
            Ok(PtyDevice {
                master,
                _slave: slave,
                path,
            })
        }

        /// The path a client opens.
        pub fn path(&self) -> &std::path::Path {
            &self.path
        }

        fn wait(&self, flags: PollFlags, deadline: Instant) -> Result<(), TransportError> {
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(TransportError::Timeout);
                }
                let ms = left.as_millis().clamp(1, 60_000) as u16;
                let mut fds = [PollFd::new(self.master.as_fd(), flags)];
                match poll(&mut fds, PollTimeout::from(ms)) {
                    Ok(0) => continue,
                    Ok(_) => return Ok(()),
                    Err(Errno::EINTR) => continue,
                    Err(e) => return Err(TransportError::Io(e.into())),
                }
            }
        }
    }

    /// A pseudo-terminal's master and slave, both close-on-exec from the start. openpty()
    /// leaves them inheritable: a program started meanwhile by any thread (a second
    /// virtual camera, a test's binary) kept a copy open, so dropping the device did not
    /// disconnect its client — the client waited for a reply instead of seeing EIO.
    #[cfg(target_os = "linux")]
    fn open_pair() -> std::io::Result<(OwnedFd, OwnedFd)> {
        use nix::fcntl::OFlag;
        use std::os::fd::{FromRawFd, IntoRawFd};
        let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
        nix::pty::grantpt(&master)?;
        nix::pty::unlockpt(&master)?;
        let name = nix::pty::ptsname_r(&master)?;
        let slave = nix::fcntl::open(
            name.as_str(),
            OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?;
        // SAFETY: both descriptors were just opened here and are owned by nothing else.
        Ok(unsafe {
            (
                OwnedFd::from_raw_fd(master.into_raw_fd()),
                OwnedFd::from_raw_fd(slave),
            )
        })
    }

    /// As above; elsewhere openpty() and then close-on-exec, with a short window between.
    #[cfg(not(target_os = "linux"))]
    fn open_pair() -> std::io::Result<(OwnedFd, OwnedFd)> {
        let pair = nix::pty::openpty(None, None)?;
        for fd in [&pair.master, &pair.slave] {
            nix::fcntl::fcntl(
                fd.as_raw_fd(),
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            )?;
        }
        Ok((pair.master, pair.slave))
    }

    impl Transport for PtyDevice {
        fn send(&mut self, mut data: &[u8], deadline: Instant) -> Result<(), TransportError> {
            while !data.is_empty() {
                match nix::unistd::write(&self.master, data) {
                    Ok(n) => data = &data[n..],
                    Err(Errno::EAGAIN) => self.wait(PollFlags::POLLOUT, deadline)?,
                    Err(Errno::EINTR) => {}
                    Err(Errno::EIO) => return Err(TransportError::Disconnected(self.name())),
                    Err(e) => return Err(TransportError::Io(e.into())),
                }
            }
            Ok(())
        }

        fn recv(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
            loop {
                match nix::unistd::read(self.master.as_raw_fd(), buf) {
                    Ok(0) => return Err(TransportError::Disconnected(self.name())),
                    Ok(n) => return Ok(n),
                    Err(Errno::EAGAIN) => self.wait(PollFlags::POLLIN, deadline)?,
                    Err(Errno::EINTR) => {}
                    Err(Errno::EIO) => return Err(TransportError::Disconnected(self.name())),
                    Err(e) => return Err(TransportError::Io(e.into())),
                }
            }
        }

        fn name(&self) -> String {
            self.path.display().to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn memory_pipe_carries_bytes_and_times_out() {
        let (mut host, mut dev) = memory_pair("t");
        host.send(b"hello", Instant::now()).unwrap();
        let mut buf = [0u8; 3];
        let n = dev
            .recv(&mut buf, Instant::now() + Duration::from_secs(1))
            .unwrap();
        assert_eq!(&buf[..n], b"hel");
        let n = dev
            .recv(&mut buf, Instant::now() + Duration::from_secs(1))
            .unwrap();
        assert_eq!(&buf[..n], b"lo");
        let t0 = Instant::now();
        assert!(matches!(
            dev.recv(&mut buf, Instant::now() + Duration::from_millis(30)),
            Err(TransportError::Timeout)
        ));
        assert!(t0.elapsed() >= Duration::from_millis(25));
        drop(host);
        assert!(matches!(
            dev.recv(&mut buf, Instant::now() + Duration::from_secs(1)),
            Err(TransportError::Disconnected(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn pty_is_raw_both_ways() {
        use std::io::{Read, Write};
        let mut dev = PtyDevice::open().unwrap();
        let mut client = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(dev.path())
            .unwrap();
        let payload: Vec<u8> = (0..=255u8).collect();
        client.write_all(&payload).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while got.len() < payload.len() {
            let n = dev
                .recv(&mut buf, Instant::now() + Duration::from_secs(2))
                .unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, payload, "no byte translated");
        dev.send(&payload, Instant::now() + Duration::from_secs(2))
            .unwrap();
        let mut back = vec![0u8; payload.len()];
        client.read_exact(&mut back).unwrap();
        assert_eq!(back, payload);
        // Nothing echoed back to the device.
        assert!(matches!(
            dev.recv(&mut buf, Instant::now() + Duration::from_millis(50)),
            Err(TransportError::Timeout)
        ));
    }
}
