//! The host's half of the workload contract (`firmware/scripts/README.md`): the scripts
//! with their `CONFIG` line filled in, frames packed for the `visreg` channel, and the
//! camera's result lines parsed and converted to the dataset's conventions — the one
//! place camera results enter scoring.

use serde::{Deserialize, Serialize};
use visreg_datasets::DetectedTag;
use visreg_firmware::openmv::{to_dataset, CameraTag, ConvertError};
use visreg_firmware::workload::{CONFIG_LINE, FRAME_LINE};

/// Which workload script.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    /// Host pushes frames over the `visreg` channel (protocol v2).
    Replay,
    /// Camera captures from its sensor.
    Live,
    /// One script per frame with the frame embedded (protocol v1).
    ReplayV1,
}

impl Workload {
    /// The marker name in the script.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Replay => "replay",
            Workload::Live => "live",
            Workload::ReplayV1 => "replay_v1",
        }
    }
}

/// The values a host writes into a workload's `CONFIG` line (the contract's own type).
pub use visreg_firmware::workload::WorkloadConfig as Config;

/// Why a script or a result could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The template lacks the line the host rewrites.
    #[error("the workload script has no `CONFIG = json.loads('…')` line to fill in")]
    NoConfigLine,
    /// The template lacks the embedded-frame line.
    #[error("the replay_v1 script has no `FRAME = ubinascii.a2b_base64(b'…')` line")]
    NoFrameLine,
    /// A result line is not the contract's JSON.
    #[error("camera result line is not valid: {0} (line: {1})")]
    BadResult(String, String),
    /// The camera reported an error for a frame.
    #[error("the camera reported for frame {frame:?}: {message}")]
    CameraError {
        /// The frame.
        frame: Option<u32>,
        /// Its message.
        message: String,
    },
    /// A tag could not be converted.
    #[error(transparent)]
    Convert(#[from] ConvertError),
}

