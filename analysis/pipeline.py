"""The streaming pipeline: raw samples in, rep and set events out.

Stages, each driven once per 20 ms bucket so that any split of the input into blocks gives the same
events as one whole-file call (batch is the same code): resample -> gyro bias at rest -> tilt by
fusion -> leg angle in the movement plane -> rep detection -> sets, with the leg's tilt kept for
balance sway (per rep and per set). Memory is bounded: every stage keeps a fixed amount of state,
whatever the session length.
"""
from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from analysis.declip import Declip, DeclipParams
from analysis.errors import DataError
from analysis.events import Event, RepEvent, SetEvent
from analysis.excursions import TwoTilts
from analysis.exercises import EXERCISES, HINGE_MARCH, PROFILES, check_exercise
from analysis.gyrocheck import GyroCheck
from analysis.health import Health
from analysis.legangle import LegAngle, LegAngleParams
from analysis.orientation import StillBias, StillParams, Tilt, TiltParams
from analysis.reps import Phase, RepDetector, RepFound, RepParams
from analysis.resample import ANALYSIS_RATE_HZ, Bucketer
from analysis.sets import SetTracker
from analysis.sway.per_set import SetSway
from analysis.sway.trunk import TrunkTilt
from analysis.units import STANDARD_GRAVITY_MPS2

GRAVITY_TAU_S = 0.1   # the accelerometer's direction, low-passed over this, is gravity's while the leg moves
                      # slowly (an exercise's raise: see docs/exercises.md); it smooths a drop on the mat
REPLAY_S = 16.0       # on a re-home or an axis turn, the rep detector re-reads this much history: a re-home
                      # mid-set is confirmed by two returns to standing, two reps of up to 8 s after the slip...
SET_REPLAY_S = 60.0   # ...or, if the leg first held that standing longer ago (flowing reps come back to it
                      # seldom), all since then, up to this (the memory the re-read history takes)


@dataclass(frozen=True)
class Params:
    """Everything tunable, with units, one part per stage (each documented where it is defined)."""

    set_gap_s: float = 20.0       # a pause longer than this between reps ends the set
    reps: RepParams = field(default_factory=RepParams)
    still: StillParams = field(default_factory=StillParams)
    tilt: TiltParams = field(default_factory=TiltParams)
    leg: LegAngleParams = field(default_factory=LegAngleParams)
    declip: DeclipParams = field(default_factory=DeclipParams)
    exercise: str = HINGE_MARCH   # what is counted (analysis/exercises.py; docs/exercises.md)


