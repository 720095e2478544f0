"""Checks that a visreg run report's charts and its history page cannot mislead, the way
a reader sees them: in a real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright), measuring the laid-out page.

Usage: check_charts.py INDEX.html HISTORY.html SHOT_DIR BUILD...

For each fix of issue 15 it measures what a reader would trip over and reports it; the
Rust test (runner/tests/report.rs) compares the findings with verdicts.json and the run's
builds. Screenshots of the run page, the gallery, the page on a narrow window and the
history page go to SHOT_DIR. Prints one JSON object; exits non-zero on a page error.
"""
import json
import os
import pathlib
import sys

from playwright.sync_api import sync_playwright

# Everything measured in one pass in the page, so the findings are the browser's layout.
MEASURE = r"""
(builds) => {
  const box = (el) => { const r = el.getBoundingClientRect();
    return {x: r.x, y: r.y, w: r.width, h: r.height}; };
  const overlap = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
  const out = {charts: {}, boxes: [], forest: [], gallery: [], points: 0, untitled_points: 0};
  for (const svg of document.querySelectorAll('svg[data-chart]')) {
    const id = svg.dataset.chart;
    const area = svg.querySelector('.plot-area');
    const legends = [...svg.querySelectorAll('.legend-box')];
    const c = {
      width: svg.getBoundingClientRect().width,
      legend_overlaps_plot: area ? legends.some(l => overlap(box(l), box(area))) : null,
      has_legend: legends.length > 0,
      series: [...svg.querySelectorAll('g.series')].map(g => ({
        build: g.dataset.build, name: g.dataset.series, colour: g.dataset.colour,
        marker: g.dataset.marker, dash: g.dataset.dash, points: +g.dataset.points,
        empty: g.dataset.empty || null, identical_to: g.dataset.identicalTo || null,
        drawn_w: box(g).w, drawn_h: box(g).h,
      })),
      legend_text: [...svg.querySelectorAll('.legend text')].map(t => t.textContent),
      bands: svg.querySelectorAll('.threshold-band').length,
      references: svg.querySelectorAll('.reference').length,
      change_points: [...svg.querySelectorAll('line.change-point')].map(l => l.querySelector('title').textContent),
      x_ticks: [...svg.querySelectorAll('.axes text:not(.x-label):not(.y-label)')].map(t => t.textContent),
    };
    out.charts[id] = c;
    for (const p of svg.querySelectorAll('path.point')) {
      out.points += 1;
      const t = p.querySelector('title');
      if (!t || !t.textContent.trim()) out.untitled_points += 1;
    }
  }
  for (const g of document.querySelectorAll('g.box')) {
    const d = g.dataset;
    const whiskers = [...g.querySelectorAll('line.whisker')].map(l => +l.dataset.value);
    out.boxes.push({build: d.build, min: +d.min, max: +d.max, lo: +d.whiskerLo, hi: +d.whiskerHi,
      q1: +d.q1, q3: +d.q3, whiskers, outliers: +d.outliers,
      outlier_points: g.querySelectorAll('circle.outlier').length});
  }
  for (const r of document.querySelectorAll('svg[data-chart="forest"] g.forest-row')) {
    out.forest.push({build: r.dataset.build, check: r.dataset.check, verdict: r.dataset.verdict,
      colour: r.dataset.colour, title: (r.querySelector('title') || {}).textContent || ''});
  }
  for (const f of document.querySelectorAll('#gallery figure[data-frame]')) {
    const svg = f.querySelector('svg');
    out.gallery.push({frame: +f.dataset.frame, build: f.dataset.build,
      width: svg.getBoundingClientRect().width,
      missed: [...f.querySelectorAll('g.missed')].map(m => ({
        tag: m.dataset.tag, label: [...m.querySelectorAll('text')].map(t => t.textContent).join(' | '),
        ring: box(m.querySelector('circle')).w})),
      sources: [...f.querySelectorAll('[data-source]')].map(s => s.dataset.source),
      detections: f.querySelectorAll('g.detection').length,
      truth: f.querySelectorAll('g.truth').length});
  }
  out.why = [...document.querySelectorAll('[data-why]')].map(e => e.textContent);
  out.scroll_width = document.documentElement.scrollWidth;
  out.left_out = (document.querySelector('[data-left-out]') || {dataset: {}}).dataset.leftOut || null;
  return out;
}
"""


def open_page(p, viewport):
    browser = p.chromium.launch(
        executable_path=os.environ.get("VISREG_CHROMIUM", "/usr/bin/chromium"),
        args=["--no-sandbox", "--disable-gpu"],
    )
    page = browser.new_page(viewport=viewport)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return browser, page, errors


def main():
    index, history, shots = (pathlib.Path(a) for a in sys.argv[1:4])
    builds = sys.argv[4:]
    shots.mkdir(parents=True, exist_ok=True)
    out = {}
    with sync_playwright() as p:
        browser, page, errors = open_page(p, {"width": 1200, "height": 900})
        page.goto(index.as_uri(), wait_until="load")
        out["run"] = page.evaluate(MEASURE, builds)
        page.screenshot(path=str(shots / "visreg-report-run.png"), full_page=True)
        page.locator("#gallery").screenshot(path=str(shots / "visreg-report-gallery.png"))
        page.locator("#forest").screenshot(path=str(shots / "visreg-report-forest.png"))
        # A narrow window: the charts must shrink with it, not overflow.
        page.set_viewport_size({"width": 420, "height": 900})
        narrow = page.evaluate(MEASURE, builds)
        out["narrow"] = {
            "scroll_width": narrow["scroll_width"],
            "widest_chart": max(c["width"] for c in narrow["charts"].values()),
            "widest_frame": max([g["width"] for g in narrow["gallery"]] or [0]),
        }
        page.screenshot(path=str(shots / "visreg-report-narrow.png"), full_page=True)
        page.goto(history.as_uri(), wait_until="load")
        page.set_viewport_size({"width": 1200, "height": 900})
        out["history"] = page.evaluate(MEASURE, builds)
        page.screenshot(path=str(shots / "visreg-history.png"), full_page=True)
        browser.close()
    assert not errors, f"page errors: {errors}"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
