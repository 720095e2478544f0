//! The report's charts: SVG from plotters, one function per chart, each returning the
//! `<svg>` element as text (accessible name included). Builds keep their colour in every
//! chart; the host reference detector is black and dashed; axes carry units.

use plotters::coord::Shift;
use plotters::prelude::*;
use visreg_bench::metrics::{metric_info, samples};
use visreg_bench::scoring::{bucket_metrics, BucketAxis, FrameScore, Metrics};

use super::{build_colour, esc, ReportInput, HOST_COLOUR, TRUTH_LINE_COLOUR};

const SIZE: (u32, u32) = (760, 340);
const FONT: &str = "sans-serif";

type Drawn = Result<(), Box<dyn std::error::Error>>;

fn rgb(hex: &str) -> RGBColor {
    let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap_or(0);
    RGBColor((v >> 16) as u8, (v >> 8) as u8, v as u8)
}

/// Draws with `f` into an SVG string and gives it an accessible name.
fn svg(id: &str, title: &str, f: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Drawn) -> String {
    let mut out = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| e.to_string().into())
            .and_then(|_| f(&root))
            .and_then(|_| root.present().map_err(|e| e.to_string().into()))
    };
    if let Err(e) = drawn {
        // A chart that cannot be drawn says so in place rather than sinking the report.
        return format!(
            r#"<p class="chart-error" data-chart="{id}">chart “{}” could not be drawn: {}</p>"#,
            esc(title),
            esc(&e.to_string())
        );
    }
    out.replacen(
        "<svg ",
        &format!(
            r#"<svg role="img" aria-label="{}" data-chart="{id}" "#,
            esc(title)
        ),
        1,
    )
}

/// The series of one chart: a name, its colour, whether dashed (the host), its points.
struct Series {
    name: String,
    colour: RGBColor,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

fn series_per_source(
    input: &ReportInput,
    f: impl Fn(&[FrameScore]) -> Vec<(f64, f64)>,
) -> Vec<Series> {
    let mut out: Vec<Series> = input
        .builds
        .iter()
        .enumerate()
        .map(|(i, b)| Series {
            name: format!("{} (camera)", b.name),
            colour: rgb(build_colour(i)),
            dashed: false,
            points: f(&b.scores()),
        })
        .collect();
    if !input.host.is_empty() {
        out.push(Series {
            name: "host reference".into(),
            colour: rgb(HOST_COLOUR),
            dashed: true,
            points: f(&input.host),
        });
    }
    out
}

/// Draws line series with markers on `x` × `y` and a legend.
fn lines(
    root: &DrawingArea<SVGBackend, Shift>,
    title: &str,
    x: (std::ops::Range<f64>, &str),
    y: (std::ops::Range<f64>, &str),
    series: &[Series],
    reference: Option<(f64, &str)>,
    run_axis: bool,
) -> Drawn {
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 17))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(62)
        .build_cartesian_2d(x.0.clone(), y.0.clone())?;
    // A run axis counts runs: label whole runs only, from 1.
    let run_label = |v: &f64| {
        if (v - v.round()).abs() < 1e-6 && *v >= -0.01 {
            format!("{}", v.round() as i64 + 1)
        } else {
            String::new()
        }
    };
    let plain = |v: &f64| format!("{v:.1}");
    let x_fmt: &dyn Fn(&f64) -> String = if run_axis { &run_label } else { &plain };
    let x_count = if run_axis {
        ((x.0.end - x.0.start).round() as usize + 1).clamp(2, 24)
    } else {
        10
    };
    chart
        .configure_mesh()
        .x_labels(x_count)
        .x_label_formatter(x_fmt)
        .x_desc(x.1)
        .y_desc(y.1)
        .light_line_style(BLACK.mix(0.06))
        .label_style((FONT, 13))
        .draw()?;
    if let Some((level, name)) = reference {
        let style = rgb(TRUTH_LINE_COLOUR).stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new(
                [(x.0.start, level), (x.0.end, level)],
                3,
                5,
                style,
            ))?
            .label(name)
            .legend(move |(a, b)| PathElement::new(vec![(a, b), (a + 22, b)], style));
    }
    for s in series.iter().filter(|s| !s.points.is_empty()) {
        let style = s.colour.stroke_width(2);
        let anno = if s.dashed {
            chart.draw_series(DashedLineSeries::new(s.points.clone(), 6, 4, style))?
        } else {
            chart.draw_series(LineSeries::new(s.points.clone(), style))?
        };
        anno.label(s.name.clone())
            .legend(move |(a, b)| PathElement::new(vec![(a, b), (a + 22, b)], style));
        let c = s.colour;
        chart.draw_series(s.points.iter().map(move |&p| Circle::new(p, 3, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 12))
        .draw()?;
    Ok(())
}

/// Bucket centres on `axis` with the bucket's value of `pick`.
fn by_bucket(
    scores: &[FrameScore],
    axis: BucketAxis,
    pick: impl Fn(&Metrics) -> Option<f64>,
) -> Vec<(f64, f64)> {
    let edges = axis.edges();
    let last_width = edges[edges.len() - 1] - edges[edges.len() - 2];
    bucket_metrics(scores, axis)
        .into_iter()
        .filter_map(|b| {
            let hi = b.hi.unwrap_or(b.lo + last_width);
            pick(&b.metrics).map(|v| ((b.lo + hi) / 2.0, v))
        })
        .collect()
}

/// The axis from its first edge to the end of the last bucket any series has data in.
fn axis_range(axis: BucketAxis, series: &[Series]) -> std::ops::Range<f64> {
    let e = axis.edges();
    let last = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(f64::NEG_INFINITY, f64::max);
    let end = e
        .iter()
        .copied()
        .find(|&edge| edge > last)
        .unwrap_or(e[e.len() - 1] + (e[e.len() - 1] - e[e.len() - 2]));
    e[0]..end
}

fn axis_name(axis: BucketAxis) -> &'static str {
    match axis {
        BucketAxis::Range => "tag range (m)",
        BucketAxis::Angle => "view angle off the tag's normal (deg)",
        _ => "",
    }
}

