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
    /// Virtual-camera behaviour (simulated builds only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sim: Option<SimBehaviour>,
}

impl Build {
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
    /// Tags seen at more than this angle (between their normal and the line of sight)
    /// are lost.
    AngleLimit {
        /// Largest view angle still found, degrees.
        max_view_angle_deg: f64,
    },
}

/// Errors of catalogs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogError {
    /// The catalog text is not valid.
    #[error("{0}")]
    Invalid(String),
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
        }
        Ok(c)
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
