//! A small hand-written SVG chart kit for the reports. Hand-written rather than drawn by a
//! plotting library because every reading aid the report needs is an attribute or an
//! element of its own: a `<title>` tooltip on each point, the legend in its own box
//! outside the plot rectangle, `data-*` attributes a browser test can check (which
//! series, which marker and dash, whiskers' data range), and a `viewBox` so charts reflow
//! to a narrow window. Pure: strings in, strings out.
//!
//! Also the pure pieces the charts rely on, each unit-tested: Tukey's box statistics,
//! which series coincide, nice axis ticks, the forest plot's symmetric log scale.

use std::fmt::Write;

use super::esc;

/// A marker shape: builds differ in shape as well as colour, so two builds drawn on the
/// same spot, or a reader who cannot tell two colours apart, still see both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Marker {
    /// ●
    Circle,
    /// ■
    Square,
    /// ▲
    TriangleUp,
    /// ◆
    Diamond,
    /// ▼
    TriangleDown,
    /// ✕
    Cross,
    /// ○ (the host reference)
    Ring,
}

impl Marker {
    /// The marker of build number `i` (wrapping after six).
    pub fn of_build(i: usize) -> Marker {
        [
            Marker::Circle,
            Marker::Square,
            Marker::TriangleUp,
            Marker::Diamond,
            Marker::TriangleDown,
            Marker::Cross,
        ][i % 6]
    }

    /// Its name, as `data-marker` writes it.
    pub fn name(self) -> &'static str {
        match self {
            Marker::Circle => "circle",
            Marker::Square => "square",
            Marker::TriangleUp => "triangle-up",
            Marker::Diamond => "diamond",
            Marker::TriangleDown => "triangle-down",
            Marker::Cross => "cross",
            Marker::Ring => "ring",
        }
    }

    /// An SVG `<path>` of the marker at (x, y), radius `r`, filled with `colour` and
    /// edged in white so markers that touch stay apart; `title` is its tooltip.
    pub fn path(self, x: f64, y: f64, r: f64, colour: &str, class: &str, title: &str) -> String {
        let d = match self {
            Marker::Circle | Marker::Ring => format!(
                "M{:.1},{y:.1}a{r:.1},{r:.1} 0 1,0 {:.1},0a{r:.1},{r:.1} 0 1,0 {:.1},0z",
                x - r,
                2.0 * r,
                -2.0 * r
            ),
            Marker::Square => {
                let s = 0.85 * r;
                format!(
                    "M{:.1},{:.1}h{:.1}v{:.1}h{:.1}z",
                    x - s,
                    y - s,
                    2.0 * s,
                    2.0 * s,
                    -2.0 * s
                )
            }
            Marker::TriangleUp => format!(
                "M{x:.1},{:.1}L{:.1},{:.1}L{:.1},{:.1}z",
                y - 1.15 * r,
                x + r,
                y + 0.8 * r,
                x - r,
                y + 0.8 * r
            ),
            Marker::TriangleDown => format!(
                "M{x:.1},{:.1}L{:.1},{:.1}L{:.1},{:.1}z",
                y + 1.15 * r,
                x + r,
                y - 0.8 * r,
                x - r,
                y - 0.8 * r
            ),
            Marker::Diamond => format!(
                "M{x:.1},{:.1}L{:.1},{y:.1}L{x:.1},{:.1}L{:.1},{y:.1}z",
                y - 1.2 * r,
                x + 1.2 * r,
                y + 1.2 * r,
                x - 1.2 * r
            ),
            Marker::Cross => {
                // A plus sign turned by 45°, as one outline so it is filled and edged
                // like the other markers.
                let (a, w) = (1.15 * r, 0.38 * r);
                let plus = [
                    (w, w),
                    (w, a),
                    (-w, a),
                    (-w, w),
                    (-a, w),
                    (-a, -w),
                    (-w, -w),
                    (-w, -a),
                    (w, -a),
                    (w, -w),
                    (a, -w),
                    (a, w),
                ];
                let c = std::f64::consts::FRAC_1_SQRT_2;
                let pts: Vec<String> = plus
                    .iter()
                    .map(|(u, v)| format!("{:.1},{:.1}", x + c * (u - v), y + c * (u + v)))
                    .collect();
                format!("M{}z", pts.join("L"))
            }
        };
        let (fill, stroke) = if self == Marker::Ring {
            ("#ffffff", colour)
        } else {
            (colour, "#ffffff")
        };
        format!(
            r#"<path class="{class}" d="{d}" fill="{fill}" stroke="{stroke}" stroke-width="1.2"><title>{}</title></path>"#,
            esc(title)
        )
    }
}

