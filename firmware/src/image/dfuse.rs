//! DfuSe `.dfu` files (ST's extension of the DFU file format), pure: parse with every
//! check a flasher needs before a camera is touched, and write.
//!
//! Layout (PROTOCOL.md §3): prefix 11 B — `"DfuSe"`, u8 version 1, u32 image size (the
//! whole file as dfuse-pack writes it; PROTOCOL.md says without the suffix — both are
//! read), u8 target count; per target 274 B — `"Target"`, u8 alternate
//! setting, u32 named, 255-byte name, u32 size of its elements, u32 element count; per
//! element u32 address, u32 size, data; then the 16-byte DFU suffix — u16 bcdDevice,
//! u16 idProduct, u16 idVendor, u16 bcdDFU (0x011A for DfuSe), `"UFD"`, u8 length 16,
//! u32 CRC: the reflected CRC-32 (0x04C11DB7, init 0xFFFFFFFF) **without** the final XOR
//! (= `!zlib.crc32`) of everything before it. All little-endian.

use crc::{Crc, CRC_32_ISO_HDLC};

/// The CRC of a DFU suffix: zlib's CRC-32 without its final inversion.
pub fn dfu_crc(data: &[u8]) -> u32 {
    !Crc::<u32>::new(&CRC_32_ISO_HDLC).checksum(data)
}

/// The 16-byte DFU suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suffix {
    /// bcdDevice (0xFFFF = any).
    pub bcd_device: u16,
    /// idProduct (0xFFFF = any).
    pub product: u16,
    /// idVendor (0xFFFF = any).
    pub vendor: u16,
    /// bcdDFU: 0x0100 plain DFU, 0x011A DfuSe.
    pub bcd_dfu: u16,
}

/// Suffix length.
pub const SUFFIX_LEN: usize = 16;

impl Suffix {
    /// Appends this suffix, with its CRC, to `data`.
    pub fn append_to(&self, data: &mut Vec<u8>) {
        data.extend_from_slice(&self.bcd_device.to_le_bytes());
        data.extend_from_slice(&self.product.to_le_bytes());
        data.extend_from_slice(&self.vendor.to_le_bytes());
        data.extend_from_slice(&self.bcd_dfu.to_le_bytes());
        data.extend_from_slice(b"UFD");
        data.push(SUFFIX_LEN as u8);
        let crc = dfu_crc(data);
        data.extend_from_slice(&crc.to_le_bytes());
    }

    /// Reads and checks the suffix of `file`; returns it and the bytes before it.
    pub fn parse(file: &[u8]) -> Result<(Suffix, &[u8]), DfuseError> {
        if file.len() < SUFFIX_LEN {
            return Err(DfuseError::Truncated {
                what: "DFU suffix",
                need: SUFFIX_LEN,
                have: file.len(),
            });
        }
        let s = &file[file.len() - SUFFIX_LEN..];
        if &s[8..11] != b"UFD" {
            return Err(DfuseError::NoSuffix);
        }
        let len = usize::from(s[11]);
        if len != SUFFIX_LEN {
            return Err(DfuseError::Invalid(format!(
                "DFU suffix length {len}, expected 16"
            )));
        }
        let stored = u32::from_le_bytes([s[12], s[13], s[14], s[15]]);
        let computed = dfu_crc(&file[..file.len() - 4]);
        if stored != computed {
            return Err(DfuseError::Crc { stored, computed });
        }
        let w = |i: usize| u16::from_le_bytes([s[i], s[i + 1]]);
        Ok((
            Suffix {
                bcd_device: w(0),
                product: w(2),
                vendor: w(4),
                bcd_dfu: w(6),
            },
            &file[..file.len() - SUFFIX_LEN],
        ))
    }

    /// Whether the suffix allows a device `vid:pid` (0xFFFF is a wildcard).
    pub fn matches(&self, vid: u16, pid: u16) -> bool {
        (self.vendor == 0xFFFF || self.vendor == vid)
            && (self.product == 0xFFFF || self.product == pid)
    }
}

/// One element: bytes to write at an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    /// Start address.
    pub address: u32,
    /// Data.
    pub data: Vec<u8>,
}

