"""HTML of the sessions list and of one session's report, written on the Pi (no script needed).

Every value from a file is escaped; links use only checked session ids and file names.
"""
from __future__ import annotations

from html import escape
from urllib.parse import quote

from firmware_bridge.web.svg import bar_chart, trace_chart


def page(title: str, body: str, asset_version: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{escape(title)} · hingemarch</title>'
            f'<link rel="stylesheet" href="/static/style.css?v={asset_version}"></head>'
            f'<body class="doc"><nav><a href="/">Live</a><a href="/sessions">Sessions</a></nav>'
            f"<main>{body}</main></body></html>")


def when(start_utc: str | None) -> str:
    """``2026-11-25T09:30:00Z`` -> ``2026-11-25 09:30 UTC``."""
    if not start_utc or len(start_utc) < 16:
        return "—"
    return f"{start_utc[:10]} {start_utc[11:16]} UTC"


def duration(seconds) -> str:
    if not isinstance(seconds, (int, float)):
        return "—"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _downloads(row: dict) -> str:
    sid = quote(row["session_id"])
    links = [f'<span class="file"><a href="/sessions/{sid}/files/{quote(f["name"])}" download>'
             f'{escape(f["name"])}</a> <small>{_size(f["size_bytes"])}</small></span>' for f in row["files"]]
    links.append(f'<span class="file"><a href="/sessions/{sid}/zip" download>all as .zip</a></span>')
    return " · ".join(links)


def sessions_page(rows: list[dict], live_id: str | None, asset_version: str) -> str:
    if not rows:
        return page("Sessions", "<h1>Sessions</h1><p>No session recorded yet.</p>", asset_version)
    items = []
    for r in rows:
        status = ("recording now" if r["session_id"] == live_id else
                  "closed after a crash" if r.get("recovered_after_crash") else
                  "" if r["complete"] else "not closed")
        items.append(
            f'<li class="card"><a class="title" href="/sessions/{quote(r["session_id"])}">{when(r.get("start_utc"))}</a>'
            f'<span class="figs"><b>{r.get("reps", 0)}</b> reps · <b>{r.get("sets", 0)}</b> sets · '
            f'{duration(r.get("duration_s"))}{" · " + escape(status) if status else ""}</span>'
            f'<span class="sub">{escape(r["session_id"])} · {escape(str(r.get("athlete") or ""))} '
            f'{escape(str(r.get("side") or ""))}</span><span class="dl">{_downloads(r)}</span></li>')
    return page("Sessions", f'<h1>Sessions</h1><ul class="sessions">{"".join(items)}</ul>', asset_version)


def report_page(row: dict, report: dict, asset_version: str) -> str:
    reps, sets, trace = report["reps"], report["sets"], report.get("trace") or {}
    marks = [{"t_s": r["completed_s"], "set_index": r["set_index"], "rep_in_set": r["rep_in_set"]}
             for r in reps if isinstance(r.get("completed_s"), (int, float))]
    head = (f'<h1>{when(row.get("start_utc"))}</h1><p class="figs"><b>{row.get("reps", 0)}</b> reps in '
            f'<b>{row.get("sets", 0)}</b> sets · {duration(row.get("duration_s"))} · '
            f'{escape(str(row.get("athlete") or ""))} · {escape(str(row.get("side") or ""))} leg · '
            f'{escape(str(row.get("placement") or ""))}</p><p class="dl">{_downloads(row)}</p>')
    if report.get("trace_error"):
        chart = f'<p class="empty">Leg angle not available: {escape(report["trace_error"])}</p>'
    else:
        chart = trace_chart(trace.get("t_s", []), trace.get("leg_angle_deg", []), marks,
                            "leg angle over the session, one line per counted rep")
    labels = [f'{r["set_index"]}.{r["rep_in_set"]}' for r in reps]
    per_rep = bar_chart(labels, [("hinge depth", "depth", [r["hinge_depth_deg"] for r in reps]),
                                 ("march height", "height", [r["march_height_deg"] for r in reps])],
                        "deg", "hinge depth and march height of every rep (set.rep)")
    sway = [(s, _sway_value(s)) for s in sets]
    if any(v is not None for _, v in sway):
        key = next(k for s, _ in sway for k in _sway_keys(s))
        series = [(key, "sway", [v for _, v in sway])]
        second = [_second_rms_deg(s) for s, _ in sway]
        if any(v is not None for v in second):   # the optional second sensor, on the standing leg
            series.append(("second_rms_deg", "second", second))
        sway_html = bar_chart([f'set {s.get("set_index")}' for s, _ in sway], series, "deg", "sway per set")
    else:
        sway_html = '<p class="empty">No sway was measured in this session.</p>'
    rows = "".join(f'<tr><td>{r["set_index"]}</td><td>{r["rep_in_set"]}</td><td>{_f(r["completed_s"])}</td>'
                   f'<td>{_f(r["hinge_depth_deg"])}</td><td>{_f(r["march_height_deg"])}</td>'
                   f'<td>{_f(r["duration_s"])}</td><td>{_f(r.get("sway_deg"))}</td></tr>' for r in reps)
    table = ('<table><thead><tr><th>set</th><th>rep</th><th>at (s)</th><th>depth (deg)</th>'
             '<th>height (deg)</th><th>tempo (s)</th><th>sway (deg)</th></tr></thead>'
             f'<tbody>{rows}</tbody></table>')
    body = (f"{head}<h2>Leg angle</h2>{chart}<h2>Depth and height per rep</h2>{per_rep}"
            f"<h2>Sway per set</h2>{sway_html}<h2>Reps</h2>{table}")
    return page(f'Session {row["session_id"]}', body, asset_version)


def _sway_keys(s: dict) -> list[str]:
    """Numeric sway measures of a set, the headline ``sway_deg`` first."""
    keys = [k for k, v in s.items() if k.startswith("sway") and isinstance(v, (int, float))]
    return sorted(keys, key=lambda k: (k != "sway_deg", k))


def _sway_value(s: dict):
    keys = _sway_keys(s)
    return s[keys[0]] if keys else None


def _second_rms_deg(s: dict):
    """The second sensor's RMS sway of a set: the mean of its ML and AP RMS (deg), None if not recorded."""
    ml, ap = s.get("second_rms_ml_deg"), s.get("second_rms_ap_deg")
    return round((ml + ap) / 2, 3) if isinstance(ml, (int, float)) and isinstance(ap, (int, float)) else None


def _f(x) -> str:
    if x is None:
        return "–"
    return f"{x:.1f}" if isinstance(x, (int, float)) else escape(str(x))
