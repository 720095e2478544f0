//! Candidate-versus-baseline verdicts, pure. A verdict is only as good as what it counts
//! as evidence, so the samples here are **paired independent units**: the baseline's and
//! the candidate's result on the same unit (a frame, a truth tag, a live capture) sit at
//! the same index. Replaying a dataset shows every build the very same pixels, so the
//! frame is the unit of latency (its repetitions summarised by their median before they
//! get here) and the tag the unit of accuracy, whatever the repetitions.
//!
//! The tests are exact or asymptotic, never resampled, so a verdict cannot flip with a
//! seed: the Wilcoxon signed-rank test (exact for ≤ 50 untied differences, as scipy's
//! `method="auto"`), McNemar's exact test for paired found/lost outcomes (scipy's
//! `binomtest` on the discordant pairs). Intervals come from the same family:
//! the Hodges–Lehmann interval (Walsh averages, inverted signed-rank test), the Wald
//! interval of a paired difference of proportions, Student's t interval of a mean
//! difference.
//!
//! A build's primary checks are one family: their one-sided "worse" p-values go through
//! a weighted Holm procedure at [`JudgeConfig::alpha`], so the chance that a build that
//! has not changed is called regressed on any check is at most `alpha`. A check is
//! *regressed* when Holm rejects it **and** its estimated change is beyond its threshold
//! on the worse side (the rule airspeed velocity uses); *improved* likewise on the better
//! side; *unchanged* when the interval's worse end stays inside the threshold;
//! *inconclusive* otherwise or with fewer than [`JudgeConfig::min_units`] units.

use serde::{Deserialize, Serialize};
use statrs::distribution::{Binomial, ContinuousCDF, DiscreteCDF, Normal, StudentsT};

use crate::stats::{mean, median, quantile};

/// Which way is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Latency, errors.
    Lower,
    /// Recall, pose coverage.
    Higher,
}

/// How a change is measured (and so which paired test judges it).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Relative change of a positive measure: the Hodges–Lehmann estimate of the
    /// per-unit log ratio, `exp(HL(ln c − ln b)) − 1`, judged by the signed-rank test.
    /// For a uniform slow-down it is the ratio of the medians.
    RelativeMedian,
    /// The same, over the slowest `1 − q` of the units only (ranked by the pair's mean,
    /// which is symmetric in the two builds, so the selection cannot bias the test):
    /// the tail, e.g. `q = 0.9` for p90.
    RelativeTail {
        /// The quantile that starts the tail.
        q: f64,
    },
    /// Absolute change of the mean of 0/1 outcomes (percentage points / 100), judged by
    /// McNemar's exact test on the discordant pairs.
    Proportion,
    /// Absolute change of the mean of counts (false positives per frame), judged by the
    /// signed-rank test on the differences, with Student's t interval of the mean.
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

/// Significance settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgeConfig {
    /// Family-wise level of one build's primary checks, per direction: the chance that
    /// an unchanged build is called regressed on any of them.
    pub alpha: f64,
    /// Confidence of the intervals.
    pub confidence: f64,
    /// Smallest number of paired units for any verdict but inconclusive.
    pub min_units: usize,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig {
            alpha: 0.01,
            confidence: 0.95,
            min_units: 8,
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
    /// Too few units, or a change that may or may not matter.
    Inconclusive,
}

/// The test behind a check, as `verdicts.json` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestName {
    /// Wilcoxon signed-rank test, exact distribution.
    WilcoxonExact,
    /// Wilcoxon signed-rank test, normal approximation with tie correction.
    WilcoxonApprox,
    /// McNemar's exact test (binomial test on the discordant pairs).
    McnemarExact,
}

/// The evidence of one check, before the family's multiplicity correction.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Independent units (pairs) judged.
    pub n: usize,
    /// The test used.
    pub test: TestName,
    /// Statistic of the baseline (median, tail quantile, or mean).
    pub baseline: Option<f64>,
    /// Statistic of the candidate.
    pub candidate: Option<f64>,
    /// The change (relative or absolute, per the rule).
    pub change: Option<f64>,
    /// Lower bound of its interval.
    pub ci_low: Option<f64>,
    /// Upper bound of its interval.
    pub ci_high: Option<f64>,
    /// Two-sided p-value.
    pub p_value: f64,
    /// One-sided p-value against "the candidate is worse".
    pub p_worse: f64,
    /// One-sided p-value against "the candidate is better".
    pub p_better: f64,
}

