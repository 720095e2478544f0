//! The report's charts, one function per chart, each returning its `<svg>` element as
//! text (drawn with the kit in `svg.rs`). Conventions every chart keeps, so none can
//! mislead:
//!
//! - a build keeps its colour, marker and dash everywhere; the host reference is black,
//!   dashed, with open rings; a series that coincides with an earlier one says
//!   "identical to …" in the legend and its markers are set a few pixels aside (dodged),
//!   so every build stays visible;
//! - a build with nothing to draw (no pose) is listed with why ("no pose: 0 of 1236 found
//!   tags"), never left out;
//! - the legend sits in its own box right of the plot rectangle, never over the data;
//! - where a metric is judged, the baseline is the reference and the metric's practical
//!   threshold is a shaded band around it;
//! - every point carries a `<title>` tooltip with its value and what it summarises.

use std::fmt::Write;

use visreg_bench::metrics::{metric_def, metric_info, samples};
use visreg_bench::scoring::{bucket_metrics, BucketAxis, FrameScore, Metrics};
use visreg_bench::verdict::{Better, Change, MetricRule};

use super::svg::{
    self, axes, box_stats, coincident_with, dash_attr, dash_of_build, legend, legend_height,
    linear_ticks, open, plot_area, polyline, symlog, LegendEntry, Marker, Rect, Scale, HOST_DASH,
};
use super::{build_colour, check_name, entry_word, esc, ReportInput, VerdictEntry, HOST_COLOUR};

/// Chart width and the plot rectangle's horizontal place; the legend takes the rest.
const WIDTH: f64 = 900.0;
const PLOT_X: f64 = 78.0;
const PLOT_W: f64 = 540.0;
const LEGEND_X: f64 = PLOT_X + PLOT_W + 18.0;
const LEGEND_W: f64 = WIDTH - LEGEND_X - 8.0;
const PLOT_Y: f64 = 40.0;
const PLOT_H: f64 = 260.0;
/// Markers of coinciding series are set this far apart (pixels), in series order.
const DODGE_PX: f64 = 3.0;

/// One point of a line series: data coordinates and its tooltip.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Point {
    pub x: f64,
    pub y: f64,
    pub title: String,
}

/// A line series: one build's camera, the host, or a build on one camera over time.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Series {
    pub name: String,
    /// The build it shows (`data-build`), if any.
    pub build: Option<String>,
    pub colour: String,
    pub dash: String,
    pub marker: Marker,
    pub points: Vec<Point>,
    /// Why it has no points, shown in the legend.
    pub empty_note: Option<String>,
    /// Another line of legend text (a firmware label).
    pub note: Option<String>,
}

/// A shaded band: per x, the low and high edge (data units).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Band {
    pub edges: Vec<(f64, f64, f64)>,
    pub label: String,
    pub colour: String,
}

/// A vertical mark: a reference (the baseline's median) or a change point.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct VMark {
    pub x: f64,
    pub label: String,
    pub colour: String,
    pub class: &'static str,
}

/// What a line chart shows.
pub(crate) struct LineChart<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub x: (f64, f64),
    pub y: (f64, f64),
    pub x_ticks: Option<Vec<(f64, String)>>,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub series: &'a [Series],
    pub band: Option<Band>,
    /// A vertical band (data x from–to), e.g. a threshold around the baseline's median.
    pub vband: Option<(f64, f64, String, String)>,
    pub vmarks: Vec<VMark>,
    /// A horizontal reference line (y, label): the truth's 100 %.
    pub reference: Option<(f64, String)>,
    /// Set coinciding series' markers apart (bucketed x only).
    pub dodge: bool,
}

