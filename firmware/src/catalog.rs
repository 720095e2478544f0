//! The firmware catalog: builds by name with their version, board and protocol, and —
//! for the simulated builds shipped with visreg (`firmware/catalog.toml`) — how the
//! virtual camera behaves when running them (latency model, planted defects).

use serde::{Deserialize, Serialize};

use crate::board::Board;

/// The catalog shipped with visreg.
pub const BUILTIN_CATALOG: &str = include_str!("../catalog.toml");

/// Which wire protocol a build speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// usbdbg, firmware ≤ 4.x.
    V1,
    /// Framed protocol, firmware ≥ 5.0.
    V2,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::V1 => "v1",
            Protocol::V2 => "v2",
        })
    }
}

/// A catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Builds, in file order.
    #[serde(rename = "build")]
    pub builds: Vec<Build>,
}

/// A firmware build.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// Unique name (`5.1.0-rc1`).
    pub name: String,
    /// Version the firmware reports, `major.minor.patch`.
    pub version: String,
    /// Board it is built for.
    pub board: Board,
    /// Wire protocol.
    pub protocol: Protocol,
    /// For people.
    #[serde(default)]
    pub notes: String,
    /// A release (the default) or a nightly: nightlies are listed with their series and
    /// left out of the default run.
    #[serde(default, skip_serializing_if = "Channel::is_release")]
    pub channel: Channel,
    /// How it is flashed (default: the OpenMV DFU bootloader for v2 builds, the legacy
    /// CDC bootloader for v1 builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flasher: Option<Flasher>,
    /// Its image files.
    #[serde(default, rename = "image", skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageRef>,
    /// Virtual-camera behaviour (simulated builds only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sim: Option<SimBehaviour>,
    /// Its places in ordered series of builds (nightlies, release branches), so a user
    /// catalog can order builds without renaming them.
    #[serde(default, rename = "series", skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<SeriesPlace>,
}

/// Where a build comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// A release or release candidate.
    #[default]
    Release,
    /// An automatic (nightly) build between releases.
    Nightly,
}

impl Channel {
    fn is_release(&self) -> bool {
        *self == Channel::Release
    }
}

/// A build's place in a named, ordered series of builds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesPlace {
    /// The series (`5.1-nightly`).
    pub name: String,
    /// Its place: a build number, or text that sorts as its order does (an ISO date
    /// `2026-11-03`, a timestamp). One kind per series.
    pub order: SeriesOrder,
    /// The source commit it was built from, when known (shown in lists and reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// Where a build stands in its series.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SeriesOrder {
    /// A build number.
    Number(i64),
    /// Text ordered as text: an ISO date or timestamp.
    Text(String),
}

impl std::fmt::Display for SeriesOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SeriesOrder::Number(n) => write!(f, "{n}"),
            SeriesOrder::Text(t) => f.write_str(t),
        }
    }
}

/// How a build reaches the camera.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flasher {
    /// The OpenMV DFU bootloader (firmware ≥ 4.6): DFU 1.1, one alternate setting per partition.
    OpenmvDfu,
    /// The legacy CDC bootloader (≤ 4.5.x) over the serial port.
    CdcBootloader,
    /// ST's ROM system DFU (DfuSe), for recovery.
    StDfu,
    /// NXP's ROM bootloader (the RT1060's only one), which visreg does not drive: such a
    /// build is flashed with OpenMV IDE or NXP's tools.
    NxpRom,
}

impl std::fmt::Display for Flasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Flasher::OpenmvDfu => "openmv-dfu",
            Flasher::CdcBootloader => "cdc-bootloader",
            Flasher::StDfu => "st-dfu",
            Flasher::NxpRom => "nxp-rom (NXP's ROM bootloader)",
        })
    }
}

/// One image file of a build: a raw image for one partition (`file` + `partition`) or a
/// DfuSe file (`dfu`). `file = "sim"` is the simulated image visreg generates for the
/// build. Relative paths are relative to the catalog file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageRef {
    /// Partition a raw image goes to (`FIRMWARE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// A raw `.bin` (or `sim`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// A DfuSe `.dfu` file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dfu: Option<String>,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: String,
}

