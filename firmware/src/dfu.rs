//! DFU as OpenMV's bootloaders and ST's ROM present it (PROTOCOL.md §3), written once for
//! the flasher and the virtual camera: transfer sizes, the functional descriptors, the DFU
//! 1.1 states and requests, and ST's DfuSe memory layout string.

use dfu_core::functional_descriptor::FunctionalDescriptor;

/// Transfer size of the OpenMV DFU bootloader.
pub const BLOCK: usize = 4096;
/// Transfer size of ST's ROM DFU.
pub const ST_ROM_TRANSFER: usize = 2048;
/// The interface string ST's ROM reports for the internal flash of an STM32H7 (DfuSe
/// memory layout: 16 sectors of 128 KiB, erasable and writable).
pub const ST_ROM_LAYOUT: &str = "@Internal Flash  /0x08000000/16*128Kg";

/// The functional descriptor of the OpenMV DFU bootloader: download, upload,
/// manifestation tolerant (it stays in DFU between partitions), no will-detach, detach
/// timeout 1000 ms, 4096-byte transfers, bcdDFUVersion 0x0101 — TinyUSB's
/// `TUD_DFU_DESCRIPTOR` as `boot/src/common/desc.c` fills it (openmv v4.8.1, v5.0.0;
/// `CFG_TUD_DFU_XFER_BUFSIZE` 4096 in `boot/src/ports/stm32/tusb_config.h`). TinyUSB puts
/// it once, after the last alternate setting.
pub fn openmv_dfu_descriptor() -> FunctionalDescriptor {
    FunctionalDescriptor {
        can_download: true,
        can_upload: true,
        manifestation_tolerant: true,
        will_detach: false,
        detach_timeout: 1000,
        transfer_size: BLOCK as u16,
        dfu_version: (0x01, 0x01),
    }
}

/// The functional descriptor of ST's ROM system DFU: DfuSe (1.1a), 2048-byte transfers,
/// leaves DFU after a download (will detach, not manifestation tolerant).
pub fn st_rom_descriptor() -> FunctionalDescriptor {
    FunctionalDescriptor {
        can_download: true,
        can_upload: true,
        manifestation_tolerant: false,
        will_detach: true,
        detach_timeout: 255,
        transfer_size: ST_ROM_TRANSFER as u16,
        dfu_version: (0x01, 0x1a),
    }
}

/// DFU states (DFU 1.1 §6.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// dfuIDLE.
    Idle = 2,
    /// dfuDNLOAD-SYNC.
    DnloadSync = 3,
    /// dfuDNBUSY.
    DnBusy = 4,
    /// dfuDNLOAD-IDLE.
    DnloadIdle = 5,
    /// dfuMANIFEST-SYNC.
    ManifestSync = 6,
    /// dfuMANIFEST.
    Manifest = 7,
    /// dfuUPLOAD-IDLE.
    UploadIdle = 9,
    /// dfuERROR.
    Error = 10,
}

/// DFU class requests (DFU 1.1 §3).
pub mod request {
    /// DFU_DETACH.
    pub const DETACH: u8 = 0;
    /// DFU_DNLOAD.
    pub const DNLOAD: u8 = 1;
    /// DFU_UPLOAD.
    pub const UPLOAD: u8 = 2;
    /// DFU_GETSTATUS.
    pub const GETSTATUS: u8 = 3;
    /// DFU_CLRSTATUS.
    pub const CLRSTATUS: u8 = 4;
    /// DFU_GETSTATE.
    pub const GETSTATE: u8 = 5;
    /// DFU_ABORT.
    pub const ABORT: u8 = 6;
}
