//! The virtual camera as a real USB device: the device side of USB/IP
//! (Linux `Documentation/usb/usbip_protocol.rst`), attached to the kernel's own USB/IP host
//! controller (`vhci_hcd`) through an `AF_UNIX` socket pair — no network, no usbip tools.
//! The kernel's USB stack is real from there on: `usbcore` enumerates the device,
//! `cdc_acm` binds its serial port, usbfs serves `nusb`, libusb and `dfu-util`. This
//! process answers every URB itself, so a control transfer's data stage is answered only
//! once the device model has handled it.
//!
//! [`wire`] is the pure codec; [`serve_attached`] answers the URBs of one attachment for
//! any [`UsbFunction`] (standard requests here, class requests and bulk data in the
//! function); [`Vhci`] attaches and detaches through sysfs.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use visreg_firmware::usb::{dtype, Speed, LANGUAGES};

/// The USB/IP wire format, pure.
pub mod wire {
    /// USBIP_CMD_SUBMIT.
    pub const CMD_SUBMIT: u32 = 1;
    /// USBIP_CMD_UNLINK.
    pub const CMD_UNLINK: u32 = 2;
    /// USBIP_RET_SUBMIT.
    pub const RET_SUBMIT: u32 = 3;
    /// USBIP_RET_UNLINK.
    pub const RET_UNLINK: u32 = 4;
    /// Every command header is 48 bytes.
    pub const HEADER: usize = 48;
    /// -EPIPE: the endpoint stalled.
    pub const EPIPE: i32 = -32;
    /// -ECONNRESET: an unlinked URB.
    pub const ECONNRESET: i32 = -104;
    /// -ESHUTDOWN: the device is going away.
    pub const ESHUTDOWN: i32 = -108;
    /// -EPROTO: a protocol error on the bus (what a dying device answers).
    pub const EPROTO: i32 = -71;

    /// A CMD_SUBMIT: one URB.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Submit {
        /// Sequence number (the kernel's).
        pub seq: u32,
        /// Device to host.
        pub dir_in: bool,
        /// Endpoint number (without the direction bit).
        pub ep: u8,
        /// transfer_buffer_length.
        pub length: u32,
        /// The setup packet (control transfers).
        pub setup: [u8; 8],
        /// Host-to-device data.
        pub data: Vec<u8>,
    }

    /// A command from the kernel.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Command {
        /// Submit a URB.
        Submit(Submit),
        /// Cancel the URB `victim`.
        Unlink {
            /// This command's sequence number.
            seq: u32,
            /// The URB to cancel.
            victim: u32,
        },
    }

    /// Why the stream is not USB/IP.
    #[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
    pub enum WireError {
        /// An unknown command code.
        #[error("unknown USB/IP command 0x{0:08X}")]
        Command(u32),
        /// Isochronous transfers: no OpenMV identity has them.
        #[error("isochronous URB ({0} packets): not supported")]
        Iso(u32),
    }

    fn be(b: &[u8], i: usize) -> u32 {
        u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
    }

    /// Takes one whole command off the front of `buf`; `None` until one is there.
    pub fn take_command(buf: &mut Vec<u8>) -> Result<Option<Command>, WireError> {
        if buf.len() < HEADER {
            return Ok(None);
        }
        let (cmd, seq, dir, ep) = (be(buf, 0), be(buf, 4), be(buf, 12), be(buf, 16));
        match cmd {
            CMD_SUBMIT => {
                let length = be(buf, 24);
                let packets = be(buf, 32);
                if packets != 0 && packets != u32::MAX {
                    return Err(WireError::Iso(packets));
                }
                let dir_in = dir == 1;
                let data_len = if dir_in { 0 } else { length as usize };
                if buf.len() < HEADER + data_len {
                    return Ok(None);
                }
                let mut setup = [0u8; 8];
                setup.copy_from_slice(&buf[40..48]);
                let data = buf[HEADER..HEADER + data_len].to_vec();
                buf.drain(..HEADER + data_len);
                Ok(Some(Command::Submit(Submit {
                    seq,
                    dir_in,
                    ep: ep as u8,
                    length,
                    setup,
                    data,
                })))
            }
            CMD_UNLINK => {
                let victim = be(buf, 20);
                buf.drain(..HEADER);
                Ok(Some(Command::Unlink { seq, victim }))
            }
            other => Err(WireError::Command(other)),
        }
    }

    /// A RET_SUBMIT: `status` (0 or a negative errno), the IN data, or for OUT the
    /// number of bytes taken.
    pub fn ret_submit(seq: u32, status: i32, in_data: Option<&[u8]>, out_actual: u32) -> Vec<u8> {
        let actual = in_data.map_or(out_actual, |d| d.len() as u32);
        let mut v = Vec::with_capacity(HEADER + in_data.map_or(0, <[u8]>::len));
        for w in [RET_SUBMIT, seq, 0, 0, 0] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        v.extend_from_slice(&status.to_be_bytes());
        for w in [actual, 0, 0, 0] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        v.extend_from_slice(&[0u8; 8]);
        if let Some(d) = in_data {
            v.extend_from_slice(d);
        }
        v
    }

    /// A RET_UNLINK.
    pub fn ret_unlink(seq: u32, status: i32) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER);
        for w in [RET_UNLINK, seq, 0, 0, 0] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        v.extend_from_slice(&status.to_be_bytes());
        v.extend_from_slice(&[0u8; 24]);
        v
    }
}

