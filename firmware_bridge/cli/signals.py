"""Waiting in the main thread for Ctrl-C or SIGTERM in a way that cannot miss the signal.

Linux hands a process-directed signal to any of its threads: one that unblocks signals at that moment
(starting a thread or a child process does) takes it, and its C handler runs there. The Python
handler (KeyboardInterrupt, or the command's own) then runs only when the main thread next executes
Python code, so a main thread blocked for good in a lock (``Event.wait()`` without a timeout) never
runs it and the command never ends. Waking every ``WAKE_S`` bounds how late it runs.
"""
from __future__ import annotations

import threading

WAKE_S = 0.2      # the longest a signal taken by another thread waits for its Python handler


def wait_in_main(event: threading.Event | None = None) -> None:
    """Return when ``event`` is set (by a signal handler, say); without one, wait until a signal's
    handler raises (KeyboardInterrupt for Ctrl-C)."""
    event = event or threading.Event()
    while not event.wait(WAKE_S):
        pass
