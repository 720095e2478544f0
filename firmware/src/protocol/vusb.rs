//! visreg's virtual-USB tunnel: how a virtual camera in its DFU bootloader answers USB
//! control transfers over a byte transport (its pseudo-terminal), so that the flasher's
//! DFU I/O runs against a `visreg sim` process exactly as it runs against a real
//! bootloader over `nusb`. Pure codec.
//!
//! Request: `"VU"`, u8 tag, u8 kind, u8 request, u16 value, u16 length, CRC-16 of those
//! seven bytes, then for a control-out `length` bytes and their CRC-16. Kinds: 0 control
//! out, 1 control in (`length` = bytes wanted), 2 set alternate setting (`value`), 3 USB
//! reset, 4 identify.
//! Reply: `"VU"`, u8 tag (the request's), u8 status (0 ok, 1 stall, 2 gone), u16 length,
//! CRC-16 of those four bytes, then `length` bytes (control-in data; for identify u16 VID,
//! u16 PID and the serial) and their CRC-16 (only when `length` > 0).
//!
//! As on a real USB link: every frame carries the CRC-16 USB packets carry, so a
//! corrupted frame is dropped rather than acted on; the host sends a request again when
//! no reply comes (as USB hardware retries a packet); and the tag does what USB's data
//! toggle does — a request received twice (its reply was lost) is answered again, not
//! executed twice, and a late reply is told from the answer to the next request.

/// USB's CRC-16 (the data-packet CRC of the USB 2.0 specification, §8.3.5.2).
const CRC16: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_USB);

/// Frames longer than this are corrupt: DFU transfers are at most a few KiB.
pub const MAX_DATA: usize = 16 * 1024;

fn crc16(data: &[u8]) -> [u8; 2] {
    CRC16.checksum(data).to_le_bytes()
}

/// Request kinds.
pub mod kind {
    /// Control transfer to the device.
    pub const CONTROL_OUT: u8 = 0;
    /// Control transfer from the device.
    pub const CONTROL_IN: u8 = 1;
    /// SET_INTERFACE alternate setting.
    pub const SET_ALT: u8 = 2;
    /// Bus reset.
    pub const RESET: u8 = 3;
    /// Which USB identity the device presents.
    pub const IDENTIFY: u8 = 4;
}

/// Reply statuses.
pub mod status {
    /// Done.
    pub const OK: u8 = 0;
    /// The endpoint stalled.
    pub const STALL: u8 = 1;
    /// The device is gone (power lost, not in DFU).
    pub const GONE: u8 = 2;
}

/// A request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Kind.
    pub kind: u8,
    /// bRequest.
    pub request: u8,
    /// wValue.
    pub value: u16,
    /// wLength (control in) or data length.
    pub length: u16,
    /// Data (control out).
    pub data: Vec<u8>,
}

impl Request {
    /// Encodes, tagged `tag`.
    pub fn encode(&self, tag: u8) -> Vec<u8> {
        let mut v = b"VU".to_vec();
        v.push(tag);
        v.push(self.kind);
        v.push(self.request);
        v.extend_from_slice(&self.value.to_le_bytes());
        let len = if self.kind == kind::CONTROL_OUT {
            self.data.len() as u16
        } else {
            self.length
        };
        v.extend_from_slice(&len.to_le_bytes());
        let h = crc16(&v[2..]);
        v.extend_from_slice(&h);
        if self.kind == kind::CONTROL_OUT && !self.data.is_empty() {
            v.extend_from_slice(&self.data);
            v.extend_from_slice(&crc16(&self.data));
        }
        v
    }
}

/// A reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The tag of the request answered.
    pub tag: u8,
    /// Status.
    pub status: u8,
    /// Data.
    pub data: Vec<u8>,
}

impl Reply {
    /// Encodes.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = b"VU".to_vec();
        v.push(self.tag);
        v.push(self.status);
        v.extend_from_slice(&(self.data.len() as u16).to_le_bytes());
        let h = crc16(&v[2..]);
        v.extend_from_slice(&h);
        if !self.data.is_empty() {
            v.extend_from_slice(&self.data);
            v.extend_from_slice(&crc16(&self.data));
        }
        v
    }
}

