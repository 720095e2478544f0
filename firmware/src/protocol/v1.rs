//! Protocol v1 ("usbdbg", firmware ≤ 4.x), pure: a 6-byte header `0x30, cmd, u32 length`
//! (little-endian). When the command's bit 7 is set the device then sends exactly
//! `length` bytes; otherwise the host sends `length` bytes. No checksums, no acks
//! (PROTOCOL.md §2).

/// The header's first byte.
pub const MAGIC: u8 = 0x30;
/// Header length.
pub const HEADER_LEN: usize = 6;

/// Commands.
pub mod cmd {
    /// ← 12 B: u32 major, minor, patch.
    pub const FW_VERSION: u8 = 0x80;
    /// ← 12 B: u32 w, h, size (locks the frame).
    pub const FRAME_SIZE: u8 = 0x81;
    /// ← the frame's bytes (unlocks when all read).
    pub const FRAME_DUMP: u8 = 0x82;
    /// ← 64 B architecture string.
    pub const ARCH_STR: u8 = 0x83;
    /// → script bytes.
    pub const SCRIPT_EXEC: u8 = 0x05;
    /// Stop the script.
    pub const SCRIPT_STOP: u8 = 0x06;
    /// ← u32 running.
    pub const SCRIPT_RUNNING: u8 = 0x87;
    /// Reset.
    pub const SYS_RESET: u8 = 0x0C;
    /// Reset to the bootloader.
    pub const SYS_RESET_TO_BL: u8 = 0x0E;
    /// → u32 enable the framebuffer.
    pub const FB_ENABLE: u8 = 0x0D;
    /// ← u32 bytes of stdout waiting.
    pub const TX_BUF_LEN: u8 = 0x8E;
    /// ← stdout bytes.
    pub const TX_BUF: u8 = 0x8F;
    /// ← u32 sensor id.
    pub const SENSOR_ID: u8 = 0x90;
    /// ← 63 or 511 B state.
    pub const GET_STATE: u8 = 0x93;
}

/// Whether the device answers `command` with data.
pub fn device_to_host(command: u8) -> bool {
    command & 0x80 != 0
}

/// A command header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Command.
    pub command: u8,
    /// Bytes that follow (in the command's direction).
    pub length: u32,
}

impl Header {
    /// The 6 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let l = self.length.to_le_bytes();
        [MAGIC, self.command, l[0], l[1], l[2], l[3]]
    }
}

/// A host request as the device parses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A command the device answers with `length` bytes.
    Read {
        /// Command.
        command: u8,
        /// Bytes the host will read.
        length: u32,
    },
    /// A command with `data` from the host.
    Write {
        /// Command.
        command: u8,
        /// Its data.
        data: Vec<u8>,
    },
    /// Bytes that are not a header (skipped).
    Garbage(usize),
}

/// The device's streaming parser of host requests. Writes larger than `max_write` are
/// refused as garbage so a corrupt length cannot make it buffer without bound.
#[derive(Clone, Debug)]
pub struct RequestParser {
    buf: Vec<u8>,
    /// Largest accepted write.
    pub max_write: usize,
}

impl RequestParser {
    /// A parser accepting writes up to `max_write` bytes.
    pub fn new(max_write: usize) -> Self {
        RequestParser {
            buf: Vec::new(),
            max_write,
        }
    }

    /// Adds received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Forgets a partial request (the device's idle timeout).
    pub fn reset(&mut self) {
        self.buf.clear();
    }

