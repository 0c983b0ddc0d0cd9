"""The live side of the web server inside the real service loop: state, the event stream with its
trace and rep marks, commands through the same validation as MQTT, a port already taken, --help."""
from __future__ import annotations

import csv
import http.client as httpc
import json
import socket
import subprocess
import sys

import pytest
from conftest import LOOPBACK, Recorder, free_port
from run_helpers import CLI
from web_helpers import LiveService, http, post_json


@pytest.fixture
def live(tmp_path):
    svc = LiveService(tmp_path, free_port()).start()
    yield svc
    svc.close()


def wait_for_state(svc: LiveService, pred, tries: int = 2000) -> dict:
    """Poll /api/state until ``pred(state)`` (the server may still be starting)."""
    for _ in range(tries):
        try:
            snap = http(svc.port, "/api/state").json()
        except OSError:
            svc.stop.wait(0.01)
            continue
        if snap.get("state") and pred(snap["state"]):
            return snap
        svc.stop.wait(0.01)
    raise AssertionError("the state never matched")


class Stream:
    """An /api/live reader: one JSON message per ``next()``."""

    def __init__(self, port: int):
        self.conn = httpc.HTTPConnection(LOOPBACK, port, timeout=30)
        self.conn.request("GET", "/api/live")
        self.resp = self.conn.getresponse()

    def next(self) -> dict:
        data = []
        while True:
            line = self.resp.fp.readline().decode()
            if line.startswith("data: "):
                data.append(line[6:])
            elif line == "\n" and data:
                return json.loads("".join(data))

    def until(self, pred) -> tuple[dict, list[dict]]:
        seen = []
        while True:
            msg = self.next()
            seen.append(msg)
            if pred(msg):
                return msg, seen

    def close(self) -> None:
        self.conn.close()


def test_stream_sends_state_trace_and_a_mark_per_rep(live):
    reps = live.truth.sets[0].rep_completion_s
    live.source.advance_to(reps[0] - 1.0)
    first = wait_for_state(live, lambda s: s["running"] and s["t_s"] > reps[0] - 1.5)
    assert first["state"]["reps_in_set"] == 0 and first["state"]["web"]["error"] is None
    stream = Stream(live.port)
    assert stream.resp.status == 200 and stream.resp.headers["Cache-Control"] == "no-store"
    assert stream.resp.headers["Content-Type"] == "text/event-stream"
    hello = stream.next()
    assert hello["full"] is True and hello["marks"] == [] and len(hello["trace"]) > 50
    live.source.advance_to(reps[1] + 1.0)
    last, seen = stream.until(lambda m: m["state"]["reps_in_set"] == 2)
    assert all(not m["full"] for m in seen)
    times = [t for m in [hello, *seen] for t, _ in m["trace"]]
    assert times == sorted(set(times))                         # every point once, in order
    assert [m["rep_in_set"] for m in last["marks"]] == [1, 2]
    for mark, truth in zip(last["marks"], reps):
        assert abs(mark["t_s"] - truth) < 1.0
    rep = last["state"]["last_rep"]
    assert rep["rep_in_set"] == 2 and rep["hinge_depth_deg"] > 25 and rep["march_height_deg"] > 25
    stream.close()


