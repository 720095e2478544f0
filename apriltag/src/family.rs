//! Tag families: names as the library and the camera spell them, and the family data
//! (codes, bit positions, widths) read from the C library itself, never hand-typed.

use std::ffi::CStr;
use std::fmt;
use std::str::FromStr;

use apriltag_sys as sys;
use serde::{Deserialize, Serialize};

use crate::Error;

/// An AprilTag family the C library ships.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Family {
    /// tag16h5: 30 codes, 4×4 data bits.
    Tag16h5,
    /// tag25h9: 35 codes.
    Tag25h9,
    /// tag36h11: 587 codes; the camera's default.
    Tag36h11,
    /// tagCircle21h7: 38 codes, circular layout, reversed border.
    TagCircle21h7,
    /// tagCircle49h12: 65535 codes.
    TagCircle49h12,
    /// tagCustom48h12: 42211 codes.
    TagCustom48h12,
    /// tagStandard41h12: 2115 codes, data bits outside the border.
    TagStandard41h12,
    /// tagStandard52h13: 48714 codes.
    TagStandard52h13,
}

/// A family name that is not one of the library's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tag family '{0}' (known: tag16h5, tag25h9, tag36h11, tagCircle21h7, tagCircle49h12, tagCustom48h12, tagStandard41h12, tagStandard52h13)")]
pub struct UnknownFamily(pub String);

impl Family {
    /// Every family, in a stable order.
    pub const ALL: [Family; 8] = [
        Family::Tag16h5,
        Family::Tag25h9,
        Family::Tag36h11,
        Family::TagCircle21h7,
        Family::TagCircle49h12,
        Family::TagCustom48h12,
        Family::TagStandard41h12,
        Family::TagStandard52h13,
    ];

    /// The library's name, e.g. `tag36h11`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Tag16h5 => "tag16h5",
            Family::Tag25h9 => "tag25h9",
            Family::Tag36h11 => "tag36h11",
            Family::TagCircle21h7 => "tagCircle21h7",
            Family::TagCircle49h12 => "tagCircle49h12",
            Family::TagCustom48h12 => "tagCustom48h12",
            Family::TagStandard41h12 => "tagStandard41h12",
            Family::TagStandard52h13 => "tagStandard52h13",
        }
    }

    pub(crate) fn create(self) -> *mut sys::apriltag_family_t {
        // SAFETY: the create functions take no arguments and return a heap family (or NULL).
        unsafe {
            match self {
                Family::Tag16h5 => sys::tag16h5_create(),
                Family::Tag25h9 => sys::tag25h9_create(),
                Family::Tag36h11 => sys::tag36h11_create(),
                Family::TagCircle21h7 => sys::tagCircle21h7_create(),
                Family::TagCircle49h12 => sys::tagCircle49h12_create(),
                Family::TagCustom48h12 => sys::tagCustom48h12_create(),
                Family::TagStandard41h12 => sys::tagStandard41h12_create(),
                Family::TagStandard52h13 => sys::tagStandard52h13_create(),
            }
        }
    }

    pub(crate) fn destroy(self, ptr: *mut sys::apriltag_family_t) {
        // SAFETY: `ptr` came from the matching `create` and is destroyed once.
        unsafe {
            match self {
                Family::Tag16h5 => sys::tag16h5_destroy(ptr),
                Family::Tag25h9 => sys::tag25h9_destroy(ptr),
                Family::Tag36h11 => sys::tag36h11_destroy(ptr),
                Family::TagCircle21h7 => sys::tagCircle21h7_destroy(ptr),
                Family::TagCircle49h12 => sys::tagCircle49h12_destroy(ptr),
                Family::TagCustom48h12 => sys::tagCustom48h12_destroy(ptr),
                Family::TagStandard41h12 => sys::tagStandard41h12_destroy(ptr),
                Family::TagStandard52h13 => sys::tagStandard52h13_destroy(ptr),
            }
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Family {
    type Err = UnknownFamily;

    /// Accepts the library's names in any case (`tag36h11`, `TAG36H11` as OpenMV writes
    /// them, `tagcircle21h7`) with or without the `tag` prefix.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        let wanted = wanted.strip_prefix("tag").unwrap_or(&wanted).to_string();
        Family::ALL
            .into_iter()
            .find(|f| f.name()[3..].eq_ignore_ascii_case(&wanted))
            .ok_or_else(|| UnknownFamily(s.to_string()))
    }
}

impl From<Family> for String {
    fn from(f: Family) -> String {
        f.name().to_string()
    }
}

impl TryFrom<String> for Family {
    type Error = UnknownFamily;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// An owned C family object; freed on drop. Immutable after creation, so it may move
/// between threads.
pub(crate) struct FamilyHandle {
    pub(crate) family: Family,
    pub(crate) ptr: *mut sys::apriltag_family_t,
}

// SAFETY: the C family is plain immutable data once created (its decode table is built by
// the detector that owns it, before any detection), and we never share it mutably.
unsafe impl Send for FamilyHandle {}

impl FamilyHandle {
    pub(crate) fn new(family: Family) -> Result<Self, Error> {
        let ptr = family.create();
        if ptr.is_null() {
            return Err(Error::OutOfMemory("a tag family"));
        }
        Ok(FamilyHandle { family, ptr })
    }

    fn raw(&self) -> &sys::apriltag_family_t {
        // SAFETY: non-null, valid until drop.
        unsafe { &*self.ptr }
    }
}

impl Drop for FamilyHandle {
    fn drop(&mut self) {
        self.family.destroy(self.ptr);
    }
}

/// The data of a family as the C library holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyLayout {
    /// Which family.
    pub family: Family,
    /// The library's name for it (read from the C struct).
    pub name: String,
    /// Number of codes (valid ids are `0..ncodes`).
    pub ncodes: u32,
    /// Data bits per code.
    pub nbits: u32,
    /// Width in cells of the square between the outer edges of the border; tag
    /// coordinate ±1 lies on this square, and the pose "tag size" is its edge.
    pub width_at_border: u32,
    /// Width in cells of the whole drawn tag.
    pub total_width: u32,
    /// True when the border is white inside black (tagCircle*, tagStandard*).
    pub reversed_border: bool,
    /// Minimum Hamming distance between codes.
    pub min_hamming: u32,
}

impl FamilyLayout {
    /// Reads a family's data from the C library.
    pub fn load(family: Family) -> Result<Self, Error> {
        let handle = FamilyHandle::new(family)?;
        let raw = handle.raw();
        // SAFETY: the library sets `name` to a static NUL-terminated string.
        let name = unsafe { CStr::from_ptr(raw.name) }
            .to_string_lossy()
            .into_owned();
        Ok(FamilyLayout {
            family,
            name,
            ncodes: raw.ncodes,
            nbits: raw.nbits,
            width_at_border: raw.width_at_border as u32,
            total_width: raw.total_width as u32,
            reversed_border: raw.reversed_border,
            min_hamming: raw.h,
        })
    }

    /// Ratio of the drawn tag's width to the pose tag size (10/8 for tag36h11).
    pub fn total_to_border_ratio(&self) -> f64 {
        f64::from(self.total_width) / f64::from(self.width_at_border)
    }
}

/// One tag drawn one cell per pixel by the library's own `apriltag_to_image`: a
/// `width`² grid, row-major, 0 black and 255 white.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagCells {
    /// Family.
    pub family: Family,
    /// Tag id.
    pub id: u32,
    /// Cells per side (the family's `total_width`).
    pub width: u32,
    /// Row-major cells, 0 or 255.
    pub cells: Vec<u8>,
}

