"""``hingemarch run`` as a real process against a real broker: a whole simulated session, commands,
SIGTERM, SIGKILL (files readable, last will, recovery on the next start), an unwritable folder."""
from __future__ import annotations

import json
import signal
import subprocess
import time

import numpy as np
from conftest import Recorder
from run_helpers import CLI

from analysis.pipeline import analyze
from firmware_bridge.store.folder import read_reps
from firmware_bridge.store.samples import SessionMeta, read_samples, write_samples
from imu.samples import SampleBlock
from imu.sim import simulate_session


def test_whole_simulated_session_is_published_and_recorded(broker, service):
    svc = service("--source", "sim", "--speed", "0", "--seed", "3")
    sub = Recorder(broker, f"{svc.base}/#")
    assert svc.start().wait() == 0, svc.log.read_text()
    sub.topic(f"{svc.base}/status", payload="offline")
    events = [json.loads(m.payload) for m in sub.messages if "/event/" in m.topic]
    assert events[0]["phase"] == "started" and events[-1]["phase"] == "ended"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert len({e["session_id"] for e in events}) == 1
    reps = [e for e in events if e["kind"] == "rep"]
    summary = events[-1]["summary"]
    assert len(reps) == summary["totals"]["reps"] > 10
    assert all(m.qos == 1 for m in sub.messages if "/event/" in m.topic)
    # the session folder holds the same reps and summary
    (folder,) = svc.sessions()
    assert folder.name == events[0]["session_id"]
    on_disk = json.loads((folder / "summary.json").read_text())
    assert on_disk["totals"] == summary["totals"] and on_disk["recovered_after_crash"] is False
    # the retained tiles and state are what a dashboard opened now would show
    late = Recorder(broker, f"{svc.base}/value/#")
    assert late.topic(f"{svc.base}/value/session").payload == b"stopped"
    assert late.topic(f"{svc.base}/value/depth_deg").payload == f"{reps[-1]['hinge_depth_deg']:.1f}".encode()
    late.close()
    sub.close()


def _cmd(sub: Recorder, base: str, name: str, payload: str, req_id: str) -> dict:
    body = json.dumps({"id": req_id, **({"side": payload} if payload else {})})
    sub.client.publish(f"{base}/cmd/{name}", body, qos=1)
    return json.loads(sub.wait_for(lambda m: m.topic == f"{base}/reply"
                                   and json.loads(m.payload)["id"] == req_id, timeout_s=10).payload)


def test_commands_drive_a_running_service(broker, service):
    svc = service("--source", "sim", "--speed", "20", "--seed", "4")
    sub = Recorder(broker, f"{svc.base}/#")
    svc.start()
    sub.topic(f"{svc.base}/status", payload="online", timeout_s=15)
    assert _cmd(sub, svc.base, "side", "right", "c1")["ok"]
    sub.topic(f"{svc.base}/value/side", payload="right")
    first = json.loads(sub.topic(f"{svc.base}/event/rep", timeout_s=30).payload)
    undo = _cmd(sub, svc.base, "undo", "", "c2")
    assert undo["ok"] and undo["session_id"] == first["session_id"]
    undone = json.loads(sub.topic(f"{svc.base}/event/undo").payload)
    assert undone["set_index"] == first["set_index"]
    sub.client.publish(f"{svc.base}/cmd", b"{not json", qos=1)          # logged and ignored
    assert not json.loads(sub.wait_for(lambda m: b"not valid JSON" in m.payload).payload)["ok"]
    assert _cmd(sub, svc.base, "start", "", "c3")["error"].endswith("is already running")
    assert _cmd(sub, svc.base, "stop", "", "c4")["ok"]
    ended = json.loads(sub.wait_for(lambda m: b'"phase":"ended"' in m.payload).payload)
    assert ended["session_id"] == first["session_id"]
    sub.topic(f"{svc.base}/value/session", payload="stopped")
    assert _cmd(sub, svc.base, "undo", "", "c5")["error"] == "no session is running"
    assert _cmd(sub, svc.base, "start", "", "c6")["ok"]
    again = json.loads(sub.wait_for(lambda m: b'"phase":"started"' in m.payload
                                    and first["session_id"].encode() not in m.payload).payload)
    assert again["side"] == "right" and again["seq"] == 1
    svc.proc.send_signal(signal.SIGTERM)
    assert svc.wait(20) == 0
    sub.topic(f"{svc.base}/status", payload="offline")
    assert len(svc.sessions()) == 2 and all((f / "summary.json").exists() for f in svc.sessions())
    sub.close()


