"""Balance sway seen by the sensor on the lifted leg, from the fused tilt (docs/sway.md).

The leg moves in its sagittal plane, about the movement axis LegAngle learns; the exercise has no
frontal movement. So the leg's tilt out of that plane (frontal) is sway all through a set, while its
tilt within the plane (sagittal) is sway only while the leg holds still. :class:`TiltRing` keeps the
last ``ring_s`` seconds of both angles per 20 ms bucket (fixed arrays: bounded memory);
:func:`leg_sway` measures one window of it. Pure computation, no I/O.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import signal

from analysis.batches import Batches
from analysis.errors import DataError
from analysis.sway.measures import axis_range, rms, spectral_frequencies_hz, sway_measures
from analysis.units import STANDARD_GRAVITY_MPS2

RING_S = 180.0              # longest window kept (a set is measured when it closes, up to 20 s later)
HOLD_RATE_DPS = 20.0        # quasi-static: angular rate below this...
HOLD_ACCEL_MPS2 = 1.0       # ...and accelerometer norm within this of its resting magnitude
HOLD_MIN_S = 0.4            # a hold is at least this long once trimmed...
HOLD_TRIM_S = 0.06          # ...by this at each end (the last of the movement into and out of it)
BURST_OUT_DPS = 60.0        # excessive motion: angular rate out of the movement plane above this,
BURST_LATERAL_MPS2 = 3.0    # or linear acceleration along the movement axis above this
BURST_PAD_S = 0.2           # masked this long either side of a burst
SWAY_BAND_HZ = (0.05, 1.0)  # frontal tilt is band-passed to this (drift and jitter out), zero-phase
MIN_FRONTAL_S = 1.0         # fewer unmasked seconds than this: no frontal measures


STILL, BURST = 1, 2         # bits of TiltRing.flags
_NO_AXIS = (math.nan, math.nan, math.nan)


class TiltRing:
    """Per-bucket tilt of the leg relative to its movement plane, for the last ``ring_s`` seconds."""

    def __init__(self, rate_hz: float = 50.0, ring_s: float = RING_S):
        n = int(round(ring_s * rate_hz))
        self.rate_hz = rate_hz
        self.rest_mps2 = STANDARD_GRAVITY_MPS2   # the sensor's own magnitude at rest, once learned
        self._t = np.full(n, -np.inf)
        self._frontal = np.zeros(n, np.float32)     # tilt out of the movement plane, deg
        self._sagittal = np.zeros(n, np.float32)    # leg angle in the plane from standing, hinge < 0, deg
        self._inplane = np.zeros(n, np.float32)     # angular rate about the movement axis, deg/s
        self._flags = np.zeros(n, np.uint8)
        self._n = 0                                 # buckets written in all
        self._pending = Batches()                   # pushed, not yet measured (see push_block)
        self._hold_rate2 = HOLD_RATE_DPS ** 2
        self._burst_rate2 = BURST_OUT_DPS ** 2

    def push(self, t_s: float, accel_mps2: np.ndarray, gyro_dps: np.ndarray, up: np.ndarray,
             axis: np.ndarray | None, angle_deg: float) -> None:
        """One bucket: accelerometer, bias-corrected gyro, fused "up", movement axis (None until
        learned) and the leg angle, at the resting magnitude ``rest_mps2``."""
        self.push_block(np.array([t_s]), np.reshape(accel_mps2, (1, 3)), np.reshape(gyro_dps, (1, 3)),
                        [up], [axis], [angle_deg], np.array([self.rest_mps2]))

    def push_block(self, t_s: np.ndarray, accel_mps2: np.ndarray, gyro_dps: np.ndarray, ups: list,
                   axes: list, angles_deg: list[float], rest_mps2: np.ndarray) -> None:
        """Buckets in time order: arrays (n,) or (n, 3) for the sensor's side, lists for what fusion
        and the leg stage hand out bucket by bucket ("up", the axis or None until learned, the angle).
        ``rest_mps2``: the sensor's resting magnitude at each bucket, NaN while not known yet
        (``rest_mps2`` of the ring is taken then).

        They are measured in batches (analysis/batches.py), or when a window is read: the few dozen
        array operations of a batch then cost little per bucket."""
        if self._pending.add(len(t_s), t_s, accel_mps2, gyro_dps, ups, axes, angles_deg, rest_mps2):
            self._flush()

    def _flush(self) -> None:
        """Measure the pending buckets and write them into the ring."""
        parts = self._pending.take()
        if not parts:
            return
        t, acc, gyr, rest = (np.concatenate(parts[k]) for k in (0, 1, 2, 6))
        up = np.array([u for chunk in parts[3] for u in chunk], float)
        axis = np.array([_NO_AXIS if a is None else a for chunk in parts[4] for a in chunk], float)
        angles = np.array([a for chunk in parts[5] for a in chunk], float)
        rest = np.where(np.isnan(rest), self.rest_mps2, rest)
        self.rest_mps2 = float(rest[-1])
        # the same operations in the same order as bucket by bucket in plain floats: the same bits
        ax, ay, az, gx, gy, gz = acc[:, 0], acc[:, 1], acc[:, 2], gyr[:, 0], gyr[:, 1], gyr[:, 2]
        nx, ny, nz = axis[:, 0], axis[:, 1], axis[:, 2]
        rate2 = gx * gx + gy * gy + gz * gz
        norm = np.sqrt(ax * ax + ay * ay + az * az)
        still = (rate2 < self._hold_rate2) & (np.abs(norm - rest) < HOLD_ACCEL_MPS2)
        s = np.clip(up[:, 0] * nx + up[:, 1] * ny + up[:, 2] * nz, -1.0, 1.0)   # NaN without an axis
        inplane = gx * nx + gy * ny + gz * nz
        lateral = ax * nx + ay * ny + az * nz - rest * s
        burst = (rate2 - inplane * inplane > self._burst_rate2) | (np.abs(lateral) > BURST_LATERAL_MPS2)
        rows = self._n + np.arange(len(t))
        self._n += len(t)
        keep = slice(max(0, len(t) - len(self._t)), None)     # more than the ring holds: the newest
        j = rows[keep] % len(self._t)
        self._t[j], self._frontal[j] = t[keep], np.degrees(np.arcsin(s[keep]))
        self._sagittal[j], self._inplane[j] = angles[keep], inplane[keep]
        self._flags[j] = np.where(still, STILL, 0)[keep] | np.where(burst, BURST, 0)[keep]

    def window(self, t0_s: float, t1_s: float) -> tuple[np.ndarray, ...]:
        """(t_s, frontal_deg, sagittal_deg, inplane_dps, flags) of the buckets ending in [t0, t1],
        oldest first (copies of just that stretch)."""
        self._flush()
        size = len(self._t)
        halves = [(0, self._n)] if self._n <= size else [(self._n % size, size), (0, self._n % size)]
        parts = []
        for a, b in halves:                    # each half is in time order
            t = self._t[a:b]
            i0, i1 = a + np.searchsorted(t, t0_s, "left"), a + np.searchsorted(t, t1_s, "right")
            if i1 > i0:
                parts.append((i0, i1))
        return tuple(np.concatenate([x[i0:i1] for i0, i1 in parts]) if parts else x[:0].copy()
                     for x in (self._t, self._frontal, self._sagittal, self._inplane, self._flags))


@lru_cache(maxsize=4)
def _band(fs_hz: float):
    return signal.butter(2, SWAY_BAND_HZ, btype="bandpass", fs=fs_hz, output="sos")


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the runs of True in a boolean array."""
    d = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _dilate(mask: np.ndarray, pad: int) -> np.ndarray:
    if pad <= 0 or not mask.any():
        return mask
    return np.convolve(mask.astype(np.int8), np.ones(2 * pad + 1, np.int8), mode="same") > 0