/// A setup packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    /// bmRequestType.
    pub request_type: u8,
    /// bRequest.
    pub request: u8,
    /// wValue.
    pub value: u16,
    /// wIndex.
    pub index: u16,
    /// wLength.
    pub length: u16,
}

impl Setup {
    /// Parses the 8 bytes.
    pub fn parse(b: &[u8; 8]) -> Self {
        Setup {
            request_type: b[0],
            request: b[1],
            value: u16::from_le_bytes([b[2], b[3]]),
            index: u16::from_le_bytes([b[4], b[5]]),
            length: u16::from_le_bytes([b[6], b[7]]),
        }
    }
}

/// How a function answers a request it does not take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// STALL (-EPIPE).
    Stall,
    /// The device is gone mid-transfer (-EPROTO), and detaches.
    Gone,
}

/// What the serving loop should do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Keep serving.
    Serve,
    /// Detach: the device changes identity (reboot, bootloader, power loss).
    Detach,
}

/// One USB identity of the camera: its descriptors, class requests and data.
pub trait UsbFunction {
    /// The 18-byte device descriptor.
    fn device_descriptor(&self) -> [u8; 18];
    /// The configuration descriptor with everything under it.
    fn configuration(&self) -> Vec<u8>;
    /// String `index` (1…).
    fn string(&self, index: u8) -> Option<String>;
    /// Whether a GET_DESCRIPTOR(DEVICE) is stalled (the `descriptor-fail` fault).
    fn fail_device_descriptor(&self) -> bool {
        false
    }
    /// A class or vendor request on EP0; `Ok` carries the IN data (empty for OUT).
    fn class_request(&mut self, setup: &Setup, data: &[u8]) -> Result<Vec<u8>, Refusal>;
    /// SET_INTERFACE.
    fn set_interface(&mut self, interface: u16, alt: u16) -> Result<(), Refusal> {
        let _ = interface;
        if alt == 0 {
            Ok(())
        } else {
            Err(Refusal::Stall)
        }
    }
    /// The host reset the bus after the device was configured.
    fn bus_reset(&mut self) -> Next {
        Next::Serve
    }
    /// Bulk OUT data on endpoint `ep`.
    fn bulk_out(&mut self, ep: u8, data: &[u8]);
    /// Bulk IN on endpoint `ep`: up to `max` bytes if the device has any (`None` = NAK:
    /// the URB waits). Interrupt endpoints may also answer here.
    fn bulk_in(&mut self, ep: u8, max: usize) -> Option<Vec<u8>>;
    /// Called between URBs (at least every few milliseconds): the device runs.
    fn poll(&mut self) -> Next;
}

/// How one attachment ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The stop flag was set.
    Stopped,
    /// The function asked to detach.
    Detach,
    /// The kernel closed the connection (detached, or the module went away).
    HostGone(String),
}

