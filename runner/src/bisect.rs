//! Bisecting an ordered series of builds for the first one that regressed: the search
//! (which build to measure next, when the answer is known), how one measured build is
//! classified from its verdicts, and the plan and path a bisect stores. Pure logic: the
//! measuring is `visreg bisect`'s (the binary), with the run's own engine.
//!
//! As `git bisect`: builds in series order, the first known good, the last known bad;
//! each step measures the untested build nearest the middle of the range still open; a
//! build that cannot be judged (it does not flash or boot, or stays inconclusive) is
//! skipped, and the next nearest is taken instead. The answer is exact when no skipped
//! build lies between the last good and the first bad build.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use visreg_bench::verdict::Verdict;
use visreg_reports::report::{verdict_word, VerdictEntry};

/// A check a bisect follows: a metric, over the whole dataset or in one bucket. Named as
/// reports name checks ([`check_name`]): `recall`, `recall[angle:30-45]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CheckId {
    /// The metric (`latency_ms`).
    pub metric: String,
    /// The bucket (`angle:30-45`), or the whole dataset.
    pub bucket: Option<String>,
}

/// Errors of a bisect's plan.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BisectError {
    /// A `--check` that names no check.
    #[error("--check {given}: {why}")]
    BadCheck {
        /// What was given.
        given: String,
        /// Why it is not a check.
        why: String,
    },
}

impl CheckId {
    /// Parses `metric` or `metric[bucket]`, refusing metrics visreg does not judge.
    pub fn parse(s: &str) -> Result<Self, BisectError> {
        let bad = |why: String| BisectError::BadCheck {
            given: s.to_string(),
            why,
        };
        let (metric, bucket) = match s.split_once('[') {
            Some((m, rest)) => match rest.strip_suffix(']') {
                Some(b) if !b.is_empty() => (m, Some(b.to_string())),
                _ => {
                    return Err(bad(
                        "a bucket is written metric[bucket], e.g. recall[angle:30-45]".into(),
                    ))
                }
            },
            None => (s, None),
        };
        let known: Vec<&str> = visreg_bench::metrics::metric_defs()
            .iter()
            .map(|d| d.name)
            .collect();
        if !known.contains(&metric) {
            return Err(bad(format!(
                "no such metric (judged metrics: {})",
                known.join(", ")
            )));
        }
        if bucket.is_some() && metric != "recall" {
            return Err(bad(
                "only recall is judged per bucket (recall[angle:30-45])".into(),
            ));
        }
        Ok(CheckId {
            metric: metric.to_string(),
            bucket,
        })
    }

    /// The check a verdict entry is.
    pub fn of(e: &VerdictEntry) -> Self {
        CheckId {
            metric: e.metric.clone(),
            bucket: e.bucket.clone(),
        }
    }

    fn matches(&self, e: &VerdictEntry) -> bool {
        e.metric == self.metric && e.bucket == self.bucket
    }
}

impl TryFrom<String> for CheckId {
    type Error = BisectError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        CheckId::parse(&s)
    }
}

impl From<CheckId> for String {
    fn from(c: CheckId) -> String {
        c.to_string()
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.bucket {
            Some(b) => write!(f, "{}[{b}]", self.metric),
            None => f.write_str(&self.metric),
        }
    }
}

/// Whether an entry shows a regression, as `visreg run` counts one: regressed, and not
/// explained away by another change (a confounded latency).
fn regressed(e: &VerdictEntry) -> bool {
    e.verdict == Verdict::Regressed && e.confounded.is_none()
}

/// The checks to follow when none are named: every primary check the bad build regresses
/// against the good one.
pub fn default_checks(entries: &[VerdictEntry]) -> Vec<CheckId> {
    let mut v: Vec<CheckId> = entries
        .iter()
        .filter(|e| visreg_reports::report::fails_run(e))
        .map(CheckId::of)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// What one measured build is, on the checks followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepVerdict {
    /// The good end: the baseline every step is judged against.
    Baseline,
    /// No check followed regressed.
    Good,
    /// Every check followed regressed.
    Bad,
    /// Some checks followed regressed, some did not: bad (the regression is there), and
    /// reported as partial.
    Partial,
    /// A check could not be decided, even with more repetitions.
    Inconclusive,
    /// Not judged: the build did not flash or boot.
    Skipped,
}

