"""The two phone apps as their documented protocols, on loopback, moved by a simulated workout: the
only emulated thing in the phone tests (the real receiver and client code runs unchanged).

``SensorLoggerApp``: the app's HTTP push as tszheichoi/awesome-sensor-logger PUSHING.md documents it:
one POST per batch period of ``{"messageId", "sessionId", "deviceId", "payload": [{"name", "time"
(epoch ns), "values": {"x", "y", "z"}}]}``; Android sends "totalacceleration", "accelerometer"
(without gravity), "gravity" and "gyroscope" (rad/s), an iPhone (with "Standardise Units & Frames")
"accelerometer" without gravity, "gravity" and "gyroscope". Each sensor has its own time stamps.

``PhyphoxApp``: phyphox's remote-access server as the phyphox wiki and phyphox-docs openapi.yaml
document it: single threaded; ``/config``, ``/meta``, ``/time``, ``/control?cmd=start|stop|clear``
(a clear empties the buffers and starts the time again at 0, the same experiment session),
``/get`` with ``full``, empty (last value), ``T`` and ``T|ref`` thresholds, values to 8 significant
digits, NaN as null; an experiment holding "Acceleration with g" and "Gyroscope" buffers.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qsl, urlsplit

import numpy as np

GYRO_LAG_S = 0.003        # the gyroscope's own time stamps, a little after the accelerometer's
EPOCH_NS = 1_764_590_000_000_000_000


def _gravity(t: np.ndarray, accel: np.ndarray, tau_s: float = 0.3) -> np.ndarray:
    """The phone's gravity sensor: its fusion's slow part of the acceleration (a first-order low-pass)."""
    out = np.empty_like(accel)
    g = accel[0]
    for i in range(len(t)):
        dt = t[i] - t[i - 1] if i else 0.0
        g = g + (accel[i] - g) * (dt / (tau_s + dt))
        out[i] = g
    return out


def _xyz(v) -> dict:
    return {"x": float(v[0]), "y": float(v[1]), "z": float(v[2])}


class SensorLoggerApp:
    """Pushes a simulated session to ``url`` in batches of ``batch_s``, at ``speed`` x real time."""

    def __init__(self, sim, url: str, platform: str = "android", batch_s: float = 0.5, speed: float = 20.0,
                 resend_every: int = 0, off: tuple[str, ...] = ()):
        self.url, self.platform, self.batch_s, self.speed = url, platform, batch_s, speed
        self.off = off                        # sensors turned off in the app, e.g. ("gyroscope",)
        self.resend_every = resend_every      # every Nth message is sent twice (a retry after a lost answer)
        b = sim.block
        self.t = b.t_s
        self.accel = b.accel_mps2
        self.gravity = _gravity(b.t_s, b.accel_mps2)
        self.t_gyro = b.t_s + GYRO_LAG_S
        self.gyro_rads = np.radians(np.stack([np.interp(self.t_gyro, b.t_s, b.gyro_dps[:, i]) for i in range(3)], axis=1))
        self.session_id, self.device_id = str(uuid.uuid4()), str(uuid.uuid4())
        self.statuses: list[int] = []
        self.sent = 0
        self.pause_at_s: float | None = None     # stop pushing from this session time on, until resume()
        self._resume = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def messages(self):
        """(session time at which the batch is complete, body) for the whole session."""
        ends = np.arange(self.batch_s, self.t[-1] + self.batch_s + 1e-9, self.batch_s)
        for k, end in enumerate(ends):
            payload = []
            acc = (self.t >= end - self.batch_s) & (self.t < end)
            gyr = (self.t_gyro >= end - self.batch_s) & (self.t_gyro < end)

            def add(name, times, values, mask):
                if name in self.off:
                    return
                payload.extend({"name": name, "time": EPOCH_NS + int(round(t * 1e9)), "values": _xyz(v)}
                               for t, v in zip(times[mask], values[mask]))
            if self.platform == "android":
                add("totalacceleration", self.t, self.accel, acc)
                add("accelerometer", self.t, self.accel - self.gravity, acc)
            else:
                add("accelerometer", self.t, self.accel - self.gravity, acc)
            add("gravity", self.t, self.gravity, acc)
            add("gyroscope", self.t_gyro, self.gyro_rads, gyr)
            payload.append({"name": "battery", "time": EPOCH_NS + int(end * 1e9),
                            "values": {"batteryLevel": 0.8, "batteryState": "unplugged", "lowPowerMode": False}})
            yield float(end), json.dumps({"messageId": k, "sessionId": self.session_id,
                                          "deviceId": self.device_id, "payload": payload}).encode()

    def post(self, body: bytes, content_type: str = "application/json") -> int:
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": content_type}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def run(self) -> None:
        wall0 = time.monotonic()
        paused_s = 0.0
        for k, (end, body) in enumerate(self.messages()):
            if self.pause_at_s is not None and end >= self.pause_at_s:
                held = time.monotonic()
                self._resume.wait()
                paused_s += time.monotonic() - held
                self.pause_at_s = None
            wait = wall0 + paused_s + end / self.speed - time.monotonic()
            if self._stopped.wait(max(wait, 0.0)):
                return
            self.statuses.append(self.post(body))
            self.sent += 1
            if self.resend_every and k % self.resend_every == 0:
                self.statuses.append(self.post(body))

    def start(self) -> SensorLoggerApp:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def resume(self) -> None:
        self._resume.set()

    def stop(self) -> None:
        """The recording is stopped in the app: no more pushes."""
        self._stopped.set()
        self._resume.set()
        self.join()

    @property
    def done(self) -> bool:
        """Every message of the session sent (and answered)."""
        return self._thread is not None and not self._thread.is_alive()

    def join(self, timeout_s: float = 60.0) -> None:
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the emulated app did not finish its session"


def _json_values(values: np.ndarray) -> list:
    """A buffer as /get sends it: NaN and infinities as null."""
    out = values.tolist()
    if not np.isfinite(values).all():
        out = [v if np.isfinite(v) else None for v in out]
    return out


class PhyphoxApp:
    """phyphox with remote access on, running an experiment with the accelerometer with g and the
    gyroscope, fed by a simulated session at ``speed`` x real time once the measurement starts."""

    ACCEL = ("acc_time", "accX", "accY", "accZ")
    GYRO = ("gyr_time", "gyrX", "gyrY", "gyrZ")

    def __init__(self, sim, speed: float = 20.0, port: int = 0):
        b = sim.block
        t_gyro = b.t_s + GYRO_LAG_S
        gyro = np.radians(np.stack([np.interp(t_gyro, b.t_s, b.gyro_dps[:, i]) for i in range(3)], axis=1))
        self.raw = {"acc": (b.t_s, b.accel_mps2), "gyr": (t_gyro, gyro)}
        self.base_s = 0.0                    # the workout's time at which the measurement (re)started
        self._fill()
        self.speed = speed
        self.measuring = False
        self.session = uuid.uuid4().hex[:6]
        self.experiment_s = 0.0              # experiment time when the current run started
        self.started_wall: float | None = None
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self._server: HTTPServer | None = None
        self.port = port
        self.serve()

    # -- the phone's state -----------------------------------------------------------------------
    def _fill(self) -> None:
        """The buffers' contents from ``base_s`` on, in experiment time, as the app sends them."""
        sig8 = np.vectorize(lambda v: float(f"{v:.8g}"), otypes=[float])
        self.data = {}
        for key, (t, xyz) in self.raw.items():
            keep = t >= self.base_s
            self.data[key] = (sig8(t[keep] - self.base_s), sig8(xyz[keep]))

    def now_s(self) -> float:
        """Experiment time: seconds measured so far (pauses skipped)."""
        if not self.measuring:
            return self.experiment_s
        return self.experiment_s + (time.monotonic() - self.started_wall) * self.speed

    def buffers(self) -> dict[str, np.ndarray]:
        now = self.now_s()
        out = {}
        for names, (t, xyz) in ((self.ACCEL, self.data["acc"]), (self.GYRO, self.data["gyr"])):
            n = int(np.searchsorted(t, now, side="right"))
            out[names[0]] = t[:n]
            for i, name in enumerate(names[1:]):
                out[name] = xyz[:n, i]
        return out

    def control(self, cmd: str) -> bool:
        with self.lock:
            if cmd == "start" and not self.measuring:
                self.measuring, self.started_wall = True, time.monotonic()
            elif cmd == "stop" and self.measuring:
                self.experiment_s, self.measuring = self.now_s(), False
            elif cmd == "clear":                 # empties the buffers; the time starts again at 0
                self.base_s += self.now_s()
                self.experiment_s, self.started_wall = 0.0, time.monotonic()
                self._fill()
            elif cmd not in ("start", "stop"):
                return False
            return True

    # -- the server ------------------------------------------------------------------------------
    def answer(self, path: str, query: list[tuple[str, str]]) -> tuple[int, dict | list]:
        self.requests.append(path + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else ""))
        if path == "/config":
            names = self.ACCEL + self.GYRO
            return 200, {"crc32": "5a1d0c3", "title": "Acceleration and rotation", "localTitle": "Acceleration and rotation",
                         "category": "Raw Sensors", "localCategory": "Raw Sensors",
                         "buffers": [{"name": n, "size": 0} for n in names],
                         "inputs": [{"source": "accelerometer", "outputs": [{"x": "accX"}, {"y": "accY"}, {"z": "accZ"},
                                                                           {"t": "acc_time"}]},
                                    {"source": "gyroscope", "outputs": [{"x": "gyrX"}, {"y": "gyrY"}, {"z": "gyrZ"},
                                                                       {"t": "gyr_time"}]}],
                         "export": [{"set": "Accelerometer", "sources": [{"label": "Time (s)", "buffer": "acc_time"}]}]}
        if path == "/meta":
            return 200, {"version": "1.2.1", "build": "1020109", "fileFormat": "1.19", "deviceModel": "Emulated"}
        if path == "/time":
            return 200, [{"event": "START", "experimentTime": 0.0, "systemTime": time.time()}] if self.started_wall else []
        if path == "/control":
            return 200, {"result": self.control(dict(query).get("cmd", ""))}
        if path == "/get":
            return self.get(query)
        return 404, {"error": "not found"}

    def get(self, query: list[tuple[str, str]]) -> tuple[int, dict]:
        with self.lock:
            data = self.buffers()
            status = {"session": self.session, "measuring": self.measuring, "timedRun": False, "countDown": 0}
        out = {}
        for name, value in query:
            if name not in data:
                continue                        # unknown buffers are skipped
            values = data[name]
            if value == "":
                values, mode = values[-1:], "single"
            elif value == "full":
                mode = "full"
            else:
                threshold, _, ref = value.partition("|")
                try:
                    limit = float(threshold)
                except ValueError:
                    return 400, {"error": f"threshold {threshold!r} is not a number"}
                if ref and ref not in data:
                    return 400, {"error": f"no buffer {ref!r}"}
                first = int(np.searchsorted(data[ref or name], limit, side="right"))   # a time axis: sorted
                values, mode = values[first:], "partial"
            out[name] = {"size": 0, "updateMode": mode, "buffer": _json_values(values)}
        return 200, {"buffer": out, "status": status}

    def serve(self) -> None:
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                code, body = app.answer(parts.path, parse_qsl(parts.query, keep_blank_values=True))
                raw = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args) -> None:
                pass

        self._server = HTTPServer(("127.0.0.1", self.port), Handler)    # single threaded, as the app's
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def vanish(self) -> None:
        """The phone leaves the network (it keeps measuring)."""
        self._server.shutdown()
        self._server.server_close()

    def come_back(self) -> None:
        self.serve()

    def close(self) -> None:
        self.vanish()