/// Answers URBs on `sock` for `f` until it asks to detach, `stop` is set or the kernel
/// goes away.
pub fn serve_attached(
    sock: &mut UnixStream,
    f: &mut dyn UsbFunction,
    stop: &AtomicBool,
) -> Result<End, std::io::Error> {
    sock.set_read_timeout(Some(Duration::from_millis(2)))?;
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut pending: VecDeque<wire::Submit> = VecDeque::new();
    let mut configured = false;
    let mut config_value = 0u8;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(End::Stopped);
        }
        match sock.read(&mut chunk) {
            Ok(0) => {
                return Ok(End::HostGone(
                    "the kernel closed the USB/IP connection".into(),
                ))
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => return Ok(End::HostGone(e.to_string())),
        }
        let mut detach = false;
        loop {
            let cmd = match wire::take_command(&mut buf) {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => {
                    return Err(std::io::Error::new(ErrorKind::InvalidData, e.to_string()));
                }
            };
            match cmd {
                wire::Command::Unlink { seq, victim } => {
                    let status = match pending.iter().position(|u| u.seq == victim) {
                        Some(i) => {
                            pending.remove(i);
                            wire::ECONNRESET
                        }
                        None => 0,
                    };
                    sock.write_all(&wire::ret_unlink(seq, status))?;
                }
                wire::Command::Submit(urb) if urb.ep == 0 => {
                    let setup = Setup::parse(&urb.setup);
                    let result = control(f, &setup, &urb.data, &mut configured, &mut config_value);
                    let reply = match &result {
                        Ok(data) if urb.dir_in => {
                            let n = data.len().min(urb.length as usize);
                            wire::ret_submit(urb.seq, 0, Some(&data[..n]), 0)
                        }
                        Ok(_) => wire::ret_submit(urb.seq, 0, None, urb.data.len() as u32),
                        Err(Control::Stall) => {
                            wire::ret_submit(urb.seq, wire::EPIPE, urb.dir_in.then_some(&[][..]), 0)
                        }
                        Err(Control::Gone) => wire::ret_submit(
                            urb.seq,
                            wire::EPROTO,
                            urb.dir_in.then_some(&[][..]),
                            0,
                        ),
                        Err(Control::Reset) => wire::ret_submit(
                            urb.seq,
                            wire::EPROTO,
                            urb.dir_in.then_some(&[][..]),
                            0,
                        ),
                    };
                    sock.write_all(&reply)?;
                    if matches!(result, Err(Control::Gone) | Err(Control::Reset)) {
                        detach = true;
                    }
                }
                wire::Command::Submit(urb) if !urb.dir_in => {
                    f.bulk_out(urb.ep, &urb.data);
                    sock.write_all(&wire::ret_submit(urb.seq, 0, None, urb.data.len() as u32))?;
                }
                wire::Command::Submit(urb) => pending.push_back(urb),
            }
        }
        if detach || f.poll() == Next::Detach {
            // The device leaves the bus: outstanding URBs die with it.
            for urb in pending.drain(..) {
                sock.write_all(&wire::ret_submit(urb.seq, wire::ESHUTDOWN, Some(&[]), 0))?;
            }
            return Ok(End::Detach);
        }
        // Complete waiting IN URBs in order, per endpoint, while the device has data.
        let mut i = 0;
        while i < pending.len() {
            let (ep, len) = (pending[i].ep, pending[i].length as usize);
            match f.bulk_in(ep, len) {
                Some(data) => {
                    let urb = pending.remove(i).expect("index in range");
                    sock.write_all(&wire::ret_submit(urb.seq, 0, Some(&data), 0))?;
                }
                None => i += 1,
            }
        }
    }
}

enum Control {
    Stall,
    Gone,
    Reset,
}