    /// Bytes held.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next request, or `None` until more bytes arrive.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Request> {
        if self.buf.is_empty() {
            return None;
        }
        if self.buf[0] != MAGIC {
            let n = self
                .buf
                .iter()
                .position(|&b| b == MAGIC)
                .unwrap_or(self.buf.len());
            self.buf.drain(..n);
            return Some(Request::Garbage(n));
        }
        if self.buf.len() < HEADER_LEN {
            return None;
        }
        let command = self.buf[1];
        let length = u32::from_le_bytes([self.buf[2], self.buf[3], self.buf[4], self.buf[5]]);
        if device_to_host(command) {
            self.buf.drain(..HEADER_LEN);
            return Some(Request::Read { command, length });
        }
        if length as usize > self.max_write {
            self.buf.drain(..1);
            return Some(Request::Garbage(1));
        }
        let total = HEADER_LEN + length as usize;
        if self.buf.len() < total {
            return None;
        }
        let data = self.buf[HEADER_LEN..total].to_vec();
        self.buf.drain(..total);
        Some(Request::Write { command, data })
    }
}

/// What the firmware's USB layer hands usbdbg: the device-side framing of protocol v1,
/// which is not a byte stream on every board (PROTOCOL.md §2 ✱).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A header, as `usbdbg_control` receives it.
    Header(Header),
    /// Bytes of the current host-to-device data phase (`usbdbg_data_out`).
    Data(Vec<u8>),
    /// Bytes the USB layer threw away.
    Dropped(usize),
    /// A chunk that sends a 4.5.x TinyUSB camera into `__fatal_error`: it hangs until
    /// power-cycled.
    Fatal,
}

/// The STM32 ports' framing (M4, M7, H7, H7 Plus): `usbd_cdc_receive` in
/// `ports/stm32/usbd_cdc_interface.c` of openmv/micropython at the commits openmv v4.5.9
/// (7063c24b) and v4.8.1 (13d1192d) pin. usbdbg sees USB OUT *packets*, not a stream:
/// outside a data phase a packet whose first byte is 0x30 is a header — `usbdbg_control`
/// gets `rx_packet_buf + 6` and ignores it, so the rest of that packet is lost, data
/// included — and any other packet is dropped whole; inside a data phase every packet is
/// data and `dbg_xfer_length -= len` (a `uint32_t`): a packet carrying more than the
/// phase's remaining bytes wraps it, and the port treats everything after as data until
/// the host sets the line coding again (`usb_cdc_reset_buffers`).
#[derive(Clone, Debug, Default)]
pub struct Stm32Packets {
    remaining: u32,
}

impl Stm32Packets {
    /// One USB OUT packet (at most the endpoint's max packet size).
    pub fn packet(&mut self, p: &[u8]) -> Vec<Inbound> {
        // A zero-length packet carries nothing the model acts on (the firmware would look
        // at a stale `rx_packet_buf[0]`; hosts' CDC drivers do not send them).
        if p.is_empty() {
            return Vec::new();
        }
        if self.remaining > 0 {
            self.remaining = self.remaining.wrapping_sub(p.len() as u32);
            return vec![Inbound::Data(p.to_vec())];
        }
        if p[0] != MAGIC {
            return vec![Inbound::Dropped(p.len())];
        }
        // A header packet shorter than 6 bytes leaves stale bytes in the firmware's
        // buffer; the model reads them as 0.
        let mut h = [0u8; HEADER_LEN];
        let n = p.len().min(HEADER_LEN);
        h[..n].copy_from_slice(&p[..n]);
        let header = Header {
            command: h[1],
            length: u32::from_le_bytes([h[2], h[3], h[4], h[5]]),
        };
        // A device-to-host data phase is answered at once by the model, so the next OUT
        // packet is a header again (a real port would take OUT packets sent before the
        // host read the whole reply as data: visreg's client never does that).
        self.remaining = if device_to_host(header.command) {
            0
        } else {
            header.length
        };
        let mut out = vec![Inbound::Header(header)];
        if p.len() > HEADER_LEN {
            out.push(Inbound::Dropped(p.len() - HEADER_LEN));
        }
        out
    }

    /// `usb_cdc_reset_buffers`: the host set the line coding (opened the port).
    pub fn reset(&mut self) {
        self.remaining = 0;
    }

    /// Whether a host-to-device data phase is under way.
    pub fn in_data_phase(&self) -> bool {
        self.remaining > 0
    }
}

