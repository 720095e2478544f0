//! The device side of protocol v2: packets from the host in, replies and events out,
//! acting on a [`VirtualCamera`]. Sequencing, caps negotiation, fragmentation, ACK_REQ
//! and events follow PROTOCOL.md §1 and the official client's expectations (a SYNC is
//! answered with an ACK and resets the sequence; every reply packet carries the request's
//! sequence number plus its fragment index).

use crate::device::{ChannelError, VirtualCamera};
use visreg_firmware::board::OPENMV_VID;
use visreg_firmware::protocol::v2::{
    self, flags, op, Caps, ChannelEntry, Decoded, Decoder, Packet, Status, SysInfo, Version,
};

/// The protocol version this implementation speaks.
pub const PROTOCOL_VERSION: [u8; 3] = [1, 0, 2];
/// The OV7725's chip id, reported as the first sensor.
pub const SENSOR_CHIP_ID: u32 = 0x77;

/// Counters PROTO_STATS reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets sent.
    pub sent: u32,
    /// Packets received.
    pub received: u32,
    /// Checksum errors.
    pub checksum: u32,
    /// Sequence errors.
    pub sequence: u32,
    /// Retransmissions.
    pub retransmit: u32,
    /// Transport errors.
    pub transport: u32,
    /// Events sent.
    pub events: u32,
}

/// What the serving loop should do after a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep serving.
    Continue,
    /// SYS_RESET: the camera reboots (the port goes away on a real one).
    Reset,
    /// SYS_BOOT: the camera reboots into its bootloader.
    Boot,
}

/// Device-side protocol v2 state.
pub struct V2Device {
    decoder: Decoder,
    caps: Caps,
    seq: u8,
    /// Counters.
    pub stats: Stats,
}

impl Default for V2Device {
    fn default() -> Self {
        Self::new()
    }
}

fn bootstrap_caps() -> Caps {
    Caps {
        crc: true,
        seq: true,
        ack: false,
        events: false,
        max_payload: v2::BOOTSTRAP_PAYLOAD as u16,
    }
}

impl V2Device {
    /// A device in its power-on state.
    pub fn new() -> Self {
        let caps = bootstrap_caps();
        V2Device {
            // Accept host packets up to the device buffer whatever was negotiated.
            decoder: Decoder::new(caps.crc, v2::MAX_PAYLOAD),
            caps,
            seq: 0,
            stats: Stats::default(),
        }
    }

    /// The negotiated caps.
    pub fn caps(&self) -> Caps {
        self.caps
    }

    /// Feeds bytes from the host; appends the bytes to send to `out`.
    pub fn on_bytes(&mut self, cam: &mut VirtualCamera, data: &[u8], out: &mut Vec<u8>) -> Control {
        self.decoder.push(data);
        let mut control = Control::Continue;
        while let Some(item) = self.decoder.next() {
            match item {
                Decoded::Packet(p) => {
                    self.stats.received += 1;
                    let c = self.handle(cam, p, out);
                    if c != Control::Continue {
                        control = c;
                    }
                }
                // An intact header with a damaged payload is answered with a CHECKSUM NAK
                // under the device's sequence, which then moves on, as the firmware does
                // (protocol/omv_protocol.c at v5.0.0: omv_protocol_send_status, then
                // ctx.sequence++ in omv_protocol_send_packet): the host resyncs and
                // retries at once instead of waiting out its timeout.
                Decoded::PayloadCrc {
                    channel, opcode, ..
                } => {
                    self.stats.checksum += 1;
                    let nak = Packet {
                        seq: self.seq,
                        channel,
                        flags: flags::NAK,
                        opcode,
                        payload: (Status::Checksum as u16).to_le_bytes().to_vec(),
                    };
                    self.emit(&nak, out);
                    self.seq = self.seq.wrapping_add(1);
                }
                Decoded::HeaderCrc { .. } => self.stats.checksum += 1,
                Decoded::Length { .. } | Decoded::Skipped(_) => {}
            }
        }
        control
    }

