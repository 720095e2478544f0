//! The one way to start a virtual camera: a [`VirtualUnit`] served on its own thread over
//! a pseudo-terminal or, on Linux, as a USB device through the kernel's USB/IP host
//! controller. `visreg sim`, `visreg run --camera sim`, the lab's virtual cameras and the
//! tests all start it here; dropping the handle stops it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use visreg_firmware::transport::PtyDevice;

use crate::faults::FaultSpec;
use crate::serve::ServeEnd;
use crate::unit::VirtualUnit;

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The pseudo-terminal failed.
    #[error(transparent)]
    Transport(#[from] visreg_firmware::transport::TransportError),
    /// The USB side failed.
    #[cfg(unix)]
    #[error(transparent)]
    Usb(#[from] crate::usb::UsbSimError),
}

/// How it ended, or why it could not serve.
pub type Ended = Result<ServeEnd, ServeError>;

/// A virtual camera being served.
pub struct ServedCamera {
    port: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Ended>>,
}

/// Why a virtual camera could not start.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// No pseudo-terminal.
    #[error("opening a pseudo-terminal for the virtual camera: {0}")]
    Pty(std::io::Error),
    /// The USB camera did not come up.
    #[error("the virtual USB camera did not come up: {0}")]
    Usb(String),
}

impl ServedCamera {
    /// Serves `unit` on a new pseudo-terminal with `faults`.
    pub fn pty(unit: Arc<VirtualUnit>, faults: FaultSpec) -> Result<Self, LaunchError> {
        let mut pty = PtyDevice::open().map_err(LaunchError::Pty)?;
        let port = pty.path().display().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread =
            std::thread::spawn(move || unit.serve(&mut pty, &faults, &s).map_err(ServeError::from));
        Ok(ServedCamera {
            port,
            stop,
            thread: Some(thread),
        })
    }

    /// Serves `unit` on the kernel's USB stack; returns once the kernel has bound it
    /// (its tty, or `usb BUS-PORT VID:PID SERIAL` for a bootloader) or within `up`.
    /// `on_event` sees every identity change.
    #[cfg(unix)]
    pub fn usb(
        unit: Arc<VirtualUnit>,
        faults: FaultSpec,
        opts: crate::usb::UsbOptions,
        up: Duration,
        on_event: Box<dyn Fn(&crate::usb::UsbEvent) + Send>,
    ) -> Result<Self, LaunchError> {
        use crate::usb::{serve_usb, UsbEvent};
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<String>();
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let tx = std::sync::Mutex::new(Some(tx));
            let first = |e: UsbEvent| {
                on_event(&e);
                let line = match &e {
                    UsbEvent::Attached(a) => Some(match &a.tty {
                        Some(tty) => tty.clone(),
                        None => format!("usb {} {:04X}:{:04X} {}", a.busid, a.vid, a.pid, a.serial),
                    }),
                    UsbEvent::NotEnumerated { busid } => Some(format!(
                        "usb {} not enumerated (descriptor-fail)",
                        busid.as_deref().unwrap_or("?")
                    )),
                    UsbEvent::Detached(_) => None,
                };
                if let Some(line) = line {
                    if let Some(tx) = tx.lock().unwrap_or_else(|p| p.into_inner()).take() {
                        let _ = tx.send(line);
                    }
                }
            };
            serve_usb(&unit, &faults, &opts, &s, &first).map_err(ServeError::from)
        });
        let mut cam = ServedCamera {
            port: String::new(),
            stop,
            thread: Some(thread),
        };
        match rx.recv_timeout(up) {
            Ok(line) => {
                cam.port = line;
                Ok(cam)
            }
            Err(_) => {
                let why = match cam.stop_and_join() {
                    Some(Err(e)) => e.to_string(),
                    Some(Ok(end)) => format!("it stopped ({end:?}) before the kernel bound it"),
                    None => format!("the kernel did not bind it within {up:?}"),
                };
                Err(LaunchError::Usb(why))
            }
        }
    }

    /// The port to open (or, for a USB bootloader, its `usb …` line).
    pub fn port(&self) -> &str {
        &self.port
    }

    /// The stop flag (set it from a signal handler).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Waits until serving ends by itself or the stop flag is set.
    pub fn join(mut self) -> Option<Ended> {
        self.thread.take().and_then(|h| h.join().ok())
    }

    fn stop_and_join(&mut self) -> Option<Ended> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|h| h.join().ok())
    }

    /// Stops it and says how it ended.
    pub fn stop(mut self) -> Option<Ended> {
        self.stop_and_join()
    }
}

impl Drop for ServedCamera {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
