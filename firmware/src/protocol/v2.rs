//! Protocol v2 (firmware ≥ 5.0), pure: packets, CRCs, a streaming decoder that
//! resynchronises on garbage and reports errors as values, and the fixed-layout payloads
//! (caps, version, system info, channel list, framebuffer header). No I/O here.
//!
//! Packet (little-endian): sync u16 0xD5AA (`AA D5` on the wire), seq u8, channel u8,
//! flags u8, opcode u8, length u16, header CRC-16 over bytes 0–7, payload, and a CRC-32
//! of the payload only when length > 0. With CRC switched off the CRC fields are 0 and
//! ignored. See PROTOCOL.md §1.

use crc::{Algorithm, Crc};

/// Sync word.
pub const SYNC: u16 = 0xD5AA;
/// Header bytes, CRC included.
pub const HEADER_LEN: usize = 10;
/// Payload CRC bytes.
pub const PAYLOAD_CRC_LEN: usize = 4;
/// The largest max_payload a device accepts (4096-byte buffer).
pub const MAX_PAYLOAD: usize = 4082;
/// The smallest max_payload a device accepts.
pub const MIN_PAYLOAD: usize = 50;
/// The max_payload the official client bootstraps with before caps are negotiated.
pub const BOOTSTRAP_PAYLOAD: usize = 52;
/// The config a camera is in at power-on and after every PROTO_SYNC, before caps are
/// negotiated: `omv_protocol_init_default`, restored by `omv_protocol_reset`
/// (protocol/omv_protocol.c v5.0.0) — CRC, sequence, ACK and events on, 4082 bytes. A
/// host must expect full-size packets asking for ACKs from the first reply on.
pub const FIRMWARE_DEFAULT_CAPS: Caps = Caps {
    crc: true,
    seq: true,
    ack: true,
    events: true,
    max_payload: MAX_PAYLOAD as u16,
};

/// CRC-16 of the header: poly 0xF94F, init 0xFFFF, not reflected, no final XOR.
pub const CRC16_ALG: Algorithm<u16> = Algorithm {
    width: 16,
    poly: 0xF94F,
    init: 0xFFFF,
    refin: false,
    refout: false,
    xorout: 0,
    check: 0xE541,
    residue: 0,
};

/// CRC-32 of the payload: poly 0xFA567D89, init 0xFFFFFFFF, not reflected, no final XOR.
pub const CRC32_ALG: Algorithm<u32> = Algorithm {
    width: 32,
    poly: 0xFA56_7D89,
    init: 0xFFFF_FFFF,
    refin: false,
    refout: false,
    xorout: 0,
    check: 0x41B4_03D3,
    residue: 0,
};

// Slice-by-16 tables: the byte-at-a-time table runs well under the 1 GB/s the codec
// must sustain (see benches/codec.rs).
const CRC16: Crc<u16, crc::Table<16>> = Crc::<u16, crc::Table<16>>::new(&CRC16_ALG);
const CRC32: Crc<u32, crc::Table<16>> = Crc::<u32, crc::Table<16>>::new(&CRC32_ALG);

/// CRC-16 of `data`.
pub fn crc16(data: &[u8]) -> u16 {
    CRC16.checksum(data)
}

/// CRC-32 of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    CRC32.checksum(data)
}

/// Flag bits.
pub mod flags {
    /// Success without data.
    pub const ACK: u8 = 0x01;
    /// Failure; payload is a u16 status.
    pub const NAK: u8 = 0x02;
    /// A retransmission.
    pub const RTX: u8 = 0x04;
    /// The receiver must acknowledge.
    pub const ACK_REQ: u8 = 0x08;
    /// More fragments follow.
    pub const FRAGMENT: u8 = 0x10;
    /// An event (does not step the sequence).
    pub const EVENT: u8 = 0x20;
}