    /// Sends the camera's pending events (when the host asked for events).
    pub fn on_idle(&mut self, cam: &mut VirtualCamera, out: &mut Vec<u8>) {
        for ev in cam.take_events() {
            if !self.caps.events {
                continue;
            }
            let opcode = if ev.channel == 0 {
                op::SYS_EVENT
            } else {
                op::CHANNEL_EVENT
            };
            let ack = if self.caps.ack { flags::ACK_REQ } else { 0 };
            let payload = ev
                .code
                .map(|c| c.to_le_bytes().to_vec())
                .unwrap_or_default();
            let p = Packet {
                seq: self.seq,
                channel: ev.channel,
                flags: flags::EVENT | ack,
                opcode,
                payload,
            };
            self.emit(&p, out);
            self.stats.events += 1;
        }
    }

    fn emit(&mut self, p: &Packet, out: &mut Vec<u8>) {
        p.encode_into(self.caps.crc, out);
        self.stats.sent += 1;
    }

    fn reply(&mut self, req: &Packet, packets: Vec<Packet>, out: &mut Vec<u8>) {
        let n = packets.len() as u8;
        for p in &packets {
            self.emit(p, out);
        }
        self.seq = req.seq.wrapping_add(n);
    }

    fn ack(req: &Packet) -> Packet {
        Packet {
            seq: req.seq,
            channel: req.channel,
            flags: flags::ACK,
            opcode: req.opcode,
            payload: Vec::new(),
        }
    }

    fn nak(req: &Packet, status: Status) -> Packet {
        Packet {
            seq: req.seq,
            channel: req.channel,
            flags: flags::NAK,
            opcode: req.opcode,
            payload: (status as u16).to_le_bytes().to_vec(),
        }
    }

    fn data(&self, req: &Packet, payload: &[u8]) -> Vec<Packet> {
        if payload.is_empty() {
            return vec![Self::ack(req)];
        }
        let ack = if self.caps.ack { flags::ACK_REQ } else { 0 };
        v2::fragment(
            req.seq,
            req.channel,
            req.opcode,
            ack,
            payload,
            usize::from(self.caps.max_payload),
        )
    }

