//! The host side of protocol v1 (usbdbg, firmware 4.x): fixed-size requests and replies,
//! each under a deadline.

use std::time::{Duration, Instant};

use visreg_firmware::protocol::v1::{cmd, Header};
use visreg_firmware::transport::{Transport, TransportError};

use super::{ClientError, ErrorKind, Frame};

/// A connected protocol v1 camera.
pub struct V1Client<T: Transport> {
    t: T,
    port: String,
    timeout: Duration,
    /// Firmware version.
    pub version: [u32; 3],
    /// Architecture string (`OMV4 H7 1024 [H7:…]`).
    pub arch: String,
}

impl<T: Transport> V1Client<T> {
    /// Connects: reads the version and the architecture string.
    pub fn connect(t: T, timeout: Duration) -> Result<Self, ClientError> {
        let port = t.name();
        let mut c = V1Client {
            t,
            port,
            timeout,
            version: [0; 3],
            arch: String::new(),
        };
        let v = c.read(cmd::FW_VERSION, 12, "read the version")?;
        c.version = [word(&v, 0), word(&v, 1), word(&v, 2)];
        let a = c.read(cmd::ARCH_STR, 64, "read the architecture")?;
        c.arch = String::from_utf8_lossy(&a)
            .trim_end_matches('\0')
            .to_string();
        Ok(c)
    }

    fn err(&self, step: &str, e: TransportError) -> ClientError {
        ClientError {
            port: self.port.clone(),
            step: step.to_string(),
            kind: match e {
                TransportError::Timeout => ErrorKind::Timeout,
                TransportError::Disconnected(_) => ErrorKind::Disconnected,
                TransportError::Io(e) => ErrorKind::Io(e.to_string()),
            },
        }
    }

    fn read(&mut self, command: u8, length: u32, step: &str) -> Result<Vec<u8>, ClientError> {
        self.t
            .send(
                &Header { command, length }.encode(),
                Instant::now() + self.timeout,
            )
            .map_err(|e| self.err(step, e))?;
        let mut out = Vec::with_capacity(length as usize);
        let mut buf = vec![0u8; 16 * 1024];
        let deadline = Instant::now() + self.timeout + Duration::from_micros(u64::from(length) * 2);
        while out.len() < length as usize {
            let want = (length as usize - out.len()).min(buf.len());
            let n = self
                .t
                .recv(&mut buf[..want], deadline)
                .map_err(|e| self.err(step, e))?;
            out.extend_from_slice(&buf[..n]);
        }
        Ok(out)
    }

    /// Sends a host-to-device command: the header in a write of its own, then the data
    /// in another. An STM32 4.x camera reads one header per USB packet and drops the rest
    /// of that packet (`usbd_cdc_receive`, `ports/stm32/usbd_cdc_interface.c` in
    /// openmv/micropython at the commits openmv v4.5.9 and v4.8.1 pin), so data sent with
    /// its header is lost and the port then takes the next header as data. Separate writes
    /// are separate USB transfers on a real port.
    fn write(&mut self, command: u8, data: &[u8], step: &str) -> Result<(), ClientError> {
        let header = Header {
            command,
            length: data.len() as u32,
        }
        .encode();
        self.t
            .send(&header, Instant::now() + self.timeout * 3)
            .map_err(|e| self.err(step, e))?;
        if data.is_empty() {
            return Ok(());
        }
        self.t
            .send(data, Instant::now() + self.timeout * 3)
            .map_err(|e| self.err(step, e))
    }

    /// Waits until the camera reports no running script, polling SCRIPT_RUNNING for
    /// up to `within`.
    fn await_idle(&mut self, step: &str, within: Duration) -> Result<(), ClientError> {
        let t0 = Instant::now();
        while self.script_running()? {
            if t0.elapsed() >= within {
                return Err(ClientError {
                    port: self.port.clone(),
                    step: step.to_string(),
                    kind: ErrorKind::StillRunning(t0.elapsed()),
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    /// Runs `script`, once the previous one is over: usbdbg ignores SCRIPT_EXEC while its
    /// running flag is set, and that flag clears only in the soft reset after a script
    /// ends (`usbdbg_data_out`, `src/omv/common/usbdbg.c` v4.5.9 and `common/usbdbg.c`
    /// v4.8.1; `usbdbg_init` in the soft reset of `ports/stm32/main.c`). As the OpenMV IDE
    /// does, a script whose length is a multiple of 64 gets a newline appended (a full last
    /// USB packet would otherwise stall the device).
    pub fn exec(&mut self, script: &str) -> Result<(), ClientError> {
        self.await_idle("run a script (wait for the last one to end)", IDLE_WAIT)?;
        let mut s = script.as_bytes().to_vec();
        if s.len() % 64 == 0 {
            s.push(b'\n');
        }
        self.write(cmd::SCRIPT_EXEC, &s, "run a script")
    }

    /// Resets the camera into its bootloader (SYS_RESET_TO_BL) and gives the transport back.
    pub fn reset_to_bootloader(mut self) -> Result<T, ClientError> {
        match self.write(cmd::SYS_RESET_TO_BL, &[], "enter the bootloader") {
            Ok(()) => Ok(self.t),
            // A USB camera may drop off the bus before the write's flush returns: the
            // reset worked; the flasher waits for the bootloader under its deadline.
            Err(ClientError {
                kind: ErrorKind::Disconnected | ErrorKind::Io(_),
                ..
            }) => Ok(self.t),
            Err(e) => Err(e),
        }
    }

    /// Stops the script and waits until the camera reports none running.
    pub fn stop(&mut self) -> Result<(), ClientError> {
        self.write(cmd::SCRIPT_STOP, &[], "stop the script")?;
        self.await_idle("stop the script", IDLE_WAIT)
    }

    /// Whether a script runs.
    pub fn script_running(&mut self) -> Result<bool, ClientError> {
        Ok(word(
            &self.read(cmd::SCRIPT_RUNNING, 4, "ask whether a script runs")?,
            0,
        ) != 0)
    }

    /// Reads what the script printed.
    pub fn read_stdout(&mut self) -> Result<String, ClientError> {
        let n = word(&self.read(cmd::TX_BUF_LEN, 4, "read stdout (length)")?, 0);
        if n == 0 {
            return Ok(String::new());
        }
        let b = self.read(cmd::TX_BUF, n, "read stdout")?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    /// Reads the framebuffer; `None` when there is none.
    pub fn read_frame(&mut self) -> Result<Option<Frame>, ClientError> {
        let s = self.read(cmd::FRAME_SIZE, 12, "read a frame (size)")?;
        let (w, h, size) = (word(&s, 0), word(&s, 1), word(&s, 2));
        if w == 0 || h == 0 {
            return Ok(None);
        }
        let (len, pixfmt) = match size {
            0..=3 => (
                w * h * size.max(1),
                if size == 2 { 0x0C03_0002 } else { 0x0802_0001 },
            ),
            n => (n, 0x0606_0000),
        };
        let data = self.read(cmd::FRAME_DUMP, len, "read a frame")?;
        Ok(Some(Frame {
            width: w,
            height: h,
            pixfmt,
            data,
        }))
    }
}

/// How long a script may take to end (and the soft reset after it) before `exec` or
/// `stop` gives up: the workload scripts end on their own within a frame's processing.
pub const IDLE_WAIT: Duration = Duration::from_secs(10);

fn word(b: &[u8], i: usize) -> u32 {
    b.get(i * 4..i * 4 + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}
