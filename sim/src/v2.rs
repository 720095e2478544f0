//! The device side of protocol v2: packets from the host in, replies and events out,
//! acting on a [`VirtualCamera`]. Sequencing, caps negotiation, fragmentation, ACK_REQ
//! and events follow PROTOCOL.md §1 and the official client's expectations (a SYNC is
//! answered with an ACK and resets the sequence; every reply packet carries the request's
//! sequence number plus its fragment index).
//!
//! Firmware facts this follows (openmv/openmv `protocol/omv_protocol.c`, v5.0.0):
//! - at power-on and after PROTO_SYNC the config is `omv_protocol_init_default`'s, restored
//!   by `omv_protocol_reset`: CRC, sequence, ACK and events all on, max payload 4082;
//!   PROTO_GET_CAPS reports the config in force (`ctx.config`), not a fixed set;
//! - `omv_protocol_send_packet` adds ACK_REQ to every packet while acks are on, except
//!   those whose flags meet `OMV_PROTOCOL_FLAG_NO_ACK` (ACK, NAK, EVENT): status replies
//!   and the firmware's own events (`omv_protocol_send_event(…, false)`) never ask for one;
//! - CHANNEL_READ of a channel without zero-copy reads (`readp`) — stdout and every
//!   channel a script registers with a Python `read` method (`modules/py_protocol.c`) —
//!   sends the data in pieces of at most `min(512, max_payload)` bytes, one packet each,
//!   FRAGMENT on all but the last; the stream channel has `readp` and is fragmented at
//!   max payload (`protocol/omv_protocol_channel_stream.c`);
//! - SYS_INFO's `flash_size_kb` and `ram_size_kb` are 0; the framebuffer and stream
//!   buffer sizes are reported; `hw_caps[0]` is the board's `OMV_PROTOCOL_HW_CAPS`
//!   (`boards/*/board_config.h`).

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
    /// When the protocol last ran while the detector was busy.
    last_poll: std::time::Instant,
    /// Counters.
    pub stats: Stats,
}

impl Default for V2Device {
    fn default() -> Self {
        Self::new()
    }
}

/// The config the firmware starts with and restores on PROTO_SYNC
/// ([`v2::FIRMWARE_DEFAULT_CAPS`]).
pub fn default_caps() -> Caps {
    v2::FIRMWARE_DEFAULT_CAPS
}

/// The largest piece CHANNEL_READ sends for a channel without zero-copy reads
/// (`uint8_t buffer[OMV_MIN(512, ctx.config.max_payload)]`, protocol/omv_protocol.c v5.0.0).
pub const READ_PIECE: usize = 512;

/// `OMV_PROTOCOL_HW_CAPS` of the board (`boards/*/board_config.h`, v5.0.0; bits from
/// `protocol/omv_protocol_hw_caps.h`). The N6's PMU event-counter count (bits 8–15) is
/// left 0: it comes from the CMSIS core header, not the board file.
pub fn hw_caps(board: visreg_firmware::board::Board) -> u32 {
    use visreg_firmware::board::Board;
    const GPU: u32 = 1 << 0;
    const NPU: u32 = 1 << 1;
    const ISP: u32 = 1 << 2;
    const VENC: u32 = 1 << 3;
    const JPEG: u32 = 1 << 4;
    const DRAM: u32 = 1 << 5;
    const CRC: u32 = 1 << 6;
    const PMU: u32 = 1 << 7;
    const WIFI: u32 = 1 << 16;
    const BT: u32 = 1 << 17;
    const SD: u32 = 1 << 18;
    const ETH: u32 = 1 << 19;
    const USB_HS: u32 = 1 << 20;
    match board {
        // OPENMV2 has no 5.x board_config.h protocol caps line of its own; it has JPEG.
        Board::M4 => JPEG | SD,
        Board::M7 | Board::H7 => JPEG | CRC | SD,
        Board::H7Plus => JPEG | DRAM | CRC | SD,
        Board::RT1062 => DRAM | WIFI | BT | SD | ETH | USB_HS,
        Board::N6 => {
            GPU | NPU | ISP | VENC | JPEG | DRAM | CRC | PMU | WIFI | BT | SD | ETH | USB_HS
        }
    }
}

