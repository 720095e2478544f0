//! The boards visreg knows, as their firmware describes them: one table, each fact with
//! the file of OpenMV's firmware source (openmv/openmv, at the tag named) it comes from.
//!
//! - USB identities: `boards/*/board_config.mk` (`OMV_USB_VID`/`OMV_USB_PID`, v5.0.0;
//!   `omv_boardconfig.mk` at v4.8.1), the DFU bootloader's `OMV_BOOT_PID` in
//!   `boards/*/boot_config.h` (v5.0.0; `omv_bootconfig.h` at v4.8.1).
//! - ARCH string and board type: `OMV_BOARD_ARCH` / `OMV_BOARD_TYPE` in
//!   `boards/*/board_config.h` (v5.0.0; `omv_boardconfig.h` at v4.8.1 and, under
//!   `src/omv/boards/`, at v4.5.9). Protocol v1's ARCH_STR is `"%s [%s:%08X%08X%08X]"` of
//!   the two, so the bracket says `H7` for both the H7 and the H7 Plus: only the ARCH
//!   prefix (`OMV4P H7` vs `OMV4 H7`) tells them apart ([`Board::of_arch`]).
//! - AprilTag families and the 64K-pixel limit: `IMLIB_ENABLE_APRILTAGS_TAG*` and
//!   `IMLIB_ENABLE_HIGH_RES_APRILTAGS` in `boards/*/imlib_config.h` (v4.5.9, v4.8.1,
//!   v5.0.0), enforced in `modules/py_image.c` (`find_apriltags`, v5.0.0).
//! - USB speed: the device controller's interrupt, `OMV_USB_IRQN` in
//!   `boards/*/board_config.h` (v5.0.0): `OTG_FS_IRQn` on the M7, H7 and H7 Plus (full
//!   speed even on the H7 Plus), `USB_OTG1_IRQn` with its EHCI PHY on the RT1060 and
//!   `USB1_OTG_HS_IRQn` on the N6 (high speed; `HAS_USB_HS` in their capabilities).
//! - Bootloader: the RT1060 has no OpenMV DFU bootloader — it has no `boot_config.h`, and
//!   `machine.bootloader()` enters NXP's ROM bootloader (`ports/mimxrt/mimxrt_hal.c`,
//!   `mimxrt_hal_bootloader`, v5.0.0).

