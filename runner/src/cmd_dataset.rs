//! `visreg dataset generate|check|show|presets|target`.

use std::path::Path;

use anyhow::{bail, Context};
use visreg_bench::stats::quantile;
use visreg_datasets::generate::generate;
use visreg_datasets::preset::{self, PRESETS};
use visreg_datasets::target::{render_sheets, write_png, Paper, SheetSpec};
use visreg_datasets::Dataset;

use crate::cli::DatasetCommand;
use crate::progress::bar;
use crate::Outcome;

pub fn run(cmd: DatasetCommand) -> anyhow::Result<Outcome> {
    match cmd {
        DatasetCommand::Generate {
            preset,
            out,
            seed,
            frames,
            force,
        } => {
            let p = preset::find(&preset)?;
            if force && out.join(visreg_datasets::format::MANIFEST_FILE).is_file() {
                std::fs::remove_dir_all(&out)
                    .with_context(|| format!("removing {}", out.display()))?;
            }
            let pb = bar(frames.unwrap_or(p.frames), "rendering");
            let ds = generate(p, seed, frames, &out, &|pr| pb.set_position(pr.done as u64))?;
            pb.finish_and_clear();
            let hash = ds.content_hash()?;
            println!(
                "wrote {}: {} frames, {} tags of {} ({}×{}), seed {seed}\n{hash}",
                out.display(),
                ds.frames.len(),
                ds.tag_count(),
                ds.manifest.tags.family,
                ds.manifest.camera.width,
                ds.manifest.camera.height
            );
            Ok(Outcome::Clean)
        }
        DatasetCommand::Fixture {
            lab,
            camera,
            out,
            seed,
            frames,
        } => {
            let inventory = visreg::lab::LabFile::load(&lab)?;
            let cam = inventory
                .cameras
                .iter()
                .find(|c| c.name == camera)
                .with_context(|| format!("{}: no camera named '{camera}'", lab.display()))?;
            let fixture = cam
                .fixture
                .as_ref()
                .with_context(|| format!("{}: camera '{camera}' has no fixture", lab.display()))?;
            let spec = fixture.spec().map_err(|e| anyhow::anyhow!(e))?;
            let ds = visreg_datasets::fixture::generate_fixture(
                &spec,
                &format!("fixture-{camera}"),
                frames,
                seed,
                &out,
                &|_| {},
            )?;
            println!(
                "wrote {}: {} frames of {}'s rig ({} tags of {}, {}×{})\n{}",
                out.display(),
                ds.frames.len(),
                camera,
                spec.ids.len(),
                spec.family,
                spec.width,
                spec.height,
                ds.content_hash()?
            );
            Ok(Outcome::Clean)
        }
        DatasetCommand::Check { dir } => {
            let ds = open(&dir)?;
            let pb = bar(ds.frames.len(), "decoding");
            ds.check_frames()?;
            pb.finish_and_clear();
            let hash = ds.content_hash()?;
            println!(
                "ok: {} — {} frames, {} tags, {}\n{hash}",
                dir.display(),
                ds.frames.len(),
                ds.tag_count(),
                ds.manifest.tags.family
            );
            Ok(Outcome::Clean)
        }
        DatasetCommand::Show { dir } => {
            let ds = open(&dir)?;
            print!("{}", describe(&ds)?);
            Ok(Outcome::Clean)
        }
        DatasetCommand::Presets => {
            let mut t = crate::term::table();
            t.set_header([
                "preset",
                "size",
                "family",
                "frames",
                "range m",
                "max angle",
                "boards",
                "description",
            ]);
            for p in PRESETS {
                // Which boards' find_apriltags can detect it: family compiled in, frame
                // within the 64K-pixel limit (firmware/src/board.rs, from each board's
                // imlib_config.h).
                let boards: Vec<&str> = visreg_firmware::board::Board::ALL
                    .into_iter()
                    .filter(|b| b.can_detect(p.family, p.width, p.height).is_ok())
                    .map(|b| b.name())
                    .collect();
                t.add_row([
                    p.name.to_string(),
                    format!("{}×{}", p.width, p.height),
                    p.family.to_string(),
                    p.frames.to_string(),
                    format!("{:.2}–{:.2}", p.range_m.0, p.range_m.1),
                    format!("{:.0}°", p.max_view_angle_deg),
                    if boards.is_empty() {
                        "none (no board has the family)".to_string()
                    } else {
                        boards.join(", ")
                    },
                    p.description.to_string(),
                ]);
            }
            println!("{t}");
            Ok(Outcome::Clean)
        }
        DatasetCommand::Target {
            family,
            ids,
            size_mm,
            dpi,
            paper,
            out,
        } => {
            let family = family.parse()?;
            let paper = match paper.to_ascii_lowercase().as_str() {
                "a4" => Paper::A4,
                "letter" => Paper::Letter,
                other => bail!("unknown paper '{other}' (use a4 or letter)"),
            };
            let ids = parse_ids(&ids)?;
            let spec = SheetSpec {
                family,
                ids: ids.clone(),
                size_mm,
                dpi,
                paper,
            };
            let sheets = render_sheets(&spec)?;
            let mut written = Vec::new();
            for (i, sheet) in sheets.iter().enumerate() {
                let path = if sheets.len() == 1 {
                    out.clone()
                } else {
                    page_path(&out, i + 1)
                };
                write_png(sheet, &path)?;
                let page_ids: Vec<String> =
                    sheet.placements.iter().map(|p| p.0.to_string()).collect();
                written.push(format!("  {} — ids {}", path.display(), page_ids.join(",")));
            }
            println!(
                "{} page(s), {paper:?} at {dpi} DPI: {} × {family}, {size_mm} mm black-border edge \
                 ({:.1} mm with the white ring)\n{}\nprint at 100 % scale (no \"fit to page\") and check the 100 mm bar; \
                 pose needs --tag-size {} (metres)",
                sheets.len(),
                ids.len(),
                sheets[0].drawn_size_mm,
                written.join("\n"),
                size_mm / 1000.0
            );
            Ok(Outcome::Clean)
        }
    }
}

