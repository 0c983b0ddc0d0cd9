"""Storage that stalls or fills up mid-session, and a read-only state directory: counting and
publishing go on, the problem shows on status/error within 2 s, and once storage returns the
session files hold every rep and set, with no partial line (the recorder's ``before_write`` seam
stands in for a frozen or full SD card)."""
from __future__ import annotations

import errno
import json
import threading
import time

import numpy as np
import pytest
from conftest import Recorder
from mqtt_helpers import publisher, settings

from analysis.events import RepEvent
from firmware_bridge.service import config
from firmware_bridge.service.live import Service
from firmware_bridge.store.folder import read_reps, read_sets, read_summary
from firmware_bridge.store.recorder import RecorderError, SessionRecorder
from firmware_bridge.store.samples import SessionMeta, read_samples
from imu.samples import SampleBlock
from imu.sim import SimSource, simulate_session


def _sent_reps(sub) -> int:
    return sum(m.topic.endswith("/event/rep") for m in list(sub.messages))


def _run(broker, tmp_path, fault, speed=20.0, on_sub=None):
    """A simulated session through Service with a real publisher; ``fault(svc, reps_so_far)`` is
    called after each block. Returns (service, subscriber, [(wall time, rep event)])."""
    s = settings(broker)
    source = SimSource(simulate_session(3, rate_hz=200.0), speed=speed)
    svc = Service(config.defaults(), source, None, tmp_path / "sessions", "sim", speed)
    svc.publisher = publisher(s, tmp_path, svc.on_command)
    sub = Recorder(broker, f"{s.topics.base}/#")
    if on_sub is not None:
        on_sub(sub)
    reps: list[tuple[float, dict]] = []
    svc.listeners.append(lambda kind, body: reps.append((time.monotonic(), body)) if kind == "rep" else None)
    for block in source.blocks():
        svc.feed(block)
        fault(svc, len(reps))
    source.close()
    svc.finish()
    svc.publisher.close()
    return svc, sub, reps, s


def test_a_stalled_disk_does_not_stop_counting_and_loses_no_rep(broker, tmp_path):
    gate, entered = threading.Event(), []
    stall = {"on": False, "released": None, "shown": None}

    def before_write(path):
        if stall["on"]:
            entered.append(time.monotonic())
            gate.wait(30)

    def fault(svc, n_reps):
        rec = svc.session.recorder if svc.session else None
        if rec is not None and rec.before_write is None:
            rec.before_write = before_write
            svc.publisher.outbox.before_write = lambda: before_write(None)   # the same disk
        if n_reps >= 3 and not stall["on"] and stall["released"] is None:
            stall["on"] = True
            stall["sent"] = _sent_reps(sub_box[0])
        if entered and stall["shown"] is None and "storage stalled" in (svc._shown_error or ""):
            stall["shown"] = time.monotonic()
        if entered and stall["released"] is None and time.monotonic() - entered[0] > 4.0:
            stall["sent_by_release"] = _sent_reps(sub_box[0])
            stall["on"] = False
            gate.set()
            stall["released"] = time.monotonic()

    sub_box = []
    svc, sub, reps, s = _run(broker, tmp_path, fault, on_sub=sub_box.append)
    assert entered and stall["released"], "the stall never happened"
    assert stall["sent_by_release"] >= stall["sent"] + 2, "publishing stopped while the disk stalled"
    t0 = entered[0]
    during = [r for t, r in reps if t0 < t < stall["released"]]
    assert len(during) >= 2, "counting stopped while the disk stalled"
    assert stall["shown"] and stall["shown"] - t0 < 2.0, "the stall was not shown within 2 s"
    errors = [m.payload.decode() for m in sub.messages if m.topic == s.topics.error]
    assert any(e.startswith("storage stalled: a write in") for e in errors)   # on status/error
    assert any("MQTT outbox stalled" in e for e in errors)
    assert errors[-1] == ""                        # cleared once the disk answered again
    published = [r for _, r in reps]
    folder = svc.last_folder
    on_disk = read_reps(folder)
    assert [(int(r["set_index"]), int(r["rep_in_set"])) for r in on_disk] == \
        [(r["set_index"], r["rep_in_set"]) for r in published]
    assert len(read_sets(folder)) == svc.last_summary["totals"]["sets"] >= 2
    assert read_samples(folder / "samples.csv")[2] == []     # no partial or interleaved line
    sub.close()