    fn handle(&mut self, cam: &mut VirtualCamera, p: Packet, out: &mut Vec<u8>) -> Control {
        // The host acknowledging one of our ACK_REQ packets: nothing to answer.
        if p.has(flags::ACK) && p.opcode != op::PROTO_SYNC {
            return Control::Continue;
        }
        if p.opcode == op::PROTO_SYNC && p.channel == 0 {
            self.caps = bootstrap_caps();
            self.decoder.crc = self.caps.crc;
            cam.release_locks();
            let r = Self::ack(&p);
            self.emit(&r, out);
            self.seq = 0;
            return Control::Continue;
        }
        if self.caps.seq && p.seq != self.seq {
            self.stats.sequence += 1;
            let r = Self::nak(&p, Status::Sequence);
            self.emit(&r, out);
            return Control::Continue;
        }
        let replies = match (p.channel, p.opcode) {
            (0, op::PROTO_GET_CAPS) => {
                let caps = Caps {
                    crc: true,
                    seq: true,
                    ack: true,
                    events: true,
                    max_payload: v2::MAX_PAYLOAD as u16,
                };
                self.data(&p, &caps.encode())
            }
            (0, op::PROTO_SET_CAPS) => match Caps::decode(&p.payload) {
                Some(c)
                    if (v2::MIN_PAYLOAD..=v2::MAX_PAYLOAD)
                        .contains(&usize::from(c.max_payload)) =>
                {
                    // Acknowledged under the old caps, then applied.
                    self.reply(&p, vec![Self::ack(&p)], out);
                    self.caps = c;
                    self.decoder.crc = c.crc;
                    return Control::Continue;
                }
                _ => vec![Self::nak(&p, Status::Invalid)],
            },
            (0, op::PROTO_STATS) => {
                let s = self.stats;
                let words = [
                    s.sent,
                    s.received,
                    s.checksum,
                    s.sequence,
                    s.retransmit,
                    s.transport,
                    s.events,
                    0,
                ];
                let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                self.data(&p, &bytes)
            }
            (0, op::PROTO_VERSION) => {
                let v = Version {
                    protocol: PROTOCOL_VERSION,
                    bootloader: [2, 0, 0],
                    firmware: cam.version(),
                };
                self.data(&p, &v.encode())
            }
            (0, op::SYS_RESET) | (0, op::SYS_BOOT) => {
                cam.soft_reset();
                *self = V2Device::new();
                return if p.opcode == op::SYS_BOOT {
                    Control::Boot
                } else {
                    Control::Reset
                };
            }
            (0, op::SYS_INFO) => {
                let board = cam.board();
                let [flash_kb, ram_kb, fb_kb, stream_kb] = board.memory_kb();
                let info = SysInfo {
                    cpu_id: board.cpu_id(),
                    dev_id: cam.uid(),
                    usb_id: (u32::from(OPENMV_VID) << 16) | u32::from(board.firmware_pid()),
                    chip_id: [SENSOR_CHIP_ID, 0, 0],
                    // JPEG encoder and CRC unit present, high-speed USB.
                    hw_caps: [(1 << 4) | (1 << 6) | (1 << 20), 0],
                    flash_kb,
                    ram_kb,
                    fb_kb,
                    stream_kb,
                };
                self.data(&p, &info.encode())
            }
            (0, op::SYS_MEMORY) => self.data(&p, &[0, 0, 0, 0]),
            (0, op::CHANNEL_LIST) => {
                let mut b = Vec::new();
                for c in cam.channels() {
                    ChannelEntry {
                        id: c.id,
                        flags: c.flags,
                        name: c.name.to_string(),
                    }
                    .encode_into(&mut b);
                }
                self.data(&p, &b)
            }
            (0, op::CHANNEL_POLL) => self.data(&p, &cam.poll_bitmap().to_le_bytes()),
            (0, _) => vec![Self::nak(&p, Status::Invalid)],
            (ch, op::CHANNEL_LOCK) => self.status(&p, cam.lock(ch).map(|_| Vec::new())),
            (ch, op::CHANNEL_UNLOCK) => self.status(&p, cam.unlock(ch).map(|_| Vec::new())),
            (ch, op::CHANNEL_SIZE) => {
                self.status(&p, cam.size(ch).map(|s| s.to_le_bytes().to_vec()))
            }
            (ch, op::CHANNEL_SHAPE) => self.status(
                &p,
                cam.shape(ch)
                    .map(|s| s.iter().flat_map(|w| w.to_le_bytes()).collect()),
            ),
            (ch, op::CHANNEL_READ) => match (word(&p.payload, 0), word(&p.payload, 1)) {
                (Some(off), Some(len)) => {
                    let r = cam.read(ch, off, len);
                    self.status(&p, r)
                }
                _ => vec![Self::nak(&p, Status::Invalid)],
            },
            (ch, op::CHANNEL_WRITE) => match (word(&p.payload, 0), word(&p.payload, 1)) {
                (Some(off), Some(len)) if p.payload.len() >= 8 + len as usize => {
                    let r = cam
                        .write(ch, off, &p.payload[8..8 + len as usize])
                        .map(|_| Vec::new());
                    self.status(&p, r)
                }
                _ => vec![Self::nak(&p, Status::Invalid)],
            },
            (ch, op::CHANNEL_IOCTL) => match word(&p.payload, 0) {
                Some(req) => {
                    let r = cam.ioctl(ch, req, &p.payload[4..]).map(|_| Vec::new());
                    self.status(&p, r)
                }
                None => vec![Self::nak(&p, Status::Invalid)],
            },
            _ => vec![Self::nak(&p, Status::Invalid)],
        };
        self.reply(&p, replies, out);
        Control::Continue
    }

    fn status(&self, p: &Packet, r: Result<Vec<u8>, ChannelError>) -> Vec<Packet> {
        match r {
            Ok(data) => self.data(p, &data),
            Err(e) => vec![Self::nak(
                p,
                match e {
                    ChannelError::Invalid => Status::Invalid,
                    ChannelError::Busy => Status::Busy,
                    ChannelError::Overflow => Status::Overflow,
                    ChannelError::Failed => Status::Failed,
                },
            )],
        }
    }
}

fn word(b: &[u8], i: usize) -> Option<u32> {
    b.get(i * 4..i * 4 + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}