impl StepVerdict {
    /// Whether the build counts as bad in the search.
    pub fn is_bad(self) -> bool {
        matches!(self, StepVerdict::Bad | StepVerdict::Partial)
    }

    /// Whether the build counts as good in the search.
    pub fn is_good(self) -> bool {
        matches!(self, StepVerdict::Baseline | StepVerdict::Good)
    }

    /// Its word in reports.
    pub fn word(self) -> &'static str {
        match self {
            StepVerdict::Baseline => "baseline",
            StepVerdict::Good => "good",
            StepVerdict::Bad => "bad",
            StepVerdict::Partial => "partial",
            StepVerdict::Inconclusive => "inconclusive",
            StepVerdict::Skipped => "skipped",
        }
    }
}

/// A build judged on the checks followed.
#[derive(Clone, Debug, PartialEq)]
pub struct Judged {
    /// Its classification.
    pub verdict: StepVerdict,
    /// The checks that regressed.
    pub regressed: Vec<CheckId>,
    /// The checks that could not be decided (or were not judged at all).
    pub undecided: Vec<CheckId>,
    /// In plain words, with the changes: "recall regressed -31.6 pts; latency_ms
    /// unchanged +0.2 %" (regressions first).
    pub detail: String,
    /// The regressions with their evidence: "recall -31.6 pts (95 % CI -36.0 pts …
    /// -27.1 pts, p < 1e-15, 415 tags)".
    pub change: String,
}

/// Classifies a build from its verdicts against the baseline on `checks`.
pub fn judge_step(checks: &[CheckId], entries: &[VerdictEntry]) -> Judged {
    let mut regressed_checks = Vec::new();
    let mut undecided = Vec::new();
    let mut words = Vec::new();
    let mut bad_words = Vec::new();
    let mut evidence = Vec::new();
    for c in checks {
        match entries.iter().find(|e| c.matches(e)) {
            None => {
                undecided.push(c.clone());
                words.push(format!("{c} not judged (no units)"));
            }
            Some(e) => {
                let fmt = |x: Option<f64>| {
                    x.map(|x| visreg_bench::metrics::format_change(&e.metric, x))
                        .unwrap_or_else(|| "–".into())
                };
                let change = fmt(e.change);
                if regressed(e) {
                    regressed_checks.push(c.clone());
                    bad_words.push(format!("{c} regressed {change}"));
                    evidence.push(format!(
                        "{c} {change} (95 % CI {} … {}, {}, {} {}s)",
                        fmt(e.ci_low),
                        fmt(e.ci_high),
                        visreg_bench::metrics::format_p(e.p_value),
                        e.n,
                        e.unit
                    ));
                } else if e.verdict == Verdict::Inconclusive {
                    undecided.push(c.clone());
                    words.push(format!(
                        "{c} inconclusive ({change}, n = {} {}s)",
                        e.n, e.unit
                    ));
                } else if let Some(why) = &e.confounded {
                    words.push(format!("{c} {change}, confounded: {why}"));
                } else {
                    words.push(format!("{c} {} {change}", verdict_word(e.verdict)));
                }
            }
        }
    }
    let verdict = if regressed_checks.len() == checks.len() && !checks.is_empty() {
        StepVerdict::Bad
    } else if !regressed_checks.is_empty() {
        StepVerdict::Partial
    } else if !undecided.is_empty() {
        StepVerdict::Inconclusive
    } else {
        StepVerdict::Good
    };
    bad_words.extend(words);
    Judged {
        verdict,
        regressed: regressed_checks,
        undecided,
        detail: bad_words.join("; "),
        change: evidence.join("; "),
    }
}

/// The search over a range of `len` builds: index 0 known good, index `len - 1` known bad.
#[derive(Clone, Debug, PartialEq)]
pub struct Bisection {
    len: usize,
    known: BTreeMap<usize, StepVerdict>,
}

/// What to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Measure the build at this index.
    Test(usize),
    /// The search is over.
    Done(Answer),
}