/// The dash pattern of build number `i`: solid first, then patterns that stay apart
/// when two lines coincide (a dashed line over a solid one of another colour shows
/// both).
pub fn dash_of_build(i: usize) -> &'static str {
    ["", "9 4", "2 3", "9 3 2 3", "14 4", "4 2 1 2"][i % 6]
}

/// The host reference detector's dash.
pub const HOST_DASH: &str = "6 4";

/// Box-plot statistics after Tukey: quartiles, whiskers at the most extreme data points
/// within 1.5 IQR of the box (never past the data), the points beyond as outliers.
#[derive(Clone, Debug, PartialEq)]
pub struct BoxStats {
    /// Smallest value.
    pub min: f64,
    /// First quartile.
    pub q1: f64,
    /// Median.
    pub median: f64,
    /// Third quartile.
    pub q3: f64,
    /// Largest value.
    pub max: f64,
    /// Lower whisker end: the smallest value ≥ q1 − 1.5 IQR.
    pub whisker_lo: f64,
    /// Upper whisker end: the largest value ≤ q3 + 1.5 IQR.
    pub whisker_hi: f64,
    /// Values outside the whiskers, ascending.
    pub outliers: Vec<f64>,
    /// Values summarised.
    pub n: usize,
}

/// Tukey's box of `xs` (NaNs left out); `None` when nothing is left.
pub fn box_stats(xs: &[f64]) -> Option<BoxStats> {
    use visreg_bench::stats::quantile;
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let (q1, median, q3) = (quantile(&v, 0.25)?, quantile(&v, 0.5)?, quantile(&v, 0.75)?);
    let iqr = q3 - q1;
    let (lo_fence, hi_fence) = (q1 - 1.5 * iqr, q3 + 1.5 * iqr);
    // The quartiles lie within the data, so some value is inside each fence.
    let whisker_lo = v.iter().copied().find(|&x| x >= lo_fence).unwrap_or(v[0]);
    let whisker_hi = v
        .iter()
        .rev()
        .copied()
        .find(|&x| x <= hi_fence)
        .unwrap_or(v[v.len() - 1]);
    let outliers = v
        .iter()
        .copied()
        .filter(|&x| x < whisker_lo || x > whisker_hi)
        .collect();
    Some(BoxStats {
        min: v[0],
        q1,
        median,
        q3,
        max: v[v.len() - 1],
        whisker_lo,
        whisker_hi,
        outliers,
        n: v.len(),
    })
}

/// For each series, the first earlier non-empty series it coincides with (same x's, and
/// y's equal to within a part in a million), so a chart can say "identical to 5.0.0"
/// where one line hides another.
pub fn coincident_with(series: &[&[(f64, f64)]]) -> Vec<Option<usize>> {
    let same = |a: &[(f64, f64)], b: &[(f64, f64)]| {
        a.len() == b.len()
            && a.iter().zip(b).all(|(p, q)| {
                let close = |u: f64, v: f64| (u - v).abs() <= 1e-6 * u.abs().max(v.abs()).max(1.0);
                close(p.0, q.0) && close(p.1, q.1)
            })
    };
    (0..series.len())
        .map(|i| {
            if series[i].is_empty() {
                return None;
            }
            (0..i).find(|&j| !series[j].is_empty() && same(series[i], series[j]))
        })
        .collect()
}

