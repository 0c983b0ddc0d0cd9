"""Events the pipeline emits: one per counted rep, one per finished set.

Each event carries its evidence (thresholds in force, which rule ended the rep) so a miscount can be
explained from a plot. ``to_dict`` gives the JSON form used by ``analyze --json``, MQTT and the files.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class RepEvent:
    """A counted rep. ``t_s`` is when the pipeline decided; ``completed_s`` when the rep ended."""

    t_s: float
    completed_s: float
    set_index: int          # 1-based
    rep_in_set: int         # 1-based
    start_s: float          # leg left standing for the hinge
    duration_s: float       # start_s -> completed_s
    hinge_depth_deg: float  # deepest leg angle behind the standing reference
    march_height_deg: float # highest leg angle in front of it
    evidence: dict = field(default_factory=dict, compare=False)
    sway_deg: float | None = None   # balance sway over the rep (docs/sway.md); None if not measurable
    sway_dps: float | None = None
    sway: dict = field(default_factory=dict, hash=False)   # the detailed measures
    rom_deg: float = 0.0            # range of motion: hinge_march depth + height; else the tilt from rest
    exercise: str = "hinge_march"   # which exercise counted it (analysis/exercises.py)

    kind = "rep"

    def to_dict(self) -> dict:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class SetEvent:
    """A finished set: emitted once no rep has followed the last one for the set gap."""

    t_s: float
    set_index: int
    start_s: float
    end_s: float
    reps: int
    rep_times_s: tuple[float, ...]
    mean_hinge_depth_deg: float
    mean_march_height_deg: float
    mean_duration_s: float
    sway_deg: float | None = None   # the set's headline sway (docs/sway.md); None if not measurable
    sway_dps: float | None = None
    foot_taps: int = 0              # foot touch-downs within the set
    foot_tap_s: tuple[float, ...] = ()
    sway: dict = field(default_factory=dict, hash=False)   # the detailed measures
    mean_rom_deg: float = 0.0
    exercise: str = "hinge_march"

    kind = "set"

    def to_dict(self) -> dict:
        d = {"kind": self.kind, **asdict(self)}
        d["rep_times_s"] = list(self.rep_times_s)
        d["foot_tap_s"] = list(self.foot_tap_s)
        return d


Event = RepEvent | SetEvent