/// One target (alternate setting) and its elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Alternate setting.
    pub alt: u8,
    /// Name, if named.
    pub name: Option<String>,
    /// Elements.
    pub elements: Vec<Element>,
}

/// A DfuSe file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DfuseFile {
    /// Targets.
    pub targets: Vec<Target>,
    /// Suffix.
    pub suffix: Suffix,
}

/// Why a DfuSe file is refused. Every variant says what is wrong in a user's words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DfuseError {
    /// Shorter than a structure needs.
    #[error("truncated: the {what} needs {need} bytes, {have} are left")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// No DFU suffix at all.
    #[error("no DFU suffix (no \"UFD\" signature): this is not a .dfu file (a raw .bin goes to a partition)")]
    NoSuffix,
    /// The suffix CRC does not match.
    #[error("CRC mismatch: the suffix says 0x{stored:08X}, the file gives 0x{computed:08X} (the file is corrupt or was edited)")]
    Crc {
        /// Stored.
        stored: u32,
        /// Computed.
        computed: u32,
    },
    /// Anything else.
    #[error("{0}")]
    Invalid(String),
}

const PREFIX_LEN: usize = 11;
const TARGET_LEN: usize = 274;

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

impl DfuseFile {
    /// Parses and checks a `.dfu` file: suffix CRC, prefix, sizes, counts.
    pub fn parse(file: &[u8]) -> Result<Self, DfuseError> {
        let (suffix, body) = Suffix::parse(file)?;
        if suffix.bcd_dfu != 0x011A {
            return Err(DfuseError::Invalid(format!(
                "bcdDFU 0x{:04X} is plain DFU, not DfuSe (0x011A): a raw image with a DFU suffix",
                suffix.bcd_dfu
            )));
        }
        if body.len() < PREFIX_LEN {
            return Err(DfuseError::Truncated {
                what: "DfuSe prefix",
                need: PREFIX_LEN,
                have: body.len(),
            });
        }
        if &body[..5] != b"DfuSe" || body[5] != 1 {
            return Err(DfuseError::Invalid("no \"DfuSe\" version 1 prefix".into()));
        }
        // dfuse-pack (dfu-util) writes the whole file's length here, suffix included;
        // PROTOCOL.md reads it as the length without the suffix. Accept both.
        let image_size = u32_at(body, 6) as usize;
        if image_size != body.len() && image_size != body.len() + SUFFIX_LEN {
            return Err(DfuseError::Invalid(format!(
                "the prefix says the image is {image_size} bytes but it is {} (truncated or padded)",
                body.len() + SUFFIX_LEN
            )));
        }
        let count = body[10];
        let mut pos = PREFIX_LEN;
        let mut targets = Vec::new();
        for t in 0..count {
            let left = body.len() - pos;
            if left < TARGET_LEN {
                return Err(DfuseError::Truncated {
                    what: "target prefix",
                    need: TARGET_LEN,
                    have: left,
                });
            }
            let tp = &body[pos..pos + TARGET_LEN];
            if &tp[..6] != b"Target" {
                return Err(DfuseError::Invalid(format!(
                    "target {t}: no \"Target\" signature"
                )));
            }
            let alt = tp[6];
            let named = u32_at(tp, 7) != 0;
            let raw_name = &tp[11..266];
            let end = raw_name
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(raw_name.len());
            let name = named.then(|| String::from_utf8_lossy(&raw_name[..end]).into_owned());
            let size = u32_at(tp, 266) as usize;
            let n_elements = u32_at(tp, 270);
            pos += TARGET_LEN;
            if body.len() - pos < size {
                return Err(DfuseError::Truncated {
                    what: "target elements",
                    need: size,
                    have: body.len() - pos,
                });
            }
            let end_of_target = pos + size;
            let mut elements = Vec::new();
            for e in 0..n_elements {
                if end_of_target - pos < 8 {
                    return Err(DfuseError::Invalid(format!(
                        "target {t} element {e}: its header runs past the target"
                    )));
                }
                let address = u32_at(body, pos);
                let len = u32_at(body, pos + 4) as usize;
                pos += 8;
                if end_of_target - pos < len {
                    return Err(DfuseError::Invalid(format!(
                        "target {t} element {e} at 0x{address:08X}: {len} bytes run past the target"
                    )));
                }
                elements.push(Element {
                    address,
                    data: body[pos..pos + len].to_vec(),
                });
                pos += len;
            }
            if pos != end_of_target {
                return Err(DfuseError::Invalid(format!(
                    "target {t}: its size does not match its elements"
                )));
            }
            targets.push(Target {
                alt,
                name,
                elements,
            });
        }
        if pos != body.len() {
            return Err(DfuseError::Invalid(format!(
                "{} bytes after the last target",
                body.len() - pos
            )));
        }
        Ok(DfuseFile { targets, suffix })
    }

