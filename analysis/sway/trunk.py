"""Classic sway from an optional second sensor: on the standing leg's shank or on the pelvis.

That segment does not do the exercise's movement, so its tilt is the sway itself (ankle strategy on
the shank, whole body on the pelvis; the hinge also pitches a real pelvis forward, so there the AP
measures include movement). Its samples go through the same resampling, gyro-bias and fusion stages
as the pipeline's, except that the gyro bias takes off the turn the accelerometer saw in each still
window and follows it more slowly (here the sway is the measurement, and a bias of a degree per
second picked up from it would show directly). During each set window the fused "up" is split into
an antero-posterior and a medio-lateral tilt angle and the analysis.sway.measures are applied to
them (docs/sway.md).
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from itertools import islice

import numpy as np

from analysis.errors import DataError
from analysis.orientation import StillBias, StillParams, Tilt
from analysis.resample import ANALYSIS_RATE_HZ, Bucketer
from analysis.sway.leg import UNIT_NAMES
from analysis.sway.measures import sway_measures


class TrunkTilt:
    """Streaming: the second sensor's samples in (any blocks), its fused "up" per 20 ms bucket kept
    for the last ``keep_s`` seconds, so a set's measures cost little when it closes."""

    def __init__(self, keep_s: float = 900.0, rate_hz: float = ANALYSIS_RATE_HZ):
        self._bucketer, self._tilt = Bucketer(rate_hz), Tilt(rate_hz=rate_hz)
        self._bias = StillBias(StillParams(keep=9, gyro_dev_dps=5.0), rate_hz)
        self._t: deque[float] = deque(maxlen=int(keep_s * rate_hz))
        self._up: deque[np.ndarray] = deque(maxlen=int(keep_s * rate_hz))

    def feed(self, t_s, accel_mps2, gyro_dps) -> None:
        t_end, acc, gyr, gap = self._bucketer.feed(np.asarray(t_s, float), np.asarray(accel_mps2, float),
                                                   np.asarray(gyro_dps, float))
        for i in range(len(t_end)):
            if gap[i]:
                self._bias.reset_gap()
                self._tilt.restart()
            if self._bias.update(acc[i], gyr[i]):
                self._tilt.anchor(self._bias.up)
            self._t.append(float(t_end[i]))
            self._up.append(self._tilt.update(acc[i], gyr[i] - self._bias.bias_dps))

    def measures(self, start_s: float, end_s: float, forward_axis=(1.0, 0.0, 0.0)) -> dict | None:
        """Item-1 measures (degrees) of the tilt between ``start_s`` and ``end_s``; None for less
        than a second of data."""
        t = np.fromiter(self._t, float, len(self._t))
        sel = np.flatnonzero((t >= start_s) & (t <= end_s))
        if len(sel) < ANALYSIS_RATE_HZ:
            return None
        up = np.array(list(islice(self._up, int(sel[0]), int(sel[-1]) + 1)))
        ml, ap = tilt_angles_deg(up, forward_axis)
        m = sway_measures(ml, ap, ANALYSIS_RATE_HZ)
        return {UNIT_NAMES.get(k, k): (v if math.isfinite(v) else None) for k, v in m.items()}


def tilt_angles_deg(up: np.ndarray, forward_axis) -> tuple[np.ndarray, np.ndarray]:
    """(ML, AP) tilt in degrees of each "up" about the window's mean: AP positive leaning towards
    ``forward_axis`` (sensor axes), ML positive leaning towards up x forward (the sensor's left)."""
    u0 = up.mean(axis=0)
    u0 /= np.linalg.norm(u0)
    f = np.asarray(forward_axis, float)
    f = f - (f @ u0) * u0
    if np.linalg.norm(f) < 0.5:
        raise DataError(f"trunk sway: forward axis {tuple(forward_axis)} is too close to vertical "
                        "for this mount; give the sensor axis that points forward")
    f /= np.linalg.norm(f)
    lateral = np.cross(u0, f)
    return (-np.degrees(np.arcsin(np.clip(up @ lateral, -1, 1))),
            -np.degrees(np.arcsin(np.clip(up @ f, -1, 1))))


def trunk_sway(t_s, accel_mps2, gyro_dps, windows: Sequence[tuple[float, float]],
               forward_axis=(1.0, 0.0, 0.0)) -> list[dict | None]:
    """Batch: the measures of each (start_s, end_s) window, e.g. the sets' ``start_s``/``end_s``
    (the streaming :class:`TrunkTilt` fed once)."""
    t = np.asarray(t_s, float)
    if t.ndim != 1 or np.shape(accel_mps2) != (t.size, 3) or np.shape(gyro_dps) != (t.size, 3):
        raise DataError("trunk sway: need t_s (n,), accel_mps2 (n, 3) and gyro_dps (n, 3)")
    tilt = TrunkTilt(keep_s=float(t[-1] - t[0]) + 1.0 if t.size else 1.0)
    tilt.feed(t, accel_mps2, gyro_dps)
    return [tilt.measures(a, b, forward_axis) for a, b in windows]
