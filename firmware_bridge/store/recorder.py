"""The session folder written: raw samples, reps, sets and a summary, so a crash loses at most a second.

One folder per session under the sessions directory, named by its UTC start (``20261125T093000Z``):
``samples.csv`` (format v1, appended, flushed every ``flush_s`` and fsynced every ``fsync_s``),
``reps.csv`` and ``sets.csv`` (a row per event, flushed at once), and ``summary.json`` written last
(atomically). A folder without ``summary.json`` is an unfinished session: ``recover_unfinished``
closes it from its files on the next start. See docs/session-format.md.
"""
from __future__ import annotations

import csv
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from analysis.errors import HingemarchError
from analysis.events import Event, RepEvent, SetEvent
from firmware_bridge.store.folder import REPS, SAMPLES, SECOND, SETS, SUMMARY, summarize
from firmware_bridge.store.samples import SamplesWriter, SessionMeta
from imu.samples import SampleBlock

REP_COLUMNS = ("set_index", "rep_in_set", "completed_s", "event_s", "start_s", "duration_s",
               "hinge_depth_deg", "march_height_deg", "rule", "status", "sway_deg", "sway_dps")
SET_COLUMNS = ("set_index", "start_s", "end_s", "reps", "mean_hinge_depth_deg",
               "mean_march_height_deg", "mean_duration_s", "rep_times_s",
               # balance sway (docs/sway.md); columns are only ever added at the end
               "sway_deg", "sway_dps", "foot_taps", "foot_tap_s", "frontal_range_deg",
               "frontal_mean_velocity_dps", "frontal_f50_hz", "frontal_masked_s", "hold_s",
               "hold_rms_ml_deg", "hold_rms_ap_deg", "hold_mean_velocity_dps", "hold_ellipse_area_95_deg2")
# the optional second sensor's sway during the set (docs/sway.md), as second_<measure>
SECOND_SET_KEYS = ("rms_ml_deg", "rms_ap_deg", "mean_velocity_dps", "ellipse_area_95_deg2")
SET_COLUMNS += tuple(f"second_{k}" for k in SECOND_SET_KEYS)


class RecorderError(HingemarchError, OSError):
    """The session folder cannot be written (disk full, no permission)."""


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _disk_error(path: Path, e: OSError) -> RecorderError:
    return RecorderError(f"cannot write session files in {path}: {e.strerror or e}")


def _cell(x) -> object:
    """A CSV cell: None (not measurable) is left empty."""
    return "" if x is None else x


def rep_row(rep: RepEvent, status: str = "counted") -> list:
    return [rep.set_index, rep.rep_in_set, rep.completed_s, rep.t_s, rep.start_s, rep.duration_s,
            rep.hinge_depth_deg, rep.march_height_deg, rep.evidence.get("rule", ""), status,
            _cell(rep.sway_deg), _cell(rep.sway_dps)]


def set_row(s: SetEvent) -> list:
    frontal, held = s.sway.get("frontal", {}), s.sway.get("holds", {})
    sway = [s.sway_deg, s.sway_dps, s.foot_taps, " ".join(f"{x:.3f}" for x in s.foot_tap_s),
            frontal.get("range_deg"), frontal.get("mean_velocity_dps"), frontal.get("f50_hz"),
            frontal.get("masked_s"), held.get("total_s"), held.get("rms_ml_deg"), held.get("rms_ap_deg"),
            held.get("mean_velocity_dps"), held.get("ellipse_area_95_deg2")]
    second = s.sway.get("second") or {}
    sway += [second.get(k) for k in SECOND_SET_KEYS]
    return [s.set_index, s.start_s, s.end_s, s.reps, s.mean_hinge_depth_deg, s.mean_march_height_deg,
            s.mean_duration_s, " ".join(f"{x:.3f}" for x in s.rep_times_s)] + [_cell(x) for x in sway]


class _CsvAppender:
    def __init__(self, path: Path, columns):
        self._f = open(path, "x", encoding="utf-8", newline="")
        self._w = csv.writer(self._f, lineterminator="\n")
        self._w.writerow(columns)
        self._f.flush()

    def row(self, values) -> None:
        self._w.writerow(values)
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()