class Pipeline:
    """Feed blocks of samples; get events. ``finish()`` closes the open set at the end.

    With ``second_forward_axis`` (the forward axis of an optional second sensor on the standing leg
    or the pelvis, in its own axes) its samples go to ``feed_second``, each before the lifted leg's
    block of the same time, and every set carries that sensor's sway as ``sway["second"]``."""

    def __init__(self, params: Params | None = None, placement: str | None = None,
                 second_forward_axis: tuple[float, float, float] | None = None, second_keep_s: float = 900.0,
                 exercise: str | None = None):
        params = params or Params()
        if placement is not None:
            params = replace(params, reps=replace(params.reps, placement=placement))
        if exercise is not None:
            params = replace(params, exercise=exercise)
        check_exercise(params.exercise)
        self.params = params
        self._excursions = self._excursion_detector(params.exercise)
        self._declip = Declip(params.declip)
        self._bucketer = Bucketer(ANALYSIS_RATE_HZ)
        self._bias = StillBias(params.still, ANALYSIS_RATE_HZ)
        self._tilt = Tilt(params.tilt, ANALYSIS_RATE_HZ)
        self._leg = LegAngle(params.leg, ANALYSIS_RATE_HZ, params.reps.placement)
        self._reps = RepDetector(params.reps)
        self._sets = SetTracker(params.set_gap_s)
        self._sway = SetSway(ANALYSIS_RATE_HZ)
        self._health = Health(ANALYSIS_RATE_HZ)
        self._gyro = GyroCheck(ANALYSIS_RATE_HZ)
        self._gravity: np.ndarray | None = None   # the accelerometer low-passed (see _gravity_ups)
        self._second = None if second_forward_axis is None else TrunkTilt(second_keep_s)
        self._second_axis, self._second_problem = second_forward_axis, ""
        self._rezeros = self._rehomes = self._turns = self._set_rehomes = 0
        self._hinge_dir: np.ndarray | None = None   # side x axis when a rep was last counted: the hinge
                                                    # side as a direction in sensor axes, whatever the axis sign
        self._rep_axis: tuple | None = None   # (axis, its covariance) at the open set's last rep
        self._set_axis: tuple | None = None   # the same, of the last set (see _relearn)
        self._unknown = True          # the leg angle is not known yet (axis or standing reference)
        self._recent: deque = deque(maxlen=int(SET_REPLAY_S * ANALYSIS_RATE_HZ))   # (t_s, up, gyro_dps, linear_mps2,
                                                                                # its vector in sensor axes)
        self._recent_at_rep = False   # _recent began where a rep closed (not at a gap, a re-zero or the start)
        self.t_s = 0.0
        self.raw_angle_deg = math.nan   # the front end's leg angle at t_s, before the hinge side is known
        self.last_rep: RepEvent | None = None

    def feed(self, t_s, accel_mps2, gyro_dps) -> list[Event]:
        """Process a block (any length, time-ordered, continuing the previous one)."""
        block = np.asarray(t_s, float), np.asarray(accel_mps2, float), np.asarray(gyro_dps, float)
        return self._run(*self._bucketer.feed(*self._declip.feed(*block)))

    def feed_second(self, t_s, accel_mps2, gyro_dps) -> None:
        """The second sensor's samples (a block continuing its previous one)."""
        self._second.feed(t_s, accel_mps2, gyro_dps)

    def finish(self) -> list[Event]:
        """End of stream: process the last bucket and close the open set."""
        held = self._declip.feed(np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3)), final=True)
        events = self._run(*self._bucketer.feed(*held)) + self._run(*self._bucketer.finish())
        s = self._with_sway(self._sets.close(self.t_s))
        return events + ([s] if s else [])

    def new_set(self, t_s: float) -> list[Event]:
        """Close the open set now; the next rep starts a new one."""
        s = self._with_sway(self._sets.close(t_s))
        if s:
            self._relearn(s.reps)
        return [s] if s else []

    def _relearn(self, reps_in_set: int) -> None:
        """A set has ended: the next one learns its side, or its direction and range. The axis at its
        last rep is the set's if it had two reps or more, one of them whole (from standing back to
        standing): a stretch's bobs flow one into the next, read in the stretch's axis."""
        if reps_in_set >= 2 and self._reps.side_whole and self._rep_axis is not None:
            self._set_axis = self._rep_axis
        self._rep_axis = None
        self._reps.relearn_side()
        if self._excursions is not None:
            self._excursions.relearn()

    @property
    def exercise(self) -> str:
        """What is being counted now."""
        return self.params.exercise

    def set_exercise(self, name: str, t_s: float) -> list[Event]:
        """Count another exercise from now: the open set closes (a set is one exercise)."""
        check_exercise(name)
        events = self.new_set(t_s)
        if name != self.params.exercise:
            self.params = replace(self.params, exercise=name)
            self._excursions = self._excursion_detector(name)
            self._reps.reset(forget_side=True)
        return events

    @staticmethod
    def _excursion_detector(name: str) -> TwoTilts | None:
        return None if name == HINGE_MARCH else TwoTilts(PROFILES[name])

    def undo_last_rep(self) -> RepEvent | None:
        """Remove the last rep of the open set; returns it, or None."""
        rep = self._sets.undo_last_rep()
        if rep is not None:
            self._sway.on_undo()
        if rep is not None and self._sets.open is not None:
            self.last_rep = self._sets.open.reps[-1] if self._sets.open.reps else None
        return rep

    def _with_sway(self, ended: SetEvent | None) -> SetEvent | None:
        """A set just closed: attach its sway and foot touch-downs (docs/sway.md)."""
        if ended is None:
            return None
        measures = self._sway.close()
        if measures is not None:
            detail = {k: v for k, v in measures.items() if k not in ("sway_deg", "sway_dps", "foot_tap_s")}
            ended = replace(ended, sway_deg=measures["sway_deg"], sway_dps=measures["sway_dps"],
                            foot_taps=len(measures["foot_tap_s"]), foot_tap_s=tuple(measures["foot_tap_s"]),
                            sway=detail)
        if self._second is not None:
            try:
                second = self._second.measures(ended.start_s, ended.end_s, self._second_axis)
            except DataError as e:        # e.g. a forward axis that points up on this mount
                self._second_problem = f"second sensor: {e}"
            else:
                ended = replace(ended, sway={**ended.sway, "second": second})
        return ended

    @property
    def state(self) -> dict:
        """What a live display needs right now."""
        open_set = self._sets.open
        angle = self._reps.angle_deg if self._excursions is None else self._excursions.angle_deg
        sway = self._sway.current if open_set is not None else self._sway.last_set
        return {
            "t_s": round(self.t_s, 3),
            "set_index": open_set.index if open_set else self._sets.sets_done,
            "reps_in_set": len(open_set.reps) if open_set else 0,
            "sets_done": self._sets.sets_done,
            "in_set": open_set is not None,
            "exercise": self.params.exercise,
            "exercises": list(EXERCISES),     # the choices, for a selector
            "leg_angle_deg": None if math.isnan(angle) else round(angle, 1),
            "last_rep": self.last_rep.to_dict() if self.last_rep else None,
            "sway_deg": sway["sway_deg"] if sway else None,     # the open set's so far, else the last set's
            "foot_taps": len(sway.get("foot_tap_s", ())) if sway else 0,   # counted when a set ends
            "problems": self.problems,
        }

    @property
    def problems(self) -> list[str]:
        """What keeps the count from being trusted right now, one line each (analysis/health.py,
        analysis/gyrocheck.py)."""
        problems = self._health.problems(self._bias.windows, self._bias.rest_mps2)
        if not self._health.gyro_unit_problem():   # one cause, one line: a gyro in the wrong unit
            problems += self._gyro.problems()      # disagrees with its accelerometer too
        return problems + ([self._second_problem] if self._second_problem else [])

    def _replay(self, forget_side: bool, since_buckets: int = 0) -> list[RepFound]:
        """The reference or the axis was stale or just learned (a rep in progress saw wrong angles, or
        none: the first rep teaches the axis): run the detector again over the buckets since the last
        rep or reset (the last ``REPLAY_S`` of them, or ``since_buckets`` if more: since the leg first
        held the standing a re-home found), as the new reference and axis read them; the reps it finds there."""
        reps = self._reps
        reps.reset(forget_side, self._prior_side() if forget_side else 0)
        n = max(int(REPLAY_S * ANALYSIS_RATE_HZ), since_buckets)
        recent = list(itertools.islice(self._recent, max(len(self._recent) - n, 0), None))
        if recent:
            whole = len(self._recent) < min(n, self._recent.maxlen)    # all since the last rep, none dropped
            reps.rewind(recent[0][0], self._recent_at_rep and whole)
        leg = self._leg
        return [f for t, up, g, lin, vec in recent
                for f in reps.update(t, *leg.reread(up, g), lin, *leg.swing_mps2(vec))]

    def _prior_side(self) -> int:
        """The hinge side the last counted rep had, in the current axis, if the axis is back within
        ``turned_deg`` of where it was then: a sideways swing (a stretch) teaches the forward axis for
        a while and the axis turns back, with the leg's hinge side where it was; 0 if it is not back."""
        h, a = self._hinge_dir, self._leg.axis
        if h is None or a is None:
            return 0
        c = float(h @ a)
        return 0 if abs(c) < math.cos(math.radians(self._leg.params.turned_deg)) else (1 if c > 0 else -1)

    def _add_reps(self, found: list[RepFound], t_s: float) -> list[RepEvent]:
        """Reps the detector closed at ``t_s``: measured for sway and counted in the open set."""
        sets, out = self._sets, []
        for f in found:
            first = sets.open is None or not sets.open.reps
            sw = self._sway.on_rep(f.start_s, f.t_s, first)
            detail = {k: v for k, v in sw.items() if k not in ("sway_deg", "sway_dps")}
            rom = f.hinge_depth_deg + f.march_height_deg if f.rom_deg is None else f.rom_deg
            rep = sets.add_rep(t_s, f.t_s, f.start_s, f.hinge_depth_deg, f.march_height_deg, f.evidence,
                               sway_deg=sw["sway_deg"], sway_dps=sw["sway_dps"], sway=detail,
                               rom_deg=round(rom, 1), exercise=self.params.exercise)
            self.last_rep = rep
            out.append(rep)
        return out

    @staticmethod
    def _linear_mps2(acc: np.ndarray, ups: list, rest_mps2: np.ndarray) -> tuple[list[float], list]:
        """Each bucket's linear acceleration, m/s^2: the accelerometer less the sensor's own resting
        magnitude along the fused "up" (standard gravity until that is known); its size and its vector."""
        if not len(acc):
            return [], []
        g = np.where(np.isnan(rest_mps2), STANDARD_GRAVITY_MPS2, rest_mps2)
        vec = acc - g[:, None] * np.asarray(ups)
        return np.linalg.norm(vec, axis=1).tolist(), vec.tolist()

    def _gravity_ups(self, acc: np.ndarray, gap: np.ndarray) -> np.ndarray:
        """Each bucket's "up" from the accelerometer alone, low-passed over ``GRAVITY_TAU_S`` (restarted
        at a gap): what the excursion counter reads while the gyro is untrusted."""
        k = 1.0 - math.exp(-1.0 / (GRAVITY_TAU_S * ANALYSIS_RATE_HZ))
        g, out = self._gravity, np.empty_like(acc)
        for i, (a, after_gap) in enumerate(zip(acc, gap.tolist())):
            g = out[i] = a if g is None or after_gap else g + k * (a - g)
        self._gravity = g.copy()
        return out / np.linalg.norm(out, axis=1, keepdims=True).clip(1e-9)

    def _run(self, t_end, acc, gyr, gap) -> list[Event]:
        """One block of buckets. What needs nothing from the later stages is done for the whole
        block first: still windows (gyro bias, resting "up"), the bias-corrected gyro, fusion. Then,
        bucket by bucket, the leg angle, the rep detector and the sets, which steer each other."""
        if not len(t_end):            # a live block of a few samples may complete no bucket
            return []
        events: list[Event] = []
        leg, reps, sets, ring = self._leg, self._reps, self._sets, self._sway.ring
        excursions = self._excursions
        self._health.feed(acc, gyr)
        still = self._bias.update_block(acc, gyr, gap)
        gyr = still.gyro_dps                  # bias-corrected
        ups = self._tilt.update_block(acc, gyr, gap, still.up)   # restarts after a gap, anchors at rest
        if excursions is None:
            self._gyro.feed(acc, gyr, gap, still.rest_mps2)
        else:                                 # the exercise's tilt: fused, or gravity's while the gyro is off
            off, gravity = self._gyro.update(acc, gyr, gap, still.rest_mps2), self._gravity_ups(acc, gap)
        # only the shank's detector reads linear acceleration (the knee's sweep, the swing's centre)
        linear, vectors = ([0.0] * len(acc), [None] * len(acc)) if reps.need_march \
            else self._linear_mps2(acc, ups, still.rest_mps2)
        axes, angles, pushed = [], [], 0      # the leg stage's, for the tilt ring

        def to_ring(end: int) -> None:        # the ring is read at a rep or a set's end: fill it first
            nonlocal pushed
            part = (t_end, acc, gyr, ups, axes, angles, still.rest_mps2)
            if pushed or end < len(t_end):    # (usually the whole block, at its end: no slices)
                part = tuple(x[pushed:end] for x in part)
            ring.push_block(*part)
            pushed = end

        raw, recent, unknown = math.nan, self._recent, self._unknown
        buckets = zip(t_end.tolist(), gap.tolist(), still.still_s, ups, gyr.tolist(), linear, vectors)   # plain floats
        for i, (t, after_gap, still_s, up, g, lin, vec) in enumerate(buckets):
            if after_gap:             # a hole over 0.5 s: fusion restarted, a rep in progress is dropped
                reps.reset(forget_side=False)
                recent.clear()
                self._recent_at_rep = False
                if excursions is not None:
                    excursions.reset()
            raw, rate = leg.update(up, g, still_s, -reps.side if reps.side_confirmed else 0)
            axes.append(leg.axis)
            angles.append(raw * reps.side if reps.side else raw)   # hinge negative
            if leg.rezeros != self._rezeros:
                self._rezeros, self._hinge_dir = leg.rezeros, None   # another mount: no side carries over
                self._rep_axis = self._set_axis = None               # nor an axis
                reps.reset(forget_side=True)
                recent.clear()
                self._recent_at_rep = False
            # a still stand between sets, after a stretch taught another axis: the last set's again
            if still_s >= leg.home_still_s and sets.open is None and reps.phase is Phase.IDLE \
                    and self._set_axis is not None and leg.restore_axis(*self._set_axis):
                reps.reset(forget_side=True, prior_side=self._prior_side())
            learned, unknown = unknown and raw == raw, raw != raw   # the angle just became known
            if excursions is not None:    # any other exercise: its own detector, on "up" itself
                found = excursions.update(t, up, gravity[i], bool(off[i]), g, still_s)
            else:
                found = []
                turned = leg.turns != self._turns and sets.open is None   # in a set the side was right
                set_rehome = leg.set_rehomes != self._set_rehomes
                if set_rehome:
                    self._set_rehomes = leg.set_rehomes
                    reps.forget_sizes()
                if turned or learned or leg.rehomes != self._rehomes:
                    self._turns, self._rehomes = (leg.turns if turned else self._turns), leg.rehomes
                    found = self._replay(forget_side=turned, since_buckets=leg.set_rehome_buckets if set_rehome else 0)
                found += reps.update(t, raw, rate, lin, *leg.swing_mps2(vec))
            recent.append((t, up, g, lin, vec))   # imufusion hands out a new array each update
            if found:
                if reps.side and leg.axis is not None:
                    self._hinge_dir = reps.side * leg.axis
                    self._rep_axis = leg.axis_memory()
                to_ring(i + 1)
                recent.clear()
                self._recent_at_rep = True
                events += self._add_reps(found, t)
            ended = sets.tick(t)
            if ended is not None:
                to_ring(i + 1)
                events.append(self._with_sway(ended))
                self._relearn(ended.reps)
        self._unknown = unknown
        to_ring(len(t_end))
        self._health.leg_angle_known(not math.isnan(raw), len(t_end) / ANALYSIS_RATE_HZ)
        self.t_s, self.raw_angle_deg = float(t_end[-1]), raw
        return events


