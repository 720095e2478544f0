//! The short pose check behind `visreg verify` and `visreg doctor`: a few dataset frames
//! replayed through the camera's own find_apriltags (workload scripts over protocol v2,
//! or one script per frame over v1), its results converted and scored against ground
//! truth. PASS needs the tags found and a usable 3D pose for them; a FAIL says which.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use visreg_bench::{aggregate, score_frame, MatchConfig, Metrics};
use visreg_datasets::{Dataset, DetectedTag};
use visreg_firmware::transport::Transport;

use crate::client::v1::V1Client;
use crate::client::v2::{V2Client, V2Options};
use crate::client::{probe, probe_patiently, Probed, PROBE_PATIENCE};
use crate::workload::{convert, fill_script, pack_frame, parse_result, Config, ResultLine};

/// What a camera answering on a port says it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `v1` or `v2`.
    pub protocol: &'static str,
    /// Firmware version.
    pub firmware: [u32; 3],
    /// USB product id from SYS_INFO (protocol v2 only), which names the board.
    pub usb_pid: Option<u16>,
}

/// Asks the camera on `port` which protocol and firmware it runs (each exchange under
/// `timeout`).
pub fn identify(port: &str, timeout: Duration) -> Result<Identity, String> {
    let mut t = crate::link::SerialTransport::open(port, crate::link::DEBUG_BAUD).map_err(|e| {
        format!("{port}: {e} (another program, such as the OpenMV IDE, may hold it)")
    })?;
    match probe(&mut t, timeout).map_err(|e| e.to_string())? {
        Probed::V2 => {
            let opts = V2Options {
                packet_timeout: timeout,
                ..V2Options::default()
            };
            let c = V2Client::connect(t, opts).map_err(|e| e.to_string())?;
            Ok(Identity {
                protocol: "v2",
                firmware: c.version.firmware.map(u32::from),
                usb_pid: Some((c.sys_info.usb_id & 0xFFFF) as u16),
            })
        }
        Probed::V1(v) => {
            V1Client::connect(t, timeout).map_err(|e| e.to_string())?;
            Ok(Identity {
                protocol: "v1",
                firmware: v,
                usb_pid: None,
            })
        }
    }
}

/// How long a healthy camera takes at most to answer and name its firmware.
pub const HEALTH_DEADLINE: Duration = Duration::from_secs(5);

