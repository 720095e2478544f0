//! The host side of protocol v2, over any [`Transport`]: the connect flow of the official
//! client (SYNC → GET_CAPS → SET_CAPS → CHANNEL_LIST → VERSION → SYS_INFO), channels by
//! name, scripts, stdout, frames and the workload channel. Every packet is awaited
//! under a deadline (restarted after each fragment or event, as the official client
//! does). A reply is the request's only when it carries the request's opcode and
//! sequence number: a reply that arrives after its request timed out (a USB link that
//! stalled for a second or two) is discarded, never read as the answer to the next
//! request. On a timeout, checksum or sequence error the client resynchronises (SYNC,
//! caps negotiated again) and retries the call, until the call's deadline.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use visreg_firmware::protocol::v2::{
    self, flags, op, Caps, ChannelEntry, Decoded, Decoder, FrameHeader, Packet, Status, SysInfo,
    Version,
};
use visreg_firmware::transport::{Transport, TransportError};

use super::{ClientError, ErrorKind, Frame};

/// Options of a v2 connection.
#[derive(Clone, Debug)]
pub struct V2Options {
    /// Wait for each packet (restarted after fragments and events).
    pub packet_timeout: Duration,
    /// Caps to ask for.
    pub caps: Caps,
    /// SYNC attempts when resynchronising.
    pub sync_attempts: u32,
    /// How long one call may take with its resyncs and retries: long enough to ride out
    /// the stalls a USB link really has (a second or two), short enough that a camera
    /// that is gone is reported well within any run's deadline.
    pub call_deadline: Duration,
}

impl Default for V2Options {
    fn default() -> Self {
        V2Options {
            packet_timeout: Duration::from_secs(1),
            caps: Caps {
                crc: true,
                seq: true,
                ack: true,
                events: true,
                max_payload: 4096,
            },
            sync_attempts: 3,
            call_deadline: Duration::from_secs(8),
        }
    }
}

/// A connected protocol v2 camera.
pub struct V2Client<T: Transport> {
    t: T,
    port: String,
    decoder: Decoder,
    caps: Caps,
    seq: u8,
    opts: V2Options,
    channels: HashMap<String, u8>,
    channels_stale: bool,
    /// Events received (channel, code), oldest first.
    pub events: Vec<(u8, Option<u16>)>,
    /// Versions read at connect.
    pub version: Version,
    /// System information read at connect.
    pub sys_info: SysInfo,
    /// Resynchronisations so far.
    pub resyncs: u32,
}

impl<T: Transport> V2Client<T> {
    /// Connects over `t`.
    pub fn connect(t: T, opts: V2Options) -> Result<Self, ClientError> {
        let port = t.name();
        let mut c = V2Client {
            t,
            port,
            decoder: Decoder::new(true, v2::BOOTSTRAP_PAYLOAD),
            caps: Caps {
                crc: true,
                seq: true,
                ack: false,
                events: false,
                max_payload: v2::BOOTSTRAP_PAYLOAD as u16,
            },
            seq: 0,
            opts,
            channels: HashMap::new(),
            channels_stale: true,
            events: Vec::new(),
            version: Version {
                protocol: [0; 3],
                bootloader: [0; 3],
                firmware: [0; 3],
            },
            sys_info: SysInfo::default(),
            resyncs: 0,
        };
        c.resync("connect")?;
        c.refresh_channels()?;
        let v = c.call(0, op::PROTO_VERSION, &[], "read the version")?;
        c.version = Version::decode(&v).ok_or_else(|| {
            c.err(
                "read the version",
                ErrorKind::Protocol(format!("{}-byte VERSION payload", v.len())),
            )
        })?;
        let s = c.call(0, op::SYS_INFO, &[], "read the system information")?;
        c.sys_info = SysInfo::decode(&s).ok_or_else(|| {
            c.err(
                "read the system information",
                ErrorKind::Protocol(format!("{}-byte SYS_INFO payload", s.len())),
            )
        })?;
        Ok(c)
    }