/// Draws a line chart: plot rectangle, axes, band, series, marks, and the legend outside.
pub(crate) fn line_chart(c: &LineChart<'_>) -> String {
    let pts: Vec<Vec<(f64, f64)>> = c
        .series
        .iter()
        .map(|s| s.points.iter().map(|p| (p.x, p.y)).collect())
        .collect();
    let refs: Vec<&[(f64, f64)]> = pts.iter().map(|v| v.as_slice()).collect();
    let same = coincident_with(&refs);
    let mut entries: Vec<LegendEntry> = c
        .series
        .iter()
        .zip(&same)
        .map(|(s, twin)| {
            let mut notes: Vec<String> = s.note.iter().cloned().collect();
            if let Some(j) = twin {
                notes.push(format!("identical to {}", c.series[*j].name));
            }
            if s.points.is_empty() {
                notes.push(s.empty_note.clone().unwrap_or_else(|| "no data".into()));
            }
            LegendEntry {
                colour: s.colour.clone(),
                dash: Some(s.dash.clone()),
                marker: Some(s.marker),
                band: false,
                label: s.name.clone(),
                note: (!notes.is_empty()).then(|| notes.join("; ")),
            }
        })
        .collect();
    if let Some((_, label)) = &c.reference {
        entries.push(LegendEntry {
            colour: "#777777".into(),
            dash: Some("3 5".into()),
            marker: None,
            band: false,
            label: label.clone(),
            note: None,
        });
    }
    if let Some(b) = &c.band {
        entries.push(LegendEntry {
            colour: b.colour.clone(),
            dash: None,
            marker: None,
            band: true,
            label: b.label.clone(),
            note: None,
        });
    }
    if let Some((_, _, label, colour)) = &c.vband {
        entries.push(LegendEntry {
            colour: colour.clone(),
            dash: None,
            marker: None,
            band: true,
            label: label.clone(),
            note: None,
        });
    }
    for m in c.vmarks.iter().filter(|m| m.class == "reference") {
        entries.push(LegendEntry {
            colour: m.colour.clone(),
            dash: Some(String::new()),
            marker: None,
            band: false,
            label: m.label.clone(),
            note: None,
        });
    }
    if c.vmarks.iter().any(|m| m.class == "change-point") {
        entries.push(LegendEntry {
            colour: "#D55E00".into(),
            dash: Some("4 4".into()),
            marker: None,
            band: false,
            label: "change point: the run where a change starts".into(),
            note: None,
        });
    }
    let height = (PLOT_Y + PLOT_H + 50.0).max(PLOT_Y + legend_height(&entries) + 10.0);
    let r = Rect {
        x: PLOT_X,
        y: PLOT_Y,
        w: PLOT_W,
        h: PLOT_H,
    };
    let xs = Scale {
        lo: c.x.0,
        hi: c.x.1,
        from: r.x,
        to: r.x + r.w,
    };
    let ys = Scale {
        lo: c.y.0,
        hi: c.y.1,
        from: r.y + r.h,
        to: r.y,
    };
    let mut s = open(c.id, c.title, WIDTH, height);
    let ticks = c.x_ticks.clone().unwrap_or_else(|| linear_ticks(xs, 8));
    s.push_str(&axes(r, xs, ys, &ticks, c.x_label, c.y_label));
    if let Some((lo, hi, label, colour)) = &c.vband {
        let (a, b) = (xs.at(*lo).max(r.x), xs.at(*hi).min(r.x + r.w));
        let _ = write!(
            s,
            r#"<rect class="threshold-band" x="{a:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}" fill-opacity="0.14"><title>{}</title></rect>"#,
            r.y,
            (b - a).max(0.0),
            r.h,
            esc(label)
        );
    }
    if let Some(b) = &c.band {
        let clamp = |y: f64| ys.at(y).clamp(r.y, r.y + r.h);
        let mut poly: Vec<String> = b
            .edges
            .iter()
            .map(|(x, _, hi)| format!("{:.1},{:.1}", xs.at(*x), clamp(*hi)))
            .collect();
        poly.extend(
            b.edges
                .iter()
                .rev()
                .map(|(x, lo, _)| format!("{:.1},{:.1}", xs.at(*x), clamp(*lo))),
        );
        let _ = write!(
            s,
            r#"<polygon class="threshold-band" points="{}" fill="{}" fill-opacity="0.16" stroke="none"><title>{}</title></polygon>"#,
            poly.join(" "),
            b.colour,
            esc(&b.label)
        );
    }
    if let Some((y, label)) = &c.reference {
        let py = ys.at(*y);
        let _ = write!(
            s,
            r##"<line class="reference" x1="{:.1}" x2="{:.1}" y1="{py:.1}" y2="{py:.1}" stroke="#777777" stroke-dasharray="3 5"><title>{}</title></line>"##,
            r.x,
            r.x + r.w,
            esc(label)
        );
    }
    let k = c.series.len() as f64;
    for (i, (series, twin)) in c.series.iter().zip(&same).enumerate() {
        let shift = if c.dodge {
            (i as f64 - (k - 1.0) / 2.0) * DODGE_PX
        } else {
            0.0
        };
        let _ = write!(
            s,
            r#"<g class="series" data-series="{}" data-build="{}" data-colour="{}" data-marker="{}" data-dash="{}" data-points="{}"{}{}>"#,
            esc(&series.name),
            esc(series.build.as_deref().unwrap_or("")),
            series.colour,
            series.marker.name(),
            if series.dash.is_empty() {
                "solid"
            } else {
                &series.dash
            },
            series.points.len(),
            twin.map(|j| format!(r#" data-identical-to="{}""#, esc(&c.series[j].name)))
                .unwrap_or_default(),
            if series.points.is_empty() {
                format!(
                    r#" data-empty="{}""#,
                    esc(series.empty_note.as_deref().unwrap_or("no data"))
                )
            } else {
                String::new()
            }
        );
        let px: Vec<(f64, f64)> = series
            .points
            .iter()
            .map(|p| (xs.at(p.x) + shift, ys.at(p.y)))
            .collect();
        if px.len() > 1 {
            s.push_str(&polyline(&px, &series.colour, 2.0, &series.dash));
        }
        for (p, (x, y)) in series.points.iter().zip(&px) {
            s.push_str(
                &series
                    .marker
                    .path(*x, *y, 4.2, &series.colour, "point", &p.title),
            );
        }
        s.push_str("</g>");
    }
    for m in &c.vmarks {
        let x = xs.at(m.x);
        let dash = if m.class == "change-point" { "4 4" } else { "" };
        let _ = write!(
            s,
            r#"<line class="{}" x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}" stroke="{}" stroke-width="2"{}><title>{}</title></line>"#,
            m.class,
            r.y,
            r.y + r.h,
            m.colour,
            dash_attr(dash),
            esc(&m.label)
        );
    }
    s.push_str(&plot_area(r));
    s.push_str(&legend(LEGEND_X, PLOT_Y, LEGEND_W, &entries));
    s.push_str("</svg>");
    s
}

/// The style of each source: builds in run order, then the host.
fn build_series(
    input: &ReportInput,
    points: impl Fn(&[FrameScore], &str) -> Vec<Point>,
    empty_note: impl Fn(&[FrameScore]) -> String,
) -> Vec<Series> {
    let mut out: Vec<Series> = input
        .builds
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let scores = b.scores();
            let name = if b.name == input.run.baseline {
                format!("{} (camera, baseline)", b.name)
            } else {
                format!("{} (camera)", b.name)
            };
            Series {
                points: points(&scores, &name),
                empty_note: Some(empty_note(&scores)),
                name,
                build: Some(b.name.clone()),
                colour: build_colour(i).into(),
                dash: dash_of_build(i).into(),
                marker: Marker::of_build(i),
                note: None,
            }
        })
        .collect();
    if !input.host.is_empty() {
        out.push(Series {
            name: "host reference".into(),
            build: None,
            colour: HOST_COLOUR.into(),
            dash: HOST_DASH.into(),
            marker: Marker::Ring,
            points: points(&input.host, "host reference"),
            empty_note: Some(empty_note(&input.host)),
            note: None,
        });
    }
    out
}

/// Bucket centre and bucket of each bucket of `axis` with a value of `pick`.
fn by_bucket(
    scores: &[FrameScore],
    axis: BucketAxis,
    pick: impl Fn(&Metrics) -> Option<f64>,
    title: impl Fn(&str, &Metrics, f64) -> String,
) -> Vec<Point> {
    let edges = axis.edges();
    let last_width = edges[edges.len() - 1] - edges[edges.len() - 2];
    bucket_metrics(scores, axis)
        .into_iter()
        .filter_map(|b| {
            let hi = b.hi.unwrap_or(b.lo + last_width);
            let label = format!(
                "{} {}–{} {}",
                axis_word(axis),
                b.lo,
                b.hi.map_or("…".to_string(), |h| h.to_string()),
                axis.unit()
            );
            pick(&b.metrics).map(|v| Point {
                x: (b.lo + hi) / 2.0,
                y: v,
                title: title(&label, &b.metrics, v),
            })
        })
        .collect()
}

