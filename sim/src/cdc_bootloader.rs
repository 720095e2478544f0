//! The legacy CDC bootloader of OpenMV firmware ≤ 4.5.x, device side, over a byte stream:
//! u32 little-endian commands (PROTOCOL.md §3) — START (answers its version), FLASH_LAYOUT
//! (answers first sector, firmware's first sector, last sector), FLASH_ERASE + sector,
//! FLASH_WRITE + data, RESET (flush, boot). On USB each command is one packet and a write
//! carries the rest of its packet; over a stream visreg's hosts always send full
//! 508-byte write payloads (the last padded with 0xFF, as the bootloader pads anyway), so
//! the virtual bootloader reads FLASH_WRITE data in 508-byte pieces.

use visreg_firmware::cdc_bootloader::*;
use visreg_firmware::image::partitions;

use crate::bootloader::VirtualBootloader;

/// What the serving loop should do after bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CdcControl {
    /// Keep serving.
    Continue,
    /// RESET received: boot what the flash holds.
    Boot,
}

/// Device-side state of the legacy CDC bootloader.
pub struct CdcBootloader {
    buf: Vec<u8>,
    /// Firmware bytes written since the last erase, at the firmware start.
    written: Vec<u8>,
    started: bool,
}

impl Default for CdcBootloader {
    fn default() -> Self {
        Self::new()
    }
}

impl CdcBootloader {
    /// A bootloader waiting for START.
    pub fn new() -> Self {
        CdcBootloader {
            buf: Vec::new(),
            written: Vec::new(),
            started: false,
        }
    }

    /// Feeds bytes; appends replies to `out`; writes into `flash`'s FIRMWARE partition.
    pub fn on_bytes(
        &mut self,
        flash: &mut VirtualBootloader,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> CdcControl {
        self.buf.extend_from_slice(data);
        loop {
            if self.buf.len() < 4 {
                return CdcControl::Continue;
            }
            let cmd = u32::from_le_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
            match cmd {
                START => {
                    self.buf.drain(..4);
                    self.started = true;
                    out.extend_from_slice(&BOOTLOADER_VERSION.to_le_bytes());
                }
                FLASH_LAYOUT => {
                    self.buf.drain(..4);
                    for v in LAYOUT {
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                }
                FLASH_ERASE => {
                    if self.buf.len() < 8 {
                        return CdcControl::Continue;
                    }
                    let sector =
                        u32::from_le_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]);
                    self.buf.drain(..8);
                    if sector == LAYOUT[1] {
                        self.written.clear();
                        flash.preload("FIRMWARE", &[]);
                    }
                }
                FLASH_WRITE => {
                    if self.buf.len() < 4 + WRITE_CHUNK {
                        return CdcControl::Continue;
                    }
                    let chunk = self.buf[4..4 + WRITE_CHUNK].to_vec();
                    self.buf.drain(..4 + WRITE_CHUNK);
                    if self.started {
                        let room = partitions(flash.board())
                            .iter()
                            .find(|p| p.name == "FIRMWARE")
                            .map(|p| p.size as usize)
                            .unwrap_or(0);
                        let n = chunk.len().min(room.saturating_sub(self.written.len()));
                        self.written.extend_from_slice(&chunk[..n]);
                        flash.preload("FIRMWARE", &self.written);
                    }
                }
                RESET => {
                    self.buf.drain(..4);
                    return CdcControl::Boot;
                }
                _ => {
                    // Not a command: resynchronise byte by byte, as a stray byte would.
                    self.buf.drain(..1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootloader::DfuTiming;
    use visreg_firmware::board::Board;
    use visreg_firmware::image::sim::{installed_build, sim_image};

    #[test]
    fn a_legacy_update_writes_the_firmware_partition() {
        let build = visreg_firmware::catalog::Catalog::builtin()
            .build("4.5.9")
            .unwrap()
            .clone();
        let image = sim_image(&build, 3000);
        let mut flash = VirtualBootloader::new(Board::H7Plus, DfuTiming::instant());
        let mut b = CdcBootloader::new();
        let mut out = Vec::new();
        let mut host = START.to_le_bytes().to_vec();
        host.extend_from_slice(&FLASH_LAYOUT.to_le_bytes());
        for s in LAYOUT[1]..=LAYOUT[2] {
            host.extend_from_slice(&FLASH_ERASE.to_le_bytes());
            host.extend_from_slice(&s.to_le_bytes());
        }
        for c in image.chunks(WRITE_CHUNK) {
            host.extend_from_slice(&FLASH_WRITE.to_le_bytes());
            let mut c = c.to_vec();
            c.resize(WRITE_CHUNK, 0xFF);
            host.extend_from_slice(&c);
        }
        host.extend_from_slice(&RESET.to_le_bytes());
        let mut control = CdcControl::Continue;
        for piece in host.chunks(97) {
            control = b.on_bytes(&mut flash, piece, &mut out);
        }
        assert_eq!(control, CdcControl::Boot);
        assert_eq!(&out[..4], &BOOTLOADER_VERSION.to_le_bytes());
        assert_eq!(out.len(), 16);
        assert_eq!(
            installed_build(flash.partition("FIRMWARE").unwrap()),
            Some("4.5.9".into())
        );
    }
}