/// A judgement: the evidence, the level its family allowed and the verdict.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// The verdict.
    pub verdict: Verdict,
    /// The evidence.
    pub evidence: Evidence,
    /// Whether the family's Holm procedure rejected "not worse" for this check.
    pub significant_worse: bool,
    /// Whether it rejected "not better".
    pub significant_better: bool,
}

/// p-values of a signed-rank test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignedRank {
    /// Non-zero differences (zeros are dropped, scipy's `zero_method="wilcox"`).
    pub n: usize,
    /// Sum of the ranks of the positive differences.
    pub r_plus: f64,
    /// Two-sided p-value.
    pub p_two_sided: f64,
    /// One-sided p-value against "the differences lean positive".
    pub p_greater: f64,
    /// One-sided p-value against "the differences lean negative".
    pub p_less: f64,
    /// Whether the exact distribution was used.
    pub exact: bool,
}

/// Ranks (1-based, ties averaged) of `v` and the tie term Σ(t³ − t).
fn ranks(v: &[f64]) -> (Vec<f64>, f64) {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    (r, tie_term)
}

fn std_normal() -> Normal {
    Normal::new(0.0, 1.0).expect("σ = 1")
}

/// Counts of each signed-rank sum over the 2ⁿ sign assignments of ranks 1..n.
fn signed_rank_counts(n: usize) -> Vec<f64> {
    let max = n * (n + 1) / 2;
    let mut c = vec![0.0; max + 1];
    c[0] = 1.0;
    for k in 1..=n {
        for s in (k..=max).rev() {
            c[s] += c[s - k];
        }
    }
    c
}

/// Largest scipy uses the exact signed-rank distribution for (`method="auto"`).
const EXACT_SIGNED_RANK_MAX: usize = 50;

/// The Wilcoxon signed-rank test of the differences `d` (zeros dropped); `None` when
/// every difference is zero or missing. Exact for up to 50 untied differences, else the
/// normal approximation with tie correction and no continuity correction — scipy's
/// `wilcoxon(d)` defaults.
pub fn wilcoxon_signed_rank(d: &[f64]) -> Option<SignedRank> {
    let nz: Vec<f64> = d
        .iter()
        .copied()
        .filter(|x| x.is_finite() && *x != 0.0)
        .collect();
    let n = nz.len();
    if n == 0 {
        return None;
    }
    let abs: Vec<f64> = nz.iter().map(|x| x.abs()).collect();
    let (r, tie_term) = ranks(&abs);
    let r_plus: f64 = nz
        .iter()
        .zip(&r)
        .filter(|(x, _)| **x > 0.0)
        .map(|(_, r)| r)
        .sum();
    let nf = n as f64;
    let (p_greater, p_less, exact) = if n <= EXACT_SIGNED_RANK_MAX && tie_term == 0.0 {
        let c = signed_rank_counts(n);
        let total: f64 = c.iter().sum();
        let s = r_plus.round() as usize;
        let ge: f64 = c[s..].iter().sum::<f64>() / total;
        let le: f64 = c[..=s].iter().sum::<f64>() / total;
        (ge, le, true)
    } else {
        let mu = nf * (nf + 1.0) / 4.0;
        let var = nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0 - tie_term / 48.0;
        if var <= 0.0 {
            return None;
        }
        let z = (r_plus - mu) / var.sqrt();
        let nd = std_normal();
        (nd.sf(z), nd.cdf(z), false)
    };
    Some(SignedRank {
        n,
        r_plus,
        p_two_sided: (2.0 * p_greater.min(p_less)).min(1.0),
        p_greater,
        p_less,
        exact,
    })
}

