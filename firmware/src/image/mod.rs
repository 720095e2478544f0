//! Firmware images, pure: raw `.bin` files for one partition, raw files carrying a plain
//! DFU suffix (what `dfu-suffix` writes), and DfuSe `.dfu` files ([`dfuse`]). Everything a
//! flasher must refuse is refused here, before any camera is touched: a bad CRC or
//! checksum, a file for another board (VID:PID in the suffix), an image larger than its
//! partition, an address outside a partition or not at its start, overlapping elements,
//! a plan the bootloader that will write it cannot write, a format cameras do not take.
//! The flashers call the same checks again ([`check_dfu_writes`], [`check_cdc_writes`])
//! so that a hand-made plan is refused as a planned one is, never half-written.

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

/// The partitions of a board's OpenMV DFU bootloader, in alternate-setting order, as
/// `OMV_BOOT_DFU_PARTITIONS` in `boards/*/boot_config.h` (openmv v5.0.0; the same table
/// in `omv_bootconfig.h` at v4.8.1) gives them: names from `OMV_BOOT_DFU_PARTITIONS_STR`,
/// start and limit per entry. Internal flash sits at 0x08000000. The bootloader gives
/// SPI-flash partitions as offsets into the chip (`PTYPE_SPI_FLASH`, from 0); visreg
/// places them at the flash's memory-mapped base (QSPI at 0x90000000 on the H7 Plus,
/// XSPI at 0x70000000 on the N6, `OMV_BOOT_XIP_PARTITIONS`), so that the addresses of a
/// DfuSe file mean what they mean on the chip. On the H7 Plus, SPI_FLASH is the whole
/// 32 MiB chip and ROMFS0 its last 8 MiB (0x1800000 … 0x2000000): the two overlap by
/// design. The RT1062 has no OpenMV DFU bootloader (`boards/OPENMV_RT1060` has no
/// `boot_config.h`): its entries are the flash map of `board_config.h`
/// (`OMV_FLASH_ORIGIN` 0x60000000, `OMV_FLASH_LENGTH` 8 MiB, the application at
/// `OMV_FLASH_APP_ORIGIN` 0x60040000 after 256 KiB for the ROM-booted bootloader), for
/// image checks only.
pub fn partitions(board: Board) -> Vec<Partition> {
    let p = |name, alt, start: u32, limit: u32, writable| Partition {
        name,
        alt,
        start,
        size: limit - start,
        writable,
    };
    const QSPI: u32 = 0x9000_0000;
    const XSPI: u32 = 0x7000_0000;
    match board {
        // boards/OPENMV2/boot_config.h
        Board::M4 => vec![
            p("BOOTLOADER", 0, 0x0800_0000, 0x0800_8000, false),
            p("FILESYSTEM", 1, 0x0800_8000, 0x0801_0000, true),
            p("FIRMWARE", 2, 0x0801_0000, 0x080E_0000, true),
            p("ROMFS0", 3, 0x080E_0000, 0x0810_0000, true),
        ],
        // boards/OPENMV3/boot_config.h
        Board::M7 => vec![
            p("BOOTLOADER", 0, 0x0800_0000, 0x0800_8000, false),
            p("FILESYSTEM", 1, 0x0800_8000, 0x0802_0000, true),
            p("FIRMWARE", 2, 0x0802_0000, 0x081C_0000, true),
            p("ROMFS0", 3, 0x081C_0000, 0x0820_0000, true),
        ],
        // boards/OPENMV4/boot_config.h
        Board::H7 => vec![
            p("BOOTLOADER", 0, 0x0800_0000, 0x0802_0000, false),
            p("FILESYSTEM", 1, 0x0802_0000, 0x0804_0000, true),
            p("FIRMWARE", 2, 0x0804_0000, 0x081E_0000, true),
            p("ROMFS0", 3, 0x081E_0000, 0x0820_0000, true),
        ],
        // boards/OPENMV4P/boot_config.h
        Board::H7Plus => vec![
            p("BOOTLOADER", 0, 0x0800_0000, 0x0802_0000, false),
            p("FILESYSTEM", 1, 0x0802_0000, 0x0804_0000, true),
            p("FIRMWARE", 2, 0x0804_0000, 0x0820_0000, true),
            p("SPI_FLASH", 3, QSPI, QSPI + 0x0200_0000, true),
            p("ROMFS0", 4, QSPI + 0x0180_0000, QSPI + 0x0200_0000, true),
        ],
        // boards/OPENMV_RT1060/board_config.h (no DFU bootloader: see above)
        Board::RT1062 => vec![
            p("BOOTLOADER", 0, 0x6000_0000, 0x6004_0000, false),
            p("FIRMWARE", 1, 0x6004_0000, 0x6080_0000, true),
        ],
        // boards/OPENMV_N6/boot_config.h
        Board::N6 => vec![
            p("BOOTLOADER", 0, XSPI, XSPI + 0x0008_0000, false),
            p("FIRMWARE", 1, XSPI + 0x0008_0000, XSPI + 0x0040_0000, true),
            p(
                "FILESYSTEM",
                2,
                XSPI + 0x0040_0000,
                XSPI + 0x0080_0000,
                true,
            ),
            p("ROMFS0", 3, XSPI + 0x0080_0000, XSPI + 0x0200_0000, true),
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

/// One element of a DfuSe file as refusals name it: where it sits in the file and the
/// bytes it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElementRef {
    /// Target index in the file (from 0).
    pub target: usize,
    /// The target's alternate setting.
    pub alt: u8,
    /// The target's name, if named.
    pub name: Option<String>,
    /// Element index in its target (from 0).
    pub element: usize,
    /// First address.
    pub address: u32,
    /// Length, bytes.
    pub len: u64,
}

impl ElementRef {
    /// One past the last address.
    pub fn end(&self) -> u64 {
        u64::from(self.address) + self.len
    }
}

impl std::fmt::Display for ElementRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "target {} (alt {}", self.target, self.alt)?;
        if let Some(n) = &self.name {
            write!(f, ", '{n}'")?;
        }
        write!(f, ") element {}, ", self.element)?;
        if self.len == 0 {
            write!(f, "0 bytes at 0x{:08X}", self.address)
        } else {
            write!(
                f,
                "0x{:08X}–0x{:08X} ({} bytes)",
                self.address,
                self.end() - 1,
                self.len
            )
        }
    }
}

