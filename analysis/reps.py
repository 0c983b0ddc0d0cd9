"""Rep detection on the signed leg angle: excursions with hysteresis, thresholds that adapt.

A rep is a hinge excursion (leg back past the hinge threshold for at least ``min_excursion_s``)
followed by the march. On the thigh the march is a clear excursion forward and the rep ends when
the leg comes back down from it. On the shank the march shows little rotation (it even tilts the
shank back a little: knee bent more than the thigh is raised), so the rep ends when the shank is
back at standing (the pose its hinge left: a strap slipped mid-set moves it off the reference)
after the march (which it passes on the way from the hinge: the rep is over
once it is back from the march's backward tilt, or has stood for ``settle_s`` when the march shows
no tilt) or when the next hinge begins (from standing, or straight from a march that
tilted the shank back: a rise as large as ends a hinge, then a fall of ``min_rise_deg``); a lobe
back after the hinge that is shallower than ``march_tilt_frac`` x it is the march's tilt. A hinge
held longer than ``max_hinge_s`` is a pose, not a rep. A hinge not followed by a march (within
``march_within_s`` on the thigh, ``rep_timeout_s`` on the shank) is not a rep. Thresholds
follow the person: a fraction of the median depth/height of their last reps, never below a floor.
"Reps" over in less than ``min_rep_s`` (``shank_min_rep_s``) do not count, nor, on the shank,
stride-like hinges (shallow, then a forward reach like a heel strike, or shallower still: stairs)
that follow the last one sooner than ``min_rep_period_s`` unless they keep the set's own cadence:
those are strides (walking and stairs swing the shank back like a small hinge; they never take the
thigh back past the hinge floor, so fast thigh reps all count). On the shank, a lobe as far forward
as back is a leg swing. A hinge counts only if the leg left standing soon after resting
(``ready_s``; the shank at standing, the thigh anywhere) or flows on from a counted rep: a leg swing
in a stretch passes standing fast and never rests. A march that hides the shank's turn (the knee
bent as far as the thigh rises) shows as the knee sweeping: the knee's acceleration (the sensor's
linear acceleration less the shank's own turning about the knee) while the shank barely turns; two
sweeps in a hinge (into the march, back into the next hinge) are a rep. A slow march bent far more
than the thigh rises tilts the shank back almost as far as the hinge: a slow rise of the shank with
the knee accelerating, then a fall into the next hinge, is a rep. A rep flowing into the next hinge
must have swept the knee through a march (``flow_travel_m``, from its acceleration and its time): a
stretch's bob or a leg swing flows on with the knee barely moving.
Which side of the axis is the hinge is learned: the first sustained excursion of a session is the
hinge (every set starts with one); on the thigh it only counts once a march on the other side
follows, which keeps stairs and sitting down (forward only) from deciding it. On the shank, until a
rep of the session shows the side (back at standing, the knee swept through a march, or deeper than
any pose held forward), flowing reps wait for one that does: a hamstring stretch before the first set
holds the shank forward and bobs, each bob read as the next hinge; its chain ends resting, uncounted.
On the shank, a swing back from standing that turns it about a point below the sensor, the knee straight
at its onset, is a march's tilt (the knee coming forward as the foot swings back, after the foot touched
down between hinge and march), not a hinge: a hinge turns it about the hip (see ``_march_onset``).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from statistics import median

FLOWING = ("next_hinge", "sweep", "knee_rise")   # shank: the rules that end a rep at the next hinge, not at standing
PLACEMENTS = ("thigh", "shank")   # where the sensor can sit on the lifted leg; the rules below differ by it


@dataclass(frozen=True)
class RepParams:
    """Tuning of the rep detector. Angles in degrees, times in seconds, rates in deg/s."""

    placement: str = "thigh"          # "thigh" needs a march excursion; "shank" does not
    min_hinge_deg: float = 25.0       # floor of the hinge threshold; shallower is never a rep
    max_hinge_threshold_deg: float = 50.0   # cap of the adaptive threshold (never above the floor)
    hinge_frac: float = 0.55          # hinge threshold = this x median depth of the last reps (thigh)
    shank_hinge_frac: float = 0.6     # the same on the shank, whose march tilts it back up to ~30 deg
    rise_frac: float = 0.4            # the hinge is over once the leg has come up this x its depth...
    min_rise_deg: float = 20.0        # ...and at least this far
    min_march_deg: float = 30.0       # floor of the march threshold
    max_march_threshold_deg: float = 45.0
    march_frac: float = 0.5           # march threshold = this x median height of the last reps
    exit_frac: float = 0.5            # hysteresis: an excursion ends at this fraction of its threshold
    min_excursion_s: float = 0.3      # a hinge must stay past its threshold this long (not a step)
    min_rep_period_s: float = 1.4     # shank: hinges closer than this are strides (walking, stairs)...
    cadence_tol: float = 0.15         # ...unless the set's own rep cadence is known and kept within this
    stride_max_deg: float = 85.0      # shank: no stride swings it back this far; a deeper lobe is a hinge
    stride_reach_deg: float = 12.0    # shank: a stride then swings it forward this far (heel strike)...
    stair_max_deg: float = 50.0       # ...or, on stairs, swings it back no further than this
    swing_frac: float = 0.6           # shank: forward past this x the hinge is a leg swing (a high-knee
                                      # march keeps the foot under the knee: the shank barely goes forward)
    march_tilt_frac: float = 0.8      # shank: a lobe back after the hinge, shallower than this x the
                                      # hinge, is the march tilting the shank back, not the next hinge
    min_rep_s: float = 0.8            # thigh: a whole rep (leave standing -> rep over) takes at least this
                                      # (a 1.2 s rep is over at its march's return, about 1.0 s in; a jog's
                                      # stride, 0.7 s, never takes the thigh past the hinge floor anyway)
    shank_min_rep_s: float = 1.1      # shank: the same (strides of 1.0-1.1 s swing it back like a hinge)
    standing_band_deg: float = 10.0   # |angle| below this is "near standing"
    settle_s: float = 0.6             # shank: standing this long after the hinge ends the rep
    ready_dps: float = 20.0           # slower than this about the axis is "at rest"...
    ready_band_deg: float = 25.0      # ...on the shank near standing: within this (wider than the standing
                                      # band: a strap slipped in the rest reads standing up to ~20 deg off
                                      # until re-homed); the thigh anywhere (a strap slipped 25 deg reads
                                      # its stand 25 deg off, in a set too, until it is re-homed)...
    ready_s: float = 0.3              # ...once held this long (a swing passes standing fast, never resting)
    ready_gap_s: float = 1.0          # a hinge counts if the leg left standing this soon after resting,
                                      # or it follows a counted rep straight on (a flowing set)
    sweep_mps2: float = 2.0           # shank: linear acceleration this far above its least in the hinge
                                      # while the shank barely turns is the thigh sweeping the knee through
                                      # a march that hides the shank's turn (the least: the chip's offsets)...
    sweep_end_mps2: float = 1.0       # ...until it falls back within this of it...
    sweep_dps: float = 90.0           # ...while the shank turns slower than this...
    sweep_s: float = 0.3              # ...for this long in all (a hinge stopping fast is a shorter jolt)
    knee_rise_deg: float = 10.0       # shank, in a hinge: up this far, then down as far, is a slow march that
                                      # tilts the shank back almost as far as the hinge, then the next hinge...
    knee_rise_s: float = 1.5          # ...if the rise took this long (a fast knee sweeps past ``sweep_mps2``; a
                                      # stretch's bob in a held pose turns back within a second)...
    knee_accel_s: float = 0.6         # ...with the knee accelerating (``sweep_end_mps2``) this long while it rose
                                      # (a bob's jolts are brief: 0.3-0.5 s)
    march_tilt_max_deg: float = 90.0  # shank: a march tilts it back at most this far (the knee bent 120 deg, the
                                      # thigh raised 30); the foot pulled up behind in a stretch holds it further
    march_sweep_mps2: float = 8.0     # shank, before any rep showed the side: linear acceleration this far
                                      # above its least in a rep is the knee swung through a march (60-90 deg
                                      # of thigh in about a second: 10-30 m/s^2); a stretch's bob moves the
                                      # thigh 5-10 deg (under 5)
    knee_above_m: float = 0.25        # shank: the knee is this far above the sensor (a strap at mid-shank: 0.36-0.48 m
                                      # shanks; the shank's own turn about it is left out of the knee's acceleration)
    flow_travel_m: float = 0.8        # shank: a rep flowing into the next hinge swept the knee at least this far
                                      # (100 deg of thigh on a 0.45 m thigh: a hinge of 45, a march of 55; flowing
                                      # reps read 1.1 m and more, a stretch's bobs 0.3-0.5, swings 0.4-1.1: see
                                      # ``_knee_travel_m``)
    pivot_corr: float = 0.7           # shank: a swing's onset turning the shank about a point below the sensor this
                                      # tightly is a march's tilt (see ``_march_onset``)...
    onset_s: float = 0.1              # ...judged once it has sped up this long and stopped speeding up...
    pivot_rad_s2: float = 2.5         # ...if its angular acceleration reached this (0.5 m from the centre: 1.2 m/s^2,
                                      # clear of the 0.3-0.5 the swing acceleration reads off: "up" 2-3 deg off)
    pivot_below_m: float = 0.2        # shank: a march's tilt turns the shank about a point this far below the sensor
                                      # or more (near the foot: the strap sits 0.2 m above the ankle)...
    bent_knee_m: float = 0.5          # ...with the knee straight: the acceleration along the shank under this x the
                                      # angular acceleration (bent at a march top: 0.8-1.7 m)
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
    rom_deg: float | None = None    # range of motion; None: the hinge depth plus the march height


class Phase(Enum):
    """Where the leg is in a rep."""

    IDLE = "idle"            # no rep in progress
    CANDIDATE = "candidate"  # past the hinge threshold, not yet for ``min_excursion_s``
    HINGE = "hinge"          # a hinge: waiting for the leg to come up out of it
    AFTER = "after"          # the hinge is over: waiting for the march (or, shank, standing)
    BACK = "back"            # shank: near standing after the hinge; the march may still follow
    MARCH = "march"          # thigh: past the march threshold, waiting for it to come down
    PENDING = "pending"      # shank: a rep closed, waiting to be sure it was not a first stride


@dataclass
class _Rep:
    """The rep in progress: when it began and how far the leg went."""

    t_start: float = 0.0      # the leg left standing
    t_enter: float = -math.inf  # the hinge crossed its threshold
    t_hinge_end: float = 0.0  # the leg came up out of the hinge
    peak: float = 0.0         # deepest angle of the hinge (negative)
    top: float = 0.0          # highest the leg came back up since its deepest
    march_peak: float = 0.0   # highest angle after the hinge
    back_deg: float = 0.0     # shank: angle on reaching standing after the hinge
    home_deg: float = 0.0     # shank: the angle of the pose it left for this hinge (standing, as read)
    tilted: bool = False      # shank: the march tilted it back
    quick: bool = False       # the hinge began too soon after the last one (see ``too_soon``)
    ready: bool = True        # it began from rest (shank: at standing), or flowed on from a counted rep
    from_standing: bool = True  # the leg left standing for this hinge (within ``rep_timeout_s``)
    sweeps: int = 0           # shank: sweeps of the knee with the shank held back (``sweep_mps2``)
    sweep_s: float = 0.0      # time swept so far in the current one
    least_mps2: float = math.inf  # least acceleration (shank: the knee's) since the hinge began
    rise_s: float = 0.0       # shank: time the knee accelerated while the shank rose since its deepest
    t_deepest: float = 0.0    # shank: when the hinge was deepest...
    t_top: float = 0.0        # ...and when it was highest since
    low_mps2: float = math.inf    # least and most acceleration (shank: the knee's) since the rep left standing
    most_mps2: float = 0.0
    t_rested: float = math.nan    # shank: when the leg first came to rest after the hinge (see ``_rested_s``)
    own_s: float = math.inf       # how long the rep took: leaving standing to its close (back at standing
                                  # ``settle_s``: the shank's march is near standing), or into the next hinge
    t_still: float = math.nan     # shank, after the hinge: since when it has turned slower than ``ready_dps``
    held_deg: float = -math.inf   # shank: a march top held tilted back after the hinge (see ``_held_march``)


def knee_mps2(dt_s: float, rate_dps: float, prev_rate_dps: float, linear_mps2: float, across_mps2: float,
              along_mps2: float, knee_above_m: float) -> float:
    """Shank: the knee's own acceleration, m/s^2 (what the thigh's sweep shows): the sensor's linear
    acceleration less what the shank's own turning about the knee, ``knee_above_m`` = d above the
    sensor, adds there (d x its angular acceleration across the shank, from the rate about the axis now
    and a bucket ``dt_s`` before; d x the rate squared along it, toward the knee). A stride or a leg
    swing whips the shank about the knee at 300-500 deg/s; read whole, that whip looked like a knee
    sweeping through a march. Unchanged where the movement plane is not known (no parts across and
    along: ``LegAngle.swing_mps2``)."""
    if (across_mps2 == 0.0 and along_mps2 == 0.0) or not 0.0 < dt_s < 1.0:
        return linear_mps2
    w = math.radians(rate_dps)
    alpha = (w - math.radians(prev_rate_dps)) / dt_s
    off_plane = max(linear_mps2 * linear_mps2 - across_mps2 * across_mps2 - along_mps2 * along_mps2, 0.0)
    return math.sqrt(off_plane + (across_mps2 - knee_above_m * alpha) ** 2
                     + (along_mps2 - knee_above_m * w * w) ** 2)


class RepDetector:
    """Per-bucket state machine over (t_s, raw leg angle, rate about the axis)."""

    def __init__(self, params: RepParams = RepParams()):
        self.p = params
        self.need_march = params.placement == "thigh"
        self.side = 0                 # angle = side * raw; hinge is negative. 0: not known yet
        self.side_confirmed = False
        self.prior_side = 0           # the last set's hinge side, while the next set learns its own
        self.side_whole = False       # a whole rep (standing to standing) was counted on this side
        self.phase = Phase.IDLE
        self.rep = _Rep()             # the rep in progress (meaningful outside IDLE)
        self.pending: RepFound | None = None
        self.depths = deque(maxlen=params.typical_reps)
        self.heights = deque(maxlen=params.typical_reps)
        self.rep_s = deque(maxlen=params.typical_reps)     # the set's counted reps' own durations, s
        self._thresholds: tuple[float, float] | None = None   # (hinge, march) in force, deg
        self.t_leave = -math.inf      # last moment near standing: where the next rep starts
        self.t_near = math.nan        # since when the leg has been near standing, NaN: it is not
        self.t_slow = math.nan        # since when it has been near standing and slow, NaN: it is not
        self.t_ready = -math.inf      # last moment it had rested (shank: at standing) for ``ready_s``
        self.t_closed = -math.inf     # when the last rep closed (counted, or waiting in PENDING)
        self.t_prev = math.nan        # the previous bucket's time
        self.angle_deg = math.nan
        self.relearn = False          # forget the side at the next idle moment (a set has ended)
        self.stood_deg = -math.inf    # shank, between reps: the furthest forward held since the last rest
                                      # (or, a rep not closed yet, the pose it rests in after its hinge)
        self.end_deg = 0.0            # shank: where the last rep ended back at standing (a slipped strap reads it off)
        self.side_shown = False       # a rep of the session showed the hinge side (see ``_shows_side``)
        self.held: list[RepFound] = []      # shank, until then: flowing reps waiting for one that shows it
        self.released: list[RepFound] = []  # held reps one just showed (they come before it)
        self.rate_prev_dps = 0.0      # shank: the last bucket's rate, and the swing speeding up since it last
        self.onset = [0.0] * 10       # turned: n, sums of angular acceleration x, across y, x^2, xy, y^2; s;
                                      # most |x|; sums of along z, xz
        self.onset_done = False       # shank: the swing under way has sped up for ``onset_s`` and stopped...
        self.onset_judged = False     # ...and was judged (``_march_onset``):
        self.march_lobe = False       # ...a march's tilt back from standing, no hinge

    # thresholds in force -------------------------------------------------
    def hinge_threshold_deg(self) -> float:
        typ = median(self.depths) if self.depths else self.p.initial_typical_deg
        frac = self.p.hinge_frac if self.need_march else self.p.shank_hinge_frac
        return max(min(frac * typ, self.p.max_hinge_threshold_deg), self.p.min_hinge_deg)   # the floor wins

    def march_threshold_deg(self) -> float:
        typ = median(self.heights) if self.heights else self.p.initial_typical_deg
        return min(max(self.p.march_frac * typ, self.p.min_march_deg), self.p.max_march_threshold_deg)

    def too_soon(self, period_s: float) -> bool:
        """Shank: a hinge this soon after the last one looks like a stride: sooner than
        ``min_rep_period_s``, unless it keeps the set's own cadence: its counted reps' median duration
        (leaving standing to back there or into the next hinge), within ``cadence_tol``. A fast flowing
        set is faster than any fixed period allows, while strides keep a rhythm of their own. Not the
        time between hinges: a set's stands between reps put 4-5 s periods among its 1.4 s flowing reps,
        and a flowing rep kept the cadence of none of them (1029)."""
        if self.need_march or period_s >= self.p.min_rep_period_s:
            return False
        if len(self.rep_s) < 2:
            return True
        own = median(self.rep_s)
        return abs(period_s - own) > self.p.cadence_tol * own

    def reset(self, forget_side: bool, prior_side: int = 0) -> None:
        """Drop any rep in progress (a gap in the data); forget the side if the axis was relearned,
        keeping ``prior_side`` as the likelier one (the pipeline's: the axis is back where it was)."""
        if self.phase is not Phase.IDLE and not self.side_confirmed:
            self.side = 0
        self.phase = Phase.IDLE
        self.rep.t_enter = -math.inf  # what came before is no evidence of a run of strides
        self.rep.home_deg, self.stood_deg, self.end_deg = 0.0, -math.inf, 0.0   # the reference changed: read anew
        self.held = []                # a replay finds them again
        if forget_side:
            self.side, self.side_confirmed, self.prior_side, self.side_whole = 0, False, prior_side, False

    def rewind(self, t_s: float, at_rep_end: bool) -> None:
        """The detector is about to read the buckets from ``t_s`` on again (a replay after a re-home
        or a turn of the axis). When they begin where the last rep closed (``at_rep_end``), the leg
        was back at standing just before ``t_s``: a rep found there is timed from ``t_s``, not from
        where the stale reading later saw the leg leave standing (a fast rep a re-home recovered
        "lasted under 0.8 s" and was dropped). Where the leg neared standing is read again. On the
        thigh it left standing no later than ``t_s`` either way: the stale reading's later "left
        standing" would make a rep found in the re-read buckets begin after its own hinge, far from
        the rest before it."""
        if at_rep_end or self.need_march:
            self.t_leave = min(self.t_leave, t_s)
        self.t_near = self.t_slow = self.t_prev = math.nan

    def forget_sizes(self) -> None:
        """A re-home in the middle of a set: the strap slipped among the reps the thresholds follow,
        so the last of them were read through the stale reference, where a slip of X deg within the
        plane adds X to every hinge and takes it from every march (a 17 deg slip read hinges of
        65 deg as 80-90 deg, and the next set's fast hinges held the raised threshold too briefly).
        They are learned again from the reps read in the new reference. (A re-home from a stand in a
        rest keeps them: that slip came after the reps they were read from.)"""
        self.depths.clear()
        self.heights.clear()
        self._thresholds = None

    def relearn_side(self) -> None:
        """A set has ended: the next one learns the side again (between sets the strap may have
        been turned round the leg, which flips the axis without a trace in "up"), and its own cadence."""
        self.relearn = True
        self.rep_s.clear()

    # the state machine ---------------------------------------------------
    def update(self, t_s: float, raw_deg: float, rate_dps: float, linear_mps2: float = 0.0,
               across_mps2: float = 0.0, along_mps2: float = 0.0) -> list[RepFound]:
        """One bucket: the leg angle (deg, before the side is applied), its rate about the axis, the
        sensor's linear acceleration (m/s^2) and its parts across and along the leg in the movement
        plane (``LegAngle.swing_mps2``; the shank's rules read the knee's from them, ``knee_mps2``);
        the reps shown now, oldest first: held ones the rep closed now showed the side of (see
        ``held``), then that rep."""
        if not self.need_march:       # the knee's own acceleration is what the shank's rules read
            linear_mps2 = knee_mps2(t_s - self.t_prev, rate_dps, self.rate_prev_dps, linear_mps2, across_mps2,
                                    along_mps2, self.p.knee_above_m)
            self._follow_onset(t_s - self.t_prev, rate_dps, across_mps2, along_mps2)
        found = self._step(t_s, raw_deg, rate_dps, linear_mps2)
        if self.released:
            out, self.released = self.released, []
            return out if found is None else out + [found]
        return [] if found is None else [found]

    def _step(self, t_s: float, raw_deg: float, rate_dps: float, linear_mps2: float) -> RepFound | None:
        """The state machine, one bucket: the rep closed now, if any."""
        dt, self.t_prev = t_s - self.t_prev, t_s
        if math.isnan(raw_deg):
            self.angle_deg = math.nan
            return None
        if self._thresholds is None:  # they change only when a rep is counted
            self._thresholds = (self.hinge_threshold_deg(), self.march_threshold_deg())
        th_h, th_m = self._thresholds
        p, r = self.p, self.rep
        if self.need_march and self.t_ready == -math.inf:   # thigh, the first angle read: what the leg
            self.t_ready = t_s          # did before is unknown (a recording starting mid-set): a rest
        sign = self.side or (-1 if raw_deg >= 0 else 1)
        a = sign * raw_deg            # with the side unknown, any excursion looks like a hinge
        self.angle_deg = self.side * raw_deg if self.side else math.nan
        if abs(raw_deg) < p.standing_band_deg and self.phase not in (Phase.CANDIDATE, Phase.HINGE):
            self.t_leave = t_s
        # back where its hinge left, or at the reference (a hinge may leave a march held, flowing on)
        if min(abs(a - r.home_deg), abs(a)) < p.standing_band_deg:
            if math.isnan(self.t_near):
                self.t_near = t_s
        else:
            self.t_near = math.nan
        # at rest: the shank near standing (the reference, or where the last rep ended: a strap slipped
        # before a set reads its stand up to 30 deg off); the thigh anywhere (no leg swing pauses, and
        # through a slipped strap the thigh's stand reads as far off as it slipped until it is re-homed)
        if (self.need_march or min(abs(a), abs(a - self.end_deg)) < p.ready_band_deg) and abs(rate_dps) < p.ready_dps:
            if math.isnan(self.t_slow):
                self.t_slow = t_s
            if t_s - self.t_slow >= p.ready_s:
                if self.t_ready < t_s - dt - 1e-6:   # a new rest: the next hinge starts here or later
                    self.stood_deg = -math.inf
                if self.phase is Phase.IDLE and self.held:
                    self._drop_held()     # the chain ended resting
                self.t_ready = t_s
        else:
            self.t_slow = math.nan
        phase = self.phase
        if phase not in (Phase.IDLE, Phase.PENDING):
            r.low_mps2 = min(r.low_mps2, linear_mps2)
            r.most_mps2 = max(r.most_mps2, linear_mps2)
        if not self.need_march and self.side and abs(rate_dps) < p.ready_dps:
            if phase in (Phase.IDLE, Phase.PENDING):
                self.stood_deg = max(self.stood_deg, a)   # shank: a pose, not the leg swinging through one
            elif phase in (Phase.AFTER, Phase.BACK) and t_s - self.t_slow >= p.ready_s:
                self.stood_deg = a    # a rep not closed: the leg rests after its hinge (the next hinge's home)
        if phase is Phase.PENDING:    # a rep waiting to be sure it was not a first stride
            if a < -th_h:             # the next hinge: too soon, the rep was a stride; else it stands
                found = None if self.too_soon(t_s - r.t_enter) else self._count(self.pending)
                self._start_candidate(t_s, a, sign)
                return found
            if t_s - r.t_enter < self.p.min_rep_period_s:
                return None
            self.phase = Phase.IDLE
            return self._count(self.pending)
        if phase is Phase.IDLE:
            if self.relearn:
                self.prior_side = self.side if self.side_whole else self.prior_side
                self.relearn, self.side, self.side_confirmed, self.side_whole = False, 0, False, False
                self.held = []
                self.end_deg = 0.0
                sign = -1 if raw_deg >= 0 else 1
                a = sign * raw_deg
            if a < -th_h and not self.need_march and not self.onset_judged and sign * rate_dps < 0.0:
                if not self.onset_done:
                    return None           # shank: a swing back, judged once it has stopped speeding up
                self.onset_judged = True
                self.march_lobe = self._march_onset()   # the knee came forward as the shank tilted back
            elif a > -th_h * p.exit_frac:
                self.march_lobe = False
            if a < -th_h and not self.march_lobe:
                self._start_candidate(t_s, a, sign)
            return None
        if phase is Phase.CANDIDATE:
            if a < r.peak:
                r.peak = r.top = a    # top: highest the leg came back up since its deepest
                r.t_deepest = r.t_top = t_s
            if a > -th_h * p.exit_frac:
                self._abandon()
            elif t_s - r.t_enter >= p.min_excursion_s:
                self.phase = Phase.HINGE
            return None
        if phase is Phase.HINGE:
            if a < r.peak:
                r.peak = r.top = a
                r.rise_s, r.t_deepest = 0.0, t_s
            if a >= r.top:
                r.top, r.t_top = a, t_s
            rise = max(p.min_rise_deg, -p.rise_frac * r.peak)
            if a > -th_h * p.exit_frac or (a > -th_h and a > r.peak + rise):
                self.phase, r.t_hinge_end, r.march_peak = Phase.AFTER, t_s, a
            elif not self.need_march and r.top - r.peak >= rise and a < r.top - p.min_rise_deg:
                # shank: up into a march that tilts it back, then down into the next hinge
                # without standing in between (a rep flowing into the next); the rise is as large
                # as the one that ends a hinge, so pulsing in a held pose (a stretch) is no march
                r.march_peak, r.t_hinge_end = r.top, t_s
                return self._next_hinge(t_s, a, sign, th_h, th_m)
            elif not self.need_march and self._swept(dt, rate_dps, linear_mps2) >= 2:
                # shank: held back while the knee swept forward into a march and back into the next
                # hinge (the knee bent as far as the thigh rose: the shank barely turned)
                r.march_peak, r.t_hinge_end = r.top, t_s
                return self._next_hinge(t_s, a, sign, th_h, th_m, "sweep")
            elif not self.need_march and self._knee_rose(dt, linear_mps2, a) and self._set_side():
                # shank: the knee came forward and up (the shank rose a little, the knee accelerating)
                # into a march bent far more than the thigh rose, then the shank fell into the next hinge
                r.march_peak, r.t_hinge_end = r.top, t_s
                return self._next_hinge(t_s, a, sign, th_h, th_m, "knee_rise")
            return None
        r.march_peak = max(r.march_peak, a)
        if phase is Phase.MARCH:      # thigh
            if a < th_m * p.exit_frac:
                return self._close(t_s, "march_return", th_h, th_m)
            if self.need_march and self.t_ready == t_s and a < th_m and a < r.march_peak - max(p.min_rise_deg, p.rise_frac * r.march_peak):
                # come down from the march and resting there: standing, read off by a strap slipped
                # mid-set (20-25 deg up, above the exit level) until it is re-homed
                return self._close(t_s, "march_rest", th_h, th_m)
            if t_s - r.t_hinge_end > p.march_timeout_s:
                self._abandon()       # no one holds a march this long: the strap moved
            return None
        if self.need_march:           # thigh, AFTER
            if a > th_m:
                self.phase = Phase.MARCH
            elif a < -th_h:
                return self._next_hinge(t_s, a, sign, th_h, th_m)
            elif t_s - r.t_hinge_end > p.march_within_s:
                self._abandon()       # a hinge with no march after it is not a rep
            return None
        return self._shank_after(t_s, a, rate_dps, sign, th_h, th_m)

    def _shank_after(self, t_s: float, a: float, rate_dps: float, sign: int, th_h: float,
                     th_m: float) -> RepFound | None:
        """Shank, after the hinge. The march shows as a forward excursion, as little rotation, or as
        a tilt back (knee bent more than the thigh is raised) up to about as far as a shallow hinge:
        a lobe back after the hinge is that tilt while it stays shallower than ``march_tilt_frac`` x
        this rep's hinge; deeper, or any lobe after the tilt, is the next hinge. The rep is over once
        the shank is back from the tilt, or has stood for ``settle_s`` when the march showed none;
        each is a condition held over time, checked on every bucket until the rep is long enough."""
        p, r = self.p, self.rep
        long_enough = t_s - r.t_start >= p.shank_min_rep_s
        if self.phase in (Phase.AFTER, Phase.BACK) and abs(rate_dps) < p.ready_dps:
            if math.isnan(r.t_still):
                r.t_still = t_s
            if self.phase is Phase.AFTER and t_s - r.t_still >= p.ready_s and a < r.home_deg - p.standing_band_deg:
                r.held_deg = max(r.held_deg, a)   # held short of standing, tilted back: the march's top
        else:
            r.t_still = math.nan
        rested = self._rested_s(t_s, a)
        if self.phase is Phase.AFTER and not r.tilted and a < r.march_peak - p.min_rise_deg \
                and r.march_peak < r.home_deg - p.standing_band_deg:
            r.tilted = True           # it came up short of standing and is going back: that was the march
        if a > th_m:
            self.phase = Phase.MARCH
        elif a < -th_h and (r.tilted or a < p.march_tilt_frac * r.peak or self._held_march(a)):
            return self._next_hinge(t_s, a, sign, th_h, th_m)
        elif t_s - r.t_hinge_end > p.rep_timeout_s and not math.isnan(rested):
            # up from the hinge and rested since, where no standing it knows reads (a strap slipped as
            # the hinge left, so no pose showed the new standing): the rep was over when the rest began
            return self._close(t_s, "rest", th_h, th_m, over_s=r.t_rested)
        elif self.phase is Phase.BACK:
            if a < r.back_deg - p.standing_band_deg:
                self.phase, r.tilted = Phase.AFTER, True     # the march tilts the shank back
            elif not math.isnan(self.t_near) and t_s - self.t_near >= p.settle_s and long_enough:
                return self._close(t_s, "standing", th_h, th_m)
        elif r.tilted and a > r.back_deg - p.standing_band_deg / 2:
            if long_enough:
                return self._close(t_s, "standing", th_h, th_m)     # back from the march's tilt
        elif not r.tilted and not math.isnan(self.t_near):
            self.phase, r.back_deg = Phase.BACK, a    # at standing, or passing it into the march
        elif t_s - r.t_hinge_end > p.rep_timeout_s:
            self._abandon()           # a hinge that never comes back to standing is not a rep
        return None

    def _held_march(self, a: float) -> bool:
        """Shank, after the hinge, past the hinge threshold: the leg held a pose (turning slower than
        ``ready_dps`` for ``ready_s``) tilted back from where its hinge left, and has gone ``knee_rise_deg``
        further back since. Up from the hinge and held short of standing is the march's top (the knee
        bent more than the thigh is raised); no march is held twice, so going back from it is the next
        hinge, however shallow: after a march held 33-37 deg back, hinges 11-15 deg beyond it had read
        as the march's own tilt, two reps as one (1005, 1039)."""
        r = self.rep
        return a < r.held_deg - self.p.knee_rise_deg

    def _resting(self, t_s: float) -> bool:
        """Shank: the leg has rested (turning slowly, where standing may read) for ``settle_s``."""
        return not math.isnan(self.t_slow) and t_s - self.t_slow >= self.p.settle_s

    def _rested_s(self, t_s: float, a: float) -> float:
        """Shank, after the hinge: when the leg first rested (``_resting``) since the hinge ended, NaN if
        it has not. A strap that slips again while the rep waits out its ``rep_timeout_s`` moves the
        pose it rests in, out of the band where rest is looked for: that rest still ended the rep. So
        does a rest of ``settle_s`` in front of the pose the hinge left, however far: no march tilts the
        shank forward and holds it still there, and a strap slipped 30 deg mid-set reads standing 29 deg
        forward, out of the band (the set's last rep waited for a rest until the strap slipped again)."""
        r = self.rep
        if math.isnan(r.t_rested) and self._resting(t_s) and self.t_slow >= r.t_hinge_end:
            r.t_rested = self.t_slow
        if math.isnan(r.t_rested) and a > r.home_deg and t_s - r.t_still >= self.p.settle_s:
            r.t_rested = r.t_still
        return r.t_rested

    def _swept(self, dt: float, rate_dps: float, linear_mps2: float) -> int:
        """Shank, in a hinge: the sweeps of the knee so far, each ``sweep_s`` of linear acceleration
        ``sweep_mps2`` above its least in the hinge with the shank turning slower than ``sweep_dps``,
        over once it settles."""
        p, r = self.p, self.rep
        r.least_mps2 = min(r.least_mps2, linear_mps2)
        above = linear_mps2 - r.least_mps2
        if above > p.sweep_mps2 and abs(rate_dps) < p.sweep_dps and dt < 1.0:
            r.sweep_s += dt
        elif above < p.sweep_end_mps2:
            if r.sweep_s >= p.sweep_s:
                r.sweeps += 1
            r.sweep_s = 0.0
        return r.sweeps

    def _knee_rose(self, dt: float, linear_mps2: float, a: float) -> bool:
        """Shank, in a hinge (after ``_swept`` has seen this bucket): since its deepest the shank rose
        ``knee_rise_deg`` over ``knee_rise_s`` with the knee accelerating (``sweep_end_mps2`` above the
        hinge's least) for ``knee_accel_s`` while it rose, and has fallen as far since: a slow march,
        then the next hinge."""
        p, r = self.p, self.rep
        if a >= r.top > r.peak and linear_mps2 - r.least_mps2 > p.sweep_end_mps2 and dt < 1.0:
            r.rise_s += dt    # at its highest since its deepest: rising
        if r.t_top - r.t_deepest < p.knee_rise_s:
            return False
        knee = r.rise_s >= p.knee_accel_s and r.top - r.peak >= p.knee_rise_deg and a < r.top - p.knee_rise_deg
        return knee or self._slow_rise(a)

    def _slow_rise(self, a: float) -> bool:
        """Shank, in a hinge: since its deepest the shank rose ``min_rise_deg`` over ``knee_rise_s`` or
        more and has fallen as far since. A slow rep's knee accelerates too little to show (its
        acceleration falls with the square of the tempo: a 6 s rep's knee stays under 1 m/s^2 above the
        hinge's least), but a rise this far is no drift of a held hinge nor a stretch's bob; its top is a
        march, tilted back less than ``march_tilt_max_deg`` (the foot pulled up behind in a stretch bobs
        125-150 deg back)."""
        p, r = self.p, self.rep
        return r.top - r.peak >= p.min_rise_deg and a < r.top - p.min_rise_deg and -r.top < p.march_tilt_max_deg

    def _follow_onset(self, dt: float, rate_dps: float, across_mps2: float, along_mps2: float) -> None:
        """Shank: the sums ``_march_onset`` fits, over the buckets the swing under way has sped up in
        (since the rate last changed sign or slowed near a stop)."""
        prev, self.rate_prev_dps = self.rate_prev_dps, rate_dps
        if rate_dps * prev <= 0.0 or not 0.0 < dt < 1.0 or abs(rate_dps) < min(abs(prev), self.p.ready_dps):
            self.onset, self.onset_judged, self.onset_done = [0.0] * 10, False, False
        elif abs(rate_dps) <= abs(prev):
            self.onset_done = self.onset[6] >= self.p.onset_s   # past its fastest: the onset is whole
        elif not self.onset_done:
            x, y, z, o = math.radians(rate_dps - prev) / dt, across_mps2, along_mps2, self.onset
            o[0] += 1.0
            o[1] += x
            o[2] += y
            o[3] += x * x
            o[4] += x * y
            o[5] += y * y
            o[6] += dt
            o[7] = max(o[7], abs(x))
            o[8] += z
            o[9] += x * z

    def _march_onset(self) -> bool:
        """Shank: the swing under way is a march's tilt back, the knee coming forward as the foot
        swings back. Read from its onset, while it sped up: the acceleration across the shank (``r``
        x the angular acceleration for a centre ``r`` above the sensor, ``LegAngle.swing_mps2``)
        fell as the angular acceleration rose, correlated within ``pivot_corr``: the shank turned as
        one piece about a point ``pivot_below_m`` or more below the sensor, near the foot or lower
        (a strap slipping turns the sensor about itself); and the acceleration along the shank did
        not follow it (under ``bent_knee_m`` x it either way): the knee was straight. A hinge swings
        the leg back about the hip, the knee nearly straight: 0.5-0.8 m above a shank strap,
        correlated 0.95 and more. A hinge flowing from a march top turns the shank about a point
        below the sensor too, but the knee is bent there: the thigh swinging back moves the knee
        along the shank (0.8-1.7 m x the angular acceleration). Least squares with an intercept,
        which takes the chip's offsets."""
        n, sx, sy, sxx, sxy, syy, _, most, sz, sxz = self.onset
        p = self.p
        vx = sxx - sx * sx / n if most >= p.pivot_rad_s2 else 0.0
        if vx <= 0.0:
            return False              # too slow to tell: the acceleration across reads 0.3-0.5 m/s^2 off
        cov, vy = sxy - sx * sy / n, syy - sy * sy / n
        return cov < -p.pivot_corr * math.sqrt(vx * max(vy, 0.0)) and cov / vx < -p.pivot_below_m \
            and abs(sxz - sx * sz / n) / vx < p.bent_knee_m

    def _set_side(self) -> bool:
        """Shank: the hinge side is one a set has shown (a whole rep on it, or the last set's): a stretch
        before the first set holds the leg forward and bobs there, read as hinges on the wrong side."""
        return self.side_whole or self.side == self.prior_side

    def _next_hinge(self, t_s: float, a: float, sign: int, th_h: float, th_m: float,
                    rule: str = "next_hinge") -> RepFound | None:
        """A new hinge has begun: on the shank it ends the rep in progress (on the thigh that rep
        had no march, so it is none); either way it is the next candidate."""
        home = self.rep.home_deg      # the pose this rep's hinge left: where the next one flows from
        found = None if self.need_march else self._close(t_s, rule, th_h, th_m)
        self._start_candidate(t_s, a, sign, home)
        return found

    def _start_candidate(self, t_s: float, a: float, sign: int, flowing_home_deg: float | None = None) -> None:
        if not self.side:
            self.side = sign          # provisional until a rep completes
        prev = self.rep.t_enter
        # where the leg left standing; unknown if the axis was still being learned then
        t_start = self.t_leave if t_s - self.t_leave < self.p.rep_timeout_s else t_s
        # from rest, or flowing on from a counted rep; on the thigh, within a set (its last rep closed
        # less than a rep's longest ago) a slip or a lost rep between two reps breaks no rest
        in_set = self.need_march and self.side_confirmed and self.t_leave - self.t_closed < self.p.rep_timeout_s
        ready = in_set or self.t_leave - max(self.t_ready, self.t_closed) <= self.p.ready_gap_s
        home = 0.0 if self.need_march else self._home_deg(flowing_home_deg)
        self.stood_deg = -math.inf
        self.rep = _Rep(t_start=t_start, t_enter=t_s, peak=a, top=a, t_deepest=t_s, t_top=t_s, quick=self.too_soon(t_s - prev), ready=ready,
                        from_standing=t_start < t_s, home_deg=home)
        self.phase = Phase.CANDIDATE

    def _home_deg(self, flowing_home_deg: float | None) -> float:
        """Shank, a hinge beginning: where its rep will be back at standing. A strap slipped between two
        reps reads standing 5-30 deg off the reference and nothing re-homes the shank inside a set, so
        it is the pose this hinge left: the furthest forward the leg held (turning slowly) since it last
        rested (a march top held before standing is behind it; a swing through a pose is no pose). A
        hinge that closes a rep still waiting (the strap slipped as the rep's hinge left, so it never came
        back to a standing it knew) leaves the pose that rep rested in after its hinge. Within half the
        standing band the reference itself is standing (a march top just in front of it, after a rep that
        closed there, is not). A hinge flowing straight on from a rep's march (no pose held since) keeps
        that rep's: the strap has not moved between them, and read from the reference a set's last rep,
        standing 10-12 deg off after a slip, had waited past the set's end (1029)."""
        p = self.p
        if self.stood_deg == -math.inf and flowing_home_deg is not None:
            return flowing_home_deg
        home = self.stood_deg if abs(self.stood_deg) < p.ready_band_deg else 0.0
        return home if abs(home) >= p.standing_band_deg / 2 else 0.0

    def _abandon(self) -> None:
        self.phase = Phase.IDLE
        if not self.side_confirmed:
            self.side = 0

    def _close(self, t_s: float, rule: str, th_h: float, th_m: float, over_s: float | None = None) -> RepFound | None:
        """The rep in progress ends now (``over_s``: it was over then), if it passes every check."""
        p, r = self.p, self.rep
        # a stride swings the shank back less than a hinge, then forward to the heel strike; the
        # march of a high-knee rep rarely tilts it that far forward (the foot hangs under the knee)
        stride_like = -r.peak < p.stride_max_deg and (r.march_peak >= p.stride_reach_deg
                                                      or -r.peak < p.stair_max_deg)
        if stride_like and (r.quick or (rule == "next_hinge" and self.too_soon(t_s - r.t_enter))) \
                or t_s - r.t_start < (p.min_rep_s if self.need_march else p.shank_min_rep_s):
            self._abandon()           # a stride, or part of a run of strides
            return None
        if max(-r.peak, r.march_peak) > p.max_angle_deg:
            self._abandon()           # the sensor was turned over in the hand, not swung on a leg
            return None
        if not self.need_march and r.march_peak > p.swing_frac * -r.peak:
            self._abandon()           # shank as far forward as back: a leg swing, not a hinge and march
            return None
        if r.t_hinge_end - r.t_enter > p.max_hinge_s:
            self._abandon()           # a pose held, read through a stale reference
            return None
        if not self.need_march and rule in FLOWING and self.rep.most_mps2 > 0.0 \
                and self._knee_travel_m(t_s) < p.flow_travel_m:   # (no linear acceleration fed: none read)
            self._abandon()           # flowed on with the knee barely moving: a bob or a swing in a held pose
            return None
        if self._shallow_from_home():
            self._abandon()           # a bob from a pose held forward, not a hinge from standing
            return None
        if not r.ready:
            self._abandon()           # swung through standing from no rest and no rep (a leg swing)
            return None
        if self._against_prior(rule):
            self._abandon()           # the other way from the last set, and no whole rep: a held pose's bob
            return None
        r.own_s = (t_s if over_s is None else over_s) - r.t_start
        found = RepFound(t_s if over_s is None else over_s, r.t_start, -r.peak, max(r.march_peak, 0.0),
                         {"rule": rule, "hinge_threshold_deg": round(th_h, 2),
                          "march_threshold_deg": round(th_m, 2)})
        self.t_leave = self.t_closed = t_s
        if rule in ("standing", "rest"):
            self.end_deg = self.angle_deg   # shank: the leg is back at standing (a strap slipped reads it off)
        if stride_like and self.too_soon(t_s - r.t_enter):
            self.phase, self.pending = Phase.PENDING, found   # a first stride looks like this: wait
            return None
        return self._count(found)

    def _knee_travel_m(self, t_s: float) -> float:
        """Shank, a rep flowing into the next hinge: how far its knee travelled, as its acceleration
        (``knee_mps2``) tells. From hinge to hinge (T) the knee goes out to the march and back on a
        minimum-jerk path, s each way in T/2, which peaks at (10 / sqrt 3) s / (T/2)^2: s = swept x
        T^2 / 23 (swept: the most less the least since the rep left standing). A rep sweeps the knee
        from behind the hip to in front of it (0.8-1.5 m of arc on a 0.45 m thigh), however slowly: a
        slow rep accelerates it less, for longer. A stretch's bob in a held pose moves the thigh 10-20
        deg (reads 0.3-0.5 m), a leg swing 50-80 deg back and forth faster than any march (0.4-1.1 m):
        each swing back reads as a hinge all the same."""
        r = self.rep
        return (r.most_mps2 - r.low_mps2) * (t_s - r.t_enter) ** 2 / (4.0 * 10.0 / math.sqrt(3.0))

    def _shallow_from_home(self) -> bool:
        """Shank: the hinge went less than ``min_hinge_deg`` back from the pose it left (``home_deg``).
        Read through a slipped strap that pose is standing, so the hinge's depth is measured from it; a
        stretch's bob turns at its crest slowly enough to read as such a pose, 15-20 deg off the
        reference, and bobs 20-30 deg from it, past the floor only as read from the reference. Only until
        the set has shown its side (``_set_side``): its own reps after a slip are read as they were."""
        return not self.need_march and self.rep.home_deg - self.rep.peak < self.p.min_hinge_deg \
            and not self._set_side()

    def _against_prior(self, rule: str) -> bool:
        """Shank: a first rep the other way from the last set's hinge counts only as a whole rep, from
        standing back to standing, or one that left standing and whose knee swept through a march
        (``_unlike_a_bob``; not the bare rule "sweep", 2 m/s^2, which a stretch's bob passes too). A
        strap turned round the leg between sets flips the side, and that set's reps still leave
        standing, the first of a flowing set marching into the next hinge; a stretch holding the leg
        forward (the hamstring: 25-60 deg) bobs there at rep tempo, each bob reading as a hinge
        flowing into the next, its knee barely accelerating."""
        return (not self.need_march and not self.side_confirmed and self.side == -self.prior_side
                and not self._whole(rule) and not (self.rep.from_standing and self._unlike_a_bob(-self.rep.peak)))

    def _whole(self, rule: str) -> bool:
        """The rep in progress left standing for its hinge and ends back there (not flowing on)."""
        return rule in ("standing", "rest", "march_return", "march_rest") and self.rep.from_standing

    def _drop_held(self) -> None:
        """Shank: a chain of held reps ended resting, none showing the side: a stretch's bobs, a pose held
        forward read as hinges. Neither they nor the side and sizes they taught count."""
        self.held = []
        self.side, self.side_confirmed = 0, False
        self.forget_sizes()
        self.rep_s.clear()

    def _count(self, found: RepFound) -> RepFound | None:
        # only a whole rep makes the side the next set's prior: a stretch's bobs flow one into the next
        self.side_whole = self.side_whole or self._whole(found.evidence["rule"])
        self.side_shown = self.side_shown or self.need_march or self._shows_side(found)
        if self.side_shown and self.held:
            self.released, self.held = self.released + self.held, []
        self.depths.append(found.hinge_depth_deg)
        self._thresholds = None
        if self.need_march or found.evidence["rule"].startswith("march"):
            self.heights.append(found.march_height_deg)
        if self.rep.own_s < self.p.rep_timeout_s:
            self.rep_s.append(self.rep.own_s)
        self.side_confirmed = True
        self.phase = Phase.IDLE
        if not self.side_shown:
            self.held.append(found)
            return None
        return found

    def _shows_side(self, found: RepFound) -> bool:
        """Shank: the rep shows its side is the hinge's: back at standing after it, the knee swept
        through a march (the rule "sweep", or linear acceleration ``march_sweep_mps2`` above its least),
        or deeper than ``stride_max_deg`` (the foot toward the ceiling: no pose held forward goes so far)."""
        return found.evidence["rule"] in ("standing", "rest", "sweep") or self._unlike_a_bob(found.hinge_depth_deg)

    def _unlike_a_bob(self, depth_deg: float) -> bool:
        """Shank: more than a bob from a pose held forward moves: the knee swept through a march
        (linear acceleration ``march_sweep_mps2`` above its least since the rep left standing), or the
        hinge went deeper than ``stride_max_deg``."""
        r = self.rep
        return r.most_mps2 - r.low_mps2 >= self.p.march_sweep_mps2 or depth_deg >= self.p.stride_max_deg
