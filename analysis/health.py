"""What makes a count untrustworthy, said in words: the pipeline's problems, never a silent zero.

Each check watches the stream as it passes, a few array operations per batch of blocks:
- no still moment found (no gyro bias, no tilt anchor, no standing reference: nothing can count);
- the standing reference unknown for long (the leg angle is not known, so no rep can count);
- the resting accelerometer far from 1 g (an uncalibrated chip, or the wrong unit);
- the gyro in the wrong unit. A turn of the sensor turns gravity in its axes by at most the angle
  the gyro integrates over the same time; rad/s read as deg/s integrates ~57 x too little, deg/s
  read as rad/s ~57 x too much. The ratio is taken over the spans where the accelerometer's
  direction changed clearly (``TURN_DEG`` within ``LAG_S``), so noise and rest do not count.
"""
from __future__ import annotations

import math

import numpy as np

from analysis.batches import Batches
from analysis.units import STANDARD_GRAVITY_MPS2

NO_STILL_AFTER_S = 20.0       # this long without a still moment is a problem
NO_REFERENCE_AFTER_S = 20.0   # this long without a leg angle while the leg moves is a problem
REST_OFF_FRAC = 0.1           # a resting magnitude further than this from 1 g is reported...
REST_SAID_FRAC = 0.02         # ...and its value in the line updated once it moved by more than this
LAG_S = 0.5                   # span over which the accelerometer's turn is compared with the gyro's
TURN_DEG = 15.0               # only spans where the accelerometer turned at least this far count
TURN_EVIDENCE_DEG = 180.0     # the gyro unit is judged once this much turning was seen
GYRO_LOW, GYRO_HIGH = 0.2, 15.0   # gyro angle / accelerometer angle outside these: wrong unit


class Health:
    """Fed every block of 20 ms buckets (and whether the leg angle is known); ``problems()`` says
    what is wrong, given the still stage's findings."""

    def __init__(self, rate_hz: float = 50.0):
        self.dt_s = 1.0 / rate_hz
        self.lag = max(1, int(round(LAG_S * rate_hz)))
        self._tail_dir = np.empty((0, 3))     # last ``lag`` buckets' accelerometer directions
        self._tail_rate = np.empty(0)         # ...and |gyro| (deg/s)
        self.accel_turn_deg = 0.0             # summed over the clear spans
        self.gyro_turn_deg = 0.0
        self._pending = Batches()             # blocks fed, not yet measured
        self.t_s = 0.0                        # data seen, s
        self.unknown_s = 0.0                  # how long the leg angle has been unknown, s
        self._rest_said = math.nan            # the resting magnitude the problem line gives

    def feed(self, accel_mps2: np.ndarray, gyro_dps: np.ndarray) -> None:
        """One block of buckets (raw gyro: a bias of a few deg/s does not matter here). They are
        measured in batches (analysis/batches.py), or when ``problems`` is asked."""
        n = len(accel_mps2)
        self.t_s += n * self.dt_s
        if self._pending.add(n, accel_mps2, gyro_dps):
            self._measure()

    def _measure(self) -> None:
        """Add the pending buckets' turns, over the spans that end in them."""
        parts = self._pending.take()
        if not parts:
            return
        accel_mps2, gyro_dps = (np.concatenate(x) for x in parts)
        norm = np.linalg.norm(accel_mps2, axis=1, keepdims=True)
        dirs = np.vstack([self._tail_dir, accel_mps2 / np.where(norm > 0, norm, 1.0)])
        rate = np.concatenate([self._tail_rate, np.linalg.norm(gyro_dps, axis=1)])
        if len(dirs) > self.lag:
            cos = np.einsum("ij,ij->i", dirs[self.lag:], dirs[:-self.lag]).clip(-1.0, 1.0)
            accel_deg = np.degrees(np.arccos(cos))
            c = np.concatenate(([0.0], np.cumsum(rate)))
            gyro_deg = (c[self.lag + 1:] - c[1:-self.lag]) * self.dt_s
            clear = accel_deg > TURN_DEG
            self.accel_turn_deg += float(accel_deg[clear].sum())
            self.gyro_turn_deg += float(gyro_deg[clear].sum())
        self._tail_dir, self._tail_rate = dirs[-self.lag:], rate[-self.lag:]

    def leg_angle_known(self, known: bool, span_s: float) -> None:
        """Whether the leg angle was known at the end of the last ``span_s`` of data."""
        self.unknown_s = 0.0 if known else self.unknown_s + span_s

    def problems(self, still_windows: int, rest_mps2: float) -> list[str]:
        """One line per problem, in words a runner or a therapist can act on. The lines hold no
        running numbers (seconds so far): status/error and the log change only when a problem does."""
        self._measure()
        out = []
        if still_windows == 0 and self.t_s >= NO_STILL_AFTER_S:
            out.append("no still moment found: without one there is no gyro bias and no standing "
                       "reference, so no rep can be counted (stand still for 2 s)")
        elif self.accel_turn_deg > 0 and self.unknown_s >= NO_REFERENCE_AFTER_S:
            out.append("standing reference unknown while the leg moves: the leg angle is not known, so no "
                       "rep can be counted (stand still on both feet for 2 s)")
        if not math.isnan(rest_mps2):
            if not abs(rest_mps2 - self._rest_said) < REST_SAID_FRAC * rest_mps2:
                self._rest_said = rest_mps2       # said again only once it moved clearly
            rest_mps2 = self._rest_said
            g = rest_mps2 / STANDARD_GRAVITY_MPS2
            if abs(g - 1.0) > REST_OFF_FRAC:
                out.append(f"the accelerometer reads {rest_mps2:.2f} m/s² ({g:.2f} g) at rest, "
                           f"{abs(g - 1) * 100:.0f} % from 1 g: {_accel_hint(g)}")
        unit = self.gyro_unit_problem()
        return out + ([unit] if unit else [])

    def gyro_unit_problem(self) -> str:
        """The line for a gyro read in the wrong unit, or "" (judged once enough turning was seen)."""
        self._measure()
        if self.accel_turn_deg < TURN_EVIDENCE_DEG:
            return ""
        ratio = self.gyro_turn_deg / self.accel_turn_deg
        if ratio < GYRO_LOW:
            return ("the gyro turned far less than the accelerometer saw (under 0.2 x): it looks "
                    "like rad/s read as deg/s (wrong --gyro-unit?)")
        if ratio > GYRO_HIGH:
            return ("the gyro turned far more than the accelerometer saw (over 15 x): it looks "
                    "like deg/s read as rad/s (wrong --gyro-unit?)")
        return ""