/// Why an image is refused. Each says what is wrong and what to do about it.
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
    /// Two elements of a DfuSe file cover the same bytes: whichever is written second
    /// would silently replace part of the first.
    #[error("{first} and {second} overlap: the second would overwrite the first; give each partition one element (dfuse-pack -b ADDRESS@ALT:FILE once per partition)")]
    Overlap {
        /// The element that starts first.
        first: ElementRef,
        /// The element that starts inside it.
        second: ElementRef,
    },
    /// Bytes inside a partition but not at its start: the OpenMV bootloader writes block n
    /// of an alternate setting at `start + n·4096`, whatever address the file names.
    #[error("{what} lies inside partition {partition} of {board} but not at its start 0x{start:08X}: the OpenMV bootloader writes a partition from its start, so these bytes would land at 0x{start:08X}; make an image of the whole partition, from its first byte")]
    NotAtPartitionStart {
        /// The bytes, as the file names them.
        what: String,
        /// The partition.
        partition: &'static str,
        /// The board.
        board: Board,
        /// Where the partition starts.
        start: u32,
    },
    /// An element of a file for ST's DFU ID (addressed by address) that lies in no
    /// writable partition of the board, or spans two.
    #[error("{element} {reason} of {board} (its writable partitions: {partitions}): a file for ST's DFU ID (0483:DF11) is placed by address, and each element must lie inside one partition")]
    NotInOnePartition {
        /// The element.
        element: ElementRef,
        /// "is in no partition", "spans FIRMWARE and SPI_FLASH".
        reason: String,
        /// The board.
        board: Board,
        /// The board's writable partitions and their ranges.
        partitions: String,
    },
    /// Two writes of one plan go to one partition (two images for it).
    #[error("partition {partition} is written twice (writes {first} and {second} of the plan): a partition takes one image, written from its start")]
    PartitionTwice {
        /// The partition.
        partition: &'static str,
        /// Index of the first write.
        first: usize,
        /// Index of the second.
        second: usize,
    },
    /// A plan the legacy CDC bootloader cannot write.
    #[error("the legacy CDC bootloader (firmware ≤ 4.5.x) writes only the FIRMWARE partition, and this plan writes {writes}: give a single raw image for FIRMWARE (`partition = \"FIRMWARE\"`), or flash a camera with the OpenMV DFU bootloader (firmware ≥ 4.6)")]
    OnlyFirmware {
        /// What the plan writes ("FIRMWARE, SPI_FLASH").
        writes: String,
    },
    /// Anything else: a wrong board, an oversize image, a read-only partition.
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