/// The payload size of simulated firmware images.
pub const SIM_IMAGE_PAYLOAD: usize = 256 * 1024;

impl Build {
    /// The flasher, explicit or by generation and board: the legacy CDC bootloader up to
    /// 4.5.x, the OpenMV DFU bootloader from 4.6.0, NXP's ROM bootloader on the RT1062.
    pub fn flasher(&self) -> Flasher {
        self.flasher
            .unwrap_or_else(|| self.generation().bootloader(self.board))
    }

    /// The firmware generation of the build's version (a version that does not parse is
    /// refused when the catalog is read; its protocol decides then).
    pub fn generation(&self) -> crate::generation::Generation {
        use crate::generation::Generation;
        match self.version_triple() {
            Ok(v) => Generation::of_version(v.map(u32::from)),
            Err(_) => match self.protocol {
                Protocol::V2 => Generation::V2,
                Protocol::V1 => Generation::DfuV1,
            },
        }
    }

    /// Refuses a build whose bootloader visreg cannot drive, before any camera is touched.
    pub fn check_flasher(&self) -> Result<(), CatalogError> {
        match self.flasher() {
            Flasher::NxpRom => Err(CatalogError::NotFlashable {
                build: self.name.clone(),
                flasher: Flasher::NxpRom,
                why: "the RT1062 has no OpenMV DFU bootloader: `machine.bootloader()` enters NXP's ROM bootloader, ports/mimxrt/mimxrt_hal.c at v5.0.0",
            }),
            Flasher::OpenmvDfu | Flasher::CdcBootloader | Flasher::StDfu => Ok(()),
        }
    }

    /// Reads (or, for `sim`, generates) every image of the build from `base`, checks its
    /// SHA-256, and plans its writes — refusing, with the reason, anything a camera must
    /// not receive. Nothing is written here. This is the one preflight: `firmware check`
    /// and `show` report it, and `flash`, `run`, `lab`, `bisect` and `recover` run it
    /// before a camera is touched.
    pub fn plan(&self, base: &std::path::Path) -> Result<Vec<crate::image::Write>, CatalogError> {
        if self.images.is_empty() {
            return Err(CatalogError::Invalid(format!(
                "build {} lists no image files",
                self.name
            )));
        }
        let mut writes = Vec::new();
        // Which image each write came from, to name both when two write one partition.
        let mut from = Vec::new();
        for img in &self.images {
            let (what, bytes) = match (&img.file, &img.dfu) {
                (Some(f), None) if f == "sim" => (
                    "sim".to_string(),
                    crate::image::sim::sim_image(self, SIM_IMAGE_PAYLOAD),
                ),
                (Some(f), None) | (None, Some(f)) => {
                    let path = base.join(f);
                    let bytes = std::fs::read(&path).map_err(|e| {
                        CatalogError::Invalid(format!(
                            "build {}: {}: {e}",
                            self.name,
                            path.display()
                        ))
                    })?;
                    (path.display().to_string(), bytes)
                }
                _ => {
                    return Err(CatalogError::Invalid(format!(
                        "build {}: an image has either `file` (with `partition`) or `dfu`",
                        self.name
                    )))
                }
            };
            let ctx = |e: crate::image::ImageError| {
                CatalogError::Invalid(format!("build {} ({what}): {e}", self.name))
            };
            crate::image::check_sha256(&bytes, &img.sha256).map_err(ctx)?;
            let planned = match (&img.dfu, &img.partition) {
                (Some(_), _) => crate::image::plan_dfuse(&bytes, self.board),
                (None, Some(p)) => crate::image::plan_raw(&bytes, self.board, p),
                (None, None) => {
                    return Err(CatalogError::Invalid(format!(
                        "build {}: raw image {what} names no `partition`",
                        self.name
                    )))
                }
            }
            .map_err(ctx)?;
            from.extend(std::iter::repeat_n(what, planned.len()));
            writes.extend(planned);
        }
        let refuse = |e: crate::image::ImageError| {
            CatalogError::Invalid(format!("build {}: {e}", self.name))
        };
        match crate::image::check_dfu_writes(self.board, &writes) {
            Ok(()) => {}
            Err(crate::image::ImageError::PartitionTwice {
                partition,
                first,
                second,
            }) if from[first] != from[second] => {
                return Err(CatalogError::Invalid(format!(
                    "build {}: partition {partition} is written by two images, {} and {}: a partition takes one image, written from its start; list one",
                    self.name, from[first], from[second]
                )))
            }
            Err(e) => return Err(refuse(e)),
        }
        if self.flasher() == Flasher::CdcBootloader {
            crate::image::check_cdc_writes(&writes).map_err(refuse)?;
        }
        Ok(writes)
    }