def frontal_sway(frontal_deg: np.ndarray, burst: np.ndarray, fs_hz: float, spectra: bool = True) -> dict:
    """1-D measures of the frontal tilt through a window: bursts (padded) masked and bridged, then
    band-passed to SWAY_BAND_HZ; statistics over the unmasked samples only. ``spectra=False`` leaves
    the (costly) spectral ones None, for the live figure."""
    x = np.asarray(frontal_deg, float)
    masked = _dilate(np.asarray(burst, bool), int(round(BURST_PAD_S * fs_hz))) | ~np.isfinite(x)
    keep = ~masked
    out = {"rms_deg": None, "range_deg": None, "mean_velocity_dps": None, "centroid_frequency_hz": None,
           "f50_hz": None, "f95_hz": None, "masked_s": round(masked.sum() / fs_hz, 2),
           "window_s": round(x.size / fs_hz, 2)}
    if keep.sum() < MIN_FRONTAL_S * fs_hz:
        return out
    idx = np.arange(x.size)
    x = np.interp(idx, idx[keep], x[keep])            # bridge masked stretches (no ringing)
    y = signal.sosfiltfilt(_band(fs_hz), x - x.mean(), padlen=min(x.size - 1, int(10 * fs_hz)))
    kept = y[keep] - y[keep].mean()
    pairs = keep[1:] & keep[:-1]
    steps = np.abs(np.diff(y))[pairs]
    centroid, f50, f95 = spectral_frequencies_hz(y - y.mean(), fs_hz) if spectra else (None, None, None)
    out.update(rms_deg=rms(kept), range_deg=axis_range(kept),
               mean_velocity_dps=float(steps.sum() / (keep.sum() / fs_hz)),
               centroid_frequency_hz=centroid, f50_hz=f50, f95_hz=f95)
    return out