/// `target.png` → `target-p2.png`.
fn page_path(out: &Path, page: usize) -> std::path::PathBuf {
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("target");
    let ext = out.extension().and_then(|s| s.to_str()).unwrap_or("png");
    out.with_file_name(format!("{stem}-p{page}.{ext}"))
}

fn open(dir: &Path) -> anyhow::Result<Dataset> {
    Dataset::open(dir).map_err(|e| anyhow::anyhow!("{e}\n(not a valid dataset; `visreg dataset generate` writes one, the README describes the format)"))
}

/// Parses `0-5`, `1,3,7-9`.
pub fn parse_ids(s: &str) -> anyhow::Result<Vec<u32>> {
    let mut ids = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let parse = |v: &str| {
            v.trim()
                .parse::<u32>()
                .with_context(|| format!("'{v}' in --ids '{s}' is not a tag id"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (parse(a)?, parse(b)?);
                if a > b {
                    bail!("range '{part}' in --ids runs backwards");
                }
                ids.extend(a..=b);
            }
            None => ids.push(parse(part)?),
        }
    }
    if ids.is_empty() {
        bail!("--ids '{s}' names no tags (e.g. 0-5 or 1,3,7-9)");
    }
    Ok(ids)
}

fn describe(ds: &Dataset) -> anyhow::Result<String> {
    let m = &ds.manifest;
    let hash = ds.content_hash()?;
    let mut t = crate::term::table();
    let gen = m
        .generator
        .as_ref()
        .map(|g| {
            format!(
                "{} v{} preset {} seed {}",
                g.name, g.version, g.preset, g.seed
            )
        })
        .unwrap_or_else(|| "— (not synthetic)".into());
    for (k, v) in [
        ("name", m.name.clone()),
        ("description", m.description.clone()),
        (
            "camera",
            format!(
                "{} — {}×{}",
                m.camera.model, m.camera.width, m.camera.height
            ),
        ),
        (
            "intrinsics",
            format!(
                "fx {:.3}  fy {:.3}  cx {:.3}  cy {:.3}",
                m.camera.fx, m.camera.fy, m.camera.cx, m.camera.cy
            ),
        ),
        (
            "tags",
            format!("{}, {} mm", m.tags.family, m.tags.size_m * 1000.0),
        ),
        ("generator", gen),
        ("frames", ds.frames.len().to_string()),
        ("tags in frames", ds.tag_count().to_string()),
        ("hash", hash),
    ] {
        t.add_row([k.to_string(), v]);
    }
    let tags: Vec<_> = ds.frames.iter().flat_map(|f| &f.tags).collect();
    let mut dist = crate::term::table();
    dist.set_header(["distribution", "min", "p10", "median", "p90", "max"]);
    let mut add = |name: &str, v: Vec<f64>| {
        let q = |p| {
            quantile(&v, p)
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| "–".into())
        };
        dist.add_row([name.to_string(), q(0.0), q(0.1), q(0.5), q(0.9), q(1.0)]);
    };
    add(
        "tags per frame",
        ds.frames.iter().map(|f| f.tags.len() as f64).collect(),
    );
    add("range m", tags.iter().map(|t| t.pose.range_m()).collect());
    add(
        "view angle deg",
        tags.iter().map(|t| t.pose.view_angle_deg()).collect(),
    );
    add("tag edge px", tags.iter().map(|t| t.size_px()).collect());
    add(
        "blur σ px",
        ds.frames
            .iter()
            .filter_map(|f| f.scene.blur_sigma_px)
            .collect(),
    );
    add(
        "noise σ",
        ds.frames
            .iter()
            .filter_map(|f| f.scene.noise_sigma)
            .collect(),
    );
    add(
        "illumination",
        ds.frames
            .iter()
            .filter_map(|f| f.scene.illumination)
            .collect(),
    );
    let jpeg = ds
        .frames
        .iter()
        .filter(|f| f.scene.jpeg_quality.is_some())
        .count();
    Ok(format!("{t}\n{dist}\nJPEG re-compressed frames: {jpeg}\n"))
}

#[cfg(test)]
mod tests {
    use super::parse_ids;

    #[test]
    fn ids_parse() {
        assert_eq!(parse_ids("0-5").unwrap(), vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(parse_ids("1,3,7-9").unwrap(), vec![1, 3, 7, 8, 9]);
        assert!(parse_ids("5-1")
            .unwrap_err()
            .to_string()
            .contains("backwards"));
        assert!(parse_ids("x").unwrap_err().to_string().contains("'x'"));
        assert!(parse_ids("").is_err());
    }
}