    /// The version as three numbers.
    pub fn version_triple(&self) -> Result<[u8; 3], CatalogError> {
        let parts: Vec<&str> = self.version.split('.').collect();
        let nums: Option<Vec<u8>> = parts.iter().map(|p| p.parse().ok()).collect();
        match nums {
            Some(n) if n.len() == 3 => Ok([n[0], n[1], n[2]]),
            _ => Err(CatalogError::Invalid(format!(
                "build {}: version '{}' is not major.minor.patch",
                self.name, self.version
            ))),
        }
    }
}

/// How the virtual camera behaves for a simulated build.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimBehaviour {
    /// Fixed cost of one find_apriltags call, µs.
    pub base_us: f64,
    /// Cost per thousand pixels, µs.
    pub per_kpixel_us: f64,
    /// Cost per tag found, µs.
    pub per_tag_us: f64,
    /// Relative σ of run-to-run noise.
    pub jitter: f64,
    /// Planted defects.
    #[serde(default, rename = "defect")]
    pub defects: Vec<Defect>,
}

/// A planted defect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Defect {
    /// find_apriltags takes `factor` times as long.
    Slow {
        /// Multiplier on the latency model.
        factor: f64,
    },
    /// Tags are found but every pose field is NaN: "find_apriltags works but the 3D
    /// pose finds nothing".
    PoseBroken,
    /// The firmware faults at start-up and never answers: the camera is left in its DFU
    /// bootloader (a build that "bricks" the board until it is flashed again).
    BootFail,
    /// Tags seen at more than this angle (between their normal and the line of sight)
    /// are lost.
    AngleLimit {
        /// Largest view angle still found, degrees.
        max_view_angle_deg: f64,
    },
    /// Some frames take `factor` times as long: those whose pixel content hashes into
    /// the top `fraction` (FNV-1a of the pixels), so the very same frames are slow on
    /// every repetition and every run — a slow path only some scenes take, which moves
    /// the latency's tail and not its median.
    TailSlow {
        /// Share of frames affected, 0–1.
        fraction: f64,
        /// Multiplier on their latency model.
        factor: f64,
    },
}

/// Errors of catalogs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogError {
    /// The catalog text is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The build's bootloader is one visreg does not drive.
    #[error("build {build} is flashed through {flasher}, which visreg does not drive ({why}): flash it with OpenMV IDE, then check it with `visreg verify`")]
    NotFlashable {
        /// The build.
        build: String,
        /// Its flasher.
        flasher: Flasher,
        /// Why, from the source.
        why: &'static str,
    },
    /// No build of that name.
    #[error("no firmware build named '{name}' (known: {known})")]
    UnknownBuild {
        /// The name asked for.
        name: String,
        /// The names there are.
        known: String,
    },
}

