"""A session folder read back: its files' names, the counted reps, the sets' rows, the summary.

Every reader of reps.csv, sets.csv and summary.json goes through here (the samples files through
:mod:`firmware_bridge.store.samples`). Folders may be unfinished or cut short by a crash: only
regular files are read (``lstat``), a last CSV row without its newline is dropped, and a file that
is absent or unreadable reads as empty (None for the summary). Columns are read by name, so older
files without the newer columns read alike. See docs/session-format.md.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from analysis.sides import per_side
from firmware_bridge.store.samples import is_regular_file, read_samples

SAMPLES, SECOND, REPS, SETS, SUMMARY = "samples.csv", "second.csv", "reps.csv", "sets.csv", "summary.json"


def samples_file(path: str | Path) -> Path:
    """The samples file of ``path``: a session folder's samples.csv, or ``path`` itself."""
    p = Path(path)
    return p / SAMPLES if p.is_dir() else p


def second_file(path: str | Path) -> Path:
    """The second sensor's samples beside ``path`` (a session folder or a file in it); it may not exist."""
    p = Path(path)
    return (p if p.is_dir() else p.parent) / SECOND


def read_rows(path: Path) -> list[dict]:
    """The rows of a session CSV (reps.csv, sets.csv) by column name; a last row cut short by a
    crash is dropped; [] when the file is absent, unreadable or not a regular file."""
    if not is_regular_file(path):
        return []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return list(csv.DictReader(io.StringIO(text[: text.rfind("\n") + 1])))


def read_reps(folder: Path) -> list[dict]:
    """Counted reps of a session (undone ones removed), tolerant of a last line cut by a crash."""
    rows = read_rows(folder / REPS)
    undone = {(r["set_index"], r["rep_in_set"]) for r in rows if r.get("status") == "undone"}
    return [r for r in rows if r.get("status") == "counted" and (r["set_index"], r["rep_in_set"]) not in undone]


def recorded_exercise(path: Path) -> str | None:
    """The exercise a recorded session counted (its first rep's, in reps.csv beside the samples);
    None when there is no such file or column (older sessions, no reps)."""
    p = Path(path)
    rows = read_rows((p if p.is_dir() else p.parent) / REPS)
    return (rows[0].get("exercise") or None) if rows else None


def read_sets(folder: Path) -> list[dict]:
    """The rows of sets.csv (a row per finished set, the set's sway in its later columns)."""
    return read_rows(folder / SETS)


def read_summary(folder: Path) -> dict | None:
    """summary.json of a finished session; None when it is absent or unreadable."""
    path = folder / SUMMARY
    if not is_regular_file(path):
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def rep_side(row: dict, default: str) -> str:
    """The side of a reps.csv or sets.csv row; ``default`` (the session's starting side, from the
    samples header) for files written before the ``side`` column."""
    return row.get("side") or default


def group_sets(reps: list[dict], set_rows: list[dict], side: str = "") -> list[dict]:
    """The sets of a session grouped from its counted reps (rows of reps.csv), in order, each with
    its side (that of its first rep; ``side`` for older files without the column) and the headline
    sway and foot taps of sets.csv where it was measured (older files: no such columns)."""
    grouped: dict[int, list[dict]] = {}
    for r in reps:
        grouped.setdefault(int(r["set_index"]), []).append(r)
    sway = {r["set_index"]: r for r in set_rows}
    sets = []
    for i, rs in sorted(grouped.items()):
        depth = [float(r["hinge_depth_deg"]) for r in rs]
        height = [float(r["march_height_deg"]) for r in rs]
        tempo = [float(r["duration_s"]) for r in rs]
        rom = [float(r["rom_deg"]) for r in rs if r.get("rom_deg")]     # older files: no such column
        sets.append({"set_index": i, "side": rep_side(rs[0], side), "start_s": float(rs[0]["start_s"]),
                     "end_s": float(rs[-1]["completed_s"]), "reps": len(rs),
                     "rep_times_s": [float(r["completed_s"]) for r in rs],
                     "mean_hinge_depth_deg": round(sum(depth) / len(depth), 1),
                     "mean_march_height_deg": round(sum(height) / len(height), 1),
                     "mean_duration_s": round(sum(tempo) / len(tempo), 2),
                     "exercise": rs[0].get("exercise") or "hinge_march",   # older files: no such column
                     "mean_rom_deg": round(sum(rom) / len(rom), 1) if rom else None})
        row = sway.get(str(i), {})
        if row.get("sway_deg"):
            sets[-1].update(sway_deg=float(row["sway_deg"]), foot_taps=int(row.get("foot_taps") or 0))
    return sets


def summarize(folder: Path) -> dict:
    """The session summary, computed from its files (sets grouped from the reps), with the figures
    per side (``sides``; ``side`` is the side the session started on)."""
    reps = read_reps(folder)
    meta, block, _ = read_samples(folder / SAMPLES, skip_bad_rows=True)
    set_list = group_sets(reps, read_sets(folder), meta.side)
    return {"session_id": meta.session_id or folder.name, "start_utc": meta.start_utc,
            "athlete": meta.athlete, "side": meta.side, "placement": meta.placement, "sensor": meta.sensor,
            "duration_s": round(float(block.t_s[-1]), 3) if len(block) else 0.0,
            "samples": len(block), "sets": set_list, "sides": per_side(set_list),
            "totals": {"sets": len(set_list), "reps": len(reps)}}
