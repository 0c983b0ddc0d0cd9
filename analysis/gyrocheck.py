"""Does the gyro agree with its own accelerometer? Checked live, from one still pose to the next.

At rest the accelerometer reads gravity alone, so two still poses (a quiet gyro, and the
accelerometer steady near its resting magnitude) are two known directions of "up" in the sensor's
axes; a sound gyro, integrated over the movement between them, turns the first onto the second to
within a few degrees. What it may miss: its gain (MEMS gyros are specified to
1-3 %, cross-axis 2 %: under 3 deg on a 90 deg lunge), the bias left after the still windows
(under about 1 deg/s: 1-3 deg over a 1-3 s movement) and the accelerometer's noise and a body's sway
at the still pose (a degree). A movement lands off when it misses by more than ``OFF_DEG`` +
``OFF_FRAC`` x its turn (margins of about 2-3 x on each); the gyro is untrusted while most of the
last ``RECENT`` movements land off. Movements longer than ``MAX_MOVE_S`` (bias grows with time: a
walk) or turning under ``MIN_TURN_DEG`` (too small to tell a gain from noise) are not judged.
A recording whose gyro turns 2-5 x what its accelerometer sees (docs/exercises.md) reads every
movement's shape that far off: fusion follows the gyro while the leg moves.
"""
from __future__ import annotations

import math
from collections import deque
from statistics import median

import numpy as np

from analysis.batches import Batches
from analysis.orientation import StillBias
from analysis.resample import ANALYSIS_RATE_HZ, Bucketer
from analysis.units import STANDARD_GRAVITY_MPS2

SLOW_DPS = 5.0        # a still pose: the bias-corrected rate under this...
STILL_S = 0.4         # ...for this long, while the accelerometer's direction stays within
STEADY_DEG = 1.5      # this of where it was this long ago and its magnitude within
REST_FRAC = 0.1       # this fraction of its resting one (gravity alone: no braking body, no shock)
MIN_TURN_DEG = 10.0   # a movement is judged when the accelerometer or the gyro turned "up" this far...
MAX_MOVE_S = 4.0      # ...within this long from one still pose to the next
OFF_DEG = 3.0         # it lands off when the gyro's "up" misses the accelerometer's by more than this
OFF_FRAC = 0.1        # ...plus this x the turn
RECENT = 5            # the gyro is untrusted while most of this many last judged movements landed off
MIN_JUDGED = 3        # ...once at least this many were judged

PROBLEM = ("the gyro disagrees with the accelerometer: from one still pose to the next, its turn lands "
           "far from where gravity says the leg is (a sound gyro lands within a few degrees), so the "
           "leg's tilt while it moves is not to be trusted; exercises other than the hinge-and-march "
           "read the tilt from the accelerometer alone (is the gyro's range or unit right, the chip sound?)")