/// What a TinyUSB camera does with a 6-byte chunk that does not start with 0x30.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadChunk {
    /// 4.6 and later: drop it and read the next 6 bytes — no resync
    /// (`common/tinyusb_debug.c`, v4.8.1).
    Drop,
    /// 4.5.x: `__fatal_error("Invalid USB CMD received.")`, an endless loop
    /// (`src/omv/common/tinyusb_debug.c` and `src/omv/ports/mimxrt/main.c`, v4.5.9).
    Hang,
}

/// The TinyUSB ports' framing (RT1060, AE3): `tinyusb_debug_task` in
/// `common/tinyusb_debug.c` (v4.8.1; `src/omv/common/` at v4.5.9) reads the CDC FIFO, a
/// byte stream, in fixed 6-byte header chunks (`tud_cdc_read(cmdbuf, 6)` once 6 bytes
/// are there), then `length` bytes of data as they come. Nothing looks for 0x30: a chunk
/// that does not start with it is dropped ([`BadChunk`]) and the FIFO stays out of step
/// — a 10-byte v2 SYNC leaves it 4 bytes off, and every later header is read across two.
#[derive(Clone, Debug)]
pub struct TinyUsbFifo {
    fifo: std::collections::VecDeque<u8>,
    remaining: u32,
    bad_chunk: BadChunk,
    hung: bool,
}

impl TinyUsbFifo {
    /// An empty FIFO with the given firmware's handling of a bad chunk.
    pub fn new(bad_chunk: BadChunk) -> Self {
        TinyUsbFifo {
            fifo: Default::default(),
            remaining: 0,
            bad_chunk,
            hung: false,
        }
    }

    /// Bytes from the host, in order (packet boundaries do not matter to a FIFO).
    pub fn push(&mut self, data: &[u8]) {
        if !self.hung {
            self.fifo.extend(data);
        }
    }

    /// The next thing usbdbg sees, or `None` until more bytes arrive.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Inbound> {
        if self.hung {
            self.fifo.clear();
            return None;
        }
        if self.remaining > 0 {
            if self.fifo.is_empty() {
                return None;
            }
            let n = (self.remaining as usize).min(self.fifo.len());
            self.remaining -= n as u32;
            return Some(Inbound::Data(self.fifo.drain(..n).collect()));
        }
        if self.fifo.len() < HEADER_LEN {
            return None;
        }
        let c: Vec<u8> = self.fifo.drain(..HEADER_LEN).collect();
        if c[0] != MAGIC {
            return Some(match self.bad_chunk {
                BadChunk::Drop => Inbound::Dropped(HEADER_LEN),
                BadChunk::Hang => {
                    self.hung = true;
                    self.fifo.clear();
                    Inbound::Fatal
                }
            });
        }
        let header = Header {
            command: c[1],
            length: u32::from_le_bytes([c[2], c[3], c[4], c[5]]),
        };
        // As for the STM32 model, a device-to-host phase completes at once.
        self.remaining = if device_to_host(header.command) {
            0
        } else {
            header.length
        };
        Some(Inbound::Header(header))
    }

    /// `USBDBG_DATA_TIMEOUT`: a data phase idle for 1000 ms is abandoned
    /// (`tinyusb_debug_init`, v4.8.1). The FIFO keeps its bytes: alignment is not restored.
    pub fn data_timeout(&mut self) {
        if self.bad_chunk == BadChunk::Drop {
            self.remaining = 0;
        }
    }

    /// Whether a host-to-device data phase is under way.
    pub fn in_data_phase(&self) -> bool {
        self.remaining > 0
    }

    /// Bytes waiting in the FIFO (the FIFO is out of step when a header is due and this is
    /// not a multiple of 6 once the host has stopped writing).
    pub fn buffered(&self) -> usize {
        self.fifo.len()
    }

    /// Whether the camera hangs in `__fatal_error`.
    pub fn hung(&self) -> bool {
        self.hung
    }
}

