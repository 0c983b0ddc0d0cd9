"""Helpers for the web tests: raw HTTP, a recorded session, a web server, a source the test paces."""
from __future__ import annotations

import http.client as httpc
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from firmware_bridge.service import config
from firmware_bridge.service.loop import serve
from firmware_bridge.web.app import WebServer
from imu.samples import OneSensor, SampleBlock
from imu.sim import SimSource, simulate_session

HOST = "127.0.0.1"


@dataclass
class Reply:
    status: int
    headers: httpc.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


def http(port: int, path: str, method: str = "GET", headers: dict | None = None,
         body: bytes | None = None) -> Reply:
    """One request with the path sent exactly as given (no normalisation of ``..`` or ``%``)."""
    conn = httpc.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return Reply(r.status, r.headers, r.read())
    finally:
        conn.close()


def read_streamed(port: int, path: str) -> tuple[int, int]:
    """(status, bytes received), reading and dropping 64 KiB at a time."""
    conn = httpc.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("GET", path)
        resp, got = conn.getresponse(), 0
        while chunk := resp.read(64 * 1024):
            got += len(chunk)
        return resp.status, got
    finally:
        conn.close()


def post_json(port: int, path: str, obj, headers: dict | None = None) -> Reply:
    return http(port, path, "POST", {"Content-Type": "application/json", **(headers or {})},
                json.dumps(obj).encode())


def short_sim(seed: int = 5):
    """Two sets (3 and 4 reps) with short rests, no distractions: about 80 s of samples at 100 Hz."""
    return simulate_session(seed, rate_hz=100.0, n_sets=2, reps_per_set=[3, 4], include_distractions=False,
                            rest_range_s=(25.0, 30.0))


def quiet_config(**web) -> config.Config:
    return config.defaults().updated("mqtt", enabled=False).updated("web", enabled=bool(web), host=HOST, **web)


def record_session(state: Path, seed: int = 5) -> Path:
    """A finished session folder, recorded by the real service from a short simulation."""
    service = serve(quiet_config(), SimSource(short_sim(seed), speed=0), state)
    return service.last_folder


class GatedSource(OneSensor):
    """A simulated workout the test paces: samples up to ``advance_to(t_s)`` go out at once, then
    empty blocks (heartbeats, as from a lost sensor) keep the loop turning so commands are applied."""

    def __init__(self, sim, block_s: float = 0.1):
        self.sim, self.info, self.speed, self.status = sim, sim.info, 1.0, "ok"
        self.block_s = block_s
        self._until = 0.0
        self._changed = threading.Condition()
        self._closed = False

    def advance_to(self, t_s: float) -> None:
        with self._changed:
            self._until = t_s
            self._changed.notify_all()

    def blocks(self):
        b, i = self.sim.block, 0
        while not self._closed:
            with self._changed:
                if i < len(b) and b.t_s[i] <= self._until:
                    j = int(min(b.t_s.searchsorted(b.t_s[i] + self.block_s),
                                b.t_s.searchsorted(self._until, "right")))
                    block = SampleBlock(b.t_s[i:j], b.accel_mps2[i:j], b.gyro_dps[i:j])
                    i = max(j, i + 1)
                else:
                    self._changed.wait(0.02)
                    block = SampleBlock.empty()
            yield block

    def close(self) -> None:
        self._closed = True
        self.advance_to(self._until)


class LiveService:
    """``serve()`` in a thread with the web page on a free port, fed by a GatedSource."""

    def __init__(self, tmp_path: Path, port: int, token: str = ""):
        self.source = GatedSource(short_sim())
        self.truth = self.source.sim.truth
        self.port = port
        self.stop = threading.Event()
        self.state = tmp_path / "state"
        cfg = quiet_config(port=port, token=token)
        self.thread = threading.Thread(target=serve, args=(cfg, self.source, self.state),
                                       kwargs={"stop": self.stop}, daemon=True)

    def start(self) -> LiveService:
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.source.close()
        self.thread.join(30)


@pytest.fixture
def web_server():
    """``web_server(sessions_dir, token="")`` -> a started WebServer on a free loopback port."""
    made: list[WebServer] = []

    def make(sessions: Path | None, token: str = "") -> WebServer:
        s = WebServer(HOST, 0, token, sessions).start()
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()