def test_a_full_disk_keeps_reps_and_sets_until_space_returns(broker, tmp_path):
    full = {"on": False, "done": False, "shown": False}

    def before_write(path):
        if full["on"]:
            raise OSError(errno.ENOSPC, "No space left on device")

    def fault(svc, n_reps):
        rec = svc.session.recorder if svc.session else None
        if rec is not None and rec.before_write is None:
            rec.before_write = before_write
        if n_reps >= 2 and not full["done"]:
            full["on"] = full["done"] = True
            full["since"], full["reps"] = time.monotonic(), n_reps
        if full["on"] and svc._shown_error and "No space left" in svc._shown_error:
            full["shown"] = full["shown"] or time.monotonic() - full["since"]
        if full["on"] and n_reps >= full["reps"] + 8:     # a set or so later, space returns
            full["on"] = False

    svc, sub, reps, s = _run(broker, tmp_path, fault)
    assert full["done"] and not full["on"]
    assert full["shown"] and full["shown"] < 2.0
    folder = svc.last_folder
    assert len(read_reps(folder)) == len(reps) == svc.last_summary["totals"]["reps"]
    assert len(read_sets(folder)) == svc.last_summary["totals"]["sets"]
    summary = read_summary(folder)
    assert summary["totals"]["reps"] == len(reps) and summary["samples_dropped"] > 0
    _, block, problems = read_samples(folder / "samples.csv")
    assert problems == [] and np.diff(block.t_s).max() > 0.5    # the lost span is a gap in t_s
    errors = [m.payload.decode() for m in sub.messages if m.topic == s.topics.error]
    assert any("No space left on device; reps and sets are kept" in e for e in errors)
    sub.close()


def _block(t0, n=20, rate=100.0):
    t = t0 + np.arange(n) / rate
    return SampleBlock(t, np.tile([0.0, 0.0, 9.81], (n, 1)), np.zeros((n, 3)))


def test_a_full_queue_drops_samples_as_a_gap_and_the_file_stays_valid(tmp_path):
    gate = threading.Event()
    rec = SessionRecorder(tmp_path, SessionMeta(), flush_s=0.05, max_queued_samples=100)
    rec.before_write = lambda path: gate.wait(10)
    for i in range(20):                      # 400 samples into a queue of 100, writer blocked
        rec.samples(_block(i * 0.2))
        time.sleep(0.01)
    time.sleep(1.2)
    assert any("storage stalled" in p for p in rec.problems)
    assert any("samples dropped" in p for p in rec.problems)
    gate.set()
    rec.before_write = None
    time.sleep(0.3)                          # the writer catches up; then samples are taken again
    rec.samples(_block(10.0))
    summary = rec.close()
    _, block, problems = read_samples(rec.folder / "samples.csv")
    assert problems == [] and np.all(np.diff(block.t_s) > 0)
    assert len(block) + summary["samples_dropped"] == 21 * 20
    assert block.t_s[-1] == 10.19 and np.diff(block.t_s).max() > 1.0    # the dropped span: a gap
    assert rec.problems == []


def test_a_disk_stalled_as_the_session_starts_holds_up_nothing(tmp_path):
    gate = threading.Event()
    made: list[SessionRecorder] = []
    starter = threading.Thread(target=lambda: made.append(
        SessionRecorder(tmp_path / "sessions", SessionMeta(), flush_s=0.05, before_write=lambda path: gate.wait(30))))
    starter.start()
    starter.join(10)
    assert not starter.is_alive() and made, "the session start waited for the stalled disk"
    (rec,) = made
    assert not rec.folder.exists()                       # the folder is still being created
    rec.samples(_block(0.0))
    rep = RepEvent(t_s=1.0, set_index=1, rep_in_set=1, completed_s=1.0, start_s=0.0, duration_s=1.0,
                   hinge_depth_deg=40.0, march_height_deg=50.0, evidence={"rule": "test"})
    rec.event(rep, "right")
    time.sleep(1.2)
    assert any("storage stalled" in p for p in rec.problems)
    gate.set()
    summary = rec.close()
    assert summary["totals"]["reps"] == 1 and [r["side"] for r in read_reps(rec.folder)] == ["right"]
    _, block, problems = read_samples(rec.folder / "samples.csv")
    assert problems == [] and len(block) == 20
    assert rec.problems == []


def test_a_session_folder_refused_at_once_raises_and_leaves_no_thread(tmp_path):
    blocker = tmp_path / "ro"
    blocker.write_text("a file: nothing can be created under it")
    with pytest.raises(RecorderError, match="cannot write session files in"):
        SessionRecorder(blocker / "sessions", SessionMeta())
    time.sleep(0.3)
    assert not [t for t in threading.enumerate() if t.name.startswith("recorder-")]


def test_a_read_only_state_dir_still_counts_and_publishes(broker, service, tmp_path):
    blocker = tmp_path / "ro"
    blocker.write_text("a file: nothing can be created under it, even by root")
    svc = service("--source", "sim", "--speed", "0", "--seed", "3")
    svc.args[svc.args.index("--state-dir") + 1] = str(blocker / "state")
    sub = Recorder(broker, f"{svc.base}/#")
    assert svc.start().wait() == 0, svc.log.read_text()
    err = sub.wait_for(lambda m: m.topic == f"{svc.base}/status/error" and b"recording" in m.payload)
    lines = err.payload.decode().split("\n")
    assert any("cannot open the MQTT outbox" in x and "queued in memory" in x for x in lines)
    assert any(x.startswith("recording stopped: cannot write session files") for x in lines)
    ended = json.loads(sub.wait_for(lambda m: b'"phase":"ended"' in m.payload).payload)
    reps = [m for m in sub.messages if m.topic.endswith("/event/rep")]
    assert len(reps) == ended["summary"]["totals"]["reps"] > 10
    assert "Traceback" not in svc.log.read_text()
    sub.close()