/// The Hodges–Lehmann estimate (median of the Walsh averages) of the centre of `d` and
/// its `confidence` interval from the inverted signed-rank test (exact critical value up
/// to 50 differences, normal beyond). Zeros are kept: they are units that did not change.
pub fn hodges_lehmann(d: &[f64], confidence: f64) -> Option<(f64, f64, f64)> {
    let d: Vec<f64> = d.iter().copied().filter(|x| x.is_finite()).collect();
    let n = d.len();
    if n == 0 {
        return None;
    }
    let mut w = Vec::with_capacity(n * (n + 1) / 2);
    for i in 0..n {
        for j in i..n {
            w.push((d[i] + d[j]) / 2.0);
        }
    }
    w.sort_by(f64::total_cmp);
    let m = w.len();
    let est = median(&w)?;
    let tail = (1.0 - confidence) / 2.0;
    // k: how many Walsh averages to cut from each end.
    let k = if n <= EXACT_SIGNED_RANK_MAX {
        let c = signed_rank_counts(n);
        let total: f64 = c.iter().sum();
        let mut acc = 0.0;
        let mut k = 0usize;
        for &ci in &c {
            if (acc + ci) / total > tail {
                break;
            }
            acc += ci;
            k += 1;
        }
        // k sums have P(R+ ≤ k − 1) ≤ tail: the lower limit is the k-th Walsh average.
        k.saturating_sub(1)
    } else {
        let nf = n as f64;
        let z = std_normal().inverse_cdf(1.0 - tail);
        let k = m as f64 / 2.0 - z * (nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0).sqrt();
        (k.floor().max(1.0) as usize) - 1
    };
    let k = k.min((m - 1) / 2);
    Some((est, w[k], w[m - 1 - k]))
}

/// McNemar's exact test: `lost` units the baseline had and the candidate lost, `gained`
/// the other way. Returns (two-sided, P(lost ≥ observed), P(lost ≤ observed)) under
/// lost ~ Bin(lost + gained, ½) — scipy's `binomtest(lost, lost + gained)`.
pub fn mcnemar_exact(lost: u64, gained: u64) -> (f64, f64, f64) {
    let n = lost + gained;
    if n == 0 {
        return (1.0, 1.0, 1.0);
    }
    let b = Binomial::new(0.5, n).expect("p = ½");
    let ge = if lost == 0 { 1.0 } else { b.sf(lost - 1) };
    let le = b.cdf(lost);
    ((2.0 * ge.min(le)).min(1.0), ge, le)
}

/// The pairs `(b, c)` of the slowest `1 − q` of the units, ranked by the pair's mean
/// (ties by index, so the choice is stable): at least one unit.
fn tail_pairs(pairs: &[(f64, f64)], q: f64) -> Vec<(f64, f64)> {
    let mut idx: Vec<usize> = (0..pairs.len()).collect();
    idx.sort_by(|&i, &j| {
        let (mi, mj) = (pairs[i].0 + pairs[i].1, pairs[j].0 + pairs[j].1);
        mj.total_cmp(&mi).then(i.cmp(&j))
    });
    let k = ((1.0 - q) * pairs.len() as f64).ceil().max(1.0) as usize;
    idx.into_iter().take(k).map(|i| pairs[i]).collect()
}

