//! Property tests of the wire codecs: encode→decode is the identity, and the decoders
//! find the same packets whatever garbage precedes them and however the stream is cut.

use proptest::prelude::*;
use visreg_firmware::protocol::{v1, v2};

fn packet() -> impl Strategy<Value = v2::Packet> {
    (
        any::<u8>(),
        0u8..32,
        any::<u8>(),
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(seq, channel, flags, opcode, payload)| v2::Packet {
            seq,
            channel,
            flags,
            opcode,
            payload,
        })
}

fn decode_all(d: &mut v2::Decoder) -> Vec<v2::Packet> {
    let mut out = Vec::new();
    while let Some(x) = d.next() {
        if let v2::Decoded::Packet(p) = x {
            out.push(p);
        }
    }
    out
}

proptest! {
    #[test]
    fn v2_round_trip(p in packet(), crc in any::<bool>()) {
        let mut d = v2::Decoder::new(crc, 4082);
        d.push(&p.encode(crc));
        prop_assert_eq!(decode_all(&mut d), vec![p]);
        prop_assert_eq!(d.pending(), 0);
    }

    #[test]
    fn v2_survives_garbage_and_any_chunking(
        packets in proptest::collection::vec(packet(), 1..6),
        garbage in proptest::collection::vec(any::<u8>(), 0..64),
        cuts in proptest::collection::vec(1usize..97, 1..20),
    ) {
        // Garbage without a sync word in it, so it cannot hide a packet.
        let garbage: Vec<u8> = garbage.into_iter().map(|b| if b == 0xAA { 0x55 } else { b }).collect();
        let mut stream = garbage;
        for p in &packets {
            stream.extend_from_slice(&p.encode(true));
        }
        let mut d = v2::Decoder::new(true, 4082);
        let mut got = Vec::new();
        let mut rest = &stream[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = cuts[i % cuts.len()].min(rest.len());
            d.push(&rest[..n]);
            rest = &rest[n..];
            got.extend(decode_all(&mut d));
            i += 1;
        }
        prop_assert_eq!(got, packets);
    }

    #[test]
    fn v2_never_panics_on_noise(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut d = v2::Decoder::new(true, 4082);
        d.push(&bytes);
        let _ = decode_all(&mut d);
        prop_assert!(d.pending() <= 4082 + 14);
    }

    #[test]
    fn v1_write_requests_round_trip(cmd in 0u8..0x80, data in proptest::collection::vec(any::<u8>(), 0..500), cut in 1usize..50) {
        let mut bytes = v1::Header { command: cmd, length: data.len() as u32 }.encode().to_vec();
        bytes.extend_from_slice(&data);
        let mut p = v1::RequestParser::new(1 << 16);
        let mut got = Vec::new();
        for c in bytes.chunks(cut) {
            p.push(c);
            while let Some(r) = p.next() {
                got.push(r);
            }
        }
        prop_assert_eq!(got, vec![v1::Request::Write { command: cmd, data }]);
    }
}