/// Where the regression began.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The first bad build measured.
    pub first_bad: usize,
    /// The last good build before it.
    pub last_good: usize,
    /// Builds between them that could not be judged: the regression may have begun in
    /// any of these instead (empty for an exact answer).
    pub unjudged_between: Vec<usize>,
    /// Good builds after the first bad one: the checks do not hold monotonically (a
    /// regression fixed and re-introduced, or flaky evidence).
    pub good_after_bad: Vec<usize>,
}

impl Bisection {
    /// A search over `len` ≥ 2 builds whose ends are known.
    pub fn new(len: usize) -> Self {
        assert!(len >= 2, "a range has a good and a bad end");
        let mut known = BTreeMap::new();
        known.insert(0, StepVerdict::Baseline);
        known.insert(len - 1, StepVerdict::Bad);
        Bisection { len, known }
    }

    /// Records what the build at `index` was.
    pub fn record(&mut self, index: usize, v: StepVerdict) {
        assert!(index < self.len, "index {index} outside the range");
        self.known.insert(index, v);
    }

    /// The builds that can hold the first bad one at the start: every build after the
    /// good end, the bad end included. A search without skips needs at most
    /// ⌈log2 N⌉ steps for N candidates.
    pub fn candidates(&self) -> usize {
        self.len - 1
    }

    /// The builds still open: untested, between the last good and the first bad.
    pub fn open(&self) -> usize {
        let (lo, hi) = self.bounds();
        (lo + 1..hi).filter(|i| !self.known.contains_key(i)).count()
    }

    /// The first bad build known, and the last good one before it.
    fn bounds(&self) -> (usize, usize) {
        let hi = *self
            .known
            .iter()
            .find(|(_, v)| v.is_bad())
            .map(|(i, _)| i)
            .expect("the bad end is known");
        let lo = *self
            .known
            .range(..hi)
            .rev()
            .find(|(_, v)| v.is_good())
            .map(|(i, _)| i)
            .expect("the good end is known");
        (lo, hi)
    }

    /// The next build to measure, or the answer.
    pub fn next(&self) -> Next {
        let (lo, hi) = self.bounds();
        let open: Vec<usize> = (lo + 1..hi)
            .filter(|i| !self.known.contains_key(i))
            .collect();
        if open.is_empty() {
            return Next::Done(Answer {
                first_bad: hi,
                last_good: lo,
                unjudged_between: (lo + 1..hi).collect(),
                good_after_bad: self
                    .known
                    .range(hi..)
                    .filter(|(_, v)| v.is_good())
                    .map(|(i, _)| *i)
                    .collect(),
            });
        }
        // The untested build nearest the middle (the lower on a tie): halving what is
        // open, stepping aside from builds that could not be judged.
        let mid2 = lo + hi; // twice the middle, to stay in integers
        let pick = *open
            .iter()
            .min_by_key(|&&i| ((2 * i) as i64 - mid2 as i64).abs())
            .expect("not empty");
        Next::Test(pick)
    }
}

/// ⌈log2 n⌉: the most steps a search without skips takes over `n` candidates.
pub fn max_steps(n: usize) -> u32 {
    if n <= 1 {
        0
    } else {
        usize::BITS - (n - 1).leading_zeros()
    }
}

/// Where a bisect's dataset comes from, so a resume opens the same one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetSource {
    /// A built-in preset.
    Preset(String),
    /// A dataset folder.
    Dir(std::path::PathBuf),
}

/// What a bisect looks for; stored once, authoritative on resume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BisectPlan {
    /// The good build (the baseline of every step).
    pub good: String,
    /// The bad build.
    pub bad: String,
    /// The series the range comes from.
    pub series: String,
    /// The builds from good to bad, in series order.
    pub builds: Vec<String>,
    /// The checks named with `--check` (none: every check the bad build regresses).
    pub checks: Vec<CheckId>,
    /// Repetitions per build.
    pub repeats: u32,
    /// Most repetitions an inconclusive build is measured with before it is skipped.
    pub max_repeats: u32,
    /// The dataset.
    pub dataset: DatasetSource,
    /// Its name.
    pub dataset_name: String,
    /// Its content hash.
    pub dataset_hash: String,
    /// The camera (`sim`, a port or a serial number).
    pub camera: String,
    /// The catalog file (none: the built-in catalog).
    pub catalog: Option<std::path::PathBuf>,
}

