//! The detector: explicit settings (recorded with every result) and detection on a gray
//! image, returning owned values in the library's conventions.

use apriltag_sys as sys;
use nalgebra::{Matrix3, Point2};
use serde::{Deserialize, Serialize};

use crate::family::{Family, FamilyHandle, FamilyLayout};
use crate::Error;

/// Every setting of the C detector, explicit so results can name them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorSettings {
    /// Family to decode.
    pub family: Family,
    /// Quads are found on an image decimated by this factor (1 = full resolution).
    pub quad_decimate: f32,
    /// Gaussian blur (σ, px) applied before quad detection; 0 = none.
    pub quad_sigma: f32,
    /// Snap quad edges to strong gradients (improves corner accuracy).
    pub refine_edges: bool,
    /// Sharpening of the sampled bits before decoding.
    pub decode_sharpening: f64,
    /// Bit errors the decoder corrects (0–3).
    pub max_hamming: u32,
    /// Threads the C library uses inside one detection. visreg parallelises over frames
    /// instead, so this is 1 by default.
    pub nthreads: u32,
    /// Quad threshold: minimum pixels in a connected component.
    pub min_cluster_pixels: i32,
    /// Quad threshold: corner candidates kept per cluster.
    pub max_nmaxima: i32,
    /// Quad threshold: reject quads whose corners are sharper than this (degrees).
    pub critical_angle_deg: f32,
    /// Quad threshold: maximum mean squared error of a line fit.
    pub max_line_fit_mse: f32,
    /// Quad threshold: minimum difference between white and black (gray levels).
    pub min_white_black_diff: i32,
    /// Quad threshold: deglitch the thresholded image (morphological cleanup).
    pub deglitch: bool,
}

impl DetectorSettings {
    /// The C library's defaults (see `shared/APRILTAG.md`) for `family`.
    pub fn library_defaults(family: Family) -> Self {
        DetectorSettings {
            family,
            quad_decimate: 2.0,
            quad_sigma: 0.0,
            refine_edges: true,
            decode_sharpening: 0.25,
            max_hamming: 2,
            nthreads: 1,
            min_cluster_pixels: 24,
            max_nmaxima: 10,
            critical_angle_deg: 10.0,
            max_line_fit_mse: 10.0,
            min_white_black_diff: 5,
            deglitch: false,
        }
    }

    /// visreg's reference settings: the library's defaults, except
    /// - quads found at full resolution (`quad_decimate` 1): the camera's images are small
    ///   (QQVGA–VGA) and the reference is about accuracy, not speed; decimation loses tags
    ///   under ~20 px;
    /// - bit corrections limited by the family's minimum Hamming distance h:
    ///   `max_hamming = clamp((h − 5) / 2, 0, 2)` — 0 for tag16h5, 1 for tagCircle21h7, 2
    ///   from tag25h9 on. Correcting 2 bits of tag16h5 decodes background clutter as tags
    ///   (59 false positives on the `qvga-tag16h5` preset, none at 0, recall unchanged).
    pub fn reference(family: Family) -> Self {
        let h = FamilyLayout::load(family)
            .map(|l| l.min_hamming)
            .unwrap_or(5);
        DetectorSettings {
            quad_decimate: 1.0,
            max_hamming: (h.saturating_sub(5) / 2).min(2),
            ..Self::library_defaults(family)
        }
    }

    fn validate(&self) -> Result<(), Error> {
        if self.max_hamming > 3 {
            return Err(Error::InvalidSetting(format!(
                "max_hamming {} is above 3, the most the library corrects",
                self.max_hamming
            )));
        }
        if self.quad_decimate.is_nan() || self.quad_decimate < 1.0 {
            return Err(Error::InvalidSetting(format!(
                "quad_decimate {} must be 1 or more",
                self.quad_decimate
            )));
        }
        if !self.quad_sigma.is_finite() || self.quad_sigma < 0.0 {
            return Err(Error::InvalidSetting(format!(
                "quad_sigma {} must be 0 or more",
                self.quad_sigma
            )));
        }
        if self.nthreads == 0 || self.nthreads > 64 {
            return Err(Error::InvalidSetting(format!(
                "nthreads {} must be between 1 and 64",
                self.nthreads
            )));
        }
        Ok(())
    }
}

/// A borrowed 8-bit gray image.
#[derive(Clone, Copy, Debug)]
pub struct GrayImage<'a> {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes per row (≥ width).
    pub stride: u32,
    /// Pixels, row-major.
    pub data: &'a [u8],
}

impl<'a> GrayImage<'a> {
    /// A tightly packed image (stride = width).
    pub fn new(width: u32, height: u32, data: &'a [u8]) -> Self {
        GrayImage {
            width,
            height,
            stride: width,
            data,
        }
    }
}

/// One detection, in the library's conventions (pixel-corner origin, corner order
/// (−1,+1), (+1,+1), (+1,−1), (−1,−1) in tag coordinates).
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// Family decoded.
    pub family: Family,
    /// Tag id.
    pub id: u32,
    /// Bits corrected.
    pub hamming: u32,
    /// Average difference between the bits' intensity and the decision threshold.
    pub decision_margin: f32,
    /// Homography from tag coordinates ([−1, 1]²) to pixels.
    pub homography: Matrix3<f64>,
    /// Tag centre in pixels.
    pub center: Point2<f64>,
    /// Corners in pixels, in the library's order.
    pub corners: [Point2<f64>; 4],
}

/// An AprilTag detector with one family. Not shared between threads (the C detector
/// keeps scratch state); make one per worker.
pub struct Detector {
    td: *mut sys::apriltag_detector_t,
    // Declared after `td` so the detector (which points into the family) drops first.
    family: FamilyHandle,
    settings: DetectorSettings,
}