fn axis_word(axis: BucketAxis) -> &'static str {
    match axis {
        BucketAxis::Range => "range",
        BucketAxis::Angle => "view angle",
        BucketAxis::Blur => "blur",
        BucketAxis::Noise => "noise",
        BucketAxis::Light => "light",
    }
}

/// The axis from its first edge to the end of the last bucket any series has data in.
fn axis_range(axis: BucketAxis, series: &[Series]) -> (f64, f64) {
    let e = axis.edges();
    let last = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.x))
        .fold(f64::NEG_INFINITY, f64::max);
    let end = e
        .iter()
        .copied()
        .find(|&edge| edge > last)
        .unwrap_or(e[e.len() - 1] + (e[e.len() - 1] - e[e.len() - 2]));
    (e[0], end)
}

fn axis_name(axis: BucketAxis) -> &'static str {
    match axis {
        BucketAxis::Range => "tag range (m)",
        BucketAxis::Angle => "view angle off the tag's normal (deg)",
        _ => "",
    }
}

fn axis_id(axis: BucketAxis) -> &'static str {
    match axis {
        BucketAxis::Range => "range",
        BucketAxis::Angle => "angle",
        BucketAxis::Blur => "blur",
        BucketAxis::Noise => "noise",
        BucketAxis::Light => "light",
    }
}

/// The band of `rule`'s practical threshold around the baseline's points, in the chart's
/// units (`scale` × the metric): ± the threshold in points for a proportion, × (1 ± the
/// threshold) for a relative change.
pub(crate) fn threshold_band(
    baseline: &[Point],
    rule: &MetricRule,
    scale: f64,
) -> Vec<(f64, f64, f64)> {
    baseline
        .iter()
        .map(|p| match rule.change {
            Change::Proportion | Change::AbsoluteMean => (
                p.x,
                p.y - scale * rule.threshold,
                p.y + scale * rule.threshold,
            ),
            Change::RelativeMedian | Change::RelativeTail { .. } => (
                p.x,
                p.y * (1.0 - rule.threshold),
                p.y * (1.0 + rule.threshold),
            ),
        })
        .collect()
}

/// "± 1 pt" / "± 25 %": the threshold as the band's legend says it.
pub(crate) fn threshold_words(metric: &str, rule: &MetricRule) -> String {
    match rule.change {
        Change::Proportion => format!("± {} pt", 100.0 * rule.threshold),
        Change::AbsoluteMean if metric == "false_positives" => {
            format!("± {}/frame", rule.threshold)
        }
        _ => format!("± {} %", 100.0 * rule.threshold),
    }
}

fn baseline_band(input: &ReportInput, series: &[Series], metric: &str, scale: f64) -> Option<Band> {
    let rule = metric_def(metric)?.rule;
    let base = series
        .iter()
        .find(|s| s.build.as_deref() == Some(input.run.baseline.as_str()))?;
    (!base.points.is_empty()).then(|| Band {
        edges: threshold_band(&base.points, &rule, scale),
        label: format!(
            "threshold: baseline {} {}",
            input.run.baseline,
            threshold_words(metric, &rule)
        ),
        colour: build_colour(input.colour_of(&input.run.baseline)).into(),
    })
}

/// Recall per bucket of `axis`: each build's camera, the host, and the truth (100 %),
/// with recall's threshold around the baseline.
pub fn recall_vs(input: &ReportInput, axis: BucketAxis) -> String {
    let id = format!("recall-{}", axis_id(axis));
    let title = format!(
        "Recall versus {}",
        axis_name(axis).split(" (").next().unwrap_or("")
    );
    let series = build_series(
        input,
        |s, name| {
            by_bucket(
                s,
                axis,
                |m| m.recall.map(|r| 100.0 * r),
                |b, m, v| {
                    format!(
                        "{name} · {b}: recall {v:.1} % ({} of {} truth tags)",
                        m.detected, m.tags
                    )
                },
            )
        },
        |s| format!("no truth tag in {} frame(s)", s.len()),
    );
    let band = baseline_band(input, &series, "recall", 100.0);
    line_chart(&LineChart {
        id: &id,
        title: &title,
        x: axis_range(axis, &series),
        y: (0.0, 105.0),
        x_ticks: None,
        x_label: axis_name(axis),
        y_label: "truth tags found (%)",
        series: &series,
        band,
        vband: None,
        vmarks: Vec::new(),
        reference: Some((100.0, "truth (every tag)".into())),
        dodge: true,
    })
}

/// "no pose: 0 of 1236 found tags": what a build without pose errors has instead.
pub(crate) fn no_pose_note(scores: &[FrameScore], metric: &str) -> String {
    let found: Vec<_> = scores
        .iter()
        .flat_map(|s| s.tags.iter())
        .filter_map(|t| t.matched)
        .collect();
    let with = found
        .iter()
        .filter(|m| match metric {
            "trans_err_pct" => m.trans_err_pct.is_some(),
            "rot_err_deg" => m.rot_err_deg.is_some(),
            _ => true,
        })
        .count();
    if found.is_empty() {
        "no tag found".into()
    } else {
        format!("no pose: {with} of {} found tags", found.len())
    }
}