/// About `want` round tick values covering `lo..hi` (steps of 1, 2 or 5 × 10ᵏ).
pub fn nice_ticks(lo: f64, hi: f64, want: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / want.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    // A hair of slack so 0.3 / 0.1 = 2.9999999999999996 still counts 0.3.
    let count = |step: f64| ((hi / step + 1e-9).floor() - (lo / step - 1e-9).ceil() + 1.0).max(0.0);
    // The round step whose tick count comes nearest the wish (the smaller on a tie).
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .min_by(|a, b| {
            (count(*a) - want as f64)
                .abs()
                .total_cmp(&(count(*b) - want as f64).abs())
        })
        .unwrap_or(mag);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last)
        .map(|k| {
            // Round away float dust (0.6000000000000001) at the step's decimals.
            let scale = 10f64.powi((-step.log10().floor()).max(0.0) as i32 + 1);
            (k as f64 * step * scale).round() / scale
        })
        .collect()
}

/// Text for a tick value: as few decimals as its step needs.
pub fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    let s = format!("{v:.decimals$}");
    if s.starts_with('-') && s.trim_start_matches(['-', '0', '.']).is_empty() {
        s[1..].to_string()
    } else {
        s
    }
}

/// The forest plot's scale: `sign(v) · log10(1 + |v|)` for a change in units of its
/// threshold, so ±1 (the threshold) stays wide enough to read and a −50× change still
/// fits.
pub fn symlog(v: f64) -> f64 {
    v.signum() * (1.0 + v.abs()).log10()
}

/// A linear map from data to pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    /// Data range.
    pub lo: f64,
    /// Data range.
    pub hi: f64,
    /// Pixel at `lo`.
    pub from: f64,
    /// Pixel at `hi`.
    pub to: f64,
}

impl Scale {
    /// The pixel of `v`.
    pub fn at(&self, v: f64) -> f64 {
        let span = if self.hi > self.lo {
            self.hi - self.lo
        } else {
            1.0
        };
        self.from + (v - self.lo) / span * (self.to - self.from)
    }
}

/// The plot rectangle of a chart, in the chart's own (viewBox) pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    /// Left.
    pub x: f64,
    /// Top.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

/// Opens a chart's `<svg>`: its accessible name, its id, a `viewBox` and no fixed width
/// (the page's CSS makes it 100 % wide, so it reflows), and its caption.
pub fn open(id: &str, title: &str, width: f64, height: f64) -> String {
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{t}" data-chart="{id}" viewBox="0 0 {width:.0} {height:.0}" class="chart" font-family="sans-serif"><rect width="{width:.0}" height="{height:.0}" fill="#ffffff"/><text x="12" y="22" font-size="16" font-weight="600">{t}</text>"##,
        t = esc(title)
    )
}

/// The plot rectangle as an element a test can measure.
pub fn plot_area(r: Rect) -> String {
    format!(
        r##"<rect class="plot-area" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#bbbbbb"/>"##,
        r.x, r.y, r.w, r.h
    )
}

