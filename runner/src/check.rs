//! The short pose check behind `visreg verify` and `visreg doctor`: a few dataset frames
//! replayed through the camera's own find_apriltags (workload scripts over protocol v2,
//! or one script per frame over v1), its results converted and scored against ground
//! truth. PASS needs the tags found and a usable 3D pose for them; a FAIL says which.

use std::time::{Duration, Instant};

use visreg_bench::{aggregate, score_frame, MatchConfig, Metrics};
use visreg_datasets::Dataset;
use visreg_firmware::transport::Transport;

use crate::client::v1::V1Client;
use crate::client::v2::{V2Client, V2Options};
use crate::client::{probe, Probed};
use crate::workload::{convert, fill_script, pack_frame, parse_result, Config};

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

/// Replays `frames` frames of `ds` through the camera on `t` and judges the results.
pub fn pose_check<T: Transport>(
    mut t: T,
    ds: &Dataset,
    frames: usize,
    deadline: Duration,
) -> Result<PoseCheck, String> {
    let until = Instant::now() + deadline;
    let k = ds.manifest.intrinsics();
    let family = ds.manifest.tags.family;
    let size = ds.manifest.tags.size_m;
    let n = frames.min(ds.frames.len());
    let mut scores = Vec::new();
    let (firmware, protocol) = match probe(&mut t, Duration::from_millis(400))
        .map_err(|e| e.to_string())?
    {
        Probed::V2 => {
            let mut c = V2Client::connect(t, V2Options::default()).map_err(|e| e.to_string())?;
            let v = c.version.firmware.map(u32::from);
            c.exec(
                &fill_script(REPLAY, &Config::new(family, &k), None).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
            while c.channel("visreg").map_err(|e| e.to_string())?.is_none() {
                if Instant::now() > until {
                    let out = c.read_stdout().unwrap_or_default();
                    return Err(format!(
                        "the workload script never started on the camera; it printed: {}",
                        out.trim()
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            for i in 0..n {
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
                    std::thread::sleep(Duration::from_millis(2));
                }
                let line =
                    String::from_utf8_lossy(&c.channel_read("visreg").map_err(|e| e.to_string())?)
                        .into_owned();
                let r = parse_result(&line).map_err(|e| e.to_string())?;
                let tags = convert(&r, size).map_err(|e| e.to_string())?;
                scores.push(score_frame(
                    &ds.frames[i],
                    &tags,
                    None,
                    &MatchConfig::default(),
                ));
            }
            let _ = c.stop();
            (v, "v2")
        }
        Probed::V1(v) => {
            let mut c = V1Client::connect(t, Duration::from_secs(1)).map_err(|e| e.to_string())?;
            for i in 0..n {
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
                let r = parse_result(line).map_err(|e| e.to_string())?;
                let tags = convert(&r, size).map_err(|e| e.to_string())?;
                scores.push(score_frame(
                    &ds.frames[i],
                    &tags,
                    None,
                    &MatchConfig::default(),
                ));
            }
            (v, "v1")
        }
    };
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
