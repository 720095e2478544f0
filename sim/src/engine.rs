//! The virtual camera's `find_apriltags`: the AprilTag C library with the settings the
//! firmware uses (the library's defaults: OpenMV's wrapper only sets nthreads = 1), its
//! results in the camera's conventions ([`visreg_firmware::openmv`]), and the simulated build's
//! behaviour — its latency model and its planted defects.
//!
//! The library's detections depend only on the pixels and the detector's settings, so
//! a [`DetectionCache`] shared by every engine of one virtual camera computes them once
//! per frame: a run replays the same frames for every build and repetition, and the
//! modelled on-device time never came from the host's clock anyway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use visreg_apriltag::{Detection, Detector, DetectorSettings, Family, GrayImage};
use visreg_datasets::Intrinsics;

use visreg_firmware::catalog::{Defect, SimBehaviour};
use visreg_firmware::openmv::{from_library, CameraTag, TagConventions};

/// One call's result.
#[derive(Clone, Debug, PartialEq)]
pub struct FindResult {
    /// Tags, camera conventions.
    pub tags: Vec<CameraTag>,
    /// Modelled on-device time of the call, µs.
    pub t_us: u64,
}

/// Bytes of frames a [`DetectionCache`] keeps before it starts afresh: a few hundred
/// QVGA frames (a whole built-in dataset), bounded so a `visreg sim` serving many
/// datasets for days does not grow without end.
pub const CACHE_BYTES: usize = 64 << 20;

/// The library's detections of frames already seen, keyed by the exact pixels (compared
/// in full, not trusted to a hash) and the detector settings. Cloning shares it.
#[derive(Clone, Default)]
pub struct DetectionCache {
    inner: Arc<Mutex<CacheInner>>,
}

#[derive(Default)]
struct CacheInner {
    /// By the pixels' FNV-1a hash; each bucket compares settings, size and pixels.
    entries: HashMap<u64, Vec<CacheEntry>>,
    bytes: usize,
    hits: u64,
    misses: u64,
    /// Idle detectors: making one costs more than a detection (the family's decode
    /// table), so the engines of every boot share them.
    pool: Vec<Detector>,
}

struct CacheEntry {
    settings: DetectorSettings,
    width: u32,
    stride: u32,
    height: u32,
    pixels: Vec<u8>,
    detections: Arc<Vec<Detection>>,
}

impl DetectionCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// (hits, misses) so far.
    pub fn stats(&self) -> (u64, u64) {
        let c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        (c.hits, c.misses)
    }

    /// A detector with `settings`: an idle one, or a new one.
    fn take_detector(
        &self,
        settings: &DetectorSettings,
    ) -> Result<Detector, visreg_apriltag::Error> {
        let idle = {
            let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            c.pool
                .iter()
                .position(|d| d.settings() == settings)
                .map(|i| c.pool.swap_remove(i))
        };
        match idle {
            Some(d) => Ok(d),
            None => Detector::new(settings.clone()),
        }
    }

    fn give_back(&self, d: Detector) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pool
            .push(d);
    }

    /// The detections of `image` under `settings`: remembered, or detected now and
    /// remembered.
    fn detect(
        &self,
        settings: &DetectorSettings,
        image: GrayImage<'_>,
    ) -> Result<Arc<Vec<Detection>>, visreg_apriltag::Error> {
        let pixel_hash = quick_hash(image.data);
        let same = |e: &CacheEntry| {
            e.width == image.width
                && e.stride == image.stride
                && e.height == image.height
                && e.settings == *settings
                && e.pixels == image.data
        };
        {
            let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let found = c
                .entries
                .get(&pixel_hash)
                .and_then(|b| b.iter().find(|e| same(e)))
                .map(|e| e.detections.clone());
            if let Some(d) = found {
                c.hits += 1;
                return Ok(d);
            }
            c.misses += 1;
        }
        // Detected outside the lock: two engines of one camera never wait on each other.
        let mut detector = self.take_detector(settings)?;
        let detected = detector.detect(image);
        self.give_back(detector);
        let detections = Arc::new(detected?);
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if c.bytes + image.data.len() > CACHE_BYTES {
            c.entries.clear();
            c.bytes = 0;
        }
        c.bytes += image.data.len();
        c.entries.entry(pixel_hash).or_default().push(CacheEntry {
            settings: settings.clone(),
            width: image.width,
            stride: image.stride,
            height: image.height,
            pixels: image.data.to_vec(),
            detections: detections.clone(),
        });
        Ok(detections)
    }
}