def test_sigkill_leaves_readable_files_and_the_next_start_closes_the_session(broker, service, tmp_path):
    svc = service("--source", "sim", "--speed", "1", "--seed", "5")
    sub = Recorder(broker, f"{svc.base}/#", session=True)
    svc.start()
    started = json.loads(sub.wait_for(lambda m: b'"phase":"started"' in m.payload, timeout_s=20).payload)
    time.sleep(3.5)
    svc.proc.send_signal(signal.SIGKILL)
    killed_unix_s = time.time()
    svc.proc.wait()
    sub.topic(f"{svc.base}/status", payload="offline", timeout_s=5)      # the last will
    (folder,) = svc.sessions()
    assert not (folder / "summary.json").exists()
    meta, block, problems = read_samples(folder / "samples.csv", skip_bad_rows=True)
    t_kill_s = killed_unix_s - started["clock"]["unix_s_at_t0"]
    assert meta.session_id == started["session_id"]
    assert block.t_s[-1] >= t_kill_s - 1.3, (block.t_s[-1], t_kill_s)  # 1 s flush + one 0.1 s block
    # the next start (same device, same state dir): the unfinished session is closed, and said so
    still = tmp_path / "still.csv"        # the next run only needs to start: replay 2 s of standing
    t = np.arange(0, 2.0, 0.01)
    write_samples(still, SessionMeta(), SampleBlock(t, np.tile([0, 0, 9.81], (len(t), 1)), np.zeros((len(t), 3))))
    again = service("--source", f"replay:{still}", "--speed", "0", device_id=svc.device_id, prefix=svc.prefix)
    assert again.start().wait() == 0
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["recovered_after_crash"] is True and summary["samples"] == len(block)
    rec = json.loads(sub.wait_for(lambda m: b'"phase":"recovered"' in m.payload).payload)
    assert rec["session_id"] == started["session_id"] and rec["seq"] == 0
    sub.close()


def test_unwritable_session_folder_is_reported_and_counting_goes_on(broker, service):
    svc = service("--source", "sim", "--speed", "0", "--seed", "3")
    svc.state_dir.mkdir(parents=True)
    (svc.state_dir / "sessions").write_text("a file where the sessions folder should be")
    sub = Recorder(broker, f"{svc.base}/#")
    assert svc.start().wait() == 0
    err = sub.wait_for(lambda m: m.topic == f"{svc.base}/status/error" and m.payload).payload.decode()
    assert err.startswith("recording stopped: cannot write session files in")
    assert "recording stopped" in svc.log.read_text()
    assert len([m for m in sub.messages if m.topic.endswith("/event/rep")]) > 10
    sub.close()


def test_a_full_disk_mid_session_is_reported_and_counting_goes_on(broker, service):
    svc = service("--source", "sim", "--speed", "0", "--seed", "3")
    sub = Recorder(broker, f"{svc.base}/#")
    assert svc.start(max_file_bytes=1_500_000).wait() == 0     # samples.csv outgrows it mid-session
    err = sub.wait_for(lambda m: m.topic == f"{svc.base}/status/error" and m.payload).payload.decode()
    assert err.startswith("cannot write session files in") and "File too large" in err
    assert "samples are dropped" in err and err in svc.log.read_text()
    ended = json.loads(sub.wait_for(lambda m: b'"phase":"ended"' in m.payload).payload)
    reps = [m for m in sub.messages if m.topic.endswith("/event/rep")]
    assert len(reps) == ended["summary"]["totals"]["reps"] > 10   # every rep still published
    (folder,) = svc.sessions()
    assert 1_000_000 < (folder / "samples.csv").stat().st_size <= 1_500_000
    # the small files still had room: every rep is on disk, and no file holds a partial line
    assert len(read_reps(folder)) == len(reps)
    assert read_samples(folder / "samples.csv")[2] == []
    assert ended["summary"]["samples_dropped"] > 0
    sub.close()