// SAFETY: the detector and its family are only touched through `&mut self`, and the C
// library keeps no thread-local state.
unsafe impl Send for Detector {}

impl Detector {
    /// Creates a detector with `settings`.
    pub fn new(settings: DetectorSettings) -> Result<Self, Error> {
        settings.validate()?;
        let family = FamilyHandle::new(settings.family)?;
        // SAFETY: plain constructor; checked for NULL.
        let td = unsafe { sys::apriltag_detector_create() };
        if td.is_null() {
            return Err(Error::OutOfMemory("the detector"));
        }
        let detector = Detector {
            td,
            family,
            settings,
        };
        // SAFETY: `td` is valid and exclusively ours; the family outlives it (see field order).
        unsafe {
            let t = &mut *detector.td;
            let s = &detector.settings;
            t.nthreads = s.nthreads as i32;
            t.quad_decimate = s.quad_decimate;
            t.quad_sigma = s.quad_sigma;
            t.refine_edges = s.refine_edges;
            t.decode_sharpening = s.decode_sharpening;
            t.qtp.min_cluster_pixels = s.min_cluster_pixels;
            t.qtp.max_nmaxima = s.max_nmaxima;
            t.qtp.critical_rad = s.critical_angle_deg.to_radians();
            t.qtp.cos_critical_rad = t.qtp.critical_rad.cos();
            t.qtp.max_line_fit_mse = s.max_line_fit_mse;
            t.qtp.min_white_black_diff = s.min_white_black_diff;
            t.qtp.deglitch = i32::from(s.deglitch);
            sys::apriltag_detector_add_family_bits(
                detector.td,
                detector.family.ptr,
                s.max_hamming as i32,
            );
            if (*detector.family.ptr).impl_.is_null() {
                return Err(Error::OutOfMemory("the family's decode table"));
            }
        }
        Ok(detector)
    }

    /// The settings this detector runs with.
    pub fn settings(&self) -> &DetectorSettings {
        &self.settings
    }

    /// Detects tags in `image`.
    pub fn detect(&mut self, image: GrayImage<'_>) -> Result<Vec<Detection>, Error> {
        let needed = if image.height == 0 {
            0
        } else {
            (image.height as usize - 1) * image.stride as usize + image.width as usize
        };
        if image.stride < image.width || image.data.len() < needed {
            return Err(Error::BadImage {
                width: image.width,
                height: image.height,
                stride: image.stride,
                len: image.data.len(),
            });
        }
        if image.width == 0 || image.height == 0 {
            return Ok(Vec::new());
        }
        // The C API takes a mutable pointer; it only reads the input, but we hand it a
        // private copy so that no aliasing promise depends on that.
        let mut pixels = image.data[..needed].to_vec();
        let mut im = sys::image_u8 {
            width: image.width as i32,
            height: image.height as i32,
            stride: image.stride as i32,
            buf: pixels.as_mut_ptr(),
        };
        // SAFETY: `im` describes `pixels`, alive for the call; `td` is valid.
        let zarray = unsafe { sys::apriltag_detector_detect(self.td, &mut im) };
        if zarray.is_null() {
            return Err(Error::OutOfMemory("detections"));
        }
        let mut out = Vec::new();
        // SAFETY: the zarray holds `size` pointers to detections; we copy each and free all.
        unsafe {
            let z = &*zarray;
            for i in 0..z.size.max(0) as usize {
                let det_ptr = *(z.data as *const *mut sys::apriltag_detection_t).add(i);
                let det = &*det_ptr;
                let h = &*det.H;
                let hd = std::slice::from_raw_parts(h.data, 9);
                out.push(Detection {
                    family: self.settings.family,
                    id: det.id as u32,
                    hamming: det.hamming as u32,
                    decision_margin: det.decision_margin,
                    homography: Matrix3::from_row_slice(hd),
                    center: Point2::new(det.c[0], det.c[1]),
                    corners: det.p.map(|p| Point2::new(p[0], p[1])),
                });
            }
            sys::apriltag_detections_destroy(zarray);
        }
        // The library's order depends on its internal quad order; make it stable.
        out.sort_by(|a, b| {
            a.id.cmp(&b.id)
                .then(a.center.x.total_cmp(&b.center.x))
                .then(a.center.y.total_cmp(&b.center.y))
        });
        Ok(out)
    }
}

impl Drop for Detector {
    fn drop(&mut self) {
        // SAFETY: created in `new`, destroyed once; it does not free the family.
        unsafe { sys::apriltag_detector_destroy(self.td) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_settings_are_refused_with_the_reason() {
        let mut s = DetectorSettings::reference(Family::Tag36h11);
        s.max_hamming = 4;
        let err = Detector::new(s).err().unwrap();
        assert!(err.to_string().contains("max_hamming 4 is above 3"));
        let mut s = DetectorSettings::reference(Family::Tag36h11);
        s.quad_decimate = 0.5;
        assert!(Detector::new(s).is_err());
    }

    #[test]
    fn reference_corrections_follow_the_family_distance() {
        let h = |f| DetectorSettings::reference(f).max_hamming;
        assert_eq!(h(Family::Tag16h5), 0);
        assert_eq!(h(Family::TagCircle21h7), 1);
        assert_eq!(h(Family::Tag25h9), 2);
        assert_eq!(h(Family::Tag36h11), 2);
    }

    #[test]
    fn blank_and_short_images() {
        let mut d = Detector::new(DetectorSettings::reference(Family::Tag36h11)).unwrap();
        let blank = vec![128u8; 64 * 48];
        assert!(d.detect(GrayImage::new(64, 48, &blank)).unwrap().is_empty());
        let err = d.detect(GrayImage::new(64, 49, &blank)).unwrap_err();
        assert!(err.to_string().contains("too small"));
    }
}
