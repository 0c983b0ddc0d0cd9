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
        out: list[list[float]] = []
        gaps: list[bool] = []
        dt_s, t_max = self.dt_s, self._t_max
        for t, a, g in zip(t_s.tolist(), accel_mps2.tolist(), gyro_dps.tolist()):
            if not t >= t_max:        # earlier than a sample already seen (or no time at all)
                self.dropped += 1
                continue
            t_max = t
            k = math.floor(t / dt_s)
            if k != self._k:          # a later sample: the bucket being filled is complete
                if self._n:
                    self._close(out, gaps)
                self._k, self._sum, self._n = k, a + g, 1
            else:                     # one addition per value, unrolled: this runs for every sample
                (ax, ay, az), (gx, gy, gz) = a, g
                sax, say, saz, sgx, sgy, sgz = self._sum
                self._sum = [sax + ax, say + ay, saz + az, sgx + gx, sgy + gy, sgz + gz]
                self._n += 1
        self._t_max = t_max
        return self._arrays(out, gaps)

    def finish(self):
        """Emit the pending bucket (end of stream)."""
        out: list[list[float]] = []
        gaps: list[bool] = []
        if self._n:
            self._close(out, gaps)
            self._k, self._n = None, 0
        return self._arrays(out, gaps)

    def _close(self, rows: list, gaps: list) -> None:
        """The bucket being filled is complete: append it to ``rows`` as [t_end_s, mean of the six], and
        to ``gaps`` whether a gap came before it, after the fills of a short hole before it (on the
        line between the buckets either side)."""
        k, n = self._k, self._n
        sax, say, saz, sgx, sgy, sgz = self._sum     # unrolled: this runs for every bucket
        mean = [sax / n, say / n, saz / n, sgx / n, sgy / n, sgz / n]
        holes = 0 if self._last_k is None else k - self._last_k - 1
        if 0 < holes <= self.max_fill:
            for pos in range(holes):
                frac = (pos + 1) / (holes + 1)
                rows.append([(k - holes + pos + 1) * self.dt_s,
                             *((1.0 - frac) * p + frac * m for p, m in zip(self._last, mean))])
                gaps.append(False)
        rows.append([(k + 1) * self.dt_s, *mean])
        gaps.append(holes > self.max_fill)
        self._last_k, self._last = k, mean

    def _arrays(self, rows: list, gaps: list):
        """The emitted buckets as (t_end_s, accel, gyro, gap_before) arrays."""
        if not rows:
            return self._empty()
        x = np.array(rows)
        return x[:, 0], x[:, 1:4], x[:, 4:], np.array(gaps)

    @staticmethod
    def _empty():
        return np.empty(0), np.empty((0, 3)), np.empty((0, 3)), np.empty(0, dtype=bool)