/// The evidence of `candidate` against `baseline` under `rule`: `baseline[i]` and
/// `candidate[i]` are the two builds' results on unit `i`. Units missing (non-finite) on
/// either side are left out.
pub fn evidence(
    baseline: &[f64],
    candidate: &[f64],
    rule: &MetricRule,
    confidence: f64,
) -> Evidence {
    let pairs: Vec<(f64, f64)> = baseline
        .iter()
        .zip(candidate)
        .map(|(&b, &c)| (b, c))
        .filter(|(b, c)| b.is_finite() && c.is_finite())
        .collect();
    let bs: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let cs: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    match rule.change {
        Change::RelativeMedian | Change::RelativeTail { .. } => {
            let (pairs, sb, sc) = match rule.change {
                Change::RelativeTail { q } => {
                    (tail_pairs(&pairs, q), quantile(&bs, q), quantile(&cs, q))
                }
                _ => (pairs.clone(), median(&bs), median(&cs)),
            };
            let d: Vec<f64> = pairs
                .iter()
                .filter(|(b, c)| *b > 0.0 && *c > 0.0)
                .map(|(b, c)| c.ln() - b.ln())
                .collect();
            let sr = wilcoxon_signed_rank(&d);
            let hl = hodges_lehmann(&d, confidence);
            let (p2, pg, pl, exact) = sr.map_or((1.0, 1.0, 1.0, true), |s| {
                (s.p_two_sided, s.p_greater, s.p_less, s.exact)
            });
            let (p_worse, p_better) = match rule.better {
                Better::Lower => (pg, pl),
                Better::Higher => (pl, pg),
            };
            Evidence {
                n: d.len(),
                test: if exact {
                    TestName::WilcoxonExact
                } else {
                    TestName::WilcoxonApprox
                },
                baseline: sb,
                candidate: sc,
                change: hl.map(|h| h.0.exp_m1()),
                ci_low: hl.map(|h| h.1.exp_m1()),
                ci_high: hl.map(|h| h.2.exp_m1()),
                p_value: p2,
                p_worse,
                p_better,
            }
        }
        Change::Proportion => {
            let n = pairs.len();
            let lost = pairs.iter().filter(|(b, c)| *b > *c).count() as u64;
            let gained = pairs.iter().filter(|(b, c)| *c > *b).count() as u64;
            let (p2, p_lost, p_gained) = mcnemar_exact(lost, gained);
            // "lost" means the candidate's proportion fell.
            let (p_worse, p_better) = match rule.better {
                Better::Higher => (p_lost, p_gained),
                Better::Lower => (p_gained, p_lost),
            };
            let (change, lo, hi) = if n == 0 {
                (None, None, None)
            } else {
                let nf = n as f64;
                let (g, l) = (gained as f64, lost as f64);
                let d = (g - l) / nf;
                let se = ((g + l) - (g - l) * (g - l) / nf).max(0.0).sqrt() / nf;
                let z = std_normal().inverse_cdf(1.0 - (1.0 - confidence) / 2.0);
                // A difference of proportions lies in [−1, 1]; Wald's interval can overrun it
                // when nearly every tag was lost.
                (
                    Some(d),
                    Some((d - z * se).max(-1.0)),
                    Some((d + z * se).min(1.0)),
                )
            };
            Evidence {
                n,
                test: TestName::McnemarExact,
                baseline: mean(&bs),
                candidate: mean(&cs),
                change,
                ci_low: lo,
                ci_high: hi,
                p_value: p2,
                p_worse,
                p_better,
            }
        }
        Change::AbsoluteMean => {
            let d: Vec<f64> = pairs.iter().map(|(b, c)| c - b).collect();
            let sr = wilcoxon_signed_rank(&d);
            let (p2, pg, pl, exact) = sr.map_or((1.0, 1.0, 1.0, true), |s| {
                (s.p_two_sided, s.p_greater, s.p_less, s.exact)
            });
            let (p_worse, p_better) = match rule.better {
                Better::Lower => (pg, pl),
                Better::Higher => (pl, pg),
            };
            let m = mean(&d);
            let (lo, hi) = match m {
                Some(m) if d.len() >= 2 => {
                    let nf = d.len() as f64;
                    let var = d.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (nf - 1.0);
                    let t = StudentsT::new(0.0, 1.0, nf - 1.0)
                        .expect("ν ≥ 1")
                        .inverse_cdf(1.0 - (1.0 - confidence) / 2.0);
                    let h = t * (var / nf).sqrt();
                    (Some(m - h), Some(m + h))
                }
                _ => (None, None),
            };
            Evidence {
                n: d.len(),
                test: if exact {
                    TestName::WilcoxonExact
                } else {
                    TestName::WilcoxonApprox
                },
                baseline: mean(&bs),
                candidate: mean(&cs),
                change: m,
                ci_low: lo,
                ci_high: hi,
                p_value: p2,
                p_worse,
                p_better,
            }
        }
    }
}

