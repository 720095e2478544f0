//! The camera link end to end against the virtual camera: the real client and the real
//! device code, over an in-memory transport or a pseudo-terminal.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use visreg::client::v1::V1Client;
use visreg::client::v2::{V2Client, V2Options};
use visreg::client::{probe, ErrorKind, Probed};
use visreg::workload::{convert, fill_script, pack_frame, parse_result, Config};
use visreg_apriltag::{DetectorSettings, GrayImage};
use visreg_bench::detector::PoseParams;
use visreg_bench::{score_frame, HostDetector, MatchConfig};
use visreg_datasets::{preset, Dataset};
use visreg_firmware::board::Board;
use visreg_firmware::catalog::{Build, Catalog};
use visreg_firmware::transport::{memory_pair, MemoryTransport};
use visreg_sim::device::{VirtualCamera, VirtualSensor};
use visreg_sim::faults::FaultSpec;
use visreg_sim::serve::{serve, ServeEnd};

const REPLAY: &str = include_str!("../../firmware/scripts/replay.py");
const REPLAY_V1: &str = include_str!("../../firmware/scripts/replay_v1.py");

struct Sim {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<ServeEnd>>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn dataset(frames: usize) -> (tempfile::TempDir, Dataset) {
    let dir = tempfile::tempdir().unwrap();
    let p = preset::find("qvga-basic").unwrap();
    let ds =
        visreg_datasets::generate::generate(p, 5, Some(frames), &dir.path().join("ds"), &|_| {})
            .unwrap();
    (dir, ds)
}

fn start(build: &str, ds: Option<Dataset>, faults: &str) -> (MemoryTransport, Sim) {
    start_build(Catalog::builtin().build(build).unwrap().clone(), ds, faults)
}

/// A build of the catalog's 4.5.9 (v1) for another board and version.
fn v1_build(board: Board, version: &str) -> Build {
    let mut b = Catalog::builtin().build("4.5.9").unwrap().clone();
    b.board = board;
    b.version = version.into();
    b.name = format!("{version}-{board:?}");
    b
}

fn start_build(build: Build, ds: Option<Dataset>, faults: &str) -> (MemoryTransport, Sim) {
    let (host, mut dev) = memory_pair("sim");
    let protocol = build.protocol;
    let mut cam = VirtualCamera::new(build, ds.map(VirtualSensor::new), 7).unwrap();
    let faults: FaultSpec = faults.parse().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let handle =
        std::thread::spawn(move || serve(&mut dev, &mut cam, protocol, &faults, &s).unwrap());
    (
        host,
        Sim {
            stop,
            handle: Some(handle),
        },
    )
}

fn wait_stdout(c: &mut V2Client<MemoryTransport>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut out = String::new();
    while Instant::now() < deadline {
        out += &c.read_stdout().unwrap();
        if out.contains(needle) {
            return out;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("'{needle}' never appeared on stdout: {out}");
}

#[test]
fn v2_connect_identity_script_and_stdout() {
    let (host, _sim) = start("5.0.1", None, "");
    let mut c = V2Client::connect(host, V2Options::default()).unwrap();
    assert_eq!(c.version.firmware, [5, 0, 1]);
    assert_eq!(c.sys_info.usb_id, 0x37C5_124A, "H7 Plus firmware VID:PID");
    assert_eq!(c.caps().max_payload, 4082);
    c.exec("print('hi there')\n").unwrap();
    assert!(wait_stdout(&mut c, "hi there").contains("hi there"));
    c.exec("import sensor\nsensor.snapshot()\n").unwrap();
    let tb = wait_stdout(&mut c, "Traceback");
    assert!(tb.contains("File \"<stdin>\", line 2"), "{tb}");
}

/// The must-show: through the virtual camera, converted camera results agree with the
/// host detector on ids, and camera poses match ground truth within scoring's errors.
#[test]
fn replay_through_the_camera_agrees_with_host_and_truth() {
    let (_dir, ds) = dataset(12);
    let (host, _sim) = start("5.0.0", None, "");
    let mut c = V2Client::connect(host, V2Options::default()).unwrap();
    let k = ds.manifest.intrinsics();
    let family = ds.manifest.tags.family;
    c.exec(&fill_script(REPLAY, &Config::new(family, &k), None).unwrap())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.channel("visreg").unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the replay script never registered its channel"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let det = HostDetector::new(DetectorSettings::reference(family)).unwrap();
    let pose = PoseParams {
        intrinsics: k,
        tag_size_m: ds.manifest.tags.size_m,
    };
    let (mut cam_scores, mut host_scores) = (Vec::new(), Vec::new());
    for i in 0..ds.frames.len() {
        let f = ds.load_frame(i).unwrap();
        c.channel_write(
            "visreg",
            &pack_frame(i as u32, f.width, f.height, &f.pixels),
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while c.channel_size("visreg").unwrap() == 0 {
            assert!(Instant::now() < deadline, "no result for frame {i}");
        }
        let line = String::from_utf8(c.channel_read("visreg").unwrap()).unwrap();
        let r = parse_result(&line).unwrap();
        assert_eq!(r.frame, Some(i as u32));
        assert!(r.t_us.unwrap() > 0);
        let cam_tags = convert(&r, ds.manifest.tags.size_m).unwrap();
        let host_tags = det
            .detect(GrayImage::new(f.width, f.height, &f.pixels), Some(pose))
            .unwrap();
        let mut a: Vec<u32> = cam_tags.iter().map(|t| t.id).collect();
        let mut b: Vec<u32> = host_tags.iter().map(|t| t.id).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "frame {i}: camera and host disagree on ids");
        cam_scores.push(score_frame(
            &ds.frames[i],
            &cam_tags,
            None,
            &MatchConfig::default(),
        ));
        host_scores.push(score_frame(
            &ds.frames[i],
            &host_tags,
            None,
            &MatchConfig::default(),
        ));
    }
    let cam = visreg_bench::aggregate(&cam_scores);
    let host = visreg_bench::aggregate(&host_scores);
    assert!(cam.recall.unwrap() >= 0.95, "{cam:?}");
    assert_eq!(cam.false_positives, Some(0));
    // Integer corners: within ±0.5 px per axis, so RMSE under 0.75 px.
    assert!(cam.corner_err_px_median.unwrap() < 0.75, "{cam:?}");
    // The camera's pose is the homography seed, not the refined pose: a few % and degrees.
    assert!(cam.trans_err_pct_median.unwrap() < 5.0, "{cam:?}");
    assert!(cam.rot_err_deg_median.unwrap() < 5.0, "{cam:?}");
    assert!(host.corner_err_px_median.unwrap() < cam.corner_err_px_median.unwrap());
    c.stop().unwrap();
}

#[test]
fn v1_camera_runs_scripts_and_replays_frames() {
    let (_dir, ds) = dataset(2);
    let (mut host, _sim) = start("4.5.9", None, "");
    assert_eq!(
        probe(&mut host, Duration::from_millis(300)).unwrap(),
        Probed::V1([4, 5, 9])
    );
    let mut c = V1Client::connect(host, Duration::from_secs(1)).unwrap();
    assert_eq!(c.version, [4, 5, 9]);
    // usbdbg.c's "%s [%s:…]": OMV_BOARD_ARCH, then OMV_BOARD_TYPE — `H7` on the H7 Plus.
    assert!(
        c.arch.starts_with("OMV4P H7 32768 SDRAM [H7:"),
        "{}",
        c.arch
    );
    assert_eq!(
        visreg_firmware::board::Board::of_arch(&c.arch),
        Some(visreg_firmware::board::Board::H7Plus)
    );
    let k = ds.manifest.intrinsics();
    let f = ds.load_frame(0).unwrap();
    let mut cfg = Config::new(ds.manifest.tags.family, &k);
    cfg.frame_index = Some(0);
    cfg.width = Some(f.width);
    cfg.height = Some(f.height);
    c.exec(&fill_script(REPLAY_V1, &cfg, Some(&f.pixels)).unwrap())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut out = String::new();
    while !out.contains("\"done\"") {
        assert!(Instant::now() < deadline, "no result: {out}");
        out += &c.read_stdout().unwrap();
    }
    let line = out
        .lines()
        .find(|l| l.contains("\"tags\""))
        .unwrap_or_else(|| panic!("no result line in {out}"));
    let r = parse_result(line).unwrap();
    let ids: Vec<u32> = convert(&r, 0.08).unwrap().iter().map(|t| t.id).collect();
    let mut want: Vec<u32> = ds.frames[0].tags.iter().map(|t| t.id).collect();
    let mut got = ids.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    let frame = c.read_frame().unwrap().unwrap();
    assert_eq!(
        frame.to_gray().unwrap(),
        f.pixels,
        "the framebuffer holds the replayed frame"
    );
}

/// usbdbg ignores SCRIPT_EXEC until the soft reset after the last script has cleared its
/// running flag: the client must wait for SCRIPT_RUNNING = 0 (usbdbg.c, v4.5.9 / v4.8.1).
#[test]
fn v1_client_runs_one_script_after_another() {
    let (host, _sim) = start("4.5.9", None, "");
    let mut c = V1Client::connect(host, Duration::from_secs(1)).unwrap();
    for word in ["one", "two", "three"] {
        c.exec(&format!("print('{word}')\n")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut out = String::new();
        while !out.contains(word) {
            assert!(
                Instant::now() < deadline,
                "'{word}' never printed: its SCRIPT_EXEC was ignored ({out:?})"
            );
            out += &c.read_stdout().unwrap();
        }
    }
    c.stop().unwrap();
    assert!(!c.script_running().unwrap());
}

/// An STM32 4.x camera reads one header per USB packet: the v1 client must send a
/// script in a write of its own after its header (usbd_cdc_interface.c at the v4.5.9 pin).
#[test]
fn v1_client_sends_data_apart_from_its_header_for_the_stm32_boards() {
    for board in [Board::M7, Board::H7, Board::H7Plus] {
        let (host, _sim) = start_build(v1_build(board, "4.5.9"), None, "");
        let mut c = V1Client::connect(host, Duration::from_secs(1)).unwrap();
        // Longer than a 64-byte full-speed packet.
        let script: String = (0..8)
            .map(|i| format!("print('{board:?} line {i}')\n"))
            .collect();
        c.exec(&script).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut out = String::new();
        while !out.contains("line 7") {
            assert!(
                Instant::now() < deadline,
                "{board:?}: the script never ran ({out:?})"
            );
            out += &c.read_stdout().unwrap();
        }
        assert_eq!(c.version, [4, 5, 9], "{board:?}: the port is still in step");
    }
}

/// A TinyUSB 4.x camera (RT1060) reads 6-byte chunks with no resync: a probe that sent a
/// v2 SYNC first would leave it out of step (4.8.1) or hang it (4.5.9).
#[test]
fn probe_keeps_a_tinyusb_v1_camera_in_step() {
    for version in ["4.8.1", "4.5.9"] {
        let (mut host, _sim) = start_build(v1_build(Board::RT1062, version), None, "");
        let want: Vec<u32> = version.split('.').map(|p| p.parse().unwrap()).collect();
        assert_eq!(
            probe(&mut host, Duration::from_millis(300)).unwrap(),
            Probed::V1([want[0], want[1], want[2]]),
            "RT1062 {version}"
        );
        // And again, as `probe_patiently` and the next connection do; then a session.
        assert!(matches!(
            probe(&mut host, Duration::from_millis(300)).unwrap(),
            Probed::V1(_)
        ));
        let mut c = V1Client::connect(host, Duration::from_secs(1)).unwrap();
        c.exec("print('in step')\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut out = String::new();
        while !out.contains("in step") {
            assert!(Instant::now() < deadline, "RT1062 {version}: {out:?}");
            out += &c.read_stdout().unwrap();
        }
    }
}

/// On a board with ST's USB stack the probe may put its v2 SYNC first (a 5.x camera then
/// answers at once): a 4.x STM32 camera drops the SYNC's packet whole — its first byte is
/// no header's 0x30 (`usbd_cdc_interface.c`) — and stays in step for the v1 probe and a
/// session after it. The virtual camera frames the in-memory pipe packet by packet.
#[test]
fn a_sync_first_probe_leaves_an_stm32_v1_camera_in_step() {
    use visreg::client::probe_for;
    for board in [Board::H7Plus, Board::H7, Board::M7] {
        let (mut host, _sim) = start_build(v1_build(board, "4.8.1"), None, "");
        assert_eq!(
            probe_for(&mut host, Duration::from_millis(300), Some(board)).unwrap(),
            Probed::V1([4, 8, 1]),
            "{board}"
        );
        let mut c = V1Client::connect(host, Duration::from_secs(1)).unwrap();
        c.exec("print('in step')\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut out = String::new();
        while !out.contains("in step") {
            assert!(Instant::now() < deadline, "{board}: {out:?}");
            out += &c.read_stdout().unwrap();
        }
    }
    let (mut host, _sim) = start("5.0.0", None, "");
    assert_eq!(
        probe_for(&mut host, Duration::from_millis(300), Some(Board::H7Plus)).unwrap(),
        Probed::V2
    );
}

#[test]
fn probe_finds_v2_and_a_silent_port_is_an_error_with_a_next_step() {
    let (mut host, _sim) = start("5.0.0", None, "");
    assert_eq!(
        probe(&mut host, Duration::from_millis(300)).unwrap(),
        Probed::V2
    );
    let (mut silent, _dev) = memory_pair("silent");
    let t0 = Instant::now();
    let e = probe(&mut silent, Duration::from_millis(100)).unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(1));
    assert_eq!(e.kind, ErrorKind::NoAnswer);
    let msg = e.to_string();
    assert!(
        msg.contains("silent (host end): probe the protocol") && msg.contains("visreg doctor"),
        "{msg}"
    );
}

#[test]
fn corrupted_bytes_are_survived_by_resync() {
    let (_dir, ds) = dataset(1);
    let (host, _sim) = start("5.0.0", Some(ds), "corrupt=0.01,seed=3");
    let t0 = Instant::now();
    let opts = V2Options {
        packet_timeout: Duration::from_millis(300),
        ..V2Options::default()
    };
    // With 1 % of bytes corrupted a 4 KB packet rarely survives intact: the client must
    // either recover or fail with a clear error, and never hang.
    match V2Client::connect(host, opts) {
        Ok(mut c) => {
            let mut ok = 0;
            for _ in 0..20 {
                if c.channel_size("stdout").is_ok() {
                    ok += 1;
                }
            }
            assert!(ok > 0, "no call survived");
        }
        Err(e) => assert!(e.to_string().contains("—"), "{e}"),
    }
    assert!(t0.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_stall_times_out_within_the_deadline_and_then_recovers() {
    let (host, _sim) = start("5.0.0", None, "stall=2s@0s");
    let opts = V2Options {
        packet_timeout: Duration::from_millis(500),
        sync_attempts: 2,
        ..V2Options::default()
    };
    let t0 = Instant::now();
    let first = V2Client::connect(host, opts);
    let e = first
        .err()
        .expect("the stalled camera cannot connect at first");
    assert!(
        t0.elapsed() < Duration::from_millis(3000),
        "gave up after {:?}",
        t0.elapsed()
    );
    assert!(
        matches!(e.kind, ErrorKind::NoAnswer | ErrorKind::Timeout),
        "{e}"
    );
    assert!(e.to_string().contains("sim (host end)"), "{e}");
    // A second stall-free session on a fresh camera connects.
    let (host, _sim2) = start("5.0.0", None, "stall=300ms@0s");
    let opts = V2Options {
        packet_timeout: Duration::from_millis(500),
        sync_attempts: 3,
        ..V2Options::default()
    };
    assert!(V2Client::connect(host, opts).is_ok());
}

#[test]
fn a_stall_mid_session_costs_a_retry_and_its_late_reply_is_never_taken_for_the_next() {
    // Connected, then the link stalls for 2 s (longer than a packet's timeout): the call
    // in flight times out, its reply arrives late and must be dropped, and the calls go
    // on answering what was asked.
    let (host, _sim) = start("5.0.0", None, "stall=2s@400ms");
    let mut c = V2Client::connect(host, V2Options::default()).unwrap();
    let want = c.sys_info;
    let t0 = Instant::now();
    let mut calls = 0;
    while t0.elapsed() < Duration::from_secs(4) {
        assert_eq!(c.channel_size("stdout").unwrap(), 0, "call {calls}");
        assert!(c.channel("stdout").unwrap().is_some());
        calls += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(c.resyncs >= 1, "the stall was ridden out by a resync");
    assert!(calls > 10, "{calls}");
    // The answers are still this camera's.
    assert_eq!(c.sys_info, want);
}

#[test]
fn replay_survives_corrupted_bytes_without_losing_a_frame() {
    // A corrupted reply to a channel read is read again: the workload keeps its result
    // until the next frame, and re-sent frame chunks are not added twice.
    let (_dir, ds) = dataset(8);
    let (host, _sim) = start("5.0.0", None, "corrupt=0.00005,seed=11");
    let stop = AtomicBool::new(false);
    let mut got = Vec::new();
    let indices: Vec<usize> = (0..ds.frames.len()).collect();
    let (v, proto) = visreg::check::replay(
        host,
        None,
        &ds,
        &indices,
        Duration::from_secs(60),
        &stop,
        &mut |cf| {
            got.push(cf.index);
            Ok(())
        },
    )
    .unwrap();
    assert_eq!((v[0], proto), (5, "v2"));
    assert_eq!(got, indices, "every frame measured once, in order");
}

#[test]
fn a_disconnect_is_reported_promptly() {
    let (host, _sim) = start("5.0.0", None, "disconnect@2KB");
    let mut c = V2Client::connect(host, V2Options::default()).unwrap();
    let t0 = Instant::now();
    let mut last = None;
    for _ in 0..200 {
        if let Err(e) = c.exec("print('x')\n") {
            last = Some(e);
            break;
        }
    }
    let e = last.expect("the camera disconnected");
    assert_eq!(e.kind, ErrorKind::Disconnected, "{e}");
    assert!(e.to_string().contains("reconnect"), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(3));
}
