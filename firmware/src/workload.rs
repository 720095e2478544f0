//! The workload contract (`firmware/scripts/README.md`) as pure values and codecs, written
//! once for both sides: the `CONFIG` a host writes into a workload script and the camera
//! reads back, the marker that names the workload, the 32-byte `VRF1` frame header of the
//! replay channel, the live bundle (a result line followed by the very frame it was
//! computed on), and the framebuffer header of the `stream` channel.

use serde::{Deserialize, Serialize};

/// Frame header of the workload contract (`VRF1`, index, w, h, pixfmt, len, 2 reserved).
pub const VRF_HEADER: usize = 32;
/// Framebuffer header of the `stream` channel: u32 w, h, pixfmt, size, offset, f32 fps.
pub const FB_HEADER: usize = 24;
/// OpenMV's GRAYSCALE pixel format (PROTOCOL.md §1).
pub const PIXFMT_GRAY: u32 = 0x0802_0001;
/// OpenMV's JPEG pixel format.
pub const PIXFMT_JPEG: u32 = 0x0606_0000;
/// The marker line's prefix: `# visreg-workload: NAME 1`.
pub const MARKER: &str = "# visreg-workload:";
/// The line a host rewrites with the configuration.
pub const CONFIG_LINE: &str = "CONFIG = json.loads('";
/// replay_v1: the line a host rewrites with the embedded frame.
pub const FRAME_LINE: &str = "FRAME = ubinascii.a2b_base64(b'";

/// The values a host writes into a workload's `CONFIG` line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadConfig {
    /// Family name (`tag36h11`).
    pub family: String,
    /// fx passed to find_apriltags.
    pub fx: f64,
    /// fy.
    pub fy: f64,
    /// cx.
    pub cx: f64,
    /// cy.
    pub cy: f64,
    /// Live: frames to capture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<u32>,
    /// How long the script waits for the host, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// replay_v1: embedded frame index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_index: Option<u32>,
    /// replay_v1: embedded frame width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// replay_v1: embedded frame height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

impl WorkloadConfig {
    /// The configuration for `family` seen through `k`, with the host's default deadline.
    pub fn new(family: visreg_apriltag::Family, k: &visreg_datasets::Intrinsics) -> Self {
        WorkloadConfig {
            family: family.name().to_string(),
            fx: k.fx,
            fy: k.fy,
            cx: k.cx,
            cy: k.cy,
            frames: None,
            deadline_ms: Some(5000),
            frame_index: None,
            width: None,
            height: None,
        }
    }
}

/// Why a workload script or a bundle could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// The marker names another contract version.
    #[error("unsupported workload marker '{0}'")]
    Marker(String),
    /// No CONFIG line.
    #[error("the workload has no CONFIG = json.loads('…') line")]
    NoConfig,
    /// CONFIG is not the contract's JSON.
    #[error("bad CONFIG: {0}")]
    BadConfig(String),
    /// A frame header is not VRF1.
    #[error("bad frame magic (expected VRF1)")]
    Magic,
    /// Fewer bytes than the layout needs.
    #[error("short {0}")]
    Short(&'static str),
}

/// Finds a workload marker and its CONFIG in a script; `None` when the script is not a
/// workload.
pub fn parse_workload(text: &str) -> Option<Result<(String, WorkloadConfig), ContractError>> {
    let marker = text.lines().find_map(|l| l.trim().strip_prefix(MARKER))?;
    let mut parts = marker.split_whitespace();
    let name = parts.next().unwrap_or("").to_string();
    if parts.next() != Some("1") {
        return Some(Err(ContractError::Marker(marker.trim().to_string())));
    }
    let Some(json) = text.lines().find_map(|l| {
        l.trim()
            .strip_prefix(CONFIG_LINE)
            .and_then(|r| r.strip_suffix("')"))
    }) else {
        return Some(Err(ContractError::NoConfig));
    };
    Some(
        serde_json::from_str::<WorkloadConfig>(json)
            .map(|c| (name, c))
            .map_err(|e| ContractError::BadConfig(e.to_string())),
    )
}

/// The fields of a `VRF1` frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Frame index (replay) or capture counter (live).
    pub index: u32,
    /// Width, px.
    pub width: u32,
    /// Height, px.
    pub height: u32,
    /// Pixel format (OpenMV's codes).
    pub pixfmt: u32,
    /// Pixel bytes that follow.
    pub len: u32,
}

impl FrameHeader {
    /// A gray frame's header.
    pub fn gray(index: u32, width: u32, height: u32, len: usize) -> Self {
        FrameHeader {
            index,
            width,
            height,
            pixfmt: PIXFMT_GRAY,
            len: len as u32,
        }
    }