/// Weighted Holm: which of the hypotheses with p-values `p` and weights `w` (> 0) are
/// rejected at family-wise level `alpha`. Hypotheses are visited in order of `p / w`;
/// each is tested at `alpha · wᵢ / (weight of those not yet rejected)`, and the first
/// that fails stops the procedure (Holm 1979, weighted form).
pub fn holm_weighted(p: &[f64], w: &[f64], alpha: f64) -> Vec<bool> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&i, &j| (p[i] / w[i]).total_cmp(&(p[j] / w[j])).then(i.cmp(&j)));
    let mut rejected = vec![false; p.len()];
    let mut remaining: f64 = w.iter().sum();
    for i in order {
        if remaining <= 0.0 || p[i] > alpha * w[i] / remaining {
            break;
        }
        rejected[i] = true;
        remaining -= w[i];
    }
    rejected
}

/// One check of a family: its rule, its weight in the family and its paired units.
#[derive(Clone, Debug, PartialEq)]
pub struct Check<'a> {
    /// The rule.
    pub rule: MetricRule,
    /// Share of the family's level (any positive scale; normalised over the family).
    pub weight: f64,
    /// Baseline result per unit.
    pub baseline: &'a [f64],
    /// Candidate result per unit, same order.
    pub candidate: &'a [f64],
}

/// Judges a family of checks (one build's primary checks, or its drill-down buckets):
/// evidence for each, then weighted Holm per direction at `cfg.alpha`, then the rule.
pub fn judge_family(checks: &[Check<'_>], cfg: &JudgeConfig) -> Vec<Judgement> {
    let ev: Vec<Evidence> = checks
        .iter()
        .map(|c| evidence(c.baseline, c.candidate, &c.rule, cfg.confidence))
        .collect();
    let w: Vec<f64> = checks.iter().map(|c| c.weight).collect();
    let worse = holm_weighted(
        &ev.iter().map(|e| e.p_worse).collect::<Vec<_>>(),
        &w,
        cfg.alpha,
    );
    let better = holm_weighted(
        &ev.iter().map(|e| e.p_better).collect::<Vec<_>>(),
        &w,
        cfg.alpha,
    );
    ev.iter()
        .zip(checks)
        .enumerate()
        .map(|(i, (e, c))| Judgement {
            verdict: decide(e, &c.rule, worse[i], better[i], cfg),
            evidence: *e,
            significant_worse: worse[i],
            significant_better: better[i],
        })
        .collect()
}

/// The verdict of one check given its evidence and its family's Holm decisions.
fn decide(
    e: &Evidence,
    rule: &MetricRule,
    worse: bool,
    better: bool,
    cfg: &JudgeConfig,
) -> Verdict {
    let (Some(change), Some(lo), Some(hi)) = (e.change, e.ci_low, e.ci_high) else {
        return Verdict::Inconclusive;
    };
    if e.n < cfg.min_units {
        return Verdict::Inconclusive;
    }
    // Express the change and its interval so that positive means "worse".
    let (c, worse_hi) = match rule.better {
        Better::Lower => (change, hi),
        Better::Higher => (-change, -lo),
    };
    let t = rule.threshold;
    if worse && c > t {
        Verdict::Regressed
    } else if better && c < -t {
        Verdict::Improved
    } else if worse_hi < t {
        Verdict::Unchanged
    } else {
        Verdict::Inconclusive
    }
}

/// Why a check came out inconclusive, in the terms [`decide`] uses, so a report can say
/// so instead of leaving a reader to guess.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WhyInconclusive {
    /// No change could be estimated: no unit had a value on both sides (a build whose
    /// poses are all missing has no pose error to compare).
    NoEstimate,
    /// Fewer paired units than any other verdict needs.
    TooFewUnits {
        /// Units judged.
        n: usize,
        /// Units needed.
        min: usize,
    },
    /// The estimate is past the threshold on the worse side, but the test is not
    /// significant after the family's Holm correction.
    NotSignificant {
        /// The change, signed so that positive is worse.
        worse_change: f64,
        /// The threshold.
        threshold: f64,
    },
    /// The interval reaches past the threshold on the worse side: the data can rule out
    /// neither "no change that matters" nor a regression.
    Straddles {
        /// The interval's worse end, signed so that positive is worse.
        worse_end: f64,
        /// The threshold.
        threshold: f64,
    },
}

