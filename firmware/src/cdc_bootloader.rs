//! The legacy CDC bootloader of OpenMV firmware ≤ 4.5.x (PROTOCOL.md §3): u32
//! little-endian commands, one per USB packet, written once for the flasher and the
//! virtual camera.

/// START: reply u32 bootloader version.
pub const START: u32 = 0xABCD_0001;
/// RESET: flush the last buffer and boot.
pub const RESET: u32 = 0xABCD_0002;
/// FLASH_ERASE + u32 sector.
pub const FLASH_ERASE: u32 = 0xABCD_0004;
/// FLASH_WRITE + data.
pub const FLASH_WRITE: u32 = 0xABCD_0008;
/// FLASH_LAYOUT: reply u32 first sector, firmware's first sector, last sector.
pub const FLASH_LAYOUT: u32 = 0xABCD_0010;
/// The version START answers.
pub const BOOTLOADER_VERSION: u32 = 0xABCD_0003;
/// Data bytes per FLASH_WRITE on high-speed USB (512-byte packets less the command).
pub const WRITE_CHUNK: usize = 508;
/// Sector size of the internal flash model (STM32H7: 128 KiB).
pub const SECTOR: usize = 128 * 1024;
/// First sector, the firmware's first sector and the last sector (H7: {1, 2, 15}).
pub const LAYOUT: [u32; 3] = [1, 2, 15];
