"""A session as it reads after its edits: counted reps, sets, figures per side, notes.

What the report, the history and the exports show: the reps of reps.csv (undone and deleted ones
removed), grouped into sets (a count fixed by hand replaces the counted one, and the set is marked
``edited``), each set with its side and its sway from sets.csv, the figures per side and the totals.
"""
from __future__ import annotations

from pathlib import Path

from analysis.sides import per_side
from firmware_bridge.store.edits import EditError, add_edit, check_edit, read_edits
from firmware_bridge.store.folder import SAMPLES, group_sets, read_reps, read_sets, read_summary
from firmware_bridge.store.samples import head_meta, last_time_s

REP_KEYS = ("set_index", "rep_in_set", "completed_s", "start_s", "duration_s", "hinge_depth_deg",
            "march_height_deg", "sway_deg")


def number(x):
    """A CSV cell as a number (an int when written as one); None for an empty cell (not measured)."""
    if x is None or x == "":
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return x
    return int(v) if v.is_integer() and "." not in str(x) else v


def session_view(folder: Path) -> dict:
    """``{"reps", "sets", "sides", "totals", "notes", "edited", "deleted", "side", "placement",
    "start_utc", "duration_s", "athlete"}`` of one session folder, its edits applied."""
    summary = read_summary(folder) or {}
    meta = head_meta(folder / SAMPLES)
    start_side = summary.get("side") or meta.get("side") or ""
    edits = read_edits(folder)
    all_rows = read_reps(folder)
    rows = edits.kept_reps(all_rows)
    set_rows = read_sets(folder)
    counted = {s["set_index"]: s["reps"] for s in group_sets(all_rows, [], start_side)}
    sets = group_sets(rows, set_rows, start_side)
    by_index = {s["set_index"]: s for s in sets}
    for row in set_rows:
        s = by_index.get(number(row.get("set_index")))
        if s is not None:
            s.update({k: number(v) for k, v in row.items()
                      if k and k.startswith(("sway", "second_")) and k not in s})
    for s in sets:
        i = s["set_index"]
        fixed = edits.counts.get(i)
        if fixed is not None:
            s["reps_measured"] = s["reps"]
            s["reps"] = fixed
        if fixed is not None or s["reps"] != counted.get(i):
            s["edited"], s["reps_counted"] = True, counted.get(i)
    reps = [{**{k: number(r.get(k)) for k in REP_KEYS}, "side": r.get("side") or start_side} for r in rows]
    return {"start_utc": summary.get("start_utc") or meta.get("start_utc"), "athlete": summary.get("athlete") or meta.get("athlete"),
            "side": start_side, "placement": summary.get("placement") or meta.get("placement"),
            "duration_s": summary.get("duration_s") if summary else last_time_s(folder / SAMPLES),
            "reps": reps, "sets": sets, "sides": per_side(sets),
            "totals": {"sets": len(sets), "reps": sum(s["reps"] for s in sets)},
            "deleted_reps": sorted(edits.deleted_reps), "notes": list(edits.notes),
            "edited": edits.any, "deleted": edits.deleted, "edits": list(edits.log)}


def edit_session(folder: Path, body) -> dict:
    """Add an edit to a session after checking it names a set or rep the session has (EditError if not)."""
    edit = check_edit(body)
    view = session_view(folder)
    if edit["kind"] == "set_count" and edit["set_index"] not in {s["set_index"] for s in view["sets"]}:
        raise EditError(f"this session has no set {edit['set_index']}")
    if edit["kind"] == "delete_rep" and (edit["set_index"], edit["rep_in_set"]) not in {
            (r["set_index"], r["rep_in_set"]) for r in view["reps"]}:
        raise EditError(f"this session has no counted rep {edit['rep_in_set']} in set {edit['set_index']}")
    if edit["kind"] == "delete_session" and view["deleted"]:
        raise EditError("this session is deleted already")
    return add_edit(folder, body)


def athlete_views(root: Path, athlete: str) -> list[tuple[str, dict]]:
    """(session id, view) of every session folder right inside ``root`` whose athlete is ``athlete``,
    oldest first; deleted sessions are left out (real folders only: a symlink is not followed)."""
    out = []
    for folder in sorted(p for p in root.iterdir() if not p.is_symlink() and p.is_dir() and (p / SAMPLES).is_file()):
        view = session_view(folder)
        if not view["deleted"] and str(view["athlete"] or "") == athlete:
            out.append((folder.name, view))
    return out