fn control(
    f: &mut dyn UsbFunction,
    s: &Setup,
    data: &[u8],
    configured: &mut bool,
    config_value: &mut u8,
) -> Result<Vec<u8>, Control> {
    let standard = s.request_type & 0x60 == 0;
    if !standard {
        return f.class_request(s, data).map_err(|r| match r {
            Refusal::Stall => Control::Stall,
            Refusal::Gone => Control::Gone,
        });
    }
    match (s.request_type, s.request) {
        (0x80, 6) => {
            let (kind, index) = ((s.value >> 8) as u8, s.value as u8);
            match kind {
                dtype::DEVICE => {
                    if f.fail_device_descriptor() {
                        return Err(Control::Stall);
                    }
                    // usbcore's first read after a port reset asks for 64 bytes at
                    // address 0; seen again on a configured device, the host reset it.
                    if s.length == 64 && *configured {
                        *configured = false;
                        if f.bus_reset() == Next::Detach {
                            return Err(Control::Reset);
                        }
                    }
                    Ok(f.device_descriptor().to_vec())
                }
                dtype::CONFIGURATION => Ok(f.configuration()),
                dtype::STRING if index == 0 => Ok(LANGUAGES.to_vec()),
                dtype::STRING => f
                    .string(index)
                    .map(|s| visreg_firmware::usb::string_descriptor(&s))
                    .ok_or(Control::Stall),
                // A full-speed device stalls DEVICE_QUALIFIER (USB 2.0 §9.6.2).
                _ => Err(Control::Stall),
            }
        }
        (0x80, 0) | (0x81, 0) | (0x82, 0) => Ok(vec![0, 0]),
        (0x80, 8) => Ok(vec![*config_value]),
        (0x00, 9) => {
            *config_value = s.value as u8;
            *configured = s.value != 0;
            Ok(Vec::new())
        }
        (0x01, 11) => f
            .set_interface(s.index, s.value)
            .map(|_| Vec::new())
            .map_err(|_| Control::Stall),
        (0x81, 10) => Ok(vec![0]),
        // CLEAR_FEATURE / SET_FEATURE (endpoint halt, remote wakeup): nothing to keep.
        (0x00..=0x02, 1 | 3) => Ok(Vec::new()),
        _ => Err(Control::Stall),
    }
}

/// The kernel's USB/IP virtual host controller, `vhci_hcd`, through sysfs.
pub struct Vhci {
    dir: PathBuf,
}

/// Why the kernel's USB/IP host controller cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum VhciError {
    /// No vhci_hcd.
    #[error("the kernel's USB/IP host controller is not there ({0} is missing): load it with `modprobe vhci-hcd` (Linux only; needs root)")]
    Missing(String),
    /// Every high-speed port is taken.
    #[error("every USB 2.0 port of vhci_hcd is in use ({0})")]
    Full(String),
    /// sysfs refused.
    #[error("{what}: {source} (attaching a USB/IP device needs root)")]
    Io {
        /// What was being done.
        what: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A device on a vhci port.
pub struct Attachment {
    /// Our end of the USB/IP stream.
    pub sock: UnixStream,
    /// The vhci port number.
    pub port: u32,
}

impl Vhci {
    /// The first vhci_hcd controller.
    pub fn open() -> Result<Self, VhciError> {
        let dir = PathBuf::from("/sys/devices/platform/vhci_hcd.0");
        if !dir.join("attach").exists() {
            return Err(VhciError::Missing(dir.join("attach").display().to_string()));
        }
        Ok(Vhci { dir })
    }

    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> VhciError {
        let what = what.into();
        move |source| VhciError::Io { what, source }
    }

    /// The ports of the USB 2.0 hub and whether each is free (`status`: "hs PORT STA …",
    /// STA 004 = VDEV_ST_NULL).
    pub fn ports(&self) -> Result<Vec<(u32, bool)>, VhciError> {
        let text = std::fs::read_to_string(self.dir.join("status"))
            .map_err(Self::io("reading vhci_hcd status"))?;
        Ok(parse_status(&text))
    }

    /// A free USB 2.0 port, preferring `want`.
    pub fn free_port(&self, want: Option<u32>) -> Result<u32, VhciError> {
        let ports = self.ports()?;
        if let Some(w) = want {
            if ports.iter().any(|&(p, free)| p == w && free) {
                return Ok(w);
            }
        }
        ports
            .iter()
            .find(|(_, free)| *free)
            .map(|(p, _)| *p)
            .ok_or_else(|| VhciError::Full(format!("{} ports", ports.len())))
    }

    /// Attaches a device of `speed` on `port`: the kernel takes one end of a socket pair.
    pub fn attach(&self, port: u32, devid: u32, speed: Speed) -> Result<Attachment, VhciError> {
        use std::os::fd::AsRawFd;
        let (ours, kernels) = UnixStream::pair().map_err(Self::io("making a socket pair"))?;
        let code = match speed {
            Speed::Full => 2,
            Speed::High => 3,
        };
        let line = format!("{port} {} {devid} {code}", kernels.as_raw_fd());
        std::fs::write(self.dir.join("attach"), line)
            .map_err(Self::io(format!("attaching to vhci_hcd port {port}")))?;
        // The kernel holds its own reference to the socket now.
        drop(kernels);
        Ok(Attachment { sock: ours, port })
    }

    /// Detaches the device on `port` (as an unplug) and waits until the port is free.
    pub fn detach(&self, port: u32) -> Result<(), VhciError> {
        let t0 = Instant::now();
        let _ = std::fs::write(self.dir.join("detach"), port.to_string());
        let until = t0 + Duration::from_secs(5);
        while Instant::now() < until {
            if self.ports()?.iter().any(|&(p, free)| p == port && free) {
                tracing::debug!("vhci port {port} free after {:?}", t0.elapsed());
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        tracing::warn!("vhci port {port} still not free after {:?}", t0.elapsed());
        Ok(())
    }

    /// The USB bus id (`3-1`) of the device on `port`, once the kernel has one.
    pub fn busid(&self, port: u32) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.join("status")).ok()?;
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 7 && f[0] == "hs" && f[1].parse() == Ok(port) && f[6] != "0-0")
                .then(|| f[6].to_string())
        })
    }
}

