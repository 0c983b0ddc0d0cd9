"""Edits made afterwards, kept beside the raw files: ``edits.json`` in the session folder.

A therapist fixes a set's count, deletes a false rep, deletes a test session or adds a note; the
raw files (samples.csv, reps.csv, sets.csv, summary.json) are never rewritten. Every edit is kept
in order; undo marks the latest one undone (it stays in the file, so the history is never lost).
The file is replaced atomically (temp file, fsync, rename) and one lock serialises the writers
of this process. See docs/session-format.md.
"""
from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from analysis.errors import DataError
from firmware_bridge.store.samples import is_regular_file

EDITS = "edits.json"
KINDS = ("set_count", "delete_rep", "note", "delete_session")
MAX_NOTE_CHARS = 2000
MAX_EDITS = 1000          # a session's file stays small
MAX_REPS = 1000           # a set's count, fixed by hand
_lock = threading.Lock()


class EditError(DataError):
    """An edit that cannot be applied: unknown kind, a field missing or out of range."""


@dataclass(frozen=True)
class Edits:
    """The edits in force (undone ones left out), by what they change."""

    counts: dict[int, int]                 # set index -> the count as fixed
    deleted_reps: frozenset[tuple[int, int]]   # (set index, rep in set)
    notes: tuple[dict, ...]                # {"id", "at_utc", "text"}
    deleted: bool                          # the whole session deleted
    log: tuple[dict, ...]                  # every edit ever made, undone ones marked

    @property
    def any(self) -> bool:
        return bool(self.counts or self.deleted_reps or self.notes or self.deleted)

    def kept_reps(self, reps: list[dict]) -> list[dict]:
        """Rows of reps.csv without the deleted ones."""
        return [r for r in reps if (int(r["set_index"]), int(r["rep_in_set"])) not in self.deleted_reps]


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _whole(body: dict, key: str, lo: int, hi: int) -> int:
    v = body.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v != int(v):
        raise EditError(f"{key} must be a whole number {lo}..{hi}, got {str(v)[:40]!r}")
    if not lo <= v <= hi:
        raise EditError(f"{key} must be {lo}..{hi}, got {int(v)}")
    return int(v)


def check_edit(body) -> dict:
    """A new edit from a request or the command line, validated: the stored form, or EditError."""
    if not isinstance(body, dict):
        raise EditError("an edit is a JSON object with a 'kind'")
    kind = body.get("kind")
    if kind not in KINDS:
        raise EditError(f"kind must be one of {', '.join(KINDS)}, got {str(kind)[:40]!r}")
    allowed = {"set_count": {"set_index", "reps"}, "delete_rep": {"set_index", "rep_in_set"},
               "note": {"text"}, "delete_session": {"confirm"}}[kind]
    unknown = sorted(set(body) - allowed - {"kind"})
    if unknown:
        raise EditError(f"{kind} takes {', '.join(sorted(allowed))}; not {', '.join(map(str, unknown))[:80]}")
    edit = {"kind": kind}
    if kind in ("set_count", "delete_rep"):
        edit["set_index"] = _whole(body, "set_index", 1, 10_000)
    if kind == "set_count":
        edit["reps"] = _whole(body, "reps", 0, MAX_REPS)
    elif kind == "delete_rep":
        edit["rep_in_set"] = _whole(body, "rep_in_set", 1, 10_000)
    elif kind == "note":
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise EditError("a note needs its text")
        if len(text) > MAX_NOTE_CHARS:
            raise EditError(f"a note is at most {MAX_NOTE_CHARS} characters, got {len(text)}")
        edit["text"] = text.strip()
    elif body.get("confirm") != "delete":
        raise EditError('deleting a session needs "confirm": "delete"')
    return edit


def _read_log(folder: Path) -> list[dict]:
    path = folder / EDITS
    if not is_regular_file(path):
        return []
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    items = doc.get("edits") if isinstance(doc, dict) else None
    out = []
    for e in items if isinstance(items, list) else []:
        if not isinstance(e, dict):
            continue
        body = {k: v for k, v in e.items() if k not in ("id", "at_utc", "undone_utc")}
        if body.get("kind") == "delete_session":
            body["confirm"] = "delete"         # confirmed when it was made
        try:
            edit = check_edit(body)
        except EditError:
            continue              # an entry this version cannot read is left out, not fatal
        edit.pop("confirm", None)
        out.append({"id": e.get("id"), "at_utc": e.get("at_utc"), **edit,
                    **({"undone_utc": e["undone_utc"]} if e.get("undone_utc") else {})})
    return out


def read_edits(folder: Path) -> Edits:
    """The edits of a session (none when edits.json is absent or unreadable)."""
    log = _read_log(folder)
    counts: dict[int, int] = {}
    deleted_reps: set[tuple[int, int]] = set()
    notes: list[dict] = []
    deleted = False
    for e in log:
        if e.get("undone_utc"):
            continue
        if e["kind"] == "set_count":
            counts[e["set_index"]] = e["reps"]
        elif e["kind"] == "delete_rep":
            deleted_reps.add((e["set_index"], e["rep_in_set"]))
        elif e["kind"] == "note":
            notes.append({"id": e.get("id"), "at_utc": e.get("at_utc"), "text": e["text"]})
        else:
            deleted = True
    return Edits(counts, frozenset(deleted_reps), tuple(notes), deleted, tuple(log))


def _write_log(folder: Path, log: list[dict]) -> None:
    tmp = folder / f"{EDITS}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"format": "hingemarch edits v1", "edits": log}, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / EDITS)


def add_edit(folder: Path, body) -> dict:
    """Validate ``body`` and append it to the session's edits; returns the stored edit (with its id)."""
    edit = check_edit(body)
    edit.pop("confirm", None)
    with _lock:
        log = _read_log(folder)
        if len(log) >= MAX_EDITS:
            raise EditError(f"a session keeps at most {MAX_EDITS} edits")
        stored = {"id": max((e["id"] for e in log if isinstance(e["id"], int)), default=0) + 1,
                  "at_utc": _now(), **edit}
        try:
            _write_log(folder, log + [stored])
        except OSError as e:
            raise EditError(f"cannot write {folder / EDITS}: {e.strerror or e}") from None
    return stored


def undo_edit(folder: Path) -> dict:
    """Mark the latest edit in force undone; returns it, or EditError when there is none."""
    with _lock:
        log = _read_log(folder)
        live = [e for e in log if not e.get("undone_utc")]
        if not live:
            raise EditError("no edit to undo in this session")
        live[-1]["undone_utc"] = _now()
        try:
            _write_log(folder, log)
        except OSError as e:
            raise EditError(f"cannot write {folder / EDITS}: {e.strerror or e}") from None
    return live[-1]
