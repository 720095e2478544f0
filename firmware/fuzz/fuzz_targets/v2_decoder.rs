//! The v2 decoder on arbitrary bytes, pushed in arbitrary pieces: never panics, memory
//! stays bounded by one maximal packet, and every packet it returns re-encodes to bytes
//! that decode to the same packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use visreg_firmware::protocol::v2::{Decoded, Decoder, MAX_PAYLOAD};

fuzz_target!(|data: &[u8]| {
    let (crc, cut) = match data.first() {
        Some(b) => (b & 1 == 1, usize::from(b >> 1).max(1)),
        None => return,
    };
    let mut d = Decoder::new(crc, MAX_PAYLOAD);
    for chunk in data[1..].chunks(cut) {
        d.push(chunk);
        while let Some(item) = d.next() {
            if let Decoded::Packet(p) = item {
                let mut again = Decoder::new(crc, MAX_PAYLOAD);
                again.push(&p.encode(crc));
                assert_eq!(again.next(), Some(Decoded::Packet(p)));
            }
        }
        assert!(d.pending() <= MAX_PAYLOAD + 14 + cut);
    }
});
