"""Rep detection on the signed leg angle: excursions with hysteresis, thresholds that adapt.

A rep is a hinge excursion (leg back past the hinge threshold for at least ``min_excursion_s``)
followed by the march. On the thigh the march is a clear excursion forward and the rep ends when
the leg comes back down from it. On the shank the march shows little rotation (it even tilts the
shank back a little: knee bent more than the thigh is raised), so the rep ends when the shank is
back at standing after the march (which it passes on the way from the hinge: the rep is over
once it is back from the march's backward tilt, or has stood for ``settle_s`` when the march shows
no tilt) or when the next hinge begins (from standing, or straight from a march that
tilted the shank back: a rise then a fall of ``min_rise_deg`` each). A hinge held longer than
``max_hinge_s`` is a pose, not a rep. A hinge not followed by a march (within
``march_within_s`` on the thigh, ``rep_timeout_s`` on the shank) is not a rep. Thresholds
follow the person: a fraction of the median depth/height of their last reps, never below a floor.
"Reps" over in less than ``min_rep_s`` do not count, nor, on the shank, hinges that follow each
other faster than ``min_rep_period_s``: those are strides (walking, stairs swing the shank back like
a small hinge; they never take the thigh back past the hinge floor, so fast thigh reps all count).
Which side of the axis is the hinge is learned: the first sustained excursion of a session is the
hinge (every set starts with one); on the thigh it only counts once a march on the other side
follows, which keeps stairs and sitting down (forward only) from deciding it.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from statistics import median


@dataclass(frozen=True)
class RepParams:
    """Tuning of the rep detector. Angles in degrees, times in seconds, rates in deg/s."""

    placement: str = "thigh"          # "thigh" needs a march excursion; "shank" does not
    min_hinge_deg: float = 25.0       # floor of the hinge threshold; shallower is never a rep
    max_hinge_threshold_deg: float = 50.0
    hinge_frac: float = 0.45          # hinge threshold = this x median depth of the last reps (thigh)
    shank_hinge_frac: float = 0.6     # the same on the shank, whose march tilts it back up to ~30 deg
    rise_frac: float = 0.4            # the hinge is over once the leg has come up this x its depth...
    min_rise_deg: float = 20.0        # ...and at least this far
    min_march_deg: float = 20.0       # floor of the march threshold
    max_march_threshold_deg: float = 45.0
    march_frac: float = 0.4           # march threshold = this x median height of the last reps
    exit_frac: float = 0.5            # hysteresis: an excursion ends at this fraction of its threshold
    min_excursion_s: float = 0.3      # a hinge must stay past its threshold this long (not a step)
    min_rep_period_s: float = 1.4     # shank: hinges closer than this are strides (walking, stairs)
    min_rep_s: float = 1.1            # a whole rep (leave standing -> rep over) takes at least this
    standing_band_deg: float = 10.0   # |angle| below this is "near standing"
    settle_s: float = 0.6             # shank: standing this long after the hinge ends the rep
    max_hinge_s: float = 8.0          # a "hinge" held longer is a pose (stale reference), not a rep
    march_within_s: float = 4.0       # thigh: the march must start this soon after the hinge
    rep_timeout_s: float = 8.0        # shank: the rep must be over this soon after the hinge
    max_angle_deg: float = 150.0      # no hip goes this far either way: past it the strap is in hand
    march_timeout_s: float = 10.0     # a "march" held longer than this is the strap moving, not a rep
    typical_reps: int = 5             # how many recent reps the thresholds follow
    initial_typical_deg: float = 60.0


@dataclass(frozen=True)
class RepFound:
    """A rep the detector closed; the evidence says why."""

    t_s: float
    start_s: float
    hinge_depth_deg: float
    march_height_deg: float
    evidence: dict = field(default_factory=dict)


class RepDetector:
    """Per-bucket state machine over (t_s, raw leg angle, rate about the axis)."""

    def __init__(self, params: RepParams = RepParams()):
        self.p = params
        self.need_march = params.placement == "thigh"
        self.min_period_s = 0.0 if self.need_march else params.min_rep_period_s
        self.side = 0                 # angle = side * raw; hinge is negative. 0: not known yet
        self.side_confirmed = False
        self.phase = "idle"           # idle | cand | hinge | after | back | march | pending
        self.depths = deque(maxlen=params.typical_reps)
        self.heights = deque(maxlen=params.typical_reps)
        self._thresholds: tuple[float, float] | None = None   # (hinge, march) in force, deg
        self.t_leave = 0.0
        self.t_enter = -math.inf      # when the last hinge candidate crossed its threshold
        self.quick = False            # ...less than min_rep_period_s after the one before
        self.angle_deg = math.nan
        self._outside = False         # last bucket was away from standing
        self.relearn = False          # forget the side at the next idle moment (a set has ended)

    # thresholds in force -------------------------------------------------
    def hinge_threshold_deg(self) -> float:
        typ = median(self.depths) if self.depths else self.p.initial_typical_deg
        frac = self.p.hinge_frac if self.need_march else self.p.shank_hinge_frac
        return min(max(frac * typ, self.p.min_hinge_deg), self.p.max_hinge_threshold_deg)

    def march_threshold_deg(self) -> float:
        typ = median(self.heights) if self.heights else self.p.initial_typical_deg
        return min(max(self.p.march_frac * typ, self.p.min_march_deg), self.p.max_march_threshold_deg)

    def reset(self, forget_side: bool) -> None:
        """Drop any rep in progress (a gap in the data); forget the side if the axis was relearned."""
        if self.phase != "idle" and not self.side_confirmed:
            self.side = 0
        self.phase = "idle"
        self.t_enter = -math.inf      # what came before is no evidence of a run of strides
        if forget_side:
            self.side, self.side_confirmed = 0, False

    def relearn_side(self) -> None:
        """A set has ended: the next one learns the side again (between sets the strap may have
        been turned round the leg, which flips the axis without a trace in "up")."""
        self.relearn = True

    # the state machine ---------------------------------------------------
    def update(self, t_s: float, raw_deg: float, rate_dps: float) -> RepFound | None:
        if math.isnan(raw_deg):
            self.angle_deg = math.nan
            return None
        if self._thresholds is None:  # they change only when a rep is counted
            self._thresholds = (self.hinge_threshold_deg(), self.march_threshold_deg())
        th_h, th_m = self._thresholds
        sign = self.side or (-1 if raw_deg >= 0 else 1)
        a = sign * raw_deg            # with the side unknown, any excursion looks like a hinge
        self.angle_deg = self.side * raw_deg if self.side else math.nan

        if abs(raw_deg) < self.p.standing_band_deg and self.phase not in ("cand", "hinge"):
            self.t_leave = t_s        # last moment near standing: where the next rep starts
        near = abs(a) < self.p.standing_band_deg
        arrived, self._outside = near and self._outside, not near
        if self.phase == "pending":       # a rep waiting to be sure it was not a first stride
            if a < -th_h:             # it was: the next one starts too soon (and is "quick")
                self._start_candidate(t_s, a, sign)
                return None
            if t_s - self.t_enter < self.min_period_s:
                return None
            self.phase = "idle"
            return self._count(self.pending)
        if self.phase == "idle":
            if self.relearn:
                self.relearn, self.side, self.side_confirmed = False, 0, False
                sign = -1 if raw_deg >= 0 else 1
                a = sign * raw_deg
            if a < -th_h:
                self._start_candidate(t_s, a, sign)
            return None
        if self.phase == "cand":
            if a < self.peak:
                self.peak = self.top = a  # top: highest the leg came back up since its deepest
            if a > -th_h * self.p.exit_frac:
                self._abandon()
            elif t_s - self.t_enter >= self.p.min_excursion_s:
                self.phase = "hinge"
            return None
        if self.phase == "hinge":
            if a < self.peak:
                self.peak = self.top = a
            self.top = max(self.top, a)
            rise = max(self.p.min_rise_deg, -self.p.rise_frac * self.peak)
            if a > -th_h * self.p.exit_frac or (a > -th_h and a > self.peak + rise):
                self.phase, self.t_hinge_end, self.march_peak = "after", t_s, a
            elif (not self.need_march and self.top - self.peak >= self.p.min_rise_deg
                  and a < self.top - self.p.min_rise_deg):
                # shank: up into a march that tilts it back, then down into the next hinge
                # without standing in between (a rep flowing into the next)
                self.march_peak, self.t_hinge_end = self.top, t_s
                return self._next_hinge(t_s, a, sign, th_h, th_m)
            return None
        self.march_peak = max(self.march_peak, a)
        if self.phase == "after":
            if a > th_m:
                self.phase = "march"
            elif a < -th_h:
                return self._next_hinge(t_s, a, sign, th_h, th_m)
            elif self.marched and a > self.back_deg - self.p.standing_band_deg / 2:
                return self._close(t_s, "standing", th_h, th_m)   # back from the march's tilt
            elif not self.need_march and arrived and t_s - self.t_start >= self.p.min_rep_s:
                # at standing, or only passing through it into the march
                self.phase, self.t_back, self.back_deg = "back", t_s, a
            elif t_s - self.t_hinge_end > (self.p.march_within_s if self.need_march else self.p.rep_timeout_s):
                self._abandon()       # a hinge with no march after it is not a rep
            return None
        if self.phase == "back":      # shank, at standing after the hinge: the march may follow
            if a < -th_h:
                return self._next_hinge(t_s, a, sign, th_h, th_m)
            if a < self.back_deg - self.p.standing_band_deg:
                self.phase, self.marched = "after", True   # the march tilts the shank back
            elif t_s - self.t_back >= self.p.settle_s:
                return self._close(t_s, "standing", th_h, th_m)
            return None
        # march
        if a < th_m * self.p.exit_frac:
            return self._close(t_s, "march_return", th_h, th_m)
        if t_s - self.t_hinge_end > self.p.march_timeout_s:
            self._abandon()           # no one holds a march this long: the strap moved
        return None

    def _next_hinge(self, t_s: float, a: float, sign: int, th_h: float, th_m: float) -> RepFound | None:
        """A new hinge has begun: on the shank it ends the rep in progress (on the thigh that rep
        had no march, so it is none); either way it is the next candidate."""
        found = None if self.need_march else self._close(t_s, "next_hinge", th_h, th_m)
        self._start_candidate(t_s, a, sign)
        return found

    def _start_candidate(self, t_s: float, a: float, sign: int) -> None:
        if not self.side:
            self.side = sign          # provisional until a rep completes
        self.quick = t_s - self.t_enter < self.min_period_s
        self.phase, self.t_enter, self.peak, self.top = "cand", t_s, a, a
        self.marched = False          # shank: the march's backward tilt was seen
        # where the leg left standing; unknown if the axis was still being learned then
        self.t_start = self.t_leave if t_s - self.t_leave < self.p.rep_timeout_s else t_s

    def _abandon(self) -> None:
        self.phase = "idle"
        if not self.side_confirmed:
            self.side = 0

    def _close(self, t_s: float, rule: str, th_h: float, th_m: float) -> RepFound | None:
        if (self.quick or t_s - self.t_start < self.p.min_rep_s
                or (rule == "next_hinge" and t_s - self.t_enter < self.min_period_s)):
            self._abandon()           # a stride, or part of a run of strides
            return None
        if max(-self.peak, self.march_peak) > self.p.max_angle_deg:
            self._abandon()           # the sensor was turned over in the hand, not swung on a leg
            return None
        if self.t_hinge_end - self.t_enter > self.p.max_hinge_s:
            self._abandon()           # a pose held, read through a stale reference
            return None
        found = RepFound(t_s, self.t_start, -self.peak, max(self.march_peak, 0.0),
                         {"rule": rule, "hinge_threshold_deg": round(th_h, 2),
                          "march_threshold_deg": round(th_m, 2)})
        self.t_leave = t_s
        if t_s - self.t_enter < self.min_period_s:
            self.phase, self.pending = "pending", found   # a first stride looks like this: wait
            return None
        return self._count(found)

    def _count(self, found: RepFound) -> RepFound:
        self.depths.append(found.hinge_depth_deg)
        self._thresholds = None
        if self.need_march or found.evidence["rule"].startswith("march"):
            self.heights.append(found.march_height_deg)
        self.side_confirmed = True
        self.phase = "idle"
        return found