/// Opcodes.
pub mod op {
    /// Resynchronise; resets the sequence.
    pub const PROTO_SYNC: u8 = 0x00;
    /// Device capabilities.
    pub const PROTO_GET_CAPS: u8 = 0x01;
    /// Set capabilities.
    pub const PROTO_SET_CAPS: u8 = 0x02;
    /// Transport statistics.
    pub const PROTO_STATS: u8 = 0x03;
    /// Versions.
    pub const PROTO_VERSION: u8 = 0x04;
    /// Reset (no reply).
    pub const SYS_RESET: u8 = 0x10;
    /// Enter the bootloader (no reply).
    pub const SYS_BOOT: u8 = 0x11;
    /// System information.
    pub const SYS_INFO: u8 = 0x12;
    /// System event (device → host).
    pub const SYS_EVENT: u8 = 0x13;
    /// Memory statistics.
    pub const SYS_MEMORY: u8 = 0x14;
    /// List channels.
    pub const CHANNEL_LIST: u8 = 0x20;
    /// Channels with data.
    pub const CHANNEL_POLL: u8 = 0x21;
    /// Lock a channel.
    pub const CHANNEL_LOCK: u8 = 0x22;
    /// Unlock a channel.
    pub const CHANNEL_UNLOCK: u8 = 0x23;
    /// Shape of a channel's data.
    pub const CHANNEL_SHAPE: u8 = 0x24;
    /// Size of a channel's data.
    pub const CHANNEL_SIZE: u8 = 0x25;
    /// Read from a channel.
    pub const CHANNEL_READ: u8 = 0x26;
    /// Write to a channel.
    pub const CHANNEL_WRITE: u8 = 0x27;
    /// Channel control.
    pub const CHANNEL_IOCTL: u8 = 0x28;
    /// Channel event (device → host).
    pub const CHANNEL_EVENT: u8 = 0x29;
}

/// Status codes carried by NAK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Status {
    /// Success.
    Success = 0,
    /// Failed.
    Failed = 1,
    /// Invalid request.
    Invalid = 2,
    /// Timed out.
    Timeout = 3,
    /// Busy (try again).
    Busy = 4,
    /// Checksum error.
    Checksum = 5,
    /// Sequence error.
    Sequence = 6,
    /// Overflow.
    Overflow = 7,
    /// Fragment error.
    Fragment = 8,
    /// Unknown.
    Unknown = 9,
}

impl Status {
    /// The status of a code (unknown codes map to [`Status::Unknown`]).
    pub fn from_code(c: u16) -> Self {
        match c {
            0 => Status::Success,
            1 => Status::Failed,
            2 => Status::Invalid,
            3 => Status::Timeout,
            4 => Status::Busy,
            5 => Status::Checksum,
            6 => Status::Sequence,
            7 => Status::Overflow,
            8 => Status::Fragment,
            _ => Status::Unknown,
        }
    }
}

/// A packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Sequence number.
    pub seq: u8,
    /// Channel.
    pub channel: u8,
    /// Flag bits ([`flags`]).
    pub flags: u8,
    /// Opcode ([`op`]).
    pub opcode: u8,
    /// Payload (at most the negotiated max payload).
    pub payload: Vec<u8>,
}

impl Packet {
    /// A packet without flags.
    pub fn new(seq: u8, channel: u8, opcode: u8, payload: Vec<u8>) -> Self {
        Packet {
            seq,
            channel,
            flags: 0,
            opcode,
            payload,
        }
    }

    /// Whether `flag` is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The NAK status, if this is a NAK.
    pub fn nak_status(&self) -> Option<Status> {
        if !self.has(flags::NAK) {
            return None;
        }
        let code = self
            .payload
            .get(..2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .unwrap_or(9);
        Some(Status::from_code(code))
    }

    /// Appends the packet's bytes to `out`; CRC fields are 0 when `crc` is off.
    pub fn encode_into(&self, crc: bool, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&SYNC.to_le_bytes());
        out.extend_from_slice(&[self.seq, self.channel, self.flags, self.opcode]);
        out.extend_from_slice(&(self.payload.len() as u16).to_le_bytes());
        let h = if crc {
            crc16(&out[start..start + 8])
        } else {
            0
        };
        out.extend_from_slice(&h.to_le_bytes());
        if !self.payload.is_empty() {
            out.extend_from_slice(&self.payload);
            let p = if crc { crc32(&self.payload) } else { 0 };
            out.extend_from_slice(&p.to_le_bytes());
        }
    }

    /// The packet's bytes.
    pub fn encode(&self, crc: bool) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER_LEN + self.payload.len() + PAYLOAD_CRC_LEN);
        self.encode_into(crc, &mut v);
        v
    }
}