use serde::{Deserialize, Serialize};
use visreg_apriltag::Family;

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

    /// Every board, in a stable order.
    pub const ALL: [Board; 6] = [
        Board::M4,
        Board::M7,
        Board::H7,
        Board::H7Plus,
        Board::RT1062,
        Board::N6,
    ];

    /// `OMV_BOARD_ARCH`, the architecture protocol v1's ARCH_STR starts with
    /// (`boards/*/board_config.h`, v5.0.0; the same strings at v4.5.9 and v4.8.1).
    pub fn arch(self) -> &'static str {
        match self {
            Board::M4 => "OMV2 F4 256 JPEG",
            Board::M7 => "OMV3 F7 512",
            Board::H7 => "OMV4 H7 1024",
            Board::H7Plus => "OMV4P H7 32768 SDRAM",
            Board::RT1062 => "OMVRT1060 32768 SDRAM",
            Board::N6 => "OpenMV N6",
        }
    }

    /// `OMV_BOARD_TYPE`, the word inside ARCH_STR's bracket: `H7` for the H7 Plus too.
    pub fn board_type(self) -> &'static str {
        match self {
            Board::M4 => "M4",
            Board::M7 => "M7",
            Board::H7 | Board::H7Plus => "H7",
            Board::RT1062 => "IMXRT1060",
            Board::N6 => "N6",
        }
    }

    /// The board a protocol v1 ARCH_STR (`"OMV4P H7 32768 SDRAM [H7:…]"`) names, by its
    /// ARCH prefix — the bracket's board type cannot tell the H7 from the H7 Plus.
    pub fn of_arch(arch_str: &str) -> Option<Board> {
        let arch = arch_str
            .trim_end_matches('\0')
            .split(" [")
            .next()
            .unwrap_or("")
            .trim();
        Board::ALL.into_iter().find(|b| b.arch() == arch)
    }

    /// The AprilTag families its firmware is compiled with (`IMLIB_ENABLE_APRILTAGS_TAG*`
    /// in `boards/*/imlib_config.h`, v4.8.1 and v5.0.0): TAG36H11 alone on the M7, H7,
    /// H7 Plus and N6; TAG16H5 and TAG25H9 as well on the RT1060 (and TAG36H10, which
    /// visreg's detector does not have); none on the M4, whose firmware has AprilTags
    /// compiled out. TAGCIRCLE21H7 and TAGSTANDARD41H12 are on no board.
    pub fn apriltag_families(self) -> &'static [Family] {
        match self {
            Board::M4 => &[],
            Board::M7 | Board::H7 | Board::H7Plus | Board::N6 => &[Family::Tag36h11],
            Board::RT1062 => &[Family::Tag16h5, Family::Tag25h9, Family::Tag36h11],
        }
    }

    /// The largest region `find_apriltags` takes, pixels: `roi.w·roi.h < 65536` unless
    /// the board enables `IMLIB_ENABLE_HIGH_RES_APRILTAGS`, else an OSError
    /// (`modules/py_image.c`, v5.0.0); `None` when there is no such limit.
    pub fn apriltag_pixel_limit(self) -> Option<u32> {
        (!self.high_res_apriltags()).then_some(65_535)
    }

    /// Whether `find_apriltags` can run on a `width`×`height` region of this board.
    pub fn fits_apriltag_region(self, width: u32, height: u32) -> bool {
        self.apriltag_pixel_limit()
            .is_none_or(|max| u64::from(width) * u64::from(height) <= u64::from(max))
    }

    /// Whether an OpenMV DFU bootloader (`boot/`) is built for the board: not for the
    /// RT1060, which enters NXP's ROM bootloader.
    pub fn has_openmv_dfu_bootloader(self) -> bool {
        !matches!(self, Board::RT1062)
    }

    /// The size of its bulk endpoints' packets at its USB speed, bytes.
    pub fn usb_packet_size(self) -> usize {
        match self.usb_speed() {
            UsbSpeed::Full => 64,
            UsbSpeed::High => 512,
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

    /// Whether `find_apriltags` may run on 64K pixels or more: `IMLIB_ENABLE_HIGH_RES_APRILTAGS`
    /// in `boards/*/imlib_config.h` (H7 Plus, RT1060, N6 at v5.0.0; H7 Plus and RT1060
    /// at v4.5.9).
    pub fn high_res_apriltags(self) -> bool {
        matches!(self, Board::H7Plus | Board::RT1062 | Board::N6)
    }

    /// Whether its firmware's USB device stack is TinyUSB (`OMV_USB_STACK_TINYUSB` in
    /// `boards/*/board_config.mk`, v5.0.0: RT1060, N6, AE3) rather than ST's
    /// (`OMV_USB_STACK_STMUSB`: M4, M7, H7, H7 Plus). A 4.x TinyUSB port reads protocol v1
    /// in fixed 6-byte chunks with no resync, so a v2 SYNC must never reach it first.
    pub fn tinyusb(self) -> bool {
        matches!(self, Board::RT1062 | Board::N6)
    }

    /// The USB speed its firmware's device controller runs at.
    pub fn usb_speed(self) -> UsbSpeed {
        match self {
            Board::M4 | Board::M7 | Board::H7 | Board::H7Plus => UsbSpeed::Full,
            Board::RT1062 | Board::N6 => UsbSpeed::High,
        }
    }
}

/// Why a board cannot run a dataset's detection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// The firmware has no AprilTags at all.
    #[error("the {board}'s firmware has AprilTag detection compiled out (no IMLIB_ENABLE_APRILTAGS in boards/*/imlib_config.h)")]
    NoAprilTags {
        /// The board.
        board: Board,
    },
    /// The family is not compiled in.
    #[error("the {board}'s firmware has no AprilTag family {family} (it has {has}; boards/*/imlib_config.h): `image.{}` does not exist there", family.to_string().to_uppercase())]
    Family {
        /// The board.
        board: Board,
        /// The dataset's family.
        family: Family,
        /// The families the board has.
        has: String,
    },
    /// The frames are larger than `find_apriltags` takes.
    #[error("the {board}'s find_apriltags takes regions under 64K pixels (no IMLIB_ENABLE_HIGH_RES_APRILTAGS; an OSError otherwise, modules/py_image.c), and the frames are {width}×{height} = {} pixels", u64::from(*width) * u64::from(*height))]
    FrameSize {
        /// The board.
        board: Board,
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
    },
}

