//! Protocol v2 codec throughput: encoding and decoding maximal (4082-byte) packets with
//! CRCs on, as a frame read streams them. The target is ≥ 1 GB/s each way.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use visreg_firmware::protocol::v2::{fragment, op, Decoded, Decoder, MAX_PAYLOAD};

fn codec(c: &mut Criterion) {
    // A QVGA gray frame's worth of payload, fragmented as the device sends it.
    let payload: Vec<u8> = (0..320 * 240).map(|i| (i * 31 % 251) as u8).collect();
    let packets = fragment(0, 3, op::CHANNEL_READ, 0, &payload, MAX_PAYLOAD);
    let mut wire = Vec::new();
    for p in &packets {
        p.encode_into(true, &mut wire);
    }
    let mut g = c.benchmark_group("protocol_v2");
    g.throughput(Throughput::Bytes(payload.len() as u64));
    g.bench_function("encode_frame", |b| {
        let mut out = Vec::with_capacity(wire.len());
        b.iter(|| {
            out.clear();
            for p in &packets {
                p.encode_into(true, &mut out);
            }
            out.len()
        })
    });
    g.bench_function("decode_frame", |b| {
        b.iter(|| {
            let mut d = Decoder::new(true, MAX_PAYLOAD);
            let mut n = 0;
            for chunk in wire.chunks(64 * 1024) {
                d.push(chunk);
                while let Some(x) = d.next() {
                    if let Decoded::Packet(p) = x {
                        n += p.payload.len();
                    }
                }
            }
            assert_eq!(n, payload.len());
            n
        })
    });
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