/// A hash of `data` eight bytes at a time: a cache bucket's key only (entries compare
/// their pixels in full), so speed matters more than spread.
fn quick_hash(data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(8);
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ data.len() as u64;
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h ^ w).wrapping_mul(0x100_0000_01b3).rotate_left(29);
    }
    for &b in chunks.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// The detector of a simulated build.
pub struct Engine {
    settings: DetectorSettings,
    conventions: TagConventions,
    behaviour: SimBehaviour,
    rng: ChaCha8Rng,
    cache: DetectionCache,
}

impl Engine {
    /// An engine for `family` behaving as `behaviour`, reporting in the `conventions` of its
    /// firmware generation; `seed` drives the latency noise (vary it between runs to get
    /// run-to-run noise).
    ///
    /// What it cannot reproduce: it runs upstream AprilTag 3.4.5, which joins white pixels
    /// diagonally when it segments the thresholded image (`do_unionfind_line2`,
    /// apriltag_quad_thresh.c). Firmware 5.x builds the openmv/apriltag fork with
    /// `APRILTAG_ENABLE_8_CONNECTIVITY 0` (lib/imlib/apriltag_config.h v5.0.0; no board
    /// defines `IMLIB_ENABLE_FINE_APRILTAGS`), and firmware 4.x runs its own in-tree
    /// detector (lib/imlib/apriltag.c v4.8.1: no decimation, integer-sampled
    /// `refine_edges`, which does join diagonally). Measured with upstream 3.4.5 built
    /// with and without the diagonal joins (the fork's own code is not in the mirror):
    /// at the library's defaults 4-connectivity found 95.2 % of `qqvga` (seed 1, 300
    /// frames) against 84.4 %, 50.4 % of `hard` against 39.4 %, and 415 against 412 of
    /// 415 tags on `qvga-basic`; corners agree to 0.002 px on average. So the virtual
    /// 5.x camera may find up to about 11 points fewer small or hard tags than a real one
    /// would; its corners and poses are not affected beyond the tags it finds.
    pub fn new(
        family: Family,
        conventions: TagConventions,
        behaviour: SimBehaviour,
        seed: u64,
    ) -> Result<Self, visreg_apriltag::Error> {
        Self::with_cache(family, conventions, behaviour, seed, DetectionCache::new())
    }

    /// [`Engine::new`] remembering detections in `cache` (shared with the other engines
    /// of the same camera).
    pub fn with_cache(
        family: Family,
        conventions: TagConventions,
        behaviour: SimBehaviour,
        seed: u64,
        cache: DetectionCache,
    ) -> Result<Self, visreg_apriltag::Error> {
        let mut settings = DetectorSettings::library_defaults(family);
        if conventions == TagConventions::Fw4 {
            // 4.x's detector has neither decimation nor decode sharpening
            // (lib/imlib/apriltag.c v4.8.1: no quad_decimate, no decode_sharpening field):
            // quads at full resolution, bits sampled as they are.
            settings.quad_decimate = 1.0;
            settings.decode_sharpening = 0.0;
        }
        // Made (or found idle) now, so settings the library refuses fail at start-up.
        cache.give_back(cache.take_detector(&settings)?);
        Ok(Engine {
            settings,
            conventions,
            behaviour,
            rng: ChaCha8Rng::seed_from_u64(seed),
            cache,
        })
    }

    /// The family this engine decodes.
    pub fn family(&self) -> Family {
        self.settings.family
    }

