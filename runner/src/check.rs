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
use crate::client::ClientError;
use crate::client::{probe, probe_patiently, Probed, PROBE_PATIENCE};
use crate::workload::{
    convert, fill_script, pack_frame, parse_result, Config, ResultLine, WorkloadError,
};

/// Why a check, a replay or a live run could not go on; each says what happened and,
/// where there is one, what to try. Errors already complete in themselves (the client's,
/// the workload's) are wrapped whole. Those that carry their own cause show it in their
/// message instead of chaining it, so `{:#}` does not say it twice — except
/// [`CheckError::Unanswered`], whose last attempt is also its `source`.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The serial port would not open.
    #[error("{port}: {error} (another program, such as the OpenMV IDE, may hold it)")]
    Open {
        /// The port.
        port: String,
        /// Why it would not open.
        error: visreg_firmware::transport::TransportError,
    },
    /// The camera client failed (it names the port, the step and the next step).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The workload script died on the camera.
    #[error("the workload script failed on the camera:\n{printed}")]
    WorkloadFailed {
        /// What it printed (its traceback), trimmed.
        printed: String,
    },
    /// The workload script did not register its channel within [`WORKLOAD_START`].
    #[error("the workload script did not start on the camera within {} s; it printed: {printed}", WORKLOAD_START.as_secs())]
    WorkloadSilent {
        /// What it printed meanwhile, trimmed.
        printed: String,
    },
    /// No result for a frame before the deadline.
    #[error("the camera gave no result for frame {frame} before the deadline")]
    NoResult {
        /// The dataset index.
        frame: usize,
    },
    /// A v1 replay's output held no result line.
    #[error("no result line")]
    NoResultLine {
        /// The dataset index.
        frame: usize,
    },
    /// The camera answered for a frame other than the one being measured.
    #[error("the camera answered frame {answered} while frame {measured} was being measured: the workload and the host disagree on the frame; `visreg doctor` checks the camera")]
    OtherFrame {
        /// The frame the answer is for.
        answered: u32,
        /// The frame being measured.
        measured: usize,
    },
    /// A workload script could not be filled in, or a result line not used.
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    /// A live bundle is not the contract's.
    #[error(transparent)]
    Bundle(#[from] visreg_firmware::workload::ContractError),
    /// A dataset frame would not load.
    #[error("{0}")]
    Dataset(visreg_datasets::DatasetError),
    /// The camera on the port is another board than the one expected.
    #[error("the camera on {port} is {found}, not the {expected} expected: check which camera is on this port (visreg devices)")]
    WrongBoard {
        /// The port.
        port: String,
        /// What the camera said it is (its board, USB PID or ARCH string).
        found: String,
        /// The board expected there.
        expected: visreg_firmware::board::Board,
    },
    /// The camera did not answer within the health deadline.
    #[error("the camera on {port} did not answer within {} s ({})", .deadline.as_secs(), .last.as_ref().map_or_else(|| "no answer".to_string(), |e| e.to_string()))]
    Unanswered {
        /// The port.
        port: String,
        /// The deadline.
        deadline: Duration,
        /// The last attempt's error (none when there was no time for one).
        #[source]
        last: Option<Box<CheckError>>,
    },
    /// Live mode on a camera speaking protocol v1.
    #[error("live mode needs protocol v2 (firmware ≥ 5.0): a 4.x camera cannot hand back the frames it processed")]
    LiveNeedsV2,
    /// Too few live frames before the deadline.
    #[error("the camera delivered {got} of {frames} live frames before the deadline")]
    LiveDeadline {
        /// Frames delivered.
        got: usize,
        /// Frames asked for.
        frames: usize,
    },
    /// The caller's `on_frame` refused a frame, for this reason.
    #[error("{0}")]
    FrameRefused(String),
}

/// What a camera answering on a port says it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `v1` or `v2`.
    pub protocol: &'static str,
    /// Firmware version.
    pub firmware: [u32; 3],
    /// USB product id from SYS_INFO (protocol v2 only), which names the board.
    pub usb_pid: Option<u16>,
    /// Protocol v1's ARCH_STR, whose ARCH prefix names the board.
    pub arch: Option<String>,
}

impl Identity {
    /// The board the camera says it is: by USB PID (v2) or ARCH prefix (v1).
    pub fn board(&self) -> Option<visreg_firmware::board::Board> {
        use visreg_firmware::board::Board;
        match (&self.arch, self.usb_pid) {
            (Some(a), _) => Board::of_arch(a),
            (None, Some(pid)) => Board::ALL.into_iter().find(|b| b.firmware_pid() == pid),
            (None, None) => None,
        }
    }

