"""phyphox's remote access, polled: with "Allow remote access" on, the app serves a REST API on the
phone (port 8080 on Android, 80 on iOS). ``/config`` lists the running experiment's buffers,
``/control?cmd=start`` starts the measurement, and ``/get?t=T&x=T|t`` returns each buffer's values
after the first time above T, so each poll carries only what is new; ``status.session`` changes when
the user switches experiments. Documented on the phyphox wiki ("Remote-interface communication")
and in phyphox/phyphox-docs (docs/remote-interface/openapi.yaml). The accelerometer "with g" is in
m/s^2, the gyroscope in rad/s, times in s since the measurement started; the app's server is single
threaded, so requests go one at a time with a pause between.
"""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException

import numpy as np

from analysis.errors import DataError
from imu.phone.stream import PhoneStream

log = logging.getLogger(__name__)
RETRY_S = 1.0                  # between attempts while the phone does not answer
GAP_AFTER_CLEAR_S = 1.0        # the stream jumps this far when the phone's buffers were cleared


@dataclass(frozen=True)
class Buffers:
    """One sensor's buffer names in the running experiment: time, x, y, z."""

    t: str
    x: str
    y: str
    z: str

    @staticmethod
    def parse(text: str, what: str) -> Buffers:
        names = [n.strip() for n in text.split(",")]
        if len(names) != 4 or not all(names):
            raise DataError(f"phyphox {what} buffers: give four names, time,x,y,z (e.g. "
                            f"acc_time,accX,accY,accZ), not {text!r}")
        return Buffers(*names)

    def names(self) -> tuple[str, str, str, str]:
        return self.t, self.x, self.y, self.z


ACCEL_WITH_G = Buffers("acc_time", "accX", "accY", "accZ")    # "Acceleration with g"
GYROSCOPE = Buffers("gyr_time", "gyrX", "gyrY", "gyrZ")       # "Gyroscope"


class _Feed:
    """One sensor's buffers as polled: the last time received (the next request's threshold)."""

    def __init__(self, buffers: Buffers):
        self.buffers = buffers
        self.last_t: float | None = None

    def query(self) -> dict[str, str]:
        b = self.buffers
        if self.last_t is None:
            return {n: "full" for n in b.names()}
        t = repr(self.last_t)
        return {b.t: t, **{n: f"{t}|{b.t}" for n in (b.x, b.y, b.z)}}

    def rows(self, answer: dict) -> tuple[np.ndarray, np.ndarray]:
        """(t, xyz) of the rows all four buffers hold, NaNs (null) dropped; the threshold moves on."""
        cols = [answer.get(n, {}).get("buffer") or [] for n in self.buffers.names()]
        n = min(len(c) for c in cols)
        data = np.array([[np.nan if v is None else v for v in c[:n]] for c in cols], float).reshape(4, n).T
        data = data[np.isfinite(data).all(axis=1)]
        if len(data):
            self.last_t = float(data[-1, 0]) if self.last_t is None else max(self.last_t, float(data[-1, 0]))
        return data[:, 0], data[:, 1:]


