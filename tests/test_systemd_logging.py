"""Logging for the journal: identical repeats collapsed (and counted when the next one gets
through), <N> syslog priorities and no timestamp when stderr is systemd's journal stream."""
import io
import logging
import os

from firmware_bridge.service import logsetup
from firmware_bridge.service.logsetup import JournalFormatter, RepeatFilter


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def record(msg, *args, level=logging.WARNING, name="hingemarch.mqtt"):
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_repeats_are_dropped_within_the_window_then_counted():
    clock = Clock()
    f = RepeatFilter(window_s=60.0, clock=clock)
    assert f.filter(record("broker %s refused: %s", "pi:1883", "Not authorized"))
    for _ in range(5):
        clock.t += 10.0                                       # 10..50 s later: dropped
        assert not f.filter(record("broker %s refused: %s", "pi:1883", "Not authorized"))
    clock.t += 15.0                                           # 65 s after the first: through again
    again = record("broker %s refused: %s", "pi:1883", "Not authorized")
    assert f.filter(again)
    assert again.getMessage() == "broker pi:1883 refused: Not authorized (repeated 5 times in 65 s)"
    clock.t += 61.0                                           # nothing dropped since: no count
    quiet = record("broker %s refused: %s", "pi:1883", "Not authorized")
    assert f.filter(quiet) and quiet.getMessage() == "broker pi:1883 refused: Not authorized"


def test_different_text_level_or_logger_is_a_different_message():
    f = RepeatFilter(window_s=60.0, clock=Clock())
    assert f.filter(record("sensor not answering"))
    assert f.filter(record("sensor answering again"))
    assert f.filter(record("sensor not answering", level=logging.ERROR))
    assert f.filter(record("sensor not answering", name="hingemarch.run"))
    assert not f.filter(record("sensor not answering"))


def test_journal_format_has_priorities_and_no_time():
    fmt = JournalFormatter()
    assert fmt.format(record("lost the broker")) == "<4>hingemarch.mqtt: lost the broker"
    assert fmt.format(record("set 1 ended", level=logging.INFO, name="hingemarch.run")) == \
        "<6>hingemarch.run: set 1 ended"
    assert fmt.format(record("a\nb", level=logging.ERROR)) == "<3>hingemarch.mqtt: a\n<3>b"   # each line


def test_journal_stream_is_recognised_only_when_it_is_stderr(tmp_path):
    with open(tmp_path / "a", "w") as a, open(tmp_path / "b", "w") as b:
        st = os.fstat(a.fileno())
        env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        assert logsetup.under_journal(a, env)
        assert not logsetup.under_journal(b, env)            # stderr redirected elsewhere
        assert not logsetup.under_journal(a, {})
        assert not logsetup.under_journal(a, {"JOURNAL_STREAM": "garbage"})
        assert not logsetup.under_journal(io.StringIO(), env)


def test_setup_collapses_repeats_through_a_real_logger():
    out = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = logsetup.setup("info", stream=out)
    try:
        log = logging.getLogger("hingemarch.test")
        for _ in range(50):
            log.warning("sensor not answering")
        log.info("session started")
        log.debug("per-sample detail")                        # below the level: never shown
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].endswith(" WARNING hingemarch.test: sensor not answering")
    assert lines[1].endswith(" INFO hingemarch.test: session started")
    assert lines[0][:4].isdigit()                             # a timestamp outside the journal
