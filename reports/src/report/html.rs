//! `index.html`: one self-contained page, read top-down — the verdict, per-build tables,
//! charts, the worst misses drawn on their frames, and the history. No scripts, no
//! network: styles inline, charts inline SVG, frames as data URLs.

use std::fmt::Write;

use base64::Engine;
use visreg_bench::metrics::{metric_info, samples};
use visreg_bench::scoring::{aggregate, BucketAxis, FrameScore};
use visreg_bench::stats::median;

use super::{
    build_colour, charts, check_name, describe_change, esc, fmt_opt, fmt_pct, inconclusive_reason,
    GalleryFrame, ReportInput, HOST_COLOUR, TRUTH_COLOUR,
};

pub(super) const STYLE: &str = r#"
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1a1a; margin: 0 auto; max-width: 1100px; padding: 1.2rem 1.5rem 3rem; }
h1 { font-size: 1.5rem; margin: 0 0 .3rem; } h2 { font-size: 1.2rem; margin: 2rem 0 .6rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.meta { color: #444; margin: 0; } code { font-size: .92em; }
.verdict { border-left: 6px solid #0072B2; background: #f3f7fb; padding: .7rem 1rem; }
.verdict.fail { border-color: #D55E00; background: #fdf3ee; }
.headline { font-size: 1.15rem; font-weight: 600; margin: .2rem 0 .6rem; }
table { border-collapse: collapse; margin: .4rem 0; font-variant-numeric: tabular-nums; }
th, td { padding: .25rem .6rem; text-align: left; border-bottom: 1px solid #e4e4e4; vertical-align: top; }
th { background: #fafafa; font-weight: 600; }
td.num { text-align: right; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: .6rem; font-size: .85em; font-weight: 600; }
.badge.regressed { background: #D55E00; color: #fff; } .badge.improved { background: #0072B2; color: #fff; }
.badge.confounded { background: #fff; color: #D55E00; border: 1px solid #D55E00; } .badge.unchanged { background: #e6e6e6; color: #222; } .badge.inconclusive { background: #fff; color: #222; border: 1px dashed #777; }
.swatch { display: inline-block; width: .8em; height: .8em; border-radius: 2px; margin-right: .35em; vertical-align: -.05em; }
figure { margin: 1rem 0 1.6rem; } figcaption { color: #444; font-size: .9rem; margin-top: .2rem; max-width: 760px; }
svg { max-width: 100%; height: auto; }
svg.chart { display: block; width: 100%; height: auto; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 480px), 1fr)); gap: 1rem; }
.gallery svg { display: block; width: 100%; height: auto; background: #222; }
.why { color: #444; font-size: .9em; }
.gallery figure { margin: 0; }
.legend { display: flex; flex-wrap: wrap; gap: .15rem 1rem; }
.legend span { max-width: 100%; }
table { display: block; max-width: 100%; overflow-x: auto; }
code { overflow-wrap: anywhere; }
details { margin: .6rem 0; } summary { cursor: pointer; color: #0050a0; }
footer { margin-top: 2.5rem; color: #555; font-size: .85rem; overflow-wrap: anywhere; }
"#;

fn swatch(colour: &str) -> String {
    format!(r#"<span class="swatch" style="background:{colour}" aria-hidden="true"></span>"#)
}

fn badge(e: &super::VerdictEntry) -> String {
    let w = super::entry_word(e);
    format!(r#"<span class="badge {w}">{w}</span>"#)
}

fn verdict_rows(input: &ReportInput, entries: &[&super::VerdictEntry]) -> String {
    let mut s = String::from(
        "<table><thead><tr><th>build</th><th>check</th><th>verdict</th><th>change (95 % interval, p)</th></tr></thead><tbody>",
    );
    for e in entries {
        let why = inconclusive_reason(e)
            .map(|w| {
                format!(
                    r#"<br><span class="why" data-why="inconclusive">why: {}</span>"#,
                    esc(&w)
                )
            })
            .unwrap_or_default();
        let _ = write!(
            s,
            "<tr><td>{}{}</td><td><code>{}</code></td><td>{}</td><td>{}{why}</td></tr>",
            swatch(build_colour(input.colour_of(&e.build))),
            esc(&e.build),
            esc(&check_name(e)),
            badge(e),
            esc(&describe_change(e))
        );
    }
    s.push_str("</tbody></table>");
    s
}

fn build_table(input: &ReportInput) -> String {
    let mut s = String::from(
        "<table><thead><tr><th>source</th><th>board</th><th>frames</th><th>recall</th><th>false pos.</th><th>id errors</th>\
         <th>pose coverage</th><th>corner err. median / p90</th><th>transl. err. median</th><th>rot. err. median / p90</th>\
         <th>time per frame median / p90</th><th>free heap median</th></tr></thead><tbody>",
    );
    let row = |s: &mut String, colour: &str, name: &str, board: &str, scores: &[FrameScore]| {
        let m = aggregate(scores);
        let cover = samples(scores, "pose_coverage", None);
        let mem = median(&samples(scores, "mem_free_bytes", None));
        let _ = write!(
            s,
            "<tr><td>{}{}</td><td>{}</td><td class=num>{}</td><td class=num>{} ({}/{})</td><td class=num>{}</td><td class=num>{}</td>\
             <td class=num>{}</td><td class=num>{} / {}</td><td class=num>{}</td><td class=num>{} / {}</td><td class=num>{} / {}</td><td class=num>{}</td></tr>",
            swatch(colour),
            esc(name),
            esc(board),
            m.frames,
            fmt_pct(m.recall),
            m.detected,
            m.tags,
            m.false_positives.map(|x| x.to_string()).unwrap_or_default(),
            m.id_errors.map(|x| x.to_string()).unwrap_or_default(),
            fmt_pct(visreg_bench::stats::mean(&cover)),
            fmt_opt(m.corner_err_px_median, 3, "px"),
            fmt_opt(m.corner_err_px_p90, 3, "px"),
            fmt_opt(m.trans_err_pct_median, 2, "%"),
            fmt_opt(m.rot_err_deg_median, 2, "°"),
            fmt_opt(m.rot_err_deg_p90, 2, "°"),
            fmt_opt(m.latency_ms_median, 2, "ms"),
            fmt_opt(m.latency_ms_p90, 2, "ms"),
            fmt_opt(mem.map(|b| b / 1024.0), 1, "KiB"),
        );
    };
    for (i, b) in input.builds.iter().enumerate() {
        let name = if b.name == input.run.baseline {
            format!("{} (baseline)", b.name)
        } else {
            b.name.clone()
        };
        row(&mut s, build_colour(i), &name, &b.board, &b.scores());
    }
    if !input.host.is_empty() {
        row(
            &mut s,
            HOST_COLOUR,
            "host reference detector",
            "host",
            &input.host,
        );
    }
    s.push_str("</tbody></table>");
    s
}

/// An outline drawn so it shows on a black tag border and on white paper alike: a
/// contrasting halo under the coloured stroke, then a dot on the first corner.
fn outline(
    o: &super::Outline,
    colour: &str,
    halo: &str,
    width: f64,
    dash: &str,
    class: &str,
    title: &str,
) -> String {
    let pts: Vec<String> =
        o.1.iter()
            .map(|c| format!("{:.2},{:.2}", c[0], c[1]))
            .collect();
    let pts = pts.join(" ");
    let dash = if dash.is_empty() {
        String::new()
    } else {
        format!(r#" stroke-dasharray="{dash}""#)
    };
    format!(
        r#"<g class="{class}"><title>{}</title><polygon points="{pts}" fill="none" stroke="{halo}" stroke-opacity="0.85" stroke-width="{:.2}" stroke-linejoin="round"/><polygon points="{pts}" fill="none" stroke="{colour}" stroke-width="{width:.2}" stroke-linejoin="round"{dash}/><circle cx="{:.2}" cy="{:.2}" r="{:.2}" fill="{colour}" stroke="{halo}" stroke-width="{:.2}"/></g>"#,
        esc(title),
        width + 1.8 * width.max(0.6),
        o.1[0][0],
        o.1[0][1],
        1.5 * width,
        0.6 * width
    )
}

/// How each source is drawn on a gallery frame: the build that missed solid, the
/// baseline long-dashed, the host dotted (black, on a white halo).
fn gallery_style(
    input: &ReportInput,
    g: &GalleryFrame,
    source: &str,
) -> (String, &'static str, &'static str) {
    if source == "host" {
        (HOST_COLOUR.into(), "#ffffff", "1.5 1.5")
    } else if source == g.build {
        (build_colour(input.colour_of(source)).into(), "#ffffff", "")
    } else {
        (
            build_colour(input.colour_of(source)).into(),
            "#ffffff",
            "6 3",
        )
    }
}

fn gallery_frame(input: &ReportInput, g: &GalleryFrame) -> String {
    // Frame pixels per 320: strokes and text keep their look at any frame size, since
    // the SVG is scaled to the cell's width.
    let w = f64::from(g.width) / 320.0;
    let mut s = format!(
        r#"<figure data-frame="{}" data-build="{}"><svg viewBox="0 0 {} {}" role="img" aria-label="frame {}: truth, {}'s and the baseline's detections, missed tags circled"><image href="data:image/png;base64,{}" width="{}" height="{}" style="image-rendering:pixelated"/>"#,
        g.frame,
        esc(&g.build),
        g.width,
        g.height,
        g.frame,
        esc(&g.build),
        base64::engine::general_purpose::STANDARD.encode(&g.png),
        g.width,
        g.height
    );
    // The truth under the detections: where a detection matches, its colour covers
    // the yellow; a miss is a yellow outline with nothing on it.
    for t in &g.truth {
        s.push_str(&outline(
            t,
            TRUTH_COLOUR,
            "#000000",
            1.3 * w,
            &format!("{:.1} {:.1}", 4.0 * w, 2.5 * w),
            "truth",
            &format!("truth: tag {}", t.0),
        ));
    }
    // Host first, then the baseline, then the build that missed, on top.
    let mut order: Vec<&(String, Vec<super::Outline>)> = g.detections.iter().collect();
    order.sort_by_key(|(src, _)| {
        if src == "host" {
            0
        } else if *src == g.build {
            2
        } else {
            1
        }
    });
    for (source, tags) in order {
        let (colour, halo, dash) = gallery_style(input, g, source);
        let dash = if dash.is_empty() {
            String::new()
        } else {
            dash.split(' ')
                .map(|d| format!("{:.1}", d.parse::<f64>().unwrap_or(2.0) * w))
                .collect::<Vec<_>>()
                .join(" ")
        };
        for t in tags {
            s.push_str(&outline(
                t,
                &colour,
                halo,
                1.2 * w,
                &dash,
                "detection",
                &format!("{source}: tag {}", t.0),
            ));
        }
    }
    let font = 9.0 * w;
    for m in &g.missed {
        let c = &m.outline.1;
        let (cx, cy) = (
            c.iter().map(|p| p[0]).sum::<f64>() / 4.0,
            c.iter().map(|p| p[1]).sum::<f64>() / 4.0,
        );
        let radius = c
            .iter()
            .map(|p| ((p[0] - cx).powi(2) + (p[1] - cy).powi(2)).sqrt())
            .fold(0.0_f64, f64::max)
            + 3.0 * w;
        let text = format!(
            "tag {}: {:.2} m, {:.0}°, {:.0} px",
            m.outline.0, m.range_m, m.view_angle_deg, m.size_px
        );
        let also = format!(
            "{}{}",
            if m.baseline_found {
                "baseline found it"
            } else {
                "baseline missed it too"
            },
            if m.host_found {
                ", host found it"
            } else {
                ", host missed it"
            }
        );
        // Beside the circle, on whichever side has room; else under it, kept inside.
        let est_w = 0.55 * font * text.chars().count().max(also.chars().count()) as f64;
        let (fw, fh) = (f64::from(g.width), f64::from(g.height));
        let (tx, anchor, ty) = if cx + radius + 2.0 * w + est_w <= fw {
            (cx + radius + 2.0 * w, "start", cy)
        } else if cx - radius - 2.0 * w - est_w >= 0.0 {
            (cx - radius - 2.0 * w, "end", cy)
        } else {
            (
                (cx - est_w / 2.0).clamp(0.0, (fw - est_w).max(0.0)),
                "start",
                cy + radius + font,
            )
        };
        let ty = ty.clamp(font, fh - 1.4 * font);
        let _ = write!(
            s,
            r##"<g class="missed" data-tag="{}" data-range-m="{:.3}" data-angle-deg="{:.1}" data-size-px="{:.1}"><title>{} missed {text} ({also})</title><circle cx="{cx:.2}" cy="{cy:.2}" r="{radius:.2}" fill="none" stroke="#ffffff" stroke-opacity="0.9" stroke-width="{:.2}"/><circle cx="{cx:.2}" cy="{cy:.2}" r="{radius:.2}" fill="none" stroke="#D55E00" stroke-width="{:.2}"/><text x="{tx:.2}" y="{ty:.2}" text-anchor="{anchor}" font-family="sans-serif" font-size="{font:.2}" font-weight="700" fill="#000000" stroke="#ffffff" stroke-width="{:.2}" paint-order="stroke" stroke-linejoin="round">{}</text><text x="{tx:.2}" y="{:.2}" text-anchor="{anchor}" font-family="sans-serif" font-size="{:.2}" fill="#000000" stroke="#ffffff" stroke-width="{:.2}" paint-order="stroke" stroke-linejoin="round">{}</text></g>"##,
            m.outline.0,
            m.range_m,
            m.view_angle_deg,
            m.size_px,
            esc(&g.build),
            3.6 * w,
            1.8 * w,
            0.5 * font,
            esc(&text),
            ty + 1.1 * font,
            0.85 * font,
            0.45 * font,
            esc(&also)
        );
    }
    s.push_str("</svg><figcaption>");
    let mut key = String::new();
    for (source, _) in &g.detections {
        let (colour, _, dash) = gallery_style(input, g, source);
        let what = if source == "host" {
            "host reference, dotted".to_string()
        } else if *source == g.build {
            format!("{source}, solid")
        } else {
            format!("{source} (baseline), dashed")
        };
        let _ = write!(
            key,
            r#"<span data-source="{}" data-dash="{}">{}{}</span>"#,
            esc(source),
            if dash.is_empty() { "solid" } else { dash },
            swatch(&colour),
            esc(&what)
        );
    }
    let _ = write!(
        s,
        r#"<span class="legend">{key}</span><br>{}</figcaption></figure>"#,
        esc(&g.caption)
    );
    s
}

/// " (3: too few units; 2: interval straddles the threshold)" from the reasons, or
/// nothing when no check is inconclusive.
fn inconclusive_breakdown(reasons: &[Option<String>]) -> String {
    let mut kinds: Vec<(&str, usize)> = Vec::new();
    for r in reasons.iter().flatten() {
        let kind = if r.starts_with("too few units") {
            "too few units"
        } else if r.starts_with("no estimate") {
            "no estimate"
        } else if r.contains("straddles") {
            "interval straddles the threshold"
        } else {
            "past the threshold but not significant"
        };
        match kinds.iter_mut().find(|k| k.0 == kind) {
            Some(k) => k.1 += 1,
            None => kinds.push((kind, 1)),
        }
    }
    if kinds.is_empty() {
        String::new()
    } else {
        let parts: Vec<String> = kinds.iter().map(|(k, n)| format!("{n}: {k}")).collect();
        format!(" ({})", parts.join("; "))
    }
}

/// The page.
pub fn html(input: &ReportInput) -> String {
    let run = &input.run;
    let (reg, imp, inc, unch) = input.counts();
    let mut s = String::with_capacity(256 * 1024);
    let _ = write!(
        s,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>visreg {} — {}</title><style>{STYLE}</style></head><body>"#,
        esc(&run.id),
        esc(&input.headline())
    );
    let _ = write!(
        s,
        "<header><h1>visreg run <code>{}</code></h1><p class=meta>dataset <b>{}</b> (<code>{}</code>), camera {}, baseline <b>{}</b>, status {}</p></header>",
        esc(&run.id),
        esc(&run.dataset_name),
        esc(&run.dataset_hash.chars().take(16).collect::<String>()),
        esc(&run.camera),
        esc(&run.baseline),
        esc(run.status.as_str())
    );

    // 1. The verdict.
    let _ = write!(
        s,
        r#"<section id="verdict" class="verdict{}"><h2>Verdict</h2><p class="headline" data-verdict="{}">{}</p>"#,
        if reg > 0 || input.incomplete().is_some() {
            " fail"
        } else {
            ""
        },
        if input.incomplete().is_some() {
            "incomplete"
        } else if reg > 0 {
            "regressed"
        } else {
            "clean"
        },
        esc(&input.headline())
    );
    let reasons: Vec<Option<String>> = input.verdicts.iter().map(inconclusive_reason).collect();
    let why_inc = inconclusive_breakdown(&reasons);
    let _ = write!(
        s,
        "<p>{reg} regressed, {imp} improved, {inc} inconclusive{}, {unch} unchanged of {} checks. A check is <i>regressed</i> only when its paired test, Holm-corrected over the build's primary checks (1 % per build), is significant and its estimated change is beyond the metric's threshold; <i>inconclusive</i> when it has too few units or its interval straddles the threshold; angle buckets are drill-down and do not fail a run (buckets the dataset has no tag in are not checks); a latency change of a build that finds fewer tags is <i>confounded</i>.</p>",
        esc(&why_inc),
        input.verdicts.len()
    );
    let notable = input.notable();
    if !notable.is_empty() {
        s.push_str(&verdict_rows(input, &notable));
    }
    if !input.verdicts.is_empty() {
        let _ = write!(
            s,
            r#"<figure id="forest">{}<figcaption>Every judged check, one row each: the estimated change (diamond) and its 95 % interval (line), divided by the metric's threshold and turned so that worse is to the right; the gray band is the threshold (a change inside it is too small to matter). Coloured by verdict; hover a row for its numbers and, for an inconclusive check, why.</figcaption></figure>"#,
            charts::forest(input, &reasons)
        );
    }
    let all: Vec<_> = input.verdicts.iter().collect();
    let _ = write!(
        s,
        "<details><summary>All {} checks</summary>{}</details></section>",
        all.len(),
        verdict_rows(input, &all)
    );

    // 2. Per-build tables.
    s.push_str(r#"<section id="builds"><h2>Per build</h2><p>Camera results over every frame and repetition, converted to dataset conventions; the host reference detector saw the same frames once.</p>"#);
    s.push_str(&build_table(input));
    s.push_str("</section>");

    // 3. Charts.
    s.push_str(r#"<section id="charts"><h2>Charts</h2><p class="legend">"#);
    for (i, b) in input.builds.iter().enumerate() {
        let _ = write!(
            s,
            "<span>{}{}</span>",
            swatch(build_colour(i)),
            esc(&b.name)
        );
    }
    let _ = write!(
        s,
        "<span>{}host reference (dashed)</span></p>",
        swatch(HOST_COLOUR)
    );
    let figures = [
        (
            charts::latency_boxplot(input),
            "On-device find_apriltags time per frame, every frame and repetition: box from the first to the third quartile, bar at the median, whiskers to the most extreme frame within 1.5 IQR of the box, frames beyond as points; the baseline's median as a line with latency's threshold shaded around it.",
        ),
        (
            charts::recall_vs(input, BucketAxis::Angle),
            "Share of truth tags found per view-angle bucket, each build's camera against the host reference and the truth.",
        ),
        (
            charts::recall_vs(input, BucketAxis::Range),
            "Share of truth tags found per range bucket.",
        ),
        (
            charts::pose_error_vs(input, "trans_err_pct", BucketAxis::Range),
            "Median translation error of found tags, in % of the true range, per range bucket (truth is zero).",
        ),
        (
            charts::pose_error_vs(input, "trans_err_pct", BucketAxis::Angle),
            "Median translation error of found tags, in % of the true range, per view-angle bucket.",
        ),
        (
            charts::pose_error_vs(input, "rot_err_deg", BucketAxis::Range),
            "Median rotation error (geodesic) of found tags per range bucket.",
        ),
        (
            charts::pose_error_vs(input, "rot_err_deg", BucketAxis::Angle),
            "Median rotation error (geodesic) of found tags per view-angle bucket (truth is zero).",
        ),
        (
            charts::corner_error_cdf(input),
            "Distribution of corner errors (RMS over the four corners) of found tags; the camera reports integer corners, so its floor is about 0.4 px.",
        ),
    ];
    for (svg, caption) in figures {
        let _ = write!(
            s,
            "<figure>{svg}<figcaption>{}</figcaption></figure>",
            esc(caption)
        );
    }
    s.push_str("</section>");

    // 4. The worst misses.
    s.push_str(r#"<section id="gallery"><h2>Worst misses</h2>"#);
    if input.gallery.is_empty() {
        s.push_str("<p>No camera missed a truth tag.</p>");
    } else {
        let _ = write!(
            s,
            r#"<p class="legend"><span>{}truth (yellow, dashed)</span><span>the build that missed: solid, in its colour; the baseline: dashed, in its colour; the host: black, dotted</span><span>red circle: a missed tag, with its range, view angle and size</span><span>dot: the first corner</span></p><div class="gallery">"#,
            swatch(TRUTH_COLOUR)
        );
        for g in &input.gallery {
            s.push_str(&gallery_frame(input, g));
        }
        s.push_str("</div>");
    }
    s.push_str("</section>");

    // 5. History.
    s.push_str(r#"<section id="history"><h2>History</h2>"#);
    let with_history: Vec<_> = input
        .history
        .iter()
        .filter(|h| {
            let mut runs: Vec<&str> = h.points.iter().map(|p| p.run_id.as_str()).collect();
            runs.sort();
            runs.dedup();
            runs.len() > 1
        })
        .collect();
    if with_history.is_empty() {
        s.push_str("<p>The store holds no earlier run of these builds on this dataset yet: the trend appears from the second run on.</p>");
    } else {
        for h in with_history {
            let cps = h.points.iter().filter(|p| p.change_point).count();
            let _ = write!(
                s,
                "<figure>{}<figcaption>{} per run, one series per build and host / camera, by the date the run started; {} change point(s) found by E-Divisive means (α = 0.01), marked at the run where the change starts.</figcaption></figure>",
                charts::history(
                    h,
                    &input.builds.iter().map(|b| b.name.clone()).collect::<Vec<_>>(),
                    &input.history_labels
                ),
                esc(metric_info(&h.metric).label),
                cps
            );
        }
    }
    s.push_str("</section>");

    let _ = writeln!(
        s,
        "<footer>Detector settings of the host reference: <code>{}</code>. Host: <code>{}</code>. Written by visreg {}.</footer></body></html>",
        esc(&run.detector_json),
        esc(&run.host_json),
        env!("CARGO_PKG_VERSION")
    );
    s
}
