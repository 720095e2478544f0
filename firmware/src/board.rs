//! The boards visreg knows: their USB identities (PROTOCOL.md §3) and the system
//! information a virtual camera reports for them.

use serde::{Deserialize, Serialize};

/// OpenMV's USB vendor id for current boards.
pub const OPENMV_VID: u16 = 0x37C5;
/// The vendor id of legacy (4.x) firmware and the legacy CDC bootloader.
pub const LEGACY_VID: u16 = 0x1209;
/// The product id of legacy firmware and the legacy CDC bootloader.
pub const LEGACY_PID: u16 = 0xABD1;

/// An OpenMV board.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Board {
    /// OpenMV Cam M4.
    M4,
    /// OpenMV Cam M7.
    M7,
    /// OpenMV Cam H7.
    H7,
    /// OpenMV Cam H7 Plus.
    #[serde(rename = "H7Plus", alias = "H7 Plus")]
    H7Plus,
    /// OpenMV Cam RT1062.
    RT1062,
    /// OpenMV N6.
    N6,
}

impl Board {
    /// The board's name as visreg prints it.
    pub fn name(self) -> &'static str {
        match self {
            Board::M4 => "M4",
            Board::M7 => "M7",
            Board::H7 => "H7",
            Board::H7Plus => "H7 Plus",
            Board::RT1062 => "RT1062",
            Board::N6 => "N6",
        }
    }

    /// USB product id of the running firmware (under [`OPENMV_VID`]).
    pub fn firmware_pid(self) -> u16 {
        match self {
            Board::M4 => 0x1202,
            Board::M7 => 0x1203,
            Board::H7 => 0x1204,
            Board::H7Plus => 0x124A,
            Board::RT1062 => 0x1060,
            Board::N6 => 0x1206,
        }
    }

    /// The architecture string protocol v1's ARCH_STR reports.
    pub fn arch(self) -> &'static str {
        match self {
            Board::M4 => "OMV2 F4 256",
            Board::M7 => "OMV3 F7 512",
            Board::H7 => "OMV4 H7 1024",
            Board::H7Plus => "OMV4P H7 32768 SDRAM",
            Board::RT1062 => "OMV5 RT1060 32768 SDRAM",
            Board::N6 => "OMV6 N6 65536",
        }
    }

    /// CPUID of the board's core (Cortex-M4, M7, M55).
    pub fn cpu_id(self) -> u32 {
        match self {
            Board::M4 => 0x410F_C241,
            Board::N6 => 0x411F_D220,
            _ => 0x411F_C271,
        }
    }

    /// Flash, RAM, framebuffer and stream buffer sizes, KiB.
    pub fn memory_kb(self) -> [u32; 4] {
        match self {
            Board::M4 => [1024, 192, 100, 32],
            Board::M7 => [2048, 512, 300, 64],
            Board::H7 => [2048, 1024, 400, 128],
            Board::H7Plus => [32768, 32768, 16384, 1024],
            Board::RT1062 => [16384, 32768, 16384, 1024],
            Board::N6 => [32768, 65536, 16384, 1024],
        }
    }

    /// Whether `find_apriltags` may run on more than 64K pixels (PROTOCOL.md §4).
    pub fn high_res_apriltags(self) -> bool {
        matches!(self, Board::H7Plus | Board::RT1062 | Board::N6)
    }

    /// The USB speed its firmware's device controller runs at.
    pub fn usb_speed(self) -> UsbSpeed {
        match self {
            Board::M4 | Board::M7 | Board::H7 | Board::H7Plus => UsbSpeed::Full,
            Board::RT1062 | Board::N6 => UsbSpeed::High,
        }
    }
}

/// USB 2.0 bus speeds a camera's device controller runs at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UsbSpeed {
    /// 12 Mb/s, 64-byte bulk packets.
    Full,
    /// 480 Mb/s, 512-byte bulk packets.
    High,
}

impl std::fmt::Display for Board {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
