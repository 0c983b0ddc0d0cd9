"""An athlete's history from the session folders on disk: per session, each side's reps, depth,
height, tempo and sway (as edited; deleted sessions left out), oldest first, and the sway baseline
the live service compares each set with (analysis.sway.baseline, docs/sway.md)."""
from __future__ import annotations

from dataclasses import asdict

from analysis.errors import DataError
from analysis.sway.baseline import sway_baseline
from firmware_bridge.store.view import session_view
from firmware_bridge.web.sessions import NotFound, Sessions

MAX_SESSIONS = 500        # a page stays readable and quick


def _views(sessions: Sessions):
    """(session id, view) of every readable, not deleted session, newest first."""
    for sid in sessions.ids():
        try:
            view = session_view(sessions.folder(sid))
        except (NotFound, OSError):
            continue
        if not view["deleted"]:
            yield sid, view


def athletes(sessions: Sessions) -> list[dict]:
    """``[{"athlete", "sessions", "last_utc"}]``, by name."""
    seen: dict[str, dict] = {}
    for _, view in _views(sessions):
        name = str(view["athlete"] or "")
        row = seen.setdefault(name, {"athlete": name, "sessions": 0, "last_utc": view["start_utc"]})
        row["sessions"] += 1
    return [seen[k] for k in sorted(seen)]


def history(sessions: Sessions, athlete: str) -> dict:
    """``{"athlete", "sessions": [{"session_id", "start_utc", "placement", "totals", "sides",
    "edited"}], "sway_baseline"}``, oldest first; NotFound when the athlete has no session."""
    rows = []
    for sid, view in _views(sessions):
        if str(view["athlete"] or "") != athlete or len(rows) >= MAX_SESSIONS:
            continue
        rows.append({"session_id": sid, "start_utc": view["start_utc"], "placement": view["placement"],
                     "totals": view["totals"], "sides": view["sides"], "edited": view["edited"],
                     "set_sway_deg": [s.get("sway_deg") for s in view["sets"]]})
    if not rows:
        raise NotFound(f"no sessions of athlete {athlete[:60]!r}")
    rows.reverse()
    try:
        baseline = sway_baseline([r.pop("set_sway_deg") for r in rows])
    except DataError:
        baseline = None
    return {"athlete": athlete, "sessions": rows, "sway_baseline": asdict(baseline) if baseline else None}


def athlete_views(sessions: Sessions, athlete: str) -> list[tuple[str, dict]]:
    """(session id, view) of the athlete's sessions, oldest first (deleted ones left out)."""
    return [(sid, view) for sid, view in _views(sessions) if str(view["athlete"] or "") == athlete][::-1]
