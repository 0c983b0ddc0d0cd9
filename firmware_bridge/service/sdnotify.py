"""systemd's notify protocol (sd_notify(3)) over $NOTIFY_SOCKET, with no dependency: READY=1,
STATUS=, WATCHDOG=1, STOPPING=1. Outside a ``Type=notify`` unit every call does nothing.

``LoopWatch`` is what the service loop calls after each block: the first block says READY, later
ones feed the watchdog, so a loop that stops producing blocks (a hung bus) gets restarted.
"""
from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger("hingemarch.systemd")


class Notifier:
    """One datagram per call to the socket systemd named; errors are logged, never raised."""

    def __init__(self, env=os.environ):
        path = env.get("NOTIFY_SOCKET", "")
        # "@name" is Linux's abstract namespace: the name starts with a NUL byte
        self.address = "\0" + path[1:] if path.startswith("@") else path
        self.sock = None
        if path:     # non-blocking: a full queue at systemd's end drops a ping, never stalls the loop
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                                      | socket.SOCK_NONBLOCK)
        usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        mine = not pid or (pid.isdigit() and int(pid) == os.getpid())
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 and mine else None

    @property
    def enabled(self) -> bool:
        return self.sock is not None

    def send(self, *fields: str) -> bool:
        """Send ``KEY=value`` lines as one message; False when not under systemd or it failed."""
        if self.sock is None:
            return False
        try:
            self.sock.sendto("\n".join(fields).encode(), self.address)
            return True
        except OSError as e:
            log.debug("sd_notify to %r failed: %s", self.address, e)
            return False

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def status_line(state: dict) -> str:
    """What ``systemctl status`` shows: sensor state, the running session's counts, and the first of
    the analysis's problems (all of them are on status/error and in the log)."""
    sensor = "sensor lost" if state.get("sensor_status") == "sensor_lost" else "sensor ok"
    if not state.get("running"):
        return f"{sensor}; no session running"
    where = (f"set {state.get('set_index', 0)}, {state.get('reps_in_set', 0)} rep(s)" if state.get("in_set")
             else f"{state.get('sets_done', 0)} set(s) done, between sets")
    problems = state.get("problems") or []
    return f"{sensor}; session {state['session_id']}: {where}" + (f"; {problems[0]}" if problems else "")


class LoopWatch:
    """Call with the Service after every block (heartbeats included): READY=1 on the first, then
    WATCHDOG=1 at most every half watchdog interval, STATUS= whenever it changes."""

    def __init__(self, notifier: Notifier | None = None, clock=time.monotonic):
        self.notifier = notifier or Notifier()
        self.clock = clock
        self.ready = self.stopped = False
        self.status = ""
        self.next_ping = 0.0

    def __call__(self, service) -> None:
        n = self.notifier
        if not n.enabled or self.stopped:
            return
        status = status_line(service.state())
        fields = [] if status == self.status else [f"STATUS={status}"]
        self.status = status
        if not self.ready:
            fields.insert(0, "READY=1")
            self.ready = True
        now = self.clock()
        if n.watchdog_s and now >= self.next_ping:
            fields.append("WATCHDOG=1")
            self.next_ping = now + n.watchdog_s / 2
        if fields:
            n.send(*fields)

    def stopping(self, why: str = "stopping") -> None:
        """STOPPING=1 once (a signal and the end of the loop may both say it)."""
        if not self.stopped:
            self.stopped = True
            self.notifier.send("STOPPING=1", f"STATUS={why}")