/// Checks that `len` bytes at `address` can be written into `part` by a bootloader that
/// writes a partition from its start — the one place for that rule. `what` names the
/// bytes in errors ("" for "N bytes at 0x…").
fn place(
    board: Board,
    part: &Partition,
    address: u32,
    len: usize,
    what: &str,
) -> Result<(), ImageError> {
    let named = |m: String| {
        if what.is_empty() {
            ImageError::Refused(m)
        } else {
            ImageError::Refused(format!("{what}: {m}"))
        }
    };
    if !part.writable {
        return Err(named(format!(
            "partition {} of {board} is read-only",
            part.name
        )));
    }
    let end = u64::from(address) + len as u64;
    let part_end = u64::from(part.start) + u64::from(part.size);
    if address < part.start || end > part_end {
        return Err(named(format!(
            "{len} bytes at 0x{address:08X} do not fit partition {} of {board} (0x{:08X}, {} bytes{})",
            part.name,
            part.start,
            part.size,
            if len as u64 > u64::from(part.size) { format!("; the image is {} bytes too large", len as u64 - u64::from(part.size)) } else { String::new() }
        )));
    }
    if address != part.start {
        return Err(ImageError::NotAtPartitionStart {
            what: if what.is_empty() {
                format!("{len} bytes at 0x{address:08X}")
            } else {
                what.to_string()
            },
            partition: part.name,
            board,
            start: part.start,
        });
    }
    if len == 0 {
        return Err(named("the image is empty".into()));
    }
    Ok(())
}

