//! visreg's virtual-USB tunnel: how a virtual camera in its DFU bootloader answers USB
//! control transfers over a byte transport (its pseudo-terminal), so that the flasher's
//! DFU I/O runs against a `visreg sim` process exactly as it runs against a real
//! bootloader over `nusb`. Pure codec.
//!
//! Request: `"VU"`, u8 tag, u8 kind, u8 request, u16 value, u16 length, then `length`
//! bytes for a control-out. Kinds: 0 control out, 1 control in (`length` = bytes
//! wanted), 2 set alternate setting (`value`), 3 USB reset, 4 identify.
//! Reply: `"VU"`, u8 tag (the request's), u8 status (0 ok, 1 stall, 2 gone), u16 length,
//! then `length` bytes (control-in data; for identify u16 VID, u16 PID and the serial).
//! The tag lets the host drop a reply that arrives after its request timed out (a link
//! that stalled), so it is never read as the answer to the next request.

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
        if self.kind == kind::CONTROL_OUT {
            v.extend_from_slice(&self.data);
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
        v.extend_from_slice(&self.data);
        v
    }
}

/// Pulls one request and its tag off the front of `buf` (dropping bytes before a `VU`);
/// `None` until a whole request is there.
pub fn take_request(buf: &mut Vec<u8>) -> Option<(u8, Request)> {
    let start = buf.windows(2).position(|w| w == b"VU");
    match start {
        Some(0) => {}
        Some(n) => {
            buf.drain(..n);
        }
        None => {
            let keep = usize::from(buf.last() == Some(&b'V'));
            let n = buf.len() - keep;
            buf.drain(..n);
            return None;
        }
    }
    if buf.len() < 9 {
        return None;
    }
    let tag = buf[2];
    let kind = buf[3];
    let request = buf[4];
    let value = u16::from_le_bytes([buf[5], buf[6]]);
    let length = u16::from_le_bytes([buf[7], buf[8]]);
    let data_len = if kind == kind::CONTROL_OUT {
        usize::from(length)
    } else {
        0
    };
    if buf.len() < 9 + data_len {
        return None;
    }
    let data = buf[9..9 + data_len].to_vec();
    buf.drain(..9 + data_len);
    Some((
        tag,
        Request {
            kind,
            request,
            value,
            length,
            data,
        },
    ))
}

/// Pulls one reply off the front of `buf`; `None` until a whole reply is there.
pub fn take_reply(buf: &mut Vec<u8>) -> Option<Reply> {
    let start = buf.windows(2).position(|w| w == b"VU")?;
    buf.drain(..start);
    if buf.len() < 6 {
        return None;
    }
    let len = usize::from(u16::from_le_bytes([buf[4], buf[5]]));
    if buf.len() < 6 + len {
        return None;
    }
    let r = Reply {
        tag: buf[2],
        status: buf[3],
        data: buf[6..6 + len].to_vec(),
    };
    buf.drain(..6 + len);
    Some(r)
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
}
