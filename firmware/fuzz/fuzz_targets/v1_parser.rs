//! The v1 (usbdbg) device-side request parser on arbitrary bytes: never panics and never
//! buffers more than one bounded write.
#![no_main]

use libfuzzer_sys::fuzz_target;
use visreg_firmware::protocol::v1::RequestParser;

fuzz_target!(|data: &[u8]| {
    let mut p = RequestParser::new(4096);
    for chunk in data.chunks(7) {
        p.push(chunk);
        while p.next().is_some() {}
        assert!(p.pending() <= 4096 + 6 + 7);
    }
});
