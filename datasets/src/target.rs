//! Printable target sheets for users building a physical rig: tags of a family at a
//! stated size, laid out on a page at a stated DPI, with each id printed under its tag and
//! a 100 mm scale bar to check that the printer did not rescale. The PNG carries its DPI
//! (pHYs chunk) so that printing at "100 %" gives the stated size.

use std::path::Path;

use visreg_apriltag::{Family, FamilyLayout, TagCells};

/// Paper sizes, millimetres.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paper {
    /// 210 × 297 mm.
    A4,
    /// 8.5 × 11 in.
    Letter,
}

impl Paper {
    /// (width, height) in millimetres.
    pub fn size_mm(self) -> (f64, f64) {
        match self {
            Paper::A4 => (210.0, 297.0),
            Paper::Letter => (215.9, 279.4),
        }
    }
}

/// What to print.
#[derive(Clone, Debug, PartialEq)]
pub struct SheetSpec {
    /// Family.
    pub family: Family,
    /// Ids, in print order.
    pub ids: Vec<u32>,
    /// Tag size: the edge of the black border, millimetres (the pose tag size).
    pub size_mm: f64,
    /// Print resolution, dots per inch.
    pub dpi: u32,
    /// Paper.
    pub paper: Paper,
}

/// A rendered sheet.
#[derive(Clone, Debug, PartialEq)]
pub struct Sheet {
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
    /// Row-major gray pixels.
    pub pixels: Vec<u8>,
    /// Resolution, dots per inch.
    pub dpi: u32,
    /// Each tag's id and the top-left of its black border on the page, millimetres.
    pub placements: Vec<(u32, f64, f64)>,
    /// Whole printed width of one tag (with its white ring), millimetres.
    pub drawn_size_mm: f64,
}

/// Errors of sheet rendering.
#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    /// The tags do not fit on one page.
    #[error("{count} tags of {size_mm} mm do not fit on one {paper:?} page (at most {fit}); use fewer ids or a smaller --size-mm")]
    DoesNotFit {
        /// Tags asked for.
        count: usize,
        /// Size asked for.
        size_mm: f64,
        /// Paper.
        paper: Paper,
        /// How many fit.
        fit: usize,
    },
    /// A bad argument.
    #[error("{0}")]
    Invalid(String),
    /// The family could not draw a tag.
    #[error(transparent)]
    Family(#[from] visreg_apriltag::Error),
    /// Writing failed.
    #[error("{path}: {message}")]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        message: String,
    },
}

const MARGIN_MM: f64 = 12.0;
const LABEL_MM: f64 = 4.0;

/// Lays out `spec` on as many pages as it needs and renders each.
pub fn render_sheets(spec: &SheetSpec) -> Result<Vec<Sheet>, SheetError> {
    let per_page = page_capacity(spec)?;
    if per_page == 0 {
        return Err(SheetError::DoesNotFit {
            count: spec.ids.len(),
            size_mm: spec.size_mm,
            paper: spec.paper,
            fit: 0,
        });
    }
    spec.ids
        .chunks(per_page)
        .map(|ids| {
            render_sheet(&SheetSpec {
                ids: ids.to_vec(),
                ..spec.clone()
            })
        })
        .collect()
}

struct Layout {
    cell_mm: f64,
    drawn_mm: f64,
    pitch_x: f64,
    pitch_y: f64,
    cols: usize,
    rows: usize,
}

fn layout(spec: &SheetSpec) -> Result<Layout, SheetError> {
    if !(spec.size_mm.is_finite() && spec.size_mm >= 5.0) {
        return Err(SheetError::Invalid(format!(
            "--size-mm {} is too small to print reliably (use 5 mm or more)",
            spec.size_mm
        )));
    }
    if !(72..=2400).contains(&spec.dpi) {
        return Err(SheetError::Invalid(format!(
            "--dpi {} must be between 72 and 2400",
            spec.dpi
        )));
    }
    let family = FamilyLayout::load(spec.family)?;
    let cell_mm = spec.size_mm / f64::from(family.width_at_border);
    let drawn_mm = cell_mm * f64::from(family.total_width);
    // A cell of extra white between cards keeps each tag's quiet zone intact.
    let gap_mm = cell_mm.max(5.0);
    let (page_w, page_h) = spec.paper.size_mm();
    let usable_w = page_w - 2.0 * MARGIN_MM;
    let usable_h = page_h - 2.0 * MARGIN_MM - 14.0; // room for the scale bar
    let pitch_x = drawn_mm + gap_mm;
    let pitch_y = drawn_mm + LABEL_MM + gap_mm;
    Ok(Layout {
        cell_mm,
        drawn_mm,
        pitch_x,
        pitch_y,
        cols: ((usable_w + gap_mm) / pitch_x).floor().max(0.0) as usize,
        rows: ((usable_h + gap_mm) / pitch_y).floor().max(0.0) as usize,
    })
}

