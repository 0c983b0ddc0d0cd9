"""Average the raw stream into fixed 20 ms buckets (the analysis rate), whatever the sensor rate.

Bucket k holds the samples with ``k*dt <= t_s < (k+1)*dt``; it is emitted once a later sample shows it
is complete, so the output does not depend on how the input was split into blocks. The boxcar mean
is the anti-alias filter, and the mean angular rate times dt is the exact rotation over the bucket.
A hole shorter than ``max_hole_s`` (jitter at low rates, a few dropped samples) is filled by
linear interpolation between the buckets either side, so a swing keeps its rotation; a longer hole
is a gap, reported with the first bucket after it. A sample stamped earlier than one
already seen is dropped and counted (``dropped``): time never runs backwards in the analysis.
"""
from __future__ import annotations

import math

import numpy as np

ANALYSIS_RATE_HZ = 50.0   # the analysis rate: every stage after the resampler runs on 20 ms buckets


class Bucketer:
    """Streaming 20 ms boxcar resampler. ``feed`` returns (t_end_s, accel, gyro, gap_before).

    It works in plain floats, sample by sample: a live block holds a few samples, for which a
    Python loop costs less than the dozens of numpy calls a vectorised version needs. The open
    bucket's sum is kept running, added to in sample order, so every bucket is summed from the
    same samples in the same order however the stream was split."""

    def __init__(self, rate_hz: float = ANALYSIS_RATE_HZ, max_hole_s: float = 0.5):
        self.dt_s = 1.0 / rate_hz
        self.max_fill = max(0, math.ceil(max_hole_s * rate_hz) - 1)   # empty buckets filled at most
        self._k: int | None = None    # index of the bucket being filled (None: no sample yet)
        self._sum = [0.0] * 6         # its running sum (accel xyz, gyro xyz) and sample count
        self._n = 0
        self._last_k: int | None = None   # index of the last bucket emitted
        self._last: list[float] = []      # its mean (6 floats)
        self._t_max = -math.inf       # latest sample time seen
        self.dropped = 0              # samples dropped for going back in time

    def feed(self, t_s: np.ndarray, accel_mps2: np.ndarray, gyro_dps: np.ndarray):
        """A block of samples (time-ordered, continuing the previous one): the buckets it completed."""
        if len(t_s) == 0:
            return self._empty()
        out: list[tuple[int, list[float], bool]] = []
        dt_s, t_max = self.dt_s, self._t_max
        for t, a, g in zip(t_s.tolist(), accel_mps2.tolist(), gyro_dps.tolist()):
            if not t >= t_max:        # earlier than a sample already seen (or no time at all)
                self.dropped += 1
                continue
            t_max = t
            k = math.floor(t / dt_s)
            if k != self._k:          # a later sample: the bucket being filled is complete
                if self._n:
                    self._close(out)
                self._k, self._sum, self._n = k, a + g, 1
            else:
                self._sum = [s + x for s, x in zip(self._sum, a + g)]
                self._n += 1
        self._t_max = t_max
        return self._arrays(out)

    def finish(self):
        """Emit the pending bucket (end of stream)."""
        out: list[tuple[int, list[float], bool]] = []
        if self._n:
            self._close(out)
            self._k, self._n = None, 0
        return self._arrays(out)

    def _close(self, out: list) -> None:
        """The bucket being filled is complete: append it to ``out`` as (index, mean, gap before), after
        the fills of a short hole before it (on the line between the buckets either side)."""
        k, n = self._k, self._n
        mean = [s / n for s in self._sum]
        holes = 0 if self._last_k is None else k - self._last_k - 1
        if 0 < holes <= self.max_fill:
            for pos in range(holes):
                frac = (pos + 1) / (holes + 1)
                out.append((k - holes + pos, [(1.0 - frac) * p + frac * m for p, m in zip(self._last, mean)], False))
        out.append((k, mean, holes > self.max_fill))
        self._last_k, self._last = k, mean

    def _arrays(self, out: list):
        """The emitted buckets as (t_end_s, accel, gyro, gap_before) arrays."""
        if not out:
            return self._empty()
        means = np.array([m for _, m, _ in out])
        t_end = np.array([(k + 1) * self.dt_s for k, _, _ in out])
        return t_end, means[:, :3], means[:, 3:], np.array([gap for _, _, gap in out])

    @staticmethod
    def _empty():
        return np.empty(0), np.empty((0, 3)), np.empty((0, 3)), np.empty(0, dtype=bool)
