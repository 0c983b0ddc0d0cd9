"""The on-disk outbox: order, durability across a reopen (a crash), acknowledgement."""
import multiprocessing
import os
import signal

import pytest

from firmware_bridge.mqtt.outbox import Outbox, OutboxError


def test_oldest_first_and_ack_removes(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    ids = [box.put(f"t/{i}", f"p{i}".encode(), 1) for i in range(5)]
    assert ids == sorted(ids) and len(box) == 5
    assert box.peek().topic == "t/0"
    box.ack(ids[0])
    box.ack(ids[1])
    row = box.peek()
    assert (row.topic, row.payload, row.qos) == ("t/2", b"p2", 1)
    assert len(box) == 3


def _fill_and_die(path):
    box = Outbox(path)
    for i in range(50):
        box.put("t", str(i).encode(), 1)
    os.kill(os.getpid(), signal.SIGKILL)


def test_rows_survive_a_killed_process_in_order(tmp_path):
    path = tmp_path / "o.sqlite3"
    p = multiprocessing.get_context("fork").Process(target=_fill_and_die, args=(path,))
    p.start()
    p.join(10)
    assert p.exitcode == -signal.SIGKILL
    box = Outbox(path)
    got = []
    while (row := box.peek()) is not None:
        got.append(int(row.payload))
        box.ack(row.id)
    assert got == list(range(50))


def test_unusable_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutboxError, match="cannot open the MQTT outbox"):
        Outbox(blocker / "o.sqlite3")
