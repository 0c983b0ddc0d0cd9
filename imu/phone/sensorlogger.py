"""Sensor Logger's live HTTP push, received: the app POSTs a JSON message every batch period to the
URL typed in its settings, ``{"messageId", "sessionId", "deviceId", "payload": [reading, ...]}``,
each reading ``{"name", "time" (UTC epoch ns), "values": {"x", "y", "z"}}``. Documented in the app's
own repository (tszheichoi/awesome-sensor-logger, PUSHING.md; units in UNITS.md, frames in
CROSSPLATFORM.md): accelerations in m/s^2, gyroscope in rad/s. Android sends "totalacceleration"
(gravity included) next to "accelerometer" (without); an iPhone sends "accelerometer" (without
gravity) and "gravity", added up here, and needs "Standardise Units & Frames" on so its axes are
Android's (the iOS default flips the sign of both). A body that is not such a message is answered
400 and logged in one line; the readings of every other message are kept.
"""
from __future__ import annotations

import json
import logging
import math
import queue
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from analysis.errors import DataError
from imu.errors import PhoneError
from imu.phone.join import Joiner
from imu.phone.stream import PhoneStream

log = logging.getLogger(__name__)
MOTION = ("totalacceleration", "accelerometer", "gravity", "gyroscope")
MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_PORT = 8000


@dataclass
class Message:
    """The motion readings of one push: name -> (time ns since epoch, (n, 3) x, y, z)."""

    readings: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    skipped: int = 0                  # readings of a motion sensor that were not well formed
    problem: str = ""                 # the first of them, for the log


def _reading(item) -> tuple[str, int, tuple[float, float, float]] | None:
    """(name, time ns, xyz) of a motion reading; None for another sensor's; ValueError if malformed."""
    if not isinstance(item, dict):
        raise ValueError(f"a reading is {type(item).__name__}, not an object")
    name = item.get("name")
    if name not in MOTION:
        return None
    t, values = item.get("time"), item.get("values")
    if isinstance(t, bool) or not isinstance(t, (int, float, str)) or not isinstance(values, dict):
        raise ValueError(f"{name}: needs a numeric \"time\" and \"values\" {{x, y, z}}")
    t_ns = t if isinstance(t, int) else int(t) if isinstance(t, str) and t.strip().isdigit() else int(float(t))
    xyz = tuple(values.get(k) for k in "xyz")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in xyz):
        raise ValueError(f"{name}: x, y, z must be finite numbers, got {xyz}")
    return name, t_ns, xyz


def parse_message(body: bytes) -> Message:
    """The motion readings of one pushed body; DataError (one line) if it is not a push message."""
    try:
        msg = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"not JSON ({e})") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("payload"), list):
        raise DataError("not a Sensor Logger message: no \"payload\" list")
    out, rows = Message(), {}
    for item in msg["payload"]:
        try:
            r = _reading(item)
        except (ValueError, OverflowError) as e:
            out.skipped += 1
            out.problem = out.problem or str(e)
            continue
        if r is not None:
            rows.setdefault(r[0], []).append(r[1:])
    for name, got in rows.items():
        out.readings[name] = (np.array([g[0] for g in got], dtype=np.int64), np.array([g[1] for g in got], float))
    return out


class SensorLoggerSource(PhoneStream):
    """Listens on ``port`` (every network; 0 picks a free one, see ``port``) for Sensor Logger's
    pushes; the Source protocol over them (imu.phone.stream). Opening fails (PhoneError) only if
    the port cannot be had."""

    def __init__(self, port: int = DEFAULT_PORT, host: str = "0.0.0.0", timeout_s: float = 5.0, **kw):
        super().__init__("sensorlogger", f"Sensor Logger on port {port}", timeout_s, **kw)
        self._inbox: queue.Queue[Message] = queue.Queue()
        self._t0_ns: int | None = None
        self._has_total = False
        self._linear = Joiner()             # an iPhone's acceleration without gravity, + gravity
        self.received = self.rejected = 0
        self.seen: set[str] = set()
        try:
            self._server = ThreadingHTTPServer((host, port), _handler(self))
        except OSError as e:
            raise PhoneError(f"sensorlogger: cannot listen on port {port}: {e.strerror or e}") from None
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.where = f"Sensor Logger on port {self.port}"
        threading.Thread(target=self._server.serve_forever, name="sensorlogger", daemon=True).start()

    def accept(self, body: bytes) -> Message:
        """One pushed body (from the server's threads): queued, or DataError if it is not a message."""
        try:
            msg = parse_message(body)
        except DataError as e:
            self.rejected += 1
            log.warning("%s: body refused: %s", self.where, e)
            raise
        if msg.skipped:
            log.warning("%s: %d reading(s) skipped: %s", self.where, msg.skipped, msg.problem)
        self.received += 1
        self._inbox.put(msg)
        return msg

    def _receive(self) -> None:
        try:
            msgs = [self._inbox.get(timeout=self.poll_s)]
        except queue.Empty:
            return
        while True:
            try:
                msgs.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        for msg in msgs:
            self._add(msg)

    def _add(self, msg: Message) -> None:
        r = msg.readings
        self.seen.update(r)
        if not r:
            return
        if self._t0_ns is None:
            self._t0_ns = int(min(t.min() for t, _ in r.values()))

        def rel(t_ns: np.ndarray) -> np.ndarray:
            return (t_ns - self._t0_ns) / 1e9

        self._has_total = self._has_total or "totalacceleration" in r
        if "totalacceleration" in r:
            self.add_accel(rel(r["totalacceleration"][0]), r["totalacceleration"][1])
        elif not self._has_total:           # an iPhone: acceleration without gravity + gravity
            for name, add in (("accelerometer", self._linear.add_first), ("gravity", self._linear.add_second)):
                if name in r:
                    add(rel(r[name][0]), r[name][1])
            t, linear, gravity = self._linear.take()
            self.add_accel(t, linear + gravity)
        if "gyroscope" in r:
            self.add_gyro(rel(r["gyroscope"][0]), np.degrees(r["gyroscope"][1]))

    def _missing(self) -> str:
        if not self.received:
            return (f"is Sensor Logger recording, with HTTP Push on to http://THIS-HOST:{self.port}/ "
                    "(docs/phone.md)?")
        lacking = [s for s in ("gyroscope", "accelerometer") if s not in self.seen]
        if lacking:
            return f"its pushes carry no {' or '.join(lacking)}: turn {' and '.join(lacking)} on in the app"
        return "the phone stopped pushing (recording stopped, out of Wi-Fi, or the app in the background?)"

    def _shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(source: SensorLoggerSource):
    class Handler(BaseHTTPRequestHandler):
        """POST: one pushed message (200, or 400 with the reason); GET: a line saying who listens."""

        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY_BYTES:
                self._answer(413 if length > 0 else 400, "need a Content-Length up to 16 MB\n", close=True)
                return
            try:
                source.accept(self.rfile.read(length))
            except DataError as e:
                self._answer(400, f"{e}\n")
                return
            self._answer(200, "ok\n")

        def do_GET(self) -> None:
            self._answer(200, f"hingemarch: Sensor Logger HTTP Push is received here (POST); "
                              f"{source.received} message(s) so far\n")

        def _answer(self, code: int, text: str, close: bool = False) -> None:
            body = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:
            log.debug("%s: %s", source.where, format % args)

    return Handler
