//! Replay throughput over a modelled USB link: frames/s of the replay workload against
//! the virtual camera with `--link real` (bytes at the board's USB bulk ceiling, the
//! detector busy for its modelled time, the protocol serviced every 20 ms while it is),
//! set against the bound min(link, on-device detection) — the frames/s a link and a
//! detector that overlapped perfectly would reach.
//!
//! `cargo bench -p visreg --bench replay_link` prints one row per board and preset. Not
//! a timed test: the figures are for reading, nothing asserts on them.

#[cfg(unix)]
mod bench {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use visreg::check::replay;
    use visreg::link::{SerialTransport, DEBUG_BAUD};
    use visreg_datasets::preset;
    use visreg_firmware::board::Board;
    use visreg_firmware::catalog::{Catalog, Protocol};
    use visreg_firmware::transport::PtyDevice;
    use visreg_firmware::workload::pack_frame;
    use visreg_sim::device::VirtualCamera;
    use visreg_sim::link::{LinkModel, PacedTransport};
    use visreg_sim::serve::serve;

    /// One row: measured and bounded frames/s.
    pub fn row(board: Board, preset_name: &str, frames: usize) {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = preset::find(preset_name).expect("preset");
        let ds = visreg_datasets::generate::generate(
            p,
            1,
            Some(frames),
            &dir.path().join("ds"),
            &|_| {},
        )
        .expect("dataset");
        let mut build = Catalog::builtin().build("5.0.0").expect("build").clone();
        build.board = board;
        let mut cam = VirtualCamera::new(build, None, 1).expect("camera");
        cam.set_realtime(true);
        let link = LinkModel::for_board(board);
        let mut pty = PtyDevice::open().expect("pty");
        let path = pty.path().display().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let server = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut paced = PacedTransport::new(&mut pty, link);
                serve(
                    &mut paced,
                    &mut cam,
                    Protocol::V2,
                    &Default::default(),
                    &stop,
                )
            })
        };
        let t = SerialTransport::open(&path, DEBUG_BAUD).expect("open");
        let indices: Vec<usize> = (0..ds.frames.len()).collect();
        let never = AtomicBool::new(false);
        let (mut first, mut last, mut t_us, mut errors) = (None, None, Vec::new(), 0);
        replay(
            t,
            Some(board),
            &ds,
            &indices,
            Duration::from_secs(600),
            &never,
            &mut |cf| {
                let now = Instant::now();
                first.get_or_insert(now);
                last = Some(now);
                match cf.result.t_us {
                    Some(us) => t_us.push(us as f64),
                    None => errors += 1,
                }
                Ok(())
            },
        )
        .expect("replay");
        stop.store(true, Ordering::Relaxed);
        let _ = server.join();
        let (first, last) = (first.expect("a frame"), last.expect("a frame"));
        // Frames after the first, over the time between the first result and the last.
        let measured = (frames - 1) as f64 / (last - first).as_secs_f64();
        let f = ds.load_frame(0).expect("frame");
        let frame_bytes = pack_frame(0, f.width, f.height, &f.pixels).len();
        let link_fps = 1.0 / link.transfer_time(frame_bytes).as_secs_f64();
        let det_ms = t_us.iter().sum::<f64>() / t_us.len().max(1) as f64 / 1e3;
        let det_fps = 1e3 / det_ms;
        let bound = link_fps.min(det_fps);
        let serial = 1.0 / (1.0 / link_fps + 1.0 / det_fps);
        println!(
            "| {} ({:?} speed, {:.3} MB/s) | {preset_name} {}×{} ({frame_bytes} B) | {link_fps:.1} | {det_ms:.1} ms → {det_fps:.1} | {bound:.1} | {serial:.1} | **{measured:.1}** | {:.0} % |{}",
            board.name(),
            link.speed,
            link.bytes_per_s() / 1e6,
            f.width,
            f.height,
            100.0 * measured / bound,
            if errors > 0 { format!(" ({errors} frames refused)") } else { String::new() },
        );
    }
}

#[cfg(unix)]
fn main() {
    use visreg_firmware::board::Board;
    // `cargo bench` passes `--bench`; nothing else is read.
    println!("| board (link) | frames | link-bound fps | on-device detection | bound min(link, detection) | link + detection in series | measured fps | of the bound |");
    println!("|---|---|---|---|---|---|---|---|");
    bench::row(Board::H7Plus, "qvga-basic", 40);
    bench::row(Board::H7Plus, "qqvga", 60);
    bench::row(Board::H7, "qqvga", 60);
}

#[cfg(not(unix))]
fn main() {}
