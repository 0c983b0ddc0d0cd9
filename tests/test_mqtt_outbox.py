"""The on-disk outbox: order, durability across a reopen (a crash), acknowledgement, a stalled disk,
the fallback to memory."""
import multiprocessing
import os
import signal
import threading
import time

import pytest

from firmware_bridge.mqtt.outbox import MEMORY, Outbox, OutboxError, open_outbox


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


def test_a_stalled_disk_does_not_block_put_and_the_rows_are_written_later(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    box.put("t/0", b"0", 1)
    gate = threading.Event()
    box.before_write = lambda: gate.wait(10)      # the SD card stops answering
    start = time.monotonic()
    for i in range(1, 6):
        box.put(f"t/{i}", str(i).encode(), 1)
    assert time.monotonic() - start < 0.5, "put waited for the stalled disk"
    box.ack(box.peek().id)                         # t/0 was on disk before the stall
    assert box.problem is None
    time.sleep(1.2)
    assert box.problem.startswith("MQTT outbox stalled") and "events are kept in memory" in box.problem
    assert len(box) == 5                           # all still queued, none lost
    assert box.peek().topic == "t/1"               # sent from memory meanwhile
    box.before_write = None
    gate.set()
    box.close()
    again = Outbox(tmp_path / "o.sqlite3")
    got = []
    while (row := again.peek()) is not None:
        got.append(row.topic)
        again.ack(row.id)
    assert got == [f"t/{i}" for i in range(1, 6)]   # all written once the disk answered, in order


def test_an_unopenable_outbox_falls_back_to_memory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    box, problem = open_outbox(blocker / "o.sqlite3")
    assert "cannot open the MQTT outbox" in problem and "queued in memory" in problem
    assert box.path == type(box.path)(MEMORY)
    row_id = box.put("t", b"x", 1)
    assert box.peek().payload == b"x" and len(box) == 1
    box.ack(row_id)
    assert box.peek() is None