/// Grid, ticks and labels of a linear y axis and (when `x_ticks` is given) an x axis.
pub fn axes(
    r: Rect,
    x: Scale,
    y: Scale,
    x_ticks: &[(f64, String)],
    x_label: &str,
    y_label: &str,
) -> String {
    let mut s = String::from(r##"<g class="axes" font-size="12" fill="#333333">"##);
    let yt = nice_ticks(y.lo, y.hi, 6);
    let ystep = if yt.len() > 1 { yt[1] - yt[0] } else { 1.0 };
    for v in &yt {
        let py = y.at(*v);
        let _ = write!(
            s,
            r##"<line x1="{:.1}" x2="{:.1}" y1="{py:.1}" y2="{py:.1}" stroke="#000000" stroke-opacity="0.08"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            r.x,
            r.x + r.w,
            r.x - 6.0,
            py + 4.0,
            tick_label(*v, ystep)
        );
    }
    for (v, label) in x_ticks {
        let px = x.at(*v);
        let _ = write!(
            s,
            r##"<line x1="{px:.1}" x2="{px:.1}" y1="{:.1}" y2="{:.1}" stroke="#000000" stroke-opacity="0.08"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            r.y,
            r.y + r.h,
            r.y + r.h + 16.0,
            esc(label)
        );
    }
    let _ = write!(
        s,
        r#"<text class="x-label" x="{:.1}" y="{:.1}" text-anchor="middle" font-size="13">{}</text><text class="y-label" transform="translate({:.1},{:.1}) rotate(-90)" text-anchor="middle" font-size="13">{}</text></g>"#,
        r.x + r.w / 2.0,
        r.y + r.h + 36.0,
        esc(x_label),
        r.x - 48.0,
        r.y + r.h / 2.0,
        esc(y_label)
    );
    s
}

/// Linear x ticks with their labels.
pub fn linear_ticks(x: Scale, want: usize) -> Vec<(f64, String)> {
    let t = nice_ticks(x.lo, x.hi, want);
    let step = if t.len() > 1 { t[1] - t[0] } else { 1.0 };
    t.into_iter().map(|v| (v, tick_label(v, step))).collect()
}

/// One legend entry: how it is drawn and what it says.
#[derive(Clone, Debug, PartialEq)]
pub struct LegendEntry {
    /// The line's colour.
    pub colour: String,
    /// Its dash (`""` solid); `None` for no line.
    pub dash: Option<String>,
    /// Its marker; `None` for none.
    pub marker: Option<Marker>,
    /// A filled swatch instead (a band).
    pub band: bool,
    /// The name.
    pub label: String,
    /// A second, smaller line: "identical to 5.0.0", "no pose: 0 of 1236".
    pub note: Option<String>,
}

/// Height of a legend of `entries`.
pub fn legend_height(entries: &[LegendEntry]) -> f64 {
    12.0 + entries
        .iter()
        .map(|e| 19.0 + 13.0 * note_lines(e).len() as f64)
        .sum::<f64>()
}

/// Longest line of a legend note that fits the legend's box; longer ones are cut with
/// "…" (the whole note is the line's tooltip).
const NOTE_CHARS: usize = 34;

/// A note's lines: one per "; "-separated part, each cut to fit.
fn note_lines(e: &LegendEntry) -> Vec<(String, String)> {
    e.note
        .as_deref()
        .map(|n| {
            n.split("; ")
                .map(|part| {
                    let shown = if part.chars().count() > NOTE_CHARS {
                        let cut: String = part.chars().take(NOTE_CHARS - 1).collect();
                        format!("{cut}…")
                    } else {
                        part.to_string()
                    };
                    (shown, part.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The legend in its own box at (x, y), `w` wide, outside the plot rectangle.
pub fn legend(x: f64, y: f64, w: f64, entries: &[LegendEntry]) -> String {
    let h = legend_height(entries);
    let mut s = format!(
        r##"<g class="legend" font-size="12"><rect class="legend-box" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="#ffffff" stroke="#cccccc"/>"##
    );
    let mut cy = y + 16.0;
    for e in entries {
        let (lx, tx) = (x + 8.0, x + 42.0);
        if e.band {
            let _ = write!(
                s,
                r#"<rect x="{lx:.1}" y="{:.1}" width="26" height="10" fill="{}" fill-opacity="0.18"/>"#,
                cy - 6.0,
                e.colour
            );
        }
        if let Some(d) = &e.dash {
            let _ = write!(
                s,
                r#"<line x1="{lx:.1}" x2="{:.1}" y1="{cy:.1}" y2="{cy:.1}" stroke="{}" stroke-width="2"{}/>"#,
                lx + 26.0,
                e.colour,
                dash_attr(d)
            );
        }
        if let Some(m) = e.marker {
            s.push_str(&m.path(lx + 13.0, cy, 4.5, &e.colour, "legend-marker", &e.label));
        }
        let _ = write!(
            s,
            r#"<text x="{tx:.1}" y="{:.1}">{}</text>"#,
            cy + 4.0,
            esc(&e.label)
        );
        for (k, (shown, full)) in note_lines(e).iter().enumerate() {
            let _ = write!(
                s,
                r##"<g><title>{}</title><text class="legend-note" x="{tx:.1}" y="{:.1}" font-size="11" fill="#444444" font-style="italic">{}</text></g>"##,
                esc(full),
                cy + 17.0 + 13.0 * k as f64,
                esc(shown)
            );
        }
        cy += 19.0 + 13.0 * note_lines(e).len() as f64;
    }
    s.push_str("</g>");
    s
}

/// ` stroke-dasharray="…"` for a non-empty dash.
pub fn dash_attr(dash: &str) -> String {
    if dash.is_empty() {
        String::new()
    } else {
        format!(r#" stroke-dasharray="{dash}""#)
    }
}

/// A polyline through `points` (pixels).
pub fn polyline(points: &[(f64, f64)], colour: &str, width: f64, dash: &str) -> String {
    let pts: Vec<String> = points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    format!(
        r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="{width:.1}" stroke-linejoin="round"{}/>"#,
        pts.join(" "),
        dash_attr(dash)
    )
}

/// `2026-11-25 16:02:06` from seconds since the epoch, UTC (civil-from-days, Howard
/// Hinnant's algorithm).
pub fn utc(t: f64) -> String {
    let secs = t.max(0.0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Ticks of a date axis from `lo` to `hi` (seconds since the epoch): about `want` round
/// instants (whole minutes, hours or days, UTC), labelled with the date and, below a day's
/// step, the time of day.
pub fn time_ticks(lo: f64, hi: f64, want: usize) -> Vec<(f64, String)> {
    const STEPS: [f64; 12] = [
        1.0,
        10.0,
        60.0,
        300.0,
        900.0,
        3600.0,
        3.0 * 3600.0,
        6.0 * 3600.0,
        86_400.0,
        7.0 * 86_400.0,
        30.0 * 86_400.0,
        365.0 * 86_400.0,
    ];
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![(lo, utc(lo))];
    }
    let raw = (hi - lo) / want.max(1) as f64;
    let step = STEPS.iter().copied().find(|s| *s >= raw).unwrap_or(raw);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last)
        .map(|k| {
            let t = k as f64 * step;
            let full = utc(t);
            let label = if step >= 86_400.0 {
                full[..10].to_string()
            } else if step >= 60.0 {
                format!("{} {}", &full[5..10], &full[11..16])
            } else {
                full[11..].to_string()
            };
            (t, label)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiskers_end_at_data_inside_the_fences_and_the_rest_are_outliers() {
        // 1..=9 and a wild 40: q1 = 3.25, q3 = 7.75, IQR 4.5, fences −3.5 and 14.5. The
        // whiskers stop at the data (1 and 9), not at the fences; 40 is an outlier.
        let mut xs: Vec<f64> = (1..=9).map(f64::from).collect();
        xs.push(40.0);
        let b = box_stats(&xs).unwrap();
        assert_eq!((b.q1, b.median, b.q3), (3.25, 5.5, 7.75));
        assert_eq!((b.whisker_lo, b.whisker_hi), (1.0, 9.0));
        assert_eq!(b.outliers, vec![40.0]);
        assert_eq!((b.min, b.max, b.n), (1.0, 40.0, 10));
        // Tight data: the fences lie past the data, the whiskers at its extremes — the
        // issue's 5.0.0, whose whiskers were drawn at the fences, beyond every frame.
        let tight = [35.1, 38.0, 40.0, 41.0, 42.0, 45.0];
        let b = box_stats(&tight).unwrap();
        assert_eq!((b.whisker_lo, b.whisker_hi), (35.1, 45.0));
        assert!(b.outliers.is_empty());
        assert!(box_stats(&[f64::NAN]).is_none());
        let one = box_stats(&[2.0]).unwrap();
        assert_eq!(
            (one.whisker_lo, one.whisker_hi, one.median),
            (2.0, 2.0, 2.0)
        );
    }

    #[test]
    fn coinciding_series_point_at_the_first_they_equal() {
        let a = [(0.0, 1.0), (1.0, 2.0)];
        let b = [(0.0, 1.0), (1.0, 2.0 + 1e-9)];
        let c = [(0.0, 1.0), (1.0, 2.5)];
        let empty: [(f64, f64); 0] = [];
        let got = coincident_with(&[&a, &b, &c, &empty, &empty, &a]);
        assert_eq!(got, vec![None, Some(0), None, None, None, Some(0)]);
        // Shorter is not identical.
        assert_eq!(coincident_with(&[&a, &a[..1]]), vec![None, None]);
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            nice_ticks(0.0, 105.0, 6),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(nice_ticks(0.1, 0.95, 4), vec![0.2, 0.4, 0.6, 0.8]);
        let t = nice_ticks(0.0, 0.3, 3);
        assert_eq!(t, vec![0.0, 0.1, 0.2, 0.3]);
        assert_eq!(tick_label(0.30000000000000004, 0.1), "0.3");
        assert_eq!(tick_label(-0.0, 1.0), "0");
        assert_eq!(nice_ticks(5.0, 5.0, 4), vec![5.0]);
    }

    #[test]
    fn dates_and_date_ticks() {
        assert_eq!(utc(0.0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_795_622_526.0), "2026-11-25 16:02:06");
        assert_eq!(utc(951_782_400.0), "2000-02-29 00:00:00");
        // Three days: whole days, dates only.
        let t = time_ticks(1_795_622_526.0, 1_795_622_526.0 + 3.0 * 86_400.0, 4);
        assert_eq!(
            t.iter().map(|x| x.1.as_str()).collect::<Vec<_>>(),
            ["2026-11-26", "2026-11-27", "2026-11-28"]
        );
        // Ten minutes: whole minutes with the date.
        let t = time_ticks(1_795_622_526.0, 1_795_622_526.0 + 600.0, 5);
        assert_eq!(t[0].1, "11-25 16:05");
        assert!(t.iter().all(|(v, _)| v % 300.0 == 0.0));
    }

    #[test]
    fn symlog_keeps_the_threshold_readable_and_is_odd() {
        assert_eq!(symlog(0.0), 0.0);
        assert!((symlog(9.0) - 1.0).abs() < 1e-12);
        assert_eq!(symlog(-9.0), -symlog(9.0));
        assert!(symlog(1.0) > 0.3 && symlog(50.0) < 2.0);
    }

    #[test]
    fn builds_differ_in_marker_and_dash() {
        let markers: std::collections::HashSet<_> = (0..6).map(Marker::of_build).collect();
        let dashes: std::collections::HashSet<_> = (0..6).map(dash_of_build).collect();
        assert_eq!((markers.len(), dashes.len()), (6, 6));
        assert!(!dashes.contains(HOST_DASH));
        let p = Marker::Square.path(10.0, 10.0, 4.0, "#0072B2", "pt", "a < b");
        assert!(p.contains("<title>a &lt; b</title>") && p.contains(r#"class="pt""#));
    }

    #[test]
    fn a_legend_is_as_tall_as_its_entries() {
        let e = |note: Option<&str>| LegendEntry {
            colour: "#000".into(),
            dash: Some(String::new()),
            marker: None,
            band: false,
            label: "x".into(),
            note: note.map(String::from),
        };
        let entries = [e(None), e(Some("identical to 5.0.0"))];
        assert_eq!(legend_height(&entries), 12.0 + 19.0 + 32.0);
        let two = [e(Some(
            "identical to 5.0.0; firmware 5.0.1 with a name far too long to fit",
        ))];
        assert_eq!(legend_height(&two), 12.0 + 19.0 + 26.0);
        assert!(legend(0.0, 0.0, 200.0, &two).contains("…</text>"));
        let l = legend(600.0, 40.0, 200.0, &entries);
        assert!(l.contains(r#"class="legend-box" x="600.0""#));
        assert!(l.contains("identical to 5.0.0"));
    }
}