/// Recall per bucket of `axis`: each build's camera, the host, and the truth (100 %).
pub fn recall_vs(input: &ReportInput, axis: BucketAxis) -> String {
    let id = format!("recall-{}", axis_id(axis));
    let title = format!(
        "Recall versus {}",
        axis_name(axis).split(" (").next().unwrap_or("")
    );
    let series = series_per_source(input, |s| {
        by_bucket(s, axis, |m| m.recall.map(|r| 100.0 * r))
    });
    svg(&id, &title, |root| {
        lines(
            root,
            &title,
            (axis_range(axis, &series), axis_name(axis)),
            (0.0..105.0, "truth tags found (%)"),
            &series,
            Some((100.0, "truth (every tag)")),
            false,
        )
    })
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

/// A pose error's median per bucket of `axis`, camera builds against the host (the truth
/// is the zero line).
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
    let series = series_per_source(input, |s| by_bucket(s, axis, pick));
    let top = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0_f64, f64::max)
        .max(1e-3)
        * 1.15;
    svg(&id, &title, |root| {
        lines(
            root,
            &title,
            (axis_range(axis, &series), axis_name(axis)),
            (0.0..top, &format!("{} ({})", info.label, info.unit)),
            &series,
            None,
            false,
        )
    })
}

/// The distribution of corner errors: an empirical CDF per build's camera and the host.
pub fn corner_error_cdf(input: &ReportInput) -> String {
    let title = "Corner error distribution (empirical CDF)";
    let series = series_per_source(input, |s| {
        let mut xs = samples(s, "corner_err_px", None);
        xs.sort_by(f64::total_cmp);
        let n = xs.len() as f64;
        // At most ~200 points a line: the shape, not every sample.
        let step = (xs.len() / 200).max(1);
        xs.iter()
            .enumerate()
            .filter(|(i, _)| i % step == 0 || *i + 1 == xs.len())
            .map(|(i, &x)| (x, 100.0 * (i + 1) as f64 / n))
            .collect()
    });
    let mut all: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
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
    svg("corner-error", title, |root| {
        let series: Vec<Series> = series
            .into_iter()
            .map(|mut s| {
                s.points.retain(|p| p.0 <= right);
                s
            })
            .collect();
        lines(
            root,
            title,
            (0.0..right, "corner error, RMS over the 4 corners (px)"),
            (0.0..101.0, "found tags at or below (%)"),
            &series,
            None,
            false,
        )
    })
}