/// Fills the `CONFIG` line of `template` (and, for replay_v1, the `FRAME` line).
pub fn fill_script(
    template: &str,
    cfg: &Config,
    frame: Option<&[u8]>,
) -> Result<String, WorkloadError> {
    use base64::Engine as _;
    let json = serde_json::to_string(cfg).expect("config serialises");
    let mut found_cfg = false;
    let mut found_frame = frame.is_none();
    let mut out = String::with_capacity(template.len() + 256);
    for line in template.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with(CONFIG_LINE) {
            found_cfg = true;
            out.push_str(&format!("{CONFIG_LINE}{json}')"));
        } else if let (Some(px), true) = (frame, trimmed.starts_with(FRAME_LINE)) {
            found_frame = true;
            let b64 = base64::engine::general_purpose::STANDARD.encode(px);
            out.push_str(&format!("{FRAME_LINE}{b64}')"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    if !found_cfg {
        return Err(WorkloadError::NoConfigLine);
    }
    if !found_frame {
        return Err(WorkloadError::NoFrameLine);
    }
    Ok(out)
}

pub use visreg_firmware::workload::pack_frame;

/// One camera result line.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ResultLine {
    /// Frame index (replay) or capture counter (live).
    pub frame: Option<u32>,
    /// On-device time of find_apriltags, µs.
    #[serde(default)]
    pub t_us: Option<u64>,
    /// Free heap after the call.
    #[serde(default)]
    pub mem_free: Option<u64>,
    /// Tags, camera conventions.
    #[serde(default)]
    pub tags: Vec<CameraTag>,
    /// Set instead of tags when the camera failed.
    #[serde(default)]
    pub error: Option<String>,
}

/// Parses a result line. MicroPython's `json.dumps` writes NaN and infinities as bare
/// `nan`/`inf`, which is not JSON; they are read as `null` (a missing pose).
pub fn parse_result(line: &str) -> Result<ResultLine, WorkloadError> {
    let cleaned = replace_bare_tokens(line.trim());
    let r: ResultLine = serde_json::from_str(&cleaned)
        .map_err(|e| WorkloadError::BadResult(e.to_string(), line.chars().take(200).collect()))?;
    if let Some(message) = &r.error {
        return Err(WorkloadError::CameraError {
            frame: r.frame,
            message: message.clone(),
        });
    }
    Ok(r)
}

/// Replaces bare `nan`, `-nan`, `inf`, `-inf` outside strings with `null`.
fn replace_bare_tokens(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_string = false;
    let mut escaped = false;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        if c == '"' {
            in_string = true;
            out.push(c);
            i += 1;
            continue;
        }
        let rest = &s[i..];
        if let Some(tok) = ["-nan", "nan", "-inf", "inf", "NaN", "-Infinity", "Infinity"]
            .iter()
            .find(|t| rest.starts_with(**t))
        {
            out.push_str("null");
            i += tok.len();
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Converts a result's tags to the dataset's conventions.
pub fn convert(result: &ResultLine, tag_size_m: f64) -> Result<Vec<DetectedTag>, WorkloadError> {
    result
        .tags
        .iter()
        .map(|t| to_dataset(t, tag_size_m).map_err(WorkloadError::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use visreg_datasets::Intrinsics;

    const TEMPLATE: &str = "# visreg-workload: replay_v1 1\nimport json, ubinascii\nCONFIG = json.loads('{}')\nFRAME = ubinascii.a2b_base64(b'')\nprint(1)\n";

    #[test]
    fn scripts_are_filled_and_parse_back_in_the_virtual_camera() {
        let k = Intrinsics {
            fx: 1.5,
            fy: 2.5,
            cx: 3.0,
            cy: 4.0,
        };
        let mut cfg = Config::new(visreg_apriltag::Family::Tag16h5, &k);
        cfg.width = Some(2);
        cfg.height = Some(1);
        let text = fill_script(TEMPLATE, &cfg, Some(&[7, 9])).unwrap();
        let (name, parsed) = visreg_firmware::workload::parse_workload(&text)
            .unwrap()
            .unwrap();
        assert_eq!(name, "replay_v1");
        assert_eq!(
            (parsed.family.as_str(), parsed.fx, parsed.cy, parsed.width),
            ("tag16h5", 1.5, 4.0, Some(2))
        );
        assert!(text.contains("FRAME = ubinascii.a2b_base64(b'Bwk=')"));
        assert!(matches!(
            fill_script("print(1)\n", &cfg, None),
            Err(WorkloadError::NoConfigLine)
        ));
    }

    #[test]
    fn micropython_nan_reads_as_a_missing_pose() {
        let line = r#"{"frame": 3, "t_us": 100, "tags": [{"id": 1, "family": 8, "name": "TAG36H11", "cx": 5, "cy": 6, "cxf": 5.2, "cyf": 6.1, "rotation": nan, "decision_margin": 0.5, "hamming": 0, "goodness": 1.0, "x_translation": nan, "y_translation": -nan, "z_translation": inf, "x_rotation": nan, "y_rotation": nan, "z_rotation": nan, "corners": [[1,2],[3,4],[5,6],[7,8]], "rect": [1,2,6,6]}]}"#;
        let r = parse_result(line).unwrap();
        assert_eq!(r.frame, Some(3));
        let tags = convert(&r, 0.08).unwrap();
        assert!(tags[0].pose.is_none());
        // Reversed back to the library's order.
        assert_eq!(tags[0].corners[0].x, 7.0);
        let e = parse_result(r#"{"frame": 4, "error": "ROI too large"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the camera reported for frame Some(4): ROI too large"
        );
        assert!(parse_result("garbage").is_err());
        assert_eq!(
            replace_bare_tokens(r#"{"s": "nan inf", "v": nan}"#),
            r#"{"s": "nan inf", "v": null}"#
        );
    }
}