/// A pose error's median per bucket of `axis`, camera builds against the host (the truth
/// is the zero line), with the metric's threshold around the baseline.
pub fn pose_error_vs(input: &ReportInput, metric: &str, axis: BucketAxis) -> String {
    let id = format!("{metric}-{}", axis_id(axis));
    let info = metric_info(metric);
    let title = format!(
        "Median {} versus {}",
        info.label,
        axis_name(axis).split(" (").next().unwrap_or("")
    );
    let pick = |m: &Metrics| match metric {
        "trans_err_pct" => m.trans_err_pct_median,
        "rot_err_deg" => m.rot_err_deg_median,
        _ => m.corner_err_px_median,
    };
    let series = build_series(
        input,
        |s, name| {
            by_bucket(s, axis, pick, |b, m, v| {
                format!(
                    "{name} · {b}: median {} {v:.3} {} ({} found tags)",
                    info.label, info.unit, m.detected
                )
            })
        },
        |s| no_pose_note(s, metric),
    );
    let band = baseline_band(input, &series, metric, 1.0);
    let top = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.y))
        .chain(band.iter().flat_map(|b| b.edges.iter().map(|e| e.2)))
        .fold(0.0_f64, f64::max)
        .max(1e-3)
        * 1.12;
    line_chart(&LineChart {
        id: &id,
        title: &title,
        x: axis_range(axis, &series),
        y: (0.0, top),
        x_ticks: None,
        x_label: axis_name(axis),
        y_label: &format!("{} ({})", info.label, info.unit),
        series: &series,
        band,
        vband: None,
        vmarks: Vec::new(),
        reference: None,
        dodge: true,
    })
}

/// The distribution of corner errors: an empirical CDF per build's camera and the host,
/// the baseline's median as a reference with corner error's threshold around it.
pub fn corner_error_cdf(input: &ReportInput) -> String {
    let title = "Corner error distribution (empirical CDF)";
    let mut series = build_series(
        input,
        |s, name| {
            let mut xs = samples(s, "corner_err_px", None);
            xs.sort_by(f64::total_cmp);
            let n = xs.len() as f64;
            // At most ~120 points a line: the shape, not every sample.
            let step = (xs.len() / 120).max(1);
            xs.iter()
                .enumerate()
                .filter(|(i, _)| i % step == 0 || *i + 1 == xs.len())
                .map(|(i, &x)| {
                    let y = 100.0 * (i + 1) as f64 / n;
                    Point {
                        x,
                        y,
                        title: format!("{name}: {y:.1} % of {n} found tags at or below {x:.3} px"),
                    }
                })
                .collect()
        },
        |_| "no tag found".into(),
    );
    let mut all: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.x))
        .collect();
    all.sort_by(f64::total_cmp);
    // Up to the 99th percentile, so one wild corner does not squash the rest.
    let right = all
        .get(((all.len() as f64) * 0.99) as usize)
        .or(all.last())
        .copied()
        .unwrap_or(1.0)
        .max(0.05)
        * 1.1;
    for s in &mut series {
        s.points.retain(|p| p.x <= right);
    }
    let base_median = input
        .builds
        .iter()
        .find(|b| b.name == input.run.baseline)
        .and_then(|b| visreg_bench::stats::median(&samples(&b.scores(), "corner_err_px", None)));
    let rule = metric_def("corner_err_px").map(|d| d.rule);
    let colour = build_colour(input.colour_of(&input.run.baseline)).to_string();
    let (vband, vmarks) = match (base_median, rule) {
        (Some(m), Some(rule)) => (
            Some((
                m * (1.0 - rule.threshold),
                m * (1.0 + rule.threshold),
                format!(
                    "threshold: baseline median {}",
                    threshold_words("corner_err_px", &rule)
                ),
                colour.clone(),
            )),
            vec![VMark {
                x: m,
                label: format!("baseline {} median: {m:.3} px", input.run.baseline),
                colour,
                class: "reference",
            }],
        ),
        _ => (None, Vec::new()),
    };
    line_chart(&LineChart {
        id: "corner-error",
        title,
        x: (0.0, right),
        y: (0.0, 101.0),
        x_ticks: None,
        x_label: "corner error, RMS over the 4 corners (px)",
        y_label: "found tags at or below (%)",
        series: &series,
        band: None,
        vband,
        vmarks,
        reference: None,
        dodge: false,
    })
}