/// How many tags of `spec`'s size fit on one page.
pub fn page_capacity(spec: &SheetSpec) -> Result<usize, SheetError> {
    let l = layout(spec)?;
    Ok(l.cols * l.rows)
}

/// Lays out and renders `spec` on one page.
pub fn render_sheet(spec: &SheetSpec) -> Result<Sheet, SheetError> {
    if spec.ids.is_empty() {
        return Err(SheetError::Invalid("no tag ids to print".into()));
    }
    let Layout {
        cell_mm,
        drawn_mm,
        pitch_x,
        pitch_y,
        cols,
        rows,
    } = layout(spec)?;
    let family = FamilyLayout::load(spec.family)?;
    if cols * rows < spec.ids.len() {
        return Err(SheetError::DoesNotFit {
            count: spec.ids.len(),
            size_mm: spec.size_mm,
            paper: spec.paper,
            fit: cols * rows,
        });
    }
    let (page_w, page_h) = spec.paper.size_mm();
    let px_per_mm = f64::from(spec.dpi) / 25.4;
    let to_px = |mm: f64| (mm * px_per_mm).round() as i64;
    let (width, height) = (to_px(page_w) as u32, to_px(page_h) as u32);
    let mut canvas = Canvas {
        width,
        height,
        pixels: vec![255; width as usize * height as usize],
    };
    let mut placements = Vec::new();
    for (i, &id) in spec.ids.iter().enumerate() {
        let cells = TagCells::draw(spec.family, id)?;
        let x0 = MARGIN_MM + (i % cols) as f64 * pitch_x;
        let y0 = MARGIN_MM + (i / cols) as f64 * pitch_y;
        for row in 0..cells.width {
            for col in 0..cells.width {
                if !cells.is_white(col, row) {
                    let (ax, ay) = (x0 + f64::from(col) * cell_mm, y0 + f64::from(row) * cell_mm);
                    canvas.fill(
                        to_px(ax),
                        to_px(ay),
                        to_px(ax + cell_mm),
                        to_px(ay + cell_mm),
                        0,
                    );
                }
            }
        }
        let offset = f64::from(family.total_width - family.width_at_border) / 2.0 * cell_mm;
        placements.push((id, x0 + offset, y0 + offset));
        // The id, under the tag.
        let digit_px = to_px(LABEL_MM * 0.7).max(5);
        canvas.number(
            id,
            to_px(x0),
            to_px(y0 + drawn_mm + LABEL_MM * 0.2),
            digit_px,
        );
    }
    // 100 mm scale bar with 10 mm ticks.
    let bar_y = page_h - MARGIN_MM - 6.0;
    let bar_x = MARGIN_MM;
    canvas.fill(
        to_px(bar_x),
        to_px(bar_y),
        to_px(bar_x + 100.0),
        to_px(bar_y + 0.6),
        0,
    );
    for t in 0..=10 {
        let x = bar_x + 10.0 * f64::from(t);
        let len = if t % 5 == 0 { 4.0 } else { 2.5 };
        canvas.fill(
            to_px(x - 0.2),
            to_px(bar_y - len),
            to_px(x + 0.2),
            to_px(bar_y),
            0,
        );
    }
    canvas.number(
        100,
        to_px(bar_x + 102.0),
        to_px(bar_y - 3.0),
        to_px(2.8).max(5),
    );
    Ok(Sheet {
        width,
        height,
        pixels: canvas.pixels,
        dpi: spec.dpi,
        placements,
        drawn_size_mm: drawn_mm,
    })
}

