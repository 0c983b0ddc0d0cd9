"""Reps of any one-sided leg exercise: excursions from the rest pose and back (analysis/exercises.py).

The signal is the tilt of the fused "up" (sensor axes) away from the rest pose's, in degrees, with
its direction (the tangent of the tilt at the rest pose), so neither the mount nor the movement
plane needs to be known: a raise, an abduction or a lunge all tilt the segment. The rest pose is
the pose the leg stops in between reps (standing, seated, lying: the first still window, then every
stop near it). A rep: the leg, at rest, leaves it; passes ``enter_frac`` x the set's typical range
(at least ``min_rom_deg``); goes out once (back half way, then out again by ``lobe_frac`` x the peak
is a swing back and forth: gait); comes back within ``return_frac`` x its own peak; and stops or
lingers there. Walking and stairs swing through rest at speed, so no stride both starts and ends at
rest. Its direction must match the set's; the set's first reps count once ``confirm_reps`` like
ones (direction, range) have come (a fidget or two is no set), and the set's direction and range
are learned from them. A still pose far from rest (``hold_far_deg`` for ``far_hold_s``) or held
long (``max_hold_s``) is a new posture (sitting down, lying down): it becomes the rest pose and
nothing is counted; so is wherever the leg stops after an excursion that was no rep.
"""
from __future__ import annotations

import math
from collections import deque
from statistics import median

import numpy as np

from analysis.exercises import ExerciseProfile
from analysis.reps import RepFound

IDLE, OUT, SETTLE, WAIT = "idle", "out", "settle", "wait"   # at rest | away | back, not yet settled | no rep


class ExcursionDetector:
    """Per-bucket excursion counting (tuning: :class:`ExerciseProfile`)."""

    def __init__(self, profile: ExerciseProfile):
        self.p = profile
        self.rest: np.ndarray | None = None   # "up" at the rest pose, sensor axes
        self.phase = IDLE
        self.angle_deg = math.nan             # tilt from rest now
        self._roms: deque = deque(maxlen=profile.typical_reps)
        self._landed: deque = deque(maxlen=profile.typical_reps)   # tilt from rest where recent movements stopped, deg
        self._dir: np.ndarray | None = None   # the set's direction (sum of its reps' unit directions)
        self._unconfirmed: list = []          # (rep, direction) before the set's first: waiting for like ones
        self._cand: RepFound | None = None
        self._cand_dir: np.ndarray | None = None
        self._t_near = self._t_back = self._t_slow = self._t_unsettled = -math.inf
        self._armed = False                   # the leg has stopped at rest since its last movement that was no rep
        self._peak, self._dip, self._peak_dir = 0.0, 0.0, None

    def enter_deg(self) -> float:
        """How far from rest a rep must go: the set's typical range x ``enter_frac``, at least the floor:
        clearly more than how far off its rest pose the leg lands after a movement, and ``min_rom_deg``."""
        p = self.p
        typ = median(self._roms) if self._roms else 0.0
        spread = median(self._landed) if self._landed else p.spread_deg
        return max(p.min_rom_deg, p.spread_mult * spread, p.enter_frac * typ)

    def reset(self) -> None:
        """A gap in the data: drop any rep in progress (the rest pose and the set's pattern stay)."""
        self.phase, self._cand, self._armed = IDLE, None, False

    def relearn(self) -> None:
        """A set has ended: the next one learns its own direction and range."""
        self._roms.clear()
        self._dir, self._unconfirmed = None, []

    def update(self, t_s: float, up: np.ndarray, gyro_dps, still_s: float) -> list[RepFound]:
        """One bucket: the reps decided now (a set's first ones come together)."""
        p = self.p
        gx, gy, gz = gyro_dps
        rate2 = gx * gx + gy * gy + gz * gz
        if rate2 >= p.stop_dps ** 2:
            self._t_slow = t_s
        stopped = t_s - self._t_slow >= p.stop_s
        if self.rest is None:             # the first still window: fusion is anchored there
            if still_s > 0:
                self.rest = up.copy()
            return []
        c = float(np.clip(up @ self.rest, -1.0, 1.0))
        e = self.angle_deg = math.degrees(math.acos(c))
        enter = self.enter_deg()
        near = enter * p.return_frac if self._cand is None else max(enter, self._cand.rom_deg) * p.return_frac
        if e >= near or rate2 >= p.settle_dps ** 2:
            self._t_unsettled = t_s
        settled = t_s - self._t_unsettled >= p.dwell_s     # lingering at rest, slowly: not a stride through it
        if self.phase is SETTLE:
            if e >= max(enter, p.rebound_frac * self._cand.rom_deg) or t_s - self._t_back > p.settle_within_s:
                self.phase, self._cand, self._armed = IDLE, None, False   # swung on through rest: a stride
            elif stopped or settled:
                self._landed.append(e)
                self.phase, self.rest, self._armed = IDLE, up.copy(), True
                return self._accept()
            else:
                return []
        if self.phase is WAIT:            # no rep: back at rest, or wherever the leg stops is rest now
            if e < enter * p.return_frac:
                self.phase = IDLE
            elif stopped or still_s > 0:
                self.phase, self.rest, self._armed = IDLE, up.copy(), True
            return []
        if self.phase is IDLE:
            if e < enter * p.return_frac:
                self._t_near = t_s
            if e < enter and stopped:         # follow the rest pose: where the leg is stopped between reps
                self.rest = up.copy()           # (a still window, a second late, may end inside a slow lift)
            if e < enter and (still_s > 0 or stopped or settled):
                self._armed = True
            elif still_s > 0 and self._posture(up, e, still_s):
                return []
            if e >= enter:
                self.phase, self._peak, self._dip, self._peak_dir = OUT, e, e, None
                if t_s - self._t_near > p.max_rep_s:
                    self._t_near = t_s
            return []
        # OUT: away from rest
        if e > self._peak or self._peak_dir is None:
            self._peak, self._dip = max(self._peak, e), e
            v = up - c * self.rest
            n = float(np.linalg.norm(v))
            if n > 1e-6:
                self._peak_dir = v / n
        if still_s > 0 and self._posture(up, e, still_s):
            return []
        self._dip = min(self._dip, e)
        if e > p.max_rom_deg or t_s - self._t_near > p.max_rep_s \
                or (self._dip < 0.5 * self._peak and e > self._dip + p.lobe_frac * self._peak):
            self.phase, self._armed = WAIT, False   # the sensor in the hand, a pose, or a swing back and forth (gait)
            return []
        if e < p.return_frac * self._peak:
            self._returned(t_s, enter)
        return []

    def _posture(self, up: np.ndarray, e: float, still_s: float) -> bool:
        """Still away from rest: far, or for long, is a new posture (it becomes rest; no rep)."""
        if (e > self.p.hold_far_deg and still_s >= self.p.far_hold_s) or still_s > self.p.max_hold_s:
            self.rest = up.copy()
            self.phase, self._cand = IDLE, None
            self.relearn()
            self._t_near = -math.inf
            return True
        return False

    def _returned(self, t_s: float, enter: float) -> None:
        """Back near rest: a candidate if it started at rest, is long and large enough and goes the
        set's way; it then has to settle at rest (SETTLE)."""
        p, d = self.p, self._peak_dir
        self.phase = IDLE
        duration = t_s - self._t_near
        if d is None or not self._armed or not p.min_rep_s <= duration <= p.max_rep_s or self._peak < enter:
            return
        if self._dir is not None and not self._same_way(d, self._dir):
            return
        self._cand = RepFound(t_s, self._t_near, 0.0, 0.0,
                              {"rule": "back_at_rest", "enter_deg": round(enter, 2)}, rom_deg=self._peak)
        self._cand_dir, self._t_back, self.phase = d, t_s, SETTLE

    def _same_way(self, a: np.ndarray, b: np.ndarray) -> bool:
        return float(a @ b) >= math.cos(math.radians(self.p.max_dir_deg)) * float(np.linalg.norm(b))

    def _accept(self) -> list[RepFound]:
        """A candidate settled at rest: count it, or (before the set's first) hold it until enough
        like ones have come. Its ``t_s`` is when it was back at rest."""
        found, d = self._cand, self._cand_dir
        self._cand = None
        if self._dir is not None:
            return [self._count(found, d)]
        waiting = [(r, rd) for r, rd in self._unconfirmed if found.t_s - r.t_s <= self.p.confirm_within_s]
        like = [(r, rd) for r, rd in waiting if self._same_way(d, rd) and self._like(r.rom_deg, found.rom_deg)]
        if len(like) + 1 >= self.p.confirm_reps:   # what lay between went another way (a step down): not reps
            self._unconfirmed = []
            return [self._count(r, rd) for r, rd in like] + [self._count(found, d)]
        self._unconfirmed = (waiting + [(found, d)])[-self.p.typical_reps:]   # a set's first, or a lone movement
        return []

    def _like(self, a: float, b: float) -> bool:
        return min(a, b) >= self.p.like_frac * max(a, b)

    def _count(self, found: RepFound, d: np.ndarray) -> RepFound:
        self._roms.append(found.rom_deg)
        self._dir = d.copy() if self._dir is None else self._dir + d
        return found


