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

import numpy as np

ANALYSIS_RATE_HZ = 50.0   # the analysis rate: every stage after the resampler runs on 20 ms buckets


class Bucketer:
    """Streaming 20 ms boxcar resampler. ``feed`` returns (t_end_s, accel, gyro, gap_before)."""

    def __init__(self, rate_hz: float = ANALYSIS_RATE_HZ, max_hole_s: float = 0.5):
        self.dt_s = 1.0 / rate_hz
        self.max_fill = max(0, int(np.ceil(max_hole_s * rate_hz)) - 1)   # empty buckets filled at most
        self._pend_t = np.empty(0)  # raw samples of the bucket being filled
        self._pend_x = np.empty((0, 6))
        self._last_k = None       # index of the last bucket emitted
        self._last = None         # its mean (6,)
        self._t_max = -np.inf     # latest sample time seen
        self.dropped = 0          # samples dropped for going back in time

    def feed(self, t_s: np.ndarray, accel_mps2: np.ndarray, gyro_dps: np.ndarray):
        if len(t_s) == 0:
            return self._empty()
        latest = np.maximum.accumulate(t_s)
        keep = t_s >= np.maximum(latest, self._t_max)
        self._t_max = max(self._t_max, float(latest[-1]))
        if not keep.all():
            self.dropped += int(len(keep) - keep.sum())
            t_s, accel_mps2, gyro_dps = t_s[keep], accel_mps2[keep], gyro_dps[keep]
        t_s = np.concatenate((self._pend_t, t_s))
        x = np.vstack([self._pend_x, np.hstack([accel_mps2, gyro_dps])])
        k = np.floor(t_s / self.dt_s).astype(np.int64)
        starts = np.flatnonzero(np.concatenate(((True,), k[1:] != k[:-1])))
        # the last bucket may still grow: keep its raw samples, so every bucket is summed from
        # exactly the same rows in the same order however the stream was split
        last = starts[-1]
        self._pend_t, self._pend_x = t_s[last:], x[last:]
        if last == 0:
            return self._empty()
        starts = starts[:-1]
        sums = np.add.reduceat(x[:last], starts, axis=0)
        counts = np.diff(np.append(starts, last))
        return self._emit(k[starts], sums, counts)

    def finish(self):
        """Emit the pending bucket (end of stream)."""
        if len(self._pend_t) == 0:
            return self._empty()
        k = int(np.floor(self._pend_t[0] / self.dt_s))
        out = self._emit(np.array([k]), self._pend_x.sum(axis=0)[None, :], np.array([len(self._pend_t)]))
        self._pend_t, self._pend_x = np.empty(0), np.empty((0, 6))
        return out

    def _emit(self, keys, sums, counts):
        if len(keys) == 0:
            return self._empty()
        means = sums / counts[:, None]
        prev = np.concatenate(((self._last_k if self._last_k is not None else keys[0] - 1,), keys[:-1]))
        holes = keys - prev - 1
        gap = holes > self.max_fill
        if holes.any():                                     # usually nothing is missing
            n_out = np.where(gap, 0, holes) + 1             # filled buckets + the bucket itself
            pos = np.arange(n_out.sum()) - np.repeat(np.cumsum(n_out) - n_out, n_out)
            own = np.repeat(np.arange(len(keys)), n_out)
            rows = np.vstack([self._last if self._last is not None else means[0], means])
            frac = ((pos + 1) / n_out[own])[:, None]        # 1 for a bucket itself
            means = (1.0 - frac) * rows[own] + frac * rows[own + 1]   # fills lie on the line between
            keys = keys[own] - (n_out[own] - 1 - pos)
            gap = gap[own] & (pos == n_out[own] - 1)
        self._last_k, self._last = int(keys[-1]), means[-1].copy()
        t_end = (keys + 1) * self.dt_s
        return t_end, means[:, :3], means[:, 3:], gap

    @staticmethod
    def _empty():
        return np.empty(0), np.empty((0, 3)), np.empty((0, 3)), np.empty(0, dtype=bool)