class GyroCheck:
    """Fed every block of 20 ms buckets (accelerometer, bias-corrected gyro, gaps, the resting
    magnitude); ``untrusted`` says whether the gyro disagrees with the accelerometer now. A still
    pose needs the accelerometer steady at its resting magnitude too, not only a quiet gyro: in a
    lunge's step the thigh stops turning while the body still brakes. ``log``, when a list, collects
    every judged movement's (miss deg, turn deg)."""

    def __init__(self, rate_hz: float = 50.0):
        self.dt_s = 1.0 / rate_hz
        self.still_n = max(2, round(STILL_S * rate_hz))
        self.max_n = round(MAX_MOVE_S * rate_hz)
        self.cos_steady = math.cos(math.radians(STEADY_DEG))
        self._run = 0                          # quiet buckets in a row so far
        self._tail = np.zeros((0, 3))          # the last buckets' accelerometer directions
        self._start: np.ndarray | None = None  # the accelerometer's "up" at the last still bucket
        self._q = np.array([1.0, 0.0, 0.0, 0.0])   # the sensor's rotation since then (w, x, y, z)
        self._n = 0                            # buckets moved since then
        self._still = False                    # whether the last bucket was still
        self._recent: deque = deque(maxlen=RECENT)   # landed off? of the last judged movements
        self.untrusted = False
        self.log: list | None = None
        self._pending = Batches()              # blocks fed, not yet measured (see feed)

    def feed(self, accel_mps2: np.ndarray, gyro_dps: np.ndarray, gap: np.ndarray, rest_mps2: np.ndarray) -> None:
        """A block, measured in batches (analysis/batches.py; or when ``problems`` asks): where only
        the problem line is read, live blocks of a few buckets cost one measurement per batch."""
        if self._pending.add(len(accel_mps2), accel_mps2, gyro_dps, gap, rest_mps2):
            self._flush()

    def update(self, accel_mps2: np.ndarray, gyro_dps: np.ndarray, gap: np.ndarray,
               rest_mps2: np.ndarray) -> np.ndarray:
        """A block measured now: per bucket, whether the gyro is untrusted after it."""
        self._flush()
        return self._measure(accel_mps2, gyro_dps, gap, rest_mps2)

    def problems(self) -> list[str]:
        """The problem line while the gyro is untrusted."""
        self._flush()
        return [PROBLEM] if self.untrusted else []

    def _flush(self) -> None:
        parts = self._pending.take()
        if parts:
            self._measure(*(np.concatenate(x) for x in parts))

    def _quiet(self, acc: np.ndarray, gyr: np.ndarray, rest_mps2: np.ndarray) -> np.ndarray:
        """Per bucket: the gyro quiet, the accelerometer near its resting magnitude and where its
        direction was ``still_n - 1`` buckets ago (a run of quiet buckets restarts at a gap anyway)."""
        norm = np.linalg.norm(acc, axis=1)
        dirs = acc / np.where(norm > 0, norm, 1.0)[:, None]
        rest = np.where(np.isnan(rest_mps2), STANDARD_GRAVITY_MPS2, rest_mps2)
        lag = self.still_n - 1
        if not len(self._tail):                # the very start: as if the first direction had been held
            self._tail = np.repeat(dirs[:1], lag, axis=0)
        both = np.vstack([self._tail, dirs])
        then, self._tail = both[:len(dirs)], both[-lag:]
        return ((np.einsum("ij,ij->i", gyr, gyr) < SLOW_DPS ** 2) & (np.abs(norm - rest) < REST_FRAC * rest)
                & (np.einsum("ij,ij->i", dirs, then) > self.cos_steady))

    def _measure(self, acc: np.ndarray, gyr: np.ndarray, gap: np.ndarray, rest_mps2: np.ndarray) -> np.ndarray:
        """The block's still buckets (a run of ``still_n`` quiet ones, restarted at a gap); each
        stretch of movement between two is integrated (one quaternion product) and judged at the next."""
        n = len(acc)
        flags = np.zeros(n, bool)
        if n == 0:
            return flags
        quiet = self._quiet(acc, gyr, rest_mps2)
        breaks = np.flatnonzero(~quiet | gap)      # a quiet bucket after a gap starts a run: one in a row
        last_break = np.full(n, -1 - self._run)
        last_break[breaks] = breaks - quiet[breaks]
        run = np.arange(n) - np.maximum.accumulate(last_break)   # quiet buckets in a row
        still = run >= self.still_n
        self._run = int(run[-1])
        # pieces: a run of buckets all still or all moving, split at gaps
        edges = np.flatnonzero(np.diff(still.astype(np.int8)) != 0) + 1
        edges = np.union1d(edges, np.flatnonzero(gap))
        for i0, i1 in zip(np.concatenate(([0], edges)).tolist(), np.concatenate((edges, [n])).tolist()):
            if i0 == i1:
                continue
            if gap[i0]:
                self._start, self._still = None, False
            if still[i0]:
                if not self._still and self._start is not None:
                    self._judge(_unit(acc[i0]))
                self._start, self._still = _unit(acc[i1 - 1]), True
                self._q, self._n = np.array([1.0, 0.0, 0.0, 0.0]), 0
            else:
                self._still = False
                self._turn(gyr[i0:i1])
            flags[i0:i1] = self.untrusted
        return flags

    def _turn(self, gyr: np.ndarray) -> None:
        """Add these buckets' rotation to the movement's, while it is short enough to judge."""
        if self._start is None:
            return
        self._n += len(gyr)
        if self._n > self.max_n:
            self._start = None                 # too long to judge (bias grows with time)
        else:
            self._q = _qmul(self._q, _qprod(_steps(gyr, self.dt_s)))

    def _judge(self, up1: np.ndarray) -> None:
        """The leg is still again: where the gyro turned the last still pose's "up", against where
        the accelerometer says it is now."""
        w, v = self._q[0], -self._q[1:]          # "up" turns against the sensor: the conjugate rotation
        u0 = self._start
        t = 2.0 * np.cross(v, u0)
        u = u0 + w * t + np.cross(v, t)
        miss = _angle_deg(u, up1)
        turn = max(_angle_deg(u0, up1), _angle_deg(u0, u))
        if turn < MIN_TURN_DEG:
            return
        self._recent.append(miss > OFF_DEG + OFF_FRAC * turn)
        if len(self._recent) >= MIN_JUDGED:
            self.untrusted = sum(self._recent) * 2 > len(self._recent)
        if self.log is not None:
            self.log.append((miss, turn))


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else np.array([0.0, 0.0, 1.0])


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return math.degrees(math.acos(max(-1.0, min(1.0, float(a @ b) / float(np.linalg.norm(a) * np.linalg.norm(b))))))


def _steps(gyro_dps: np.ndarray, dt_s: float) -> np.ndarray:
    """Each bucket's rotation as a unit quaternion (w, x, y, z), from its rate held over ``dt_s``."""
    rv = np.radians(gyro_dps) * dt_s
    angle = np.linalg.norm(rv, axis=1, keepdims=True)
    s = np.where(angle > 0, np.sin(angle / 2) / np.where(angle > 0, angle, 1.0), 0.5)
    return np.hstack([np.cos(angle / 2), rv * s])


def _qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton products a x b, row by row (or of two quaternions)."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def _qprod(q: np.ndarray) -> np.ndarray:
    """q[0] x q[1] x ... in order, by pairs (log2(n) vectorised products)."""
    while len(q) > 1:
        odd = q[-1:] if len(q) % 2 else q[:0]
        q = np.vstack([_qmul(q[0:len(q) - 1:2], q[1::2]), odd])
    return q[0]


def disagreement(t_s: np.ndarray, accel_mps2: np.ndarray, gyro_dps: np.ndarray) -> tuple[float, int, bool]:
    """A whole recording's check, as the pipeline makes it (20 ms buckets, the still windows' gyro
    bias): the median miss over its judged movements (deg, nan if none), how many, and whether the
    gyro was untrusted at any time."""
    b = Bucketer(ANALYSIS_RATE_HZ)
    parts = [b.feed(t_s, accel_mps2, gyro_dps), b.finish()]
    _, acc, gyr, gap = (np.concatenate(x) for x in zip(*parts))
    check = GyroCheck(ANALYSIS_RATE_HZ)
    check.log = []
    still = StillBias(rate_hz=ANALYSIS_RATE_HZ).update_block(acc, gyr, gap)
    off = check.update(acc, still.gyro_dps, gap, still.rest_mps2)
    misses = [m for m, _ in check.log]
    return (median(misses) if misses else math.nan), len(misses), bool(off.any())
