//! Change points in a metric's history: E-Divisive means (Matteson & James, 2014), as
//! MongoDB's and Apache Otava's performance CI use it, with the statistic of MongoDB's
//! `signal-processing-algorithms` (its `e_divisive`) so the two agree split for split:
//! for a split τ of n points into X (τ points) and Y (m = n − τ),
//!
//! Q(τ) = (τ·m/n) · [ 2/(τ·m) Σ|xᵢ−yⱼ| − 1/τ² Σᵢ,ₖ|xᵢ−xₖ| − 1/m² Σⱼ,ₗ|yⱼ−yₗ| ]
//!
//! (within-sums over ordered pairs, the V-statistic form; α = 1). The best split is kept
//! when a permutation test finds it significant; then each side is searched again
//! (bisection), down to a minimum segment length. The permutations are seeded from the
//! series itself, so each series gets its own draw and the same series always the same
//! answer; a permutation "ties" the observed Q within a relative 1e-9, so float rounding
//! of an equal arrangement cannot decide. Pure; O(n²) per split via running sums.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Settings of the search.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangePointConfig {
    /// Significance of the permutation test.
    pub alpha: f64,
    /// Permutations per test. With 999 the smallest p is 0.001, so a p < 0.01 decision
    /// allows 9 permutations at least as extreme instead of none (with 199, one stray
    /// permutation hid half of the steps in a history's last 3 points).
    pub permutations: usize,
    /// Smallest number of points on either side of a change.
    pub min_segment: usize,
    /// Basis of the per-series seed of the permutations.
    pub seed: u64,
}

impl Default for ChangePointConfig {
    fn default() -> Self {
        ChangePointConfig {
            alpha: 0.01,
            permutations: 999,
            min_segment: 3,
            seed: 0xC4A9,
        }
    }
}

/// A change point.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangePoint {
    /// Index, in the series as given (missing values included), of the first point
    /// after the change.
    pub index: usize,
    /// Mean of the segment before.
    pub mean_before: f64,
    /// Mean of the segment after.
    pub mean_after: f64,
    /// Permutation p-value.
    pub p_value: f64,
}

/// Q(τ) for every split τ of `x` (index τ: the first point of Y), as
/// `signal-processing-algorithms`' `_calculate_t_stats`; Q(0) = 0.
pub fn q_values(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut q = vec![0.0; n];
    // Running sums over unordered pairs: within X, within Y, across.
    let (mut within_x, mut across) = (0.0, 0.0);
    let mut within_y = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            within_y += (x[i] - x[j]).abs();
        }
    }
    for tau in 0..n {
        let (t, m) = (tau as f64, (n - tau) as f64);
        if tau > 0 {
            let e = 2.0 * across / (t * m) - 2.0 * within_x / (t * t) - 2.0 * within_y / (m * m);
            q[tau] = t * m / (t + m) * e;
        }
        // Move point τ from Y to X.
        let to_x: f64 = x[..tau].iter().map(|v| (v - x[tau]).abs()).sum();
        let to_y: f64 = x[tau + 1..].iter().map(|v| (v - x[tau]).abs()).sum();
        within_x += to_x;
        within_y -= to_y;
        across += to_y - to_x;
    }
    q
}

/// The best split of `x` and its Q, or `None` when no split leaves `min` points a side.
fn best_split(x: &[f64], min: usize) -> Option<(usize, f64)> {
    let n = x.len();
    let min = min.max(1);
    if n < 2 * min {
        return None;
    }
    let q = q_values(x);
    // Ties go to the earliest split, so the answer does not depend on float noise order.
    (min..=n - min).fold(None, |best: Option<(usize, f64)>, tau| match best {
        Some((_, bq)) if q[tau] <= bq => best,
        _ => Some((tau, q[tau])),
    })
}

fn test_split(x: &[f64], cfg: &ChangePointConfig) -> Option<(usize, f64)> {
    let (tau, q) = best_split(x, cfg.min_segment)?;
    let seed = x.iter().fold(cfg.seed, |h, v| {
        visreg_datasets::hash::fnv1a(h, &v.to_bits().to_le_bytes())
    });
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut shuffled = x.to_vec();
    let tie = q - 1e-9 * q.abs();
    let mut at_least = 0usize;
    for _ in 0..cfg.permutations {
        shuffled.shuffle(&mut rng);
        if best_split(&shuffled, cfg.min_segment).is_some_and(|(_, qp)| qp >= tie) {
            at_least += 1;
        }
    }
    let p = (at_least + 1) as f64 / (cfg.permutations + 1) as f64;
    (p < cfg.alpha).then_some((tau, p))
}

/// Every significant change point of `series`, in order. Missing values (NaN, ±∞) are
/// left out of the search, and the indices refer to `series` as given.
pub fn change_points(series: &[f64], cfg: &ChangePointConfig) -> Vec<ChangePoint> {
    let at: Vec<usize> = (0..series.len())
        .filter(|&i| series[i].is_finite())
        .collect();
    let x: Vec<f64> = at.iter().map(|&i| series[i]).collect();
    let mut found = Vec::new();
    let mut segments = vec![(0usize, x.len())];
    while let Some((lo, hi)) = segments.pop() {
        if let Some((tau, p)) = test_split(&x[lo..hi], cfg) {
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
            index: at[index],
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
    fn q_by_hand() {
        // [0, 0, 1, 1] split at 2: across 4·1, within 0: Q = (2·2/4)·(2·4/4) = 2.
        let q = q_values(&[0.0, 0.0, 1.0, 1.0]);
        assert!((q[2] - 2.0).abs() < 1e-12, "{q:?}");
        assert_eq!(q[0], 0.0);
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
    fn indices_refer_to_the_series_with_its_missing_values() {
        let mut x = noise(20, 10.0, 7);
        x.extend(noise(20, 20.0, 8));
        let plain = change_points(&x, &ChangePointConfig::default());
        assert_eq!(plain.iter().map(|c| c.index).collect::<Vec<_>>(), [20]);
        // Three missing values before the step move it three places on.
        let mut gappy = x.clone();
        for i in [2, 5, 11] {
            gappy.insert(i, f64::NAN);
        }
        let cps = change_points(&gappy, &ChangePointConfig::default());
        assert_eq!(cps.iter().map(|c| c.index).collect::<Vec<_>>(), [23]);
        assert!(gappy[23] > 15.0 && gappy[22] < 15.0);
    }

    #[test]
    fn noise_alone_has_no_change_point_and_short_series_are_left_alone() {
        assert!(change_points(&noise(80, 10.0, 6), &ChangePointConfig::default()).is_empty());
        assert!(change_points(&[1.0, 9.0, 1.0], &ChangePointConfig::default()).is_empty());
    }
}
