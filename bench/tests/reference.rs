//! visreg's tests and change points against the references: scipy (`wilcoxon`,
//! `binomtest` for McNemar's exact test) and MongoDB's
//! `signal-processing-algorithms` (the E-Divisive statistic and `e_divisive`). Needs a
//! Python with `scipy` and `signal-processing-algorithms` (VISREG_PYTHON, default
//! python3); without one the test says why and passes, unless VISREG_REQUIRE_SCIPY=1
//! (CI sets it, after installing both into target/pyenv).

use std::io::Write;
use std::process::{Command, Stdio};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde_json::{json, Value};
use visreg_bench::changepoint::{change_points, q_values, ChangePointConfig};
use visreg_bench::verdict::{mcnemar_exact, wilcoxon_signed_rank};

fn python() -> Option<String> {
    let py = std::env::var("VISREG_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import scipy, signal_processing_algorithms"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Some(py)
    } else if std::env::var("VISREG_REQUIRE_SCIPY").as_deref() == Ok("1") {
        panic!(
            "{py} cannot import scipy and signal_processing_algorithms, and VISREG_REQUIRE_SCIPY=1"
        );
    } else {
        eprintln!("skipped: {py} cannot import scipy and signal_processing_algorithms (pip install scipy signal-processing-algorithms, or set VISREG_PYTHON)");
        None
    }
}

fn normal(n: usize, mean: f64, sd: f64, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let d = Normal::new(mean, sd).unwrap();
    (0..n).map(|_| d.sample(&mut rng)).collect()
}

/// Relative agreement, with an absolute floor for p-values near 0.
fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()) + 1e-300
}

#[test]
fn tests_and_change_points_agree_with_scipy_and_signal_processing_algorithms() {
    let Some(py) = python() else { return };
    // Signed-rank: untied small samples (exact), and large ones with ties and zeros
    // (normal approximation), leaning either way.
    let exact: Vec<Vec<f64>> = vec![
        normal(12, 0.3, 1.0, 1),
        normal(20, -0.2, 1.0, 2),
        normal(45, 0.0, 1.0, 3),
    ];
    let rounded = |v: Vec<f64>| {
        v.into_iter()
            .map(|x| (x * 4.0).round() / 4.0)
            .collect::<Vec<_>>()
    };
    let approx: Vec<Vec<f64>> = vec![
        rounded(normal(200, 0.05, 1.0, 4)),
        rounded(normal(415, -0.1, 0.5, 5)),
        normal(120, 0.2, 1.0, 6),
    ];
    let mut wilcoxon = Vec::new();
    for d in &exact {
        wilcoxon.push(json!({"d": d, "method": "exact"}));
    }
    for d in &approx {
        wilcoxon.push(json!({"d": d, "method": "approx"}));
    }
    let mcnemar = [(8u64, 0u64), (12, 0), (9, 3), (3, 9), (40, 31), (0, 5)];
    // Histories: one step in the middle, one in the last 3 points, two steps, none.
    let mut s1 = normal(20, 100.0, 2.0, 11);
    s1.extend(normal(20, 110.0, 2.0, 12));
    let mut s2 = normal(17, 100.0, 2.0, 13);
    s2.extend(normal(3, 120.0, 2.0, 14));
    let mut s3 = normal(15, 50.0, 1.0, 15);
    s3.extend(normal(15, 58.0, 1.0, 16));
    s3.extend(normal(15, 47.0, 1.0, 17));
    let s4 = normal(30, 100.0, 2.0, 18);
    let series = [s1, s2, s3, s4];
    let cases = json!({
        "wilcoxon": wilcoxon,
        "mcnemar": mcnemar.iter().map(|(l, g)| json!({"lost": l, "gained": g})).collect::<Vec<_>>(),
        "series": series,
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/reference.py");
    let mut child = Command::new(&py)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(cases.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{script} failed");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();

    for (d, want) in exact
        .iter()
        .chain(&approx)
        .zip(r["wilcoxon"].as_array().unwrap())
    {
        let s = wilcoxon_signed_rank(d).unwrap();
        for (ours, key) in [
            (s.p_two_sided, "two-sided"),
            (s.p_greater, "greater"),
            (s.p_less, "less"),
        ] {
            let theirs = want[key].as_f64().unwrap();
            assert!(
                close(ours, theirs, 1e-6),
                "wilcoxon {key}: {ours} vs scipy {theirs} (n = {}, exact {})",
                d.len(),
                s.exact
            );
        }
    }
    for ((lost, gained), want) in mcnemar.iter().zip(r["mcnemar"].as_array().unwrap()) {
        let (two, ge, le) = mcnemar_exact(*lost, *gained);
        for (ours, key) in [(two, "two-sided"), (ge, "greater"), (le, "less")] {
            let theirs = want[key].as_f64().unwrap();
            assert!(
                close(ours, theirs, 1e-9),
                "mcnemar {lost}/{gained} {key}: {ours} vs scipy {theirs}"
            );
        }
    }
    // The planted steps, so agreement is not two empty lists.
    let planted: [&[usize]; 4] = [&[20], &[17], &[15, 30], &[]];
    for (i, s) in series.iter().enumerate() {
        let found: Vec<usize> = change_points(s, &ChangePointConfig::default())
            .iter()
            .map(|c| c.index)
            .collect();
        assert_eq!(found, planted[i], "series {i}: the planted steps");
        let ours = q_values(s);
        let theirs: Vec<f64> = r["q"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(ours.len(), theirs.len());
        for (t, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert!(
                close(*a, *b, 1e-9),
                "series {i}: Q({t}) {a} vs signal-processing-algorithms {b}"
            );
        }
        let ours: Vec<usize> = change_points(s, &ChangePointConfig::default())
            .iter()
            .map(|c| c.index)
            .collect();
        let theirs: Vec<usize> = r["e_divisive"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(ours, theirs, "series {i}: change points vs e_divisive");
    }
}