def _accel_hint(g: float) -> str:
    """The likely cause of a resting magnitude ``g`` (in standard gravities) far from 1."""
    if 0.08 < g < 0.12:
        return "it looks like values in g read as m/s² (wrong --accel-unit?)"
    if 8.0 < g < 12.0:
        return "it looks like values in m/s² read as g (wrong --accel-unit?)"
    return "is the sensor calibrated (hingemarch calibrate), and the unit right (--accel-unit)?"


REST_WINDOW_S = 1.0           # a recording's resting magnitude: from windows this long...
REST_QUIET_FRAC = 0.1         # ...the steadiest tenth of them (least spread of |a|)


def resting_magnitude(t_s: np.ndarray, accel: np.ndarray) -> float:
    """A whole recording's |acceleration| at rest, in its own unit: the median of the steadiest 1 s
    windows' means (no gyro used, so it holds whatever the gyro's unit); nan when under 1 s of data."""
    if len(t_s) < 2 or t_s[-1] - t_s[0] < REST_WINDOW_S:
        return math.nan
    mag = np.linalg.norm(accel, axis=1)
    edges = np.searchsorted(t_s, np.arange(t_s[0], t_s[-1] + 1e-9, REST_WINDOW_S))
    spans = [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b - a >= 2]
    if not spans:
        return math.nan
    means = np.array([mag[a:b].mean() for a, b in spans])
    spread = np.array([mag[a:b].std() for a, b in spans])
    quiet = np.argsort(spread)[:max(1, int(len(spans) * REST_QUIET_FRAC))]
    return float(np.median(means[quiet]))


def gyro_turn_ratio(t_s: np.ndarray, accel: np.ndarray, gyro_dps: np.ndarray) -> float:
    """How far the gyro (read as deg/s) turned over the spans where the accelerometer's direction
    turned clearly, per degree the accelerometer turned (about 1 when the unit is right, ~1/57 for
    rad/s read as deg/s); nan until ``TURN_EVIDENCE_DEG`` of turning was seen. The same measure as
    ``Health``'s, on a whole recording sampled at 50 Hz."""
    if len(t_s) < 2:
        return math.nan
    grid = np.arange(t_s[0], t_s[-1], 1.0 / 50.0)
    a = np.column_stack([np.interp(grid, t_s, accel[:, i]) for i in range(3)])
    g = np.column_stack([np.interp(grid, t_s, gyro_dps[:, i]) for i in range(3)])
    h = Health(50.0)
    h.feed(a, g)
    h._measure()
    return h.gyro_turn_deg / h.accel_turn_deg if h.accel_turn_deg >= TURN_EVIDENCE_DEG else math.nan