/// The distribution of on-device latency per build: Tukey box plots (box from the first
/// to the third quartile, line at the median, whiskers to the most extreme frame within
/// 1.5 IQR, points beyond them), the baseline's median as a reference line with
/// latency's threshold as a band around it.
pub fn latency_boxplot(input: &ReportInput) -> String {
    let title = "find_apriltags time per frame on the camera";
    let data: Vec<(usize, &str, Option<svg::BoxStats>)> = input
        .builds
        .iter()
        .enumerate()
        .map(|(i, b)| {
            (
                i,
                b.name.as_str(),
                box_stats(&samples(&b.scores(), "latency_ms", None)),
            )
        })
        .collect();
    let (lo, hi) = data
        .iter()
        .filter_map(|d| d.2.as_ref())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), s| {
            (a.min(s.min), b.max(s.max))
        });
    let (lo, hi) = if lo.is_finite() {
        let pad = ((hi - lo) * 0.06).max(0.05 * hi.abs()).max(0.1);
        ((lo - pad).max(0.0), hi + pad)
    } else {
        (0.0, 1.0)
    };
    let row_h = 46.0;
    let plot_h = (row_h * data.len() as f64).max(row_h);
    let rule = metric_def("latency_ms").map(|d| d.rule);
    let base = data
        .iter()
        .find(|d| d.1 == input.run.baseline)
        .and_then(|d| d.2.as_ref().map(|b| b.median));
    let base_colour = build_colour(input.colour_of(&input.run.baseline));
    let mut entries = vec![
        LegendEntry {
            colour: "#555555".into(),
            dash: None,
            marker: None,
            band: false,
            label: "box: quartiles, bar: median".into(),
            note: Some("whiskers: extreme frames ≤ 1.5 IQR".into()),
        },
        LegendEntry {
            colour: "#555555".into(),
            dash: None,
            marker: Some(Marker::Ring),
            band: false,
            label: "outlier frame (beyond a whisker)".into(),
            note: None,
        },
    ];
    if let (Some(m), Some(rule)) = (base, rule) {
        entries.push(LegendEntry {
            colour: base_colour.into(),
            dash: Some(String::new()),
            marker: None,
            band: false,
            label: format!("baseline {} median {m:.2} ms", input.run.baseline),
            note: None,
        });
        entries.push(LegendEntry {
            colour: base_colour.into(),
            dash: None,
            marker: None,
            band: true,
            label: format!("threshold {}", threshold_words("latency_ms", &rule)),
            note: None,
        });
    }
    for (_, name, b) in &data {
        if b.is_none() {
            entries.push(LegendEntry {
                colour: "#555555".into(),
                dash: None,
                marker: None,
                band: false,
                label: (*name).to_string(),
                note: Some("no time reported".into()),
            });
        }
    }
    let height = (PLOT_Y + plot_h + 50.0).max(PLOT_Y + legend_height(&entries) + 10.0);
    let r = Rect {
        x: PLOT_X + 40.0,
        y: PLOT_Y,
        w: PLOT_W - 40.0,
        h: plot_h,
    };
    let xs = Scale {
        lo,
        hi,
        from: r.x,
        to: r.x + r.w,
    };
    let mut s = open("latency", title, WIDTH, height);
    let _ = write!(s, r##"<g class="axes" font-size="12" fill="#333333">"##);
    for (v, label) in linear_ticks(xs, 8) {
        let px = xs.at(v);
        let _ = write!(
            s,
            r##"<line x1="{px:.1}" x2="{px:.1}" y1="{:.1}" y2="{:.1}" stroke="#000000" stroke-opacity="0.08"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            r.y,
            r.y + r.h,
            r.y + r.h + 16.0
        );
    }
    let _ = write!(
        s,
        r#"<text class="x-label" x="{:.1}" y="{:.1}" text-anchor="middle" font-size="13">time per frame (ms)</text></g>"#,
        r.x + r.w / 2.0,
        r.y + r.h + 36.0
    );
    if let (Some(m), Some(rule)) = (base, rule) {
        let (a, b) = (
            xs.at(m * (1.0 - rule.threshold)),
            xs.at(m * (1.0 + rule.threshold)),
        );
        let _ = write!(
            s,
            r#"<rect class="threshold-band" x="{a:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{base_colour}" fill-opacity="0.14"><title>threshold: baseline median {}</title></rect><line class="reference" x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="{base_colour}" stroke-width="1.5"><title>baseline {} median {m:.2} ms</title></line>"#,
            r.y,
            b - a,
            r.h,
            threshold_words("latency_ms", &rule),
            xs.at(m),
            xs.at(m),
            r.y,
            r.y + r.h,
            esc(&input.run.baseline)
        );
    }
    for (row, (i, name, b)) in data.iter().enumerate() {
        let cy = r.y + row_h * (row as f64 + 0.5);
        let colour = build_colour(*i);
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="12">{}</text>"#,
            r.x - 8.0,
            cy + 4.0,
            esc(name)
        );
        let Some(b) = b else {
            let _ = write!(
                s,
                r##"<text class="no-data" x="{:.1}" y="{:.1}" font-size="12" fill="#444444">no time reported</text>"##,
                r.x + 8.0,
                cy + 4.0
            );
            continue;
        };
        let (x1, xm, x3) = (xs.at(b.q1), xs.at(b.median), xs.at(b.q3));
        let (wl, wh) = (xs.at(b.whisker_lo), xs.at(b.whisker_hi));
        let tip = format!(
            "{name}: median {:.2} ms, quartiles {:.2}–{:.2} ms, whiskers {:.2}–{:.2} ms, data {:.2}–{:.2} ms, {} outlier(s), {} frame results",
            b.median, b.q1, b.q3, b.whisker_lo, b.whisker_hi, b.min, b.max, b.outliers.len(), b.n
        );
        let _ = write!(
            s,
            r#"<g class="box" data-build="{}" data-colour="{colour}" data-min="{}" data-max="{}" data-q1="{}" data-median="{}" data-q3="{}" data-whisker-lo="{}" data-whisker-hi="{}" data-outliers="{}"><title>{}</title>"#,
            esc(name),
            b.min,
            b.max,
            b.q1,
            b.median,
            b.q3,
            b.whisker_lo,
            b.whisker_hi,
            b.outliers.len(),
            esc(&tip)
        );
        let _ = write!(
            s,
            r#"<line class="whisker" data-value="{}" x1="{wl:.2}" x2="{x1:.2}" y1="{cy:.1}" y2="{cy:.1}" stroke="{colour}" stroke-width="2"/><line class="whisker" data-value="{}" x1="{x3:.2}" x2="{wh:.2}" y1="{cy:.1}" y2="{cy:.1}" stroke="{colour}" stroke-width="2"/><line x1="{wl:.2}" x2="{wl:.2}" y1="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2"/><line x1="{wh:.2}" x2="{wh:.2}" y1="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2"/><rect x="{x1:.2}" y="{:.1}" width="{:.2}" height="22" fill="{colour}" fill-opacity="0.18" stroke="{colour}" stroke-width="2"/><line x1="{xm:.2}" x2="{xm:.2}" y1="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="3"/>"#,
            b.whisker_lo,
            b.whisker_hi,
            cy - 7.0,
            cy + 7.0,
            cy - 7.0,
            cy + 7.0,
            cy - 11.0,
            (x3 - x1).max(1.0),
            cy - 11.0,
            cy + 11.0
        );
        for o in &b.outliers {
            let _ = write!(
                s,
                r#"<circle class="outlier" cx="{:.2}" cy="{cy:.1}" r="2.6" fill="none" stroke="{colour}" stroke-width="1.2"><title>{} outlier: {o:.2} ms</title></circle>"#,
                xs.at(*o),
                esc(name)
            );
        }
        s.push_str("</g>");
    }
    s.push_str(&plot_area(r));
    s.push_str(&legend(LEGEND_X, PLOT_Y, LEGEND_W, &entries));
    s.push_str("</svg>");
    s
}

/// One row of the forest plot: a judged check, its change and interval in units of its
/// threshold, signed so that positive is worse.
#[derive(Clone, Debug, PartialEq)]
pub struct ForestRow {
    /// Candidate build.
    pub build: String,
    /// `recall[angle:30-45]`.
    pub check: String,
    /// The word its badge shows (`regressed`, `confounded`, …).
    pub word: &'static str,
    /// Change ÷ threshold, positive = worse; `None` without an estimate.
    pub change: Option<f64>,
    /// Interval ÷ threshold, (better end, worse end).
    pub interval: Option<(f64, f64)>,
    /// What the row says beside it.
    pub text: String,
}

