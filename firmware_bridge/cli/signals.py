"""Ctrl-C and SIGTERM end a command cleanly, and waiting for them in the main thread cannot miss one.

Each command that runs until stopped takes both signals itself (``stop_on_signals``): the handler
only sets an event, and the command then closes its session, page, broker and files as on a normal
end. Left to their defaults, SIGTERM (systemd, ``kill``) would end the process on the spot, leaving
a demo's private broker running and its files behind, and a SIGINT that the shell set to be ignored
(a command started with ``&`` from a script) would never end it.

Linux hands a process-directed signal to any of its threads: one that unblocks signals at that moment
(starting a thread or a child process does) takes it, and its C handler runs there. The Python
handler then runs only when the main thread next executes Python code, so a main thread blocked for
good in a lock (``Event.wait()`` without a timeout) never runs it and the command never ends. Waking
every ``WAKE_S`` bounds how late it runs (``wait_in_main``).
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

WAKE_S = 0.2      # the longest a signal taken by another thread waits for its Python handler
SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_on_signals(on_stop: Callable[[int], None] | None = None) -> Iterator[threading.Event]:
    """Inside: SIGTERM or SIGINT sets the event yielded, after ``on_stop(signal number)`` (stop a
    source, say) has run. The handlers from before are back on leaving."""
    stopping = threading.Event()

    def handler(signum, frame) -> None:
        if on_stop is not None:
            on_stop(signum)
        stopping.set()

    old = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield stopping
    finally:
        for s, previous in old.items():
            signal.signal(s, previous)


def wait_in_main(event: threading.Event) -> None:
    """Return when ``event`` is set (by a signal handler, say)."""
    while not event.wait(WAKE_S):
        pass