/// The camera on `port` answers and names its firmware within `deadline` (asking again
/// while it does not: it may be re-enumerating), and (protocol v2) is the `board`
/// expected — a lab must never flash the wrong board because two were swapped on a hub.
/// Returns the version and protocol in words.
pub fn health_check(
    port: &str,
    deadline: Duration,
    board: Option<visreg_firmware::board::Board>,
) -> Result<String, String> {
    let until = Instant::now() + deadline;
    let mut last = String::from("no answer");
    while Instant::now() < until {
        match identify(port, Duration::from_millis(400)) {
            Ok(id) => {
                if let (Some(b), Some(pid)) = (board, id.usb_pid) {
                    if b.firmware_pid() != pid {
                        return Err(format!(
                            "the camera on {port} is a board with USB PID {pid:04X}, not the {b} ({:04X}) expected: check which camera is on this port (visreg devices)",
                            b.firmware_pid()
                        ));
                    }
                }
                let v = id.firmware;
                return Ok(format!(
                    "firmware {}.{}.{} (protocol {})",
                    v[0], v[1], v[2], id.protocol
                ));
            }
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!(
        "the camera on {port} did not answer within {} s ({last})",
        deadline.as_secs()
    ))
}

/// The replay workload script.
pub const REPLAY: &str = include_str!("../../firmware/scripts/replay.py");
/// The replay workload for protocol v1.
pub const REPLAY_V1: &str = include_str!("../../firmware/scripts/replay_v1.py");

/// What the check found.
#[derive(Clone, Debug)]
pub struct PoseCheck {
    /// Firmware version reported.
    pub firmware: [u32; 3],
    /// Protocol spoken.
    pub protocol: &'static str,
    /// Frames checked.
    pub frames: usize,
    /// Metrics of the camera's results.
    pub metrics: Metrics,
    /// Matched tags that came with a pose.
    pub with_pose: usize,
    /// Empty when the check passed; else why not, in plain words.
    pub problems: Vec<String>,
}

impl PoseCheck {
    /// Whether it passed.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One frame's result from the camera, converted to the dataset's conventions.
pub struct CameraFrame {
    /// Index in the dataset.
    pub index: usize,
    /// The camera's result line.
    pub result: ResultLine,
    /// Its tags in the dataset's conventions.
    pub tags: Vec<DetectedTag>,
}

/// Waits until the workload script has registered its channel. A script that dies
/// first (a traceback on stdout) fails at once with what it printed; one that stays silent
/// fails after [`WORKLOAD_START`] (or `until`, if sooner).
fn await_workload<T: Transport>(c: &mut V2Client<T>, until: Instant) -> Result<(), String> {
    let until = until.min(Instant::now() + WORKLOAD_START);
    let mut printed = String::new();
    while c.channel("visreg").map_err(|e| e.to_string())?.is_none() {
        printed.push_str(&c.read_stdout().unwrap_or_default());
        if printed.contains("Traceback") {
            return Err(format!(
                "the workload script failed on the camera:\n{}",
                printed.trim()
            ));
        }
        if Instant::now() > until {
            return Err(format!(
                "the workload script did not start on the camera within {} s; it printed: {}",
                WORKLOAD_START.as_secs(),
                printed.trim()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// How long a workload script may take to register its channel: a camera boots its
/// sensor in well under a second; ten is generous for a slow first import.
pub const WORKLOAD_START: Duration = Duration::from_secs(10);

/// Replays the frames `indices` of `ds` through the camera on `t` (workload scripts over
/// protocol v2, one script per frame over v1), calling `on_frame` with each result, all
/// under `deadline`; stops early (without error) when `stop` is set. Returns the firmware
/// version and the protocol.
pub fn replay<T: Transport>(
    mut t: T,
    ds: &Dataset,
    indices: &[usize],
    deadline: Duration,
    stop: &AtomicBool,
    on_frame: &mut dyn FnMut(CameraFrame) -> Result<(), String>,
) -> Result<([u32; 3], &'static str), String> {
    let until = Instant::now() + deadline;
    let k = ds.manifest.intrinsics();
    let family = ds.manifest.tags.family;
    let size = ds.manifest.tags.size_m;
    // The camera was found a moment ago: a stalled link gets time to come back.
    let probed = probe_patiently(
        &mut t,
        Duration::from_millis(400),
        Instant::now() + PROBE_PATIENCE,
    );
    match probed.map_err(|e| e.to_string())? {
        Probed::V2 => {
            let mut c = V2Client::connect(t, V2Options::default()).map_err(|e| e.to_string())?;
            let v = c.version.firmware.map(u32::from);
            c.exec(
                &fill_script(REPLAY, &Config::new(family, &k), None).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
            await_workload(&mut c, until)?;
            for &i in indices {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let f = ds.load_frame(i).map_err(|e| e.to_string())?;
                c.channel_write(
                    "visreg",
                    &pack_frame(i as u32, f.width, f.height, &f.pixels),
                )
                .map_err(|e| e.to_string())?;
                while c.channel_size("visreg").map_err(|e| e.to_string())? == 0 {
                    if Instant::now() > until {
                        return Err(format!(
                            "the camera gave no result for frame {i} before the deadline"
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                let line =
                    String::from_utf8_lossy(&c.channel_read("visreg").map_err(|e| e.to_string())?)
                        .into_owned();
                let result = parse_result(&line).map_err(|e| e.to_string())?;
                // The workload keeps a result until the next frame: whatever the link did,
                // the answer read must be this frame's.
                if result.frame.is_some_and(|f| f != i as u32) {
                    return Err(format!(
                        "the camera answered frame {} while frame {i} was being measured: the workload and the host disagree on the frame; `visreg doctor` checks the camera",
                        result.frame.unwrap_or_default()
                    ));
                }
                let tags = convert(&result, size).map_err(|e| e.to_string())?;
                on_frame(CameraFrame {
                    index: i,
                    result,
                    tags,
                })?;
            }
            let _ = c.stop();
            Ok((v, "v2"))
        }
        Probed::V1(v) => {
            let mut c = V1Client::connect(t, Duration::from_secs(1)).map_err(|e| e.to_string())?;
            for &i in indices {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let f = ds.load_frame(i).map_err(|e| e.to_string())?;
                let mut cfg = Config::new(family, &k);
                cfg.frame_index = Some(i as u32);
                cfg.width = Some(f.width);
                cfg.height = Some(f.height);
                c.exec(&fill_script(REPLAY_V1, &cfg, Some(&f.pixels)).map_err(|e| e.to_string())?)
                    .map_err(|e| e.to_string())?;
                let mut out = String::new();
                while !out.contains("\"done\"") {
                    if Instant::now() > until {
                        return Err(format!(
                            "the camera gave no result for frame {i} before the deadline"
                        ));
                    }
                    out += &c.read_stdout().map_err(|e| e.to_string())?;
                }
                let line = out
                    .lines()
                    .find(|l| l.contains("\"frame\""))
                    .ok_or("no result line")?;
                let result = parse_result(line).map_err(|e| e.to_string())?;
                let tags = convert(&result, size).map_err(|e| e.to_string())?;
                on_frame(CameraFrame {
                    index: i,
                    result,
                    tags,
                })?;
            }
            Ok((v, "v1"))
        }
    }
}

/// Replays `frames` frames of `ds` through the camera on `t` and judges the results.
pub fn pose_check<T: Transport>(
    t: T,
    ds: &Dataset,
    frames: usize,
    deadline: Duration,
) -> Result<PoseCheck, String> {
    let n = frames.min(ds.frames.len());
    let indices: Vec<usize> = (0..n).collect();
    let mut scores = Vec::new();
    let never = AtomicBool::new(false);
    let (firmware, protocol) = replay(t, ds, &indices, deadline, &never, &mut |cf| {
        scores.push(score_frame(
            &ds.frames[cf.index],
            &cf.tags,
            None,
            &MatchConfig::default(),
        ));
        Ok(())
    })?;
    let metrics = aggregate(&scores);
    let matched = metrics.detected;
    let with_pose = scores
        .iter()
        .flat_map(|s| s.tags.iter())
        .filter(|t| t.matched.map(|m| m.trans_err_m.is_some()).unwrap_or(false))
        .count();
    let mut problems = Vec::new();
    let recall = metrics.recall.unwrap_or(0.0);
    if recall < 0.9 {
        problems.push(format!(
            "find_apriltags found {} of {} tags ({:.0} %): tag detection is broken or the camera cannot see them",
            matched,
            metrics.tags,
            100.0 * recall
        ));
    }
    if matched > 0 && (with_pose as f64) < 0.9 * matched as f64 {
        problems.push(format!(
            "find_apriltags finds the tags ({matched}) but returns no usable 3D pose for {} of them (NaN translations and rotations): the firmware's pose estimation is broken — flash another build",
            matched - with_pose
        ));
    }
    if let Some(e) = metrics.trans_err_pct_median.filter(|e| *e > 5.0) {
        problems.push(format!("the 3D pose is off by {e:.1} % of the range (median): check fx/fy/cx/cy and the tag size"));
    }
    if let Some(e) = metrics.rot_err_deg_median.filter(|e| *e > 5.0) {
        problems.push(format!("the 3D pose's rotation is off by {e:.1}° (median)"));
    }
    Ok(PoseCheck {
        firmware,
        protocol,
        frames: n,
        metrics,
        with_pose,
        problems,
    })
}

/// The live workload's script.
pub const LIVE: &str = include_str!("../../firmware/scripts/live.py");

/// Runs the live workload for `frames` captures on the camera on `t` (protocol v2: each
/// result comes with the very frame it was computed on), calling `on_frame` with the
/// result and the frame's pixels. The dataset index of capture n is n modulo the dataset
/// length — what the virtual camera's sensor shows; a real sensor needs a rig with known
/// truth.
pub fn live<T: Transport>(
    mut t: T,
    ds: &Dataset,
    frames: usize,
    deadline: Duration,
    stop: &AtomicBool,
    on_frame: &mut dyn FnMut(CameraFrame, Vec<u8>) -> Result<(), String>,
) -> Result<([u32; 3], &'static str), String> {
    let until = Instant::now() + deadline;
    let k = ds.manifest.intrinsics();
    let size = ds.manifest.tags.size_m;
    let probed = probe_patiently(
        &mut t,
        Duration::from_millis(400),
        Instant::now() + PROBE_PATIENCE,
    );
    let Probed::V2 = probed.map_err(|e| e.to_string())? else {
        return Err("live mode needs protocol v2 (firmware ≥ 5.0): a 4.x camera cannot hand back the frames it processed".into());
    };
    let mut c = V2Client::connect(t, V2Options::default()).map_err(|e| e.to_string())?;
    let v = c.version.firmware.map(u32::from);
    let mut cfg = Config::new(ds.manifest.tags.family, &k);
    cfg.frames = Some(frames as u32);
    c.exec(&fill_script(LIVE, &cfg, None).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    await_workload(&mut c, until)?;
    let mut got = 0;
    while got < frames && !stop.load(Ordering::Relaxed) {
        if Instant::now() > until {
            return Err(format!(
                "the camera delivered {got} of {frames} live frames before the deadline"
            ));
        }
        if c.channel_size("visreg").map_err(|e| e.to_string())? == 0 {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let b = c.channel_read("visreg").map_err(|e| e.to_string())?;
        let bundle = visreg_firmware::workload::decode_bundle(&b).map_err(|e| e.to_string())?;
        let result = parse_result(bundle.line).map_err(|e| e.to_string())?;
        let capture = bundle.header.index as usize;
        let tags = convert(&result, size).map_err(|e| e.to_string())?;
        on_frame(
            CameraFrame {
                index: capture % ds.frames.len(),
                result,
                tags,
            },
            bundle.pixels.to_vec(),
        )?;
        got += 1;
    }
    let _ = c.stop();
    Ok((v, "v2"))
}
