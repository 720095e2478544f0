//! A/A calibration of the latency verdict: how often does comparing a build with itself
//! call a regression (target ≤ 1 %), and how often is a real 5 % slow-down caught
//! (target ≥ 95 %)? Samples follow the virtual camera's latency model — a per-frame cost
//! that depends on the frame (tags in view), times 2 % run-to-run jitter — for 200 frames
//! × 3 repetitions a side. `cargo bench -p visreg-bench --bench calibration` prints both.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use visreg_bench::verdict::{judge, Better, Change, JudgeConfig, MetricRule, Verdict};

const FRAMES: usize = 200;
const REPEATS: usize = 3;
const TRIALS: usize = 400;
const RULE: MetricRule = MetricRule {
    better: Better::Lower,
    change: Change::RelativeMedian,
    threshold: 0.03,
};

fn run(frame_cost: &[f64], factor: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let jitter = Normal::new(0.0, 0.02).expect("σ");
    (0..REPEATS)
        .flat_map(|_| {
            frame_cost
                .iter()
                .map(|c| c * factor * (1.0 + jitter.sample(rng)))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    // 20 ms + 3 ms per tag, 1–3 tags a frame, as the catalog's model on QVGA.
    let frame_cost: Vec<f64> = (0..FRAMES)
        .map(|_| 20.0 + 13.8 + 3.0 * f64::from(rng.gen_range(1..=3)))
        .collect();
    let (mut false_alarms, mut caught) = (0, 0);
    for trial in 0..TRIALS {
        let cfg = JudgeConfig {
            seed: trial as u64,
            resamples: 500,
            ..JudgeConfig::default()
        };
        let a = run(&frame_cost, 1.0, &mut rng);
        let a2 = run(&frame_cost, 1.0, &mut rng);
        if judge(&a, &a2, &RULE, &cfg).verdict == Verdict::Regressed {
            false_alarms += 1;
        }
        let slow = run(&frame_cost, 1.05, &mut rng);
        if judge(&a, &slow, &RULE, &cfg).verdict == Verdict::Regressed {
            caught += 1;
        }
    }
    println!("latency verdict calibration ({TRIALS} trials, {FRAMES} frames × {REPEATS} repetitions a side, 3 % threshold, α = 0.01):");
    println!(
        "  A/A false regressions: {false_alarms}/{TRIALS} = {:.2} %   (target ≤ 1 %)",
        100.0 * false_alarms as f64 / TRIALS as f64
    );
    println!(
        "  5 % slow-down caught:  {caught}/{TRIALS} = {:.2} %   (target ≥ 95 %)",
        100.0 * caught as f64 / TRIALS as f64
    );
}
