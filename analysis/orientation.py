"""Gyro bias from still periods, and the sensor's tilt by sensor fusion (imufusion's AHRS).

Fusion runs on the 20 ms buckets. imufusion (x-io's Fusion, C core) was chosen over vqf and ahrs
because it ships wheels for Raspberry Pi OS 64-bit (aarch64, CPython 3.11), needs no compiler on
the Pi, and costs under a microsecond an update; see docs/analysis.md.
"""
from __future__ import annotations

import math

import imufusion
import numpy as np

from imu.samples import STANDARD_GRAVITY_MPS2


class StillBias:
    """Detects still periods and takes the gyro's mean there as its bias.

    Still = over the last ``window`` buckets the gyro stays within ``gyro_dev_dps`` of its mean,
    the accelerometer direction within ``tilt_dev_deg`` and its norm within ``norm_dev_mps2`` of g.
    The direction test is what keeps a slow, steady turn from being mistaken for bias.
    ``take_off_turn``, for a sensor whose sway is the measurement: a standing body still sways (a
    degree at under 1 Hz), so a second's mean rate holds up to a few deg/s of real turning; the
    change of the accelerometer's direction from the window's first fifth to its last gives that
    turn (about the horizontal axes), and it is taken off the mean.
    """

    def __init__(self, window: int = 50, every: int = 25, gyro_dev_dps: float = 5.0,
                 tilt_dev_deg: float = 3.0, norm_dev_mps2: float = 0.6, blend: float = 0.3,
                 rate_hz: float = 50.0, take_off_turn: bool = False):
        self.window, self.every, self.blend, self.rate_hz = window, every, blend, rate_hz
        self.take_off_turn = take_off_turn
        self.gyro_dev_dps, self.norm_dev_mps2 = gyro_dev_dps, norm_dev_mps2
        self.cos_tilt = math.cos(math.radians(tilt_dev_deg))
        self._acc = np.zeros((window, 3))
        self._gyr = np.zeros((window, 3))
        self._i = 0
        self.bias_dps = np.zeros(3)
        self.known = False
        self.up = np.array([0.0, 0.0, 1.0])   # mean accelerometer direction of the last still window
        self.still_s = 0.0                    # how long the sensor has been still, as of the last check

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
        a_dir = self._acc.mean(axis=0)
        a_dir /= np.linalg.norm(a_dir)
        still = bool(np.abs(self._gyr - g_mean).max() < self.gyro_dev_dps
                          and np.abs(norms - STANDARD_GRAVITY_MPS2).max() < self.norm_dev_mps2
                          and ((self._acc @ a_dir) / norms).min() > self.cos_tilt)
        span = self.every if self.still_s else self.window
        self.still_s = self.still_s + span / self.rate_hz if still else 0.0
        if still and self.take_off_turn:
            k = self.window // 5
            order = np.roll(np.arange(self.window), -(self._i % self.window))   # oldest first
            u0, u1 = self._acc[order[:k]].mean(axis=0), self._acc[order[-k:]].mean(axis=0)
            turn_dps = np.degrees(np.cross(u1 / np.linalg.norm(u1) - u0 / np.linalg.norm(u0), a_dir))
            # the rate over the same span: from the middle of the first fifth to that of the last
            g_span = self._gyr[order[k // 2:self.window - k + k // 2]].mean(axis=0)
            g_mean = g_span - turn_dps * self.rate_hz / (self.window - k)
        if still:
            self.up = a_dir
            self.bias_dps = g_mean if not self.known else (1 - self.blend) * self.bias_dps + self.blend * g_mean
            self.known = True
        return still

    def reset_gap(self) -> None:
        """After a gap the window spans unrelated data: start it again."""
        self._i = 0


class Tilt:
    """imufusion AHRS without magnetometer; gives the "up" direction in sensor axes."""

    def __init__(self, rate_hz: float = 50.0, gain: float = 0.5, accel_rejection_deg: float = 10.0,
                 rejection_timeout_s: float = 5.0, gyro_range_dps: float = 2000.0):
        self._settings = imufusion.AhrsSettings()
        self._settings.convention = imufusion.CONVENTION_NWU
        self._settings.gain = gain
        self._settings.acceleration_rejection = accel_rejection_deg
        self._settings.gyroscope_range = gyro_range_dps
        self._settings.sample_rate = rate_hz
        self._settings.rejection_timeout = int(rejection_timeout_s * rate_hz)
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