    /// What the camera says it is, for messages.
    fn describe_board(&self) -> String {
        match (self.board(), &self.arch, self.usb_pid) {
            (Some(b), _, _) => format!("an {b}"),
            (None, Some(a), _) => format!("a board saying '{}'", a.trim_end_matches('\0')),
            (None, None, Some(pid)) => format!("a board with USB PID {pid:04X}"),
            (None, None, None) => "a board that does not say which".into(),
        }
    }
}

/// Asks the camera on `port` which protocol and firmware it runs (each exchange under
/// `timeout`).
pub fn identify(port: &str, timeout: Duration) -> Result<Identity, CheckError> {
    let mut t =
        crate::link::SerialTransport::open(port, crate::link::DEBUG_BAUD).map_err(|error| {
            CheckError::Open {
                port: port.into(),
                error,
            }
        })?;
    match probe(&mut t, timeout)? {
        Probed::V2 => {
            let opts = V2Options {
                packet_timeout: timeout,
                ..V2Options::default()
            };
            let c = V2Client::connect(t, opts)?;
            Ok(Identity {
                protocol: "v2",
                firmware: c.version.firmware.map(u32::from),
                usb_pid: Some((c.sys_info.usb_id & 0xFFFF) as u16),
                arch: None,
            })
        }
        Probed::V1(v) => {
            let c = V1Client::connect(t, timeout)?;
            Ok(Identity {
                protocol: "v1",
                firmware: v,
                usb_pid: None,
                arch: Some(c.arch.clone()),
            })
        }
    }
}

/// How long a healthy camera takes at most to answer and name its firmware.
pub const HEALTH_DEADLINE: Duration = Duration::from_secs(5);

