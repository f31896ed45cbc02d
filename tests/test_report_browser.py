"""The --html report as a browser shows it: headless Chromium renders the page.

A report taken minutes after Prometheus started has one sample per series: a polyline
of one point draws nothing, so the charts were empty axes with a legend. Now each point
of a short line is a dot, and a chart with a single timestamp says why there is no line.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from prober.report.collect import Chart, Line
from prober.report.html import COLORS, HEIGHT, NOT_ENOUGH, STYLE, TOP, WIDTH, render_html, svg_chart

from .test_report import _report, _scope

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs chromium"),
]

T = 1_790_000_000.0
ONE_SAMPLE = Chart(
    "api: availability SLI",
    (Line("all regions", ((T, 0.9995),)), Line("eu-1", ((T, 0.998),))),
    (("objective", 0.999),),
)
FEW = Chart(
    "api: availability error budget remaining",
    (Line("all regions", ((T, 1.0), (T + 60, 0.97), (T + 120, 0.95))),),
    (("policy line", 0.2), ("exhausted", 0.0)),
)
EMPTY = Chart("api: latency SLI", (), (("objective", 0.95),))


def chromium(page: Path, tmp: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp / 'profile'}",
            "--force-device-scale-factor=1",
            *mode,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_a_report_with_one_sample_shows_dots_and_says_there_is_not_enough_data(
    tmp_path: Path,
) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(_report(_scope(None, 0.85, True)), [ONE_SAMPLE, FEW, EMPTY]))
    done = chromium(page, tmp_path, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert dom.count("<svg") == 3
    # Two one-point lines and one three-point line: a dot per point.
    assert dom.count('<circle class="point" data-line="all regions"') == 1 + 3
    assert dom.count('<circle class="point" data-line="eu-1"') == 1
    assert f"{NOT_ENOUGH} for a line: one sample" in dom
    assert f"api: latency SLI: {NOT_ENOUGH}" in dom


def test_the_browser_paints_the_single_sample_inside_the_plot_area(tmp_path: Path) -> None:
    page = tmp_path / "chart.html"
    page.write_text(
        f"<!DOCTYPE html><html><head><style>{STYLE} body {{ margin: 0; }} "
        f"svg.chart {{ margin: 0; }}</style></head><body>{svg_chart(ONE_SAMPLE)}</body></html>"
    )
    shot = tmp_path / "chart.png"
    done = chromium(page, tmp_path, f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}")
    assert done.returncode == 0, done.stderr[-2000:]
    blue = tuple(int(COLORS[0][i : i + 2], 16) for i in (1, 3, 5))
    image = Image.open(shot).convert("RGB")
    # The plot area only: the legend swatch below it is the same blue.
    plot = image.crop((0, TOP, WIDTH, HEIGHT - 40))
    width, height = plot.size
    painted = 0
    for x in range(width):
        for y in range(height):
            pixel = plot.getpixel((x, y))
            assert isinstance(pixel, tuple)
            painted += all(abs(a - b) <= 40 for a, b in zip(pixel, blue, strict=True))
    assert painted >= 10, f"{painted} blue pixels in the plot area"