    /// Sends the camera into its bootloader (SYS_BOOT; no reply) and gives the transport
    /// back.
    pub fn boot(mut self) -> Result<T, ClientError> {
        let p = Packet {
            seq: self.seq,
            channel: 0,
            flags: 0,
            opcode: op::SYS_BOOT,
            payload: Vec::new(),
        };
        let bytes = p.encode(self.caps.crc);
        match self
            .t
            .send(&bytes, Instant::now() + self.opts.packet_timeout)
        {
            // A USB camera drops off the bus as it reboots, possibly before the write's
            // flush returns: that is SYS_BOOT working, not failing. The flasher then waits
            // for the bootloader under its own deadline.
            Ok(()) | Err(TransportError::Disconnected(_)) | Err(TransportError::Io(_)) => {
                Ok(self.t)
            }
            Err(e) => Err(self.transport_err("enter the bootloader", e)),
        }
    }

    /// The port.
    pub fn port(&self) -> &str {
        &self.port
    }

    /// The negotiated caps.
    pub fn caps(&self) -> Caps {
        self.caps
    }

    fn err(&self, step: &str, kind: ErrorKind) -> ClientError {
        ClientError {
            port: self.port.clone(),
            step: step.to_string(),
            kind,
        }
    }

    /// SYNC (resetting the sequence), then caps.
    fn resync(&mut self, step: &str) -> Result<(), ClientError> {
        // Whatever was negotiated before, SYNC puts the camera back in its default config
        // (ACK and events on, 4082-byte packets; protocol/omv_protocol.c v5.0.0): accept
        // full-size packets, and acknowledge what asks for it (every data reply), until
        // SET_CAPS says otherwise. The host's own requests stay small until then.
        self.caps = v2::FIRMWARE_DEFAULT_CAPS;
        self.decoder = Decoder::new(true, v2::MAX_PAYLOAD);
        let mut last = None;
        for _ in 0..self.opts.sync_attempts.max(1) {
            self.seq = 0;
            match self.exchange(0, op::PROTO_SYNC, &[], "SYNC") {
                Ok(_) => {
                    last = None;
                    break;
                }
                Err(e) if e.kind == ErrorKind::Disconnected => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        if let Some(e) = last {
            return Err(self.err(
                &format!("{step} (SYNC)"),
                match e.kind {
                    ErrorKind::Timeout => ErrorKind::NoAnswer,
                    k => k,
                },
            ));
        }
        self.seq = 0;
        let dev = self.exchange(0, op::PROTO_GET_CAPS, &[], "GET_CAPS")?;
        let dev = Caps::decode(&dev).ok_or_else(|| {
            self.err("GET_CAPS", ErrorKind::Protocol("short caps payload".into()))
        })?;
        let want = Caps {
            crc: self.opts.caps.crc,
            seq: self.opts.caps.seq,
            ack: self.opts.caps.ack,
            events: self.opts.caps.events,
            max_payload: dev
                .max_payload
                .min(self.opts.caps.max_payload)
                .clamp(v2::MIN_PAYLOAD as u16, v2::MAX_PAYLOAD as u16),
        };
        self.exchange(0, op::PROTO_SET_CAPS, &want.encode(), "SET_CAPS")?;
        self.caps = want;
        self.decoder.crc = want.crc;
        self.decoder.max_payload = usize::from(want.max_payload);
        self.channels_stale = true;
        Ok(())
    }

    /// A call, resynchronised and retried on recoverable errors until the call deadline.
    /// Every request visreg retries is idempotent: reads and sizes, channel writes at an
    /// offset (the workload accepts a chunk it already has), caps and lists.
    fn call(
        &mut self,
        channel: u8,
        opcode: u8,
        payload: &[u8],
        step: &str,
    ) -> Result<Vec<u8>, ClientError> {
        let t0 = Instant::now();
        let until = t0 + self.opts.call_deadline;
        // What ended the attempts, in the user's terms: a camera that answered at
        // connect and then falls silent hangs; it is not a camera without OpenMV.
        let silent = |e: ClientError| match e.kind {
            ErrorKind::Timeout | ErrorKind::NoAnswer => ClientError {
                kind: ErrorKind::Stopped(t0.elapsed()),
                ..e
            },
            _ => e,
        };
        loop {
            let e = match self.exchange(channel, opcode, payload, step) {
                Ok(r) => return Ok(r),
                Err(e) if e.kind.recoverable() && Instant::now() < until => e,
                Err(e) if e.kind.recoverable() => return Err(silent(e)),
                Err(e) => return Err(e),
            };
            tracing::debug!("{e}; resynchronising");
            self.resyncs += 1;
            match self.resync(step) {
                Ok(()) => {}
                // The link is still stalled: try again while the deadline allows.
                Err(e) if Instant::now() < until && e.kind != ErrorKind::Disconnected => {
                    tracing::debug!("{e}; the camera does not answer yet");
                }
                Err(e) if e.kind == ErrorKind::Disconnected => return Err(e),
                Err(e) => return Err(silent(e)),
            }
        }
    }

    /// One request and its reply (fragments joined).
    fn exchange(
        &mut self,
        channel: u8,
        opcode: u8,
        payload: &[u8],
        step: &str,
    ) -> Result<Vec<u8>, ClientError> {
        let p = Packet {
            seq: self.seq,
            channel,
            flags: 0,
            opcode,
            payload: payload.to_vec(),
        };
        let bytes = p.encode(self.caps.crc);
        self.t
            .send(&bytes, Instant::now() + self.opts.packet_timeout * 2)
            .map_err(|e| self.transport_err(step, e))?;
        let mut data = Vec::new();
        let mut buf = [0u8; 8192];
        let mut deadline = Instant::now() + self.opts.packet_timeout;
        loop {
            while let Some(item) = self.decoder.next() {
                let r = match item {
                    Decoded::Packet(r) => r,
                    Decoded::HeaderCrc { .. } | Decoded::PayloadCrc { .. } => {
                        return Err(self.err(step, ErrorKind::Checksum));
                    }
                    Decoded::Length { .. } | Decoded::Skipped(_) => continue,
                };
                if r.has(flags::RTX) && r.seq != self.seq {
                    // A retransmission of something already seen: re-acknowledge, drop.
                    if r.has(flags::ACK_REQ) {
                        self.send_ack(&r, step)?;
                    }
                    continue;
                }
                if !r.has(flags::EVENT) && !self.answers(&r, opcode) {
                    // A late reply to a request that timed out (or the camera's ack of
                    // an earlier SYNC): not this request's answer.
                    tracing::debug!(
                        "{step}: discarded a late reply (opcode 0x{:02X}, seq {}) while waiting for opcode 0x{opcode:02X}, seq {}",
                        r.opcode,
                        r.seq,
                        self.seq
                    );
                    if r.has(flags::ACK_REQ) {
                        self.send_ack(&r, step)?;
                    }
                    continue;
                }
                if r.has(flags::ACK_REQ) {
                    self.send_ack(&r, step)?;
                }
                if r.has(flags::EVENT) {
                    let code = r.payload.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]]));
                    if r.channel == 0 && code == Some(0) {
                        self.channels_stale = true;
                    }
                    self.events.push((r.channel, code));
                    deadline = Instant::now() + self.opts.packet_timeout;
                    continue;
                }
                self.seq = self.seq.wrapping_add(1);
                if let Some(status) = r.nak_status() {
                    return Err(self.err(step, ErrorKind::Nak(status)));
                }
                data.extend_from_slice(&r.payload);
                if r.has(flags::FRAGMENT) {
                    deadline = Instant::now() + self.opts.packet_timeout;
                    continue;
                }
                return Ok(data);
            }
            match self.t.recv(&mut buf, deadline) {
                Ok(n) => self.decoder.push(&buf[..n]),
                Err(e) => return Err(self.transport_err(step, e)),
            }
        }
    }

    /// Whether `r` is the reply to the request in flight (`opcode`, sequence `self.seq`
    /// plus the fragments already joined, as the device numbers them). A SYNC is answered
    /// with an ACK of the SYNC: any other packet then is left over from before the SYNC.
    fn answers(&self, r: &Packet, opcode: u8) -> bool {
        if opcode == op::PROTO_SYNC {
            return r.opcode == op::PROTO_SYNC && r.has(flags::ACK);
        }
        r.opcode == opcode && (!self.caps.seq || r.seq == self.seq)
    }

    fn send_ack(&mut self, r: &Packet, step: &str) -> Result<(), ClientError> {
        let ack = Packet {
            seq: r.seq,
            channel: r.channel,
            flags: flags::ACK,
            opcode: r.opcode,
            payload: Vec::new(),
        };
        let bytes = ack.encode(self.caps.crc);
        self.t
            .send(&bytes, Instant::now() + self.opts.packet_timeout)
            .map_err(|e| self.transport_err(step, e))
    }

    fn transport_err(&self, step: &str, e: TransportError) -> ClientError {
        self.err(
            step,
            match e {
                TransportError::Timeout => ErrorKind::Timeout,
                TransportError::Disconnected(_) => ErrorKind::Disconnected,
                TransportError::Io(e) => ErrorKind::Io(e.to_string()),
            },
        )
    }

    fn refresh_channels(&mut self) -> Result<(), ClientError> {
        let list = self.call(0, op::CHANNEL_LIST, &[], "list channels")?;
        self.channels = ChannelEntry::decode_list(&list)
            .into_iter()
            .map(|c| (c.name, c.id))
            .collect();
        self.channels_stale = false;
        Ok(())
    }

    /// The id of channel `name`, listing channels again when one was registered since.
    pub fn channel(&mut self, name: &str) -> Result<Option<u8>, ClientError> {
        if self.channels_stale || !self.channels.contains_key(name) {
            self.refresh_channels()?;
        }
        Ok(self.channels.get(name).copied())
    }

    fn require(&mut self, name: &str, step: &str) -> Result<u8, ClientError> {
        self.channel(name)?
            .ok_or_else(|| self.err(step, ErrorKind::NoChannel(name.to_string())))
    }

    /// Runs `script` (stdin: RESET, WRITE chunks, EXEC).
    pub fn exec(&mut self, script: &str) -> Result<(), ClientError> {
        let stdin = self.require("stdin", "run a script")?;
        self.call(
            stdin,
            op::CHANNEL_IOCTL,
            &3u32.to_le_bytes(),
            "run a script (reset stdin)",
        )?;
        self.write_channel_id(stdin, script.as_bytes(), "run a script (upload)")?;
        self.call(
            stdin,
            op::CHANNEL_IOCTL,
            &2u32.to_le_bytes(),
            "run a script (exec)",
        )?;
        Ok(())
    }

    /// Stops the running script.
    pub fn stop(&mut self) -> Result<(), ClientError> {
        let stdin = self.require("stdin", "stop the script")?;
        self.call(
            stdin,
            op::CHANNEL_IOCTL,
            &1u32.to_le_bytes(),
            "stop the script",
        )
        .map(|_| ())
    }

    /// Reads whatever the script printed since the last call.
    pub fn read_stdout(&mut self) -> Result<String, ClientError> {
        let id = self.require("stdout", "read stdout")?;
        let data = self.read_channel_id(id, "read stdout")?;
        Ok(String::from_utf8_lossy(&data).into_owned())
    }

    /// Bytes waiting on channel `id`.
    fn size(&mut self, id: u8, step: &str) -> Result<u32, ClientError> {
        let b = self.call(id, op::CHANNEL_SIZE, &[], step)?;
        b.get(..4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
            .ok_or_else(|| self.err(step, ErrorKind::Protocol("short CHANNEL_SIZE reply".into())))
    }

    fn read_channel_id(&mut self, id: u8, step: &str) -> Result<Vec<u8>, ClientError> {
        let size = self.size(id, step)?;
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut args = 0u32.to_le_bytes().to_vec();
        args.extend_from_slice(&size.to_le_bytes());
        self.call(id, op::CHANNEL_READ, &args, step)
    }

    fn write_channel_id(&mut self, id: u8, data: &[u8], step: &str) -> Result<(), ClientError> {
        let chunk = usize::from(self.caps.max_payload) - 8;
        for (i, c) in data.chunks(chunk.max(1)).enumerate() {
            let mut p = ((i * chunk) as u32).to_le_bytes().to_vec();
            p.extend_from_slice(&(c.len() as u32).to_le_bytes());
            p.extend_from_slice(c);
            self.call(id, op::CHANNEL_WRITE, &p, step)?;
        }
        Ok(())
    }

    /// Bytes waiting on channel `name` (0 when it does not exist).
    pub fn channel_size(&mut self, name: &str) -> Result<u32, ClientError> {
        match self.channel(name)? {
            Some(id) => self.size(id, &format!("size of channel {name}")),
            None => Ok(0),
        }
    }

    /// Reads everything waiting on channel `name`.
    pub fn channel_read(&mut self, name: &str) -> Result<Vec<u8>, ClientError> {
        let step = format!("read channel {name}");
        let id = self.require(name, &step)?;
        self.read_channel_id(id, &step)
    }

    /// Writes `data` to channel `name` from offset 0.
    pub fn channel_write(&mut self, name: &str, data: &[u8]) -> Result<(), ClientError> {
        let step = format!("write channel {name}");
        let id = self.require(name, &step)?;
        self.write_channel_id(id, data, &step)
    }

    /// Turns streaming on or off; `raw` asks for uncompressed frames of `size`.
    pub fn streaming(&mut self, enable: bool, raw: Option<(u32, u32)>) -> Result<(), ClientError> {
        let id = self.require("stream", "configure streaming")?;
        if let Some((w, h)) = raw {
            let mut p = 2u32.to_le_bytes().to_vec();
            p.extend_from_slice(&w.to_le_bytes());
            p.extend_from_slice(&h.to_le_bytes());
            self.call(id, op::CHANNEL_IOCTL, &p, "configure streaming (raw size)")?;
        }
        let mut p = 1u32.to_le_bytes().to_vec();
        p.extend_from_slice(&u32::from(raw.is_some()).to_le_bytes());
        self.call(id, op::CHANNEL_IOCTL, &p, "configure streaming (raw)")?;
        let mut p = 0u32.to_le_bytes().to_vec();
        p.extend_from_slice(&u32::from(enable).to_le_bytes());
        self.call(id, op::CHANNEL_IOCTL, &p, "configure streaming")
            .map(|_| ())
    }

    /// Reads the current frame (LOCK → SIZE → READ → UNLOCK); `None` when the camera has
    /// no frame yet.
    pub fn read_frame(&mut self) -> Result<Option<Frame>, ClientError> {
        let id = self.require("stream", "read a frame")?;
        match self.call(id, op::CHANNEL_LOCK, &[], "read a frame (lock)") {
            Ok(_) => {}
            Err(e) if e.kind == ErrorKind::Nak(Status::Busy) => return Ok(None),
            Err(e) => return Err(e),
        }
        let result = self.read_channel_id(id, "read a frame");
        let unlock = self.call(id, op::CHANNEL_UNLOCK, &[], "read a frame (unlock)");
        let data = result?;
        unlock?;
        let Some(h) = FrameHeader::decode(&data) else {
            return Ok(None);
        };
        let pixels = data.get(h.offset as usize..).unwrap_or_default().to_vec();
        Ok(Some(Frame {
            width: h.width,
            height: h.height,
            pixfmt: h.pixfmt,
            data: pixels,
        }))
    }
}