    /// Writes the file (prefix, targets, suffix with CRC).
    pub fn write(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"DfuSe");
        out.push(1);
        out.extend_from_slice(&[0; 4]); // image size, filled below
        out.push(self.targets.len() as u8);
        for t in &self.targets {
            out.extend_from_slice(b"Target");
            out.push(t.alt);
            out.extend_from_slice(&u32::from(t.name.is_some()).to_le_bytes());
            let mut name = [0u8; 255];
            if let Some(n) = &t.name {
                let n = n.as_bytes();
                name[..n.len().min(254)].copy_from_slice(&n[..n.len().min(254)]);
            }
            out.extend_from_slice(&name);
            let size: usize = t.elements.iter().map(|e| 8 + e.data.len()).sum();
            out.extend_from_slice(&(size as u32).to_le_bytes());
            out.extend_from_slice(&(t.elements.len() as u32).to_le_bytes());
            for e in &t.elements {
                out.extend_from_slice(&e.address.to_le_bytes());
                out.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
                out.extend_from_slice(&e.data);
            }
        }
        // The whole file's length, suffix included, as dfuse-pack writes it.
        let size = (out.len() + SUFFIX_LEN) as u32;
        out[6..10].copy_from_slice(&size.to_le_bytes());
        self.suffix.append_to(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DfuseFile {
        DfuseFile {
            targets: vec![Target {
                alt: 0,
                name: Some("ST...".into()),
                elements: vec![
                    Element {
                        address: 0x0800_0000,
                        data: vec![1, 2, 3, 4],
                    },
                    Element {
                        address: 0x0802_0000,
                        data: vec![9; 10],
                    },
                ],
            }],
            suffix: Suffix {
                bcd_device: 0xFFFF,
                product: 0xDF11,
                vendor: 0x0483,
                bcd_dfu: 0x011A,
            },
        }
    }

    #[test]
    fn crc_is_zlib_without_the_final_xor() {
        // zlib.crc32(b"123456789") = 0xCBF43926.
        assert_eq!(dfu_crc(b"123456789"), !0xCBF4_3926);
    }

    #[test]
    fn round_trip_and_layout() {
        let f = sample();
        let bytes = f.write();
        assert_eq!(&bytes[..5], b"DfuSe");
        assert_eq!(bytes.len(), 11 + 274 + (8 + 4) + (8 + 10) + 16);
        assert_eq!(DfuseFile::parse(&bytes).unwrap(), f);
    }

    #[test]
    fn corruption_truncation_and_plain_dfu_are_refused() {
        let mut bytes = sample().write();
        bytes[300] ^= 1;
        assert!(matches!(
            DfuseFile::parse(&bytes),
            Err(DfuseError::Crc { .. })
        ));
        let bytes = sample().write();
        let cut = &bytes[..bytes.len() - 20];
        assert!(DfuseFile::parse(cut).is_err());
        let mut plain = vec![0u8; 32];
        Suffix {
            bcd_device: 0xFFFF,
            product: 0xFFFF,
            vendor: 0xFFFF,
            bcd_dfu: 0x0100,
        }
        .append_to(&mut plain);
        let e = DfuseFile::parse(&plain).unwrap_err().to_string();
        assert!(e.contains("plain DFU"), "{e}");
        assert_eq!(
            DfuseFile::parse(b"hello").unwrap_err(),
            DfuseError::Truncated {
                what: "DFU suffix",
                need: 16,
                have: 5
            }
        );
    }
}