/// Writes `sheet` as a gray PNG whose pHYs chunk states its DPI.
pub fn write_png(sheet: &Sheet, path: &Path) -> Result<(), SheetError> {
    let err = |message: String| SheetError::Write {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::create(path).map_err(|e| err(e.to_string()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), sheet.width, sheet.height);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let ppm = (f64::from(sheet.dpi) / 0.0254).round() as u32;
    enc.set_pixel_dims(Some(png::PixelDimensions {
        xppu: ppm,
        yppu: ppm,
        unit: png::Unit::Meter,
    }));
    let mut w = enc.write_header().map_err(|e| err(e.to_string()))?;
    w.write_image_data(&sheet.pixels)
        .map_err(|e| err(e.to_string()))?;
    w.finish().map_err(|e| err(e.to_string()))
}

struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

/// 3×5 digit glyphs, one row per u8 (bit 2 = left column).
const DIGITS: [[u8; 5]; 10] = [
    [7, 5, 5, 5, 7],
    [2, 6, 2, 2, 7],
    [7, 1, 7, 4, 7],
    [7, 1, 7, 1, 7],
    [5, 5, 7, 1, 1],
    [7, 4, 7, 1, 7],
    [7, 4, 7, 5, 7],
    [7, 1, 1, 1, 1],
    [7, 5, 7, 5, 7],
    [7, 5, 7, 1, 7],
];

impl Canvas {
    fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, v: u8) {
        let (w, h) = (i64::from(self.width), i64::from(self.height));
        for y in y0.clamp(0, h)..y1.clamp(0, h) {
            for x in x0.clamp(0, w)..x1.clamp(0, w) {
                self.pixels[(y * w + x) as usize] = v;
            }
        }
    }

    /// Draws `n` with its top-left at (x, y), digits `height` pixels tall.
    fn number(&mut self, n: u32, x: i64, y: i64, height: i64) {
        let unit = (height / 5).max(1);
        for (i, ch) in n.to_string().bytes().enumerate() {
            let glyph = DIGITS[(ch - b'0') as usize];
            let gx = x + i as i64 * 4 * unit;
            for (r, bits) in glyph.iter().enumerate() {
                for c in 0..3 {
                    if bits & (4 >> c) != 0 {
                        let px = gx + c * unit;
                        let py = y + r as i64 * unit;
                        self.fill(px, py, px + unit, py + unit, 0);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sheet_prints_tags_at_the_stated_size() {
        let spec = SheetSpec {
            family: Family::Tag36h11,
            ids: (0..6).collect(),
            size_mm: 50.0,
            dpi: 150,
            paper: Paper::A4,
        };
        let sheet = render_sheet(&spec).unwrap();
        assert_eq!(sheet.width, (210.0f64 / 25.4 * 150.0).round() as u32);
        assert_eq!(sheet.placements.len(), 6);
        // Measure the black border of tag 0 along its top edge: 50 mm at 150 DPI.
        let (_, x_mm, y_mm) = sheet.placements[0];
        let px = |mm: f64| (mm * 150.0 / 25.4) as usize;
        let row = px(y_mm + 1.0);
        let start = px(x_mm) + 1;
        let dark = (start..sheet.width as usize)
            .take_while(|&x| sheet.pixels[row * sheet.width as usize + x] == 0)
            .count();
        let expected = 50.0 * 150.0 / 25.4;
        assert!(
            (dark as f64 + 1.0 - expected).abs() <= 2.0,
            "{dark} vs {expected}"
        );
        assert!((sheet.drawn_size_mm - 62.5).abs() < 1e-9);
    }

    #[test]
    fn too_many_tags_say_how_many_fit() {
        let spec = SheetSpec {
            family: Family::Tag36h11,
            ids: (0..40).collect(),
            size_mm: 80.0,
            dpi: 100,
            paper: Paper::A4,
        };
        let e = render_sheet(&spec).unwrap_err().to_string();
        assert!(
            e.contains("40 tags of 80 mm do not fit") && e.contains("at most"),
            "{e}"
        );
    }

    #[test]
    fn the_issue_example_spreads_over_pages() {
        // `--family tag36h11 --ids 0-5 --size-mm 80`: 100 mm cards, two per A4 page.
        let spec = SheetSpec {
            family: Family::Tag36h11,
            ids: (0..6).collect(),
            size_mm: 80.0,
            dpi: 72,
            paper: Paper::A4,
        };
        let pages = render_sheets(&spec).unwrap();
        assert_eq!(pages.len(), 3);
        let ids: Vec<u32> = pages
            .iter()
            .flat_map(|p| p.placements.iter().map(|x| x.0))
            .collect();
        assert_eq!(ids, (0..6).collect::<Vec<_>>());
    }

    #[test]
    fn png_carries_its_dpi() {
        let spec = SheetSpec {
            family: Family::Tag16h5,
            ids: vec![1, 2],
            size_mm: 30.0,
            dpi: 200,
            paper: Paper::Letter,
        };
        let sheet = render_sheet(&spec).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.png");
        write_png(&sheet, &path).unwrap();
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let reader = decoder.read_info().unwrap();
        let dims = reader.info().pixel_dims.unwrap();
        assert_eq!(dims.xppu, (200.0f64 / 0.0254).round() as u32);
    }
}
