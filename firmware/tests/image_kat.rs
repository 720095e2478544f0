//! Known-answer tests against files made by dfu-util's own tools (see tests/data/README.md).

use visreg_firmware::board::Board;
use visreg_firmware::image::dfuse::{DfuseFile, Suffix};
use visreg_firmware::image::{plan_dfuse, plan_raw};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn dfuse_pack_output_parses_exactly() {
    let raw = data("fw.bin");
    let bytes = data("fw.dfu");
    let f = DfuseFile::parse(&bytes).unwrap();
    assert_eq!(
        f.suffix,
        Suffix {
            bcd_device: 0,
            product: 0x924A,
            vendor: 0x37C5,
            bcd_dfu: 0x011A
        }
    );
    assert_eq!(
        u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap()),
        0x5860_CF84
    );
    assert_eq!(f.targets.len(), 2);
    assert_eq!(
        (f.targets[0].alt, f.targets[0].elements[0].address),
        (0, 0x0804_0000)
    );
    assert_eq!(
        (f.targets[1].alt, f.targets[1].elements[0].address),
        (3, 0x9000_0000)
    );
    assert_eq!(f.targets[1].elements[0].data, raw);
    // Writing it back gives dfuse-pack's bytes.
    assert_eq!(f.write(), bytes);
}

#[test]
fn dfu_suffix_output_is_checked_and_stripped() {
    let raw = data("fw.bin");
    let bytes = data("fw_suffix.bin");
    let (s, body) = Suffix::parse(&bytes).unwrap();
    assert_eq!(
        (s.vendor, s.product, s.bcd_device, s.bcd_dfu),
        (0x37C5, 0x924A, 0xFFFF, 0x0100)
    );
    assert_eq!(body, &raw[..]);
    let w = plan_raw(&bytes, Board::H7Plus, "FIRMWARE").unwrap();
    assert_eq!(w[0].data, raw);
    // The same file is refused for another board, before anything is written.
    let e = plan_raw(&bytes, Board::H7, "FIRMWARE")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("37C5:924A") && e.contains("another board"),
        "{e}"
    );
    // A flipped bit fails the CRC.
    let mut bad = bytes.clone();
    bad[100] ^= 0x40;
    let e = plan_raw(&bad, Board::H7Plus, "FIRMWARE")
        .unwrap_err()
        .to_string();
    assert!(e.contains("CRC mismatch"), "{e}");
}

#[test]
fn dfu_prefix_output_is_refused_with_the_reason() {
    let e = plan_raw(&data("fw_prefix.bin"), Board::H7Plus, "FIRMWARE")
        .unwrap_err()
        .to_string();
    assert!(e.contains("LMDFU") && e.contains("dfu-prefix -D"), "{e}");
}

#[test]
fn a_dfu_for_the_board_plans_both_targets_and_others_are_refused() {
    let bytes = data("fw_alt.dfu");
    let w = plan_dfuse(&bytes, Board::H7Plus).unwrap();
    let got: Vec<(u8, &str, u32)> = w.iter().map(|w| (w.alt, w.partition, w.address)).collect();
    assert_eq!(
        got,
        vec![(2, "FIRMWARE", 0x0804_0000), (3, "SPI_FLASH", 0x9000_0000)]
    );
    let e = plan_dfuse(&bytes, Board::H7).unwrap_err().to_string();
    assert!(e.contains("another board"), "{e}");
    let mut bad = bytes.clone();
    bad[500] ^= 1;
    assert!(plan_dfuse(&bad, Board::H7Plus)
        .unwrap_err()
        .to_string()
        .contains("CRC mismatch"));
    // dfuse-pack's default alternate setting 0 is the bootloader's own, read-only partition.
    let e = plan_dfuse(&data("fw.dfu"), Board::H7Plus)
        .unwrap_err()
        .to_string();
    assert!(e.contains("read-only"), "{e}");
}