def test_commands_go_through_the_service_and_answer(live):
    s1 = live.truth.sets[0]
    live.source.advance_to(s1.rep_completion_s[-1] + 1.0)    # set 1 done by the athlete, still open
    wait_for_state(live, lambda s: s["reps_in_set"] == s1.reps)
    undo = post_json(live.port, "/api/cmd/undo", {"id": "u1"})
    assert undo.status == 200 and undo.json()["ok"] is True and undo.json()["id"] == "u1"
    after = http(live.port, "/api/state").json()
    assert after["state"]["reps_in_set"] == s1.reps - 1
    assert [m["rep_in_set"] for m in after["marks"]] == list(range(1, s1.reps))
    side = post_json(live.port, "/api/cmd/side", {"side": "right"})
    assert side.status == 200 and http(live.port, "/api/state").json()["state"]["side"] == "right"
    new_set = post_json(live.port, "/api/cmd/new_set", {})
    assert new_set.status == 200
    snap = http(live.port, "/api/state").json()
    assert snap["state"]["in_set"] is False and [(s["set_index"], s["reps"]) for s in snap["sets"]] == [(1, s1.reps - 1)]
    refused = post_json(live.port, "/api/cmd/undo", {})
    assert refused.status == 409 and refused.json()["error"] == "no rep to undo in the current set"
    for name, body, error in [("side", {"side": "up"}, "side must be one of left, right, got 'up'"),
                              ("explode", {}, "unknown command 'explode'; expected one of start, stop, "
                                              "new_set, side, undo, exercise"),
                              ("undo", {"side": "left"}, "command 'undo' takes no side"),
                              ("undo", {"why": 1}, "unknown field(s) in command: why")]:
        bad = post_json(live.port, f"/api/cmd/{name}", body)
        assert bad.status == 400 and bad.json() == {"cmd": name, "ok": False, "error": error}
    big = post_json(live.port, "/api/cmd/new_set", {"id": "x" * 2000})
    assert big.status == 400 and "the limit is 1024" in big.json()["error"]
    stop = post_json(live.port, "/api/cmd/stop", {})
    assert stop.status == 200
    (folder,) = (live.state / "sessions").iterdir()
    with open(folder / "reps.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["counted"] * s1.reps + ["undone"]
    assert json.loads((folder / "summary.json").read_text())["totals"]["reps"] == s1.reps - 1


def test_a_port_already_taken_keeps_counting_and_says_why(broker, service):
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        svc = service("--source", "sim", "--speed", "0", "--web", "--web-host", LOOPBACK, "--web-port", str(port))
        sub = Recorder(broker, f"{svc.base}/state")
        assert svc.start().wait() == 0
    log = svc.log.read_text()
    why = f"cannot listen on {LOOPBACK}:{port}: the port is already in use"
    assert f"web page off: {why}; counting goes on" in log and "Traceback" not in log
    assert len([line for line in log.splitlines() if "web" in line]) == 1
    state = json.loads(sub.topic(f"{svc.base}/state").payload)
    assert state["web"] == {"url": None, "error": why}
    (folder,) = svc.sessions()
    assert json.loads((folder / "summary.json").read_text())["totals"]["reps"] > 10
    sub.close()


def test_help_says_how_to_reach_the_page():
    out = subprocess.run([sys.executable, "-m", "firmware_bridge.cli.hingemarch", "run", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "http://<this Pi>:8080/" in out and "--no-web" in out and "--web-port PORT" in out


def test_a_bad_web_port_is_one_line(tmp_path):
    r = subprocess.run([*CLI, "--source", "sim", "--web-port", "70000", "--state-dir", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr == ("hingemarch run: error: argument --web-port: 70000 is out of range "
                                            "1..65535 (see --help)\n")


def test_a_failing_page_never_stops_counting(tmp_path, monkeypatch, caplog):
    from firmware_bridge.web.live import LiveHub

    def broken(self, *args):
        raise RuntimeError("page bug")
    monkeypatch.setattr(LiveHub, "_feed", broken)
    monkeypatch.setattr(LiveHub, "on_event", broken)
    svc = LiveService(tmp_path, free_port()).start()
    s1 = svc.truth.sets[0]
    svc.source.advance_to(s1.rep_completion_s[-1] + 1.0)
    reps_csv = []
    for _ in range(3000):                                       # until the reps are on disk
        reps_csv = list((svc.state / "sessions").glob("*/reps.csv"))
        if reps_csv and len(reps_csv[0].read_text().splitlines()) == 1 + s1.reps:
            break
        svc.stop.wait(0.01)
    svc.close()                                                 # stop: the session is closed
    folder = reps_csv[0].parent
    assert json.loads((folder / "summary.json").read_text())["totals"]["reps"] == s1.reps
    assert caplog.text.count("web: the live page stopped updating") == 1
    assert "listener failed on rep" in caplog.text
