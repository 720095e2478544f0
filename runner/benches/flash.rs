//! Flashing a 2 MiB image through the virtual DFU bootloader with realistic timing (USB
//! full speed ~1 MB/s of control transfers, 3 ms to program each 4 KiB block): total time
//! and the share spent waiting (poll timeouts) versus transferring, averaged over runs.
//! `cargo bench -p visreg --bench flash` prints the figures.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use visreg::flash::flash_dfu;
use visreg_firmware::board::Board;
use visreg_firmware::image::plan_raw;
use visreg_sim::bootloader::{DfuTiming, VirtualBootloader, VirtualDfuIo};

fn main() {
    // Benches are run with `--bench`; a plain `cargo test` run passes no such flag.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let image: Vec<u8> = (0..2 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let writes = plan_raw(&image, Board::H7Plus, "SPI_FLASH").expect("plan");
    let runs = 3;
    let (mut total, mut transfer, mut waiting) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for _ in 0..runs {
        let dev = Arc::new(Mutex::new(VirtualBootloader::new(
            Board::H7Plus,
            DfuTiming::realistic(),
        )));
        let deadline = Instant::now() + Duration::from_secs(60);
        let t0 = Instant::now();
        flash_dfu(
            Board::H7Plus,
            &writes,
            |alt| VirtualDfuIo::new(dev.clone(), alt, deadline),
            Arc::new(|_| {}),
        )
        .expect("flash");
        total += t0.elapsed();
        let s = dev.lock().expect("lock").stats;
        assert_eq!(s.bytes, image.len() as u64);
        transfer += s.transfer;
        waiting += s.waiting;
    }
    let n = runs as f64;
    let (t, x, w) = (
        total.as_secs_f64() / n,
        transfer.as_secs_f64() / n,
        waiting.as_secs_f64() / n,
    );
    let other = (t - x - w).max(0.0);
    println!("flash 2 MiB through the virtual OpenMV DFU bootloader (USB FS ~1 MB/s, 3 ms per 4 KiB block), mean of {runs}:");
    println!("  total        {:>7.3} s   ({:.2} MiB/s)", t, 2.0 / t);
    println!("  transferring {:>7.3} s   {:>5.1} %", x, 100.0 * x / t);
    println!("  waiting      {:>7.3} s   {:>5.1} %   (GETSTATUS poll timeouts: programming, manifestation)", w, 100.0 * w / t);
    println!(
        "  host + state machine {:>5.3} s   {:>5.1} %",
        other,
        100.0 * other / t
    );
}