/// Where the next frame may start: drops bytes before a `VU` (keeping a trailing `V`);
/// false when no `VU` is in `buf`.
fn seek(buf: &mut Vec<u8>) -> bool {
    match buf.windows(2).position(|w| w == b"VU") {
        Some(n) => {
            buf.drain(..n);
            true
        }
        None => {
            let keep = usize::from(buf.last() == Some(&b'V'));
            let n = buf.len() - keep;
            buf.drain(..n);
            false
        }
    }
}

/// Splits one frame with a `head`-byte header (after `VU`, CRC excluded) and `data_len(header)`
/// bytes of data off the front of `buf`. `None` until a whole frame is there; corrupt
/// frames are dropped on the way (their `VU` skipped, the search goes on).
fn take_frame(
    buf: &mut Vec<u8>,
    head: usize,
    data_len: impl Fn(&[u8]) -> usize,
) -> Option<(Vec<u8>, Vec<u8>)> {
    loop {
        if !seek(buf) || buf.len() < 2 + head + 2 {
            return None;
        }
        let header = buf[2..2 + head].to_vec();
        if buf[2 + head..4 + head] != crc16(&header) {
            buf.drain(..2);
            continue;
        }
        let n = data_len(&header);
        if n > MAX_DATA {
            buf.drain(..2);
            continue;
        }
        let total = 4 + head + if n > 0 { n + 2 } else { 0 };
        if buf.len() < total {
            return None;
        }
        let data = buf[4 + head..4 + head + n].to_vec();
        if n > 0 && buf[4 + head + n..total] != crc16(&data) {
            buf.drain(..2);
            continue;
        }
        buf.drain(..total);
        return Some((header, data));
    }
}

/// Pulls one request and its tag off the front of `buf` (dropping garbage and corrupt
/// frames); `None` until a whole request is there.
pub fn take_request(buf: &mut Vec<u8>) -> Option<(u8, Request)> {
    let (h, data) = take_frame(buf, 7, |h| {
        if h[1] == kind::CONTROL_OUT {
            usize::from(u16::from_le_bytes([h[5], h[6]]))
        } else {
            0
        }
    })?;
    Some((
        h[0],
        Request {
            kind: h[1],
            request: h[2],
            value: u16::from_le_bytes([h[3], h[4]]),
            length: u16::from_le_bytes([h[5], h[6]]),
            data,
        },
    ))
}

/// Pulls one reply off the front of `buf` (dropping garbage and corrupt frames); `None`
/// until a whole reply is there.
pub fn take_reply(buf: &mut Vec<u8>) -> Option<Reply> {
    let (h, data) = take_frame(buf, 4, |h| usize::from(u16::from_le_bytes([h[2], h[3]])))?;
    Some(Reply {
        tag: h[0],
        status: h[1],
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip_through_garbage() {
        let r = Request {
            kind: kind::CONTROL_OUT,
            request: 1,
            value: 7,
            length: 3,
            data: vec![1, 2, 3],
        };
        let mut buf = vec![0, 1, b'V'];
        buf.extend_from_slice(&r.encode(42));
        assert_eq!(take_request(&mut buf), Some((42, r)));
        assert!(buf.is_empty());
        let rep = Reply {
            tag: 42,
            status: status::OK,
            data: vec![9; 6],
        };
        let mut buf = rep.encode();
        buf.truncate(6);
        assert_eq!(take_reply(&mut buf), None);
        buf.extend_from_slice(&rep.encode()[6..]);
        assert_eq!(take_reply(&mut buf), Some(rep));
    }

    #[test]
    fn a_corrupted_frame_is_dropped_and_the_next_one_still_read() {
        let r = Request {
            kind: kind::CONTROL_OUT,
            request: 1,
            value: 0,
            length: 4,
            data: vec![1, 2, 3, 4],
        };
        // Every single-bit error anywhere in the first frame: it is never taken, and the
        // intact frame after it is.
        let good = r.encode(8);
        for byte in 0..good.len() {
            for bit in 0..8 {
                let mut bad = r.encode(7);
                bad[byte] ^= 1 << bit;
                let mut buf = bad.clone();
                buf.extend_from_slice(&good);
                let got = take_request(&mut buf);
                assert_eq!(got, Some((8, r.clone())), "byte {byte} bit {bit}");
            }
        }
        // A header that does not match its CRC (here: a length of 65535) is not waited on.
        let mut buf = b"VU\x07\x00\x01\x00\x00\xff\xff\x00\x00".to_vec();
        buf.extend_from_slice(&good);
        assert_eq!(take_request(&mut buf), Some((8, r)));
    }
}
