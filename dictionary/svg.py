"""Charts drawn on the server as inline SVG: readable without JavaScript, no library, no network.

Colours come from the stylesheet (classes s0..s5), so the pages keep their Content-Security-Policy
(no inline styles). Every point carries a <title>, the browser's own tooltip.
"""

from __future__ import annotations

import math

from markupsafe import escape

WIDTH, HEIGHT = 640, 150
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 10, 22
COLOURS = 6


def number(value) -> str:
    """A figure as a label: integers with separators, fractions to 3 significant digits."""
    if value is None:
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{int(value):,}"


def compact(value: float) -> str:
    """An axis label: 1.5k, 2M, 3.2G (the tooltips keep every digit)."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e4, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return number(value)


def nice_top(value: float) -> float:
    """The axis's top: the data's largest value rounded up to 1, 2, 2.5 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value)


def _frame(label: str, top: float, width: int, height: int) -> list[str]:
    plot_h = height - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
    ]
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{compact(top * fraction)}</text>')
    return parts


def lines(x: list[str], series: dict[str, list[float | None]], label: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    """One line per series over the x values (days); a missing value breaks its line."""
    values = [v for vs in series.values() for v in vs if v is not None]
    top = nice_top(max(values, default=0))
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    step = plot_w / max(1, len(x) - 1)
    parts = _frame(label, top, width, height)
    for i in sorted({0, len(x) // 2, len(x) - 1}) if x else ():
        anchor = "start" if i == 0 else "end" if i == len(x) - 1 else "middle"
        parts.append(f'<text class="axis" x="{LEFT + i * step:.1f}" y="{height - 6}" text-anchor="{anchor}">{escape(x[i])}</text>')
    for n, (name, vs) in enumerate(series.items()):
        points = [(LEFT + i * step, TOP + plot_h * (1 - v / top), v, x[i]) for i, v in enumerate(vs) if v is not None]
        runs, run, last = [], [], None
        for i, v in enumerate(vs):
            if v is None:
                continue
            if last is not None and i != last + 1:
                runs.append(run)
                run = []
            run.append(f"{LEFT + i * step:.1f},{TOP + plot_h * (1 - v / top):.1f}")
            last = i
        runs.append(run)
        cls = f"s{n % COLOURS}"
        parts += [f'<polyline class="line {cls}" points="{" ".join(r)}"/>' for r in runs if len(r) > 1]
        parts += [
            f'<circle class="dot {cls}" cx="{px:.1f}" cy="{py:.1f}" r="2.5">'
            f"<title>{escape(name)} {escape(day)}: {number(v)}</title></circle>"
            for px, py, v, day in points
        ]
    parts.append("</svg>")
    return "".join(parts)


def bars(labels: list[str], values: list[float], label: str, width: int = WIDTH) -> str:
    """Horizontal bars, one per label, longest first as given."""
    row = 20
    height = TOP + row * len(labels) + 4
    top = max(values, default=0) or 1
    text_w = 200
    plot_w = width - text_w - RIGHT - 60
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
    ]
    for i, (name, v) in enumerate(zip(labels, values, strict=True)):
        y = TOP + i * row
        w = max(1.0, v / top * plot_w)
        parts.append(f'<text class="axis" x="{text_w - 6}" y="{y + 13}" text-anchor="end">{escape(name[:40])}</text>')
        parts.append(
            f'<rect class="bar s0" x="{text_w}" y="{y + 2}" width="{w:.1f}" height="{row - 6}">'
            f"<title>{escape(name)}: {number(v)}</title></rect>"
        )
        parts.append(f'<text class="axis" x="{text_w + w + 4:.1f}" y="{y + 13}">{number(v)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def compare(x: list[str], series: dict[str, list[float | None]], label: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    """Bars side by side at each x (a histogram's buckets), one colour per series (a day)."""
    values = [v for vs in series.values() for v in vs if v is not None]
    top = nice_top(max(values, default=0))
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    slot = plot_w / max(1, len(x))
    bar = max(1.0, slot / max(1, len(series)) - 1)
    parts = _frame(label, top, width, height)
    for i in sorted({0, len(x) - 1}) if x else ():
        anchor = "start" if i == 0 else "end"
        at = LEFT + i * slot + (slot if i else 0)
        parts.append(f'<text class="axis" x="{at:.1f}" y="{height - 6}" text-anchor="{anchor}">{escape(x[i])}</text>')
    for n, (name, vs) in enumerate(series.items()):
        for i, v in enumerate(vs):
            if not v:
                continue
            h = max(1.0, v / top * plot_h)
            parts.append(
                f'<rect class="bar s{n % COLOURS}" x="{LEFT + i * slot + n * (bar + 1):.1f}" y="{TOP + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}"><title>{escape(name)}, {escape(x[i])}: {number(v)}</title></rect>'
            )
    parts.append("</svg>")
    return "".join(parts)


def panels(draw: dict, columns: list[str], rows: list[list], days: list[str], title: str) -> list[tuple[str, str, list[str]]]:
    """A chart's rows drawn as charts.yaml's `draw` says: (panel name, SVG, legend) per panel."""
    at = {c: i for i, c in enumerate(columns)}
    kind = draw["kind"]
    if kind == "lines":
        by_day = {str(r[at["day"]]): r for r in rows}
        out = []
        for panel in draw["panels"]:
            series = {c: [_float(by_day[d][at[c]]) if d in by_day else None for d in days] for c in panel}
            out.append((" · ".join(panel), lines(days, series, f"{title}: {', '.join(panel)} per day"), list(panel)))
        return out
    if kind == "split":
        keys = list(dict.fromkeys(str(r[at[draw["by"]]]) for r in rows))
        series = {k: [None] * len(days) for k in keys}
        index = {d: i for i, d in enumerate(days)}
        for r in rows:
            i = index.get(str(r[at["day"]]))
            if i is not None:
                series[str(r[at[draw["by"]]])][i] = _float(r[at[draw["y"]]])
        return [(draw["y"], lines(days, series, f"{title}: {draw['y']} per day by {draw['by']}"), keys)]
    if kind == "bars":
        labels = [" = ".join(str(r[at[c]]) for c in draw["label"]) for r in rows]
        return [(draw["y"], bars(labels, [_float(r[at[draw["y"]]]) or 0.0 for r in rows], f"{title}: {draw['y']}"), [])]
    if kind == "compare":
        xs = sorted({r[at[draw["x"]]] for r in rows})
        groups = list(dict.fromkeys(str(r[at[draw["by"]]]) for r in rows))
        series = {g: [None] * len(xs) for g in groups}
        index = {x: i for i, x in enumerate(xs)}
        for r in rows:
            series[str(r[at[draw["by"]]])][index[r[at[draw["x"]]]]] = _float(r[at[draw["y"]]])
        return [(draw["y"], compare([number(x) for x in xs], series, f"{title}: {draw['y']} by {draw['x']}"), groups)]
    raise ValueError(f"unknown chart kind {kind!r}")


def _float(value) -> float | None:
    return None if value is None else float(value)
