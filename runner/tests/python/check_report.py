"""Checks a visreg report folder the way a reader's tools see it.

Usage: check_report.py REPORT_DIR SCREENSHOT.png

- index.html in a real headless Chromium (Debian's /usr/bin/chromium, driven by
  Playwright): the verdict is there, every chart is an <svg> with an accessible name, no
  console errors, no request leaves the file (only file: and data: URLs);
  a full-page screenshot is saved.
- junit.xml against the Jenkins JUnit schema (reports/tests/data/junit-4.xsd), with
  xmlschema.
- every bmf/<build>.json against the Bencher Metric Format's JSON schema
  (reports/tests/data/bmf.schema.json), with jsonschema.

Prints one JSON object with what it found; exits non-zero on the first failed check.
"""
import json
import os
import pathlib
import sys

import jsonschema
import xmlschema
from playwright.sync_api import sync_playwright

HERE = pathlib.Path(__file__).resolve().parent
DATA = HERE.parents[1].parent / "reports" / "tests" / "data"


def check_html(index, screenshot):
    console, external, errors = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("VISREG_CHROMIUM", "/usr/bin/chromium"),
            args=["--no-sandbox", "--disable-gpu"],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: console.append((m.type, m.text)))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "request",
            lambda r: None if r.url.startswith(("file:", "data:")) else external.append(r.url),
        )
        page.goto(index.as_uri(), wait_until="load")
        verdict = page.locator("[data-verdict]").first.inner_text()
        state = page.locator("[data-verdict]").first.get_attribute("data-verdict")
        charts = page.eval_on_selector_all(
            "svg[data-chart]",
            "els => els.map(e => ({id: e.dataset.chart, label: e.getAttribute('aria-label'),"
            " w: e.getBoundingClientRect().width, h: e.getBoundingClientRect().height}))",
        )
        frames = page.locator("[data-frame] svg image").count()
        broken = page.locator(".chart-error").count()
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    bad_console = [t for (kind, t) in console if kind in ("error", "warning")]
    assert not errors, f"page errors: {errors}"
    assert not bad_console, f"console errors: {bad_console}"
    assert not external, f"external requests: {external}"
    assert broken == 0, "a chart could not be drawn"
    for c in charts:
        assert c["label"], f"chart {c['id']} has no accessible name"
        assert c["w"] > 100 and c["h"] > 50, f"chart {c['id']} is not visible: {c}"
    return {"verdict": verdict, "state": state, "charts": [c["id"] for c in charts], "gallery_frames": frames}


def main():
    folder, screenshot = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    out = check_html(folder / "index.html", screenshot)
    xmlschema.XMLSchema(str(DATA / "junit-4.xsd")).validate(str(folder / "junit.xml"))
    out["junit"] = "valid"
    schema = json.loads((DATA / "bmf.schema.json").read_text())
    files = sorted((folder / "bmf").glob("*.json"))
    assert files, f"no bmf/*.json in {folder}"
    for f in files:
        jsonschema.validate(json.loads(f.read_text()), schema)
    out["bmf"] = "valid"
    out["bmf_files"] = [f.name for f in files]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
