//! Whole-dataset evaluation (decode + detect + pose + score) of the built-in `qvga-basic`
//! preset on 1 thread and on every CPU: the ratio of the two is the rayon speedup that
//! the README and the foundation issue quote. The dataset is rendered once into the
//! visreg cache (or `$VISREG_CACHE_DIR`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use visreg_bench::{evaluate, EvalOptions};
use visreg_datasets::cache::ensure_preset;
use visreg_datasets::preset;

fn whole_dataset(c: &mut Criterion) {
    let p = preset::find("qvga-basic").expect("built-in preset");
    let ds = ensure_preset(p, preset::DEFAULT_SEED, &|_| {}).expect("dataset");
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut g = c.benchmark_group("evaluate_qvga_basic");
    g.sample_size(10);
    g.measurement_time(std::time::Duration::from_secs(12));
    g.throughput(Throughput::Elements(ds.frames.len() as u64));
    let mut threads = vec![1];
    if cpus > 1 {
        threads.push(cpus);
    }
    for t in threads {
        let opts = EvalOptions {
            threads: Some(t),
            ..EvalOptions::reference(&ds)
        };
        g.bench_with_input(BenchmarkId::new("threads", t), &opts, |b, opts| {
            b.iter(|| evaluate(&ds, opts, &|_, _| {}).expect("evaluate"))
        });
    }
    g.finish();
}

criterion_group!(benches, whole_dataset);
criterion_main!(benches);
