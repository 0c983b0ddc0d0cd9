"""Exports of sessions as edited: a FIT strength-training activity (Garmin Connect, Strava) and a
CSV with one row per set across an athlete's sessions (a therapist's spreadsheet).

FIT (Garmin's Flexible and Interoperable Data Transfer protocol, docs/session-format.md): a 14-byte
header, definition and data messages (little endian), and a CRC-16 over the whole file. The activity
is file_id, a timer start event, one ``set`` message per set (its reps, start and duration; a rest
``set`` between sets), a timer stop, one lap, one session (sport training, sub-sport strength
training) and the activity. Encoded here (a few fixed messages need no library on the Pi); the tests
decode it with Garmin's own FIT SDK (``garmin-fit-sdk``), which checks the CRCs.
"""
from __future__ import annotations

import csv
import io
import struct
from datetime import datetime

from analysis.errors import DataError

FIT_EPOCH_UNIX_S = 631065600          # 1989-12-31T00:00:00Z, FIT's time zero
PROFILE_VERSION = 2132                # FIT profile 21.32: the messages used here are all older
# base types: (number, struct format, invalid value)
ENUM, UINT8, UINT16, UINT32, UINT32Z = (0x00, "B", 0xFF), (0x02, "B", 0xFF), (0x84, "H", 0xFFFF), \
    (0x86, "I", 0xFFFFFFFF), (0x8C, "I", 0)
# global message numbers and the fields written: (field number, base type)
FILE_ID = 0, ((0, ENUM), (1, UINT16), (2, UINT16), (3, UINT32Z), (4, UINT32))     # type, manufacturer, product, serial, time_created
EVENT = 21, ((253, UINT32), (0, ENUM), (1, ENUM))                                 # timestamp, event, event_type
# set: timestamp (254 in this message), duration (ms), repetitions, set_type, start_time, message_index
SET = 225, ((254, UINT32), (0, UINT32), (3, UINT16), (5, UINT8), (6, UINT32), (10, UINT16))
LAP = 19, ((253, UINT32), (254, UINT16), (0, ENUM), (1, ENUM), (2, UINT32), (7, UINT32), (8, UINT32))
SESSION = 18, ((253, UINT32), (254, UINT16), (0, ENUM), (1, ENUM), (2, UINT32), (5, ENUM), (6, ENUM),
               (7, UINT32), (8, UINT32), (25, UINT16), (26, UINT16))
ACTIVITY = 34, ((253, UINT32), (0, UINT32), (1, UINT16), (2, ENUM), (3, ENUM), (4, ENUM), (5, UINT32))
FILE_ACTIVITY, MANUFACTURER_DEVELOPMENT = 4, 255
EV_TIMER, EV_SESSION, EV_LAP, EV_ACTIVITY = 0, 8, 9, 26
START, STOP, STOP_ALL = 0, 1, 4
SPORT_TRAINING, SUB_SPORT_STRENGTH = 10, 20
SET_REST, SET_ACTIVE = 0, 1
_CRC_TABLE = (0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401,
              0xA001, 0x6C00, 0x7800, 0xB401, 0x5000, 0x9C01, 0x8801, 0x4400)


def fit_crc(data: bytes, crc: int = 0) -> int:
    """FIT's CRC-16 (the SDK's nibble table; CRC-16/ARC)."""
    for byte in data:
        for nibble in (byte & 0x0F, byte >> 4):
            tmp = _CRC_TABLE[crc & 0x0F]
            crc = ((crc >> 4) & 0x0FFF) ^ tmp ^ _CRC_TABLE[nibble]
    return crc


def _fit_time(start: datetime, offset_s: float = 0.0) -> int:
    return int(round(start.timestamp() + offset_s)) - FIT_EPOCH_UNIX_S


class _Writer:
    """Records of one FIT file: each message kind gets a local number and its definition once."""

    def __init__(self):
        self.out = bytearray()
        self.local: dict[int, int] = {}

    def write(self, message: tuple, *values) -> None:
        number, fields = message
        if number not in self.local:
            local = self.local[number] = len(self.local)
            self.out += struct.pack("<BBBHB", 0x40 | local, 0, 0, number, len(fields))
            for num, (base, fmt, _) in fields:
                self.out += struct.pack("<BBB", num, struct.calcsize(fmt), base)
        self.out.append(self.local[number])
        for (_, (_, fmt, invalid)), v in zip(fields, values, strict=True):
            self.out += struct.pack("<" + fmt, invalid if v is None else v)

    def file(self) -> bytes:
        head = struct.pack("<BBHI4s", 14, 0x20, PROFILE_VERSION, len(self.out), b".FIT")
        head += struct.pack("<H", fit_crc(head))
        body = head + bytes(self.out)
        return body + struct.pack("<H", fit_crc(body))


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
    t0, t1, total_ms = _fit_time(start), _fit_time(start, end_s), int(round(end_s * 1000))
    w = _Writer()
    w.write(FILE_ID, FILE_ACTIVITY, MANUFACTURER_DEVELOPMENT, 1, 1, t0)
    w.write(EVENT, t0, EV_TIMER, START)
    index, last_end = 0, 0.0
    for s in sets:
        if s["start_s"] > last_end + 1.0:          # the rest before this set
            w.write(SET, _fit_time(start, s["start_s"]), int(round((s["start_s"] - last_end) * 1000)), None,
                    SET_REST, _fit_time(start, last_end), index)
            index += 1
        w.write(SET, _fit_time(start, s["end_s"]), int(round((s["end_s"] - s["start_s"]) * 1000)), int(s["reps"]),
                SET_ACTIVE, _fit_time(start, s["start_s"]), index)
        index, last_end = index + 1, s["end_s"]
    w.write(EVENT, t1, EV_TIMER, STOP_ALL)
    w.write(LAP, t1, 0, EV_LAP, STOP, t0, total_ms, total_ms)
    w.write(SESSION, t1, 0, EV_SESSION, STOP, t0, SPORT_TRAINING, SUB_SPORT_STRENGTH, total_ms, total_ms, 0, 1)
    local = start.astimezone()
    offset_s = int(local.utcoffset().total_seconds()) if local.utcoffset() else 0
    w.write(ACTIVITY, t1, total_ms, 1, 0, EV_ACTIVITY, STOP, t1 + offset_s)
    return w.file()


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