/// The forest plot's rows: every judged check in verdict order, its change scaled by its
/// metric's threshold and turned so that worse is positive, so checks of different units
/// share one axis on which the threshold band is [−1, 1].
pub fn forest_rows(verdicts: &[VerdictEntry]) -> Vec<ForestRow> {
    verdicts
        .iter()
        .map(|e| {
            let rule = metric_def(&e.metric).map(|d| d.rule);
            let orient = |v: f64| match rule {
                Some(r) if r.better == Better::Higher => -v / r.threshold,
                Some(r) => v / r.threshold,
                None => v,
            };
            let interval = match (e.ci_low, e.ci_high) {
                (Some(lo), Some(hi)) => {
                    let (a, b) = (orient(lo), orient(hi));
                    Some((a.min(b), a.max(b)))
                }
                _ => None,
            };
            ForestRow {
                build: e.build.clone(),
                check: check_name(e),
                word: entry_word(e),
                change: e.change.map(orient),
                interval,
                text: super::describe_change(e),
            }
        })
        .collect()
}

/// The colour of a verdict word: the badges' (Okabe & Ito's vermillion for worse, blue
/// for better, gray for unchanged, black for inconclusive).
pub fn verdict_colour(word: &str) -> &'static str {
    match word {
        "regressed" | "confounded" => "#D55E00",
        "improved" => "#0072B2",
        "unchanged" => "#8C8C8C",
        _ => "#000000",
    }
}