class PhyphoxSource(PhoneStream):
    """Polls phyphox at ``url`` (``http://PHONE:8080``) for the accelerometer with g and the gyroscope
    in the buffers named ``accel`` and ``gyro``; the Source protocol over them (imu.phone.stream).
    Starts the measurement if it is not running; a phone that does not answer, or runs an experiment
    without those buffers, is "sensor_lost" until it does."""

    def __init__(self, url: str, accel: Buffers = ACCEL_WITH_G, gyro: Buffers = GYROSCOPE,
                 timeout_s: float = 5.0, poll_s: float = 0.1, request_timeout_s: float = 2.0, **kw):
        super().__init__("phyphox", f"phyphox at {url}", timeout_s, poll_s, **kw)
        self.url = url.rstrip("/")
        self.request_timeout_s = request_timeout_s
        self.accel, self.gyro = _Feed(accel), _Feed(gyro)
        self.session: str | None = None      # phyphox's status.session; None: not connected
        self._last_session: str | None = None  # the one read from last (its thresholds are held)
        self.offset_s = 0.0                  # added to phyphox's times (it restarts at 0 after a clear)
        self._last_s = -np.inf               # latest time handed on, ours
        self._problem = "the phone does not answer"
        self._said = ""
        self.requests = 0

    def _get(self, path: str, params: dict[str, str] | None = None):
        q = f"?{urllib.parse.urlencode(params, quote_via=urllib.parse.quote)}" if params else ""
        self.requests += 1
        with urllib.request.urlopen(self.url + path + q, timeout=self.request_timeout_s) as r:
            return json.loads(r.read())

    def _receive(self) -> None:
        try:
            if self.session is None:
                self._connect()
            if self.session is not None:
                self._poll()
                self._problem = ""
        except (OSError, HTTPException) as e:               # URLError, timeouts, refused, reset
            self._lost(f"the phone does not answer ({getattr(e, 'reason', None) or e})")
        except (ValueError, KeyError, TypeError, AttributeError) as e:   # not JSON, or not its shape
            self._lost(f"the answer is not phyphox's remote access ({type(e).__name__}: {e})")
        wait = self.poll_s if self.session is not None else RETRY_S
        self._stop.wait(wait)

    def _lost(self, problem: str) -> None:
        self.session, self._problem = None, problem
        if problem != self._said:
            log.warning("%s: %s", self.where, problem)
            self._said = problem

    def _connect(self) -> None:
        """Is the right experiment running? Then start it if it is not measuring."""
        names = {b.get("name") for b in self._get("/config").get("buffers", [])}
        missing = [n for f in (self.accel, self.gyro) for n in f.buffers.names() if n not in names]
        if missing:
            self._lost(f"the running experiment has no buffer {', '.join(missing)}: load one with the "
                       "accelerometer with g and the gyroscope (docs/phone.md)")
            return
        status = self._get("/get")["status"]
        if not status.get("measuring") and not self._get("/control", {"cmd": "start"}).get("result"):
            self._lost("phyphox refused to start the measurement")
            return
        session = str(status.get("session"))
        if session != self._last_session:      # a new experiment (or the first): its data from the start
            self._new_session(session)
        self.session = session                 # the same one again: on from where it left off
        log.info("%s: connected, measuring", self.where)
        self._said = ""

    def _new_session(self, session: str) -> None:
        self.session = self._last_session = session
        self.accel.last_t = self.gyro.last_t = None
        if np.isfinite(self._last_s):          # phyphox's clock starts again at 0
            self.offset_s = None

    def _poll(self) -> None:
        answer = self._get("/get", {**self.accel.query(), **self.gyro.query()})
        status, buffers = answer["status"], answer["buffer"]
        if str(status.get("session")) != self.session:       # the user switched experiments
            self._lost("the experiment on the phone changed")
            return
        t_a, accel = self.accel.rows(buffers)
        t_g, gyro = self.gyro.rows(buffers)
        if not len(t_a) and self.accel.last_t is not None and status.get("measuring"):
            last = self._get("/get", {self.accel.buffers.t: ""})["buffer"].get(self.accel.buffers.t, {})
            latest = (last.get("buffer") or [None])[-1]
            if latest is not None and latest < self.accel.last_t:  # cleared on the phone: start afresh
                log.info("%s: the measurement was cleared; continuing after a gap", self.where)
                self._new_session(self.session)
                return
        if self.offset_s is None:              # the first readings after a clear or a new experiment
            firsts = [float(t[0]) for t in (t_a, t_g) if len(t)]
            if not firsts:
                return
            self.offset_s = self._last_s + GAP_AFTER_CLEAR_S - min(firsts)
        if len(t_a):
            self._last_s = max(self._last_s, float(t_a[-1]) + self.offset_s)
        self.add_accel(t_a + self.offset_s, accel)
        self.add_gyro(t_g + self.offset_s, np.degrees(gyro))

    def _missing(self) -> str:
        return self._problem or "the measurement is not running (paused on the phone?)"
