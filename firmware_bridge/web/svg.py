"""Small inline SVG charts for the session report, drawn on the Pi (no plotting library, no script).

Colours come from CSS classes (``static/style.css``) so the charts follow the page's theme; every
chart scales to the page width through its viewBox.
"""
from __future__ import annotations

import math
from html import escape

W, H = 960, 280                      # viewBox size
LEFT, RIGHT, TOP, BOTTOM = 62, 12, 16, 30


def _nice_step(span: float, target: int = 6) -> float:
    raw = span / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def _clock(t_s: float) -> str:
    m, s = divmod(int(round(t_s)), 60)
    return f"{m}:{s:02d}"


def _frame(title: str, body: list[str], y_ticks: list[tuple[float, str]], x_ticks: list[tuple[float, str]],
           y_label: str) -> str:
    out = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for y, text in y_ticks:
        out.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(text)}</text>')
    for x, text in x_ticks:
        out.append(f'<text class="tick" x="{x:.1f}" y="{H - 10}" text-anchor="middle">{escape(text)}</text>')
    out.append(f'<text class="axis" x="12" y="{TOP + (H - TOP - BOTTOM) / 2:.0f}" '
               f'transform="rotate(-90 12 {TOP + (H - TOP - BOTTOM) / 2:.0f})" text-anchor="middle">'
               f'{escape(y_label)}</text>')
    out += body
    out.append("</svg>")
    return "".join(out)


def _y_scale(values: list[float], include_zero: bool = True):
    lo, hi = min(values + ([0.0] if include_zero else [])), max(values + ([0.0] if include_zero else []))
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    step = _nice_step(hi - lo, 5)
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    y = lambda v: TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM)   # noqa: E731
    ticks = [(y(lo + i * step), f"{lo + i * step:g}") for i in range(int(round((hi - lo) / step)) + 1)]
    return y, ticks


def trace_chart(t_s: list[float], angle_deg: list, marks: list[dict], title: str = "leg angle") -> str:
    """Leg angle over time (gaps where unknown), a line at standing (0) and one mark per counted rep."""
    known = [a for a in angle_deg if a is not None]
    if not t_s or not known:
        return '<p class="empty">No leg angle could be computed for this session.</p>'
    t0, t1 = t_s[0], max(t_s[-1], t_s[0] + 1e-3)
    x = lambda t: LEFT + (t - t0) / (t1 - t0) * (W - LEFT - RIGHT)   # noqa: E731
    y, y_ticks = _y_scale(known)
    step = _nice_step(t1 - t0, 8)
    step = max(step, 1.0)
    x_ticks = [(x(v), _clock(v)) for v in _frange(math.ceil(t0 / step) * step, t1, step)]
    body = [f'<line class="zero" x1="{LEFT}" x2="{W - RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}"/>']
    for m in marks:
        if t0 <= m["t_s"] <= t1:
            body.append(f'<line class="mark" x1="{x(m["t_s"]):.1f}" x2="{x(m["t_s"]):.1f}" y1="{TOP}" '
                        f'y2="{H - BOTTOM}"><title>set {m["set_index"]} rep {m["rep_in_set"]}</title></line>')
    for run in _runs(t_s, angle_deg):
        pts = " ".join(f"{x(t):.1f},{y(a):.1f}" for t, a in run)
        body.append(f'<polyline class="line" points="{pts}"/>')
    return _frame(title, body, y_ticks, x_ticks, "deg (march + / hinge -)")


def bar_chart(labels: list[str], series: list[tuple[str, str, list]], y_label: str, title: str) -> str:
    """Grouped bars: one group per label, one bar per series ``(name, css class, values)``."""
    values = [v for _, _, vs in series for v in vs if isinstance(v, (int, float))]
    if not labels or not values:
        return '<p class="empty">Nothing to plot.</p>'
    y, y_ticks = _y_scale(values)
    group_w = (W - LEFT - RIGHT) / len(labels)
    bar_w = group_w * 0.8 / len(series)
    every = max(1, math.ceil(len(labels) / 24))
    x_ticks = [(LEFT + (i + 0.5) * group_w, lab) for i, lab in enumerate(labels) if i % every == 0]
    body = []
    for s, (name, css, vs) in enumerate(series):
        for i, v in enumerate(vs):
            if not isinstance(v, (int, float)):
                continue
            x0 = LEFT + i * group_w + group_w * 0.1 + s * bar_w
            top, base = min(y(v), y(0)), max(y(v), y(0))
            body.append(f'<rect class="{css}" x="{x0:.1f}" y="{top:.1f}" width="{bar_w:.1f}" '
                        f'height="{max(base - top, 0.5):.1f}"><title>{escape(labels[i])}: {escape(name)} '
                        f'{v:g}</title></rect>')
    legend = [f'<text class="legend {css}" x="{LEFT + 8 + 150 * s}" y="{TOP + 10}">{escape(name)}</text>'
              for s, (name, css, _) in enumerate(series)]
    return _frame(title, body + legend, y_ticks, x_ticks, y_label)


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