impl Board {
    /// Whether the board's `find_apriltags` can detect `family` on `width`×`height`
    /// frames — what a run checks before any camera is touched.
    pub fn can_detect(self, family: Family, width: u32, height: u32) -> Result<(), Unsupported> {
        let has = self.apriltag_families();
        if has.is_empty() {
            return Err(Unsupported::NoAprilTags { board: self });
        }
        if !has.contains(&family) {
            return Err(Unsupported::Family {
                board: self,
                family,
                has: has
                    .iter()
                    .map(|f| f.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if !self.fits_apriltag_region(width, height) {
            return Err(Unsupported::FrameSize {
                board: self,
                width,
                height,
            });
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arch_prefix_tells_the_h7_from_the_h7_plus() {
        // ARCH_STR as usbdbg.c formats it: the bracket's board type is `H7` for both.
        let plus = "OMV4P H7 32768 SDRAM [H7:00330042001234560089ABCD]\0\0";
        let h7 = "OMV4 H7 1024 [H7:00330042001234560089ABCD]";
        assert_eq!(Board::of_arch(plus), Some(Board::H7Plus));
        assert_eq!(Board::of_arch(h7), Some(Board::H7));
        assert_eq!(Board::H7Plus.board_type(), Board::H7.board_type());
        assert_eq!(
            Board::of_arch("OMVRT1060 32768 SDRAM [IMXRT1060:0]"),
            Some(Board::RT1062)
        );
        assert_eq!(Board::of_arch("OMV9 X1 1"), None);
        for b in Board::ALL {
            assert_eq!(
                Board::of_arch(&format!("{} [{}:0]", b.arch(), b.board_type())),
                Some(b)
            );
        }
    }

    #[test]
    fn families_and_the_64k_limit_per_board() {
        assert!(Board::M4.apriltag_families().is_empty());
        for b in [Board::M7, Board::H7, Board::H7Plus, Board::N6] {
            assert_eq!(b.apriltag_families(), &[Family::Tag36h11], "{b}");
        }
        assert!(Board::RT1062.apriltag_families().contains(&Family::Tag16h5));
        for b in Board::ALL {
            assert!(!b.apriltag_families().contains(&Family::TagCircle21h7));
            assert!(!b.apriltag_families().contains(&Family::TagStandard41h12));
        }
        // 320×240 = 76800 pixels: beyond the H7's limit, within the H7 Plus's.
        assert!(!Board::H7.fits_apriltag_region(320, 240));
        assert!(Board::H7.fits_apriltag_region(160, 120));
        assert!(!Board::H7.fits_apriltag_region(256, 256));
        assert!(Board::H7.fits_apriltag_region(255, 257));
        assert!(Board::H7Plus.fits_apriltag_region(640, 480));
        assert_eq!(Board::H7Plus.usb_packet_size(), 64);
        let e = Board::H7Plus
            .can_detect(Family::Tag16h5, 320, 240)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no AprilTag family tag16h5 (it has tag36h11"),
            "{e}"
        );
        assert!(Board::RT1062.can_detect(Family::Tag16h5, 640, 480).is_ok());
        let e = Board::H7
            .can_detect(Family::Tag36h11, 320, 240)
            .unwrap_err();
        assert!(e.to_string().contains("320×240 = 76800 pixels"), "{e}");
        assert!(matches!(
            Board::M4.can_detect(Family::Tag36h11, 80, 60),
            Err(Unsupported::NoAprilTags { .. })
        ));
        assert_eq!(Board::RT1062.usb_packet_size(), 512);
    }
}