/// Something the decoder found in the byte stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A valid packet.
    Packet(Packet),
    /// Bytes skipped while looking for a sync word.
    Skipped(usize),
    /// A header whose CRC does not match (one byte is then skipped).
    HeaderCrc {
        /// CRC in the header.
        got: u16,
        /// CRC computed.
        expected: u16,
    },
    /// A payload whose CRC does not match.
    PayloadCrc {
        /// CRC sent.
        got: u32,
        /// CRC computed.
        expected: u32,
        /// The (intact) header's sequence number, channel and opcode: the firmware
        /// answers such a packet with a CHECKSUM NAK (protocol/omv_protocol.c, v5.0.0).
        seq: u8,
        /// Channel.
        channel: u8,
        /// Opcode.
        opcode: u8,
    },
    /// A length over the negotiated maximum.
    Length {
        /// Length in the header.
        length: usize,
        /// The maximum.
        max: usize,
    },
}

/// A streaming decoder: push bytes as they arrive, pull what they contain. Memory stays
/// bounded by one maximal packet whatever arrives.
#[derive(Clone, Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    start: usize,
    /// Check CRCs.
    pub crc: bool,
    /// Largest accepted payload.
    pub max_payload: usize,
}

impl Decoder {
    /// A decoder with CRCs on and the bootstrap payload limit.
    pub fn new(crc: bool, max_payload: usize) -> Self {
        Decoder {
            buf: Vec::new(),
            start: 0,
            crc,
            max_payload,
        }
    }

    /// Adds received bytes.
    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes held and not yet decoded.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Drops everything held (after a resync).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }

    /// The next item, or `None` until more bytes arrive.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Decoded> {
        let data = &self.buf[self.start..];
        // Find the sync word.
        let sync_at = data.windows(2).position(|w| w == [0xAA, 0xD5]);
        match sync_at {
            Some(0) => {}
            Some(n) => {
                self.start += n;
                return Some(Decoded::Skipped(n));
            }
            None => {
                // Keep a trailing 0xAA: it may be the first half of a sync word.
                let keep = usize::from(data.last() == Some(&0xAA));
                let n = data.len() - keep;
                if n == 0 {
                    return None;
                }
                self.start += n;
                return Some(Decoded::Skipped(n));
            }
        }
        if data.len() < HEADER_LEN {
            return None;
        }
        let length = usize::from(u16::from_le_bytes([data[6], data[7]]));
        let got = u16::from_le_bytes([data[8], data[9]]);
        if self.crc {
            let expected = crc16(&data[..8]);
            if got != expected {
                self.start += 1;
                return Some(Decoded::HeaderCrc { got, expected });
            }
        }
        if length > self.max_payload {
            self.start += 1;
            return Some(Decoded::Length {
                length,
                max: self.max_payload,
            });
        }
        let total = HEADER_LEN
            + if length > 0 {
                length + PAYLOAD_CRC_LEN
            } else {
                0
            };
        if data.len() < total {
            return None;
        }
        let payload = data[HEADER_LEN..HEADER_LEN + length].to_vec();
        if length > 0 && self.crc {
            let t = HEADER_LEN + length;
            let got = u32::from_le_bytes([data[t], data[t + 1], data[t + 2], data[t + 3]]);
            let expected = crc32(&payload);
            if got != expected {
                self.start += 1;
                return Some(Decoded::PayloadCrc {
                    got,
                    expected,
                    seq: data[2],
                    channel: data[3],
                    opcode: data[5],
                });
            }
        }
        let p = Packet {
            seq: data[2],
            channel: data[3],
            flags: data[4],
            opcode: data[5],
            payload,
        };
        self.start += total;
        Some(Decoded::Packet(p))
    }
}