/// The camera on `port` answers and names its firmware within `deadline` (asking again
/// while it does not: it may be re-enumerating), and is the `board` expected — a lab must never flash the wrong board because two were swapped on a hub.
/// Returns the version and protocol in words.
pub fn health_check(
    port: &str,
    deadline: Duration,
    board: Option<visreg_firmware::board::Board>,
) -> Result<String, CheckError> {
    let until = Instant::now() + deadline;
    let mut last = None;
    while Instant::now() < until {
        match identify(port, Duration::from_millis(400)) {
            Ok(id) => {
                // v2 names its board by USB PID, v1 by ARCH prefix (the bracket's board
                // type says `H7` for the H7 Plus too).
                if let Some(b) = board {
                    if id.board() != Some(b) && (id.usb_pid.is_some() || id.arch.is_some()) {
                        return Err(CheckError::WrongBoard {
                            port: port.into(),
                            found: id.describe_board(),
                            expected: b,
                        });
                    }
                }
                let v = id.firmware;
                return Ok(format!(
                    "firmware {}.{}.{} (protocol {})",
                    v[0], v[1], v[2], id.protocol
                ));
            }
            Err(e) => last = Some(Box::new(e)),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(CheckError::Unanswered {
        port: port.into(),
        deadline,
        last,
    })
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
fn await_workload<T: Transport>(c: &mut V2Client<T>, until: Instant) -> Result<(), CheckError> {
    let until = until.min(Instant::now() + WORKLOAD_START);
    let mut printed = String::new();
    while c.channel("visreg")?.is_none() {
        printed.push_str(&c.read_stdout().unwrap_or_default());
        if printed.contains("Traceback") {
            return Err(CheckError::WorkloadFailed {
                printed: printed.trim().into(),
            });
        }
        if Instant::now() > until {
            return Err(CheckError::WorkloadSilent {
                printed: printed.trim().into(),
            });
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
/// version and the protocol. `board`, when known, lets the probe put its v2 SYNC first
/// ([`crate::client::probe_for`]).
pub fn replay<T: Transport>(
    mut t: T,
    board: Option<visreg_firmware::board::Board>,
    ds: &Dataset,
    indices: &[usize],
    deadline: Duration,
    stop: &AtomicBool,
    on_frame: &mut dyn FnMut(CameraFrame) -> Result<(), CheckError>,
) -> Result<([u32; 3], &'static str), CheckError> {
    let until = Instant::now() + deadline;
    let k = ds.manifest.intrinsics();
    let family = ds.manifest.tags.family;
    let size = ds.manifest.tags.size_m;
    // The camera was found a moment ago: a stalled link gets time to come back.
    let probed = probe_patiently(
        &mut t,
        Duration::from_millis(400),
        Instant::now() + PROBE_PATIENCE,
        board,
    );
    match probed? {
        Probed::V2 => {
            let mut c = V2Client::connect(t, V2Options::default())?;
            let v = c.version.firmware.map(u32::from);
            c.exec(&fill_script(REPLAY, &Config::new(family, &k), None)?)?;
            await_workload(&mut c, until)?;
            // The host's own work on a result (scoring, the store) is done while the
            // camera detects the next frame: once a result is read, the next frame goes
            // out at once. What the firmware does not allow is more: it serves the link
            // only at its detector's 20 ms polls (`imlib_poll_events`, lib/imlib/imlib.h
            // v5.0.0), and the workload's one frame buffer is the result's until the next
            // frame's first write.
            let mut pending: Option<CameraFrame> = None;
            for &i in indices {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let f = ds.load_frame(i).map_err(CheckError::Dataset)?;
                let sent = c.channel_write(
                    "visreg",
                    &pack_frame(i as u32, f.width, f.height, &f.pixels),
                );
                // The result in hand is kept even when this frame could not be sent.
                if let Some(done) = pending.take() {
                    on_frame(done)?;
                }
                sent?;
                while c.channel_size("visreg")? == 0 {
                    if Instant::now() > until {
                        return Err(CheckError::NoResult { frame: i });
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                let line = String::from_utf8_lossy(&c.channel_read("visreg")?).into_owned();
                let result = parse_result(&line)?;
                // The workload keeps a result until the next frame: whatever the link did,
                // the answer read must be this frame's.
                if let Some(answered) = result.frame.filter(|&f| f != i as u32) {
                    return Err(CheckError::OtherFrame {
                        answered,
                        measured: i,
                    });
                }
                let tags = convert(&result, size)?;
                pending = Some(CameraFrame {
                    index: i,
                    result,
                    tags,
                });
            }
            if let Some(done) = pending.take() {
                on_frame(done)?;
            }
            let _ = c.stop();
            Ok((v, "v2"))
        }
        Probed::V1(v) => {
            let mut c = V1Client::connect(t, Duration::from_secs(1))?;
            for &i in indices {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let f = ds.load_frame(i).map_err(CheckError::Dataset)?;
                let mut cfg = Config::new(family, &k);
                cfg.frame_index = Some(i as u32);
                cfg.width = Some(f.width);
                cfg.height = Some(f.height);
                c.exec(&fill_script(REPLAY_V1, &cfg, Some(&f.pixels))?)?;
                let mut out = String::new();
                while !out.contains("\"done\"") {
                    if Instant::now() > until {
                        return Err(CheckError::NoResult { frame: i });
                    }
                    out += &c.read_stdout()?;
                }
                let line = out
                    .lines()
                    .find(|l| l.contains("\"frame\""))
                    .ok_or(CheckError::NoResultLine { frame: i })?;
                let result = parse_result(line)?;
                let tags = convert(&result, size)?;
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
) -> Result<PoseCheck, CheckError> {
    let n = frames.min(ds.frames.len());
    let indices: Vec<usize> = (0..n).collect();
    let mut scores = Vec::new();
    let never = AtomicBool::new(false);
    let (firmware, protocol) = replay(t, None, ds, &indices, deadline, &never, &mut |cf| {
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
    board: Option<visreg_firmware::board::Board>,
    ds: &Dataset,
    frames: usize,
    deadline: Duration,
    stop: &AtomicBool,
    on_frame: &mut dyn FnMut(CameraFrame, Vec<u8>) -> Result<(), CheckError>,
) -> Result<([u32; 3], &'static str), CheckError> {
    let until = Instant::now() + deadline;
    let k = ds.manifest.intrinsics();
    let size = ds.manifest.tags.size_m;
    let probed = probe_patiently(
        &mut t,
        Duration::from_millis(400),
        Instant::now() + PROBE_PATIENCE,
        board,
    );
    let Probed::V2 = probed? else {
        return Err(CheckError::LiveNeedsV2);
    };
    let mut c = V2Client::connect(t, V2Options::default())?;
    let v = c.version.firmware.map(u32::from);
    let mut cfg = Config::new(ds.manifest.tags.family, &k);
    cfg.frames = Some(frames as u32);
    c.exec(&fill_script(LIVE, &cfg, None)?)?;
    await_workload(&mut c, until)?;
    let mut got = 0;
    while got < frames && !stop.load(Ordering::Relaxed) {
        if Instant::now() > until {
            return Err(CheckError::LiveDeadline { got, frames });
        }
        if c.channel_size("visreg")? == 0 {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let b = c.channel_read("visreg")?;
        let bundle = visreg_firmware::workload::decode_bundle(&b)?;
        let result = parse_result(bundle.line)?;
        let capture = bundle.header.index as usize;
        let tags = convert(&result, size)?;
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
