//! `visreg detect IMAGE...`: the host reference detector on any image a user has.

use std::io::Write;

use anyhow::{bail, Context};
use serde::Serialize;
use visreg_apriltag::{Family, GrayImage};
use visreg_bench::detector::PoseParams;
use visreg_bench::{DetectedTag, HostDetector};
use visreg_datasets::format::decode_gray;
use visreg_datasets::geometry::openmv_default_intrinsics;
use visreg_datasets::Intrinsics;

use crate::cli::DetectArgs;
use crate::Outcome;

#[derive(Serialize)]
struct ImageLine<'a> {
    image: &'a str,
    detections: &'a [DetectedTag],
}

pub fn run(args: DetectArgs) -> anyhow::Result<Outcome> {
    let family = args.detector.family()?.unwrap_or(Family::Tag36h11);
    let detector = HostDetector::new(args.detector.settings(family))?;
    let explicit = match (args.fx, args.fy, args.cx, args.cy) {
        (Some(fx), Some(fy), Some(cx), Some(cy)) => Some(Intrinsics { fx, fy, cx, cy }),
        (None, None, None, None) => None,
        _ => bail!("--fx, --fy, --cx and --cy go together (or use --openmv-intrinsics)"),
    };
    if args.tag_size.is_none() && (explicit.is_some() || args.openmv_intrinsics) {
        bail!("poses need the tag size too: add --tag-size METRES (the black border's edge)");
    }
    if args.tag_size.is_some() && explicit.is_none() && !args.openmv_intrinsics {
        bail!("poses need intrinsics: add --fx --fy --cx --cy, or --openmv-intrinsics for the camera's defaults");
    }
    if let Some(s) = args.tag_size {
        if !(s.is_finite() && s > 0.0 && s < 10.0) {
            bail!("--tag-size {s} must be the tag's edge in metres, e.g. 0.08");
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failures = 0;
    for path in &args.images {
        let shown = path.display().to_string();
        let image = std::fs::read(path)
            .with_context(|| format!("{shown}: cannot read"))
            .and_then(|bytes| decode_gray(&bytes).map_err(|e| anyhow::anyhow!("{shown}: {e}")));
        let image = match image {
            Ok(i) => i,
            Err(e) => {
                eprintln!("error: {e:#}");
                failures += 1;
                continue;
            }
        };
        let pose = args.tag_size.map(|tag_size_m| PoseParams {
            intrinsics: explicit
                .unwrap_or_else(|| openmv_default_intrinsics(image.width, image.height)),
            tag_size_m,
        });
        let dets = detector.detect(
            GrayImage::new(image.width, image.height, &image.pixels),
            pose,
        )?;
        if args.json {
            serde_json::to_writer(
                &mut out,
                &ImageLine {
                    image: &shown,
                    detections: &dets,
                },
            )?;
            writeln!(out)?;
        } else {
            writeln!(
                out,
                "{shown}: {} tag(s) of {family} ({}×{})",
                dets.len(),
                image.width,
                image.height
            )?;
            for d in &dets {
                let corners: Vec<String> = d
                    .corners
                    .iter()
                    .map(|c| format!("({:.2}, {:.2})", c.x, c.y))
                    .collect();
                writeln!(
                    out,
                    "  id {:>4}  centre ({:.2}, {:.2})  hamming {}  margin {:.1}\n            corners {}",
                    d.id,
                    d.center.x,
                    d.center.y,
                    d.hamming,
                    d.decision_margin,
                    corners.join(" ")
                )?;
                if let Some(p) = &d.pose {
                    let (r, pch, y) = p.rotation.euler_angles();
                    writeln!(
                        out,
                        "            t = ({:.4}, {:.4}, {:.4}) m, range {:.4} m, view angle {:.1}°, roll/pitch/yaw ({:.1}, {:.1}, {:.1})°",
                        p.translation.x,
                        p.translation.y,
                        p.translation.z,
                        p.range_m(),
                        p.view_angle_deg(),
                        r.to_degrees(),
                        pch.to_degrees(),
                        y.to_degrees()
                    )?;
                }
            }
        }
    }
    if failures > 0 {
        bail!(
            "{failures} of {} image(s) could not be read",
            args.images.len()
        );
    }
    Ok(Outcome::Clean)
}
