//! Frames streamed from the virtual camera over a pseudo-terminal, against the raw
//! throughput of the same pseudo-terminal measured in the same run: how much of the link
//! the protocol (CRCs, fragments, ACKs, lock/size/read/unlock per frame) leaves for frames.
//!
//! `cargo bench -p visreg --bench link` prints frames/s and MB/s for raw QVGA gray frames
//! and for JPEG frames, and the raw pty MB/s.

#[cfg(unix)]
mod bench {
    use std::io::Read;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use criterion::{Criterion, Throughput};
    use visreg::client::v2::{V2Client, V2Options};
    use visreg::link::{SerialTransport, DEBUG_BAUD};
    use visreg_datasets::preset;
    use visreg_firmware::catalog::Catalog;
    use visreg_firmware::transport::{PtyDevice, Transport};
    use visreg_sim::device::{VirtualCamera, VirtualSensor};
    use visreg_sim::serve::serve;

    pub fn raw_pty(c: &mut Criterion) {
        let mut dev = PtyDevice::open().expect("pty");
        let mut client = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(dev.path())
            .expect("open pty");
        // A reader that drains the host end for good and reports each MiB it received.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = 0usize;
            while let Ok(n) = client.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got += n;
                while got >= 1 << 20 {
                    got -= 1 << 20;
                    if tx.send(()).is_err() {
                        return;
                    }
                }
            }
        });
        let block = vec![0x5Au8; 64 * 1024];
        let mut g = c.benchmark_group("pty");
        g.throughput(Throughput::Bytes(1 << 20));
        g.bench_function("raw_1MiB_device_to_host", |b| {
            b.iter(|| {
                for _ in 0..16 {
                    dev.send(&block, Instant::now() + Duration::from_secs(5))
                        .expect("send");
                }
                rx.recv_timeout(Duration::from_secs(5))
                    .expect("the reader got 1 MiB")
            })
        });
        g.finish();
    }

    pub fn frames(c: &mut Criterion) {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = preset::find("qvga-basic").expect("preset");
        let ds =
            visreg_datasets::generate::generate(p, 1, Some(4), &dir.path().join("ds"), &|_| {})
                .expect("dataset");
        let build = Catalog::builtin().build("5.0.0").expect("build").clone();
        let mut cam = VirtualCamera::new(build, Some(VirtualSensor::new(ds)), 1).expect("camera");
        let mut pty = PtyDevice::open().expect("pty");
        let path = pty.path().display().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let server = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                serve(
                    &mut pty,
                    &mut cam,
                    visreg_firmware::catalog::Protocol::V2,
                    &Default::default(),
                    &stop,
                )
            })
        };
        let t = SerialTransport::open(&path, DEBUG_BAUD).expect("open");
        let mut client = V2Client::connect(t, V2Options::default()).expect("connect");
        let live = include_str!("../../firmware/scripts/live.py")
            .replace("\"frames\": 100", "\"frames\": 1000000");
        client.exec(&live).expect("exec");
        let mut g = c.benchmark_group("pty_frames");
        for (name, raw) in [("qvga_gray_raw", Some((320, 240))), ("qvga_jpeg", None)] {
            client.streaming(true, raw).expect("streaming");
            let bytes = loop {
                if let Some(f) = client.read_frame().expect("frame") {
                    break f.data.len();
                }
            };
            g.throughput(Throughput::Bytes(bytes as u64));
            g.bench_function(name, |b| {
                // LOCK → SIZE → READ (fragmented) → UNLOCK of the current frame, as the
                // IDE's frame viewer does.
                b.iter(|| client.read_frame().expect("frame").map(|f| f.data.len()))
            });
        }
        g.finish();
        stop.store(true, Ordering::Relaxed);
        let _ = server.join();
    }
}

#[cfg(unix)]
fn main() {
    let mut c = criterion::Criterion::default().configure_from_args();
    bench::raw_pty(&mut c);
    bench::frames(&mut c);
    c.final_summary();
}

#[cfg(not(unix))]
fn main() {}