def holds(still: np.ndarray, fs_hz: float) -> list[tuple[int, int]]:
    """Quasi-static holds: runs of still buckets, trimmed at both ends, at least HOLD_MIN_S long."""
    trim, least = int(round(HOLD_TRIM_S * fs_hz)), int(round(HOLD_MIN_S * fs_hz))
    return [(a + trim, b - trim) for a, b in runs(still) if b - a - 2 * trim >= least]


UNIT_NAMES = {  # analysis.sway.measures measure -> its name with the unit for degrees in (measures.py keeps unit-free names)
    "rms_ml": "rms_ml_deg", "rms_ap": "rms_ap_deg", "rms_radius": "rms_radius_deg",
    "mean_distance": "mean_distance_deg", "range_ml": "range_ml_deg", "range_ap": "range_ap_deg",
    "path_length": "path_length_deg", "mean_velocity_ml": "mean_velocity_ml_dps",
    "mean_velocity_ap": "mean_velocity_ap_dps", "mean_velocity": "mean_velocity_dps",
    "ellipse_area_95": "ellipse_area_95_deg2", "sway_area_per_s": "sway_area_deg2_per_s"}

# every analysis.sway.measures measure, named with its unit (taken from the function itself, so they cannot drift)
HOLD_KEYS = tuple(UNIT_NAMES.get(k, k) for k in sway_measures([0.0, 1.0, 0.0], [0.0, 0.0, 1.0], 1.0))


def hold_measures(frontal_deg, sagittal_deg, spans, fs_hz: float) -> list[tuple[float, dict]]:
    """(duration_s, analysis.sway.measures in degrees) of each hold: ML = frontal tilt, AP = sagittal tilt."""
    out = []
    for a, b in spans:
        ml, ap = frontal_deg[a:b], sagittal_deg[a:b]
        if not (np.all(np.isfinite(ml)) and np.all(np.isfinite(ap))):
            continue
        m = sway_measures(ml, ap, fs_hz)
        out.append(((b - a) / fs_hz, {UNIT_NAMES.get(k, k): v for k, v in m.items()}))
    return out


def pool_holds(per_hold: list[tuple[float, dict]]) -> dict:
    """The holds' measures averaged, weighted by duration; a measure NaN in every hold is None."""
    total = sum(d for d, _ in per_hold)
    out: dict = {"count": len(per_hold), "total_s": round(total, 2)}
    for key in HOLD_KEYS:
        pairs = [(d, m[key]) for d, m in per_hold if math.isfinite(m[key])]
        w = sum(d for d, _ in pairs)
        out[key] = sum(d * v for d, v in pairs) / w if pairs else None
    return out


def leg_sway(t_s, frontal_deg, sagittal_deg, inplane_dps, flags, fs_hz: float,
             per_hold: list[tuple[float, dict]] | None = None, spectra: bool = True) -> dict:
    """Sway of one window (a rep or a set): ``sway_deg`` (band-passed frontal tilt RMS, the headline),
    ``sway_dps`` (mean speed of the sagittal tilt in holds), ``frontal`` and ``holds`` details (None
    where a measure has no data). ``per_hold`` gives the holds already measured (a set reuses its reps')."""
    frontal_deg, sagittal_deg = np.asarray(frontal_deg, float), np.asarray(sagittal_deg, float)
    flags = np.asarray(flags, np.uint8)
    if not (frontal_deg.shape == sagittal_deg.shape == flags.shape == np.shape(t_s) == np.shape(inplane_dps)):
        raise DataError("leg sway: the window's arrays must all have the same length")
    if not fs_hz > 0:
        raise DataError(f"leg sway: sampling rate must be positive, got {fs_hz!r}")
    frontal = frontal_sway(frontal_deg, (flags & BURST) > 0, fs_hz, spectra)
    if per_hold is None:
        per_hold = hold_measures(frontal_deg, sagittal_deg, holds((flags & STILL) > 0, fs_hz), fs_hz)
    pooled = pool_holds(per_hold)
    return {"sway_deg": frontal["rms_deg"], "sway_dps": pooled.get("mean_velocity_ap_dps"),
            "frontal": frontal, "holds": pooled}


def rounded(x, digits: int = 3):
    """JSON-ready copy: floats rounded, NaN/inf as None (so events compare equal and serialise)."""
    if isinstance(x, dict):
        return {k: rounded(v, digits) for k, v in x.items()}
    if isinstance(x, (float, np.floating)):
        return round(float(x), digits) if math.isfinite(x) else None
    return x