/// Splits a reply payload into packets of at most `max_payload` bytes, FRAGMENT set on
/// all but the last, sequence numbers counting up from `seq`. An empty payload gives one
/// packet.
pub fn fragment(
    seq: u8,
    channel: u8,
    opcode: u8,
    extra_flags: u8,
    payload: &[u8],
    max_payload: usize,
) -> Vec<Packet> {
    let max = max_payload.max(1);
    if payload.is_empty() {
        return vec![Packet {
            seq,
            channel,
            flags: extra_flags,
            opcode,
            payload: Vec::new(),
        }];
    }
    let n = payload.len().div_ceil(max);
    payload
        .chunks(max)
        .enumerate()
        .map(|(i, c)| Packet {
            seq: seq.wrapping_add(i as u8),
            channel,
            flags: extra_flags | if i + 1 < n { flags::FRAGMENT } else { 0 },
            opcode,
            payload: c.to_vec(),
        })
        .collect()
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    b.get(i..i + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Negotiated capabilities (16 bytes on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// CRCs on.
    pub crc: bool,
    /// Sequence checking on.
    pub seq: bool,
    /// Acknowledgements on.
    pub ack: bool,
    /// Events on.
    pub events: bool,
    /// Largest payload.
    pub max_payload: u16,
}

impl Caps {
    /// The 16-byte encoding.
    pub fn encode(&self) -> Vec<u8> {
        let f = u32::from(self.crc)
            | u32::from(self.seq) << 1
            | u32::from(self.ack) << 2
            | u32::from(self.events) << 3;
        let mut v = f.to_le_bytes().to_vec();
        v.extend_from_slice(&self.max_payload.to_le_bytes());
        v.extend_from_slice(&[0; 10]);
        v
    }

    /// Decodes the first 6 bytes of a caps payload.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let f = u32_at(b, 0)?;
        let mp = b.get(4..6).map(|s| u16::from_le_bytes([s[0], s[1]]))?;
        Some(Caps {
            crc: f & 1 != 0,
            seq: f & 2 != 0,
            ack: f & 4 != 0,
            events: f & 8 != 0,
            max_payload: mp,
        })
    }
}

/// PROTO_VERSION (16 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    /// Protocol version.
    pub protocol: [u8; 3],
    /// Bootloader version.
    pub bootloader: [u8; 3],
    /// Firmware version.
    pub firmware: [u8; 3],
}

impl Version {
    /// The 16-byte encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(&self.protocol);
        v.extend_from_slice(&self.bootloader);
        v.extend_from_slice(&self.firmware);
        v.extend_from_slice(&[0; 7]);
        v
    }

    /// Decodes a version payload.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() < 9 {
            return None;
        }
        Some(Version {
            protocol: [b[0], b[1], b[2]],
            bootloader: [b[3], b[4], b[5]],
            firmware: [b[6], b[7], b[8]],
        })
    }
}

/// SYS_INFO (76 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SysInfo {
    /// CPUID.
    pub cpu_id: u32,
    /// Unique device id.
    pub dev_id: [u32; 3],
    /// VID << 16 | PID.
    pub usb_id: u32,
    /// Sensor chip ids.
    pub chip_id: [u32; 3],
    /// Hardware capability words.
    pub hw_caps: [u32; 2],
    /// Flash, KiB.
    pub flash_kb: u32,
    /// RAM, KiB.
    pub ram_kb: u32,
    /// Framebuffer, KiB.
    pub fb_kb: u32,
    /// Stream buffer, KiB.
    pub stream_kb: u32,
}

impl SysInfo {
    /// The 76-byte encoding.
    pub fn encode(&self) -> Vec<u8> {
        let words: Vec<u32> = [self.cpu_id]
            .into_iter()
            .chain(self.dev_id)
            .chain([self.usb_id])
            .chain(self.chip_id)
            .chain([0, 0])
            .chain(self.hw_caps)
            .chain([self.flash_kb, self.ram_kb, self.fb_kb, self.stream_kb])
            .chain([0, 0, 0])
            .collect();
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// Decodes a 76-byte payload.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() < 76 {
            return None;
        }
        let w = |i: usize| u32_at(b, i * 4).unwrap_or(0);
        Some(SysInfo {
            cpu_id: w(0),
            dev_id: [w(1), w(2), w(3)],
            usb_id: w(4),
            chip_id: [w(5), w(6), w(7)],
            hw_caps: [w(10), w(11)],
            flash_kb: w(12),
            ram_kb: w(13),
            fb_kb: w(14),
            stream_kb: w(15),
        })
    }
}

/// One CHANNEL_LIST entry (16 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelEntry {
    /// Channel id.
    pub id: u8,
    /// Flag bits.
    pub flags: u8,
    /// Name (at most 13 bytes).
    pub name: String,
}

impl ChannelEntry {
    /// Appends the 16-byte encoding.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.id);
        out.push(self.flags);
        let mut name = [0u8; 14];
        let n = self.name.len().min(13);
        name[..n].copy_from_slice(&self.name.as_bytes()[..n]);
        out.extend_from_slice(&name);
    }

    /// Decodes a CHANNEL_LIST payload.
    pub fn decode_list(b: &[u8]) -> Vec<Self> {
        b.chunks_exact(16)
            .map(|c| {
                let end = c[2..].iter().position(|&x| x == 0).unwrap_or(14);
                ChannelEntry {
                    id: c[0],
                    flags: c[1],
                    name: String::from_utf8_lossy(&c[2..2 + end]).into_owned(),
                }
            })
            .collect()
    }
}