def recording_pipeline(params: Params | None = None, placement: str | None = None, second=None,
                       second_forward_axis: tuple[float, float, float] = (1.0, 0.0, 0.0),
                       exercise: str | None = None) -> Pipeline:
    """A pipeline for a whole recording, with the optional second sensor's samples (``t_s``,
    ``accel_mps2``, ``gyro_dps``) already in and kept whole."""
    if second is None:
        return Pipeline(params, placement, exercise=exercise)
    span_s = float(second.t_s[-1] - second.t_s[0]) if len(second.t_s) else 0.0
    p = Pipeline(params, placement, second_forward_axis, second_keep_s=span_s + 1.0, exercise=exercise)
    p.feed_second(second.t_s, second.accel_mps2, second.gyro_dps)
    return p


def analyze(t_s, accel_mps2, gyro_dps, params: Params | None = None, placement: str | None = None,
            second=None, second_forward_axis: tuple[float, float, float] = (1.0, 0.0, 0.0),
            exercise: str | None = None) -> list[Event]:
    """Batch analysis of a whole recording: the streaming pipeline fed once (see recording_pipeline)."""
    p = recording_pipeline(params, placement, second, second_forward_axis, exercise)
    return p.feed(t_s, accel_mps2, gyro_dps) + p.finish()
