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

/// zlib's CRC-32, sixteen bytes per step: every flash checks megabytes of image.
const CRC32: Crc<u32, crc::Table<16>> = Crc::<u32, crc::Table<16>>::new(&CRC_32_ISO_HDLC);

/// The CRC of a DFU suffix: zlib's CRC-32 without its final inversion.
pub fn dfu_crc(data: &[u8]) -> u32 {
    !CRC32.checksum(data)
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

/// Where a DfuSe file that ends early was cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Inside the 11-byte DfuSe prefix.
    Prefix,
    /// Inside target `target`'s 274-byte prefix.
    TargetPrefix {
        /// Target index (from 0).
        target: usize,
    },
    /// Inside target `target`'s elements, `size` bytes as its prefix says.
    TargetElements {
        /// Target index (from 0).
        target: usize,
        /// Their size.
        size: usize,
    },
    /// Inside the 16-byte DFU suffix after the last target.
    Suffix,
}

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cut::Prefix => write!(f, "inside its {PREFIX_LEN}-byte DfuSe prefix"),
            Cut::TargetPrefix { target } => {
                write!(f, "inside the {TARGET_LEN}-byte prefix of target {target}")
            }
            Cut::TargetElements { target, size } => write!(
                f,
                "inside the elements of target {target} ({size} bytes, as its prefix says)"
            ),
            Cut::Suffix => write!(f, "inside its {SUFFIX_LEN}-byte DFU suffix"),
        }
    }
}

/// Why a DfuSe file is refused. Every variant says what is wrong in a user's words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DfuseError {
    /// Too short to carry a DFU suffix, and no DfuSe file either.
    #[error("truncated: the {what} needs {need} bytes, {have} are left")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// A DfuSe file that stops before its own structure does: cut short by an interrupted
    /// download or copy. `expected` is the length its DfuSe prefix gives when that is
    /// larger, else where the structure it was cut in ends (a lower bound unless the cut is
    /// in the suffix).
    #[error("the file ends early ({cut}): it has {have} bytes, {expected} expected{} — {} byte(s) are missing; download or copy it again", by_prefix_note(.by_prefix), .expected - .have)]
    EndsEarly {
        /// Where it stops.
        cut: Cut,
        /// Bytes there should be.
        expected: usize,
        /// Whether `expected` is the image size the DfuSe prefix gives.
        by_prefix: bool,
        /// Bytes there are.
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

fn by_prefix_note(by_prefix: &bool) -> &'static str {
    if *by_prefix {
        " as its DfuSe prefix says"
    } else {
        ""
    }
}

const PREFIX_LEN: usize = 11;
const TARGET_LEN: usize = 274;
/// A target name's field: 255 bytes, NUL-padded (dfuse-pack's `255s`; no NUL when full).
const NAME_LEN: usize = 255;

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// The longest start of `name` that fits a target's name field without splitting a
/// character: the one rule for both writing a name and reading one back, so a parsed
/// file writes back to itself.
pub fn fit_name(name: &str) -> &str {
    let mut end = name.len().min(NAME_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// A target name as read: valid UTF-8 as it is; a multi-byte character cut by the field's
/// end (another tool truncated the name at 255 bytes) dropped rather than shown as a
/// replacement character; any other invalid byte shown as U+FFFD — a name is for people,
/// never a reason to refuse a file.
fn decode_name(raw: &[u8]) -> String {
    let mut out = String::new();
    let mut rest = raw;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                break;
            }
            Err(e) => {
                out.push_str(&String::from_utf8_lossy(&rest[..e.valid_up_to()]));
                match e.error_len() {
                    None => break, // an incomplete character at the very end
                    Some(n) => {
                        out.push(char::REPLACEMENT_CHARACTER);
                        rest = &rest[e.valid_up_to() + n..];
                    }
                }
            }
        }
    }
    fit_name(&out).to_string()
}

