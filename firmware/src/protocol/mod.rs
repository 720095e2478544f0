//! The camera's wire protocols as pure codecs: bytes in, values out, no I/O.

pub mod v1;
pub mod v2;
pub mod vusb;
