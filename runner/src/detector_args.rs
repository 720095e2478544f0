//! Detector options shared by `detect` and `eval`: visreg's reference settings unless
//! overridden, every value recorded with the results.

use clap::Args;
use visreg_apriltag::{DetectorSettings, Family};

/// Detector overrides.
#[derive(Debug, Args)]
#[command(next_help_heading = "Detector settings (default: visreg's reference settings)")]
pub struct DetectorArgs {
    /// Tag family (detect: default tag36h11; eval: the dataset's).
    #[arg(long)]
    pub family: Option<String>,
    /// Find quads on an image decimated by this factor [reference: 1].
    #[arg(long)]
    pub quad_decimate: Option<f32>,
    /// Gaussian blur σ before quad detection, pixels [reference: 0].
    #[arg(long)]
    pub quad_sigma: Option<f32>,
    /// Do not refine quad edges [reference: refine].
    #[arg(long)]
    pub no_refine_edges: bool,
    /// Decode sharpening [reference: 0.25].
    #[arg(long)]
    pub decode_sharpening: Option<f64>,
    /// Bits the decoder may correct, 0-3 [reference: 0 for tag16h5, 1 for tagCircle21h7, else 2].
    #[arg(long)]
    pub max_hamming: Option<u32>,
}

impl DetectorArgs {
    /// The family asked for, if any.
    pub fn family(&self) -> anyhow::Result<Option<Family>> {
        self.family
            .as_deref()
            .map(|f| f.parse::<Family>().map_err(anyhow::Error::from))
            .transpose()
    }

    /// Settings for `family`.
    pub fn settings(&self, family: Family) -> DetectorSettings {
        let r = DetectorSettings::reference(family);
        DetectorSettings {
            quad_decimate: self.quad_decimate.unwrap_or(r.quad_decimate),
            quad_sigma: self.quad_sigma.unwrap_or(r.quad_sigma),
            refine_edges: r.refine_edges && !self.no_refine_edges,
            decode_sharpening: self.decode_sharpening.unwrap_or(r.decode_sharpening),
            max_hamming: self.max_hamming.unwrap_or(r.max_hamming),
            ..r
        }
    }
}