/// Reads the targets after the prefix of `bytes` — a file's body, or a whole file whose
/// suffix is missing — and returns them with the offset their last byte ends at. `have`
/// is the whole file's length, for the errors of a file that stops early.
fn read_targets(bytes: &[u8], have: usize) -> Result<(Vec<Target>, usize), DfuseError> {
    let cut = |cut, end: usize| DfuseError::EndsEarly {
        cut,
        expected: end + SUFFIX_LEN,
        by_prefix: false,
        have,
    };
    let count = bytes[10];
    let mut pos = PREFIX_LEN;
    let mut targets = Vec::new();
    for t in 0..usize::from(count) {
        if bytes.len() - pos < TARGET_LEN {
            return Err(cut(Cut::TargetPrefix { target: t }, pos + TARGET_LEN));
        }
        let tp = &bytes[pos..pos + TARGET_LEN];
        if &tp[..6] != b"Target" {
            return Err(DfuseError::Invalid(format!(
                "target {t}: no \"Target\" signature"
            )));
        }
        let alt = tp[6];
        let named = u32_at(tp, 7) != 0;
        let raw_name = &tp[11..11 + NAME_LEN];
        let end = raw_name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(raw_name.len());
        let name = named.then(|| decode_name(&raw_name[..end]));
        let size = u32_at(tp, 266) as usize;
        let n_elements = u32_at(tp, 270);
        pos += TARGET_LEN;
        if bytes.len() - pos < size {
            return Err(cut(Cut::TargetElements { target: t, size }, pos + size));
        }
        let end_of_target = pos + size;
        let mut elements = Vec::new();
        for e in 0..n_elements {
            if end_of_target - pos < 8 {
                return Err(DfuseError::Invalid(format!(
                    "target {t} element {e}: its header runs past the target"
                )));
            }
            let address = u32_at(bytes, pos);
            let len = u32_at(bytes, pos + 4) as usize;
            pos += 8;
            if end_of_target - pos < len {
                return Err(DfuseError::Invalid(format!(
                    "target {t} element {e} at 0x{address:08X}: {len} bytes run past the target"
                )));
            }
            elements.push(Element {
                address,
                data: bytes[pos..pos + len].to_vec(),
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
    Ok((targets, pos))
}

/// Why `file`, which starts as a DfuSe file but whose last 16 bytes are no DFU suffix, is
/// refused: in all likelihood it was cut short, and the user needs to hear that and by how
/// much, not that it is "not a .dfu file".
fn diagnose_missing_suffix(file: &[u8]) -> DfuseError {
    let have = file.len();
    if have < PREFIX_LEN {
        return DfuseError::EndsEarly {
            cut: Cut::Prefix,
            expected: PREFIX_LEN + SUFFIX_LEN,
            by_prefix: false,
            have,
        };
    }
    let found = match read_targets(file, have) {
        Err(e @ DfuseError::EndsEarly { .. }) => e,
        Err(other) => return other,
        Ok((_, end)) if have - end < SUFFIX_LEN => DfuseError::EndsEarly {
            cut: Cut::Suffix,
            expected: end + SUFFIX_LEN,
            by_prefix: false,
            have,
        },
        Ok((_, end)) => {
            return DfuseError::Invalid(format!(
                "the {} bytes after its last target hold no DFU suffix (no \"UFD\" signature in the last 16): the file is corrupt or was edited",
                have - end
            ))
        }
    };
    // The prefix's image size (the whole file, as dfuse-pack writes it) counts what is
    // missing after the cut too; the structure alone only knows up to the cut.
    let declared = u32_at(file, 6) as usize;
    match found {
        DfuseError::EndsEarly { cut, expected, .. } if declared > expected => {
            DfuseError::EndsEarly {
                cut,
                expected: declared,
                by_prefix: true,
                have,
            }
        }
        other => other,
    }
}

impl DfuseFile {
    /// Parses and checks a `.dfu` file: suffix CRC, prefix, sizes, counts. A DfuSe file
    /// that was cut short is told apart from a file that is no DfuSe file at all.
    pub fn parse(file: &[u8]) -> Result<Self, DfuseError> {
        let (suffix, body) = match Suffix::parse(file) {
            Ok(v) => v,
            Err(DfuseError::NoSuffix | DfuseError::Truncated { .. })
                if file.starts_with(b"DfuSe") =>
            {
                return Err(diagnose_missing_suffix(file))
            }
            Err(e) => return Err(e),
        };
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
        let (targets, pos) = read_targets(body, file.len())?;
        if pos != body.len() {
            return Err(DfuseError::Invalid(format!(
                "{} bytes after the last target",
                body.len() - pos
            )));
        }
        Ok(DfuseFile { targets, suffix })
    }

    /// Writes the file (prefix, targets, suffix with CRC). A name longer than its 255-byte
    /// field is cut at the last whole character that fits ([`fit_name`]).
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
            let mut name = [0u8; NAME_LEN];
            if let Some(n) = &t.name {
                let n = fit_name(n).as_bytes();
                name[..n.len()].copy_from_slice(n);
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

    #[test]
    fn a_cut_file_says_where_it_ends_and_how_many_bytes_are_missing() {
        let bytes = sample().write();
        assert_eq!(bytes.len(), 331);
        let cut = |n: usize| DfuseFile::parse(&bytes[..bytes.len() - n]).unwrap_err();
        // Inside the suffix, or the whole suffix gone: exactly that many bytes.
        assert_eq!(
            cut(6),
            DfuseError::EndsEarly {
                cut: Cut::Suffix,
                expected: 331,
                by_prefix: false,
                have: 325
            }
        );
        let e = cut(16).to_string();
        assert!(
            e.contains("inside its 16-byte DFU suffix") && e.contains("16 byte(s) are missing"),
            "{e}"
        );
        assert!(!e.contains("not a .dfu file"), "{e}");
        // Inside the elements: the target's size says where they end.
        assert_eq!(
            cut(20),
            DfuseError::EndsEarly {
                cut: Cut::TargetElements {
                    target: 0,
                    size: 30
                },
                expected: 331,
                by_prefix: false,
                have: 311
            }
        );
        // Inside the target prefix: the DfuSe prefix's image size counts the rest.
        let e = DfuseFile::parse(&bytes[..100]).unwrap_err();
        assert_eq!(
            e,
            DfuseError::EndsEarly {
                cut: Cut::TargetPrefix { target: 0 },
                expected: 331,
                by_prefix: true,
                have: 100
            }
        );
        assert!(
            e.to_string().contains(
                "it has 100 bytes, 331 expected as its DfuSe prefix says — 231 byte(s) are missing"
            ),
            "{e}"
        );
        assert!(matches!(
            DfuseFile::parse(&bytes[..8]),
            Err(DfuseError::EndsEarly {
                cut: Cut::Prefix,
                have: 8,
                ..
            })
        ));
        // A file that never was a DfuSe file still says so.
        assert_eq!(
            DfuseFile::parse(&[7u8; 100]).unwrap_err(),
            DfuseError::NoSuffix
        );
        // A whole DfuSe body followed by 16 bytes that are no suffix is corrupt, not cut.
        let mut bad = bytes.clone();
        bad[331 - 8] = b'X';
        let e = DfuseFile::parse(&bad).unwrap_err().to_string();
        assert!(e.contains("hold no DFU suffix"), "{e}");
    }

    fn named(name: &str) -> DfuseFile {
        let mut f = sample();
        f.targets[0].name = Some(name.to_string());
        f
    }

    /// The 255-byte name field of the first target.
    fn name_field(bytes: &[u8]) -> &[u8] {
        &bytes[PREFIX_LEN + 11..PREFIX_LEN + 11 + NAME_LEN]
    }

    #[test]
    fn long_names_are_cut_between_characters() {
        // 254 ASCII bytes and a 2-byte 'é': the field holds 255, which would split the 'é'.
        let long = format!("{}é", "a".repeat(254));
        let bytes = named(&long).write();
        assert_eq!(&name_field(&bytes)[..254], "a".repeat(254).as_bytes());
        assert_eq!(name_field(&bytes)[254], 0);
        let back = DfuseFile::parse(&bytes).unwrap();
        assert_eq!(
            back.targets[0].name.as_deref(),
            Some("a".repeat(254).as_str())
        );
        // A name of 2-byte characters fills 254 bytes; the written file parses to itself.
        let f = named(&"é".repeat(200));
        let back = DfuseFile::parse(&f.write()).unwrap();
        assert_eq!(back.targets[0].name, Some("é".repeat(127)));
        assert_eq!(DfuseFile::parse(&back.write()).unwrap(), back);
        // Exactly 255 bytes fit without a terminating NUL, as dfuse-pack writes them.
        let full = "b".repeat(255);
        let back = DfuseFile::parse(&named(&full).write()).unwrap();
        assert_eq!(back.targets[0].name.as_deref(), Some(full.as_str()));
    }

    /// `bytes` with its first target's name field replaced and the suffix made again.
    fn with_name_field(bytes: &[u8], field: &[u8]) -> Vec<u8> {
        let mut body = bytes[..bytes.len() - SUFFIX_LEN].to_vec();
        let at = PREFIX_LEN + 11;
        body[at..at + NAME_LEN].fill(0);
        body[at..at + field.len()].copy_from_slice(field);
        sample().suffix.append_to(&mut body);
        body
    }

    #[test]
    fn names_that_are_not_utf8_are_shown_lossily_and_never_refuse_the_file() {
        let bytes = sample().write();
        // An invalid byte in the middle, and a '€' (E2 82 AC) cut after two bytes at the end.
        let f = DfuseFile::parse(&with_name_field(&bytes, b"A\xFFB\xE2\x82")).unwrap();
        assert_eq!(f.targets[0].name.as_deref(), Some("A\u{FFFD}B"));
        // Another tool filled the field and split a character at byte 255.
        let mut field = vec![b'a'; 253];
        field.extend_from_slice(&"€".as_bytes()[..2]);
        let f = DfuseFile::parse(&with_name_field(&bytes, &field)).unwrap();
        assert_eq!(f.targets[0].name, Some("a".repeat(253)));
    }
}
