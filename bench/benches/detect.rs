//! Host detector cost per frame at the camera's common resolutions, and scoring cost per
//! frame. Frames are rendered in memory from the built-in presets' distributions (scaled
//! to each resolution), so the bench needs no files.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use visreg_apriltag::{DetectorSettings, FamilyLayout, GrayImage};
use visreg_bench::detector::PoseParams;
use visreg_bench::{score_frame, HostDetector, MatchConfig};
use visreg_datasets::preset::{self, Preset};
use visreg_datasets::render::render;
use visreg_datasets::FrameTruth;

fn frames_at(width: u32, height: u32, n: usize) -> (Preset, Vec<(Vec<u8>, FrameTruth)>) {
    let base = preset::find("qvga-basic").expect("built-in preset");
    let scale = f64::from(width) / f64::from(base.width);
    let p = Preset {
        width,
        height,
        // Keep tags the same size in pixels relative to the frame.
        min_tag_px: base.min_tag_px * scale,
        ..base.clone()
    };
    let layout = FamilyLayout::load(p.family).expect("family");
    let frames = (0..n)
        .map(|i| {
            let spec = p.frame_spec(1, i, &layout);
            let r = render(&spec).expect("render");
            let truth = FrameTruth {
                frame: format!("frames/{i:06}.png"),
                scene: r.scene,
                tags: r.tags,
            };
            (r.pixels, truth)
        })
        .collect();
    (p, frames)
}

fn detection(c: &mut Criterion) {
    let mut g = c.benchmark_group("detect_per_frame");
    for (name, w, h) in [("QQVGA", 160, 120), ("QVGA", 320, 240), ("VGA", 640, 480)] {
        let (p, frames) = frames_at(w, h, 16);
        let det = HostDetector::new(DetectorSettings::reference(p.family)).expect("detector");
        let k = visreg_datasets::geometry::openmv_default_intrinsics(w, h);
        let pose = PoseParams {
            intrinsics: k,
            tag_size_m: p.tag_size_m,
        };
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(
            BenchmarkId::new("reference+pose", name),
            &frames,
            |b, frames| {
                let mut i = 0;
                b.iter(|| {
                    let (px, _) = &frames[i % frames.len()];
                    i += 1;
                    det.detect(GrayImage::new(w, h, px), Some(pose))
                        .expect("detect")
                })
            },
        );
    }
    g.finish();
}

fn scoring(c: &mut Criterion) {
    let (p, frames) = frames_at(320, 240, 16);
    let det = HostDetector::new(DetectorSettings::reference(p.family)).expect("detector");
    let pose = PoseParams {
        intrinsics: visreg_datasets::geometry::openmv_default_intrinsics(320, 240),
        tag_size_m: p.tag_size_m,
    };
    let detected: Vec<_> = frames
        .iter()
        .map(|(px, t)| {
            (
                t.clone(),
                det.detect(GrayImage::new(320, 240, px), Some(pose))
                    .expect("detect"),
            )
        })
        .collect();
    c.bench_function("score_per_frame", |b| {
        let mut i = 0;
        b.iter(|| {
            let (t, d) = &detected[i % detected.len()];
            i += 1;
            score_frame(t, d, Some(1.0), &MatchConfig::default())
        })
    });
}

criterion_group!(benches, detection, scoring);
criterion_main!(benches);
