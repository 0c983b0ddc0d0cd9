"""Gyro bias from still periods, and the sensor's tilt by sensor fusion (imufusion's AHRS).

Fusion runs on the 20 ms buckets. imufusion (x-io's Fusion, C core) was chosen over vqf and ahrs
because it ships wheels for Raspberry Pi OS 64-bit (aarch64, CPython 3.11), needs no compiler on
the Pi, and costs under a microsecond an update; see docs/analysis.md.
"""
from __future__ import annotations

import math
from collections import deque

import imufusion
import numpy as np

from analysis.units import STANDARD_GRAVITY_MPS2


class StillBias:
    """Finds still periods; there it takes the gyro's bias, the resting "up" and the accelerometer's
    own resting magnitude.

    Still = over the last ``window`` buckets the gyro stays within ``gyro_dev_dps`` of its mean, the
    accelerometer's direction within ``tilt_dev_deg`` of its mean and its magnitude within
    ``norm_dev_frac`` of its mean. Nothing is compared with standard gravity: an uncalibrated chip
    reads 3-5 % and up to 0.8 m/s² off at rest, so "still" is judged by steadiness, and once the
    sensor's own resting magnitude is known (the median of its still windows, ``rest_mps2``), by
    being within ``rest_dev_frac`` of that.

    The bias is the median of the last ``keep`` still windows' estimates, each the window's mean rate
    less the turn its accelerometer saw (the change of direction from the window's first fifth to its
    last, about the horizontal axes; a turn under ``min_turn_dps`` is the accelerometer's noise and
    is left in): a slow tilt or a standing body's sway inside a "still" second cannot pass for bias,
    and one odd window cannot poison it.
    """

    def __init__(self, window: int = 50, every: int = 25, gyro_dev_dps: float = 8.0,
                 tilt_dev_deg: float = 3.0, norm_dev_frac: float = 0.06, rest_dev_frac: float = 0.2,
                 keep: int = 5, min_turn_dps: float = 0.5, rate_hz: float = 50.0):
        self.window, self.every, self.rate_hz, self.min_turn_dps = window, every, rate_hz, min_turn_dps
        self.gyro_dev_dps, self.norm_dev_frac, self.rest_dev_frac = gyro_dev_dps, norm_dev_frac, rest_dev_frac
        self.cos_tilt = math.cos(math.radians(tilt_dev_deg))
        self._acc = np.zeros((window, 3))
        self._gyr = np.zeros((window, 3))
        self._i = 0
        self._biases: deque = deque(maxlen=keep)        # the last still windows' bias estimates
        self._rests: deque = deque(maxlen=4 * keep)     # ... and their mean accelerometer magnitudes
        self.bias_dps = np.zeros(3)
        self.known = False
        self.rest_mps2 = math.nan             # the accelerometer's own magnitude at rest (median)
        self.up = np.array([0.0, 0.0, 1.0])   # mean accelerometer direction of the last still window
        self.still_s = 0.0                    # how long the sensor has been still, as of the last check
        self.windows = 0                      # still windows seen in all

    def update(self, accel_mps2, gyro_dps) -> bool:
        """Add one bucket; True when the window ending at this bucket is still (checked every ``every``).

        ``still_s`` then says for how long it has been still without a break."""
        j = self._i % self.window
        self._acc[j] = accel_mps2
        self._gyr[j] = gyro_dps
        self._i += 1
        if self._i < self.window or self._i % self.every:
            return False
        g_mean = self._gyr.mean(axis=0)
        norms = np.linalg.norm(self._acc, axis=1)
        n_mean = float(norms.mean())
        a_dir = self._acc.mean(axis=0)
        a_dir /= np.linalg.norm(a_dir)
        still = bool(np.abs(self._gyr - g_mean).max() < self.gyro_dev_dps
                     and np.abs(norms - n_mean).max() < self.norm_dev_frac * n_mean
                     and ((self._acc @ a_dir) / norms).min() > self.cos_tilt
                     and not abs(n_mean - self.rest_mps2) > self.rest_dev_frac * self.rest_mps2)
        span = self.every if self.still_s else self.window
        self.still_s = self.still_s + span / self.rate_hz if still else 0.0
        if still:
            self.up = a_dir
            self._biases.append(self._less_turn(a_dir))
            self._rests.append(n_mean)
            self.bias_dps = np.median(np.array(self._biases), axis=0)
            self.rest_mps2 = float(np.median(self._rests))
            self.known = True
            self.windows += 1
        return still

    def _less_turn(self, a_dir: np.ndarray) -> np.ndarray:
        """The window's mean rate less the turn its accelerometer saw, over the same span."""
        k = self.window // 5
        order = np.roll(np.arange(self.window), -(self._i % self.window))   # oldest first
        u0, u1 = self._acc[order[:k]].mean(axis=0), self._acc[order[-k:]].mean(axis=0)
        turn_dps = np.degrees(np.cross(u1 / np.linalg.norm(u1) - u0 / np.linalg.norm(u0), a_dir)) \
            * self.rate_hz / (self.window - k)
        if turn_dps @ turn_dps < self.min_turn_dps ** 2:     # within the accelerometer's noise
            return self._gyr.mean(axis=0)
        # the rate over the same span: from the middle of the first fifth to that of the last
        return self._gyr[order[k // 2:self.window - k + k // 2]].mean(axis=0) - turn_dps

    def reset_gap(self) -> None:
        """After a gap the window spans unrelated data: start it again."""
        self._i = 0


class Tilt:
    """imufusion AHRS without magnetometer; gives the "up" direction in sensor axes.

    ``gain``: how strongly the accelerometer pulls the tilt (Fusion's gain, 0.5 is its default).
    ``accel_rejection_deg``: an accelerometer reading further than this from the estimate is taken
    for motion and ignored... ``rejection_timeout_s``: ...for at most this long, after which fusion
    recovers onto the accelerometer (Fusion >= 1.3 takes this in seconds, with ``sample_rate``).
    ``gyro_range_dps``: past this the gyro is clipping and fusion restarts from the accelerometer.
    The accelerometer's magnitude does not matter here: Fusion uses only its direction.
    """

    def __init__(self, rate_hz: float = 50.0, gain: float = 0.5, accel_rejection_deg: float = 10.0,
                 rejection_timeout_s: float = 5.0, gyro_range_dps: float = 2000.0):
        self._settings = imufusion.AhrsSettings()
        self._settings.convention = imufusion.CONVENTION_NWU
        self._settings.gain = gain
        self._settings.acceleration_rejection = accel_rejection_deg
        self._settings.gyroscope_range = gyro_range_dps
        self._settings.sample_rate = rate_hz
        self._settings.rejection_timeout = rejection_timeout_s
        self._ahrs = imufusion.Ahrs()
        self._ahrs.set_settings(self._settings)

    def update(self, accel_mps2: np.ndarray, gyro_dps: np.ndarray) -> np.ndarray:
        """One bucket in (bias-corrected gyro); unit "up" vector in sensor axes out."""
        self._ahrs.update_no_magnetometer(gyro_dps, accel_mps2 / STANDARD_GRAVITY_MPS2)
        return self._ahrs.get_gravity()

    def restart(self) -> None:
        """Start converging afresh (after a gap)."""
        self._ahrs.restart()

    def anchor(self, up: np.ndarray, tolerance_deg: float = 3.0) -> bool:
        """Snap the tilt to a trusted "up" (a still window's accelerometer) if it has drifted.

        After long swinging the filter can end up far off, and its acceleration rejection then keeps
        refusing the very measurements that would correct it; a still window settles it.
        """
        cur = self._ahrs.get_gravity()
        if float(cur @ up) > math.cos(math.radians(tolerance_deg)):
            return False
        axis = np.cross(up, (0.0, 0.0, 1.0))
        s = float(np.linalg.norm(axis))
        if s < 1e-9:                          # already upright (or upside down: turn about x)
            q = np.array([1.0, 0, 0, 0]) if up[2] > 0 else np.array([0.0, 1, 0, 0])
        else:
            half = math.atan2(s, float(up[2])) / 2
            q = np.r_[math.cos(half), axis / s * math.sin(half)]
        self._ahrs.set_quaternion(q)          # heading is irrelevant here: only tilt is used
        return True
