"""`--html FILE`: one self-contained page. Inline CSS and SVG, no script, nothing fetched."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from html import escape

from .collect import Chart, Report
from .render import alert_text, coverage_text, iso, scope_row, verdict_text

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 40
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
REFERENCE = "#d62728"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 x 10^k apart) covering [low, high]."""
    if high <= low:
        return [low]
    raw = (high - low) / (count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _decimals(ticks: list[float], factor: float) -> int:
    if len(ticks) < 2:
        return 2
    step = (ticks[1] - ticks[0]) * factor
    return max(0, -math.floor(math.log10(step) + 1e-9))


def _time(t: float, span_seconds: float) -> str:
    moment = datetime.fromtimestamp(t, UTC)
    if span_seconds > 2 * 86400:
        return moment.strftime("%m-%d %H:%M")
    if span_seconds > 600:
        return moment.strftime("%H:%M")
    return moment.strftime("%H:%M:%S")


def svg_chart(chart: Chart) -> str:
    """A line chart: one polyline per line, dashed horizontal reference lines, axes."""
    points = [p for line in chart.lines for p in line.points]
    if not points:
        return (
            f'<svg class="chart" role="img" width="{WIDTH}" height="60" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{escape(chart.title)}</title>'
            f'<text x="{LEFT}" y="36">{escape(chart.title)}: no data in the window</text></svg>'
        )
    xs = [t for t, _ in points]
    ys = [v for _, v in points] + [v for _, v in chart.references]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    pad = (y1 - y0) * 0.05 or 0.01
    y0, y1 = y0 - pad, y1 + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(t: float) -> float:
        return LEFT + (0.5 if x1 == x0 else (t - x0) / (x1 - x0)) * plot_w

    def py(v: float) -> float:
        return TOP + (1 - (v - y0) / (y1 - y0)) * plot_h

    factor = 100 if chart.percent else 1
    yticks = nice_ticks(y0 + pad, y1 - pad)
    digits = _decimals(yticks, factor)

    def fmt(v: float) -> str:
        return f"{v * factor:.{digits}f}{'%' if chart.percent else ''}"

    out = [
        f'<svg class="chart" role="img" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(chart.title)}</title>",
        f'<text class="title" x="{LEFT}" y="18">{escape(chart.title)}</text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="plot"/>',
    ]
    for v in yticks:
        y = py(v)
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
        )
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="ylabel">{fmt(v)}</text>')
    xticks = [x0 + i * (x1 - x0) / 4 for i in range(5)] if x1 > x0 else [x0]
    for i, t in enumerate(xticks):
        anchor = "start" if i == 0 and len(xticks) > 1 else "end" if i == 4 else "middle"
        out.append(
            f'<text x="{px(t):.1f}" y="{TOP + plot_h + 16}" class="xlabel" '
            f'text-anchor="{anchor}">{_time(t, x1 - x0)}</text>'
        )
    last_label = -100.0
    for label, v in sorted(chart.references, key=lambda r: -r[1]):
        y = py(v)
        label_y = y - 4 if y - 4 - last_label >= 12 else y + 13  # below the line if crowded
        last_label = label_y
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
            f'class="reference" stroke="{REFERENCE}"/>'
        )
        out.append(
            f'<text x="{LEFT + plot_w - 4}" y="{label_y:.1f}" class="reflabel">'
            f"{escape(label)} {v * factor:g}{'%' if chart.percent else ''}</text>"
        )
    for i, line in enumerate(chart.lines):
        color = COLORS[i % len(COLORS)]
        coords = " ".join(f"{px(t):.1f},{py(v):.1f}" for t, v in line.points)
        out.append(
            f'<polyline data-line="{escape(line.name)}" points="{coords}" fill="none" '
            f'stroke="{color}" stroke-width="1.8"/>'
        )
        lx = LEFT + i * 150
        out.append(
            f'<rect x="{lx}" y="{HEIGHT - 14}" width="10" height="10" fill="{color}"/>'
            f'<text x="{lx + 14}" y="{HEIGHT - 5}" class="legend">{escape(line.name)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 17px; margin-top: 32px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }
th:nth-child(-n+2), td:nth-child(-n+2) { text-align: left; }
tr.over td { color: #b00; }
.verdict { font-weight: bold; } .freeze { color: #b00; } .ok { color: #080; }
.no-data { color: #a60; }
svg.chart { display: block; margin: 12px 0; background: #fff; }
svg .plot { fill: #fafafa; stroke: #ccc; } svg .grid { stroke: #e4e4e4; }
svg .reference { stroke-dasharray: 6 4; stroke-width: 1.2; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
svg .title { font-size: 13px; font-weight: bold; fill: #222; }
svg .ylabel { text-anchor: end; }
svg .reflabel { text-anchor: end; fill: #d62728; }
"""


def render_html(report: Report, charts: list[Chart]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>prober SLO report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>prober SLO report</h1>",
        f"<p>From {escape(report.prometheus)} at {iso(report.at)}"
        + (f", rules time-scaled 1/{report.scale:g}" if report.scale != 1 else "")
        + ".</p>",
    ]
    for slo in report.slos:
        v = slo.verdict
        parts.append(f"<h2>SLO {escape(slo.name)}</h2>")
        parts.append(f'<p class="verdict {v.value}">{escape(verdict_text(slo).plain)}</p>')
        burns = slo.slis[0].all_regions.burn_rates
        head = ["SLI", "region", "objective", "actual", "budget spent", "budget left", "data"]
        head += [f"burn {b.window}" for b in burns] + ["exhausted in"]
        parts.append("<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>")
        for sli in slo.slis:
            for s in sli.scopes:
                cells = scope_row(sli, s)
                cls = ' class="over"' if s.over_policy else ""
                parts.append(
                    f"<tr{cls}>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>"
                )
        parts.append("</table>")
        parts.append(f"<p>{escape(coverage_text(slo))}.</p>")
        if slo.alerts:
            parts.append("<p>Firing:</p><ul>")
            for a in slo.alerts:
                parts.append(f"<li>{escape(alert_text(a))}</li>")
            parts.append("</ul>")
        else:
            parts.append("<p>No alert firing.</p>")
        for chart in charts:
            if chart.title.startswith(f"{slo.name}: "):
                parts.append(svg_chart(chart))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
