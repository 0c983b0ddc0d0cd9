"""The real-sensor Source: FIFO streaming from an I2C IMU with sensor-clock time stamps.

Each poll reads the FIFO level and bursts out whole frames. Sample k of a FIFO segment is stamped
t0 + k / rate, a line fitted to (sample count, host time) pairs, so stamps follow the chip's own
oscillator (its real rate, measured against the host clock) and not Python's polling jitter.
An overflow, a failed burst or a lost sensor ends the segment: the FIFO is reset, the next segment
is anchored afresh, and the stream shows the gap as a jump in ``t_s`` (also listed in ``gaps``).
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from imu.bus import MAX_TRANSFER_BYTES
from imu.calibration import Calibration
from imu.clock import SystemClock
from imu.detect import detect
from imu.driver import SensorSettings
from imu.errors import BusError, SensorError, SensorNotFound
from imu.samples import OneSensor, SampleBlock, SensorInfo

log = logging.getLogger(__name__)


class RateTracker:
    """Fits host time = a + k / rate_hz over the recent polls of one segment. An observation
    says: at host time t the chip had made n samples, so sample n-1 is about half a period old.
    The rate estimate survives segment restarts (the oscillator does not change)."""

    def __init__(self, nominal_hz: float, window_s: float = 60.0, min_span_s: float = 2.0,
                 tolerance: float = 0.05):
        self.nominal_hz = nominal_hz
        self.rate_hz = nominal_hz
        self.measured = False
        self.window_s, self.min_span_s, self.tolerance = window_s, min_span_s, tolerance
        self._obs: deque[tuple[int, float]] = deque()

    def restart(self) -> None:
        self._obs.clear()

    def observe(self, n_made: int, t_host_s: float) -> None:
        self._obs.append((n_made, t_host_s))
        while self._obs and t_host_s - self._obs[0][1] > self.window_s:
            self._obs.popleft()
        n = np.array([o[0] for o in self._obs], float)
        t = np.array([o[1] for o in self._obs])
        if t[-1] - t[0] >= self.min_span_s and np.ptp(n) > 0:
            slope = np.polyfit(n, t, 1)[0]
            if slope > 0 and abs(1 / slope / self.nominal_hz - 1) < self.tolerance:
                self.rate_hz, self.measured = 1 / slope, True

    def times(self, first: int, count: int) -> np.ndarray:
        period = 1.0 / self.rate_hz
        n = np.array([o[0] for o in self._obs], float)
        t = np.array([o[1] for o in self._obs])
        if not self.measured and len(n) >= 3 and t[-1] - t[0] >= 0.5 and np.ptp(n) > 0:
            slope = np.polyfit(n, t, 1)[0]          # early, rough: better than the nominal rate
            if slope > 0 and abs(1 / slope / self.nominal_hz - 1) < self.tolerance:
                period = slope
        intercept = np.mean(t - 0.5 * period - (n - 1) * period)
        return intercept + (first + np.arange(count)) * period


@dataclass
class Gap:
    reason: str
    after_t_s: float | None          # last sample before the gap (None: at the start)
    before_t_s: float | None = None  # first sample after it (None: not resumed yet)


@dataclass
class SourceStats:
    polls: int = 0
    bursts: int = 0
    samples: int = 0
    retries: int = 0
    overflows: int = 0
    lost: int = 0
    recoveries: int = 0
    errors: list[str] = field(default_factory=list)


class I2cSource(OneSensor):
    """Source protocol (imu.samples) over a bus: detects the chip, configures it from
    ``settings``, streams its FIFO. ``status`` is "ok", "sensor_lost" or "ended". While the sensor
    is lost, ``blocks()`` yields an empty block at each reconnection attempt (every
    ``reconnect_interval_s``), so a single-threaded consumer can report the status."""

    def __init__(self, bus, chip: str = "auto", address: int = 0,
                 settings: SensorSettings = SensorSettings(), *, clock=None,
                 calibration: Calibration | None = None, poll_interval_s: float | None = None,
                 max_burst_bytes: int = MAX_TRANSFER_BYTES, retries: int = 4,
                 retry_base_s: float = 0.002, reconnect_interval_s: float = 0.5,
                 owns_bus: bool = False, end_after_s: float | None = None):
        self.bus, self.settings = bus, settings
        self.clock = clock if clock is not None else SystemClock()
        self.calibration = calibration
        self.max_burst_bytes, self.retries, self.retry_base_s = max_burst_bytes, retries, retry_base_s
        self.reconnect_interval_s = reconnect_interval_s
        self.owns_bus = owns_bus
        self.end_after_s = end_after_s           # session time after which blocks() ends (emulation)
        self.stats = SourceStats()
        self.gaps: list[Gap] = []
        self._stop = threading.Event()
        self._running = False
        found = self._retry(lambda: detect(bus, chip, address), "detect", also=SensorNotFound)
        self.chip, self.address = found.chip, found.address
        self.driver = found.driver_class(bus, found.address, sleep=self.clock.sleep)
        self.applied = self._retry(lambda: self.driver.configure(settings), "configure")
        rate = self.applied.rate_hz
        self.info = SensorInfo(sensor=self.chip, nominal_rate_hz=float(rate),
                               accel_range_g=float(self.applied.accel_range_g),
                               gyro_range_dps=float(self.applied.gyro_range_dps),
                               calibration=calibration.to_dict() if calibration else {})
        capacity_s = self.applied.fifo_capacity_samples / rate
        self.poll_interval_s = poll_interval_s or min(max(0.1, 10 / rate), 0.5 * capacity_s)
        self.tracker = RateTracker(rate)
        self.status = "ok"
        self.t0_s = self.clock.now()            # session time zero on the host clock
        self._segment_n = 0
        self._last_t_s: float | None = None
        self._open_gap: Gap | None = None
        self._next_recover = 0.0                # poll(): next reconnection attempt, host clock

    # -- public ---------------------------------------------------------------------------------
    @property
    def measured_rate_hz(self) -> float | None:
        return self.tracker.rate_hz if self.tracker.measured else None

    def blocks(self) -> Iterator[SampleBlock]:
        self._running = True
        next_poll = self.clock.now() + self.poll_interval_s
        next_recover = next_poll
        try:
            while not self._stop.is_set():
                if self.clock.wait(next_poll - self.clock.now(), self._stop):
                    break
                now = self.clock.now()
                end_s = self.end_after_s
                if end_s is not None and now - self.t0_s >= end_s + self.poll_interval_s:
                    break                                   # (also ends an emulation that is lost)
                next_poll = max(next_poll + self.poll_interval_s, now + 0.2 * self.poll_interval_s)
                if self.status == "sensor_lost":
                    if now >= next_recover and not self._recover():
                        next_recover = now + self.reconnect_interval_s
                        yield SampleBlock.empty()     # a heartbeat: consumers can report the status
                    continue
                block = self._poll()
                if block is not None and len(block):
                    yield block
                elif self.status == "sensor_lost":
                    next_recover = now + self.reconnect_interval_s
                    yield SampleBlock.empty()         # lets a single-threaded consumer see it
                if self.end_after_s is not None and now - self.t0_s >= self.end_after_s:
                    break
        finally:
            self._running = False
            self.status = "ended"
            if self.owns_bus:
                self.bus.close()

    def close(self) -> None:
        """Stop from any thread; idempotent. A running ``blocks()`` ends at its next wait."""
        self._stop.set()
        self.status = "ended"

    def poll(self) -> SampleBlock:
        """One FIFO read outside ``blocks()``, for a chip read alongside another one's stream:
        the new samples, possibly none. A lost chip is tried again every ``reconnect_interval_s``."""
        if self.status == "ended":
            return SampleBlock.empty()
        if self.status == "sensor_lost":
            now = self.clock.now()
            if now < self._next_recover or not self._recover():
                self._next_recover = max(self._next_recover, now + self.reconnect_interval_s)
                return SampleBlock.empty()
        block = self._poll()
        return block if block is not None else SampleBlock.empty()

    # -- internals ------------------------------------------------------------------------------
    def _retry(self, action, what: str, also: type[Exception] = BusError):
        """Run ``action``, retrying bus errors (and ``also``) with exponential backoff; the last
        error propagates."""
        for attempt in range(self.retries + 1):
            try:
                return action()
            except (BusError, also) as e:
                if attempt == self.retries:
                    raise
                self.stats.retries += 1
                log.debug("%s: %s (retry %d)", what, e, attempt + 1)
                if self.clock.wait(self.retry_base_s * 2 ** attempt, self._stop):
                    raise
        raise AssertionError("unreachable")

    def _read_fifo(self):
        """(host time of the FIFO level read, the FIFO read), retried only when the failure
        clocked no data out (a NACK)."""
        for attempt in range(self.retries + 1):
            try:
                t_before = self.clock.now()
                status = self.driver.fifo_status()
                t_host = 0.5 * (t_before + self.clock.now())
                return t_host, self.driver.read_fifo(self.max_burst_bytes, status=status)
            except BusError as e:
                if not e.nack or attempt == self.retries:
                    raise
                self.stats.retries += 1
                if self.clock.wait(self.retry_base_s * 2 ** attempt, self._stop):
                    raise

    def _poll(self) -> SampleBlock | None:
        self.stats.polls += 1
        try:
            t_host, read = self._read_fifo()
        except BusError as e:
            if e.nack:
                self._lose(f"sensor not answering: {e}")
                return None
            self._start_gap(f"bus error during FIFO read: {e}")   # bytes may be gone: realign
            self._reset_fifo()
            return None
        if read.status.overflow or read.status.misaligned:
            self.stats.overflows += read.status.overflow
            self._start_gap("fifo overflow" if read.status.overflow else "fifo misaligned")
            self._reset_fifo()
            return None
        self.stats.bursts += read.bursts
        n = len(read)
        if n == 0:
            return None
        self.tracker.observe(self._segment_n + n, t_host)
        t_s = self.tracker.times(self._segment_n, n) - self.t0_s
        period = 1.0 / self.tracker.rate_hz
        expected = None if self._last_t_s is None else self._last_t_s + period
        if self._segment_n and expected is not None and abs(t_s[0] - expected) < 3 * period:
            # same segment: continue the previous block and slew (at most a quarter period per
            # block) toward the fit, so stamps stay evenly spaced while the fit settles
            t_s = expected + np.clip(t_s[0] - expected, -0.25 * period, 0.25 * period) + np.arange(n) * period
        elif expected is not None and t_s[0] < expected:
            t_s = t_s + (expected - t_s[0])    # never back in time (a refit under load, a new segment)
        self._segment_n += n
        accel, gyro = read.accel_mps2, read.gyro_dps
        if self.calibration is not None:
            accel, gyro = self.calibration.apply(accel, gyro)
        if self._open_gap is not None:
            self._open_gap.before_t_s = float(t_s[0])
            self._open_gap = None
        self._last_t_s = float(t_s[-1])
        self.stats.samples += n
        return SampleBlock(t_s, accel, gyro)

    def _start_gap(self, reason: str) -> None:
        log.warning("%s %s: gap in the stream: %s", self.chip, f"0x{self.address:02X}", reason)
        self.stats.errors.append(reason)
        if self._open_gap is None:
            self._open_gap = Gap(reason, self._last_t_s)
            self.gaps.append(self._open_gap)
        self.tracker.restart()
        self._segment_n = 0

    def _reset_fifo(self) -> None:
        try:
            self._retry(self.driver.reset_fifo, "fifo reset")
        except BusError as e:
            self._lose(f"FIFO reset failed: {e}")

    def _lose(self, reason: str) -> None:
        if self._stop.is_set():
            return
        if self.status != "sensor_lost":
            self.stats.lost += 1
            self._start_gap(f"sensor lost: {reason}")
        self.status = "sensor_lost"

    def _recover(self) -> bool:
        """Is the same chip answering again? Then configure it from scratch and resume."""
        try:
            found = detect(self.bus, self.chip, self.address)
            self.driver.configure(self.settings)
        except SensorError as e:
            log.debug("still lost: %s", str(e).splitlines()[0])
            return False
        assert found.chip == self.chip
        log.warning("%s 0x%02X answering again; reconfigured", self.chip, self.address)
        self.stats.recoveries += 1
        self.tracker.restart()
        self._segment_n = 0
        if not self._stop.is_set():
            self.status = "ok"
        return True

