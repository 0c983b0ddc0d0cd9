"""Exports of sessions as edited: a FIT strength-training activity (Garmin Connect, Strava) and a
CSV with one row per set across an athlete's sessions (a therapist's spreadsheet).

FIT (Garmin's Flexible and Interoperable Data Transfer protocol, docs/session-format.md), written
with Garmin's own FIT SDK (``garmin-fit-sdk``: its encoder, profile and CRCs). The activity is
file_id, a timer start event, one ``set`` message per set (its reps, start and duration; a rest
``set`` between sets), a timer stop, one lap, one session (sport training, sub-sport strength
training) and the activity.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime

from garmin_fit_sdk import Encoder, Profile

from analysis.errors import DataError

FIT_EPOCH_UNIX_S = 631065600          # 1989-12-31T00:00:00Z, FIT's time zero
MESG = Profile["mesg_num"]


def _fit_time(start: datetime, offset_s: float = 0.0) -> int:
    return int(round(start.timestamp() + offset_s)) - FIT_EPOCH_UNIX_S


def fit_activity(view: dict) -> bytes:
    """A session as edited (store.view.session_view) as a FIT strength-training activity: each set
    with its reps, start and duration, the activity as long as the session."""
    try:
        start = datetime.fromisoformat(str(view.get("start_utc")).replace("Z", "+00:00"))
    except ValueError:
        raise DataError("the session has no start time (start_utc): it cannot be exported as FIT") from None
    if start.tzinfo is None:
        raise DataError("the session's start time has no time zone: it cannot be exported as FIT")
    sets = [s for s in view["sets"] if s.get("reps")]
    end_s = max([float(view.get("duration_s") or 0.0)] + [s["end_s"] for s in sets])
    t0, t1 = _fit_time(start), _fit_time(start, end_s)
    fit = Encoder()
    fit.on_mesg(MESG["FILE_ID"], {"type": "activity", "manufacturer": "development", "product": 1,
                                  "serial_number": 1, "time_created": t0})
    fit.on_mesg(MESG["EVENT"], {"timestamp": t0, "event": "timer", "event_type": "start"})
    index, last_end = 0, 0.0
    for s in sets:
        if s["start_s"] > last_end + 1.0:          # the rest before this set
            fit.on_mesg(MESG["SET"], {"timestamp": _fit_time(start, s["start_s"]), "duration": s["start_s"] - last_end,
                                      "set_type": "rest", "start_time": _fit_time(start, last_end),
                                      "message_index": index})
            index += 1
        fit.on_mesg(MESG["SET"], {"timestamp": _fit_time(start, s["end_s"]), "duration": s["end_s"] - s["start_s"],
                                  "repetitions": int(s["reps"]), "set_type": "active",
                                  "start_time": _fit_time(start, s["start_s"]), "message_index": index})
        index, last_end = index + 1, s["end_s"]
    fit.on_mesg(MESG["EVENT"], {"timestamp": t1, "event": "timer", "event_type": "stop_all"})
    times = {"start_time": t0, "total_elapsed_time": end_s, "total_timer_time": end_s}
    fit.on_mesg(MESG["LAP"], {"timestamp": t1, "message_index": 0, "event": "lap", "event_type": "stop", **times})
    fit.on_mesg(MESG["SESSION"], {"timestamp": t1, "message_index": 0, "event": "session", "event_type": "stop",
                                  "sport": "training", "sub_sport": "strength_training", "first_lap_index": 0,
                                  "num_laps": 1, **times})
    local = start.astimezone()
    offset_s = int(local.utcoffset().total_seconds()) if local.utcoffset() else 0
    fit.on_mesg(MESG["ACTIVITY"], {"timestamp": t1, "total_timer_time": end_s, "num_sessions": 1, "type": "manual",
                                   "event": "activity", "event_type": "stop", "local_timestamp": t1 + offset_s})
    return fit.close()


SET_CSV_COLUMNS = ("session_id", "start_local", "athlete", "placement", "set_index", "side", "reps", "reps_counted",
                   "edited", "set_start_s", "set_end_s", "mean_hinge_depth_deg", "mean_march_height_deg",
                   "mean_duration_s", "sway_deg", "notes")


def sets_csv(sessions: list[tuple[str, dict]]) -> str:
    """One row per set of each (session id, view), in the order given: the sets as edited (``edited``
    1 where a count was fixed or a rep deleted, ``reps_counted`` what was counted live), the local
    start time of the session, and its notes."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(SET_CSV_COLUMNS)
    for sid, view in sessions:
        try:
            local = datetime.fromisoformat(str(view.get("start_utc")).replace("Z", "+00:00")).astimezone()
            when = local.isoformat(timespec="minutes")
        except ValueError:
            when = ""
        notes = " | ".join(n["text"] for n in view.get("notes", []))
        for s in view["sets"]:
            out.writerow([sid, when, view.get("athlete") or "", view.get("placement") or "", s["set_index"],
                          s.get("side") or "", s["reps"], s.get("reps_counted", s["reps"]), int(bool(s.get("edited"))),
                          s.get("start_s"), s.get("end_s"), s.get("mean_hinge_depth_deg"),
                          s.get("mean_march_height_deg"), s.get("mean_duration_s"),
                          "" if s.get("sway_deg") is None else s["sway_deg"], notes])
    return buf.getvalue()