/// One measured build.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The build.
    pub build: String,
    /// Its place in the range (0 = good).
    pub index: usize,
    /// What it was.
    pub verdict: StepVerdict,
    /// The run holding its measurements (and the baseline's).
    pub run: String,
    /// Repetitions measured.
    pub repeats: u32,
    /// The checks that regressed.
    pub regressed: Vec<CheckId>,
    /// In plain words.
    pub detail: String,
    /// Its regressions with their evidence (empty when none).
    #[serde(default)]
    pub change: String,
    /// Flashes this step made.
    pub flashes: u32,
    /// Seconds it took.
    pub seconds: f64,
}

/// How far a bisect got; saved after every step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BisectState {
    /// The checks followed: the named ones, or those the bad build regresses (known once
    /// both ends are measured).
    pub checks: Vec<CheckId>,
    /// Flashes so far, across resumes.
    pub flashes: u32,
    /// Builds measured, in the order measured (the good and bad ends first).
    pub steps: Vec<StepRecord>,
}

impl BisectState {
    /// The search as the steps so far leave it (the ends confirmed).
    pub fn bisection(&self, len: usize) -> Bisection {
        let mut b = Bisection::new(len);
        for s in &self.steps {
            if s.index != 0 && s.index != len - 1 {
                b.record(s.index, s.verdict);
            }
        }
        b
    }
}

