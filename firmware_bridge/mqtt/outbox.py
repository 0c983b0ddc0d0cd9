"""Events waiting for the broker's acknowledgement, kept on disk in order.

A row is written (and fsynced, sqlite ``synchronous=FULL``) before the event is handed to the network
and deleted only on PUBACK, so neither a dead broker nor a killed service loses an event; after a crash
the rows still here are sent first, oldest first. The stdlib's sqlite3 gives the crash safety.
Where the file cannot be had (a read-only state directory), ``open_outbox`` falls back to an outbox
in memory, with a problem line saying so: events are still sent, only not kept across a restart.
"""
from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from analysis.errors import HingemarchError


class OutboxError(HingemarchError, OSError):
    """The outbox file cannot be opened or written (unwritable folder, disk full, corrupt file)."""


MEMORY = ":memory:"


@dataclass(frozen=True)
class Row:
    id: int
    topic: str
    payload: bytes
    qos: int


class Outbox:
    """An ordered, durable queue: ``put`` appends, ``peek`` gives the oldest, ``ack`` removes it."""

    def __init__(self, path: str | Path):
        """``path`` is the sqlite file; MEMORY keeps the queue in memory only (lost on exit)."""
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            if path != MEMORY:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                             " topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL)")
        except (OSError, sqlite3.Error) as e:
            raise OutboxError(f"cannot open the MQTT outbox {self.path}: {e}") from None

    def put(self, topic: str, payload: bytes, qos: int) -> int:
        """Append one message durably; returns its row id (increasing)."""
        try:
            with self._lock:
                cur = self._db.execute("INSERT INTO outbox (topic, payload, qos) VALUES (?, ?, ?)",
                                       (topic, payload, qos))
                return int(cur.lastrowid)
        except sqlite3.Error as e:
            raise OutboxError(f"cannot write the MQTT outbox {self.path}: {e}") from None

    def peek(self) -> Row | None:
        """The oldest message not yet acknowledged."""
        with self._lock:
            r = self._db.execute("SELECT id, topic, payload, qos FROM outbox ORDER BY id LIMIT 1").fetchone()
        return None if r is None else Row(r[0], r[1], bytes(r[2]), r[3])

    def ack(self, row_id: int) -> None:
        """The broker has it: forget it."""
        try:
            with self._lock:
                self._db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
        except sqlite3.Error as e:
            raise OutboxError(f"cannot write the MQTT outbox {self.path}: {e}") from None

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_outbox(path: str | Path) -> tuple[Outbox, str | None]:
    """The outbox at ``path``, or one in memory when that cannot be opened (unwritable or read-only
    state directory, corrupt file): (outbox, the one-line problem to show, or None)."""
    try:
        return Outbox(path), None
    except OutboxError as e:
        return Outbox(MEMORY), f"{e}; events are queued in memory (lost if the service stops)"
