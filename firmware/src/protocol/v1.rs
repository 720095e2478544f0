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
}
