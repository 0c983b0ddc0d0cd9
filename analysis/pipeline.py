"""The streaming pipeline: raw samples in, rep and set events out.

Stages, each driven once per 20 ms bucket so that any split of the input into blocks gives the same
events as one whole-file call (batch is the same code): resample -> gyro bias at rest -> tilt by
fusion -> leg angle in the movement plane -> rep detection -> sets. Memory is bounded: every stage
keeps a fixed amount of state, whatever the session length.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from analysis.events import Event, RepEvent
from analysis.legangle import LegAngle
from analysis.orientation import StillBias, Tilt
from analysis.reps import RepDetector, RepParams
from analysis.resample import Bucketer
from analysis.sets import SetTracker

ANALYSIS_RATE_HZ = 50.0
GAP_RESTART_S = 0.5   # a hole this long restarts fusion and drops a rep in progress


@dataclass(frozen=True)
class Params:
    """Everything tunable, with units. ``reps`` holds the detector's thresholds."""

    set_gap_s: float = 20.0
    reps: RepParams = field(default_factory=RepParams)


class Pipeline:
    """Feed blocks of samples; get events. ``finish()`` closes the open set at the end."""

    def __init__(self, params: Params | None = None, placement: str | None = None):
        params = params or Params()
        if placement is not None:
            params = Params(params.set_gap_s, RepParams(**{**params.reps.__dict__, "placement": placement}))
        self.params = params
        self._bucketer = Bucketer(ANALYSIS_RATE_HZ)
        self._bias = StillBias()
        self._tilt = Tilt(ANALYSIS_RATE_HZ)
        self._leg = LegAngle(rate_hz=ANALYSIS_RATE_HZ)
        self._reps = RepDetector(params.reps)
        self._sets = SetTracker(params.set_gap_s)
        self._rezeros = self._rehomes = self._turns = 0
        self.t_s = 0.0
        self.last_rep: RepEvent | None = None

    def feed(self, t_s, accel_mps2, gyro_dps) -> list[Event]:
        """Process a block (any length, time-ordered, continuing the previous one)."""
        return self._run(*self._bucketer.feed(np.asarray(t_s, float), np.asarray(accel_mps2, float),
                                              np.asarray(gyro_dps, float)))

    def finish(self) -> list[Event]:
        """End of stream: process the last bucket and close the open set."""
        events = self._run(*self._bucketer.finish())
        s = self._sets.close(self.t_s)
        return events + ([s] if s else [])

    def new_set(self, t_s: float) -> list[Event]:
        """Close the open set now; the next rep starts a new one."""
        s = self._sets.close(t_s)
        return [s] if s else []

    def undo_last_rep(self) -> RepEvent | None:
        """Remove the last rep of the open set; returns it, or None."""
        rep = self._sets.undo_last_rep()
        if rep is not None and self._sets.open is not None:
            self.last_rep = self._sets.open.reps[-1] if self._sets.open.reps else None
        return rep

    @property
    def state(self) -> dict:
        """What a live display needs right now."""
        open_set = self._sets.open
        angle = self._reps.angle_deg
        return {
            "t_s": round(self.t_s, 3),
            "set_index": open_set.index if open_set else self._sets.sets_done,
            "reps_in_set": len(open_set.reps) if open_set else 0,
            "sets_done": self._sets.sets_done,
            "in_set": open_set is not None,
            "leg_angle_deg": None if math.isnan(angle) else round(angle, 1),
            "last_rep": self.last_rep.to_dict() if self.last_rep else None,
        }

    def _run(self, t_end, acc, gyr, gap) -> list[Event]:
        events: list[Event] = []
        bias, tilt, leg, reps, sets = self._bias, self._tilt, self._leg, self._reps, self._sets
        prev_t = self.t_s
        for i in range(len(t_end)):
            t = float(t_end[i])
            if gap[i] and t - prev_t > GAP_RESTART_S:
                bias.reset_gap()
                tilt.restart()
                reps.reset(forget_side=False)
            prev_t = t
            a = acc[i]
            still = bias.update(a, gyr[i])
            g = gyr[i] - bias.bias_dps
            if still:
                tilt.anchor(bias.up)
            up = tilt.update(a, g)
            raw, rate = leg.update(up, g, bias.still_s if still else 0.0)
            if leg.rezeros != self._rezeros:
                self._rezeros = leg.rezeros
                reps.reset(forget_side=True)
            if leg.turns != self._turns and sets.open is None:
                self._turns = leg.turns         # within a set the side stays: it was right there
                reps.reset(forget_side=True)
            if leg.rehomes != self._rehomes:
                self._rehomes = leg.rehomes
                reps.reset(forget_side=False, mid_movement=True)
            found = reps.update(t, raw, rate)
            if found is not None:
                rep = sets.add_rep(t, found.t_s, found.start_s, found.hinge_depth_deg,
                                   found.march_height_deg, found.evidence)
                self.last_rep = rep
                events.append(rep)
            ended = sets.tick(t)
            if ended is not None:
                events.append(ended)
        self.t_s = prev_t
        return events


def analyze(t_s, accel_mps2, gyro_dps, params: Params | None = None,
            placement: str | None = None) -> list[Event]:
    """Batch analysis of a whole recording: the streaming pipeline fed once."""
    p = Pipeline(params, placement)
    return p.feed(t_s, accel_mps2, gyro_dps) + p.finish()