class TwoTilts:
    """The excursion counter on two signals at once: the fused "up", and gravity's (the accelerometer
    low-passed) for when the gyro disagrees with the accelerometer (analysis/gyrocheck.py). Both run
    all along, so each has its rest pose and set learned when it is chosen; the reps of the one not
    chosen are kept ``confirm_within_s``, and on a switch those that started after the last rep
    reported was back at rest are reported (a set's first reps held for confirmation, seen by the
    other signal); from the first switch on, a rep that started before that is the same rep, seen
    later by the other signal, and is not counted again."""

    def __init__(self, profile: ExerciseProfile):
        self.fused, self.gravity = ExcursionDetector(profile), ExcursionDetector(profile)
        self.on_gravity = False
        self._keep_s = profile.confirm_within_s
        self._other: list[RepFound] = []      # the reps of the signal not chosen, recent ones
        self._last_t = -math.inf               # when the last reported rep was back at rest
        self._switched = False                 # whether the chosen signal has changed yet

    @property
    def angle_deg(self) -> float:
        return (self.gravity if self.on_gravity else self.fused).angle_deg

    def reset(self) -> None:
        self.fused.reset()
        self.gravity.reset()

    def relearn(self) -> None:
        self.fused.relearn()
        self.gravity.relearn()
        self._other = []

    def update(self, t_s: float, up: np.ndarray, gravity_up: np.ndarray, on_gravity: bool, gyro_dps,
               still_s: float) -> list[RepFound]:
        """One bucket, with both signals; ``on_gravity``: the gyro is untrusted now."""
        fused = self.fused.update(t_s, up, gyro_dps, still_s)
        grav = self.gravity.update(t_s, gravity_up, gyro_dps, still_s)
        found, other = (grav, fused) if on_gravity else (fused, grav)
        if on_gravity != self.on_gravity:
            self.on_gravity, self._switched = on_gravity, True
            found = self._other + found
            self._other = []
        self._other = [r for r in self._other if t_s - r.t_s <= self._keep_s] + other
        if self._switched:                 # a rep the other signal already reported, seen later by this one
            found = [r for r in found if r.start_s >= self._last_t]
        for r in found:
            self._last_t = max(self._last_t, r.t_s)
        return found
