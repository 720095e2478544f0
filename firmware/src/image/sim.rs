//! The images of visreg's simulated builds and bootloaders: what `file = "sim"` in the
//! catalog stands for. A header names the build (so a virtual camera boots whatever was
//! flashed) and a CRC tells an intact image from a half-written one.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::board::Board;
use crate::catalog::Build;

/// Magic at the start of a simulated firmware image.
pub const SIM_MAGIC: &[u8; 16] = b"VISREG-SIMFW\0\0\0\x01";
/// Header length of a simulated firmware image.
pub const SIM_HEADER: usize = 128;

/// The image of a simulated build: a 128-byte header (magic, version, board PID, build
/// name, payload length and CRC) and a deterministic payload of `payload_len` bytes.
pub fn sim_image(build: &Build, payload_len: usize) -> Vec<u8> {
    let seed = build.name.bytes().fold(0x9E37_79B9_7F4A_7C15u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut payload = vec![0u8; payload_len];
    ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut payload);
    let mut out = Vec::with_capacity(SIM_HEADER + payload_len);
    out.extend_from_slice(SIM_MAGIC);
    out.extend_from_slice(&build.version_triple().unwrap_or([0, 0, 0]));
    out.push(0);
    out.extend_from_slice(&build.board.firmware_pid().to_le_bytes());
    let mut name = [0u8; 64];
    let n = build.name.len().min(63);
    name[..n].copy_from_slice(&build.name.as_bytes()[..n]);
    out.extend_from_slice(&name);
    out.extend_from_slice(&(payload_len as u32).to_le_bytes());
    out.extend_from_slice(&crate::image::dfuse::dfu_crc(&payload).to_le_bytes());
    out.resize(SIM_HEADER, 0);
    out.extend_from_slice(&payload);
    out
}

/// Magic at the start of a simulated OpenMV bootloader image.
pub const SIM_BL_MAGIC: &[u8; 16] = b"VISREG-SIMBL\0\0\0\x01";

/// The image of a simulated OpenMV bootloader for `board`: magic, board PID, payload
/// length and CRC, then 16 KiB of deterministic payload.
pub fn sim_bootloader_image(board: Board) -> Vec<u8> {
    let mut payload = vec![0u8; 16 * 1024];
    ChaCha8Rng::seed_from_u64(u64::from(board.firmware_pid())).fill_bytes(&mut payload);
    let mut out = SIM_BL_MAGIC.to_vec();
    out.extend_from_slice(&board.firmware_pid().to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crate::image::dfuse::dfu_crc(&payload).to_le_bytes());
    out.resize(64, 0);
    out.extend_from_slice(&payload);
    out
}

/// Whether a BOOTLOADER partition holds an intact simulated bootloader.
pub fn bootloader_valid(partition: &[u8]) -> bool {
    if partition.len() < 64 || &partition[..16] != SIM_BL_MAGIC {
        return false;
    }
    let len =
        u32::from_le_bytes([partition[18], partition[19], partition[20], partition[21]]) as usize;
    let crc = u32::from_le_bytes([partition[22], partition[23], partition[24], partition[25]]);
    partition
        .get(64..64 + len)
        .is_some_and(|p| crate::image::dfuse::dfu_crc(p) == crc)
}

/// The build name in a partition holding a complete, intact simulated image.
pub fn installed_build(partition: &[u8]) -> Option<String> {
    if partition.len() < SIM_HEADER || &partition[..16] != SIM_MAGIC {
        return None;
    }
    let name_end = partition[22..86].iter().position(|&b| b == 0).unwrap_or(64);
    let name = String::from_utf8_lossy(&partition[22..22 + name_end]).into_owned();
    let len = u32::from_le_bytes(partition[86..90].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(partition[90..94].try_into().ok()?);
    let payload = partition.get(SIM_HEADER..SIM_HEADER + len)?;
    (crate::image::dfuse::dfu_crc(payload) == crc).then_some(name)
}