/// The framebuffer header at the start of the stream channel's data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameHeader {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Pixel format (GRAY 0x08020001, RGB565 0x0C030002, JPEG 0x06060000).
    pub pixfmt: u32,
    /// Compressed size, or bytes per pixel for raw frames.
    pub size: u32,
    /// Where pixels start.
    pub offset: u32,
    /// Frames per second.
    pub fps: f32,
}

impl FrameHeader {
    /// Decodes the header (20 bytes, plus fps when present).
    pub fn decode(b: &[u8]) -> Option<Self> {
        Some(FrameHeader {
            width: u32_at(b, 0)?,
            height: u32_at(b, 4)?,
            pixfmt: u32_at(b, 8)?,
            size: u32_at(b, 12)?,
            offset: u32_at(b, 16)?,
            fps: u32_at(b, 20).map(f32::from_bits).unwrap_or(0.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_check_values() {
        assert_eq!(crc16(b"123456789"), 0xE541);
        assert_eq!(crc32(b"123456789"), 0x41B4_03D3);
    }

    #[test]
    fn sync_packet_bytes() {
        let p = Packet::new(0, 0, op::PROTO_SYNC, vec![]);
        assert_eq!(p.encode(true), [0xAA, 0xD5, 0, 0, 0, 0, 0, 0, 0xB0, 0xAC]);
    }

    #[test]
    fn decoder_resyncs_and_reports_errors() {
        let good = Packet::new(3, 1, op::CHANNEL_READ, vec![1, 2, 3]).encode(true);
        let mut bad = good.clone();
        bad[11] ^= 0xFF; // payload byte
        let mut stream = vec![0x00, 0xAA, 0x13];
        stream.extend_from_slice(&bad);
        stream.extend_from_slice(&good);
        let mut d = Decoder::new(true, 4082);
        d.push(&stream);
        let mut got = Vec::new();
        while let Some(x) = d.next() {
            got.push(x);
        }
        assert!(got.iter().any(|x| matches!(x, Decoded::PayloadCrc { .. })));
        assert_eq!(
            got.iter()
                .filter(|x| matches!(x, Decoded::Packet(_)))
                .count(),
            1
        );
        assert!(matches!(got.last(), Some(Decoded::Packet(p)) if p.payload == vec![1, 2, 3]));
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn over_long_lengths_are_refused() {
        let p = Packet::new(0, 1, op::CHANNEL_WRITE, vec![0; 100]).encode(true);
        let mut d = Decoder::new(true, 52);
        d.push(&p);
        assert_eq!(
            d.next(),
            Some(Decoded::Length {
                length: 100,
                max: 52
            })
        );
    }

    #[test]
    fn fragments_count_sequence_and_flag_all_but_last() {
        let f = fragment(254, 3, op::CHANNEL_READ, 0, &[7; 10], 4);
        assert_eq!(f.len(), 3);
        assert_eq!(
            f.iter().map(|p| p.seq).collect::<Vec<_>>(),
            vec![254, 255, 0]
        );
        assert!(
            f[0].has(flags::FRAGMENT) && f[1].has(flags::FRAGMENT) && !f[2].has(flags::FRAGMENT)
        );
    }

    #[test]
    fn payload_structs_round_trip() {
        let c = Caps {
            crc: true,
            seq: false,
            ack: true,
            events: true,
            max_payload: 4082,
        };
        assert_eq!(c.encode().len(), 16);
        assert_eq!(Caps::decode(&c.encode()), Some(c));
        let v = Version {
            protocol: [1, 0, 2],
            bootloader: [2, 0, 0],
            firmware: [5, 0, 1],
        };
        assert_eq!(Version::decode(&v.encode()), Some(v));
        let s = SysInfo {
            cpu_id: 1,
            dev_id: [2, 3, 4],
            usb_id: 0x37C5_124A,
            chip_id: [0x77, 0, 0],
            hw_caps: [8, 9],
            flash_kb: 10,
            ram_kb: 11,
            fb_kb: 12,
            stream_kb: 13,
        };
        assert_eq!(s.encode().len(), 76);
        assert_eq!(SysInfo::decode(&s.encode()), Some(s));
        let mut b = Vec::new();
        ChannelEntry {
            id: 5,
            flags: 3,
            name: "visreg".into(),
        }
        .encode_into(&mut b);
        assert_eq!(b.len(), 16);
        assert_eq!(ChannelEntry::decode_list(&b)[0].name, "visreg");
    }
}