/// The reason an inconclusive check is inconclusive, from what a verdict entry keeps
/// (the change, its interval and `n`); `None` for an estimate and interval that
/// [`decide`] would never call inconclusive.
pub fn why_inconclusive(
    change: Option<f64>,
    ci_low: Option<f64>,
    ci_high: Option<f64>,
    n: usize,
    rule: &MetricRule,
    cfg: &JudgeConfig,
) -> Option<WhyInconclusive> {
    let (Some(change), Some(lo), Some(hi)) = (change, ci_low, ci_high) else {
        return Some(WhyInconclusive::NoEstimate);
    };
    if n < cfg.min_units {
        return Some(WhyInconclusive::TooFewUnits {
            n,
            min: cfg.min_units,
        });
    }
    let (c, worse_end) = match rule.better {
        Better::Lower => (change, hi),
        Better::Higher => (-change, -lo),
    };
    let t = rule.threshold;
    if c > t {
        Some(WhyInconclusive::NotSignificant {
            worse_change: c,
            threshold: t,
        })
    } else if worse_end >= t {
        Some(WhyInconclusive::Straddles {
            worse_end,
            threshold: t,
        })
    } else {
        None
    }
}

/// Judges one check on its own, at level `cfg.alpha` (a family of one).
pub fn judge(
    baseline: &[f64],
    candidate: &[f64],
    rule: &MetricRule,
    cfg: &JudgeConfig,
) -> Judgement {
    judge_family(
        &[Check {
            rule: *rule,
            weight: 1.0,
            baseline,
            candidate,
        }],
        cfg,
    )
    .remove(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Normal as RNormal};

    fn samples(n: usize, mean: f64, sd: f64, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let d = RNormal::new(mean, sd).unwrap();
        (0..n).map(|_| d.sample(&mut rng)).collect()
    }

    const LATENCY: MetricRule = MetricRule {
        better: Better::Lower,
        change: Change::RelativeMedian,
        threshold: 0.03,
    };
    const RECALL: MetricRule = MetricRule {
        better: Better::Higher,
        change: Change::Proportion,
        threshold: 0.01,
    };

    #[test]
    fn signed_rank_exact_values_by_hand() {
        // Five positive differences: R+ = 15, the largest of 32 equally likely sums.
        let s = wilcoxon_signed_rank(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert!(s.exact);
        assert!((s.p_greater - 1.0 / 32.0).abs() < 1e-12, "{s:?}");
        assert!((s.p_two_sided - 2.0 / 32.0).abs() < 1e-12);
        // Zeros are dropped; all zero is no evidence at all.
        assert_eq!(wilcoxon_signed_rank(&[0.0, 0.0]), None);
        assert_eq!(wilcoxon_signed_rank(&[0.0, 1.0, 2.0]).unwrap().n, 2);
    }

    #[test]
    fn mcnemar_exact_is_the_binomial_test_on_discordant_pairs() {
        // 8 of 8 discordant lost: one-sided ½⁸, two-sided 2·½⁸.
        let (p2, ge, _) = mcnemar_exact(8, 0);
        assert!((ge - 0.5f64.powi(8)).abs() < 1e-12);
        assert!((p2 - 2.0 * 0.5f64.powi(8)).abs() < 1e-12);
        // 12 of 415 lost: the 4.9e-4.
        assert!((mcnemar_exact(12, 0).0 - 4.88e-4).abs() < 1e-5);
        assert_eq!(mcnemar_exact(0, 0), (1.0, 1.0, 1.0));
    }

    #[test]
    fn hodges_lehmann_of_a_constant_shift_is_the_shift() {
        let d = vec![0.1; 30];
        let (e, lo, hi) = hodges_lehmann(&d, 0.95).unwrap();
        assert!((e - 0.1).abs() < 1e-12 && (lo - 0.1).abs() < 1e-12 && (hi - 0.1).abs() < 1e-12);
        // 1..=10: Walsh averages' median 5.5; the exact 95 % interval runs from the 9th
        // smallest to the 9th largest of the 55 averages (P(R+ ≤ 8) = 0.0244 ≤ 0.025 <
        // P(R+ ≤ 9)): 1, 1.5, 2, 2, 2.5, 2.5, 3, 3, 3 → [3, 8].
        let d: Vec<f64> = (1..=10).map(f64::from).collect();
        let (e, lo, hi) = hodges_lehmann(&d, 0.95).unwrap();
        assert_eq!((e, lo, hi), (5.5, 3.0, 8.0));
    }

    #[test]
    fn holm_steps_down_with_weights() {
        // Equal weights, α = 0.05 over 3: 0.01 ≤ 0.05/3, 0.02 ≤ 0.05/2, 0.04 ≤ 0.05.
        assert_eq!(
            holm_weighted(&[0.02, 0.01, 0.04], &[1.0; 3], 0.05),
            vec![true; 3]
        );
        // The first that fails stops the rest: 0.001 ≤ 0.05/3, then 0.03 > 0.05/2.
        assert_eq!(
            holm_weighted(&[0.03, 0.04, 0.001], &[1.0; 3], 0.05),
            vec![false, false, true]
        );
        // A heavy weight buys a check a larger level: 0.004 ≤ 0.01 · 0.5.
        assert_eq!(
            holm_weighted(&[0.004, 0.5], &[0.5, 0.5], 0.01),
            vec![true, false]
        );
        assert_eq!(
            holm_weighted(&[0.004, 0.5], &[0.1, 0.9], 0.01),
            vec![false, false]
        );
    }

    #[test]
    fn a_slower_candidate_is_a_regression_and_a_faster_one_an_improvement() {
        let base = samples(200, 40.0, 0.8, 1);
        let slow: Vec<f64> = base.iter().map(|x| x * 1.25).collect();
        let j = judge(&base, &slow, &LATENCY, &JudgeConfig::default());
        assert_eq!(j.verdict, Verdict::Regressed, "{j:?}");
        assert!((j.evidence.change.unwrap() - 0.25).abs() < 1e-9);
        let fast: Vec<f64> = base.iter().map(|x| x * 0.75).collect();
        assert_eq!(
            judge(&base, &fast, &LATENCY, &JudgeConfig::default()).verdict,
            Verdict::Improved
        );
    }

    #[test]
    fn the_same_build_twice_is_unchanged_and_tiny_samples_are_inconclusive() {
        let a = samples(200, 40.0, 0.8, 4);
        let b = samples(200, 40.0, 0.8, 5);
        let j = judge(&a, &b, &LATENCY, &JudgeConfig::default());
        assert_eq!(j.verdict, Verdict::Unchanged, "{j:?}");
        assert_eq!(j.evidence.n, 200);
        let slow: Vec<f64> = a.iter().map(|x| x * 1.5).collect();
        assert_eq!(
            judge(&a[..3], &slow[..3], &LATENCY, &JudgeConfig::default()).verdict,
            Verdict::Inconclusive
        );
    }

    #[test]
    fn significance_alone_is_not_enough() {
        // A significant but 1 % shift stays under the 3 % threshold: not a regression.
        let a = samples(2000, 40.0, 0.2, 6);
        let b: Vec<f64> = a.iter().map(|x| x * 1.01).collect();
        let j = judge(&a, &b, &LATENCY, &JudgeConfig::default());
        assert!(j.evidence.p_value < 1e-6);
        assert_eq!(j.verdict, Verdict::Unchanged, "{j:?}");
    }

    #[test]
    fn a_tail_slow_down_is_seen_by_the_tail_and_not_by_the_median() {
        let base = samples(200, 40.0, 4.0, 10);
        let cut = quantile(&base, 0.8).unwrap();
        let cand: Vec<f64> = base
            .iter()
            .map(|&x| if x > cut { x * 1.5 } else { x })
            .collect();
        let tail = MetricRule {
            change: Change::RelativeTail { q: 0.9 },
            threshold: 0.1,
            ..LATENCY
        };
        let j = judge(&base, &cand, &tail, &JudgeConfig::default());
        assert_eq!(j.verdict, Verdict::Regressed, "{j:?}");
        assert_eq!(j.evidence.n, 20);
        assert_ne!(
            judge(&base, &cand, &LATENCY, &JudgeConfig::default()).verdict,
            Verdict::Regressed
        );
    }

    #[test]
    fn a_drop_in_recall_is_a_regression_in_percentage_points() {
        let base = vec![1.0; 415];
        let mut cand = base.clone();
        for x in cand.iter_mut().take(8) {
            *x = 0.0;
        }
        let j = judge(&base, &cand, &RECALL, &JudgeConfig::default());
        assert_eq!(j.verdict, Verdict::Regressed, "{j:?}");
        assert_eq!(j.evidence.test, TestName::McnemarExact);
        assert!((j.evidence.change.unwrap() + 8.0 / 415.0).abs() < 1e-12);
        // The same build twice on the same pixels: no discordant pair, unchanged.
        assert_eq!(
            judge(&base, &base, &RECALL, &JudgeConfig::default()).verdict,
            Verdict::Unchanged
        );
    }

    #[test]
    fn every_inconclusive_verdict_has_a_reason_and_the_reason_matches() {
        let cfg = JudgeConfig::default();
        let why = |j: &Judgement, rule: &MetricRule| {
            let e = j.evidence;
            why_inconclusive(e.change, e.ci_low, e.ci_high, e.n, rule, &cfg)
        };
        // Too few units.
        let a = samples(200, 40.0, 0.8, 4);
        let slow: Vec<f64> = a.iter().map(|x| x * 1.5).collect();
        let j = judge(&a[..3], &slow[..3], &LATENCY, &cfg);
        assert_eq!(j.verdict, Verdict::Inconclusive);
        assert_eq!(
            why(&j, &LATENCY),
            Some(WhyInconclusive::TooFewUnits { n: 3, min: 8 })
        );
        // Nothing on one side: no estimate.
        let j = judge(&a, &[f64::NAN; 200], &LATENCY, &cfg);
        assert_eq!(j.verdict, Verdict::Inconclusive);
        assert_eq!(why(&j, &LATENCY), Some(WhyInconclusive::NoEstimate));
        // A noisy 3 % shift on 20 frames: the interval reaches past 3 %.
        let base = samples(20, 40.0, 4.0, 11);
        let noisy: Vec<f64> = base
            .iter()
            .zip(samples(20, 1.03, 0.08, 12))
            .map(|(x, f)| x * f)
            .collect();
        let j = judge(&base, &noisy, &LATENCY, &cfg);
        assert_eq!(j.verdict, Verdict::Inconclusive, "{j:?}");
        assert!(matches!(
            why(&j, &LATENCY),
            Some(WhyInconclusive::Straddles { .. } | WhyInconclusive::NotSignificant { .. })
        ));
        // Two lost tags in 415: a 0.5-point estimate inside the 1-point threshold whose
        // interval reaches past it — on the worse side, which for recall is the low end.
        let mut cand = vec![1.0; 415];
        cand[0] = 0.0;
        cand[1] = 0.0;
        let j = judge(&vec![1.0; 415], &cand, &RECALL, &cfg);
        assert_eq!(j.verdict, Verdict::Inconclusive, "{j:?}");
        match why(&j, &RECALL) {
            Some(WhyInconclusive::Straddles {
                worse_end,
                threshold,
            }) => assert!(worse_end >= threshold && worse_end > 0.0),
            other => panic!("{other:?} for {j:?}"),
        }
        // A verdict that is not inconclusive has no reason to be one.
        let j = judge(
            &a,
            &a.iter().map(|x| x * 1.001).collect::<Vec<_>>(),
            &LATENCY,
            &cfg,
        );
        assert_eq!(j.verdict, Verdict::Unchanged);
        assert_eq!(why(&j, &LATENCY), None);
    }

    #[test]
    fn verdicts_do_not_depend_on_the_order_of_the_units() {
        let a = samples(150, 10.0, 1.0, 8);
        let b: Vec<f64> = samples(150, 1.03, 0.02, 9)
            .iter()
            .zip(&a)
            .map(|(f, x)| f * x)
            .collect();
        let j = judge(&a, &b, &LATENCY, &JudgeConfig::default());
        let (ra, rb): (Vec<f64>, Vec<f64>) = a.iter().zip(&b).rev().map(|(x, y)| (*x, *y)).unzip();
        assert_eq!(j, judge(&ra, &rb, &LATENCY, &JudgeConfig::default()));
    }
}
