//! Change points in a metric's history: E-Divisive means (Matteson & James, 2014), as
//! MongoDB's and Apache Otava's performance CI use it. The divergence between the series
//! before and after a split τ is
//!
//! Q(τ) = (τ·(n−τ)/n) · [ 2/(τ(n−τ)) Σ|xᵢ−xⱼ| − 1/C(τ,2) Σ|xᵢ−xₖ| − 1/C(n−τ,2) Σ|xⱼ−xₖ| ]
//!
//! (first sum across the split, the others within each side; α = 1). The best split is
//! kept when a permutation test — the same statistic on shuffled series, with a fixed
//! seed — finds it significant; then each side is searched again (bisection), down to a
//! minimum segment length. Pure; O(n²) per split, for histories of hundreds of points.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Settings of the search.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangePointConfig {
    /// Significance of the permutation test.
    pub alpha: f64,
    /// Permutations per test.
    pub permutations: usize,
    /// Smallest number of points on either side of a change.
    pub min_segment: usize,
    /// Seed of the permutations.
    pub seed: u64,
}

impl Default for ChangePointConfig {
    fn default() -> Self {
        ChangePointConfig {
            alpha: 0.01,
            permutations: 199,
            min_segment: 4,
            seed: 0xC4A9,
        }
    }
}

/// A change point.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangePoint {
    /// Index of the first point after the change.
    pub index: usize,
    /// Mean of the segment before.
    pub mean_before: f64,
    /// Mean of the segment after.
    pub mean_after: f64,
    /// Permutation p-value.
    pub p_value: f64,
}

/// The best split of `x` and its Q, or `None` when no split leaves `min` points a side.
fn best_split(x: &[f64], min: usize) -> Option<(usize, f64)> {
    let n = x.len();
    if n < 2 * min.max(2) {
        return None;
    }
    // Prefix sums of pairwise distances would be faster; n is small, keep it plain.
    let mut best: Option<(usize, f64)> = None;
    for tau in min.max(2)..=n - min.max(2) {
        let (a, b) = x.split_at(tau);
        let (na, nb) = (a.len() as f64, b.len() as f64);
        let mut between = 0.0;
        for &p in a {
            for &q in b {
                between += (p - q).abs();
            }
        }
        let within = |s: &[f64]| {
            let mut t = 0.0;
            for i in 0..s.len() {
                for j in i + 1..s.len() {
                    t += (s[i] - s[j]).abs();
                }
            }
            t / (s.len() as f64 * (s.len() as f64 - 1.0) / 2.0)
        };
        let e = 2.0 * between / (na * nb) - within(a) - within(b);
        let q = na * nb / (na + nb) * e;
        if best.is_none_or(|(_, bq)| q > bq) {
            best = Some((tau, q));
        }
    }
    best
}

fn test_split(x: &[f64], cfg: &ChangePointConfig, rng: &mut ChaCha8Rng) -> Option<(usize, f64)> {
    let (tau, q) = best_split(x, cfg.min_segment)?;
    let mut shuffled = x.to_vec();
    let mut at_least = 0usize;
    for _ in 0..cfg.permutations {
        shuffled.shuffle(rng);
        if best_split(&shuffled, cfg.min_segment).is_some_and(|(_, qp)| qp >= q) {
            at_least += 1;
        }
    }
    let p = (at_least + 1) as f64 / (cfg.permutations + 1) as f64;
    (p < cfg.alpha).then_some((tau, p))
}

/// Every significant change point of `series`, in order.
pub fn change_points(series: &[f64], cfg: &ChangePointConfig) -> Vec<ChangePoint> {
    let x: Vec<f64> = series.iter().copied().filter(|v| v.is_finite()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut found = Vec::new();
    let mut segments = vec![(0usize, x.len())];
    while let Some((lo, hi)) = segments.pop() {
        if let Some((tau, p)) = test_split(&x[lo..hi], cfg, &mut rng) {
            found.push((lo + tau, p));
            segments.push((lo, lo + tau));
            segments.push((lo + tau, hi));
        }
    }
    found.sort_by_key(|f| f.0);
    let bounds: Vec<usize> = std::iter::once(0)
        .chain(found.iter().map(|f| f.0))
        .chain(std::iter::once(x.len()))
        .collect();
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len().max(1) as f64;
    found
        .iter()
        .enumerate()
        .map(|(i, &(index, p_value))| ChangePoint {
            index,
            mean_before: mean(&x[bounds[i]..index]),
            mean_after: mean(&x[index..bounds[i + 2]]),
            p_value,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Normal};

    fn noise(n: usize, mean: f64, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let d = Normal::new(mean, 1.0).unwrap();
        (0..n).map(|_| d.sample(&mut rng)).collect()
    }

    #[test]
    fn a_step_is_found_where_it_is() {
        let mut x = noise(40, 10.0, 1);
        x.extend(noise(30, 14.0, 2));
        let cps = change_points(&x, &ChangePointConfig::default());
        assert_eq!(cps.len(), 1, "{cps:?}");
        assert!((cps[0].index as i64 - 40).abs() <= 1, "{cps:?}");
        assert!(cps[0].mean_after - cps[0].mean_before > 3.0);
    }

    #[test]
    fn two_steps_are_found_by_bisection() {
        let mut x = noise(30, 10.0, 3);
        x.extend(noise(30, 15.0, 4));
        x.extend(noise(30, 9.0, 5));
        let idx: Vec<usize> = change_points(&x, &ChangePointConfig::default())
            .iter()
            .map(|c| c.index)
            .collect();
        assert_eq!(idx.len(), 2, "{idx:?}");
        assert!(
            (idx[0] as i64 - 30).abs() <= 2 && (idx[1] as i64 - 60).abs() <= 2,
            "{idx:?}"
        );
    }

    #[test]
    fn noise_alone_has_no_change_point_and_short_series_are_left_alone() {
        assert!(change_points(&noise(80, 10.0, 6), &ChangePointConfig::default()).is_empty());
        assert!(change_points(&[1.0, 9.0, 1.0], &ChangePointConfig::default()).is_empty());
    }
}
