"""The run report renders in a real headless browser (Debian's chromium), offline."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from report_helpers import finished_run

from pipeline.report import write_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
WIDTH, HEIGHT = 1280, 2400
FUNNEL_GREEN = (0x2E, 0x7D, 0x32)  # plots.KEPT_COLOR: the kept bars of the funnel chart


def find_browser() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


def screenshot(browser: str, page: Path, png: Path, profile: Path) -> None:
    """Headless screenshot; network features off so the page must render from the file alone."""
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={WIDTH},{HEIGHT}",
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def png_size(png: Path) -> tuple[int, int]:
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path):
    browser = find_browser()
    if browser is None:
        pytest.skip("no chromium installed (`apt-get install chromium`; .ci/run installs it)")
    run_dir = finished_run(tmp_path)
    page = write_report(run_dir, json.loads((run_dir / "manifest.json").read_text()))
    png = tmp_path / "report.png"
    screenshot(browser, page, png, tmp_path / "profile")
    assert png_size(png) == (WIDTH, HEIGHT)
    import numpy as np
    from PIL import Image  # the test extra (pillow)

    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    green = int((pixels == FUNNEL_GREEN).all(axis=1).sum())
    colours = len(np.unique(pixels, axis=0))
    # the funnel's bars are drawn from the inline SVG: a blank page or a broken image has none
    assert green > 5000, f"only {green} pixels of the funnel's green: charts not rendered"
    assert colours > 50