impl V2Device {
    /// A device in its power-on state.
    pub fn new() -> Self {
        let caps = default_caps();
        V2Device {
            // Accept host packets up to the device buffer whatever was negotiated.
            decoder: Decoder::new(caps.crc, v2::MAX_PAYLOAD),
            caps,
            seq: 0,
            last_poll: std::time::Instant::now(),
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
        // While find_apriltags runs (`--link real`), 5.x runs the protocol only from the
        // detector's poll hook, every 20 ms (crate::link::DETECTOR_POLL); what arrives
        // meanwhile waits in the buffer, as it waits in the CDC FIFO.
        let now = std::time::Instant::now();
        if cam.detecting(now) {
            if now.duration_since(self.last_poll) < crate::link::DETECTOR_POLL {
                return Control::Continue;
            }
            self.last_poll = now;
        }
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
            // The firmware's own events are sent with wait_ack = false: no ACK_REQ.
            let payload = ev
                .code
                .map(|c| c.to_le_bytes().to_vec())
                .unwrap_or_default();
            let p = Packet {
                seq: self.seq,
                channel: ev.channel,
                flags: flags::EVENT,
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
        self.pieces(req, payload, usize::from(self.caps.max_payload))
    }

    /// A reply in packets of at most `piece` bytes.
    fn pieces(&self, req: &Packet, payload: &[u8], piece: usize) -> Vec<Packet> {
        if payload.is_empty() {
            return vec![Self::ack(req)];
        }
        let ack = if self.caps.ack { flags::ACK_REQ } else { 0 };
        v2::fragment(req.seq, req.channel, req.opcode, ack, payload, piece)
    }

    fn handle(&mut self, cam: &mut VirtualCamera, p: Packet, out: &mut Vec<u8>) -> Control {
        // The host acknowledging one of our ACK_REQ packets: nothing to answer.
        if p.has(flags::ACK) && p.opcode != op::PROTO_SYNC {
            return Control::Continue;
        }
        if p.opcode == op::PROTO_SYNC && p.channel == 0 {
            self.caps = default_caps();
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
            (0, op::PROTO_GET_CAPS) => self.data(&p, &self.caps.encode()),
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
                let [_, _, fb_kb, stream_kb] = board.memory_kb();
                let info = SysInfo {
                    cpu_id: board.cpu_id(),
                    dev_id: cam.uid(),
                    usb_id: (u32::from(OPENMV_VID) << 16) | u32::from(board.firmware_pid()),
                    chip_id: [SENSOR_CHIP_ID, 0, 0],
                    hw_caps: [hw_caps(board), 0],
                    // `sysinfo.flash_size_kb = 0; sysinfo.ram_size_kb = 0;` (v5.0.0).
                    flash_kb: 0,
                    ram_kb: 0,
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
                    let piece = if cam.zero_copy(ch) {
                        usize::from(self.caps.max_payload)
                    } else {
                        READ_PIECE.min(usize::from(self.caps.max_payload))
                    };
                    match cam.read(ch, off, len) {
                        Ok(data) => self.pieces(&p, &data, piece),
                        Err(e) => self.status(&p, Err(e)),
                    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use visreg_firmware::catalog::Catalog;

    fn cam(build: &str) -> VirtualCamera {
        VirtualCamera::new(Catalog::builtin().build(build).unwrap().clone(), None, 1).unwrap()
    }

    /// Sends one request (CRC on) and returns every packet the device answered with.
    fn call(dev: &mut V2Device, cam: &mut VirtualCamera, p: Packet) -> Vec<Packet> {
        let mut out = Vec::new();
        dev.on_bytes(cam, &p.encode(true), &mut out);
        dev.on_idle(cam, &mut out);
        let mut d = Decoder::new(true, v2::MAX_PAYLOAD);
        d.push(&out);
        let mut got = Vec::new();
        while let Some(x) = d.next() {
            if let Decoded::Packet(p) = x {
                got.push(p);
            }
        }
        got
    }

    #[test]
    fn sync_restores_the_firmware_default_config_and_get_caps_reports_the_one_in_force() {
        let (mut dev, mut c) = (V2Device::new(), cam("5.0.0"));
        let r = call(&mut dev, &mut c, Packet::new(0, 0, op::PROTO_SYNC, vec![]));
        assert!(r[0].has(flags::ACK) && !r[0].has(flags::ACK_REQ), "{r:?}");
        let lean = Caps {
            crc: true,
            seq: true,
            ack: false,
            events: false,
            max_payload: 100,
        };
        call(
            &mut dev,
            &mut c,
            Packet::new(0, 0, op::PROTO_SET_CAPS, lean.encode()),
        );
        let r = call(
            &mut dev,
            &mut c,
            Packet::new(1, 0, op::PROTO_GET_CAPS, vec![]),
        );
        assert_eq!(Caps::decode(&r[0].payload), Some(lean), "the caps in force");
        assert!(!r[0].has(flags::ACK_REQ), "acks are off");
        // SYNC: back to CRC, seq, ACK and events on, 4082 bytes.
        call(&mut dev, &mut c, Packet::new(9, 0, op::PROTO_SYNC, vec![]));
        assert_eq!(dev.caps(), default_caps());
        let r = call(
            &mut dev,
            &mut c,
            Packet::new(0, 0, op::PROTO_GET_CAPS, vec![]),
        );
        assert_eq!(Caps::decode(&r[0].payload), Some(default_caps()));
        assert!(r[0].has(flags::ACK_REQ), "a data reply asks for an ACK");
        // A 64-byte channel list goes in one packet, not in bootstrap-sized pieces.
        let r = call(
            &mut dev,
            &mut c,
            Packet::new(1, 0, op::CHANNEL_LIST, vec![]),
        );
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].payload.len(), 4 * 16);
    }

    #[test]
    fn the_first_script_channel_is_4_and_registering_it_raises_an_event_without_ack_req() {
        let (mut dev, mut c) = (V2Device::new(), cam("5.0.0"));
        call(&mut dev, &mut c, Packet::new(0, 0, op::PROTO_SYNC, vec![]));
        c.exec("# visreg-workload: replay 1\nCONFIG = json.loads('{\"family\": \"tag36h11\", \"fx\": 224.9, \"fy\": 227.6, \"cx\": 160.0, \"cy\": 120.0}')\n");
        let r = call(
            &mut dev,
            &mut c,
            Packet::new(0, 0, op::CHANNEL_LIST, vec![]),
        );
        let events: Vec<&Packet> = r.iter().filter(|p| p.has(flags::EVENT)).collect();
        assert!(
            events
                .iter()
                .any(|p| p.opcode == op::SYS_EVENT && p.payload == [0, 0]),
            "channel registered: {events:?}"
        );
        assert!(events.iter().all(|p| !p.has(flags::ACK_REQ)), "{events:?}");
        let list = r.iter().find(|p| p.opcode == op::CHANNEL_LIST).unwrap();
        let ch = ChannelEntry::decode_list(&list.payload);
        let visreg = ch.iter().find(|e| e.name == "visreg").unwrap();
        assert_eq!(visreg.id, 4, "{ch:?}");
    }

    #[test]
    fn stdout_is_read_in_512_byte_pieces_the_stream_at_max_payload() {
        let (mut dev, mut c) = (V2Device::new(), cam("5.0.0"));
        call(&mut dev, &mut c, Packet::new(0, 0, op::PROTO_SYNC, vec![]));
        let script: String = (0..90).map(|i| format!("print('line {i:04}')\n")).collect();
        c.exec(&script);
        c.take_events();
        let n = c.size(crate::device::ids::STDOUT).unwrap();
        assert_eq!(n, 900);
        let mut args = 0u32.to_le_bytes().to_vec();
        args.extend_from_slice(&n.to_le_bytes());
        let r = call(&mut dev, &mut c, Packet::new(0, 2, op::CHANNEL_READ, args));
        let sizes: Vec<usize> = r.iter().map(|p| p.payload.len()).collect();
        assert_eq!(sizes, vec![512, 388]);
        assert!(r[0].has(flags::FRAGMENT) && !r[1].has(flags::FRAGMENT));
        assert_eq!(
            (r[0].seq, r[1].seq),
            (0, 1),
            "each piece steps the sequence"
        );
        assert!(r.iter().all(|p| p.has(flags::ACK_REQ)));
    }

    #[test]
    fn sys_info_reports_flash_and_ram_as_zero_and_the_boards_own_caps() {
        // The built-in 5.x builds are H7 Plus builds: full-speed USB, no HS bit.
        let (mut dev, mut c) = (V2Device::new(), cam("5.0.0"));
        let r = call(&mut dev, &mut c, Packet::new(0, 0, op::SYS_INFO, vec![]));
        let info = SysInfo::decode(&r[0].payload).unwrap();
        assert_eq!((info.flash_kb, info.ram_kb), (0, 0), "{info:?}");
        assert!(info.fb_kb > 0 && info.stream_kb > 0);
        assert_eq!(info.hw_caps[0] & (1 << 20), 0, "USB HS bit on an H7 Plus");
        assert_eq!(info.hw_caps[0], hw_caps(c.board()));
    }

    #[test]
    fn while_the_detector_runs_requests_wait_for_its_20_ms_poll() {
        let (mut dev, mut c) = (V2Device::new(), cam("5.0.0"));
        c.set_realtime(true);
        call(&mut dev, &mut c, Packet::new(0, 0, op::PROTO_SYNC, vec![]));
        c.exec("# visreg-workload: replay 1\nCONFIG = json.loads('{\"family\": \"tag36h11\", \"fx\": 224.9, \"fy\": 227.6, \"cx\": 160.0, \"cy\": 120.0}')\n");
        // QVGA: ~36 ms of modelled detection on this build, well past one 20 ms poll.
        let frame = visreg_firmware::workload::pack_frame(0, 320, 240, &vec![128; 320 * 240]);
        let id = crate::device::ids::VISREG;
        for (i, chunk) in frame.chunks(4000).enumerate() {
            c.write(id, (i * 4000) as u32, chunk).unwrap();
        }
        assert!(
            c.detecting(std::time::Instant::now()),
            "the detector is busy"
        );
        // The first request since the last poll is served by this poll; the next waits.
        let mut seq = 0;
        let mut size = |dev: &mut V2Device, c: &mut VirtualCamera| {
            let r = call(dev, c, Packet::new(seq, id, op::CHANNEL_SIZE, vec![]));
            let r: Vec<Packet> = r.into_iter().filter(|p| !p.has(flags::EVENT)).collect();
            if !r.is_empty() {
                seq = seq.wrapping_add(1);
            }
            r
        };
        std::thread::sleep(crate::link::DETECTOR_POLL);
        let r = size(&mut dev, &mut c);
        assert_eq!(r.len(), 1, "served at the poll");
        assert_eq!(r[0].payload, 0u32.to_le_bytes(), "no result yet");
        assert!(size(&mut dev, &mut c).is_empty(), "waits for the next poll");
        // Once the detector is done, the waiting request is answered with the result's size.
        while c.detecting(std::time::Instant::now()) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let mut out = Vec::new();
        dev.on_bytes(&mut c, &[], &mut out);
        let mut d = Decoder::new(true, v2::MAX_PAYLOAD);
        d.push(&out);
        let Some(Decoded::Packet(p)) = d.next() else {
            panic!("the waiting request was not answered")
        };
        assert_eq!(p.opcode, op::CHANNEL_SIZE);
        assert!(u32::from_le_bytes([p.payload[0], p.payload[1], p.payload[2], p.payload[3]]) > 0);
    }
}
