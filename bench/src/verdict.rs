//! Candidate-versus-baseline verdicts, pure: a significance test (Mann-Whitney U, two
//! sided, normal approximation with tie and continuity corrections) **and** a practical
//! threshold must both agree before a metric is called regressed or improved — the rule
//! criterion.rs follows ("regressed only if p < significance and the whole interval lies
//! beyond the noise threshold"). The change and its interval come from a seeded
//! percentile bootstrap of the difference of the chosen statistic, so a verdict can be
//! recomputed exactly.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::stats::{mean, median};

/// Which way is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Latency, errors.
    Lower,
    /// Recall, pose coverage.
    Higher,
}

/// How a change is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Relative change of the median: `median(c) / median(b) − 1`.
    RelativeMedian,
    /// Absolute change of the mean, for proportions of 0/1 samples (percentage points / 100).
    AbsoluteMean,
}

/// The rule of one metric.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricRule {
    /// Which way is better.
    pub better: Better,
    /// How the change is measured.
    pub change: Change,
    /// The smallest change that matters (0.03 = 3 %, or 3 percentage points).
    pub threshold: f64,
}

/// Significance and resampling settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgeConfig {
    /// Significance level of the rank test.
    pub alpha: f64,
    /// Confidence of the interval.
    pub confidence: f64,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Smallest sample count per side for any verdict but inconclusive.
    pub min_samples: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig {
            alpha: 0.01,
            confidence: 0.95,
            resamples: 2000,
            min_samples: 8,
            seed: 0x5EED,
        }
    }
}

/// The verdict on one metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Worse, significantly and by more than the threshold.
    Regressed,
    /// Better, significantly and by more than the threshold.
    Improved,
    /// Confidently not worse than the threshold (and not a significant improvement).
    Unchanged,
    /// Too few samples, or a change that may or may not matter.
    Inconclusive,
}

/// A judgement with its numbers.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// The verdict.
    pub verdict: Verdict,
    /// Statistic of the baseline (median, or mean for proportions).
    pub baseline: Option<f64>,
    /// Statistic of the candidate.
    pub candidate: Option<f64>,
    /// The change (relative or absolute, per the rule).
    pub change: Option<f64>,
    /// Lower bound of its interval.
    pub ci_low: Option<f64>,
    /// Upper bound of its interval.
    pub ci_high: Option<f64>,
    /// Two-sided p-value of the Mann-Whitney U test.
    pub p_value: Option<f64>,
}

/// Two-sided p-value of the Mann-Whitney U test of `a` against `b` (normal
/// approximation, tie-corrected variance, continuity correction). `None` when a side is
/// empty; 1 when all values are equal.
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> Option<f64> {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let mut all: Vec<(f64, usize)> = a
        .iter()
        .map(|&x| (x, 0))
        .chain(b.iter().map(|&x| (x, 1)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let mut ranks = vec![0.0; n];
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for rank in ranks.iter_mut().take(j + 1).skip(i) {
            *rank = r;
        }
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let r1: f64 = all
        .iter()
        .zip(&ranks)
        .filter(|((_, g), _)| *g == 0)
        .map(|(_, r)| r)
        .sum();
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let u1 = r1 - n1f * (n1f + 1.0) / 2.0;
    let mu = n1f * n2f / 2.0;
    let var = n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)).max(1.0));
    if var <= 0.0 {
        return Some(1.0);
    }
    let z = ((u1 - mu).abs() - 0.5).max(0.0) / var.sqrt();
    Some((2.0 * (1.0 - standard_normal_cdf(z))).clamp(0.0, 1.0))
}

/// Φ(z) via the complementary error function (Abramowitz & Stegun 7.1.26 is too coarse
/// in the tails; this uses the W. J. Cody-style rational approximation of erfc).
fn standard_normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    // Numerical Recipes' erfcc: fractional error < 1.2e-7 everywhere.
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

fn statistic(x: &[f64], change: Change) -> Option<f64> {
    match change {
        Change::RelativeMedian => median(x),
        Change::AbsoluteMean => mean(x),
    }
}

fn change_of(b: f64, c: f64, change: Change) -> Option<f64> {
    match change {
        Change::RelativeMedian if b.abs() > f64::EPSILON => Some(c / b - 1.0),
        Change::RelativeMedian => None,
        Change::AbsoluteMean => Some(c - b),
    }
}