impl TagCells {
    /// Draws tag `id` of `family` with the C library.
    pub fn draw(family: Family, id: u32) -> Result<Self, Error> {
        let handle = FamilyHandle::new(family)?;
        let raw = handle.raw();
        if id >= raw.ncodes {
            return Err(Error::IdOutOfRange {
                family,
                id,
                count: raw.ncodes,
            });
        }
        // SAFETY: valid family and in-range id; the returned image is freed below.
        let im = unsafe { sys::apriltag_to_image(handle.ptr, id) };
        if im.is_null() {
            return Err(Error::OutOfMemory("a tag image"));
        }
        // SAFETY: `im` is a valid image_u8 of width×height with `stride` bytes per row.
        let cells = unsafe {
            let im_ref = &*im;
            let (w, h, stride) = (
                im_ref.width as usize,
                im_ref.height as usize,
                im_ref.stride as usize,
            );
            let mut out = Vec::with_capacity(w * h);
            for y in 0..h {
                let row = std::slice::from_raw_parts(im_ref.buf.add(y * stride), w);
                out.extend_from_slice(row);
            }
            sys::image_u8_destroy(im);
            out
        };
        Ok(TagCells {
            family,
            id,
            width: raw.total_width as u32,
            cells,
        })
    }

    /// The cell at column `x`, row `y`: true when white.
    pub fn is_white(&self, x: u32, y: u32) -> bool {
        self.cells[(y * self.width + x) as usize] > 127
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_accept_openmv_spelling() {
        for f in Family::ALL {
            assert_eq!(f.name().parse::<Family>().unwrap(), f);
            assert_eq!(f.name().to_uppercase().parse::<Family>().unwrap(), f);
        }
        assert_eq!("TAG36H11".parse::<Family>().unwrap(), Family::Tag36h11);
        assert_eq!("36h11".parse::<Family>().unwrap(), Family::Tag36h11);
        let err = "tag99h1".parse::<Family>().unwrap_err();
        assert!(err.to_string().contains("unknown tag family 'tag99h1'"));
    }

    #[test]
    fn layouts_come_from_the_library() {
        let l = FamilyLayout::load(Family::Tag36h11).unwrap();
        assert_eq!(
            (
                l.name.as_str(),
                l.ncodes,
                l.nbits,
                l.width_at_border,
                l.total_width
            ),
            ("tag36h11", 587, 36, 8, 10)
        );
        assert!(!l.reversed_border);
        let l = FamilyLayout::load(Family::Tag16h5).unwrap();
        assert_eq!(
            (l.ncodes, l.nbits, l.width_at_border, l.total_width),
            (30, 16, 6, 8)
        );
        let l = FamilyLayout::load(Family::TagStandard41h12).unwrap();
        assert!(l.reversed_border);
        for f in Family::ALL {
            assert_eq!(FamilyLayout::load(f).unwrap().name, f.name());
        }
    }

    #[test]
    fn tag36h11_id0_has_white_ring_and_black_border() {
        let t = TagCells::draw(Family::Tag36h11, 0).unwrap();
        assert_eq!(t.width, 10);
        for i in 0..10 {
            assert!(t.is_white(i, 0) && t.is_white(0, i) && t.is_white(i, 9) && t.is_white(9, i));
        }
        for i in 1..9 {
            assert!(
                !t.is_white(i, 1) && !t.is_white(1, i) && !t.is_white(i, 8) && !t.is_white(8, i)
            );
        }
        // Different ids differ somewhere in the data area.
        let t1 = TagCells::draw(Family::Tag36h11, 1).unwrap();
        assert_ne!(t.cells, t1.cells);
    }

    #[test]
    fn out_of_range_id_is_an_error() {
        let err = TagCells::draw(Family::Tag16h5, 30).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tag id 30 is not in family tag16h5 (it has ids 0..30)"
        );
    }
}
