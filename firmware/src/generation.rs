//! OpenMV firmware comes in three generations, told apart by version, and each decides
//! the wire protocol, the USB identity and the bootloader a camera has — not two, as the
//! protocol alone would suggest:
//!
//! | generation | versions | protocol | USB identity (running) | bootloader |
//! |---|---|---|---|---|
//! | [`Generation::Legacy`] | ≤ 4.5.x | v1 (usbdbg) | 1209:ABD1 | legacy CDC bootloader |
//! | [`Generation::DfuV1`] | 4.6.0 … 4.8.1 | v1 (usbdbg) | 37C5:board PID | OpenMV DFU bootloader |
//! | [`Generation::V2`] | ≥ 5.0 | v2 | 37C5:board PID | OpenMV DFU bootloader |
//!
//! Sources (openmv/openmv): the DFU bootloader `src/boot/` first appears at v4.6.0, and
//! `src/omv/ports/stm32/boot/` is the CDC bootloader at v4.5.9; the 37C5 IDs arrive with
//! v4.6.0 (`omv_boardconfig.mk` `OMV_USB_VID=0x37C5`, v4.8.1; 1209:ABD1 in openmv/
//! micropython `mpconfigboard.h` at the commit v4.5.9 pins); protocol v2
//! (`protocol/omv_protocol.c`) replaces `usbdbg.c` at v5.0.0, while v4.8.1 — the last 4.x
//! release — still has `common/usbdbg.c`. The RT1060 has no OpenMV DFU bootloader in any
//! generation (see [`crate::board`]).

use crate::board::{Board, LEGACY_PID, LEGACY_VID, OPENMV_VID};
use crate::catalog::{Flasher, Protocol};

/// A firmware generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Generation {
    /// ≤ 4.5.x: protocol v1, 1209:ABD1, the legacy CDC bootloader.
    Legacy,
    /// 4.6.0 … 4.8.1: protocol v1, 37C5 USB IDs, the OpenMV DFU bootloader.
    DfuV1,
    /// ≥ 5.0: protocol v2, 37C5 USB IDs, the OpenMV DFU bootloader.
    V2,
}

impl Generation {
    /// The generation of firmware version `major.minor.patch`.
    pub fn of_version(v: [u32; 3]) -> Generation {
        match (v[0], v[1]) {
            (m, _) if m >= 5 => Generation::V2,
            (4, n) if n >= 6 => Generation::DfuV1,
            _ => Generation::Legacy,
        }
    }

    /// The wire protocol its firmware speaks.
    pub fn protocol(self) -> Protocol {
        match self {
            Generation::Legacy | Generation::DfuV1 => Protocol::V1,
            Generation::V2 => Protocol::V2,
        }
    }

    /// The bootloader a camera running this generation on `board` has.
    pub fn bootloader(self, board: Board) -> Flasher {
        match self {
            _ if !board.has_openmv_dfu_bootloader() => Flasher::NxpRom,
            Generation::Legacy => Flasher::CdcBootloader,
            Generation::DfuV1 | Generation::V2 => Flasher::OpenmvDfu,
        }
    }

    /// The USB VID:PID a camera running this generation on `board` shows.
    pub fn usb_identity(self, board: Board) -> (u16, u16) {
        match self {
            Generation::Legacy => (LEGACY_VID, LEGACY_PID),
            Generation::DfuV1 | Generation::V2 => (OPENMV_VID, board.firmware_pid()),
        }
    }

    /// The versions it spans, for people.
    pub fn versions(self) -> &'static str {
        match self {
            Generation::Legacy => "≤ 4.5.x",
            Generation::DfuV1 => "4.6.0 … 4.8.1",
            Generation::V2 => "≥ 5.0",
        }
    }
}

impl std::fmt::Display for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self {
            Generation::Legacy => "legacy: protocol v1, legacy CDC bootloader",
            Generation::DfuV1 => "protocol v1 with the OpenMV DFU bootloader",
            Generation::V2 => "protocol v2",
        };
        write!(f, "{} ({what})", self.versions())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_generations_by_version() {
        use Generation::*;
        let cases = [
            ([4, 5, 0], Legacy),
            ([4, 5, 9], Legacy),
            ([4, 6, 0], DfuV1),
            ([4, 6, 20], DfuV1),
            ([4, 8, 1], DfuV1),
            ([5, 0, 0], V2),
            ([5, 1, 0], V2),
        ];
        for (v, g) in cases {
            assert_eq!(Generation::of_version(v), g, "{v:?}");
        }
        // 4.6 … 4.8.1 still speak v1 but sit behind the DFU bootloader and 37C5 IDs.
        assert_eq!(DfuV1.protocol(), Protocol::V1);
        assert_eq!(DfuV1.bootloader(Board::H7Plus), Flasher::OpenmvDfu);
        assert_eq!(DfuV1.usb_identity(Board::H7Plus), (0x37C5, 0x124A));
        assert_eq!(Legacy.usb_identity(Board::H7Plus), (0x1209, 0xABD1));
        assert_eq!(Legacy.bootloader(Board::H7), Flasher::CdcBootloader);
        assert_eq!(V2.bootloader(Board::RT1062), Flasher::NxpRom);
    }
}
