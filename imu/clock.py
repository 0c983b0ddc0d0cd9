"""Clocks the streaming code runs on: the host's monotonic clock, or one a test drives by hand, or
one running faster than real time for a quick demo. ``wait`` returns True when asked to stop, so
a close() never sits out a sleep."""
from __future__ import annotations

import threading
import time


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def wait(self, timeout_s: float, stop: threading.Event) -> bool:
        return stop.wait(max(0.0, timeout_s))

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class FakeClock:
    """Time moves only when told: ``advance`` by hand, or ``wait``/``sleep`` jump ahead at once."""

    def __init__(self, start_s: float = 1000.0):
        self.t_s = float(start_s)
        self.lock = threading.Lock()

    def now(self) -> float:
        return self.t_s

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.t_s += max(0.0, seconds)

    def wait(self, timeout_s: float, stop: threading.Event) -> bool:
        if stop.is_set():
            return True
        self.advance(timeout_s)
        return stop.is_set()

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)


class ScaledClock(SystemClock):
    """Real time multiplied by ``speed`` (> 1 runs an emulated session faster than life)."""

    def __init__(self, speed: float = 1.0):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._t0 = time.monotonic()

    def now(self) -> float:
        return self._t0 + (time.monotonic() - self._t0) * self.speed

    def wait(self, timeout_s: float, stop: threading.Event) -> bool:
        return stop.wait(max(0.0, timeout_s) / self.speed)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds / self.speed)
