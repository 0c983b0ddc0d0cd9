"""What the live page shows: the service's state, a leg-angle trace with rep marks, finished sets.

``LiveHub.feed(service)`` runs in the counting thread after every block and only copies a few numbers
under a lock; the web thread reads snapshots and wakes the pages' Server-Sent-Event streams at most
every ``PUSH_MIN_S`` (at once after a rep, set or command), so counting never waits on a browser.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time

from firmware_bridge.mqtt.topics import to_json

log = logging.getLogger("hingemarch.web")

TRACE_WINDOW_S = 30.0    # seconds of leg angle a page shows (and gets when it connects)
TRACE_MIN_DT_S = 0.04    # at most 25 trace points per second of session time
TRACE_MAX_POINTS = 2000  # more than a window's worth at 25 Hz
PUSH_MIN_S = 0.1         # at most ten pushes a second to a page, except after an event
SET_KEYS = ("set_index", "side", "reps", "start_s", "end_s", "mean_hinge_depth_deg", "mean_march_height_deg",
            "mean_duration_s")


def _set_view(body: dict) -> dict:
    """A finished set as the page needs it; sway measures (any ``sway*`` key) are passed through."""
    return {k: v for k, v in body.items() if k in SET_KEYS or k.startswith("sway")}


class LiveHub:
    """Thread-safe snapshot of the live session plus the wake-up of the streams waiting on it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._state: dict = {}
        self._trace: collections.deque = collections.deque(maxlen=TRACE_MAX_POINTS)  # (n, t_s, angle)
        self._n = 0                     # trace points ever added: a page's cursor
        self._marks: list[dict] = []    # counted reps of the session (undone ones removed)
        self._sets: list[dict] = []     # finished sets of the session
        self._session_id: str | None = None
        self._recorded = False          # the session that ended has its folder (a report to link to)
        self._urgent = False
        self._last_push = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Future | None = None
        self._pending: dict[int, tuple] = {}     # id(Command) -> (Command, future) awaiting the reply
        self._replies: list[tuple] = []          # (future, reply) to resolve once the state shows it
        self.clients = 0                # open streams (read in the counting thread: no lock needed)
        self._failed = False
        self.closing = False

    # --- the counting thread ----------------------------------------------------------------------
    def feed(self, service) -> None:
        """After each block: the new state and one trace point (at most every ``TRACE_MIN_DT_S``).
        Never raises: a fault here is logged once and the page goes stale, counting goes on."""
        try:
            self._feed(service)
        except Exception:
            if not self._failed:
                log.exception("web: the live page stopped updating")
            self._failed = True

    def _feed(self, service) -> None:
        state = service.state()
        with self._lock:
            if state.get("session_id"):
                self._session_id = state["session_id"]
            t, angle = state.get("t_s"), state.get("leg_angle_deg")
            if state.get("running") and t is not None and (not self._trace or t - self._trace[-1][1] >= TRACE_MIN_DT_S):
                self._n += 1
                self._trace.append((self._n, t, angle))
            self._state = state
            self._recorded = service.last_folder is not None and not state.get("running")
            urgent, self._urgent = self._urgent, False
            replies, self._replies = self._replies, []
        for fut, body in replies:        # after the state: a program reading it next sees the effect
            self._loop.call_soon_threadsafe(_resolve, fut, body)
        self._wake(urgent)

    def on_event(self, kind: str, body: dict) -> None:
        """A Service listener: events and command replies, in the counting thread."""
        with self._lock:
            if kind == "session" and body.get("phase") == "started":
                self._trace.clear()
                self._marks, self._sets = [], []
            elif kind == "rep":
                self._marks.append({"t_s": body["completed_s"], "set_index": body["set_index"],
                                    "rep_in_set": body["rep_in_set"]})
            elif kind == "undo":
                key = (body["set_index"], body["rep_in_set"])
                self._marks = [m for m in self._marks if (m["set_index"], m["rep_in_set"]) != key]
            elif kind == "set":
                self._sets.append(_set_view(body))
            elif kind == "reply":
                _, fut = self._pending.pop(id(body["command"]), (None, None))
                if fut is not None:
                    self._replies.append((fut, body))
            self._urgent = True

    def _wake(self, urgent: bool) -> None:
        if self._loop is None or not self.clients:
            return
        now = time.monotonic()
        if urgent or now - self._last_push >= PUSH_MIN_S:
            self._last_push = now
            self._loop.call_soon_threadsafe(self._fire)

    # --- the web thread ---------------------------------------------------------------------------
    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._changed = loop.create_future()

    def _fire(self) -> None:
        if not self._changed.done():
            self._changed.set_result(None)
        self._changed = self._loop.create_future()

    def close(self) -> None:
        """Web thread: let every stream end (server shutdown)."""
        self.closing = True
        if self._changed is not None:
            self._fire()

    @property
    def session_id(self) -> str | None:
        """The live session, or the last one when none is running."""
        return self._session_id

    @property
    def changed(self) -> asyncio.Future:
        """Done at the next push; take it *before* reading a snapshot so no push is missed."""
        return self._changed

    def expect_reply(self, cmd) -> asyncio.Future:
        fut = self._loop.create_future()
        with self._lock:
            self._pending[id(cmd)] = (cmd, fut)
        return fut

    def forget(self, cmd) -> None:
        with self._lock:
            self._pending.pop(id(cmd), None)

    def snapshot(self, cursor: int | None = None) -> tuple[dict, int]:
        """(message, new cursor). ``cursor`` None: the whole window (``full``); else new points only."""
        with self._lock:
            state = self._state
            last_t = self._trace[-1][1] if self._trace else state.get("t_s") or 0.0
            since = last_t - TRACE_WINDOW_S
            pts = [p for p in self._trace if (p[1] >= since if cursor is None else p[0] > cursor)]
            msg = {"full": cursor is None, "session_id": self._session_id, "window_s": TRACE_WINDOW_S,
                   "state": state, "trace": [[t, a] for _, t, a in pts],
                   "marks": [m for m in self._marks if m["t_s"] >= since], "sets": list(self._sets),
                   "recorded": self._recorded}
            return msg, self._n

    def message(self, cursor: int | None = None) -> tuple[bytes, int]:
        msg, cursor = self.snapshot(cursor)
        return to_json(msg), cursor


def _resolve(fut: asyncio.Future, body: dict) -> None:
    if not fut.done():
        fut.set_result(body)