/// Judges `candidate` against `baseline` under `rule`.
pub fn judge(
    baseline: &[f64],
    candidate: &[f64],
    rule: &MetricRule,
    cfg: &JudgeConfig,
) -> Judgement {
    let b: Vec<f64> = baseline.iter().copied().filter(|x| x.is_finite()).collect();
    let c: Vec<f64> = candidate
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .collect();
    let (sb, sc) = (statistic(&b, rule.change), statistic(&c, rule.change));
    let change = match (sb, sc) {
        (Some(sb), Some(sc)) => change_of(sb, sc, rule.change),
        _ => None,
    };
    let p_value = mann_whitney_p(&b, &c);
    let inconclusive = Judgement {
        verdict: Verdict::Inconclusive,
        baseline: sb,
        candidate: sc,
        change,
        ci_low: None,
        ci_high: None,
        p_value,
    };
    if b.len() < cfg.min_samples || c.len() < cfg.min_samples || change.is_none() {
        return inconclusive;
    }
    // Percentile bootstrap of the change, both sides resampled independently.
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut boots = Vec::with_capacity(cfg.resamples);
    let (mut rb, mut rc) = (vec![0.0; b.len()], vec![0.0; c.len()]);
    for _ in 0..cfg.resamples {
        for x in rb.iter_mut() {
            *x = b[rng.gen_range(0..b.len())];
        }
        for x in rc.iter_mut() {
            *x = c[rng.gen_range(0..c.len())];
        }
        if let (Some(x), Some(y)) = (statistic(&rb, rule.change), statistic(&rc, rule.change)) {
            if let Some(d) = change_of(x, y, rule.change) {
                boots.push(d);
            }
        }
    }
    let tail = (1.0 - cfg.confidence) / 2.0;
    let (lo, hi) = (
        crate::stats::quantile(&boots, tail),
        crate::stats::quantile(&boots, 1.0 - tail),
    );
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return inconclusive;
    };
    let significant = p_value.is_some_and(|p| p < cfg.alpha);
    let t = rule.threshold;
    // Express the interval so that positive means "worse".
    let (worse_lo, worse_hi) = match rule.better {
        Better::Lower => (lo, hi),
        Better::Higher => (-hi, -lo),
    };
    let verdict = if significant && worse_lo > t {
        Verdict::Regressed
    } else if significant && worse_hi < -t {
        Verdict::Improved
    } else if worse_hi < t {
        Verdict::Unchanged
    } else {
        Verdict::Inconclusive
    };
    Judgement {
        verdict,
        baseline: sb,
        candidate: sc,
        change,
        ci_low: Some(lo),
        ci_high: Some(hi),
        p_value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Normal};

    fn samples(n: usize, mean: f64, sd: f64, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let d = Normal::new(mean, sd).unwrap();
        (0..n).map(|_| d.sample(&mut rng)).collect()
    }

    const LATENCY: MetricRule = MetricRule {
        better: Better::Lower,
        change: Change::RelativeMedian,
        threshold: 0.03,
    };
    const RECALL: MetricRule = MetricRule {
        better: Better::Higher,
        change: Change::AbsoluteMean,
        threshold: 0.02,
    };

    #[test]
    fn mann_whitney_matches_known_values() {
        // Identical samples: no evidence.
        assert!((mann_whitney_p(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]).unwrap() - 1.0).abs() < 1e-6);
        // Complete separation of 10 vs 10: exact two-sided p = 2 / C(20,10) = 1.08e-5; the
        // normal approximation with continuity correction gives about 1.8e-4.
        let a: Vec<f64> = (0..10).map(f64::from).collect();
        let b: Vec<f64> = (10..20).map(f64::from).collect();
        let p = mann_whitney_p(&a, &b).unwrap();
        assert!(p < 5e-4 && p > 1e-5, "{p}");
        assert_eq!(mann_whitney_p(&[], &[1.0]), None);
        assert!((standard_normal_cdf(1.96) - 0.975).abs() < 1e-4);
    }

    #[test]
    fn a_slower_candidate_is_a_regression_and_a_faster_one_an_improvement() {
        let base = samples(200, 40.0, 0.8, 1);
        let slow = samples(200, 50.0, 1.0, 2);
        let j = judge(&base, &slow, &LATENCY, &JudgeConfig::default());
        assert_eq!(j.verdict, Verdict::Regressed, "{j:?}");
        assert!((j.change.unwrap() - 0.25).abs() < 0.02);
        assert!(j.ci_low.unwrap() > 0.2 && j.ci_high.unwrap() < 0.3);
        let fast = samples(200, 30.0, 0.8, 3);
        assert_eq!(
            judge(&base, &fast, &LATENCY, &JudgeConfig::default()).verdict,
            Verdict::Improved
        );
    }

    #[test]
    fn the_same_build_twice_is_unchanged_and_tiny_samples_are_inconclusive() {
        let a = samples(200, 40.0, 0.8, 4);
        let b = samples(200, 40.0, 0.8, 5);
        assert_eq!(
            judge(&a, &b, &LATENCY, &JudgeConfig::default()).verdict,
            Verdict::Unchanged
        );
        assert_eq!(
            judge(&a[..3], &b[..3], &LATENCY, &JudgeConfig::default()).verdict,
            Verdict::Inconclusive
        );
    }

    #[test]
    fn significance_alone_is_not_enough() {
        // A significant but 1 % shift stays under the 3 % threshold: not a regression.
        let a = samples(2000, 40.0, 0.2, 6);
        let b = samples(2000, 40.4, 0.2, 7);
        let j = judge(&a, &b, &LATENCY, &JudgeConfig::default());
        assert!(j.p_value.unwrap() < 1e-6);
        assert_eq!(j.verdict, Verdict::Unchanged, "{j:?}");
    }

    #[test]
    fn a_drop_in_recall_is_a_regression_in_percentage_points() {
        let base: Vec<f64> = (0..300)
            .map(|i| if i % 50 == 0 { 0.0 } else { 1.0 })
            .collect(); // 98 %
        let cand: Vec<f64> = (0..300)
            .map(|i| if i % 5 == 0 { 0.0 } else { 1.0 })
            .collect(); // 80 %
        let j = judge(&base, &cand, &RECALL, &JudgeConfig::default());
        assert_eq!(j.verdict, Verdict::Regressed, "{j:?}");
        assert!((j.change.unwrap() + 0.18).abs() < 1e-9);
    }

    #[test]
    fn verdicts_are_reproducible() {
        let a = samples(50, 10.0, 1.0, 8);
        let b = samples(50, 10.5, 1.0, 9);
        let cfg = JudgeConfig::default();
        assert_eq!(judge(&a, &b, &LATENCY, &cfg), judge(&a, &b, &LATENCY, &cfg));
    }
}
