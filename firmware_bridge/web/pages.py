"""HTML of the sessions list, one session's report and an athlete's history, written on the Pi.

Every value from a file is escaped; links use only checked session ids and file names. Times are
shown in the device's local time zone. The pages read without a script; ``report.js`` only sends
the edits (fix a count, delete a rep or the session, a note, undo).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from urllib.parse import quote

from analysis.sides import SIDES, asymmetry_pct
from firmware_bridge.web.svg import bar_chart, line_chart, trace_chart


def page(title: str, body: str, asset_version: str, script: str = "") -> str:
    js = f'<script src="/static/{script}?v={asset_version}" defer></script>' if script else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{escape(title)} · hingemarch</title>'
            f'<link rel="stylesheet" href="/static/style.css?v={asset_version}">'
            f'<script src="/static/theme.js?v={asset_version}"></script>{js}</head>'
            f'<body class="doc"><nav><a href="/">Live</a><a href="/sessions">Sessions</a>'
            f'<a href="/history">History</a><button id="theme" type="button" '
            f'aria-label="switch between the light and the dark theme">Light</button></nav>'
            f"<main>{body}</main></body></html>")


def _local(start_utc: str | None, offset_s: float = 0.0) -> datetime | None:
    if not isinstance(start_utc, str):
        return None
    try:
        dt = datetime.fromisoformat(start_utc.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        return None
    return (dt + timedelta(seconds=offset_s)).astimezone()     # the device's own time zone


def when(start_utc: str | None) -> str:
    """``2026-11-25T09:30:00Z`` -> ``2026-11-25 10:30 CET`` (the device's time zone)."""
    dt = _local(start_utc)
    return dt.strftime("%Y-%m-%d %H:%M %Z") if dt else "—"


def clock(start_utc: str | None, offset_s) -> str:
    """The local time of day ``offset_s`` into a session (``10:42``), or — when unknown."""
    dt = _local(start_utc, offset_s) if isinstance(offset_s, (int, float)) else None
    return dt.strftime("%H:%M") if dt else "—"


def duration(seconds) -> str:
    if not isinstance(seconds, (int, float)):
        return "—"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def height_label(placement) -> str:
    """What "march height" measures where the sensor sits: on the shank it is the shank's own forward
    angle, small even in a high march (the knee is bent), so it is named for what it is."""
    return "shank lift" if placement == "shank" else "march height"


def height_value(placement, x):
    """A rep's height for showing: on the shank 0 means the shank never went forward (not measured)."""
    return None if placement == "shank" and x == 0 else x


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _downloads(row: dict, exports: bool = False) -> str:
    """The session's files and its zip; with ``exports`` also the FIT activity and the athlete's sets
    CSV, both as edited."""
    sid = quote(row["session_id"])
    links = [f'<span class="file"><a href="/sessions/{sid}/files/{quote(f["name"])}" download>'
             f'{escape(f["name"])}</a> <small>{_size(f["size_bytes"])}</small></span>' for f in row["files"]]
    links.append(f'<span class="file"><a href="/sessions/{sid}/zip" download>all as .zip</a></span>')
    if exports:
        links.append(f'<span class="file"><a href="/sessions/{sid}/export.fit" download>FIT activity</a></span>')
        links.append(f'<span class="file"><a href="/sessions/{sid}/sets.csv" download>the athlete\'s sets (CSV)</a></span>')
    return " · ".join(links)


def _sides_text(row: dict) -> str:
    sides = row.get("sides") or ([row["side"]] if row.get("side") else [])
    return " + ".join(escape(str(s)) for s in sides)


def _card(r: dict, live_id: str | None) -> str:
    status = ("recording now" if r["session_id"] == live_id else
              "closed after a crash" if r.get("recovered_after_crash") else
              "" if r["complete"] else "not closed")
    if r.get("edited") and not r.get("deleted"):
        status = (status + " · " if status else "") + "edited"
    athlete = escape(str(r.get("athlete") or ""))
    who = (f'<a href="/history/{quote(str(r["athlete"]))}">{athlete}</a>' if r.get("athlete") else "")
    return (f'<li class="card"><a class="title" href="/sessions/{quote(r["session_id"])}">{when(r.get("start_utc"))}</a>'
            f'<span class="figs"><b>{r.get("reps", 0)}</b> reps · <b>{r.get("sets", 0)}</b> sets · '
            f'{duration(r.get("duration_s"))}{" · " + escape(status) if status else ""}</span>'
            f'<span class="sub">{escape(r["session_id"])} · {who} {_sides_text(r)}</span>'
            f'<span class="dl">{_downloads(r)}</span></li>')


def sessions_page(rows: list[dict], live_id: str | None, asset_version: str) -> str:
    shown = [r for r in rows if not r.get("deleted")]
    deleted = [r for r in rows if r.get("deleted")]
    if not rows:
        return page("Sessions", "<h1>Sessions</h1><p>No session recorded yet.</p>", asset_version)
    body = f'<h1>Sessions</h1><ul class="sessions">{"".join(_card(r, live_id) for r in shown)}</ul>'
    if not shown:
        body += "<p>Every session is deleted.</p>"
    if deleted:
        links = " · ".join(f'<a href="/sessions/{quote(r["session_id"])}">{when(r.get("start_utc"))}</a>'
                           for r in deleted)
        body += (f'<h2>Deleted</h2><p class="sub">Hidden from the list and the history; open one to '
                 f"undo its deletion: {links}</p>")
    return page("Sessions", body, asset_version)


def _f(x, digits: int = 1) -> str:
    if x is None:
        return "—"
    return f"{x:.{digits}f}" if isinstance(x, (int, float)) else escape(str(x))


def _table(head: list[str], rows: list[list[str]], css: str = "", optional: tuple[int, ...] = ()) -> str:
    """A table in a box that scrolls sideways if it must (the page itself never does); the
    ``optional`` columns are left out on a phone (style.css)."""
    opt = lambda i: ' class="opt"' if i in optional else ""   # noqa: E731
    th = "".join(f"<th{opt(i)}>{h}</th>" for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f"<td{opt(i)}>{c}</td>" for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f'<div class="scroll"><table class="{css}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></div>'


def compare_table(sides: dict, placement) -> str:
    """Left against right: each figure per side and how much they differ (percent of the larger)."""
    names = [s for s in SIDES if s in sides] + [s for s in sides if s not in SIDES]
    if not names:
        return '<p class="empty">No reps counted.</p>'
    figures = [("reps", "reps", 0), ("sets", "sets", 0), ("hinge depth (°)", "mean_hinge_depth_deg", 1),
               (f"{height_label(placement)} (°)", "mean_march_height_deg", 1),
               ("tempo (s per rep)", "mean_duration_s", 2), ("sway (°, RMS tilt)", "mean_sway_deg", 2)]
    both = all(s in sides for s in SIDES)
    rows = []
    for label, key, digits in figures:
        vals = [sides[n].get(key) for n in names]
        if placement == "shank" and key == "mean_march_height_deg":
            vals = [height_value(placement, v) for v in vals]
        cells = [label] + [_f(v, digits) if digits else str(v) for v in vals]
        if both:
            pct = asymmetry_pct(sides["left"].get(key), sides["right"].get(key))
            cells.append("—" if pct is None or (placement == "shank" and key == "mean_march_height_deg" and None in vals)
                         else f"{pct:.0f} %")
        rows.append(cells)
    head = [""] + [escape(n) for n in names] + (["difference"] if both else [])
    note = ("" if both else f'<p class="sub">Only the {escape(names[0])} leg in this session: nothing to compare.</p>')
    return _table(head, rows, "compare") + note


def sets_table(sets: list[dict], start_utc, placement) -> str:
    """A row per set; with an exercise other than the hinge-and-march, its name and range of motion."""
    others = any(s.get("exercise", "hinge_march") != "hinge_march" for s in sets)
    rows = []
    for s in sets:
        count = str(s.get("reps"))
        if s.get("edited"):
            count = (f'<span class="edited" title="edited; counted live: {s.get("reps_counted")}">{count}*</span>')
        rows.append([str(s["set_index"]), escape(str(s.get("side") or "")), clock(start_utc, s.get("start_s")), count,
                     _f(s.get("mean_hinge_depth_deg")), _f(height_value(placement, s.get("mean_march_height_deg"))),
                     _f(s.get("mean_duration_s"), 2), _f(s.get("sway_deg"), 2)])
        if others:
            rows[-1][2:2] = [escape(str(s.get("exercise", "hinge_march")).replace("_", " ")), _f(s.get("mean_rom_deg"))]
    head = ["set", "side", "start", "reps", "depth °", f"{height_label(placement).split()[-1]} °", "tempo s", "sway °"]
    if others:
        head[2:2] = ["exercise", "range °"]
    return _table(head, rows, "sets", optional=(4,) if others else (2,))


def report_page(row: dict, report: dict, asset_version: str) -> str:
    reps, sets, trace = report["reps"], report["sets"], report.get("trace") or {}
    placement, start, sid = row.get("placement"), row.get("start_utc"), row["session_id"]
    marks = [{"t_s": r["completed_s"], "set_index": r["set_index"], "rep_in_set": r["rep_in_set"]}
             for r in reps if isinstance(r.get("completed_s"), (int, float))]
    edited = ' · <span class="edited">edited*</span>' if report.get("edited") else ""
    head = (f'<h1>{when(start)}</h1><p class="figs"><b>{row.get("reps", 0)}</b> reps in '
            f'<b>{row.get("sets", 0)}</b> sets · {duration(row.get("duration_s"))} · '
            f'{escape(str(row.get("athlete") or ""))} · {_sides_text(row)} · '
            f'sensor on the {escape(str(placement or ""))}{edited}</p><p class="dl">{_downloads(row, True)}</p>')
    if report.get("deleted"):
        head = ('<p class="banner">This session is deleted: it is hidden from the sessions list and the history. '
                '<button type="button" data-undo>Undo the deletion</button></p>') + head
    if report.get("trace_error"):
        chart = f'<p class="empty">Leg angle not available: {escape(report["trace_error"])}</p>'
    else:
        chart = trace_chart(trace.get("t_s", []), trace.get("leg_angle_deg", []), marks,
                            "leg angle over the session, one line per counted rep")
    labels = [f'set {r["set_index"]} · rep {r["rep_in_set"]}' for r in reps]
    groups, first = [], 0
    for i in range(1, len(reps) + 1):
        if i == len(reps) or reps[i]["set_index"] != reps[first]["set_index"]:
            groups.append((f'set {reps[first]["set_index"]} · {reps[first].get("side") or ""}', first, i))
            first = i
    hl = height_label(placement)
    per_rep = bar_chart(labels, [("hinge depth", "depth", [r["hinge_depth_deg"] for r in reps]),
                                 (hl, "height", [height_value(placement, r["march_height_deg"]) for r in reps])],
                        "°", f"hinge depth and {hl} of every rep, by set", groups)
    sway = [(s, s.get("sway_deg")) for s in sets]
    if any(isinstance(v, (int, float)) for _, v in sway):
        series = [("sway, RMS tilt", "sway", [v for _, v in sway])]
        second = [_second_rms_deg(s) for s, _ in sway]
        if any(v is not None for v in second):   # the optional second sensor, on the standing leg
            series.append(("second sensor", "second", second))
        sway_html = bar_chart([f'set {s.get("set_index")} · {s.get("side") or ""}' for s, _ in sway], series,
                              "°", "sway per set")
    else:
        sway_html = '<p class="empty">No sway was measured in this session.</p>'
    deleted = {tuple(x) for x in report.get("deleted_reps", [])}
    rows = [[f'set {r["set_index"]} · rep {r["rep_in_set"]}', escape(str(r.get("side") or "")),
             clock(start, r.get("completed_s")), _f(r["hinge_depth_deg"]),
             _f(height_value(placement, r["march_height_deg"])), _f(r["duration_s"], 2), _f(r.get("sway_deg"), 2),
             f'<button type="button" class="small" data-edit=\'{{"kind":"delete_rep","set_index":{int(r["set_index"])},'
             f'"rep_in_set":{int(r["rep_in_set"])}}}\' aria-label="delete set {r["set_index"]} rep {r["rep_in_set"]}">'
             f"delete</button>"] for r in reps]
    reps_html = _table(["rep", "side", "at", "depth °", f"{hl.split()[-1]} °", "tempo s", "sway °", ""], rows, "reps",
                       optional=(1, 2))
    if deleted:
        reps_html += f'<p class="sub">{len(deleted)} rep(s) deleted by an edit (undo below).</p>'
    starred = ('<p class="sub">* edited by hand; the raw files keep what was counted live.</p>'
               if any(s.get("edited") for s in sets) else "")
    body = (f'{head}<h2>Left and right</h2>{compare_table(report.get("sides") or {}, placement)}'
            f'<h2>Sets</h2>{sets_table(sets, start, placement)}{starred}'
            f"{_notes(report.get('notes') or [])}"
            f"<h2>Leg angle</h2>{chart}<h2>Depth and {escape(hl)} per rep</h2>{per_rep}"
            f"<h2>Sway per set</h2>{sway_html}<h2>Reps</h2>{reps_html}{_edit_forms(sets, report)}")
    return page(f"Session {sid}", f'<div id="report" data-session="{escape(sid)}">{body}</div>',
                asset_version, "report.js")


def _notes(notes: list[dict]) -> str:
    items = "".join(f'<li>{escape(n["text"])} <small>{when(n.get("at_utc"))}</small></li>' for n in notes)
    return f'<h2>Notes</h2><ul class="notes">{items}</ul>' if notes else ""


def _edit_forms(sets: list[dict], report: dict) -> str:
    """The edit controls (report.js sends them as JSON to /api/sessions/<id>/edits)."""
    options = "".join(f'<option value="{s["set_index"]}">set {s["set_index"]} ({s.get("reps")} reps)</option>'
                      for s in sets)
    live = [e for e in report.get("edits", []) if not e.get("undone_utc")]
    undo = (f'<button type="button" data-undo>Undo the last edit ({escape(_edit_text(live[-1]))})</button>'
            if live else '<span class="sub">No edits yet.</span>')
    count = (f'<form class="edit" data-kind="set_count"><label>Fix a count <select name="set_index">{options}'
             f'</select></label> <label>to <input name="reps" type="number" min="0" max="1000" inputmode="numeric" '
             f'required></label> <button>Save</button></form>') if sets else ""
    remove = ("" if report.get("deleted") else
              '<details class="danger"><summary>Delete this session…</summary><p>It is hidden from the list '
              'and the history; the files stay and the deletion can be undone.</p><button type="button" '
              'data-edit=\'{"kind":"delete_session","confirm":"delete"}\'>Yes, delete this session</button></details>')
    return (f'<h2>Edit</h2><p id="edit-msg" role="status"></p>{count}'
            f'<form class="edit" data-kind="note"><label>Add a note <textarea name="text" rows="2" '
            f'maxlength="2000" required></textarea></label><button>Add note</button></form>'
            f"<p>{undo}</p>{remove}")


def _edit_text(e: dict) -> str:
    k = e.get("kind")
    if k == "set_count":
        return f'set {e["set_index"]} count {e["reps"]}'
    if k == "delete_rep":
        return f'set {e["set_index"]} rep {e["rep_in_set"]} deleted'
    if k == "note":
        return "note"
    return "session deleted"


def _second_rms_deg(s: dict):
    """The second sensor's RMS sway of a set: the mean of its ML and AP RMS (deg), None if not recorded."""
    ml, ap = s.get("second_rms_ml_deg"), s.get("second_rms_ap_deg")
    return round((ml + ap) / 2, 3) if isinstance(ml, (int, float)) and isinstance(ap, (int, float)) else None


def history_index_page(rows: list[dict], asset_version: str) -> str:
    if not rows:
        return page("History", "<h1>History</h1><p>No session recorded yet.</p>", asset_version)
    items = "".join(f'<li class="card"><a class="title" href="/history/{quote(r["athlete"])}">'
                    f'{escape(r["athlete"] or "(no name)")}</a><span class="figs"><b>{r["sessions"]}</b> '
                    f'session(s), the last {when(r.get("last_utc"))}</span></li>' for r in rows)
    return page("History", f'<h1>History</h1><ul class="sessions">{items}</ul>', asset_version)


def history_page(hist: dict, asset_version: str) -> str:
    """Each side's figures per session over time, charts and a table, and the sway baseline."""
    rows = hist["sessions"]
    labels = [when(r["start_utc"])[5:16] for r in rows]           # "11-25 10:30"
    placements = {r.get("placement") for r in rows}
    hl = height_label(placements.pop()) if len(placements) == 1 else "march height"

    def per_side(key, fix=lambda r, v: v):
        return [(side, side, [fix(r, (r["sides"].get(side) or {}).get(key)) for r in rows]) for side in SIDES]

    def height(r, v):
        return height_value(r.get("placement"), v)

    charts = (f'<h2>Reps per session</h2>{line_chart(labels, per_side("reps"), "reps", "reps per session, each side")}'
              f'<h2>Hinge depth</h2>{line_chart(labels, per_side("mean_hinge_depth_deg"), "°", "mean hinge depth")}'
              f'<h2>{escape(hl.capitalize())}</h2>{line_chart(labels, per_side("mean_march_height_deg", height), "°", "mean " + hl)}'
              f'<h2>Sway</h2>{line_chart(labels, per_side("mean_sway_deg"), "° RMS tilt", "mean set sway")}')
    base = hist.get("sway_baseline")
    base_html = (f'<p>Typical set sway: <b>{base["typical_deg"]:.2f}°</b> ± {base["spread_deg"]:.2f}° '
                 f'(from {base["sets"]} sets in {base["sessions"]} sessions); the live page compares each set with it.</p>'
                 if base else '<p class="sub">No sway baseline yet: it needs a few sessions with sway.</p>')
    table = []
    for r in reversed(rows):
        for side, fig in r["sides"].items():
            table.append([f'<a href="/sessions/{quote(r["session_id"])}">{when(r["start_utc"])}</a>'
                          + (' <span class="edited">*</span>' if r.get("edited") else ""), escape(side),
                          str(fig["reps"]), _f(fig.get("mean_hinge_depth_deg")),
                          _f(height_value(r.get("placement"), fig.get("mean_march_height_deg"))),
                          _f(fig.get("mean_duration_s"), 2), _f(fig.get("mean_sway_deg"), 2)])
    head = ["session", "side", "reps", "depth °", f"{hl.split()[-1]} °", "tempo s", "sway °"]
    body = (f'<h1>{escape(hist["athlete"] or "(no name)")}</h1><p class="figs"><b>{len(rows)}</b> session(s), '
            f"{when(rows[0]['start_utc'])} to {when(rows[-1]['start_utc'])}</p>{base_html}{charts}"
            f"<h2>Sessions</h2>{_table(head, table, 'history')}"
            '<p class="sub">* edited by hand. Deleted sessions are left out.</p>')
    return page(f'History of {hist["athlete"]}', body, asset_version)
