"""Small inline SVG charts for the session report, drawn on the Pi (no plotting library, no script).

Colours come from CSS classes (``static/style.css``) so the charts follow the page's theme. Each
chart is drawn twice, for a phone (``NARROW``) and for a wider screen (``WIDE``), and the style sheet
shows the one that fits: an SVG scales its text with its width, so one drawing cannot keep text at
12 px or more on a 360 px phone without it being huge on a laptop.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Size:
    """A chart's viewBox and margins (user units) and its text size; ``css`` names the variant."""

    css: str
    w: int
    h: int
    left: int
    right: int
    top: int
    bottom: int
    font: int


# NARROW is shown below 640 px of page width: at 360 px (332 px of chart) its text is 14 x 332/360
# = 12.9 px. WIDE is shown from 640 px up to its 720 px cap: 15 x 600/720 = 12.5 px at the least.
NARROW = Size("narrow", 360, 240, 40, 8, 26, 34, 14)
WIDE = Size("wide", 720, 280, 54, 10, 26, 34, 15)


def _nice_step(span: float, target: int = 6) -> float:
    raw = span / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def _clock(t_s: float) -> str:
    m, s = divmod(int(round(t_s)), 60)
    return f"{m}:{s:02d}"


def _both(draw) -> str:
    """A chart in its two sizes, the page showing one (style.css)."""
    return draw(NARROW) + draw(WIDE)