    /// Runs `find_apriltags` on a gray frame with the intrinsics the script passed.
    pub fn find_apriltags(
        &mut self,
        image: GrayImage<'_>,
        k: &Intrinsics,
    ) -> Result<FindResult, visreg_apriltag::Error> {
        let detections = self.cache.detect(&self.settings, image)?;
        let conv = self.conventions;
        let mut tags: Vec<CameraTag> = detections
            .iter()
            .map(|d| from_library(d, k, conv))
            .collect();
        let mut factor = 1.0;
        for defect in &self.behaviour.defects {
            match defect {
                Defect::Slow { factor: f } => factor *= f,
                Defect::PoseBroken => {
                    for t in &mut tags {
                        t.x_translation = f64::NAN;
                        t.y_translation = f64::NAN;
                        t.z_translation = f64::NAN;
                        t.x_rotation = f64::NAN;
                        t.y_rotation = f64::NAN;
                        t.z_rotation = f64::NAN;
                        t.rotation = f64::NAN;
                    }
                }
                // A build that does not boot never gets here (see `VirtualUnit`).
                Defect::BootFail => {}
                Defect::AngleLimit { max_view_angle_deg } => {
                    tags.retain(|t| view_angle_deg(t).is_none_or(|a| a <= *max_view_angle_deg));
                }
                Defect::TailSlow {
                    fraction,
                    factor: f,
                } => {
                    let h =
                        visreg_datasets::hash::fnv1a(visreg_datasets::hash::FNV_BASIS, image.data);
                    // The hash's place in [0, 1): the same frame, the same place.
                    if (h >> 11) as f64 / (1u64 << 53) as f64 >= 1.0 - fraction {
                        factor *= f;
                    }
                }
            }
        }
        let b = &self.behaviour;
        let pixels = f64::from(image.width) * f64::from(image.height);
        let model =
            (b.base_us + b.per_kpixel_us * pixels / 1000.0 + b.per_tag_us * tags.len() as f64)
                * factor;
        let noise = Normal::new(0.0, b.jitter.max(0.0))
            .expect("σ ≥ 0")
            .sample(&mut self.rng);
        let t_us = (model * (1.0 + noise)).max(1.0).round() as u64;
        Ok(FindResult { tags, t_us })
    }
}

/// The view angle of a camera result, from its own pose (the camera knows no truth).
fn view_angle_deg(t: &CameraTag) -> Option<f64> {
    let pose = visreg_firmware::openmv::camera_pose(t, 2.0).ok()?;
    Some(pose.view_angle_deg())
}

#[cfg(test)]
mod tests {
    use super::*;
    use visreg_datasets::preset;
    use visreg_firmware::catalog::Catalog;

    fn engine(build: &str) -> Engine {
        let c = Catalog::builtin();
        Engine::new(
            Family::Tag36h11,
            TagConventions::Fw5,
            c.build(build).unwrap().sim.clone().unwrap(),
            1,
        )
        .unwrap()
    }

    #[test]
    fn defects_change_what_the_camera_reports() {
        let dir = tempfile::tempdir().unwrap();
        let p = preset::find("qvga-basic").unwrap();
        let ds =
            visreg_datasets::generate::generate(p, 1, Some(30), &dir.path().join("d"), &|_| {})
                .unwrap();
        let k = ds.manifest.intrinsics();
        let (mut clean, mut slow, mut nopose, mut steep) = (
            engine("5.0.0"),
            engine("5.1.0-rc1"),
            engine("5.1.0-rc2"),
            engine("5.1.0-rc3"),
        );
        let (mut n_clean, mut n_steep, mut t_clean, mut t_slow) = (0, 0, 0u64, 0u64);
        for i in 0..ds.frames.len() {
            let f = ds.load_frame(i).unwrap();
            let img = GrayImage::new(f.width, f.height, &f.pixels);
            let a = clean.find_apriltags(img, &k).unwrap();
            n_clean += a.tags.len();
            t_clean += a.t_us;
            t_slow += slow.find_apriltags(img, &k).unwrap().t_us;
            n_steep += steep.find_apriltags(img, &k).unwrap().tags.len();
            let np = nopose.find_apriltags(img, &k).unwrap();
            assert_eq!(
                np.tags.len(),
                a.tags.len(),
                "pose-broken still finds the tags"
            );
            assert!(np.tags.iter().all(|t| t.z_translation.is_nan()));
            assert!(a.tags.iter().all(|t| t.z_translation < 0.0));
        }
        assert!(
            n_steep < n_clean,
            "angle limit loses tags ({n_steep} vs {n_clean})"
        );
        let ratio = t_slow as f64 / t_clean as f64;
        assert!((ratio - 1.25).abs() < 0.05, "slow build ratio {ratio}");
    }

