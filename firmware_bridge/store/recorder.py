"""The session folder written: raw samples, reps, sets and a summary, off the counting loop.

One folder per session under the sessions directory, named by its UTC start (``20261125T093000Z``):
``samples.csv`` (format v1), ``reps.csv`` and ``sets.csv`` (a row per event), and ``summary.json``
written last (atomically). A folder without ``summary.json`` is an unfinished session:
``recover_unfinished`` closes it from its files on the next start. See docs/session-format.md.

The counting loop only queues: a writer thread appends whole lines (a failed write is cut back, so
no file ever holds a partial line) and fsyncs every ``fsync_s``. A stalled disk (a write taking over
``stall_s``) or a failing one (full, gone) shows in ``problems`` while counting goes on; reps and sets
wait in memory (a few KB) and are written when storage returns; samples beyond ``max_queued_samples``
are dropped, which leaves a jump in ``t_s`` (a gap, as the format defines it).
"""
from __future__ import annotations

import csv
import io
import json
import os
import threading
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path

from analysis.errors import HingemarchError
from analysis.events import Event, RepEvent, SetEvent
from firmware_bridge.store.folder import REPS, SAMPLES, SECOND, SETS, SUMMARY, summarize
from firmware_bridge.store.samples import SessionMeta, format_rows, header_text
from imu.samples import SampleBlock

REP_COLUMNS = ("set_index", "rep_in_set", "completed_s", "event_s", "start_s", "duration_s",
               "hinge_depth_deg", "march_height_deg", "rule", "status", "sway_deg", "sway_dps",
               "side")   # columns are only ever added at the end
SET_COLUMNS = ("set_index", "start_s", "end_s", "reps", "mean_hinge_depth_deg",
               "mean_march_height_deg", "mean_duration_s", "rep_times_s",
               # balance sway (docs/sway.md); columns are only ever added at the end
               "sway_deg", "sway_dps", "foot_taps", "foot_tap_s", "frontal_range_deg",
               "frontal_mean_velocity_dps", "frontal_f50_hz", "frontal_masked_s", "hold_s",
               "hold_rms_ml_deg", "hold_rms_ap_deg", "hold_mean_velocity_dps", "hold_ellipse_area_95_deg2")
# the optional second sensor's sway during the set (docs/sway.md), as second_<measure>
SECOND_SET_KEYS = ("rms_ml_deg", "rms_ap_deg", "mean_velocity_dps", "ellipse_area_95_deg2")
SET_COLUMNS += tuple(f"second_{k}" for k in SECOND_SET_KEYS) + ("side",)
# which exercise was counted (docs/exercises.md) and its range of motion
REP_COLUMNS += ("exercise", "rom_deg")
SET_COLUMNS += ("exercise", "mean_rom_deg")


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


def rep_row(rep: RepEvent, side: str, status: str = "counted") -> list:
    """A row of reps.csv: the rep on ``side`` (its set's side)."""
    return [rep.set_index, rep.rep_in_set, rep.completed_s, rep.t_s, rep.start_s, rep.duration_s,
            rep.hinge_depth_deg, rep.march_height_deg, rep.evidence.get("rule", ""), status,
            _cell(rep.sway_deg), _cell(rep.sway_dps), side, rep.exercise, rep.rom_deg]


def set_row(s: SetEvent, side: str) -> list:
    """A row of sets.csv: the set done on ``side``."""
    frontal, held = s.sway.get("frontal", {}), s.sway.get("holds", {})
    sway = [s.sway_deg, s.sway_dps, s.foot_taps, " ".join(f"{x:.3f}" for x in s.foot_tap_s),
            frontal.get("range_deg"), frontal.get("mean_velocity_dps"), frontal.get("f50_hz"),
            frontal.get("masked_s"), held.get("total_s"), held.get("rms_ml_deg"), held.get("rms_ap_deg"),
            held.get("mean_velocity_dps"), held.get("ellipse_area_95_deg2")]
    second = s.sway.get("second") or {}
    sway += [second.get(k) for k in SECOND_SET_KEYS]
    return [s.set_index, s.start_s, s.end_s, s.reps, s.mean_hinge_depth_deg, s.mean_march_height_deg,
            s.mean_duration_s, " ".join(f"{x:.3f}" for x in s.rep_times_s)] + [_cell(x) for x in sway] \
        + [side, s.exercise, s.mean_rom_deg]


