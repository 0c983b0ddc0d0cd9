"""Classic sway from an optional second sensor: on the standing leg's shank or on the pelvis.

That segment does not do the exercise's movement, so its tilt is the sway itself (ankle strategy on
the shank, whole body on the pelvis; the hinge also pitches a real pelvis forward, so there the AP
measures include movement). Its samples go through the same resampling, gyro-bias and fusion stages
as the pipeline's; during each set window the fused "up" is split into an antero-posterior and a
medio-lateral tilt angle and the analysis.sway measures are applied to them (docs/sway.md).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from analysis.errors import DataError
from analysis.legsway import UNIT_NAMES
from analysis.orientation import StillBias, Tilt
from analysis.pipeline import ANALYSIS_RATE_HZ
from analysis.resample import Bucketer
from analysis.sway import sway_measures


def fused_up(t_s, accel_mps2, gyro_dps, rate_hz: float = ANALYSIS_RATE_HZ) -> tuple[np.ndarray, np.ndarray]:
    """(bucket end times s, unit "up" in sensor axes per bucket) of a recording, as the pipeline fuses."""
    t_end, acc, gyr, gap = Bucketer(rate_hz).feed(np.asarray(t_s, float), np.asarray(accel_mps2, float),
                                                   np.asarray(gyro_dps, float))
    bias, tilt = StillBias(rate_hz=rate_hz), Tilt(rate_hz)
    up = np.empty((len(t_end), 3))
    for i in range(len(t_end)):
        if gap[i]:
            bias.reset_gap()
            tilt.restart()
        if bias.update(acc[i], gyr[i]):
            tilt.anchor(bias.up)
        up[i] = tilt.update(acc[i], gyr[i] - bias.bias_dps)
    return t_end, up


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
    """Item-1 measures (degrees) of the second sensor's tilt in each (start_s, end_s) window, e.g.
    the sets' ``start_s``/``end_s``; None for a window with less than a second of data."""
    t = np.asarray(t_s, float)
    if t.ndim != 1 or np.shape(accel_mps2) != (t.size, 3) or np.shape(gyro_dps) != (t.size, 3):
        raise DataError("trunk sway: need t_s (n,), accel_mps2 (n, 3) and gyro_dps (n, 3)")
    t_end, up = fused_up(t, accel_mps2, gyro_dps)
    out: list[dict | None] = []
    for start_s, end_s in windows:
        sel = (t_end >= start_s) & (t_end <= end_s)
        if sel.sum() < ANALYSIS_RATE_HZ:
            out.append(None)
            continue
        ml, ap = tilt_angles_deg(up[sel], forward_axis)
        m = sway_measures(ml, ap, ANALYSIS_RATE_HZ)
        out.append({UNIT_NAMES.get(k, k): (v if math.isfinite(v) else None) for k, v in m.items()})
    return out
