"""Gyro bias from still periods, and the sensor's tilt by sensor fusion (imufusion's AHRS).

Fusion runs on the 20 ms buckets. imufusion (x-io's Fusion, C core) was chosen over vqf and ahrs
because it ships wheels for Raspberry Pi OS 64-bit (aarch64, CPython 3.11), needs no compiler on
the Pi, and costs under a microsecond an update; see docs/analysis.md.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from statistics import median

import imufusion
import numpy as np

from analysis.units import STANDARD_GRAVITY_MPS2


@dataclass
class StillSteps:
    """What :meth:`StillBias.update_block` found, per bucket of the block."""

    still_s: list[float]          # > 0 where a still window was just confirmed: still this long, s
    up: list[np.ndarray | None]   # there, that window's mean accelerometer direction; else None
    gyro_dps: np.ndarray          # (n, 3) the gyro less the bias after each bucket (its check included)
    rest_mps2: np.ndarray         # (n,) the resting magnitude after each bucket (NaN until known)


@dataclass(frozen=True)
class StillParams:
    """Tuning of :class:`StillBias`: what counts as still, and how the bias follows the still windows."""

    window_s: float = 1.0         # a still window spans this long...
    every_s: float = 0.5          # ...and is checked this often, s
    gyro_dev_dps: float = 8.0     # still: every gyro reading within this of the window's mean, deg/s
    tilt_dev_deg: float = 3.0     # ...every accelerometer direction within this of the mean, deg
    max_turn_deg: float = 2.5     # ...turning less than this from its first fifth to its last (a slow lift
                                  # is no rest; a standing body's sway turns it up to ~2 deg), deg
    norm_dev_frac: float = 0.06   # ...every accelerometer magnitude within this fraction of the mean
    rest_dev_frac: float = 0.2    # ...and the mean within this fraction of the sensor's resting magnitude,
    retrack_s: float = 2.0        # unless it stays steady this long: at rest in a new pose, a new magnitude
    keep: int = 5                 # the bias is the median of this many last still windows' estimates
    min_turn_dps: float = 0.5     # a turn the accelerometer sees below this is its noise, deg/s


class StillBias:
    """Finds still periods; there it takes the gyro's bias, the resting "up" and the accelerometer's
    own resting magnitude (tuning: :class:`StillParams`).

    Still = over the last ``window_s`` the gyro stays within ``gyro_dev_dps`` of its mean, the
    accelerometer's direction within ``tilt_dev_deg`` of its mean and its magnitude within
    ``norm_dev_frac`` of its mean. Nothing is compared with standard gravity: an uncalibrated chip
    reads 3-5 % and up to 0.8 m/s² off at rest, so "still" is judged by steadiness, and once the
    sensor's own resting magnitude is known (the median of its still windows, ``rest_mps2``), by
    being within ``rest_dev_frac`` of that. The magnitude an offset chip reads at rest depends on
    its pose (the offset adds to gravity in sensor axes), so a window off it that stays steady for
    ``retrack_s`` is rest in a new pose after all (no leg accelerates steadily for 2 s) and the
    median follows: after a strap re-done it had kept every still window out, hence no reference.

    The bias is the median of the last ``keep`` still windows' estimates, each the window's mean rate
    less the turn its accelerometer saw (the change of direction from the window's first fifth to its
    last, about the horizontal axes; a turn under ``min_turn_dps`` is the accelerometer's noise and
    is left in): a slow tilt or a standing body's sway inside a "still" second cannot pass for bias,
    and one odd window cannot poison it.
    """

    def __init__(self, params: StillParams = StillParams(), rate_hz: float = 50.0):
        p = self.params = params
        window, every = round(p.window_s * rate_hz), round(p.every_s * rate_hz)
        self.window, self.every, self.rate_hz, self.min_turn_dps = window, every, rate_hz, p.min_turn_dps
        self.gyro_dev_dps, self.norm_dev_frac, self.rest_dev_frac = p.gyro_dev_dps, p.norm_dev_frac, p.rest_dev_frac
        self.cos_tilt = math.cos(math.radians(p.tilt_dev_deg))
        self.max_turn_deg, self.turn_span_s = p.max_turn_deg, (window - window // 5) / rate_hz
        self._acc = np.zeros((window, 3))
        self._rows = np.arange(window)       # the window's rows, for reading it oldest first
        self._gyr = np.zeros((window, 3))
        self._i = 0                          # buckets in the window since it (re)started
        self._first_check = -(-window // every) * every   # the window is checked when _i is a multiple
        self._check_at = self._first_check                # of ``every`` and full: the next one at this _i
        self._biases: deque = deque(maxlen=p.keep)        # the last still windows' bias estimates
        self._rests: deque = deque(maxlen=4 * p.keep)     # ... and their mean accelerometer magnitudes
        self.bias_dps = np.zeros(3)
        self.known = False
        self.rest_mps2 = math.nan             # the accelerometer's own magnitude at rest (median)
        self.up = np.array([0.0, 0.0, 1.0])   # mean accelerometer direction of the last still window
        self.still_s = 0.0                    # how long the sensor has been still, as of the last check
        self._off_rest_s = 0.0                # steady, but off the resting magnitude, this long
        self.retrack_s = p.retrack_s
        self.windows = 0                      # still windows seen in all

    def update(self, accel_mps2, gyro_dps) -> bool:
        """Add one bucket; True when the window ending at this bucket is still (checked every ``every_s``).

        ``still_s`` then says for how long it has been still without a break."""
        j = self._i % self.window
        self._acc[j] = accel_mps2
        self._gyr[j] = gyro_dps
        self._i += 1
        return self._due() and self._check()

    def update_block(self, accel_mps2: np.ndarray, gyro_dps: np.ndarray, gap: np.ndarray) -> StillSteps:
        """All buckets of a block at once, ``gap`` marking those after a hole (the window starts
        again there): what ``reset_gap`` and ``update`` bucket by bucket would have said after each.

        The buckets go into the window in slices, each up to the next check, so a check sees exactly
        the window (same rows, same order) that ``update`` would have: the results are bit for bit
        the same, at a few array writes per block instead of per bucket."""
        n = len(accel_mps2)
        out = StillSteps([0.0] * n, [None] * n, gyro_dps - self.bias_dps, np.full(n, self.rest_mps2))
        cuts = [i for i, after in enumerate(gap.tolist()) if after]
        new = []                              # (bucket, bias, rest) wherever a still window set them
        for lo, hi in zip([0] + cuts, cuts + [n]):
            if lo < hi and gap[lo]:
                self.reset_gap()
            i = lo
            while i < hi:
                j = self._i % self.window
                m = min(hi - i, self.window - j, self._check_at - self._i)   # up to the next check
                self._acc[j:j + m] = accel_mps2[i:i + m]
                self._gyr[j:j + m] = gyro_dps[i:i + m]
                self._i, i = self._i + m, i + m
                if self._due() and self._check():
                    out.still_s[i - 1], out.up[i - 1] = self.still_s, self.up
                    new.append((i - 1, self.bias_dps, self.rest_mps2))
        for (k, bias_dps, rest_mps2), end in zip(new, [k for k, _, _ in new[1:]] + [n]):
            out.gyro_dps[k:end] = gyro_dps[k:end] - bias_dps     # in force from that bucket on
            out.rest_mps2[k:end] = rest_mps2
        return out

    def _due(self) -> bool:
        """Whether the window is checked at the bucket just added (then the next check is set)."""
        if self._i < self._check_at:
            return False
        self._check_at = self._i + self.every
        return True

    def _check(self) -> bool:
        """Is the window still? If so, take its bias, "up" and resting magnitude."""
        steady = self._steady()
        span_s = (self.every if self.still_s or self._off_rest_s else self.window) / self.rate_hz
        if steady and abs(steady[1] - self.rest_mps2) > self.rest_dev_frac * self.rest_mps2:   # False while NaN
            self._off_rest_s += span_s          # steady off the resting magnitude: rest in a new pose once it lasts
            self.still_s = self._off_rest_s if self._off_rest_s >= self.retrack_s else 0.0
        else:
            self._off_rest_s = 0.0
            self.still_s = self.still_s + span_s if steady else 0.0
        if not self.still_s:
            return False
        a_dir, n_mean, turn_dps = steady
        self.up = a_dir
        self._biases.append(self._less_turn(turn_dps))
        self._rests.append(n_mean)
        # medians of a handful of values: statistics' are the same numbers at a tenth of numpy's cost
        self.bias_dps = np.array([median(axis) for axis in zip(*(b.tolist() for b in self._biases))])
        self.rest_mps2 = median(self._rests)
        self.known = True
        self.windows += 1
        return True

    def _steady(self) -> tuple[np.ndarray, float, np.ndarray] | None:
        """The window's mean accelerometer direction, magnitude and turn if it is steady, else None; each
        test only once the ones before it passed (moving, the first already fails)."""
        n = self.window                       # means as sum / n: numpy's mean without its call overhead
        if not np.abs(self._gyr - self._gyr.sum(axis=0) / n).max() < self.gyro_dev_dps:
            return None
        norms = np.linalg.norm(self._acc, axis=1)
        n_mean = float(norms.sum()) / n
        if not np.abs(norms - n_mean).max() < self.norm_dev_frac * n_mean:
            return None
        a_dir = self._acc.sum(axis=0) / n
        a_dir /= np.linalg.norm(a_dir)
        if not ((self._acc @ a_dir) / norms).min() > self.cos_tilt:
            return None
        turn_dps = self._turn_dps(a_dir)
        if not math.sqrt(turn_dps @ turn_dps) * self.turn_span_s < self.max_turn_deg:
            return None
        return a_dir, n_mean, turn_dps

    def _turn_dps(self, a_dir: np.ndarray) -> np.ndarray:
        """The turn the accelerometer saw over the window: the change of direction from its first
        fifth's mean to its last fifth's, as a rate vector, deg/s."""
        w = self.window
        k = w // 5
        acc = self._acc[(self._rows + self._i) % w]   # oldest first
        u0, u1 = acc[:k].sum(axis=0) / k, acc[-k:].sum(axis=0) / k
        dx, dy, dz = (u1 / np.linalg.norm(u1) - u0 / np.linalg.norm(u0)).tolist()
        ax, ay, az = a_dir.tolist()
        cross = [dy * az - dz * ay, dz * ax - dx * az, dx * ay - dy * ax]   # the change of direction x a_dir
        return np.degrees(cross) * self.rate_hz / (w - k)

    def _less_turn(self, turn_dps: np.ndarray) -> np.ndarray:
        """The window's mean rate less the turn its accelerometer saw, over the same span."""
        w = self.window
        if turn_dps @ turn_dps < self.min_turn_dps ** 2:     # within the accelerometer's noise
            return self._gyr.sum(axis=0) / w
        # the rate over the same span: from the middle of the first fifth to that of the last
        k = w // 5
        gyr = self._gyr[((self._rows + self._i) % w)[k // 2:w - k + k // 2]]
        return gyr.sum(axis=0) / len(gyr) - turn_dps

    def reset_gap(self) -> None:
        """After a gap the window spans unrelated data: start it again."""
        self._i, self._check_at = 0, self._first_check


@dataclass(frozen=True)
class TiltParams:
    """Tuning of :class:`Tilt` (Fusion's settings). The accelerometer's magnitude does not matter
    there: Fusion uses only its direction."""

    gain: float = 0.5                  # how strongly the accelerometer pulls the tilt (Fusion's default)
    accel_rejection_deg: float = 10.0  # a reading further than this from the estimate is motion, ignored...
    rejection_timeout_s: float = 5.0   # ...for at most this long, then fusion recovers onto the accelerometer
    gyro_range_dps: float = 2000.0     # past this the gyro clips and fusion restarts from the accelerometer


class Tilt:
    """imufusion AHRS without magnetometer; gives the "up" direction in sensor axes (tuning:
    :class:`TiltParams`; Fusion >= 1.3 takes the rejection timeout in seconds, with ``sample_rate``)."""

    def __init__(self, params: TiltParams = TiltParams(), rate_hz: float = 50.0):
        self._settings = imufusion.AhrsSettings()
        self._settings.convention = imufusion.CONVENTION_NWU
        self._settings.gain = params.gain
        self._settings.acceleration_rejection = params.accel_rejection_deg
        self._settings.gyroscope_range = params.gyro_range_dps
        self._settings.sample_rate = rate_hz
        self._settings.rejection_timeout = params.rejection_timeout_s
        self._ahrs = imufusion.Ahrs()
        self._ahrs.set_settings(self._settings)

    def update(self, accel_mps2: np.ndarray, gyro_dps: np.ndarray) -> np.ndarray:
        """One bucket in (bias-corrected gyro); unit "up" vector in sensor axes out."""
        self._ahrs.update_no_magnetometer(gyro_dps, accel_mps2 / STANDARD_GRAVITY_MPS2)
        return self._ahrs.get_gravity()

    def update_block(self, accel_mps2: np.ndarray, gyro_dps: np.ndarray, gap: np.ndarray,
                     anchors: list[np.ndarray | None]) -> list[np.ndarray]:
        """A block of buckets (bias-corrected gyro), each as ``restart`` after a gap, ``anchor`` to a
        still window's "up" where ``anchors`` has one, then ``update``: the unit "up" vectors, one
        per bucket. Fusion needs nothing from the later stages, so it runs a whole block ahead of
        them; it is fed plain lists, which imufusion reads faster than array rows."""
        ahrs, ups = self._ahrs, []
        acc_g = (accel_mps2 / STANDARD_GRAVITY_MPS2).tolist()
        for restart, up, a, g in zip(gap.tolist(), anchors, acc_g, gyro_dps.tolist()):
            if restart:
                ahrs.restart()
            if up is not None:
                self.anchor(up)
            ahrs.update_no_magnetometer(g, a)
            ups.append(ahrs.get_gravity())
        return ups

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
