//! `visreg firmware list|show|check`: the catalog of builds.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use visreg_firmware::catalog::{Catalog, Channel, Defect};

use crate::cli::FirmwareCommand;
use crate::Outcome;

/// The catalog in use and the folder its relative paths start from.
pub fn catalog(path: Option<&Path>) -> anyhow::Result<(Catalog, PathBuf)> {
    Ok(match path {
        Some(p) => (
            Catalog::load(p)?,
            p.parent().map(Path::to_path_buf).unwrap_or_default(),
        ),
        None => (Catalog::builtin(), PathBuf::from(".")),
    })
}

fn defects(b: &visreg_firmware::catalog::Build) -> String {
    let Some(sim) = &b.sim else {
        return "–".into();
    };
    if sim.defects.is_empty() {
        return "none".into();
    }
    sim.defects
        .iter()
        .map(|d| match d {
            Defect::Slow { factor } => format!("slow ×{factor}"),
            Defect::PoseBroken => "pose broken".into(),
            Defect::BootFail => "does not boot".into(),
            Defect::AngleLimit { max_view_angle_deg } => {
                format!("lost beyond {max_view_angle_deg}°")
            }
            Defect::TailSlow { fraction, factor } => {
                format!("{:.0} % of frames slow ×{factor}", 100.0 * fraction)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn run(cmd: FirmwareCommand) -> anyhow::Result<Outcome> {
    match cmd {
        FirmwareCommand::List {
            catalog: path,
            series,
            all,
        } => {
            let (c, _) = catalog(path.as_deref())?;
            let mut t = crate::term::table();
            let mut header = vec![
                "build",
                "version",
                "board",
                "protocol",
                "flasher",
                "simulated defects",
                "notes",
            ];
            match &series {
                Some(name) => {
                    header.splice(1..1, ["place", "commit"]);
                    t.set_header(header);
                    for (b, place) in c.series(name)? {
                        t.add_row([
                            b.name.clone(),
                            place.order.to_string(),
                            place.commit.clone().unwrap_or_else(|| "–".into()),
                            b.version.clone(),
                            b.board.to_string(),
                            b.protocol.to_string(),
                            b.flasher().to_string(),
                            defects(b),
                            b.notes.clone(),
                        ]);
                    }
                }
                None => {
                    t.set_header(header);
                    for b in c
                        .builds
                        .iter()
                        .filter(|b| all || b.channel == Channel::Release)
                    {
                        t.add_row([
                            b.name.clone(),
                            b.version.clone(),
                            b.board.to_string(),
                            b.protocol.to_string(),
                            b.flasher().to_string(),
                            defects(b),
                            b.notes.clone(),
                        ]);
                    }
                }
            }
            println!("{t}");
            if series.is_none() {
                for name in c.series_names() {
                    let places = c.series(&name)?;
                    let nightlies = places
                        .iter()
                        .filter(|(b, _)| b.channel == Channel::Nightly)
                        .count();
                    let (first, last) = (places[0].0, places[places.len() - 1].0);
                    println!(
                        // Two lines, so a 100-column terminal shows each whole.
                        "series {name}: {} build(s) from {} to {}{}\n  in order: `visreg firmware list --series {name}`",
                        places.len(),
                        first.name,
                        last.name,
                        if nightlies > 0 && !all {
                            format!(", {nightlies} of them nightlies not listed above")
                        } else {
                            String::new()
                        }
                    );
                }
            }
        }
        FirmwareCommand::Show {
            build,
            catalog: path,
        } => {
            let (c, base) = catalog(path.as_deref())?;
            let b = c.build(&build)?;
            println!(
                "build {}: firmware {} for the OpenMV {} (protocol {}), flashed with {}",
                b.name,
                b.version,
                b.board,
                b.protocol,
                b.flasher()
            );
            if !b.notes.is_empty() {
                println!("  {}", b.notes);
            }
            for img in &b.images {
                let what = img
                    .dfu
                    .clone()
                    .map(|d| format!(".dfu {d}"))
                    .unwrap_or_else(|| {
                        format!(
                            "{} → partition {}",
                            img.file.clone().unwrap_or_default(),
                            img.partition.clone().unwrap_or_default()
                        )
                    });
                println!("  image {what}\n        sha256 {}", img.sha256);
            }
            match b.plan(&base) {
                Ok(writes) => {
                    for w in writes {
                        println!(
                            "  writes {} bytes to {} (alt {}) at 0x{:08X}",
                            w.data.len(),
                            w.partition,
                            w.alt,
                            w.address
                        );
                    }
                }
                Err(e) => println!("  NOT FLASHABLE: {e}"),
            }
            println!("  simulated defects: {}", defects(b));
        }
        FirmwareCommand::Image {
            build,
            out,
            partition,
            catalog: path,
        } => {
            let (c, base) = catalog(path.as_deref())?;
            let b = c.build(&build)?;
            let writes = b.plan(&base)?;
            let w = writes
                .iter()
                .find(|w| w.partition.eq_ignore_ascii_case(&partition))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "build {build} writes nothing to partition {partition} (it writes {})",
                        writes
                            .iter()
                            .map(|w| w.partition)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            std::fs::write(&out, &w.data).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "{}: {} bytes for partition {} (alt {}) of the OpenMV {}, from build {}",
                out.display(),
                w.data.len(),
                w.partition,
                w.alt,
                b.board,
                b.name
            );
        }
        FirmwareCommand::Check {
            build,
            catalog: path,
        } => {
            let (c, base) = catalog(path.as_deref())?;
            let builds: Vec<_> = match &build {
                Some(name) => vec![c.build(name)?],
                None => c.builds.iter().collect(),
            };
            let mut bad = 0;
            for b in builds {
                match b.plan(&base) {
                    Ok(w) => println!(
                        "ok   {} ({} bytes in {} write(s)){}",
                        b.name,
                        w.iter().map(|w| w.data.len()).sum::<usize>(),
                        w.len(),
                        // Its images are sound; only the flashing is another tool's.
                        match b.check_flasher() {
                            Ok(()) => String::new(),
                            Err(_) => format!("; flashed through {}, not by visreg", b.flasher()),
                        }
                    ),
                    Err(e) => {
                        bad += 1;
                        println!("FAIL {e}");
                    }
                }
            }
            if bad > 0 {
                bail!("{bad} build(s) cannot be flashed as they are; fix the files or the catalog entries named above");
            }
        }
    }
    Ok(Outcome::Clean)
}
