//! Firmware images, pure: raw `.bin` files for one partition, raw files carrying a plain
//! DFU suffix (what `dfu-suffix` writes), and DfuSe `.dfu` files ([`dfuse`]). Everything a
//! flasher must refuse is refused here, before any camera is touched: a bad CRC or
//! checksum, a file for another board (VID:PID in the suffix), an image larger than its
//! partition, a misaligned or out-of-partition address, a format cameras do not take.

pub mod dfuse;
pub mod sim;

use sha2::{Digest, Sha256};

use crate::board::{Board, OPENMV_VID};
use dfuse::{DfuseError, DfuseFile, Suffix};

/// ST's ROM DFU identity.
pub const ST_ROM_DFU: (u16, u16) = (0x0483, 0xDF11);

/// A flash partition as the OpenMV DFU bootloader exposes it (one alternate setting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Name (`FIRMWARE`).
    pub name: &'static str,
    /// Alternate setting.
    pub alt: u8,
    /// Start address.
    pub start: u32,
    /// Size, bytes.
    pub size: u32,
    /// Whether the bootloader lets a host write it (its own partition is read-only).
    pub writable: bool,
}

const K: u32 = 1024;
const M: u32 = 1024 * 1024;

/// The partitions of a board's OpenMV DFU bootloader, in alternate-setting order
/// (PROTOCOL.md §3 gives the names and order; the addresses and sizes are visreg's model
/// of the boards' flash maps: internal flash at 0x08000000, external SPI flash at
/// 0x90000000).
pub fn partitions(board: Board) -> Vec<Partition> {
    let p = |name, alt, start, size, writable| Partition {
        name,
        alt,
        start,
        size,
        writable,
    };
    match board {
        Board::M4 | Board::M7 | Board::H7 => vec![
            p("BOOTLOADER", 0, 0x0800_0000, 128 * K, false),
            p("FILESYSTEM", 1, 0x0802_0000, 128 * K, true),
            p("FIRMWARE", 2, 0x0804_0000, 1792 * K, true),
            p("ROMFS0", 3, 0x0820_0000, 0, true),
        ],
        Board::H7Plus | Board::RT1062 => vec![
            p("BOOTLOADER", 0, 0x0800_0000, 128 * K, false),
            p("FILESYSTEM", 1, 0x0802_0000, 128 * K, true),
            p("FIRMWARE", 2, 0x0804_0000, 1792 * K, true),
            p("SPI_FLASH", 3, 0x9000_0000, 16 * M, true),
            p("ROMFS0", 4, 0x9100_0000, 16 * M, true),
        ],
        Board::N6 => vec![
            p("BOOTLOADER", 0, 0x7000_0000, 512 * K, false),
            p("FIRMWARE", 1, 0x7008_0000, 4 * M, true),
            p("FILESYSTEM", 2, 0x7048_0000, 4 * M, true),
            p("ROMFS0", 3, 0x7088_0000, 16 * M, true),
        ],
    }
}

