"""Access to the session folders for the web page: names checked, nothing outside followed (edits
are written only through :mod:`firmware_bridge.store.edits`, the raw files never).

A session id or file name is one path component of letters, digits and ``_ . -`` (not starting with a
dot); folders and files are taken only as real directories and regular files (``lstat``: a symlink,
FIFO or device is as good as absent) whose resolved path is inside the sessions folder. Listing reads
``summary.json``, reps.csv, sets.csv and edits.json, and only the head and tail of ``samples.csv``, so
a long session being recorded never makes the list slow.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from analysis.errors import HingemarchError
from firmware_bridge.store.folder import SAMPLES, read_summary
from firmware_bridge.store.samples import last_time_s
from firmware_bridge.store.view import session_view

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
FILE_SUFFIXES = (".csv", ".json")


class NotFound(HingemarchError, LookupError):
    """No such session or file (or a name that could never be one)."""


class Sessions:
    """The sessions folder (it may not exist yet: no session was recorded)."""

    def __init__(self, root: Path | None):
        self.root = root

    def _root(self) -> Path:
        if self.root is None or not self.root.is_dir():
            raise NotFound("no sessions recorded yet")
        return self.root.resolve()

    def folder(self, session_id: str) -> Path:
        """The folder of ``session_id``; NotFound unless it is a real directory right inside the root."""
        root = self._root()
        path = root / _check_name(session_id, "session")
        if not _is(path, stat.S_ISDIR) or path.resolve().parent != root:
            raise NotFound(f"no session {session_id!r}")
        return path

    def file(self, session_id: str, name: str) -> Path:
        """A downloadable file of a session: a regular .csv/.json file, right inside its folder."""
        folder = self.folder(session_id)
        path = folder / _check_name(name, "file")
        if not _downloadable(path) or path.resolve().parent != folder:
            raise NotFound(f"no file {name!r} in session {session_id!r}")
        return path

    def files(self, folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir() if NAME.match(p.name) and _downloadable(p))

    def ids(self) -> list[str]:
        """Every session id, newest first (ids start with their UTC start time)."""
        try:
            root = self._root()
        except NotFound:
            return []
        return sorted((p.name for p in root.iterdir() if NAME.match(p.name) and _is(p, stat.S_ISDIR)),
                      reverse=True)

    def describe(self, session_id: str) -> dict:
        """One line of the list: date, duration, sets, reps (as edited), sides, files; the duration
        from summary.json when finished, else from the tail of samples.csv."""
        folder = self.folder(session_id)
        summary = read_summary(folder)
        view = session_view(folder)
        files = [{"name": p.name, "size_bytes": p.lstat().st_size} for p in self.files(folder)]
        return {"session_id": session_id, "complete": summary is not None, "files": files,
                "start_utc": view["start_utc"],
                "duration_s": summary.get("duration_s") if summary else last_time_s(folder / SAMPLES),
                "sets": view["totals"]["sets"], "reps": view["totals"]["reps"], "athlete": view["athlete"],
                "side": view["side"], "sides": list(view["sides"]), "placement": view["placement"],
                "edited": view["edited"], "deleted": view["deleted"],
                "recovered_after_crash": bool(summary and summary.get("recovered_after_crash", False))}


def _check_name(name: str, what: str) -> str:
    if not NAME.match(name or ""):
        raise NotFound(f"not a valid {what} name: {name[:60]!r}")
    return name


def _is(path: Path, kind) -> bool:
    try:
        return kind(os.lstat(path).st_mode)
    except OSError:
        return False


def _downloadable(path: Path) -> bool:
    return path.suffix in FILE_SUFFIXES and _is(path, stat.S_ISREG)