/// The bytes of a raw image: a plain DFU suffix (as `dfu-suffix` adds) is checked — its
/// CRC, and that it names one of `ids` (`for_what` says whose they are) — and stripped;
/// formats meant for other devices (a TI "LMDFU" prefix, a DfuSe file) are refused.
fn raw_body<'a>(
    bytes: &'a [u8],
    ids: &[(u16, u16)],
    for_what: &str,
) -> Result<&'a [u8], ImageError> {
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
            if !ids.iter().any(|&(vid, pid)| suffix.matches(vid, pid)) {
                return Err(ImageError::Refused(format!(
                    "the file's DFU suffix is for {:04X}:{:04X}, not {for_what} ({}): it was built for another board",
                    suffix.vendor,
                    suffix.product,
                    ids.iter()
                        .map(|(v, p)| format!("{v:04X}:{p:04X}"))
                        .collect::<Vec<_>>()
                        .join(" or ")
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
    Ok(data)
}

/// Plans the writes of a raw image for `partition` of `board`. A plain DFU suffix (as
/// `dfu-suffix` adds) is checked — CRC and VID:PID — and stripped; other formats meant for
/// other devices (a TI "LMDFU" prefix) are refused.
pub fn plan_raw(
    bytes: &[u8],
    board: Board,
    partition_name: &str,
) -> Result<Vec<Write>, ImageError> {
    let (vid, pid) = dfu_identity(board);
    let data = raw_body(
        bytes,
        &[(vid, pid), (OPENMV_VID, board.firmware_pid())],
        &board.to_string(),
    )?;
    let part = partition(board, partition_name)?;
    place(board, &part, part.start, data.len(), "")?;
    Ok(vec![Write {
        alt: part.alt,
        partition: part.name,
        address: part.start,
        data: data.to_vec(),
    }])
}

/// Plans the write of an OpenMV bootloader image through ST's ROM DFU (the bricked-camera
/// recovery): a raw image for the board's BOOTLOADER partition — which the ROM, unlike the
/// OpenMV bootloader, may write — from its start, no larger than the partition.
pub fn plan_rom_bootloader(bytes: &[u8], board: Board) -> Result<Write, ImageError> {
    let data = raw_body(bytes, &[ST_ROM_DFU], "ST's ROM DFU")?;
    let part = Partition {
        writable: true,
        ..partition(board, "BOOTLOADER")?
    };
    place(board, &part, part.start, data.len(), "the bootloader image")?;
    Ok(Write {
        alt: 0,
        partition: part.name,
        address: part.start,
        data: data.to_vec(),
    })
}

/// How a DfuSe file says where its elements go, by the device its suffix names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addressing {
    /// A file for the board's OpenMV bootloader (its VID:PID, or the wildcard): a target's
    /// alternate setting is the OpenMV partition with that number.
    ByAlt,
    /// A file for ST's ROM DFU (0483:DF11): there alt 0 is the whole internal flash, so the
    /// alternate settings say nothing about OpenMV's partitions; each element goes to the
    /// partition its address range falls in.
    ByAddress,
}

/// How `board` reads a DfuSe file with `suffix`, or why it is for another device.
pub fn addressing(suffix: &Suffix, board: Board) -> Result<Addressing, ImageError> {
    let (vid, pid) = dfu_identity(board);
    if suffix.matches(vid, pid) {
        Ok(Addressing::ByAlt)
    } else if suffix.matches(ST_ROM_DFU.0, ST_ROM_DFU.1) {
        Ok(Addressing::ByAddress)
    } else {
        Err(ImageError::Refused(format!(
            "the .dfu file is for USB device {:04X}:{:04X}, but {board}'s bootloader is {vid:04X}:{pid:04X}: it was built for another board",
            suffix.vendor, suffix.product
        )))
    }
}

/// The first pair of elements that cover a common byte, if any (sorted by start, each
/// compared with the one reaching furthest before it: n log n for files of many elements).
fn first_overlap(elements: &[ElementRef]) -> Option<(&ElementRef, &ElementRef)> {
    let mut order: Vec<&ElementRef> = elements.iter().filter(|e| e.len > 0).collect();
    order.sort_by_key(|e| (e.address, e.end()));
    let mut reach: Option<&ElementRef> = None;
    for e in order {
        if let Some(r) = reach {
            if u64::from(e.address) < r.end() {
                return Some((r, e));
            }
        }
        // No overlap and sorted by start: `e` ends past everything before it.
        reach = Some(e);
    }
    None
}

/// The writable partition of `parts` that `e` lies in, by address.
fn partition_by_address<'a>(
    board: Board,
    parts: &'a [Partition],
    e: &ElementRef,
) -> Result<&'a Partition, ImageError> {
    let mut touched: Vec<&Partition> = parts
        .iter()
        .filter(|p| p.size > 0)
        .filter(|p| {
            let end = u64::from(p.start) + u64::from(p.size);
            u64::from(e.address) < end && e.end().max(u64::from(e.address) + 1) > u64::from(p.start)
        })
        .collect();
    // A partition inside another (the H7 Plus's ROMFS0 is the last 8 MiB of SPI_FLASH):
    // an element at the inner one's start is that partition's, the most specific.
    if let Some(inner) = touched
        .iter()
        .filter(|p| p.start == e.address && e.end() <= u64::from(p.start) + u64::from(p.size))
        .min_by_key(|p| p.size)
    {
        touched = vec![*inner];
    }
    // Nested partitions both touched by one element are one place, the outer one.
    if touched.len() > 1 {
        let outer = touched.iter().copied().max_by_key(|p| p.size);
        if let Some(outer) = outer {
            let end = u64::from(outer.start) + u64::from(outer.size);
            if touched
                .iter()
                .all(|p| p.start >= outer.start && u64::from(p.start) + u64::from(p.size) <= end)
            {
                touched = vec![outer];
            }
        }
    }
    let refuse = |reason: String| ImageError::NotInOnePartition {
        element: e.clone(),
        reason,
        board,
        partitions: parts
            .iter()
            .filter(|p| p.writable && p.size > 0)
            .map(|p| {
                format!(
                    "{} 0x{:08X}–0x{:08X}",
                    p.name,
                    p.start,
                    u64::from(p.start) + u64::from(p.size) - 1
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    match touched.as_slice() {
        [] => Err(refuse("is in no partition".into())),
        [one] => Ok(one),
        [a, b, ..] => Err(refuse(format!(
            "spans partitions {} and {}",
            a.name, b.name
        ))),
    }
}

/// Plans the writes of a DfuSe file for `board`. Its suffix must name the board's OpenMV
/// bootloader (or the wildcard) — then each target's alternate setting is a partition —
/// or ST's ROM DFU — then each element goes to the partition its addresses lie in. No two
/// elements may overlap, and each must lie inside one writable partition, from its start.
pub fn plan_dfuse(bytes: &[u8], board: Board) -> Result<Vec<Write>, ImageError> {
    let file = DfuseFile::parse(bytes)?;
    let by = addressing(&file.suffix, board)?;
    let refs: Vec<(ElementRef, &dfuse::Element)> = file
        .targets
        .iter()
        .enumerate()
        .flat_map(|(ti, t)| {
            t.elements.iter().enumerate().map(move |(ei, e)| {
                (
                    ElementRef {
                        target: ti,
                        alt: t.alt,
                        name: t.name.clone(),
                        element: ei,
                        address: e.address,
                        len: e.data.len() as u64,
                    },
                    e,
                )
            })
        })
        .collect();
    let only: Vec<ElementRef> = refs.iter().map(|(r, _)| r.clone()).collect();
    if let Some((first, second)) = first_overlap(&only) {
        return Err(ImageError::Overlap {
            first: first.clone(),
            second: second.clone(),
        });
    }
    let parts = partitions(board);
    let mut writes = Vec::new();
    for (r, e) in &refs {
        let part = match by {
            Addressing::ByAlt => parts.iter().find(|p| p.alt == r.alt).ok_or_else(|| {
                ImageError::Refused(format!(
                    "target {} is for alternate setting {} but {board} has {} partitions",
                    r.target,
                    r.alt,
                    parts.len()
                ))
            })?,
            Addressing::ByAddress => partition_by_address(board, &parts, r)?,
        };
        place(board, part, e.address, e.data.len(), &r.to_string())?;
        writes.push(Write {
            alt: part.alt,
            partition: part.name,
            address: e.address,
            data: e.data.clone(),
        });
    }
    if writes.is_empty() {
        return Err(ImageError::Refused("the .dfu file has no data".into()));
    }
    Ok(writes)
}

/// Checks a whole plan for the OpenMV DFU bootloader: every write inside a writable
/// partition of `board` through that partition's alternate setting, from its start, and
/// no partition written twice. [`plan_raw`] and [`plan_dfuse`] only plan such writes; a
/// build of several images and a hand-made plan are checked here.
pub fn check_dfu_writes(board: Board, writes: &[Write]) -> Result<(), ImageError> {
    for (i, w) in writes.iter().enumerate() {
        let p = partition(board, w.partition)?;
        if p.alt != w.alt {
            return Err(ImageError::Refused(format!(
                "partition {} of {board} is alternate setting {}, not {}",
                p.name, p.alt, w.alt
            )));
        }
        place(board, &p, w.address, w.data.len(), "")?;
        if let Some(first) = writes[..i].iter().position(|o| o.partition == w.partition) {
            return Err(ImageError::PartitionTwice {
                partition: p.name,
                first,
                second: i,
            });
        }
    }
    Ok(())
}

/// Checks a plan for the legacy CDC bootloader (firmware ≤ 4.5.x), which erases and writes
/// the firmware's sectors alone (its FLASH_LAYOUT names no others); returns that write.
pub fn check_cdc_writes(writes: &[Write]) -> Result<&Write, ImageError> {
    match writes {
        [w] if w.partition == "FIRMWARE" => Ok(w),
        _ => Err(ImageError::OnlyFirmware {
            writes: if writes.is_empty() {
                "nothing".into()
            } else {
                writes
                    .iter()
                    .map(|w| w.partition)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: u32 = 1024;
    const M: u32 = 1024 * 1024;

    #[test]
    fn oversize_read_only_and_unknown_partitions_are_refused() {
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

    use dfuse::{Element, Target};

    const OPENMV_H7PLUS: Suffix = Suffix {
        bcd_device: 0xFFFF,
        product: 0x924A,
        vendor: 0x37C5,
        bcd_dfu: 0x011A,
    };
    const ST_ROM: Suffix = Suffix {
        bcd_device: 0xFFFF,
        product: 0xDF11,
        vendor: 0x0483,
        bcd_dfu: 0x011A,
    };

    /// A DfuSe file made with the crate's own writer: targets of (alt, [(address, len)]).
    fn dfu(suffix: Suffix, targets: &[(u8, &[(u32, usize)])]) -> Vec<u8> {
        DfuseFile {
            targets: targets
                .iter()
                .map(|(alt, elements)| Target {
                    alt: *alt,
                    name: None,
                    elements: elements
                        .iter()
                        .map(|&(address, len)| Element {
                            address,
                            data: vec![0xA5; len],
                        })
                        .collect(),
                })
                .collect(),
            suffix,
        }
        .write()
    }

    #[test]
    fn overlapping_elements_are_refused_naming_both_ranges() {
        // Two images at one address, in one target.
        let two = dfu(
            OPENMV_H7PLUS,
            &[(2, &[(0x0804_0000, 16), (0x0804_0000, 16)])],
        );
        let e = plan_dfuse(&two, Board::H7Plus).unwrap_err();
        assert!(matches!(e, ImageError::Overlap { .. }), "{e}");
        let e = e.to_string();
        assert!(
            e.contains("target 0 (alt 2) element 0, 0x08040000–0x0804000F (16 bytes) and target 0 (alt 2) element 1, 0x08040000–0x0804000F (16 bytes) overlap"),
            "{e}"
        );
        // A partial overlap, across two targets of one partition.
        let across = dfu(
            OPENMV_H7PLUS,
            &[(2, &[(0x0804_0000, 4096)]), (2, &[(0x0804_0800, 16)])],
        );
        let e = plan_dfuse(&across, Board::H7Plus).unwrap_err().to_string();
        assert!(
            e.contains("target 0 (alt 2) element 0, 0x08040000–0x08040FFF (4096 bytes) and target 1 (alt 2) element 0, 0x08040800–0x0804080F (16 bytes) overlap"),
            "{e}"
        );
        // Elements that touch but do not overlap are no overlap (the second is refused for
        // another reason: it is not at a partition's start).
        let touching = dfu(
            OPENMV_H7PLUS,
            &[(2, &[(0x0804_0000, 16), (0x0804_0010, 16)])],
        );
        assert!(matches!(
            plan_dfuse(&touching, Board::H7Plus),
            Err(ImageError::NotAtPartitionStart { .. })
        ));
    }

    #[test]
    fn an_element_not_at_its_partitions_start_is_refused_before_any_camera() {
        let inside = dfu(OPENMV_H7PLUS, &[(2, &[(0x0804_1000, 64)])]);
        let e = plan_dfuse(&inside, Board::H7Plus).unwrap_err();
        assert_eq!(
            e,
            ImageError::NotAtPartitionStart {
                what: "target 0 (alt 2) element 0, 0x08041000–0x0804103F (64 bytes)".into(),
                partition: "FIRMWARE",
                board: Board::H7Plus,
                start: 0x0804_0000,
            }
        );
        assert!(
            e.to_string().contains(
                "writes a partition from its start, so these bytes would land at 0x08040000"
            ),
            "{e}"
        );
        // The flasher's own check is the same rule, for a plan made by hand.
        let w = Write {
            alt: 2,
            partition: "FIRMWARE",
            address: 0x0804_1000,
            data: vec![0; 64],
        };
        assert!(matches!(
            check_dfu_writes(Board::H7Plus, &[w]),
            Err(ImageError::NotAtPartitionStart {
                start: 0x0804_0000,
                ..
            })
        ));
    }

    #[test]
    fn partition_maps_follow_the_boards_boot_config() {
        // boards/OPENMV4P/boot_config.h (v5.0.0): SPI_FLASH is the whole 32 MiB chip,
        // ROMFS0 its last 8 MiB from offset 0x1800000.
        let spi = partition(Board::H7Plus, "SPI_FLASH").unwrap();
        let romfs = partition(Board::H7Plus, "ROMFS0").unwrap();
        assert_eq!((spi.alt, spi.size), (3, 32 * M));
        assert_eq!(
            (romfs.alt, romfs.start - spi.start, romfs.size),
            (4, 0x0180_0000, 8 * M)
        );
        // boards/OPENMV4/boot_config.h: FIRMWARE ends at 0x081E0000, ROMFS0 is 128 KiB.
        let fw = partition(Board::H7, "FIRMWARE").unwrap();
        assert_eq!((fw.start, fw.size), (0x0804_0000, 0x1A_0000));
        assert_eq!(partition(Board::H7, "ROMFS0").unwrap().size, 128 * K);
        // boards/OPENMV_N6/boot_config.h: FIRMWARE 3.5 MiB, ROMFS0 24 MiB.
        assert_eq!(
            partition(Board::N6, "FIRMWARE").unwrap().size,
            3 * M + 512 * K
        );
        assert_eq!(partition(Board::N6, "ROMFS0").unwrap().size, 24 * M);
        // An image one byte larger than ROMFS0 is refused, naming the excess.
        let e = plan_raw(&vec![0u8; 8 * M as usize + 1], Board::H7Plus, "ROMFS0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 bytes too large"), "{e}");
        assert!(plan_raw(&vec![0u8; 8 * M as usize], Board::H7Plus, "ROMFS0").is_ok());
        // By address, an element at ROMFS0's start is ROMFS0's, not SPI_FLASH's.
        let st = dfu(ST_ROM, &[(0, &[(0x9180_0000, 16)])]);
        let w = plan_dfuse(&st, Board::H7Plus).unwrap();
        assert_eq!((w[0].alt, w[0].partition), (4, "ROMFS0"));
    }

    #[test]
    fn files_for_st_rom_dfu_are_placed_by_address_not_by_alt() {
        // ST's alt 0 is the internal flash: the element at 0x08040000 is FIRMWARE (alt 2),
        // the one at 0x90000000 SPI_FLASH (alt 3) — not the BOOTLOADER alt 0 would name.
        let st = dfu(ST_ROM, &[(0, &[(0x0804_0000, 64), (0x9000_0000, 32)])]);
        let got: Vec<(u8, &str, u32, usize)> = plan_dfuse(&st, Board::H7Plus)
            .unwrap()
            .iter()
            .map(|w| (w.alt, w.partition, w.address, w.data.len()))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, "FIRMWARE", 0x0804_0000, 64),
                (3, "SPI_FLASH", 0x9000_0000, 32)
            ]
        );
        // The same file for the OpenMV bootloader's ID keeps the alt mapping: alt 0 is the
        // read-only bootloader.
        let openmv = dfu(OPENMV_H7PLUS, &[(0, &[(0x0804_0000, 64)])]);
        let e = plan_dfuse(&openmv, Board::H7Plus).unwrap_err().to_string();
        assert!(e.contains("read-only"), "{e}");
        // In no partition (RAM), or across two: refused naming the range.
        let ram = dfu(ST_ROM, &[(0, &[(0x2000_0000, 16)])]);
        let e = plan_dfuse(&ram, Board::H7Plus).unwrap_err();
        assert!(matches!(e, ImageError::NotInOnePartition { .. }), "{e}");
        let e = e.to_string();
        assert!(
            e.contains("element 0, 0x20000000–0x2000000F (16 bytes) is in no partition of H7 Plus")
                && e.contains("FIRMWARE 0x08040000–0x081FFFFF"),
            "{e}"
        );
        let spans = dfu(ST_ROM, &[(0, &[(0x0802_0000, 0x2_0000 + 16)])]);
        let e = plan_dfuse(&spans, Board::H7Plus).unwrap_err().to_string();
        assert!(
            e.contains(
                "0x08020000–0x0804000F (131088 bytes) spans partitions FILESYSTEM and FIRMWARE"
            ),
            "{e}"
        );
        // By address, the bootloader's own range is still read-only.
        let bl = dfu(ST_ROM, &[(0, &[(0x0800_0000, 16)])]);
        let e = plan_dfuse(&bl, Board::H7Plus).unwrap_err().to_string();
        assert!(
            e.contains("partition BOOTLOADER of H7 Plus is read-only"),
            "{e}"
        );
        // Inside a partition but not at its start: the OpenMV bootloader still writes it.
        let mid = dfu(ST_ROM, &[(0, &[(0x0804_0100, 16)])]);
        assert!(matches!(
            plan_dfuse(&mid, Board::H7Plus),
            Err(ImageError::NotAtPartitionStart {
                partition: "FIRMWARE",
                ..
            })
        ));
    }

    #[test]
    fn plans_a_bootloader_cannot_write_are_refused() {
        let fw = |partition: &'static str, alt, address| Write {
            alt,
            partition,
            address,
            data: vec![1; 8],
        };
        let two = [
            fw("FIRMWARE", 2, 0x0804_0000),
            fw("SPI_FLASH", 3, 0x9000_0000),
        ];
        assert!(check_dfu_writes(Board::H7Plus, &two).is_ok());
        let e = check_cdc_writes(&two).unwrap_err().to_string();
        assert!(
            e.contains(
                "writes only the FIRMWARE partition, and this plan writes FIRMWARE, SPI_FLASH"
            ),
            "{e}"
        );
        assert_eq!(check_cdc_writes(&two[..1]).unwrap(), &two[0]);
        let twice = [
            fw("FIRMWARE", 2, 0x0804_0000),
            fw("FIRMWARE", 2, 0x0804_0000),
        ];
        assert_eq!(
            check_dfu_writes(Board::H7Plus, &twice),
            Err(ImageError::PartitionTwice {
                partition: "FIRMWARE",
                first: 0,
                second: 1
            })
        );
    }

    #[test]
    fn a_bootloader_for_st_rom_must_fit_the_bootloader_partition() {
        let image = sim::sim_bootloader_image(Board::H7);
        let w = plan_rom_bootloader(&image, Board::H7).unwrap();
        assert_eq!(
            (w.alt, w.partition, w.address),
            (0, "BOOTLOADER", 0x0800_0000)
        );
        let e = plan_rom_bootloader(&vec![0; 129 * 1024], Board::H7)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                "the bootloader image: 132096 bytes at 0x08000000 do not fit partition BOOTLOADER"
            ) && e.contains("1024 bytes too large"),
            "{e}"
        );
        let e = plan_rom_bootloader(&[], Board::H7).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let e = plan_rom_bootloader(&dfu(ST_ROM, &[(0, &[(0x0800_0000, 16)])]), Board::H7)
            .unwrap_err()
            .to_string();
        assert!(e.contains("this is a DfuSe .dfu file"), "{e}");
    }
}