/// The partition called `name` (case-insensitive) of `board`.
pub fn partition(board: Board, name: &str) -> Result<Partition, ImageError> {
    partitions(board)
        .into_iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            ImageError::Refused(format!(
                "board {board} has no partition '{name}' (it has {})",
                partitions(board)
                    .iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// The USB identity of `board`'s OpenMV DFU bootloader.
pub fn dfu_identity(board: Board) -> (u16, u16) {
    (OPENMV_VID, board.firmware_pid() + 0x8000)
}

/// Why an image is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The DfuSe structure or suffix is wrong.
    #[error("not a valid .dfu file: {0}")]
    Dfuse(#[from] DfuseError),
    /// The file's SHA-256 is not the catalog's.
    #[error("checksum mismatch: the catalog says sha256 {expected}, the file is {actual} (corrupt or replaced; rebuild or download it again)")]
    Checksum {
        /// The catalog's.
        expected: String,
        /// The file's.
        actual: String,
    },
    /// Anything else: a wrong board, an oversize image, a misaligned address.
    #[error("{0}")]
    Refused(String),
}

/// SHA-256 of `data`, lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks `data` against the catalog's checksum.
pub fn check_sha256(data: &[u8], expected: &str) -> Result<(), ImageError> {
    let actual = sha256_hex(data);
    if actual.eq_ignore_ascii_case(expected.trim()) {
        Ok(())
    } else {
        Err(ImageError::Checksum {
            expected: expected.to_string(),
            actual,
        })
    }
}

/// One write a flasher performs: `data` at `address` through alternate setting `alt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// Alternate setting (partition).
    pub alt: u8,
    /// Partition name.
    pub partition: &'static str,
    /// Start address.
    pub address: u32,
    /// Bytes.
    pub data: Vec<u8>,
}

fn check_fits(board: Board, part: &Partition, address: u32, len: usize) -> Result<(), ImageError> {
    if !part.writable {
        return Err(ImageError::Refused(format!(
            "partition {} of {board} is read-only",
            part.name
        )));
    }
    if address % 4 != 0 {
        return Err(ImageError::Refused(format!(
            "address 0x{address:08X} is not 4-byte aligned"
        )));
    }
    let end = u64::from(address) + len as u64;
    let part_end = u64::from(part.start) + u64::from(part.size);
    if address < part.start || end > part_end {
        return Err(ImageError::Refused(format!(
            "{len} bytes at 0x{address:08X} do not fit partition {} of {board} (0x{:08X}, {} bytes{})",
            part.name,
            part.start,
            part.size,
            if len as u64 > u64::from(part.size) { format!("; the image is {} bytes too large", len as u64 - u64::from(part.size)) } else { String::new() }
        )));
    }
    if len == 0 {
        return Err(ImageError::Refused("the image is empty".into()));
    }
    Ok(())
}

/// Plans the writes of a raw image for `partition` of `board`. A plain DFU suffix (as
/// `dfu-suffix` adds) is checked — CRC and VID:PID — and stripped; other formats meant for
/// other devices (a TI "LMDFU" prefix) are refused.
pub fn plan_raw(
    bytes: &[u8],
    board: Board,
    partition_name: &str,
) -> Result<Vec<Write>, ImageError> {
    if bytes.len() >= 8 && bytes[0] == 0x01 && bytes[1] == 0x00 {
        let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
        if len + 8 == bytes.len() || len + 8 + dfuse::SUFFIX_LEN == bytes.len() {
            return Err(ImageError::Refused(
                "the file starts with a TI \"LMDFU\" prefix (dfu-prefix): OpenMV bootloaders take raw .bin or DfuSe .dfu files; remove it with `dfu-prefix -D`".into(),
            ));
        }
    }
    let data = match Suffix::parse(bytes) {
        Ok((suffix, body)) => {
            let (vid, pid) = dfu_identity(board);
            if !suffix.matches(vid, pid) && !suffix.matches(OPENMV_VID, board.firmware_pid()) {
                return Err(ImageError::Refused(format!(
                    "the file's DFU suffix is for {:04X}:{:04X}, not {board} ({vid:04X}:{pid:04X}): it was built for another board",
                    suffix.vendor, suffix.product
                )));
            }
            body
        }
        Err(DfuseError::NoSuffix) | Err(DfuseError::Truncated { .. }) => bytes,
        Err(e) => return Err(e.into()),
    };
    if DfuseFile::parse(bytes).is_ok() || data.starts_with(b"DfuSe") {
        return Err(ImageError::Refused(
            "this is a DfuSe .dfu file: give it as `dfu = …`, not as a raw partition image".into(),
        ));
    }
    let part = partition(board, partition_name)?;
    check_fits(board, &part, part.start, data.len())?;
    Ok(vec![Write {
        alt: part.alt,
        partition: part.name,
        address: part.start,
        data: data.to_vec(),
    }])
}

/// Plans the writes of a DfuSe file for `board`: its suffix must name the board's DFU
/// bootloader (or ST's ROM DFU, or the wildcard), and every element must lie inside the
/// writable partition of its target's alternate setting.
pub fn plan_dfuse(bytes: &[u8], board: Board) -> Result<Vec<Write>, ImageError> {
    let file = DfuseFile::parse(bytes)?;
    let (vid, pid) = dfu_identity(board);
    if !file.suffix.matches(vid, pid) && !file.suffix.matches(ST_ROM_DFU.0, ST_ROM_DFU.1) {
        return Err(ImageError::Refused(format!(
            "the .dfu file is for USB device {:04X}:{:04X}, but {board}'s bootloader is {vid:04X}:{pid:04X}: it was built for another board",
            file.suffix.vendor, file.suffix.product
        )));
    }
    let parts = partitions(board);
    let mut writes = Vec::new();
    for t in &file.targets {
        let part = parts.iter().find(|p| p.alt == t.alt).ok_or_else(|| {
            ImageError::Refused(format!(
                "target for alternate setting {} but {board} has {} partitions",
                t.alt,
                parts.len()
            ))
        })?;
        for e in &t.elements {
            check_fits(board, part, e.address, e.data.len())?;
            writes.push(Write {
                alt: t.alt,
                partition: part.name,
                address: e.address,
                data: e.data.clone(),
            });
        }
    }
    if writes.is_empty() {
        return Err(ImageError::Refused("the .dfu file has no data".into()));
    }
    Ok(writes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversize_misaligned_and_read_only_are_refused() {
        let big = vec![0u8; 1792 * 1024 + 4];
        let e = plan_raw(&big, Board::H7Plus, "FIRMWARE")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("do not fit partition FIRMWARE") && e.contains("4 bytes too large"),
            "{e}"
        );
        let e = plan_raw(&[1, 2, 3, 4], Board::H7Plus, "BOOTLOADER")
            .unwrap_err()
            .to_string();
        assert!(e.contains("read-only"), "{e}");
        let e = plan_raw(&[1, 2, 3, 4], Board::H7Plus, "NOPE")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("has no partition 'NOPE'") && e.contains("FIRMWARE"),
            "{e}"
        );
        let ok = plan_raw(&[1, 2, 3, 4], Board::H7Plus, "firmware").unwrap();
        assert_eq!((ok[0].alt, ok[0].address), (2, 0x0804_0000));
    }

    #[test]
    fn checksums_are_compared() {
        assert!(check_sha256(
            b"abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )
        .is_ok());
        let e = check_sha256(
            b"abd",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        )
        .unwrap_err();
        assert!(e.to_string().contains("checksum mismatch"));
    }
}
