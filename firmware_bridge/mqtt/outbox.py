"""Events waiting for the broker's acknowledgement, kept on disk in order.

A row is written (and fsynced, sqlite ``synchronous=FULL``) before the event is handed to the network
and deleted only on PUBACK, so neither a dead broker nor a killed service loses an event; after a crash
the rows still here are sent first, oldest first. The stdlib's sqlite3 gives the crash safety.

The rows are also held in memory, and a writer thread does the sqlite writes: ``put`` waits for its
row to be committed, but at most ``wait_s``. A stalled disk (an SD card that stops answering) thus
never stops the counting loop: rows are sent from memory meanwhile, ``problem`` says so, and they are
written when the disk answers. Where the file cannot be had (a read-only state directory),
``open_outbox`` falls back to an outbox in memory, with a problem line saying so.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path

from analysis.errors import HingemarchError

MEMORY = ":memory:"


class OutboxError(HingemarchError, OSError):
    """The outbox file cannot be opened or written (unwritable folder, disk full, corrupt file)."""


@dataclass(frozen=True)
class Row:
    id: int
    topic: str
    payload: bytes
    qos: int


class Outbox:
    """An ordered, durable queue: ``put`` appends, ``peek`` gives the oldest, ``ack`` removes it.

    ``before_write()``, if set, runs in the writer thread before each sqlite write: a seam for tests
    to stall the disk."""

    def __init__(self, path: str | Path, wait_s: float = 0.2, stall_s: float = 1.0):
        """``path`` is the sqlite file; MEMORY keeps the queue in memory only (lost on exit)."""
        self.path = Path(path)
        self._wait_s, self._stall_s = wait_s, stall_s
        try:
            if path != MEMORY:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                             " topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL)")
            kept = self._db.execute("SELECT id, topic, payload, qos FROM outbox ORDER BY id").fetchall()
            last = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        except (OSError, sqlite3.Error) as e:
            raise OutboxError(f"cannot open the MQTT outbox {self.path}: {e}") from None
        self._rows: OrderedDict[int, Row] = OrderedDict((r[0], Row(r[0], r[1], bytes(r[2]), r[3])) for r in kept)
        self._next = max([last[0] if last else 0] + list(self._rows)) + 1
        self._cond = threading.Condition()
        self._todo: deque[tuple[str, Row | int]] = deque()   # ("put", row) or ("ack", id), in order
        self._unwritten: set[int] = set()     # put but not yet committed
        self._failed: dict[int, str] = {}     # put whose commit failed: why
        self._busy_since: float | None = None
        self._closing = False
        self.before_write = None
        self._writer = threading.Thread(target=self._write_loop, name="mqtt-outbox-db", daemon=True)
        self._writer.start()

    def put(self, topic: str, payload: bytes, qos: int) -> int:
        """Append one message durably (committed before this returns, unless the disk has stalled:
        then it waits ``wait_s`` at most and the row is written later); returns its id (increasing)."""
        with self._cond:
            row = Row(self._next, topic, payload, qos)
            self._next += 1
            self._rows[row.id] = row
            self._unwritten.add(row.id)
            self._todo.append(("put", row))
            self._cond.notify_all()
            if not self._stalled(self._wait_s):     # the writer is not stuck already: wait for it
                self._cond.wait_for(lambda: row.id not in self._unwritten, self._wait_s)
            error = self._failed.pop(row.id, None)
            if error is not None:
                self._rows.pop(row.id, None)
        if error is not None:
            raise OutboxError(f"cannot write the MQTT outbox {self.path}: {error}")
        return row.id

    def peek(self) -> Row | None:
        """The oldest message not yet acknowledged; one not yet committed only while the disk is
        stalled (otherwise it is sent once it is on disk)."""
        with self._cond:
            row = next(iter(self._rows.values()), None)
            if row is not None and row.id in self._unwritten and not self._stalled():
                return None
            return row

    def ack(self, row_id: int) -> None:
        """The broker has it: forget it."""
        with self._cond:
            if self._rows.pop(row_id, None) is not None:
                self._failed.pop(row_id, None)
                self._todo.append(("ack", row_id))
                self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._rows)

    @property
    def problem(self) -> str | None:
        """A line while the disk is stalled (rows sent from memory meanwhile), else None. Its text
        stays the same while the stall lasts (one log line, a status/error that does not flicker)."""
        with self._cond:
            if not self._stalled():
                return None
        return (f"MQTT outbox stalled: {self.path} is not answering; events are kept in memory "
                "and sent meanwhile, written when it answers")

    def close(self, wait_s: float = 2.0) -> None:
        """Write what is pending (up to ``wait_s``) and close the file."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._writer.join(wait_s)
        if not self._writer.is_alive():
            self._db.close()

    def _stalled(self, limit_s: float | None = None) -> bool:
        """The writer has been on one write for over ``limit_s`` (``stall_s``)."""
        limit_s = self._stall_s if limit_s is None else limit_s
        return self._busy_since is not None and time.monotonic() - self._busy_since > limit_s

    def _write_loop(self) -> None:
        """The writer thread: the queued inserts and deletes, in order, one commit each."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._todo or self._closing)
                if not self._todo:
                    return
                op, item = self._todo[0]
                self._busy_since = time.monotonic()
            error = None
            try:
                if self.before_write is not None:
                    self.before_write()
                if op == "put":
                    self._db.execute("INSERT INTO outbox (id, topic, payload, qos) VALUES (?, ?, ?, ?)",
                                     (item.id, item.topic, item.payload, item.qos))
                else:
                    self._db.execute("DELETE FROM outbox WHERE id = ?", (item,))
            except (OSError, sqlite3.Error) as e:
                error = str(e)
            with self._cond:
                self._todo.popleft()
                self._busy_since = None
                if op == "put":
                    self._unwritten.discard(item.id)
                    if error is not None and item.id in self._rows:
                        self._failed[item.id] = error
                self._cond.notify_all()


def open_outbox(path: str | Path) -> tuple[Outbox, str | None]:
    """The outbox at ``path``, or one in memory when that cannot be opened (unwritable or read-only
    state directory, corrupt file): (outbox, the one-line problem to show, or None)."""
    try:
        return Outbox(path), None
    except OutboxError as e:
        return Outbox(MEMORY), f"{e}; events are queued in memory (lost if the service stops)"
