"""The Source protocol over a phone app's stream: readings come in by ``_receive`` (a subclass waits
for them, at most ``poll_s``), are joined into SampleBlocks, and a phone that sends nothing for
``timeout_s`` is "sensor_lost" until its readings flow again; until the first readings come, the
phone counts as lost too. While nothing comes, an empty heartbeat block every half second lets the
service show the status and apply commands."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import numpy as np

from imu.phone.join import Joiner, rate_hz
from imu.samples import OneSensor, SampleBlock, SensorInfo

log = logging.getLogger(__name__)
HEARTBEAT_S = 0.5
DEFAULT_RATE_HZ = 100.0            # said until the phone's own rate is measured from its time stamps


class PhoneStream(OneSensor):
    """Accelerometer (m/s^2, gravity included) and gyroscope (deg/s) readings joined on the
    accelerometer's times; ``add_accel``/``add_gyro`` take them, time in s from the phone's first."""

    def __init__(self, sensor: str, where: str, timeout_s: float = 5.0, poll_s: float = 0.1,
                 max_gap_s: float = 0.25):
        self.info = SensorInfo(sensor=sensor, nominal_rate_hz=DEFAULT_RATE_HZ)
        self.where, self.timeout_s, self.poll_s = where, timeout_s, poll_s
        self.status = "sensor_lost"
        self.joiner = Joiner(max_gap_s)
        self.measured_rate_hz: float | None = None
        self.samples = 0
        self._stop = threading.Event()
        self._last_data_s = time.monotonic()

    # -- for subclasses ------------------------------------------------------------------------
    def _receive(self) -> None:
        """Wait at most ``poll_s`` for readings and hand them to ``add_accel``/``add_gyro``."""
        raise NotImplementedError

    def _missing(self) -> str:
        """Why nothing comes, in a few words for the log (what the user should check)."""
        return "no readings"

    def _shutdown(self) -> None:
        """Release the network resources; called once, from ``close`` or at the end of ``blocks``."""

    def add_accel(self, t_s: np.ndarray, accel_mps2: np.ndarray) -> None:
        self.joiner.add_first(t_s, accel_mps2)

    def add_gyro(self, t_s: np.ndarray, gyro_dps: np.ndarray) -> None:
        self.joiner.add_second(t_s, gyro_dps)

    # -- the Source protocol ---------------------------------------------------------------------
    def blocks(self) -> Iterator[SampleBlock]:
        log.info("%s: waiting for the phone", self.where)
        next_beat, said = 0.0, ""
        try:
            while not self._stop.is_set():
                self._receive()
                t, accel, gyro = self.joiner.take()
                now = time.monotonic()
                if len(t):
                    self._last_data_s = now
                    self._measure(t)
                    if self.status != "ok" and not self._stop.is_set():
                        log.info("%s: readings flowing (%.0f Hz)", self.where, self.info.nominal_rate_hz)
                        self.status, said = "ok", ""
                    self.samples += len(t)
                    yield SampleBlock(t, accel, gyro)
                    continue
                quiet_s = now - self._last_data_s
                if quiet_s >= self.timeout_s and not self._stop.is_set():
                    self.status = "sensor_lost"
                    why = self._missing()
                    if why != said:              # once per reason (the gyroscope is off, the phone left...)
                        said = why
                        log.warning("%s: no readings for %.0f s: %s", self.where, quiet_s, why)
                if now >= next_beat:
                    next_beat = now + HEARTBEAT_S
                    yield SampleBlock.empty()        # the service shows the status, applies commands
        finally:
            self.close()

    def close(self) -> None:
        """Stop from any thread; idempotent. A running ``blocks()`` ends after its current wait."""
        first = not self._stop.is_set()
        self._stop.set()
        self.status = "ended"
        if first:
            self._shutdown()

    def _measure(self, t: np.ndarray) -> None:
        """The phone's own sample rate, from the first readings (what the session records)."""
        if self.measured_rate_hz is None:
            rate = rate_hz(t)
            if rate is not None:
                self.measured_rate_hz = rate
                self.info.nominal_rate_hz = round(rate, 1)
