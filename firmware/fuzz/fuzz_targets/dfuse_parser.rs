//! The DfuSe parser and the image planners on arbitrary bytes: never panic; a file that
//! parses writes back to bytes that parse to the same file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use visreg_firmware::board::Board;
use visreg_firmware::image::dfuse::DfuseFile;
use visreg_firmware::image::{plan_dfuse, plan_raw};

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = DfuseFile::parse(data) {
        assert_eq!(DfuseFile::parse(&f.write()).as_ref(), Ok(&f));
    }
    let _ = plan_dfuse(data, Board::H7Plus);
    let _ = plan_raw(data, Board::H7, "FIRMWARE");
});
