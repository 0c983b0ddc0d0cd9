"""Logging for the long-running service: one line per event worth knowing, identical repeats
collapsed, and under systemd the journal's own format (no timestamp, a <N> priority prefix that
journald reads with SyslogLevelPrefix=)."""
from __future__ import annotations

import logging
import os
import sys
import time

# logging level -> syslog priority (journald shows and filters by it: journalctl -p warning)
PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}
REPEAT_WINDOW_S = 60.0


class RepeatFilter(logging.Filter):
    """Lets a message through once per ``window_s``; identical ones (same logger, level and text)
    inside the window are counted, and the next one let through says how many were dropped."""

    def __init__(self, window_s: float = REPEAT_WINDOW_S, clock=time.monotonic):
        super().__init__()
        self.window_s, self.clock = window_s, clock
        self.seen: dict[tuple, list] = {}      # key -> [time let through, repeats dropped since]

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        key, now = (record.name, record.levelno, text), self.clock()
        entry = self.seen.get(key)
        if entry is not None and now - entry[0] < self.window_s:
            entry[1] += 1
            return False
        if entry is not None and entry[1]:
            record.msg, record.args = f"{text} (repeated {entry[1]} times in {now - entry[0]:.0f} s)", None
        if len(self.seen) > 1000:             # forget keys that are long quiet
            self.seen = {k: e for k, e in self.seen.items() if now - e[0] < self.window_s}
        self.seen[key] = [now, 0]
        return True


class JournalFormatter(logging.Formatter):
    """``<6>hingemarch.run: text``: journald adds the time, host and unit itself."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{PRIORITY.get(record.levelno, 6)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


def under_journal(stream=None, env=os.environ) -> bool:
    """True when ``stream`` (stderr) is the journal stream systemd handed us ($JOURNAL_STREAM is
    "device:inode" of it; a redirected stderr no longer matches)."""
    stream = stream or sys.stderr
    try:
        dev, ino = (int(x) for x in env.get("JOURNAL_STREAM", "").split(":"))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


def setup(level: str = "info", stream=None) -> logging.Handler:
    """Configure the root logger for the service: journal or timestamped format, repeats collapsed."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if under_journal(handler.stream):
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RepeatFilter())
    handler.hingemarch = True
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "hingemarch", False)]:   # a second setup()
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