def _frame(z: Size, title: str, body: list[str], y_ticks: list[tuple[float, str]],
           x_ticks: list[tuple[float, str]], y_label: str) -> str:
    out = [f'<svg class="chart {z.css}" viewBox="0 0 {z.w} {z.h}" font-size="{z.font}" role="img" '
           f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for y, text in y_ticks:
        out.append(f'<line class="grid" x1="{z.left}" x2="{z.w - z.right}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{z.left - 4}" y="{y + z.font * 0.35:.1f}" text-anchor="end">'
                   f'{escape(text)}</text>')
    for x, text in x_ticks:
        out.append(f'<text class="tick" x="{x:.1f}" y="{z.h - z.bottom + z.font + 2}" text-anchor="middle">'
                   f'{escape(text)}</text>')
    out.append(f'<text class="axis" x="{z.left}" y="{z.font}">{escape(y_label)}</text>')
    out += body
    out.append("</svg>")
    return "".join(out)


def _y_scale(z: Size, values: list[float], include_zero: bool = True):
    lo, hi = min(values + ([0.0] if include_zero else [])), max(values + ([0.0] if include_zero else []))
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    step = _nice_step(hi - lo, 4 if z is NARROW else 5)
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    y = lambda v: z.top + (hi - v) / (hi - lo) * (z.h - z.top - z.bottom)   # noqa: E731
    ticks = [(y(lo + i * step), f"{lo + i * step:g}") for i in range(int(round((hi - lo) / step)) + 1)]
    return y, ticks


def trace_chart(t_s: list[float], angle_deg: list, marks: list[dict], title: str = "leg angle") -> str:
    """Leg angle over time (gaps where unknown), a line at standing (0) and one mark per counted rep."""
    known = [a for a in angle_deg if a is not None]
    if not t_s or not known:
        return '<p class="empty">No leg angle could be computed for this session.</p>'
    return _both(lambda z: _trace(z, t_s, angle_deg, known, marks, title))


def _trace(z: Size, t_s, angle_deg, known, marks, title) -> str:
    t0, t1 = t_s[0], max(t_s[-1], t_s[0] + 1e-3)
    x = lambda t: z.left + (t - t0) / (t1 - t0) * (z.w - z.left - z.right)   # noqa: E731
    y, y_ticks = _y_scale(z, known)
    step = max(_nice_step(t1 - t0, 4 if z is NARROW else 8), 1.0)
    x_ticks = [(x(v), _clock(v)) for v in _frange(math.ceil(t0 / step) * step, t1, step)]
    body = [f'<line class="zero" x1="{z.left}" x2="{z.w - z.right}" y1="{y(0):.1f}" y2="{y(0):.1f}"/>']
    for m in marks:
        if t0 <= m["t_s"] <= t1:
            body.append(f'<line class="mark" x1="{x(m["t_s"]):.1f}" x2="{x(m["t_s"]):.1f}" y1="{z.top}" '
                        f'y2="{z.h - z.bottom}"><title>set {m["set_index"]} · rep {m["rep_in_set"]}</title></line>')
    for run in _runs(t_s, angle_deg):
        pts = " ".join(f"{x(t):.1f},{y(a):.1f}" for t, a in run)
        body.append(f'<polyline class="line" points="{pts}"/>')
    return _frame(z, title, body, y_ticks, x_ticks, "° · march up, hinge down")


def bar_chart(labels: list[str], series: list[tuple[str, str, list]], y_label: str, title: str,
              groups: list[tuple[str, int, int]] | None = None) -> str:
    """Grouped bars: one group per label, one bar per series ``(name, css class, values)``; a value
    None is not drawn. ``groups`` ``(label, first, end)`` bands of labels (a set's reps): each band's
    label goes under it and a gap separates the bands; the ticks then number the bars within a band."""
    values = [v for _, _, vs in series for v in vs if isinstance(v, (int, float))]
    if not labels or not values:
        return '<p class="empty">Nothing to plot.</p>'
    return _both(lambda z: _bars(z, labels, series, y_label, title, groups))


def _bars(z: Size, labels, series, y_label, title, groups) -> str:
    y, y_ticks = _y_scale(z, [v for _, _, vs in series for v in vs if isinstance(v, (int, float))])
    bands = groups or [("", 0, len(labels))]
    gap = 0.6                                   # a band's gap, in bar groups
    slots = len(labels) + gap * (len(bands) - 1)
    group_w = (z.w - z.left - z.right) / slots
    bar_w = group_w * 0.8 / len(series)
    xs = [0.0] * len(labels)
    for b, (_, first, end) in enumerate(bands):
        for i in range(first, end):
            xs[i] = z.left + (i + b * gap) * group_w
    min_px = z.font * 2.2                       # room for a tick label
    every = max(1, math.ceil(min_px / group_w))
    body, x_ticks = [], []
    for b, (band, first, end) in enumerate(bands):
        for i in range(first, end):
            if (i - first) % every == 0:
                x_ticks.append((xs[i] + group_w / 2, str(i - first + 1) if groups else labels[i]))
        if band:
            mid = (xs[first] + xs[end - 1] + group_w) / 2
            body.append(f'<text class="band" x="{mid:.1f}" y="{z.h - 4}" text-anchor="middle">{escape(band)}</text>')
            if b:
                sep = xs[first] - gap * group_w / 2
                body.append(f'<line class="grid" x1="{sep:.1f}" x2="{sep:.1f}" y1="{z.top}" y2="{z.h - z.bottom}"/>')
    for s, (name, css, vs) in enumerate(series):
        for i, v in enumerate(vs):
            if not isinstance(v, (int, float)):
                continue
            x0 = xs[i] + group_w * 0.1 + s * bar_w
            top, base = min(y(v), y(0)), max(y(v), y(0))
            body.append(f'<rect class="{css}" x="{x0:.1f}" y="{top:.1f}" width="{bar_w:.1f}" '
                        f'height="{max(base - top, 0.5):.1f}"><title>{escape(labels[i])}: {escape(name)} '
                        f'{v:g}</title></rect>')
    x_legend = z.w - z.right
    for name, css, _ in reversed(series):       # right-aligned, after the axis label
        body.append(f'<text class="legend {css}" x="{x_legend:.0f}" y="{z.font}" text-anchor="end">■ {escape(name)}</text>')
        x_legend -= (len(name) + 3) * z.font * 0.55
    return _frame(z, title, body, y_ticks, x_ticks, y_label)


def line_chart(labels: list[str], series: list[tuple[str, str, list]], y_label: str, title: str) -> str:
    """One point per label (a session), a line per series ``(name, css class, values)`` joining its
    known points; a value None is a session without it."""
    values = [v for _, _, vs in series for v in vs if isinstance(v, (int, float))]
    if not labels or not values:
        return '<p class="empty">Nothing to plot.</p>'
    return _both(lambda z: _lines(z, labels, series, y_label, title, values))


def _lines(z: Size, labels, series, y_label, title, values) -> str:
    y, y_ticks = _y_scale(z, values)
    n = len(labels)
    step = (z.w - z.left - z.right - 2 * z.font) / max(n - 1, 1)
    x = lambda i: z.left + z.font + (i * step if n > 1 else (z.w - z.left - z.right) / 2 - z.font)   # noqa: E731
    every = max(1, math.ceil(z.font * 3.2 / max(step, 1e-9)))
    x_ticks = [(x(i), lab) for i, lab in enumerate(labels) if i % every == 0]
    body = []
    for name, css, vs in series:
        pts = [(x(i), y(v), i, v) for i, v in enumerate(vs) if isinstance(v, (int, float))]
        if len(pts) > 1:
            body.append(f'<polyline class="{css}" points="{" ".join(f"{a:.1f},{b:.1f}" for a, b, _, _ in pts)}"/>')
        for a, b, i, v in pts:
            body.append(f'<circle class="{css}" cx="{a:.1f}" cy="{b:.1f}" r="4"><title>{escape(labels[i])}: '
                        f'{escape(name)} {v:g}</title></circle>')
    x_legend = z.w - z.right
    for name, css, _ in reversed(series):
        body.append(f'<text class="legend {css}" x="{x_legend:.0f}" y="{z.font}" text-anchor="end">● {escape(name)}</text>')
        x_legend -= (len(name) + 3) * z.font * 0.55
    return _frame(z, title, body, y_ticks, x_ticks, y_label)


def _frange(start: float, stop: float, step: float):
    v = start
    while v <= stop + 1e-9:
        yield v
        v += step


def _runs(t_s: list[float], values: list):
    """Consecutive known points, split at every unknown one."""
    run = []
    for t, v in zip(t_s, values):
        if v is None:
            if len(run) > 1:
                yield run
            run = []
        else:
            run.append((t, v))
    if len(run) > 1:
        yield run