/// A forest plot of every judged check: change and 95 % interval in units of its
/// threshold (symmetric log scale), against the threshold band, coloured by verdict.
pub fn forest(input: &ReportInput, reasons: &[Option<String>]) -> String {
    let rows = forest_rows(&input.verdicts);
    let title = "Every judged check: change and 95 % interval against its threshold";
    let row_h = 17.0;
    let (label_w, text_x) = (250.0, 600.0);
    let top = 84.0;
    let r = Rect {
        x: label_w,
        y: top,
        w: text_x - label_w - 20.0,
        h: row_h * rows.len().max(1) as f64,
    };
    let extent = rows
        .iter()
        .flat_map(|row| {
            row.change
                .into_iter()
                .chain(row.interval.into_iter().flat_map(|(a, b)| [a, b]))
        })
        .fold(3.0_f64, |m, v| m.max(v.abs()));
    let half = symlog(extent) * 1.05;
    let xs = Scale {
        lo: -half,
        hi: half,
        from: r.x,
        to: r.x + r.w,
    };
    let at = |v: f64| xs.at(symlog(v));
    let width = 1100.0;
    let height = r.y + r.h + 46.0;
    let mut s = open("forest", title, width, height);
    // The key: above the plot rectangle, outside it.
    let mut key = String::from(r#"<g class="legend" font-size="12">"#);
    let mut kx = 12.0;
    let _ = write!(
        key,
        r##"<rect class="legend-box" x="8" y="32" width="{:.0}" height="26" fill="#ffffff" stroke="#cccccc"/>"##,
        width - 16.0
    );
    for word in [
        "regressed",
        "improved",
        "unchanged",
        "inconclusive",
        "confounded",
    ] {
        let c = verdict_colour(word);
        let hollow = matches!(word, "inconclusive" | "confounded");
        let _ = write!(
            key,
            r##"<path d="M{:.1},39l6,6l-6,6l-6,-6z" fill="{}" stroke="{c}" stroke-width="1.5"/><text x="{:.1}" y="49">{word}</text>"##,
            kx + 6.0,
            if hollow { "#ffffff" } else { c },
            kx + 16.0
        );
        kx += 16.0 + 8.0 * word.len() as f64 + 14.0;
    }
    let _ = write!(
        key,
        r##"<rect x="{kx:.1}" y="40" width="22" height="10" fill="#777777" fill-opacity="0.2"/><text x="{:.1}" y="49">within the threshold (±1×)</text><text x="{:.1}" y="49" fill="#444444">← better · worse →</text></g>"##,
        kx + 28.0,
        kx + 220.0
    );
    s.push_str(&key);
    let _ = write!(
        s,
        r##"<rect class="threshold-band" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#777777" fill-opacity="0.16"><title>within the threshold: a change the metric's rule calls too small to matter</title></rect><line class="reference" x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#333333"><title>no change (the baseline)</title></line>"##,
        at(-1.0),
        r.y,
        at(1.0) - at(-1.0),
        r.h,
        at(0.0),
        at(0.0),
        r.y,
        r.y + r.h
    );
    // Ticks in threshold units.
    let _ = write!(s, r##"<g class="axes" font-size="11" fill="#333333">"##);
    for t in [
        -300.0, -100.0, -30.0, -10.0, -3.0, -1.0, 0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0,
    ] {
        if symlog(t).abs() > half {
            continue;
        }
        let px = at(t);
        let _ = write!(
            s,
            r##"<line x1="{px:.1}" x2="{px:.1}" y1="{:.1}" y2="{:.1}" stroke="#000000" stroke-opacity="0.08"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            r.y,
            r.y + r.h,
            r.y - 6.0,
            if t == 0.0 {
                "0".into()
            } else {
                format!("{t:+}×")
            }
        );
    }
    let _ = write!(
        s,
        r#"<text class="x-label" x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12">change ÷ the metric's threshold (symmetric log scale)</text></g>"#,
        r.x + r.w / 2.0,
        r.y + r.h + 20.0
    );
    for (k, row) in rows.iter().enumerate() {
        let cy = r.y + row_h * (k as f64 + 0.5);
        let c = verdict_colour(row.word);
        let reason = reasons.get(k).cloned().flatten();
        let tip = match &reason {
            Some(why) => format!(
                "{} {}: {} — {}; inconclusive because {why}",
                row.build, row.check, row.word, row.text
            ),
            None => format!("{} {}: {} — {}", row.build, row.check, row.word, row.text),
        };
        let _ = write!(
            s,
            r#"<g class="forest-row" data-build="{}" data-check="{}" data-verdict="{}" data-colour="{c}"><title>{}</title><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{} · {}</text>"#,
            esc(&row.build),
            esc(&row.check),
            row.word,
            esc(&tip),
            r.x - 8.0,
            cy + 4.0,
            esc(&row.build),
            esc(&row.check)
        );
        if k % 2 == 1 {
            let _ = write!(
                s,
                r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{row_h}" fill="#000000" fill-opacity="0.03"/>"##,
                r.x,
                cy - row_h / 2.0,
                r.w
            );
        }
        let hollow = matches!(row.word, "inconclusive" | "confounded");
        if let Some((a, b)) = row.interval {
            let _ = write!(
                s,
                r#"<line class="interval" x1="{:.1}" x2="{:.1}" y1="{cy:.1}" y2="{cy:.1}" stroke="{c}" stroke-width="2"{}/>"#,
                at(a),
                at(b),
                dash_attr(if hollow { "3 2" } else { "" })
            );
        }
        match row.change {
            Some(v) => {
                let _ = write!(
                    s,
                    r#"<path class="estimate" d="M{:.1},{:.1}l5,5l-5,5l-5,-5z" fill="{}" stroke="{c}" stroke-width="1.5"><title>{}</title></path>"#,
                    at(v),
                    cy - 5.0,
                    if hollow { "#ffffff" } else { c },
                    esc(&tip)
                );
            }
            None => {
                let _ = write!(
                    s,
                    r##"<text class="no-estimate" x="{:.1}" y="{:.1}" font-size="11" fill="#444444">no estimate</text>"##,
                    at(0.0) + 6.0,
                    cy + 4.0
                );
            }
        }
        let text = match &reason {
            Some(why) => format!("{}: {why}", row.word),
            None => format!(
                "{}: {}",
                row.word,
                row.text.split("; n =").next().unwrap_or("")
            ),
        };
        // The column holds about 80 characters; the whole text is the row's tooltip.
        let text = if text.chars().count() > 80 {
            format!("{}…", text.chars().take(79).collect::<String>())
        } else {
            text
        };
        let _ = write!(
            s,
            r#"<text x="{text_x:.1}" y="{:.1}" font-size="11" fill="{}">{}</text></g>"#,
            cy + 4.0,
            if c == "#8C8C8C" { "#555555" } else { c },
            esc(&text)
        );
    }
    s.push_str(&plot_area(r));
    s.push_str("</svg>");
    s
}

/// What a history point summarises per run, by the metric's rule: "median", "p90",
/// "share" (a proportion: the mean of 0/1 outcomes), "mean".
pub fn summary_word(metric: &str) -> &'static str {
    match metric_def(metric).map(|d| d.rule.change) {
        Some(Change::RelativeMedian) => "median",
        Some(Change::RelativeTail { q }) if q >= 0.99 => "p99",
        Some(Change::RelativeTail { .. }) => "p90",
        Some(Change::Proportion) => "share",
        _ => "mean",
    }
}

/// A metric's history: one series per build and source (host / camera), one point per
/// run at the run's start date, E-Divisive change points marked at the run where the
/// change starts. Builds keep their colour (their place in `build_order`) and dash;
/// sources differ by marker. `labels` gives a build's firmware version and commit where
/// the catalog knows them.
pub fn history(
    series: &super::HistorySeries,
    build_order: &[String],
    labels: &[(String, String)],
) -> String {
    let info = metric_info(&series.metric);
    let word = summary_word(&series.metric);
    let title = format!("History of {} ({word} per run)", info.label);
    let id = format!("history-{}", series.metric);
    let proportion =
        metric_def(&series.metric).is_some_and(|d| d.rule.change == Change::Proportion);
    let scale = if proportion { 100.0 } else { 1.0 };
    let unit = if proportion { "%" } else { info.unit };
    let mut builds: Vec<&str> = series.points.iter().map(|p| p.build.as_str()).collect();
    builds.sort_by_key(|b| {
        (
            build_order
                .iter()
                .position(|x| x == b)
                .unwrap_or(usize::MAX),
            b.to_string(),
        )
    });
    builds.dedup();
    let mut sources: Vec<&str> = series.points.iter().map(|p| p.source.as_str()).collect();
    sources.sort();
    sources.dedup();
    let mut lines = Vec::new();
    for (bi, b) in builds.iter().enumerate() {
        let colour_index = build_order
            .iter()
            .position(|x| x == b)
            .unwrap_or(build_order.len() + bi);
        for (si, src) in sources.iter().enumerate() {
            let mut pts: Vec<&super::HistoryPoint> = series
                .points
                .iter()
                .filter(|p| p.build == *b && p.source == *src)
                .collect();
            if pts.is_empty() {
                continue;
            }
            pts.sort_by(|a, b| a.started_unix_s.total_cmp(&b.started_unix_s));
            let name = if src.is_empty() {
                b.to_string()
            } else {
                format!("{b} · {src}")
            };
            lines.push(Series {
                points: pts
                    .iter()
                    .map(|p| Point {
                        x: p.started_unix_s,
                        y: scale * p.value,
                        title: format!(
                            "{name} · run {} ({} UTC): {word} {:.4} {unit}",
                            p.run_id,
                            svg::utc(p.started_unix_s),
                            scale * p.value
                        ),
                    })
                    .collect(),
                name,
                build: Some(b.to_string()),
                colour: build_colour(colour_index).into(),
                dash: dash_of_build(colour_index).into(),
                marker: if sources.len() > 1 {
                    Marker::of_build(si)
                } else {
                    Marker::of_build(colour_index)
                },
                empty_note: None,
                note: labels.iter().find(|l| l.0 == *b).map(|l| l.1.clone()),
            });
        }
    }
    let vmarks: Vec<VMark> = series
        .points
        .iter()
        .filter(|p| p.change_point)
        .map(|p| VMark {
            x: p.started_unix_s,
            label: format!(
                "change in {}{} starts at run {} ({} UTC): {word} {:.4} {unit}",
                p.build,
                if p.source.is_empty() {
                    String::new()
                } else {
                    format!(" · {}", p.source)
                },
                p.run_id,
                svg::utc(p.started_unix_s),
                scale * p.value
            ),
            colour: "#D55E00".into(),
            class: "change-point",
        })
        .collect();
    let (t0, t1) = series
        .points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.started_unix_s), b.max(p.started_unix_s))
        });
    let pad = ((t1 - t0) * 0.06).max(30.0);
    let x = if t0.is_finite() {
        (t0 - pad, t1 + pad)
    } else {
        (0.0, 1.0)
    };
    let (lo, hi) = series
        .points
        .iter()
        .map(|p| scale * p.value)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let ypad = ((hi - lo) * 0.15).max(hi.abs() * 0.02).max(1e-3);
    let y = if lo.is_finite() {
        (lo - ypad, hi + ypad)
    } else {
        (0.0, 1.0)
    };
    line_chart(&LineChart {
        id: &id,
        title: &title,
        x,
        y,
        x_ticks: Some(svg::time_ticks(x.0, x.1, 6)),
        x_label: "run started (UTC)",
        y_label: &format!("{} ({unit})", info.label),
        series: &lines,
        band: None,
        vband: None,
        vmarks,
        reference: None,
        dodge: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forest_rows_put_worse_on_the_right_in_threshold_units() {
        let i = super::super::testdata::input();
        let rows = forest_rows(&i.verdicts);
        assert_eq!(rows.len(), i.verdicts.len());
        // rc1 latency +25 % against a 3 % threshold: +8.3× (worse is up for latency).
        assert_eq!(rows[0].check, "latency_ms");
        assert!((rows[0].change.unwrap() - 0.25 / 0.03).abs() < 1e-9);
        // rc3 recall −25 pts against 1 pt: +25× worse (higher recall is better).
        assert_eq!(rows[2].check, "recall");
        assert!((rows[2].change.unwrap() - 25.0).abs() < 1e-9);
        let (a, b) = rows[2].interval.unwrap();
        assert!(a < b && (a - 24.0).abs() < 1e-9 && (b - 26.0).abs() < 1e-9);
        assert_eq!(rows[5].word, "confounded");
    }

    #[test]
    fn the_threshold_band_follows_the_baseline_in_the_rule_s_terms() {
        let p = |x: f64, y: f64| Point {
            x,
            y,
            title: String::new(),
        };
        let recall = metric_def("recall").unwrap().rule;
        assert_eq!(
            threshold_band(&[p(7.5, 98.0)], &recall, 100.0),
            vec![(7.5, 97.0, 99.0)]
        );
        let rot = metric_def("rot_err_deg").unwrap().rule;
        assert_eq!(
            threshold_band(&[p(0.3, 2.0)], &rot, 1.0),
            vec![(0.3, 1.5, 2.5)]
        );
    }

    #[test]
    fn coinciding_builds_stay_visible_and_say_so() {
        let mut i = super::super::testdata::input();
        // A fourth build that behaves as the baseline: its recall line coincides.
        let mut twin = i.builds[0].clone();
        twin.name = "5.0.1".into();
        i.builds.insert(1, twin);
        let svg = recall_vs(&i, BucketAxis::Angle);
        assert_eq!(
            svg.matches(r#"<g class="series""#).count(),
            5,
            "4 builds and the host"
        );
        assert!(svg.contains(r#"data-series="5.0.1 (camera)" data-build="5.0.1""#));
        assert!(
            svg.contains(r#"data-identical-to="5.0.0 (camera, baseline)""#),
            "{svg}"
        );
        assert!(svg.contains("identical to 5.0.0 (camera, baseline)"));
        // Distinct markers and dashes for the two that coincide.
        let attrs = |b: &str| {
            let at = svg.find(&format!(r#"data-build="{b}""#)).unwrap();
            svg[at..at + 200].to_string()
        };
        assert!(attrs("5.0.0").contains(r#"data-marker="circle""#));
        assert!(attrs("5.0.1").contains(r#"data-marker="square""#));
        assert!(svg.contains(r#"class="threshold-band""#));
        assert!(svg.contains("<title>5.0.1 (camera) · view angle"));
    }

    #[test]
    fn a_build_without_pose_is_listed_with_why() {
        let mut i = super::super::testdata::input();
        for f in &mut i.builds[1].frames {
            for t in &mut f.score.tags {
                if let Some(m) = &mut t.matched {
                    m.trans_err_pct = None;
                    m.trans_err_m = None;
                    m.rot_err_deg = None;
                }
            }
        }
        let found: usize = i.builds[1]
            .frames
            .iter()
            .map(|f| f.score.tags.iter().filter(|t| t.matched.is_some()).count())
            .sum();
        let svg = pose_error_vs(&i, "rot_err_deg", BucketAxis::Range);
        let note = format!("no pose: 0 of {found} found tags");
        assert!(
            svg.contains(&format!(
                r#"data-build="5.1.0-rc1" data-colour="{}""#,
                build_colour(1)
            )),
            "rc1 is still a series"
        );
        assert!(svg.contains(&format!(r#"data-empty="{note}""#)), "{svg}");
        assert!(svg.contains(&note), "the legend says so");
    }

    #[test]
    fn box_whiskers_stay_within_the_data() {
        let i = super::super::testdata::input();
        let svg = latency_boxplot(&i);
        assert_eq!(svg.matches(r#"<g class="box""#).count(), 3);
        for b in svg.split(r#"<g class="box""#).skip(1) {
            let attr = |name: &str| -> f64 {
                let at = b.find(&format!(r#"{name}=""#)).unwrap() + name.len() + 2;
                b[at..at + b[at..].find('"').unwrap()].parse().unwrap()
            };
            assert!(attr("data-min") <= attr("data-whisker-lo"));
            assert!(attr("data-whisker-hi") <= attr("data-max"));
        }
        assert!(svg.contains(r#"class="reference""#) && svg.contains(r#"class="threshold-band""#));
    }

    #[test]
    fn the_forest_has_a_row_per_judged_check() {
        let i = super::super::testdata::input();
        let reasons = vec![None; i.verdicts.len()];
        let svg = forest(&i, &reasons);
        assert_eq!(
            svg.matches(r#"<g class="forest-row""#).count(),
            i.verdicts.len()
        );
        assert!(svg.contains(r##"data-verdict="regressed" data-colour="#D55E00""##));
        assert!(svg.contains(r#"data-verdict="inconclusive""#));
    }
}