/// Parses vhci_hcd's `status`: the USB 2.0 (`hs`) ports and whether each is free.
pub fn parse_status(text: &str) -> Vec<(u32, bool)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && f[0] == "hs")
                .then(|| Some((f[1].parse().ok()?, f[2] == "004")))
                .flatten()
        })
        .collect()
}

/// The tty the kernel's `cdc_acm` made for the USB device `busid`, if bound.
pub fn tty_of(busid: &str) -> Option<String> {
    let dev = Path::new("/sys/bus/usb/devices").join(busid);
    let mut ttys = Vec::new();
    for iface in std::fs::read_dir(&dev).ok()?.flatten() {
        if let Ok(entries) = std::fs::read_dir(iface.path().join("tty")) {
            for e in entries.flatten() {
                ttys.push(format!("/dev/{}", e.file_name().to_string_lossy()));
            }
        }
    }
    ttys.sort();
    ttys.into_iter().find(|t| Path::new(t).exists())
}

#[cfg(test)]
mod tests {
    use super::wire::*;
    use super::*;

    fn submit(seq: u32, dir_in: bool, ep: u32, len: u32, setup: [u8; 8], data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [
            CMD_SUBMIT,
            seq,
            0x0001_0002,
            u32::from(dir_in),
            ep,
            0,
            len,
            0,
            0,
            0,
        ] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        v.extend_from_slice(&setup);
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn commands_parse_in_pieces() {
        let mut stream = submit(7, false, 1, 3, [0; 8], &[1, 2, 3]);
        stream.extend(submit(8, true, 0, 18, [0x80, 6, 0, 1, 0, 0, 18, 0], &[]));
        let mut unlink = Vec::new();
        for w in [CMD_UNLINK, 9, 0, 0, 0, 8] {
            unlink.extend_from_slice(&w.to_be_bytes());
        }
        unlink.resize(HEADER, 0);
        stream.extend(unlink);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for b in stream {
            buf.push(b);
            if let Some(c) = take_command(&mut buf).unwrap() {
                got.push(c);
            }
        }
        assert_eq!(got.len(), 3);
        assert!(
            matches!(&got[0], Command::Submit(s) if s.seq == 7 && !s.dir_in && s.data == [1, 2, 3])
        );
        assert!(
            matches!(&got[1], Command::Submit(s) if s.dir_in && s.ep == 0 && Setup::parse(&s.setup).length == 18)
        );
        assert_eq!(got[2], Command::Unlink { seq: 9, victim: 8 });
        let r = ret_submit(8, 0, Some(&[1; 18]), 0);
        assert_eq!(
            (r.len(), &r[..4], &r[24..28]),
            (
                HEADER + 18,
                &RET_SUBMIT.to_be_bytes()[..],
                &18u32.to_be_bytes()[..]
            )
        );
        assert_eq!(ret_unlink(9, ECONNRESET)[20..24], ECONNRESET.to_be_bytes());
    }

    #[test]
    fn vhci_status_lists_free_usb2_ports() {
        let text = "hub port sta spd dev      sockfd local_busid\nhs  0000 006 002 00010002 000003 3-1\nhs  0001 004 000 00000000 000000 0-0\nss  0008 004 000 00000000 000000 0-0\n";
        assert_eq!(parse_status(text), vec![(0, false), (1, true)]);
    }
}