impl Catalog {
    /// Parses catalog text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, CatalogError> {
        let c: Catalog = toml::from_str(text).map_err(|e| {
            CatalogError::Invalid(format!("{origin}: {}", e.to_string().trim_end()))
        })?;
        let mut seen = std::collections::HashSet::new();
        for b in &c.builds {
            if !seen.insert(b.name.as_str()) {
                return Err(CatalogError::Invalid(format!(
                    "{origin}: build '{}' is listed twice",
                    b.name
                )));
            }
            b.version_triple()
                .map_err(|e| CatalogError::Invalid(format!("{origin}: {e}")))?;
            // The version decides the protocol (crate::generation): a build that says
            // otherwise would be spoken to in the wrong protocol.
            let g = b.generation();
            if g.protocol() != b.protocol {
                return Err(CatalogError::Invalid(format!(
                    "{origin}: build '{}' is version {}, whose firmware speaks protocol {} (generation {g}), but the catalog says protocol {}: correct `protocol` or `version`",
                    b.name,
                    b.version,
                    g.protocol(),
                    b.protocol
                )));
            }
        }
        for name in c.series_names() {
            let places: Vec<(&Build, &SeriesPlace)> = c.places(&name);
            let numbers = places
                .iter()
                .filter(|(_, p)| matches!(p.order, SeriesOrder::Number(_)))
                .count();
            if numbers != 0 && numbers != places.len() {
                return Err(CatalogError::Invalid(format!(
                    "{origin}: series '{name}' mixes build numbers and text orders: give every build of it one kind"
                )));
            }
            for w in places.windows(2) {
                if w[0].1.order == w[1].1.order {
                    return Err(CatalogError::Invalid(format!(
                        "{origin}: builds '{}' and '{}' share place {} in series '{name}': each place holds one build",
                        w[0].0.name, w[1].0.name, w[0].1.order
                    )));
                }
            }
            if let Some(b) = c
                .builds
                .iter()
                .find(|b| b.series.iter().filter(|p| p.name == name).count() > 1)
            {
                return Err(CatalogError::Invalid(format!(
                    "{origin}: build '{}' has two places in series '{name}'",
                    b.name
                )));
            }
        }
        Ok(c)
    }

    /// The names of the series the catalog's builds belong to, sorted.
    pub fn series_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .builds
            .iter()
            .flat_map(|b| b.series.iter().map(|p| p.name.clone()))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The builds of series `name` with their places, in series order.
    fn places(&self, name: &str) -> Vec<(&Build, &SeriesPlace)> {
        let mut v: Vec<(&Build, &SeriesPlace)> = self
            .builds
            .iter()
            .flat_map(|b| {
                b.series
                    .iter()
                    .filter(|p| p.name == name)
                    .map(move |p| (b, p))
            })
            .collect();
        v.sort_by(|a, b| a.1.order.cmp(&b.1.order));
        v
    }

    /// The builds of series `name`, in order, with their places.
    pub fn series(&self, name: &str) -> Result<Vec<(&Build, &SeriesPlace)>, CatalogError> {
        let v = self.places(name);
        if v.is_empty() {
            let known = self.series_names();
            return Err(CatalogError::Invalid(format!(
                "no series named '{name}' ({})",
                if known.is_empty() {
                    "the catalog orders no builds: give builds a [[build.series]] place".to_string()
                } else {
                    format!("known: {}", known.join(", "))
                }
            )));
        }
        Ok(v)
    }

    /// The builds from `good` to `bad`, both included, in the order of the one series
    /// holding both (`series` names it when several do). `good` must come first.
    pub fn range(
        &self,
        good: &str,
        bad: &str,
        series: Option<&str>,
    ) -> Result<(String, Vec<Build>), CatalogError> {
        self.build(good)?;
        self.build(bad)?;
        if good == bad {
            return Err(CatalogError::Invalid(format!(
                "--good and --bad are both {good}: name two builds of one series"
            )));
        }
        let shared: Vec<String> = self
            .series_names()
            .into_iter()
            .filter(|s| series.is_none_or(|want| want == s))
            .filter(|s| {
                let p = self.places(s);
                p.iter().any(|(b, _)| b.name == good) && p.iter().any(|(b, _)| b.name == bad)
            })
            .collect();
        let name = match (shared.as_slice(), series) {
            ([one], _) => one.clone(),
            ([], Some(s)) => {
                self.series(s)?;
                return Err(CatalogError::Invalid(format!(
                    "series '{s}' does not hold both {good} and {bad}: `visreg firmware list --series {s}` shows what it holds"
                )));
            }
            ([], None) => {
                return Err(CatalogError::Invalid(format!(
                    "no series holds both {good} and {bad}: give both a [[build.series]] place in one series (`visreg firmware list` shows the series there are)"
                )))
            }
            (many, _) => {
                return Err(CatalogError::Invalid(format!(
                    "{good} and {bad} are both in series {}: choose one with --series",
                    many.join(", ")
                )))
            }
        };
        let places = self.places(&name);
        let at = |n: &str| {
            places
                .iter()
                .position(|(b, _)| b.name == n)
                .expect("in series")
        };
        let (g, b) = (at(good), at(bad));
        if g > b {
            return Err(CatalogError::Invalid(format!(
                "in series '{name}' the good build {good} comes after the bad build {bad}: a bisect looks for where a regression began, so --good names the older build"
            )));
        }
        Ok((
            name,
            places[g..=b].iter().map(|(b, _)| (*b).clone()).collect(),
        ))
    }

    /// Reads a user catalog file.
    pub fn load(path: &std::path::Path) -> Result<Self, CatalogError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CatalogError::Invalid(format!("{}: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The catalog shipped with visreg.
    pub fn builtin() -> Self {
        Self::parse(BUILTIN_CATALOG, "firmware/catalog.toml")
            .expect("the built-in catalog is valid")
    }

    /// The build called `name`.
    pub fn build(&self, name: &str) -> Result<&Build, CatalogError> {
        self.builds
            .iter()
            .find(|b| b.name == name)
            .ok_or_else(|| CatalogError::UnknownBuild {
                name: name.to_string(),
                known: self
                    .builds
                    .iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_has_clean_and_defective_builds() {
        let c = Catalog::builtin();
        assert!(c.builds.len() >= 6);
        let defects: Vec<_> = c
            .builds
            .iter()
            .flat_map(|b| b.sim.as_ref().unwrap().defects.clone())
            .collect();
        assert!(defects.iter().any(|d| matches!(d, Defect::Slow { .. })));
        assert!(defects.contains(&Defect::PoseBroken));
        assert!(defects
            .iter()
            .any(|d| matches!(d, Defect::AngleLimit { .. })));
        assert_eq!(c.build("4.5.9").unwrap().protocol, Protocol::V1);
        assert_eq!(
            c.build("5.0.0").unwrap().version_triple().unwrap(),
            [5, 0, 0]
        );
        let e = c.build("9.9.9").unwrap_err().to_string();
        assert!(
            e.contains("no firmware build named '9.9.9'") && e.contains("5.0.0"),
            "{e}"
        );
    }

    #[test]
    fn bad_catalogs_are_refused_with_the_reason() {
        let e = Catalog::parse(
            "[[build]]\nname='a'\nversion='5.0'\nboard='H7'\nprotocol='v2'\n",
            "x.toml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("not major.minor.patch"), "{e}");
        let e = Catalog::parse(
            "[[build]]\nname='a'\nversion='5.0.0'\nboard='Z9'\nprotocol='v2'\n",
            "x.toml",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("x.toml:"), "{e}");
    }
}

#[cfg(test)]
mod series_tests {
    use super::*;

    fn catalog(places: &[(&str, &str, &str)]) -> Result<Catalog, CatalogError> {
        let mut text = String::new();
        for (name, series, order) in places {
            text += &format!(
                "[[build]]\nname = '{name}'\nversion = '5.0.0'\nboard = 'H7'\nprotocol = 'v2'\n"
            );
            for (s, o) in series.split(',').zip(order.split(',')) {
                text += &format!("[[build.series]]\nname = '{s}'\norder = {o}\n");
            }
        }
        Catalog::parse(&text, "c.toml")
    }

    #[test]
    fn a_series_lists_its_builds_in_order_not_in_file_order() {
        let c = catalog(&[
            ("b", "n", "'2026-11-02'"),
            ("a", "n", "'2026-11-01'"),
            ("c", "n", "'2026-11-03'"),
        ])
        .unwrap();
        let names: Vec<&str> = c
            .series("n")
            .unwrap()
            .iter()
            .map(|(b, _)| b.name.as_str())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        // Build numbers sort as numbers, not as text (10 after 9).
        let c = catalog(&[("x", "n", "10"), ("y", "n", "9")]).unwrap();
        let names: Vec<&str> = c
            .series("n")
            .unwrap()
            .iter()
            .map(|(b, _)| b.name.as_str())
            .collect();
        assert_eq!(names, ["y", "x"]);
        let e = c.series("m").unwrap_err().to_string();
        assert!(
            e.contains("no series named 'm'") && e.contains("known: n"),
            "{e}"
        );
    }

    #[test]
    fn series_that_cannot_be_ordered_are_refused() {
        let e = catalog(&[("x", "n", "1"), ("y", "n", "'a'")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("mixes build numbers and text"), "{e}");
        let e = catalog(&[("x", "n", "1"), ("y", "n", "1")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("'x' and 'y' share place 1"), "{e}");
    }

    #[test]
    fn a_range_runs_from_good_to_bad_within_one_series() {
        let c = catalog(&[
            ("r1", "n,rel", "1,1"),
            ("n2", "n", "2"),
            ("n3", "n", "3"),
            ("r2", "n,rel", "4,2"),
        ])
        .unwrap();
        let e = c.range("r1", "r2", None).unwrap_err().to_string();
        assert!(
            e.contains("both in series n, rel: choose one with --series"),
            "{e}"
        );
        let (name, r) = c.range("r1", "r2", Some("n")).unwrap();
        let names: Vec<&str> = r.iter().map(|b| b.name.as_str()).collect();
        assert_eq!((name.as_str(), names), ("n", vec!["r1", "n2", "n3", "r2"]));
        let (_, r) = c.range("n2", "r2", None).unwrap();
        assert_eq!(r.len(), 3);
        let e = c.range("r2", "r1", Some("n")).unwrap_err().to_string();
        assert!(e.contains("comes after the bad build"), "{e}");
        let e = c.range("n2", "n2", None).unwrap_err().to_string();
        assert!(e.contains("both n2"), "{e}");
        let e = c.range("n2", "r2", Some("rel")).unwrap_err().to_string();
        assert!(e.contains("does not hold both"), "{e}");
        assert!(c
            .range("n2", "zz", None)
            .unwrap_err()
            .to_string()
            .contains("no firmware build named 'zz'"));
    }

    #[test]
    fn the_shipped_nightly_series_runs_from_5_0_0_to_rc3_with_the_regressions_planted_inside() {
        let c = Catalog::builtin();
        let (_, r) = c.range("5.0.0", "5.1.0-rc3", None).unwrap();
        assert_eq!(r.len(), 18, "5.0.0, sixteen nightlies, rc3");
        let has =
            |b: &Build, f: &dyn Fn(&Defect) -> bool| b.sim.as_ref().unwrap().defects.iter().any(f);
        let lost = |b: &Build| has(b, &|d| matches!(d, Defect::AngleLimit { .. }));
        let slow = |b: &Build| has(b, &|d| matches!(d, Defect::Slow { .. }));
        // Each defect, once in, stays in: the series is bisectable on either.
        let first_lost = r.iter().position(lost).unwrap();
        let first_slow = r.iter().position(slow).unwrap();
        assert!(r[first_lost..].iter().all(lost) && !r[..first_lost].iter().any(lost));
        assert!(r[first_slow..].iter().all(slow) && !r[..first_slow].iter().any(slow));
        assert!(0 < first_lost && first_lost < first_slow && first_slow < 17);
        assert!(r[1..17].iter().all(|b| b.channel == Channel::Nightly));
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;

    #[test]
    fn every_builtin_build_plans_and_a_tampered_checksum_is_refused() {
        let c = Catalog::builtin();
        for b in &c.builds {
            let w = b.plan(std::path::Path::new(".")).unwrap();
            assert_eq!((w.len(), w[0].partition), (1, "FIRMWARE"), "{}", b.name);
        }
        let mut b = c.build("5.0.0").unwrap().clone();
        b.images[0].sha256 = "00".repeat(32);
        let e = b.plan(std::path::Path::new(".")).unwrap_err().to_string();
        assert!(e.contains("build 5.0.0 (sim): checksum mismatch"), "{e}");
    }

    #[test]
    fn user_catalogs_resolve_files_next_to_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fw.bin"), [1u8, 2, 3, 4]).unwrap();
        let text = format!(
            "[[build]]\nname = 'mine'\nversion = '5.2.0'\nboard = 'H7'\nprotocol = 'v2'\n[[build.image]]\npartition = 'FIRMWARE'\nfile = 'fw.bin'\nsha256 = '{}'\n",
            crate::image::sha256_hex(&[1, 2, 3, 4])
        );
        let path = dir.path().join("catalog.toml");
        std::fs::write(&path, text).unwrap();
        let c = Catalog::load(&path).unwrap();
        let b = c.build("mine").unwrap();
        assert_eq!(b.flasher(), Flasher::OpenmvDfu);
        assert_eq!(b.plan(dir.path()).unwrap()[0].data, vec![1, 2, 3, 4]);
        std::fs::remove_file(dir.path().join("fw.bin")).unwrap();
        assert!(b
            .plan(dir.path())
            .unwrap_err()
            .to_string()
            .contains("fw.bin"));
    }

    #[test]
    fn a_build_whose_images_write_one_partition_twice_or_that_its_flasher_cannot_write_is_refused()
    {
        let dir = tempfile::tempdir().unwrap();
        let raw = [1u8, 2, 3, 4];
        std::fs::write(dir.path().join("fw.bin"), raw).unwrap();
        let dfu = crate::image::dfuse::DfuseFile {
            targets: vec![crate::image::dfuse::Target {
                alt: 2,
                name: None,
                elements: vec![crate::image::dfuse::Element {
                    address: 0x0804_0000,
                    data: vec![9; 8],
                }],
            }],
            suffix: crate::image::dfuse::Suffix {
                bcd_device: 0xFFFF,
                product: 0x9204,
                vendor: 0x37C5,
                bcd_dfu: 0x011A,
            },
        }
        .write();
        std::fs::write(dir.path().join("fw.dfu"), &dfu).unwrap();
        let image = |lines: &str, bytes: &[u8]| {
            format!(
                "[[build.image]]\n{lines}\nsha256 = '{}'\n",
                crate::image::sha256_hex(bytes)
            )
        };
        let text = format!(
            "[[build]]\nname = 'both'\nversion = '5.2.0'\nboard = 'H7'\nprotocol = 'v2'\n{}{}",
            image("partition = 'FIRMWARE'\nfile = 'fw.bin'", &raw),
            image("dfu = 'fw.dfu'", &dfu),
        );
        let c = Catalog::parse(&text, "c.toml").unwrap();
        let e = c
            .build("both")
            .unwrap()
            .plan(dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("build both: partition FIRMWARE is written by two images")
                && e.contains("fw.bin")
                && e.contains("fw.dfu"),
            "{e}"
        );
        // A build for the legacy CDC bootloader writes FIRMWARE alone.
        let mut b = c.build("both").unwrap().clone();
        b.flasher = Some(Flasher::CdcBootloader);
        b.images.truncate(1);
        assert!(b.plan(dir.path()).is_ok());
        b.images[0].partition = Some("FILESYSTEM".into());
        let e = b.plan(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("build both: the legacy CDC bootloader")
                && e.contains("this plan writes FILESYSTEM"),
            "{e}"
        );
    }
}
