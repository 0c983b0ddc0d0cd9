"""Foot touch-downs within a set: the lifted foot put down for a moment to catch the balance.

With the foot down the leg is back at its standing pose and the body stops swaying: the leg's rate
about the movement axis (which, while the leg is still, is the body's sagittal sway) drops well below
what it is in the set's other one-leg stands. A touch-down is a still stretch near standing whose
quietest part is far quieter than the set's typical stand: clearly so if the stand is long, less so
if the leg came back from a hinge and went on to the march (the exercise never stands there). Rep
counting never looks at this.
"""
from __future__ import annotations

import numpy as np

from analysis.sway.leg import runs

STAND_BAND_DEG = 12.0      # leg within this of standing
STAND_RATE_DPS = 30.0      # and not swinging
MIN_STAND_S = 0.3          # a shorter stand is the leg passing through
QUIET_WINDOW_S = 0.3       # quietness: lowest mean |rate| over any window this long in the stand
QUIET_FRAC = 0.1           # a touch-down: quieter than this fraction of the set's typical stand...
MIN_TAP_STAND_S = 1.2      # ...in a stand at least this long,
MID_REP_QUIET_FRAC = 0.4   # or quieter than this in a stand between a hinge and a march
LOOK_BACK_S, LOOK_AHEAD_S = 1.2, 1.8   # where the hinge before and the march after are looked for


def _side_of_excursion(angle: np.ndarray) -> float:
    """Sign of the largest excursion in a stretch (hinge negative, march positive); 0 if empty."""
    a = np.nan_to_num(angle)
    return float(np.sign(a[np.argmax(np.abs(a))])) if a.size else 0.0


def foot_taps(t_s, angle_deg, inplane_dps, fs_hz: float) -> list[float]:
    """Start times (s) of the foot touch-downs in a window, oldest first. ``angle_deg`` is the leg
    angle from standing (hinge negative), ``inplane_dps`` the rate about the movement axis."""
    t_s = np.asarray(t_s, float)
    ang, rate = np.asarray(angle_deg, float), np.asarray(inplane_dps, float)
    near = np.isfinite(ang) & np.isfinite(rate) & (np.abs(ang) <= STAND_BAND_DEG) & (np.abs(rate) < STAND_RATE_DPS)
    win = max(1, int(round(QUIET_WINDOW_S * fs_hz)))
    stands = [(a, b) for a, b in runs(near) if b - a >= max(win, MIN_STAND_S * fs_hz)]
    if len(stands) < 2:
        return []
    quiet, typical = [], []
    for a, b in stands:
        r = np.abs(rate[a:b])
        quiet.append(float(np.convolve(r, np.ones(win) / win, mode="valid").min()))
        typical.append(float(np.median(r)))
    ref = float(np.median(typical))
    if not ref > 0:
        return []
    back, ahead = int(LOOK_BACK_S * fs_hz), int(LOOK_AHEAD_S * fs_hz)
    taps = []
    for (a, b), q in zip(stands, quiet):
        long_quiet = q <= QUIET_FRAC * ref and b - a >= MIN_TAP_STAND_S * fs_hz
        mid_rep = (q <= MID_REP_QUIET_FRAC * ref and _side_of_excursion(ang[max(a - back, 0):a]) < 0
                   and _side_of_excursion(ang[b:b + ahead]) > 0)
        if long_quiet or mid_rep:
            taps.append(float(t_s[a]))
    return taps