/// usbdbg's side of a command: a header, then its data phase (`usbdbg_control`,
/// `usbdbg_data_out` in `src/omv/common/usbdbg.c` v4.5.9, `common/usbdbg.c` v4.8.1). A
/// write completes when exactly `length` bytes arrived (`xfer_offs == xfer_size`); a
/// phase that received more (the STM32 port hands whole packets) never completes.
#[derive(Clone, Debug, Default)]
pub struct Usbdbg {
    pending: Option<(u8, u32, Vec<u8>)>,
}

impl Usbdbg {
    /// What `inbound` completes, if anything.
    pub fn feed(&mut self, inbound: Inbound) -> Option<Request> {
        match inbound {
            Inbound::Header(h) => {
                self.pending = None;
                if device_to_host(h.command) {
                    return Some(Request::Read {
                        command: h.command,
                        length: h.length,
                    });
                }
                if h.length == 0 {
                    return Some(Request::Write {
                        command: h.command,
                        data: Vec::new(),
                    });
                }
                self.pending = Some((h.command, h.length, Vec::new()));
                None
            }
            Inbound::Data(d) => {
                let (command, length, buf) = self.pending.as_mut()?;
                buf.extend_from_slice(&d);
                match buf.len().cmp(&(*length as usize)) {
                    std::cmp::Ordering::Less => None,
                    std::cmp::Ordering::Equal => {
                        let r = Request::Write {
                            command: *command,
                            data: std::mem::take(buf),
                        };
                        self.pending = None;
                        Some(r)
                    }
                    std::cmp::Ordering::Greater => {
                        let n = buf.len();
                        self.pending = None;
                        Some(Request::Garbage(n))
                    }
                }
            }
            Inbound::Dropped(n) => Some(Request::Garbage(n)),
            Inbound::Fatal => None,
        }
    }

    /// Forgets a partial write.
    pub fn reset(&mut self) {
        self.pending = None;
    }