    /// The 32 header bytes.
    pub fn encode(&self) -> [u8; VRF_HEADER] {
        let mut out = [0u8; VRF_HEADER];
        out[..4].copy_from_slice(b"VRF1");
        for (i, v) in [
            self.index,
            self.width,
            self.height,
            self.pixfmt,
            self.len,
            0,
            0,
        ]
        .into_iter()
        .enumerate()
        {
            out[4 + i * 4..8 + i * 4].copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Reads a header from the start of `b`.
    pub fn decode(b: &[u8]) -> Result<Self, ContractError> {
        if b.len() < VRF_HEADER {
            return Err(ContractError::Short("frame header"));
        }
        if &b[..4] != b"VRF1" {
            return Err(ContractError::Magic);
        }
        let word =
            |i: usize| u32::from_le_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]]);
        Ok(FrameHeader {
            index: word(1),
            width: word(2),
            height: word(3),
            pixfmt: word(4),
            len: word(5),
        })
    }
}

/// A gray frame packed for the replay channel: header then pixels.
pub fn pack_frame(index: u32, width: u32, height: u32, pixels: &[u8]) -> Vec<u8> {
    let mut out = FrameHeader::gray(index, width, height, pixels.len())
        .encode()
        .to_vec();
    out.extend_from_slice(pixels);
    out
}

/// A live bundle: u32 length of the result line (with its `\n`), the line, then the
/// captured frame as [`pack_frame`] packs it (absent when the capture failed).
pub fn encode_bundle(line: &str, frame: Option<(u32, u32, u32, &[u8])>) -> Vec<u8> {
    let mut b =
        Vec::with_capacity(4 + line.len() + 1 + frame.map_or(0, |f| VRF_HEADER + f.3.len()));
    b.extend_from_slice(&(line.len() as u32 + 1).to_le_bytes());
    b.extend_from_slice(line.as_bytes());
    b.push(b'\n');
    if let Some((index, w, h, px)) = frame {
        b.extend_from_slice(&pack_frame(index, w, h, px));
    }
    b
}

/// A decoded live bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle<'a> {
    /// The result line (without its `\n`).
    pub line: &'a str,
    /// The frame's header.
    pub header: FrameHeader,
    /// Its pixels.
    pub pixels: &'a [u8],
}

/// Reads a live bundle; a bundle must carry its frame.
pub fn decode_bundle(b: &[u8]) -> Result<Bundle<'_>, ContractError> {
    let n = b
        .get(..4)
        .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]) as usize)
        .ok_or(ContractError::Short("bundle"))?;
    let line = b.get(4..4 + n).ok_or(ContractError::Short("bundle"))?;
    let line = std::str::from_utf8(line)
        .map_err(|_| ContractError::BadConfig("the bundle's result line is not UTF-8".into()))?
        .trim_end_matches('\n');
    let frame = &b[4 + n..];
    let header = FrameHeader::decode(frame)?;
    let pixels = frame
        .get(VRF_HEADER..VRF_HEADER + header.len as usize)
        .ok_or(ContractError::Short("bundle frame"))?;
    Ok(Bundle {
        line,
        header,
        pixels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_headers_and_bundles_round_trip() {
        let px: Vec<u8> = (0..12).collect();
        let f = pack_frame(7, 4, 3, &px);
        let h = FrameHeader::decode(&f).unwrap();
        assert_eq!(h, FrameHeader::gray(7, 4, 3, 12));
        assert_eq!(&f[VRF_HEADER..], &px[..]);
        assert_eq!(
            FrameHeader::decode(&f[..31]),
            Err(ContractError::Short("frame header"))
        );
        let mut bad = f.clone();
        bad[0] = b'X';
        assert_eq!(FrameHeader::decode(&bad), Err(ContractError::Magic));
        let b = encode_bundle(r#"{"frame": 7}"#, Some((7, 4, 3, &px)));
        let d = decode_bundle(&b).unwrap();
        assert_eq!(
            (d.line, d.header.index, d.pixels),
            (r#"{"frame": 7}"#, 7, &px[..])
        );
        assert!(decode_bundle(&encode_bundle("{}", None)).is_err());
    }

    #[test]
    fn a_config_written_by_the_host_is_read_by_the_camera() {
        let cfg = WorkloadConfig {
            family: "tag36h11".into(),
            fx: 224.9,
            fy: 227.6,
            cx: 160.0,
            cy: 120.0,
            frames: None,
            deadline_ms: Some(5000),
            frame_index: None,
            width: None,
            height: None,
        };
        let script = format!(
            "{MARKER} replay 1\nimport json\n{CONFIG_LINE}{}')\n",
            serde_json::to_string(&cfg).unwrap()
        );
        let (name, back) = parse_workload(&script).unwrap().unwrap();
        assert_eq!((name.as_str(), back), ("replay", cfg));
        assert_eq!(parse_workload("print(1)\n"), None);
        assert!(matches!(
            parse_workload("# visreg-workload: replay 2\n"),
            Some(Err(ContractError::Marker(_)))
        ));
    }
}
