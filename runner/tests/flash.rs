//! Flashing the virtual camera through its DFU bootloader with the real flasher
//! (`dfu-core`'s state machine), then reading the version back over the wire.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use visreg::client::v1::V1Client;
use visreg::client::v2::{V2Client, V2Options};
use visreg::flash::{flash_dfu, FlashError, FlashProgress};
use visreg_firmware::board::Board;
use visreg_firmware::catalog::{Build, Catalog, Protocol};
use visreg_firmware::image::dfuse::{DfuseFile, Element, Suffix, Target};
use visreg_firmware::image::sim::sim_image;
use visreg_firmware::image::{plan_dfuse, plan_raw};
use visreg_firmware::transport::memory_pair;
use visreg_sim::bootloader::{DfuTiming, Mode, VirtualBootloader, VirtualDfuIo};
use visreg_sim::device::VirtualCamera;
use visreg_sim::serve::serve;

fn flash(
    dev: &Arc<Mutex<VirtualBootloader>>,
    board: Board,
    writes: &[visreg_firmware::image::Write],
) -> Result<Vec<FlashProgress>, FlashError> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    flash_dfu(
        board,
        writes,
        |alt| VirtualDfuIo::new(dev.clone(), alt, deadline),
        Arc::new(move |p| s.lock().unwrap().push(p)),
    )?;
    let out = seen.lock().unwrap().clone();
    Ok(out)
}

/// Boots the installed build and reads its version over its own protocol.
fn version_over_the_wire(build: &Build) -> [u32; 3] {
    let (host, mut dev) = memory_pair("flashed");
    let mut cam = VirtualCamera::new(build.clone(), None, 1).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = stop.clone();
    let protocol = build.protocol;
    let h =
        std::thread::spawn(move || serve(&mut dev, &mut cam, protocol, &Default::default(), &s));
    let v = match protocol {
        Protocol::V2 => {
            let c = V2Client::connect(host, V2Options::default()).unwrap();
            c.version.firmware.map(u32::from)
        }
        Protocol::V1 => {
            V1Client::connect(host, Duration::from_secs(1))
                .unwrap()
                .version
        }
    };
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = h.join();
    v
}

#[test]
fn every_simulated_build_flashes_and_reads_back_its_version() {
    let catalog = Catalog::builtin();
    for build in &catalog.builds {
        if !build.board.has_openmv_dfu_bootloader() {
            // The RT1062's builds go through NXP's ROM bootloader: refused up front.
            assert!(build.check_flasher().is_err(), "{}", build.name);
            continue;
        }
        // Each board's own bootloader, with its own partition map.
        let dev = Arc::new(Mutex::new(VirtualBootloader::new(
            build.board,
            DfuTiming::instant(),
        )));
        let image = sim_image(build, 64 * 1024 + 123);
        let writes = plan_raw(&image, build.board, "FIRMWARE").unwrap();
        dev.lock().unwrap().enter_bootloader();
        let progress = flash(&dev, build.board, &writes).unwrap();
        assert_eq!(
            progress.last().unwrap().done,
            image.len() as u64,
            "{}",
            build.name
        );
        assert!(progress.windows(2).all(|w| w[0].done < w[1].done));
        let booted = dev.lock().unwrap().mode().clone();
        assert_eq!(
            booted,
            Mode::Firmware(build.name.clone()),
            "after the reset the camera boots what was flashed"
        );
        let want = build.version_triple().unwrap().map(u32::from);
        assert_eq!(
            version_over_the_wire(catalog.build(&build.name).unwrap()),
            want,
            "{}",
            build.name
        );
    }
}