class SessionRecorder:
    """Writes one session folder as samples and events arrive."""

    def __init__(self, sessions_dir: str | os.PathLike, meta: SessionMeta, flush_s: float = 1.0,
                 fsync_s: float = 10.0, clock=time.monotonic, second_meta: SessionMeta | None = None):
        start = _utc_now()
        self.meta = meta
        self.meta.start_utc = meta.start_utc or _iso(start)
        self.session_id = meta.session_id or start.strftime("%Y%m%dT%H%M%SZ")
        self.meta.session_id = self.session_id
        root = Path(sessions_dir)
        self.folder = root / self.session_id
        try:
            root.mkdir(parents=True, exist_ok=True)
            n = 1
            while self.folder.exists():          # two sessions in one second
                n += 1
                self.folder = root / f"{self.session_id}-{n}"
            self.folder.mkdir()
            self._samples = SamplesWriter(self.folder / SAMPLES, meta)
            self._second = None          # the optional second sensor's samples
            if second_meta is not None:
                second_meta.start_utc, second_meta.session_id = self.meta.start_utc, self.session_id
                self._second = SamplesWriter(self.folder / SECOND, second_meta)
            self._reps = _CsvAppender(self.folder / REPS, REP_COLUMNS)
            self._sets = _CsvAppender(self.folder / SETS, SET_COLUMNS)
        except OSError as e:
            raise _disk_error(root, e) from None
        self._clock = clock
        self._flush_s, self._fsync_s = flush_s, fsync_s
        self._last_flush = self._last_fsync = clock()
        self.closed = False

    def samples(self, block: SampleBlock, second: bool = False) -> None:
        """Append raw samples (of the second sensor: ``second``); flush each ``flush_s`` and fsync
        each ``fsync_s``."""
        try:
            (self._second if second else self._samples).write(block)
            now = self._clock()
            if now - self._last_flush >= self._flush_s:
                do_sync = now - self._last_fsync >= self._fsync_s
                for w in (self._samples, self._second):
                    if w is not None:
                        w.flush(fsync=do_sync)
                self._last_flush = now
                if do_sync:
                    self._last_fsync = now
        except OSError as e:
            raise _disk_error(self.folder, e) from None

    def event(self, ev: Event) -> None:
        """Record a rep or a finished set at once."""
        try:
            if isinstance(ev, RepEvent):
                self._reps.row(rep_row(ev))
            elif isinstance(ev, SetEvent):
                self._sets.row(set_row(ev))
        except OSError as e:
            raise _disk_error(self.folder, e) from None

    def undo(self, rep: RepEvent) -> None:
        """Record that a rep was taken back (the row stays, marked undone)."""
        try:
            self._reps.row(rep_row(rep, "undone"))
        except OSError as e:
            raise _disk_error(self.folder, e) from None

    def close(self) -> dict:
        """Flush everything and write summary.json; safe to call twice."""
        if self.closed:
            return summarize(self.folder)
        self.closed = True
        try:
            for f in (self._samples, self._second, self._reps, self._sets):
                if f is not None:
                    f.close()
            return write_summary(self.folder, recovered=False)
        except OSError as e:
            raise _disk_error(self.folder, e) from None


def write_summary(folder: Path, recovered: bool) -> dict:
    """Write summary.json atomically (temp file, fsync, rename)."""
    summary = summarize(folder)
    summary["closed_utc"] = _iso(_utc_now())
    summary["recovered_after_crash"] = recovered
    tmp = folder / f"{SUMMARY}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / SUMMARY)
    return summary


def recover_unfinished(sessions_dir: str | os.PathLike) -> list[Path]:
    """Close every session folder left without a summary (the service was killed)."""
    root = Path(sessions_dir)
    closed = []
    if not root.is_dir():
        return closed
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if (folder / SAMPLES).exists() and not (folder / SUMMARY).exists():
            try:
                write_summary(folder, recovered=True)
            except (OSError, HingemarchError):
                continue
            closed.append(folder)
    return closed
