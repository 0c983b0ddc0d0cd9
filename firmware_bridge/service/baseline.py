"""The athlete's sway history from past session folders, for analysis.sway.baseline (docs/sway.md).

Reads each closed session's summary.json (whose athlete it was) and sets.csv (each set's sway_deg)
through :mod:`firmware_bridge.store`.
Sessions recorded before sway was measured have no such column and are skipped, as are sessions
deleted by an edit (store/edits.py) and folders a
crash left unreadable: the history is a best effort, never a reason to stop a session.
"""
from __future__ import annotations

import math
from pathlib import Path

from analysis.sway.baseline import MAX_SESSIONS, Baseline, sway_baseline
from firmware_bridge.store.edits import read_edits
from firmware_bridge.store.folder import read_sets, read_summary


def sway_history(sessions_dir: Path | None, athlete: str, exclude: str | None = None,
                 max_sessions: int = MAX_SESSIONS) -> list[list[float]]:
    """Per past session of ``athlete`` (oldest first, at most ``max_sessions``), its sets' sway_deg."""
    if sessions_dir is None or not Path(sessions_dir).is_dir():
        return []
    out: list[list[float]] = []
    for folder in sorted((p for p in Path(sessions_dir).iterdir() if p.is_dir()), reverse=True):
        if len(out) >= max_sessions:
            break
        if folder.name == exclude:
            continue
        summary = read_summary(folder)
        if summary is None or summary.get("athlete") != athlete or read_edits(folder).deleted:
            continue
        try:
            values = [float(r["sway_deg"]) for r in read_sets(folder) if r.get("sway_deg")]
        except ValueError:
            continue
        values = [x for x in values if math.isfinite(x) and x >= 0]
        if values:
            out.append(values)
    return out[::-1]


def athlete_baseline(sessions_dir: Path | None, athlete: str, exclude: str | None = None) -> Baseline | None:
    """The athlete's sway baseline from their past sessions, or None while there are too few."""
    return sway_baseline(sway_history(sessions_dir, athlete, exclude))