#[test]
fn bad_images_are_refused_before_anything_is_written() {
    let catalog = Catalog::builtin();
    let build = catalog.build("5.0.0").unwrap();
    let image = sim_image(build, 1000);
    // A .dfu with a corrupted CRC.
    let mut dfu = DfuseFile {
        targets: vec![Target {
            alt: 2,
            name: None,
            elements: vec![Element {
                address: 0x0804_0000,
                data: image.clone(),
            }],
        }],
        suffix: Suffix {
            bcd_device: 0xFFFF,
            product: 0x924A,
            vendor: 0x37C5,
            bcd_dfu: 0x011A,
        },
    }
    .write();
    assert!(plan_dfuse(&dfu, Board::H7Plus).is_ok());
    let n = dfu.len();
    dfu[n / 2] ^= 0x10;
    let e = plan_dfuse(&dfu, Board::H7Plus).unwrap_err().to_string();
    assert!(e.contains("CRC mismatch"), "{e}");
    // A build for another board.
    let mut other = dfu.clone();
    other[n / 2] ^= 0x10;
    let e = plan_dfuse(&other, Board::H7).unwrap_err().to_string();
    assert!(e.contains("another board"), "{e}");
    // An oversize image.
    let big = sim_image(build, 2 * 1024 * 1024);
    let e = plan_raw(&big, Board::H7Plus, "FIRMWARE")
        .unwrap_err()
        .to_string();
    assert!(e.contains("too large"), "{e}");
    // Nothing was flashed: a fresh camera still has an empty FIRMWARE partition.
    let dev = VirtualBootloader::new(Board::H7Plus, DfuTiming::instant());
    assert!(dev.partition("FIRMWARE").unwrap().is_empty());
}

#[test]
fn power_loss_mid_flash_leaves_only_the_bootloader_and_a_reflash_repairs_it() {
    let catalog = Catalog::builtin();
    let good = catalog.build("5.0.0").unwrap();
    let dev = Arc::new(Mutex::new(VirtualBootloader::new(
        Board::H7Plus,
        DfuTiming::instant(),
    )));
    dev.lock()
        .unwrap()
        .preload("FIRMWARE", &sim_image(good, 50_000));
    dev.lock().unwrap().reset();
    assert_eq!(dev.lock().unwrap().mode(), &Mode::Firmware("5.0.0".into()));
    // Update to 5.0.1; the power fails after 5 blocks.
    let next = catalog.build("5.0.1").unwrap();
    let writes = plan_raw(&sim_image(next, 100_000), Board::H7Plus, "FIRMWARE").unwrap();
    dev.lock().unwrap().enter_bootloader();
    dev.lock().unwrap().power_loss_after(5);
    let e = flash(&dev, Board::H7Plus, &writes).unwrap_err().to_string();
    assert!(
        e.contains("writing partition FIRMWARE") && e.contains("power lost"),
        "{e}"
    );
    assert_eq!(dev.lock().unwrap().mode(), &Mode::Off);
    // Power returns: half an image is no firmware, so the camera stays in its bootloader.
    dev.lock().unwrap().reset();
    assert_eq!(dev.lock().unwrap().mode(), &Mode::Bootloader);
    // Flashing again repairs it.
    flash(&dev, Board::H7Plus, &writes).unwrap();
    assert_eq!(dev.lock().unwrap().mode(), &Mode::Firmware("5.0.1".into()));
}

#[test]
fn a_flash_past_its_deadline_stops_with_a_clear_error() {
    let catalog = Catalog::builtin();
    let build = catalog.build("5.0.0").unwrap();
    let slow = DfuTiming {
        usb_bytes_per_s: Some(200_000.0),
        program_block_ms: 20,
        manifest_ms: 0,
    };
    let dev = Arc::new(Mutex::new(VirtualBootloader::new(Board::H7Plus, slow)));
    let writes = plan_raw(&sim_image(build, 400_000), Board::H7Plus, "FIRMWARE").unwrap();
    let deadline = Instant::now() + Duration::from_millis(300);
    let t0 = Instant::now();
    let e = flash_dfu(
        Board::H7Plus,
        &writes,
        |alt| VirtualDfuIo::new(dev.clone(), alt, deadline),
        Arc::new(|_| {}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("deadline"), "{e}");
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "stopped after {:?}",
        t0.elapsed()
    );
}