/// The distribution of on-device latency per build: box plots (median, quartiles,
/// whiskers at 1.5 IQR) over every frame and repetition.
pub fn latency_boxplot(input: &ReportInput) -> String {
    let title = "find_apriltags time per frame on the camera";
    let data: Vec<(String, Vec<f64>, usize)> = input
        .builds
        .iter()
        .enumerate()
        .map(|(i, b)| (b.name.clone(), samples(&b.scores(), "latency_ms", None), i))
        .filter(|(_, xs, _)| !xs.is_empty())
        .collect();
    let names: Vec<String> = data.iter().map(|d| d.0.clone()).collect();
    let (lo, hi) = data
        .iter()
        .flat_map(|d| d.1.iter())
        .fold((f64::INFINITY, 0.0_f64), |(a, b), &x| (a.min(x), b.max(x)));
    let lo = if lo.is_finite() {
        (lo * 0.9) as f32
    } else {
        0.0
    };
    let hi = (hi * 1.05).max(f64::from(lo) + 1.0) as f32;
    svg("latency", title, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 17))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(110)
            .build_cartesian_2d(lo..hi, names[..].into_segmented())?;
        chart
            .configure_mesh()
            .x_desc("time per frame (ms)")
            .y_desc("build")
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(s) => s.to_string(),
                _ => String::new(),
            })
            .light_line_style(BLACK.mix(0.06))
            .label_style((FONT, 13))
            .draw()?;
        for (name, xs, i) in &data {
            let q = Quartiles::new(xs);
            let c = rgb(build_colour(*i));
            chart.draw_series(std::iter::once(
                Boxplot::new_horizontal(SegmentValue::CenterOf(name), &q)
                    .width(22)
                    .whisker_width(0.6)
                    .style(c.stroke_width(2)),
            ))?;
        }
        Ok(())
    })
}

/// A metric's history over runs, per build, with E-Divisive change points marked.
/// Builds are coloured by their place in `build_order` (the run's builds), others after.
pub fn history(series: &super::HistorySeries, build_order: &[String]) -> String {
    let info = metric_info(&series.metric);
    let title = format!("History of {} (median per run)", info.label);
    let id = format!("history-{}", series.metric);
    let mut runs: Vec<(f64, &str)> = series
        .points
        .iter()
        .map(|p| (p.started_unix_s, p.run_id.as_str()))
        .collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    runs.dedup_by(|a, b| a.1 == b.1);
    let ordinal = |run: &str| runs.iter().position(|r| r.1 == run).unwrap_or(0) as f64;
    let mut builds: Vec<&str> = series.points.iter().map(|p| p.build.as_str()).collect();
    builds.sort();
    builds.dedup();
    let scale = if info.unit.is_empty() { 100.0 } else { 1.0 };
    let lines_: Vec<Series> = builds
        .iter()
        .map(|b| Series {
            name: b.to_string(),
            colour: rgb(build_colour(
                build_order
                    .iter()
                    .position(|x| x == b)
                    .unwrap_or(build_order.len() + builds.iter().position(|x| x == b).unwrap_or(0)),
            )),
            dashed: false,
            points: series
                .points
                .iter()
                .filter(|p| p.build == *b)
                .map(|p| (ordinal(&p.run_id), scale * p.value))
                .collect(),
        })
        .collect();
    let changes: Vec<f64> = series
        .points
        .iter()
        .filter(|p| p.change_point)
        .map(|p| ordinal(&p.run_id))
        .collect();
    let (lo, hi) = series
        .points
        .iter()
        .map(|p| scale * p.value)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
    let pad = ((hi - lo) * 0.15).max(hi.abs() * 0.02).max(1e-3);
    let y = (lo - pad)..(hi + pad);
    let unit = if info.unit.is_empty() { "%" } else { info.unit };
    svg(&id, &title, |root| {
        lines(
            root,
            &title,
            (-0.5..(runs.len() as f64 - 0.5).max(0.5), "run (1 = oldest)"),
            (y.clone(), &format!("{} ({unit})", info.label)),
            &lines_,
            None,
            true,
        )?;
        // Change points: a vertical mark where a new segment starts.
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(62)
            .caption("", (FONT, 17))
            .build_cartesian_2d(-0.5..(runs.len() as f64 - 0.5).max(0.5), y.clone())?;
        for x in changes {
            chart.draw_series(DashedLineSeries::new(
                [(x - 0.5, y.start), (x - 0.5, y.end)],
                4,
                4,
                rgb("#D55E00").stroke_width(2),
            ))?;
            chart.draw_series(std::iter::once(Text::new(
                "change point",
                (x - 0.45, y.end - (y.end - y.start) * 0.05),
                (FONT, 12).into_font().color(&rgb("#D55E00")),
            )))?;
        }
        Ok(())
    })
}