def csv_line(values) -> str:
    """One CSV row as text, with its newline."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


class _Lines:
    """A file appended whole lines at a time through its descriptor (no buffer of our own): a write
    that fails (disk full) is cut back to the last whole line, so the file never holds a partial
    line and a later write continues it cleanly."""

    def __init__(self, path: Path, head: str):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)   # in a folder of our own
        self.size = 0
        try:
            self.append(head)
        except OSError:
            os.close(self._fd)
            raise

    def append(self, text: str) -> None:
        data = text.encode("utf-8")
        left = memoryview(data)
        try:
            while left:
                left = left[os.write(self._fd, left):]
        except OSError:
            os.ftruncate(self._fd, self.size)
            os.lseek(self._fd, self.size, os.SEEK_SET)
            raise
        self.size += len(data)

    def sync(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


class SessionRecorder:
    """Writes one session folder as samples and events arrive; ``samples``, ``event`` and ``undo``
    only queue (they never block on the disk), a writer thread does the writing, the folder's
    creation included: the constructor waits ``open_wait_s`` at most, so a disk that stalls just as
    a session starts holds up nothing (the rows wait in memory); one that refuses at once (read-only,
    no permission) raises RecorderError.

    ``before_write(path)``, if set (here or later), runs in the writer thread before creating the
    folder and before each write: a seam for tests to stall a write (block on an Event) or fail it
    (raise ``OSError(ENOSPC)``)."""

    def __init__(self, sessions_dir: str | os.PathLike, meta: SessionMeta, fsync_s: float = 10.0,
                 second_meta: SessionMeta | None = None, *, flush_s: float = 0.5, stall_s: float = 1.0,
                 retry_s: float = 1.0, close_wait_s: float = 5.0, max_queued_samples: int = 60_000,
                 open_wait_s: float = 0.2, before_write=None):
        start = _utc_now()
        self.meta = meta
        self.meta.start_utc = meta.start_utc or _iso(start)
        self.session_id = meta.session_id or start.strftime("%Y%m%dT%H%M%SZ")
        self.meta.session_id = self.session_id
        self._root = Path(sessions_dir)
        self.folder = self._root / self.session_id
        self._heads = {SAMPLES: header_text(meta), REPS: csv_line(REP_COLUMNS), SETS: csv_line(SET_COLUMNS)}
        if second_meta is not None:   # the optional second sensor's samples
            second_meta.start_utc, second_meta.session_id = self.meta.start_utc, self.session_id
            self._heads[SECOND] = header_text(second_meta)
        self._files: dict[str, _Lines] = {}
        self._made = False                 # the folder exists (files may still be missing)
        self._abandoned = False            # it was refused at once: the constructor raised
        self._opened = threading.Event()   # the first try to create the folder has finished
        self.before_write = before_write
        self._fsync_s, self._flush_s, self._stall_s, self._retry_s = fsync_s, flush_s, stall_s, retry_s
        self._close_wait_s, self._max_queued = close_wait_s, max_queued_samples
        self._cond = threading.Condition()
        self._blocks: deque[tuple[str, SampleBlock]] = deque()   # samples waiting, by file
        self._queued = 0
        self._rows: deque[tuple[str, str]] = deque()   # rep and set rows waiting: never dropped
        self.dropped_samples = 0
        self._dropping = False        # the queue was full: samples are being dropped
        self._error: str | None = None      # the last write's failure, until one succeeds
        self._rows_failed = False           # ... and rep/set rows are waiting for it
        self._busy_since: float | None = None
        self._closing = False
        self._done = threading.Event()
        self._summary: dict | None = None
        self.closed = False
        self._thread = threading.Thread(target=self._run, name=f"recorder-{self.folder.name}", daemon=True)
        self._thread.start()
        if self._opened.wait(open_wait_s) and self._error is not None and not self._made:
            with self._cond:
                self.closed = self._abandoned = True      # refused at once: the thread gives up
                self._cond.notify()
            raise RecorderError(self._error)

    # --- the counting loop's side: queue only --------------------------------------------------------
    def samples(self, block: SampleBlock, second: bool = False) -> None:
        """Queue raw samples (of the second sensor: ``second``); dropped when the queue is full."""
        key = SECOND if second else SAMPLES
        if key not in self._heads or not len(block):
            return
        with self._cond:
            if self._queued + len(block) > self._max_queued:
                self.dropped_samples += len(block)
                self._dropping = True
                return
            self._blocks.append((key, block))
            self._queued += len(block)

    def event(self, ev: Event, side: str) -> None:
        """Queue a rep or a finished set done on ``side``, written at once."""
        if isinstance(ev, RepEvent):
            self._row(REPS, rep_row(ev, side))
        elif isinstance(ev, SetEvent):
            self._row(SETS, set_row(ev, side))

    def undo(self, rep: RepEvent, side: str) -> None:
        """Record that a rep was taken back (the row stays, marked undone)."""
        self._row(REPS, rep_row(rep, side, "undone"))

    def _row(self, key: str, values: list) -> None:
        with self._cond:
            self._rows.append((key, csv_line(values)))
            self._cond.notify()

    @property
    def problems(self) -> list[str]:
        """One line per storage problem now (stalled, failing, samples dropped); [] when all is well."""
        with self._cond:
            busy, error, dropping, rows_failed = self._busy_since, self._error, self._dropping, self._rows_failed
        lines = []
        if busy is not None and time.monotonic() - busy > self._stall_s:
            lines.append(f"storage stalled: a write in {self.folder} is taking over {self._stall_s:g} s; "
                         "counting goes on, reps and sets are written when it returns")
        if error:
            kept = ("reps and sets are kept and written when storage returns" if rows_failed
                    else "samples are dropped (a gap in samples.csv)")
            lines.append(f"cannot write session files in {self.folder}: {error}; {kept}")
        if dropping:
            lines.append("samples dropped: the session files' writes fell behind (a gap in samples.csv)")
        return lines

    def close(self) -> dict:
        """Finish the files and write summary.json; waits up to ``close_wait_s`` for the writer.
        If storage has not returned by then, RecorderError says so and the writer finishes the
        folder later (or the next start closes it from its files). Safe to call twice."""
        if not self.closed:
            self.closed = True
            with self._cond:
                self._closing = True
                self._cond.notify()
        if not self._done.wait(self._close_wait_s) or self._summary is None:
            reason = self.problems[0] if self.problems else "storage is not answering"
            raise RecorderError(f"session files in {self.folder} not finished yet ({reason})")
        return self._summary

    # --- the writer thread ----------------------------------------------------------------------
    def _write(self, key: str, text: str) -> None:
        f = self._files[key]
        if self.before_write is not None:
            self.before_write(f.path)
        f.append(text)

    def _open(self) -> bool:
        """Create the folder and its files with their headers; False (the reason in ``problems``)
        until it succeeds."""
        with self._cond:
            self._busy_since = time.monotonic()
        error = None
        try:
            if self.before_write is not None:
                self.before_write(self.folder)
            if not self._made:
                self._root.mkdir(parents=True, exist_ok=True)
                n = 1
                while self.folder.exists():          # two sessions in one second
                    n += 1
                    self.folder = self._root / f"{self.session_id}-{n}"
                self.folder.mkdir()
                self._made = True
            for name, head in self._heads.items():
                if name not in self._files:
                    self._files[name] = _Lines(self.folder / name, head)
        except OSError as e:
            error = _disk_error(self._root if not self._made else self.folder, e)
        with self._cond:
            self._busy_since = None
            self._error = str(error) if error else None
            self._rows_failed = error is not None and bool(self._rows)
        self._opened.set()
        return error is None

    def _run(self) -> None:
        """The writer thread: the folder first (retried every ``retry_s``), then every ``flush_s``
        (at once for a rep or set row) the queued samples, then the rows in order; fsync every
        ``fsync_s``; on closing, the files and summary.json. After a failure it retries every
        ``retry_s``."""
        while not self._open():
            with self._cond:
                if self._abandoned:
                    return
                self._cond.wait(self._retry_s)
        next_sync = time.monotonic() + self._fsync_s
        while True:
            with self._cond:
                if not (self._rows or self._closing) or self._error:
                    self._cond.wait(self._retry_s if self._error else self._flush_s)
                blocks = list(self._blocks)
                self._blocks.clear()
                self._queued = 0
                rows = list(self._rows)
                closing = self._closing
                self._busy_since = time.monotonic()
            failed, rows_failed = self._write_samples(blocks), False
            try:
                for key, line in rows:
                    self._write(key, line)
                    with self._cond:
                        self._rows.popleft()
                if time.monotonic() >= next_sync or closing:
                    for f in self._files.values():
                        f.sync()
                    next_sync = time.monotonic() + self._fsync_s
                if closing and not self._rows:
                    for f in self._files.values():
                        f.close()
                    extra = {"samples_dropped": self.dropped_samples} if self.dropped_samples else {}
                    self._summary = write_summary(self.folder, recovered=False, extra=extra)
            except (OSError, HingemarchError) as e:    # disk full, gone; a summary that cannot be read
                failed, rows_failed = e, bool(self._rows)
            with self._cond:
                self._busy_since, self._rows_failed = None, rows_failed
                self._error = (getattr(failed, "strerror", None) or str(failed)) if failed else None
                if not failed:
                    self._dropping = False
            if self._summary is not None:
                self._done.set()
                return

    def _write_samples(self, blocks: list[tuple[str, SampleBlock]]) -> OSError | None:
        """Write the queued samples, a file at a time; on failure they are dropped (a gap)."""
        by_file: dict[str, list[SampleBlock]] = {}
        for key, block in blocks:
            by_file.setdefault(key, []).append(block)
        failed = None
        for key, bs in by_file.items():
            try:
                self._write(key, "".join(format_rows(b) for b in bs))
            except OSError as e:
                with self._cond:
                    self.dropped_samples += sum(len(b) for b in bs)
                failed = e
        return failed


def write_summary(folder: Path, recovered: bool, extra: dict | None = None) -> dict:
    """Write summary.json atomically (temp file, fsync, rename); ``extra`` keys are added to it."""
    summary = summarize(folder)
    summary["closed_utc"] = _iso(_utc_now())
    summary["recovered_after_crash"] = recovered
    summary.update(extra or {})
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