    #[test]
    fn engines_sharing_a_cache_detect_each_frame_once_and_report_as_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = preset::find("qvga-basic").unwrap();
        let ds =
            visreg_datasets::generate::generate(p, 1, Some(12), &dir.path().join("d"), &|_| {})
                .unwrap();
        let k = ds.manifest.intrinsics();
        let c = Catalog::builtin();
        let cache = DetectionCache::new();
        let shared = |build: &str| {
            Engine::with_cache(
                Family::Tag36h11,
                TagConventions::Fw5,
                c.build(build).unwrap().sim.clone().unwrap(),
                1,
                cache.clone(),
            )
            .unwrap()
        };
        let (mut a, mut b, mut steep) = (shared("5.0.0"), shared("5.0.0"), shared("5.1.0-rc3"));
        let (mut plain, mut plain_steep) = (engine("5.0.0"), engine("5.1.0-rc3"));
        let n = ds.frames.len() as u64;
        for i in 0..ds.frames.len() {
            let f = ds.load_frame(i).unwrap();
            let img = GrayImage::new(f.width, f.height, &f.pixels);
            let want = plain.find_apriltags(img, &k).unwrap();
            assert_eq!(a.find_apriltags(img, &k).unwrap(), want, "frame {i}");
            // Another engine on the same seed: the same tags and the same modelled time.
            assert_eq!(b.find_apriltags(img, &k).unwrap(), want, "frame {i}");
            // A defect still applies to remembered detections.
            assert_eq!(
                steep.find_apriltags(img, &k).unwrap().tags,
                plain_steep.find_apriltags(img, &k).unwrap().tags
            );
        }
        assert_eq!(cache.stats(), (2 * n, n), "each frame detected once");
        // A frame differing in one pixel is not the same frame.
        let f = ds.load_frame(0).unwrap();
        let mut px = f.pixels.clone();
        px[0] ^= 1;
        a.find_apriltags(GrayImage::new(f.width, f.height, &px), &k)
            .unwrap();
        assert_eq!(cache.stats(), (2 * n, n + 1));
        // Other settings (another family) are another key.
        let mut other = Engine::with_cache(
            Family::Tag16h5,
            TagConventions::Fw5,
            c.build("5.0.0").unwrap().sim.clone().unwrap(),
            1,
            cache.clone(),
        )
        .unwrap();
        other
            .find_apriltags(GrayImage::new(f.width, f.height, &f.pixels), &k)
            .unwrap();
        assert_eq!(cache.stats(), (2 * n, n + 2));
    }

    #[test]
    fn a_tail_slow_build_slows_the_same_fifth_of_the_frames_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let p = preset::find("qvga-basic").unwrap();
        let ds =
            visreg_datasets::generate::generate(p, 1, Some(60), &dir.path().join("d"), &|_| {})
                .unwrap();
        let k = ds.manifest.intrinsics();
        let (mut clean, mut tail) = (engine("5.0.0"), engine("5.1.0-rc4"));
        let mut slow_frames = Vec::new();
        for i in 0..ds.frames.len() {
            let f = ds.load_frame(i).unwrap();
            let img = GrayImage::new(f.width, f.height, &f.pixels);
            let a = clean.find_apriltags(img, &k).unwrap();
            let (b1, b2) = (
                tail.find_apriltags(img, &k).unwrap(),
                tail.find_apriltags(img, &k).unwrap(),
            );
            assert_eq!(b1.tags, a.tags, "the tail build finds the same tags");
            let (r1, r2) = (
                b1.t_us as f64 / a.t_us as f64,
                b2.t_us as f64 / a.t_us as f64,
            );
            // 2 % jitter either side: a slowed frame is ~1.5×, another ~1×.
            assert_eq!(
                r1 > 1.25,
                r2 > 1.25,
                "frame {i}: the same frame, the same path"
            );
            if r1 > 1.25 {
                assert!((r1 - 1.5).abs() < 0.15, "frame {i}: {r1}");
                slow_frames.push(i);
            }
        }
        let share = slow_frames.len() as f64 / ds.frames.len() as f64;
        assert!((0.08..0.35).contains(&share), "{share} of frames slowed");
    }
}
