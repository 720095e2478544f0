//! USB serial numbers as OpenMV cameras derive them from the MCU's 96-bit unique id, in
//! each state, so the host can follow one camera from its firmware into its bootloader
//! and back — and the virtual camera presents the same strings. The unique id is three
//! little-endian words `uid[k]` = the u32 at `UID_ADDR + 4k` (STM32H7 0x1FF1E800, STM32F7
//! 0x1FF0F420).
//!
//! - Running firmware on the STM32 boards (MicroPython's ST USB stack, 4.x and 5.x):
//!   `ports/stm32/usbd_desc.c` (openmv/micropython at the commits v4.5.9 and v4.6.0 pin,
//!   7063c24b and 827c2b85): `"%02X%02X%02X%02X%02X%02X"` of the id bytes 11, 10 + 2, 9,
//!   8 + 0, 7, 6 — ST's system-bootloader algorithm. The two sums are `int`s, not bytes:
//!   a sum over 0xFF prints three digits, so the serial can have 13 or 14 characters.
//! - The OpenMV DFU bootloader (≥ 4.6): `boot/src/ports/stm32/stm32_port.c`
//!   (`port_get_uid`, words 2, 1, 0 each byte-reversed) and `boot/src/common/desc.c`
//!   (upper-case hex) at v4.8.1 and v5.0.0: `%08X%08X%08X` of `uid[2], uid[1], uid[0]` —
//!   the same 24 digits as the unique id in protocol v1's ARCH_STR.
//! - The legacy CDC bootloader (≤ 4.5.x): a fixed `000000000011` at full speed
//!   (`src/omv/ports/stm32/boot/src/usbd_desc.c` at v4.5.9) — it does not tell cameras
//!   apart; follow it by its USB port.
//!
//! (`PROTOCOL.md` once said the DFU serial is the runtime serial byte-reversed: the source
//! says otherwise.)

/// The legacy CDC bootloader's serial at full speed.
pub const LEGACY_BOOTLOADER_SERIAL_FS: &str = "000000000011";
/// The legacy CDC bootloader's serial at high speed.
pub const LEGACY_BOOTLOADER_SERIAL_HS: &str = "000000000010";

fn id_bytes(uid: [u32; 3]) -> [u8; 12] {
    let mut b = [0u8; 12];
    for (k, w) in uid.iter().enumerate() {
        b[4 * k..4 * k + 4].copy_from_slice(&w.to_le_bytes());
    }
    b
}

/// The serial number running firmware reports on an STM32 board.
pub fn stm32_runtime(uid: [u32; 3]) -> String {
    let id = id_bytes(uid);
    format!(
        "{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
        id[11],
        u32::from(id[10]) + u32::from(id[2]),
        id[9],
        u32::from(id[8]) + u32::from(id[0]),
        id[7],
        id[6]
    )
}

/// The serial number the OpenMV DFU bootloader reports.
pub fn dfu_bootloader(uid: [u32; 3]) -> String {
    format!("{:08X}{:08X}{:08X}", uid[2], uid[1], uid[0])
}

/// The unique id as protocol v1's ARCH_STR prints it (`[BOARD:%08X%08X%08X]`), words 2,
/// 1, 0 — the same digits as [`dfu_bootloader`].
pub fn arch_uid(uid: [u32; 3]) -> String {
    dfu_bootloader(uid)
}

/// Reads the unique id back from 24 hex digits in [`dfu_bootloader`]'s order.
pub fn uid_from_hex(hex: &str) -> Option<[u32; 3]> {
    if hex.len() != 24 || !hex.is_ascii() {
        return None;
    }
    let w = |i: usize| u32::from_str_radix(&hex[8 * i..8 * i + 8], 16).ok();
    Some([w(2)?, w(1)?, w(0)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_follow_the_firmware_sources() {
        // Bytes in memory order 00..0B: uid words are little-endian.
        let uid = [0x0302_0100, 0x0706_0504, 0x0B0A_0908];
        // id[11]=0B, id[10]+id[2]=0A+02=0C, id[9]=09, id[8]+id[0]=08+00=08, id[7]=07, id[6]=06
        assert_eq!(stm32_runtime(uid), "0B0C09080706");
        assert_eq!(dfu_bootloader(uid), "0B0A09080706050403020100");
        assert_eq!(uid_from_hex(&dfu_bootloader(uid)), Some(uid));
        assert_eq!(uid_from_hex("xyz"), None);
        // A sum over 0xFF prints three digits, as the C `%02X` of an int does.
        let big = [0x0000_00F0, 0, 0xF000_0020];
        assert_eq!(stm32_runtime(big), "F000001100000");
        let wide = [0x00F0_00F0, 0, 0x00F0_0020];
        assert_eq!(stm32_runtime(wide), "001E0001100000");
    }
}