def test_bad_source_and_config_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[mqtt]\nport = 0\nprotocol = "4"\n')
    r = subprocess.run([*CLI, "--config", str(bad), "--source", "sim"], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "mqtt.port" in r.stderr and "mqtt.protocol" in r.stderr
    r = subprocess.run([*CLI, "--source", "usb", "--state-dir", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown source 'usb'" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([*CLI, "--source", "replay:/nonexistent.csv", "--state-dir", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_replay_and_emulated_chip_feed_the_same_outputs(broker, service, tmp_path):
    sim = simulate_session(3, rate_hz=200.0)
    recording = tmp_path / "recorded.csv"
    write_samples(recording, SessionMeta(sensor="simulated", nominal_rate_hz=200.0), sim.block)
    _, block, _ = read_samples(recording)
    batch = analyze(block.t_s, block.accel_mps2, block.gyro_dps, placement="thigh")
    replay = service("--source", f"replay:{recording}", "--speed", "0")
    sub = Recorder(broker, f"{replay.base}/event/rep")
    assert replay.start().wait() == 0
    (folder,) = replay.sessions()
    live = [json.loads(m.payload)["completed_s"] for m in sub.messages]
    assert live == [e.completed_s for e in batch if e.kind == "rep"]        # streamed == batch
    assert json.loads((folder / "summary.json").read_text())["totals"]["reps"] == len(live) > 10
    sub.close()

    # the real MPU-6050 driver stack on an emulated chip: same outputs, sensor named in the session
    emu = service("--source", "emulated:mpu6050", "--speed", "10", "--seed", "3")
    sub = Recorder(broker, f"{emu.base}/#")
    emu.start()
    started = json.loads(sub.wait_for(lambda m: b'"phase":"started"' in m.payload, timeout_s=20).payload)
    assert started["sensor"] == "mpu6050"
    sub.wait_for(lambda m: m.topic.endswith("/state") and json.loads(m.payload)["source_t_s"] > 10, timeout_s=20)
    emu.proc.send_signal(signal.SIGTERM)
    assert emu.wait(20) == 0
    ended = json.loads(sub.wait_for(lambda m: b'"phase":"ended"' in m.payload).payload)
    assert ended["summary"]["sensor"] == "mpu6050" and ended["summary"]["samples"] > 1500
    sub.close()


def test_an_uncalibrated_sensor_counts_and_says_so_on_status_error(broker, service, tmp_path):
    """A recording read 15 % high (an uncalibrated chip): the reps still count, and the live
    status/error and state say that the resting accelerometer is far from 1 g."""
    sim = simulate_session(3, rate_hz=100.0, n_sets=1, reps_per_set=[5], include_distractions=False)
    recording = tmp_path / "uncalibrated.csv"
    write_samples(recording, SessionMeta(sensor="simulated", nominal_rate_hz=100.0),
                  SampleBlock(sim.block.t_s, sim.block.accel_mps2 * 1.15, sim.block.gyro_dps))
    svc = service("--source", f"replay:{recording}", "--speed", "0")
    sub = Recorder(broker, f"{svc.base}/#")
    assert svc.start().wait() == 0, svc.log.read_text()
    errors = [m.payload.decode() for m in sub.messages if m.topic == f"{svc.base}/status/error"]
    assert any("from 1 g" in e for e in errors)
    states = [json.loads(m.payload) for m in sub.messages if m.topic == f"{svc.base}/state"]
    assert any(any("from 1 g" in p for p in s.get("problems", [])) for s in states)
    assert len([m for m in sub.messages if m.topic == f"{svc.base}/event/rep"]) == 5
    assert "analysis: the accelerometer reads" in svc.log.read_text()
    sub.close()
