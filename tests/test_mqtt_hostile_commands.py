"""Hostile commands against a real Mosquitto: each gets a one-line error reply, nothing reaches the
guards as an exception, the network thread lives on, and afterwards commands and events still work.
(The tester's case: ``[`` x 1000 on ``<base>/cmd`` used to kill paho's thread with a RecursionError.)"""
import json
import queue
import random

import pytest
from mqtt_helpers import publisher, settings

from firmware_bridge.mqtt import topics as tp

JUNK = random.Random(7).randbytes(1024)
HOSTILE = [   # (topic suffix, payload)
    ("cmd", b"[" * 1000),
    ("cmd", b"{" * 1024),
    ("cmd/start", b'{"id":' + b"[" * 500 + b"]" * 500 + b"}"),
    ("cmd", b'{"cmd":"start","id":' + b'{"a":' * 150 + b"1" + b"}" * 151),
    ("cmd", b'{"cmd":"start","id":1e999}'),
    ("cmd", b'{"cmd":"start","id":-Infinity}'),
    ("cmd", b'{"cmd":"start","id":NaN}'),
    ("cmd", b'{"cmd":"start","id":' + b"9" * 1000 + b"}"),
    ("cmd/start", b"\xff\xfe\xfd"),
    ("cmd", b'{"cmd":"st\xc3"}'),
    ("cmd/side", b"\xed\xa0\x80"),            # a UTF-16 surrogate, invalid in UTF-8
    ("cmd", b'{"cmd":5}'),
    ("cmd", b'{"cmd":["start"]}'),
    ("cmd", b'{"cmd":null}'),
    ("cmd", b'{"cmd":{}}'),
    ("cmd", b'"start"'),
    ("cmd", b"5"),
    ("cmd", b"[]"),
    ("cmd", b'{"cmd":"side","side":{"x":1}}'),
    ("cmd", b'{"cmd":"start","id":[1]}'),
    ("cmd", b'{"cmd":"start","id":true}'),
    ("cmd/start", JUNK),
    ("cmd/undo", b"\x00" * 1024),
    ("cmd", b"]" * 1024),
    ("cmd/start", b"x" * (tp.MAX_COMMAND_BYTES + 1)),
]


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_hostile_commands_get_error_replies_and_nothing_breaks(broker, subscribe, tmp_path, protocol):
    s = settings(broker, protocol=protocol)
    got: queue.Queue = queue.Queue()
    pub = publisher(s, tmp_path, on_command=got.put)
    replies = subscribe(s.topics.reply)
    events = subscribe(f"{s.topics.base}/event/#")
    ctl = subscribe("unused/none")
    for n, (suffix, payload) in enumerate(HOSTILE, start=1):
        ctl.client.publish(f"{s.topics.base}/{suffix}", payload, qos=1)
        replies.wait_for(lambda m, n=n: len(replies.messages) >= n)   # one answer per command, in turn
    answers = [json.loads(m.payload) for m in replies.messages]
    assert len(answers) == len(HOSTILE)
    for (suffix, payload), a in zip(HOSTILE, answers):
        assert a["ok"] is False, (suffix, payload[:40], a)
        assert "\n" not in a["error"] and len(a["error"]) < 120, a["error"]
        assert "internal error" not in a["error"], (payload[:40], a["error"])
    assert got.empty(), "no hostile command may reach the run loop"
    assert pub.callback_errors == {} and pub.problems == [] and pub.restarts == 0
    # afterwards a normal command still works and events are still delivered
    ctl.client.publish(s.topics.command(), b'{"cmd":"side","side":"left","id":"after"}', qos=1)
    cmd = got.get(timeout=3)
    assert (cmd.name, cmd.side, cmd.id) == ("side", "left", "after")
    pub.event("rep", {"rep_in_set": 1}, "sess-H", 1)
    assert json.loads(events.topic(s.topics.event("rep")).payload)["seq"] == 1
    pub.close()


def test_a_failing_callback_is_caught_counted_and_logged_once(broker, subscribe, tmp_path, caplog):
    """A handler that raises something unexpected: the command gets an error reply, the failure is
    counted, logged once with its traceback, and the link goes on."""
    s = settings(broker)
    calls = []

    def broken(cmd):
        calls.append(cmd)
        if cmd.name == "start":
            raise RecursionError("boom")

    pub = publisher(s, tmp_path, on_command=broken)
    replies = subscribe(s.topics.reply)
    ctl = subscribe("unused/none")
    for _ in range(3):
        ctl.client.publish(s.topics.command("start"), b"", qos=1)
    replies.wait_for(lambda m: len(replies.messages) >= 3)
    assert all(json.loads(m.payload)["error"] == "internal error" for m in replies.messages)
    ctl.client.publish(s.topics.command("undo"), b"", qos=1)
    replies.wait_for(lambda m: len(calls) >= 4)
    assert [c.name for c in calls] == ["start"] * 3 + ["undo"]
    assert pub.callback_errors == {"on_command": 3} and pub.restarts == 0
    logged = [r for r in caplog.records if "on_command raised RecursionError" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None
    pub.close()
