"""Each set's sway against the athlete's own typical value, with a threshold for a real change.

Typical is the median ``sway_deg`` of the athlete's sets over their last sessions; spread is the
median absolute deviation scaled to a standard deviation (x1.4826), so one odd set or session does
not move either. A set's robust z = (sway - typical) / spread; beyond +-CHANGE_Z it is a real change,
inside it is within the athlete's own set-to-set noise. Pure function: the bridge reads the history
from past sessions' sets.csv (docs/sway.md).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from analysis.errors import DataError

MIN_SESSIONS = 3          # no baseline before this many past sessions with a measured set...
MIN_SETS = 6              # ...and this many sets
MAX_SESSIONS = 10         # only the most recent sessions count (balance changes over weeks)
CHANGE_Z = 2.0            # |robust z| beyond this: a real change (about 5 % false alarms if normal)
MAD_TO_SD = 1.4826
MIN_SPREAD_FRAC = 0.05    # spread never below 5 % of typical (a too-regular history flags every set)


@dataclass(frozen=True)
class Baseline:
    """The athlete's typical set sway and its set-to-set spread, both in degrees."""

    typical_deg: float
    spread_deg: float
    sessions: int
    sets: int


def sway_baseline(history: Sequence[Sequence[float | None]]) -> Baseline | None:
    """Baseline from past sessions, oldest first, each the ``sway_deg`` of its sets (None for a set
    that had none). None until there are MIN_SESSIONS sessions and MIN_SETS sets to go on."""
    sessions = [[float(x) for x in s if x is not None] for s in history]
    sessions = [s for s in sessions if s][-MAX_SESSIONS:]
    values = [x for s in sessions for x in s]
    bad = [x for x in values if not math.isfinite(x) or x < 0]
    if bad:
        raise DataError(f"sway baseline: sway_deg must be finite and >= 0, got {bad[0]!r}")
    if len(sessions) < MIN_SESSIONS or len(values) < MIN_SETS:
        return None
    typical = median(values)
    spread = max(MAD_TO_SD * median(abs(x - typical) for x in values), MIN_SPREAD_FRAC * typical, 1e-6)
    return Baseline(typical, spread, len(sessions), len(values))


def compare(baseline: Baseline, sway_deg: float) -> dict:
    """One set against the baseline: robust z, ratio to typical, and ``change``: "lower" (steadier),
    "higher" (less steady) or "none" (within the athlete's usual spread)."""
    z = (sway_deg - baseline.typical_deg) / baseline.spread_deg
    change = "higher" if z > CHANGE_Z else "lower" if z < -CHANGE_Z else "none"
    return {"typical_deg": round(baseline.typical_deg, 3), "spread_deg": round(baseline.spread_deg, 3),
            "z": round(z, 2), "ratio": round(sway_deg / baseline.typical_deg, 3) if baseline.typical_deg else None,
            "change": change, "sessions": baseline.sessions, "sets": baseline.sets}
