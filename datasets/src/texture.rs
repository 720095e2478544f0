//! Procedural backgrounds: smooth value noise plus sharp-edged clutter (rectangles and
//! bars), so the detector meets edges and quads that are not tags, as on a real desk.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Reflectance (0–1) of a textured background, row-major `width`×`height`.
pub(crate) fn background(width: u32, height: u32, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let (w, h) = (width as usize, height as usize);
    let base: f64 = rng.gen_range(0.25..0.65);
    let coarse = ValueNoise::new(w, h, 48.0, rng);
    let fine = ValueNoise::new(w, h, 9.0, rng);
    let mut out = vec![0.0; w * h];
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f64 + 0.5, y as f64 + 0.5);
            out[y * w + x] =
                base + 0.25 * (coarse.at(fx, fy) - 0.5) + 0.08 * (fine.at(fx, fy) - 0.5);
        }
    }
    // Clutter: a few flat rectangles and thin bars with sharp edges.
    let n_rects = rng.gen_range(2..7);
    for _ in 0..n_rects {
        let rw = rng.gen_range(0.05..0.35) * w as f64;
        let rh = rng.gen_range(0.05..0.35) * h as f64;
        let x0 = rng.gen_range(0.0..w as f64);
        let y0 = rng.gen_range(0.0..h as f64);
        let v: f64 = rng.gen_range(0.05..0.95);
        let bar = rng.gen_bool(0.3);
        let (rw, rh) = if bar {
            (rw.max(rh), 2.0 + rng.gen_range(0.0..3.0))
        } else {
            (rw, rh)
        };
        fill_rect(&mut out, w, h, x0, y0, rw, rh, v);
    }
    for v in &mut out {
        *v = v.clamp(0.02, 0.98);
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn fill_rect(buf: &mut [f64], w: usize, h: usize, x0: f64, y0: f64, rw: f64, rh: f64, v: f64) {
    let xa = x0.max(0.0) as usize;
    let ya = y0.max(0.0) as usize;
    let xb = ((x0 + rw) as usize).min(w);
    let yb = ((y0 + rh) as usize).min(h);
    for y in ya..yb {
        for x in xa..xb {
            buf[y * w + x] = v;
        }
    }
}

/// Bilinear value noise on a square lattice of `cell` pixels, smoothstep-interpolated.
struct ValueNoise {
    cols: usize,
    cell: f64,
    lattice: Vec<f64>,
}

impl ValueNoise {
    fn new(w: usize, h: usize, cell: f64, rng: &mut ChaCha8Rng) -> Self {
        let cols = (w as f64 / cell).ceil() as usize + 2;
        let rows = (h as f64 / cell).ceil() as usize + 2;
        let lattice = (0..cols * rows).map(|_| rng.gen_range(0.0..1.0)).collect();
        ValueNoise {
            cols,
            cell,
            lattice,
        }
    }

    fn at(&self, x: f64, y: f64) -> f64 {
        let (gx, gy) = (x / self.cell, y / self.cell);
        let (ix, iy) = (gx.floor() as usize, gy.floor() as usize);
        let s = |t: f64| t * t * (3.0 - 2.0 * t);
        let (tx, ty) = (s(gx.fract()), s(gy.fract()));
        let v = |cx: usize, cy: usize| self.lattice[cy * self.cols + cx];
        let top = v(ix, iy) * (1.0 - tx) + v(ix + 1, iy) * tx;
        let bottom = v(ix, iy + 1) * (1.0 - tx) + v(ix + 1, iy + 1) * tx;
        top * (1.0 - ty) + bottom * ty
    }
}