/// Names a check list for messages: `recall, latency_ms`.
pub fn names(checks: &[CheckId]) -> String {
    checks
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(metric: &str, bucket: Option<&str>, v: Verdict) -> VerdictEntry {
        VerdictEntry {
            build: "b".into(),
            baseline: "a".into(),
            metric: metric.into(),
            bucket: bucket.map(String::from),
            verdict: v,
            change: Some(-0.3),
            ci_low: Some(-0.4),
            ci_high: Some(-0.2),
            p_value: Some(1e-9),
            n: 200,
            unit: "frame".into(),
            test: None,
            primary: bucket.is_none(),
            confounded: None,
            note: None,
        }
    }

    #[test]
    fn checks_are_named_as_reports_name_them_and_unknown_ones_are_refused() {
        let c = CheckId::parse("recall[angle:30-45]").unwrap();
        assert_eq!(c.to_string(), "recall[angle:30-45]");
        let e = entry("recall", Some("angle:30-45"), Verdict::Regressed);
        assert_eq!(
            visreg_reports::report::check_name(&e),
            c.to_string(),
            "one naming convention"
        );
        assert_eq!(CheckId::parse("latency_ms").unwrap().bucket, None);
        let err = CheckId::parse("latency").unwrap_err().to_string();
        assert!(
            err.contains("no such metric") && err.contains("latency_ms"),
            "{err}"
        );
        assert!(CheckId::parse("recall[").is_err());
        assert!(CheckId::parse("latency_ms[angle:0-15]").is_err());
    }

    #[test]
    fn a_step_is_bad_partial_good_or_inconclusive_on_the_checks_followed() {
        let checks = [
            CheckId::parse("recall").unwrap(),
            CheckId::parse("latency_ms").unwrap(),
        ];
        let both = [
            entry("recall", None, Verdict::Regressed),
            entry("latency_ms", None, Verdict::Regressed),
        ];
        assert_eq!(judge_step(&checks, &both).verdict, StepVerdict::Bad);
        let one = [
            entry("recall", None, Verdict::Regressed),
            entry("latency_ms", None, Verdict::Unchanged),
        ];
        let j = judge_step(&checks, &one);
        assert_eq!(j.verdict, StepVerdict::Partial);
        assert!(
            j.detail.contains("recall regressed") && j.detail.contains("latency_ms unchanged"),
            "{}",
            j.detail
        );
        // A faster latency explained by fewer tags is not a regression, nor one when
        // slower because it finds more.
        let mut conf = entry("latency_ms", None, Verdict::Regressed);
        conf.confounded = Some("slower because it finds more tags".into());
        let j = judge_step(&checks[1..], &[conf]);
        assert_eq!(j.verdict, StepVerdict::Good, "{}", j.detail);
        let und = [
            entry("recall", None, Verdict::Unchanged),
            entry("latency_ms", None, Verdict::Inconclusive),
        ];
        assert_eq!(judge_step(&checks, &und).verdict, StepVerdict::Inconclusive);
        let fine = [
            entry("recall", None, Verdict::Improved),
            entry("latency_ms", None, Verdict::Unchanged),
        ];
        assert_eq!(judge_step(&checks, &fine).verdict, StepVerdict::Good);
        // A check with no verdict at all cannot make a build good.
        assert_eq!(
            judge_step(&checks, &fine[..1]).verdict,
            StepVerdict::Inconclusive
        );
        // Defaults: the primary checks that fail a run.
        let d = default_checks(&[
            entry("recall", None, Verdict::Regressed),
            entry("recall", Some("angle:30-45"), Verdict::Regressed),
            entry("latency_ms", None, Verdict::Improved),
        ]);
        assert_eq!(d, vec![CheckId::parse("recall").unwrap()]);
    }

    /// Runs a bisection against a series whose first bad build is `first_bad`, where the
    /// builds in `skip` cannot be judged; returns the answer and the steps taken.
    fn search(len: usize, first_bad: usize, skip: &[usize]) -> (Answer, u32) {
        let mut b = Bisection::new(len);
        let mut steps = 0;
        loop {
            match b.next() {
                Next::Done(a) => return (a, steps),
                Next::Test(i) => {
                    assert!(
                        i > 0 && i < len - 1,
                        "only builds inside the range are measured"
                    );
                    assert!(b.open() > 0);
                    steps += 1;
                    assert!(steps < len as u32, "the search ends");
                    let v = if skip.contains(&i) {
                        StepVerdict::Skipped
                    } else if i >= first_bad {
                        StepVerdict::Bad
                    } else {
                        StepVerdict::Good
                    };
                    b.record(i, v);
                }
            }
        }
    }

    #[test]
    fn max_steps_is_the_ceiling_of_log2() {
        assert_eq!(
            [1, 2, 3, 4, 5, 16, 17, 32, 33].map(max_steps),
            [0, 1, 2, 2, 3, 4, 5, 5, 6]
        );
    }

    proptest! {
        #[test]
        fn without_skips_the_first_bad_build_is_found_in_at_most_log2_steps(len in 2usize..70, at in 0usize..1000) {
            let first_bad = 1 + at % (len - 1);
            let (a, steps) = search(len, first_bad, &[]);
            prop_assert_eq!(a.first_bad, first_bad);
            prop_assert_eq!(a.last_good, first_bad - 1);
            prop_assert!(a.unjudged_between.is_empty());
            prop_assert!(steps <= max_steps(len - 1), "{} steps for {} candidates", steps, len - 1);
        }

        #[test]
        fn skipped_builds_are_stepped_around_and_never_hide_the_answer(len in 3usize..50, at in 0usize..1000, skips in proptest::collection::vec(0usize..50, 0..6)) {
            let first_bad = 1 + at % (len - 1);
            let skip: Vec<usize> = skips.into_iter().filter(|&s| s > 0 && s < len - 1).collect();
            let (a, _) = search(len, first_bad, &skip);
            // The true first bad build is the answer, or one of the builds that could not
            // be judged between the last good and the answer.
            prop_assert!(a.first_bad == first_bad || a.unjudged_between.contains(&first_bad));
            prop_assert!(a.last_good < first_bad && first_bad <= a.first_bad);
            prop_assert!(a.unjudged_between.iter().all(|i| skip.contains(i)));
            if !skip.contains(&first_bad) && !skip.contains(&(first_bad - 1)) {
                prop_assert_eq!((a.first_bad, a.last_good), (first_bad, first_bad - 1));
            }
        }
    }

    #[test]
    fn a_skipped_middle_build_moves_the_step_to_its_neighbour() {
        let mut b = Bisection::new(9);
        assert_eq!(b.next(), Next::Test(4));
        b.record(4, StepVerdict::Skipped);
        assert_eq!(b.next(), Next::Test(3));
        b.record(3, StepVerdict::Good);
        assert_eq!(
            b.next(),
            Next::Test(5),
            "4 cannot be judged; 5 is nearest the middle of 3..8"
        );
        b.record(5, StepVerdict::Bad);
        assert_eq!(
            b.next(),
            Next::Done(Answer {
                first_bad: 5,
                last_good: 3,
                unjudged_between: vec![4],
                good_after_bad: vec![],
            })
        );
    }
}