    /// Whether a write is partly received.
    pub fn partial(&self) -> bool {
        self.pending.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_across_chunks_and_skip_garbage() {
        let mut p = RequestParser::new(1 << 20);
        let mut bytes = vec![0x00, 0x11];
        bytes.extend_from_slice(
            &Header {
                command: cmd::FW_VERSION,
                length: 12,
            }
            .encode(),
        );
        bytes.extend_from_slice(
            &Header {
                command: cmd::SCRIPT_EXEC,
                length: 3,
            }
            .encode(),
        );
        bytes.extend_from_slice(b"abc");
        let mut got = Vec::new();
        for b in bytes.chunks(1) {
            p.push(b);
            while let Some(r) = p.next() {
                // Garbage may be reported in pieces as it arrives; count it as one run.
                match (got.last_mut(), r) {
                    (Some(Request::Garbage(n)), Request::Garbage(m)) => *n += m,
                    (_, r) => got.push(r),
                }
            }
        }
        assert_eq!(
            got,
            vec![
                Request::Garbage(2),
                Request::Read {
                    command: cmd::FW_VERSION,
                    length: 12
                },
                Request::Write {
                    command: cmd::SCRIPT_EXEC,
                    data: b"abc".to_vec()
                },
            ]
        );
    }

    #[test]
    fn huge_write_lengths_are_not_buffered() {
        let mut p = RequestParser::new(1024);
        p.push(
            &Header {
                command: cmd::SCRIPT_EXEC,
                length: u32::MAX,
            }
            .encode(),
        );
        assert_eq!(p.next(), Some(Request::Garbage(1)));
    }

    fn exec_header(len: u32) -> [u8; HEADER_LEN] {
        Header {
            command: cmd::SCRIPT_EXEC,
            length: len,
        }
        .encode()
    }

    fn requests(link: &mut Stm32Packets, packets: &[&[u8]]) -> Vec<Request> {
        let mut u = Usbdbg::default();
        packets
            .iter()
            .flat_map(|p| link.packet(p))
            .filter_map(|i| u.feed(i))
            .collect()
    }

    #[test]
    fn stm32_takes_data_sent_in_its_own_packets() {
        let mut link = Stm32Packets::default();
        let got = requests(&mut link, &[&exec_header(3), b"abc"]);
        assert_eq!(
            got,
            vec![Request::Write {
                command: cmd::SCRIPT_EXEC,
                data: b"abc".to_vec()
            }]
        );
        assert!(!link.in_data_phase());
    }

    #[test]
    fn stm32_drops_the_rest_of_a_header_packet_and_waits_for_data() {
        // The script in the header's packet is lost; the port then waits for 3 bytes of
        // data, so the next header is eaten as data.
        let mut link = Stm32Packets::default();
        let mut one = exec_header(3).to_vec();
        one.extend_from_slice(b"abc");
        let version = Header {
            command: cmd::FW_VERSION,
            length: 12,
        }
        .encode();
        let got = requests(&mut link, &[&one, &version]);
        assert_eq!(got, vec![Request::Garbage(3), Request::Garbage(6)]);
        // 3 expected, 6 came: `dbg_xfer_length` wrapped, the port is wedged in a data phase.
        assert!(link.in_data_phase());
        link.reset();
        assert_eq!(
            requests(&mut link, &[&version]),
            vec![Request::Read {
                command: cmd::FW_VERSION,
                length: 12
            }]
        );
    }

    #[test]
    fn stm32_drops_packets_that_are_not_headers_whole() {
        let mut link = Stm32Packets::default();
        // A v2 SYNC: one packet, first byte 0xAA.
        let sync = [0xAA, 0xD5, 0, 0, 0, 0, 0, 0, 0xB0, 0xAC];
        assert_eq!(link.packet(&sync), vec![Inbound::Dropped(10)]);
        // Two headers in one packet: only the first is seen.
        let mut two = Header {
            command: cmd::SCRIPT_STOP,
            length: 0,
        }
        .encode()
        .to_vec();
        two.extend_from_slice(
            &Header {
                command: cmd::SCRIPT_RUNNING,
                length: 4,
            }
            .encode(),
        );
        assert_eq!(
            link.packet(&two),
            vec![
                Inbound::Header(Header {
                    command: cmd::SCRIPT_STOP,
                    length: 0
                }),
                Inbound::Dropped(6)
            ]
        );
    }

    #[test]
    fn tinyusb_reads_six_byte_chunks_without_resync() {
        let mut f = TinyUsbFifo::new(BadChunk::Drop);
        let version = Header {
            command: cmd::FW_VERSION,
            length: 12,
        }
        .encode();
        // Header and data in one write are fine on a FIFO.
        f.push(&exec_header(3));
        f.push(b"abc");
        let mut u = Usbdbg::default();
        let mut got = Vec::new();
        while let Some(i) = f.next() {
            got.extend(u.feed(i));
        }
        assert_eq!(
            got,
            vec![Request::Write {
                command: cmd::SCRIPT_EXEC,
                data: b"abc".to_vec()
            }]
        );
        // A v2 SYNC: one chunk dropped, 4 bytes left; every later header straddles two
        // chunks and is dropped too.
        f.push(&[0xAA, 0xD5, 0, 0, 0, 0, 0, 0, 0xB0, 0xAC]);
        assert_eq!(f.next(), Some(Inbound::Dropped(6)));
        assert_eq!(f.next(), None);
        for _ in 0..3 {
            f.push(&version);
            assert_eq!(f.next(), Some(Inbound::Dropped(6)));
            assert_eq!(f.next(), None);
            assert_eq!(f.buffered(), 4);
        }
    }

    #[test]
    fn tinyusb_4_5_hangs_on_a_chunk_that_is_not_a_header() {
        let mut f = TinyUsbFifo::new(BadChunk::Hang);
        f.push(&[0xAA, 0xD5, 0, 0, 0, 0, 0, 0, 0xB0, 0xAC]);
        assert_eq!(f.next(), Some(Inbound::Fatal));
        f.push(
            &Header {
                command: cmd::FW_VERSION,
                length: 12,
            }
            .encode(),
        );
        assert_eq!(f.next(), None);
        assert!(f.hung());
    }
}
