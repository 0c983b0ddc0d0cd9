"""Per-rep and per-set sway as the set grows, from the lifted leg's tilt (docs/sway.md).

The reps of a set tile it: a rep's window runs from the previous rep's completion (the set's start
for its first rep) to its own completion, so every hold is measured once, with its rep. A set's
window runs from its start to its last rep's completion (nothing after the last rep belongs to it).
At each rep the set so far gets its headline figure (the live one); the full measures (spectra,
foot touch-downs) are taken once, when the set closes, to keep each rep's work to milliseconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from analysis.sway.foottaps import foot_taps
from analysis.sway.leg import STILL, TiltRing, hold_measures, holds, leg_sway, rounded


@dataclass
class _SetSoFar:
    start_s: float
    ends_s: list[float] = field(default_factory=list)     # completion of each rep
    holds: list[list] = field(default_factory=list)       # each rep's holds: (duration_s, measures)
    live: list[dict] = field(default_factory=list)        # the set's headline figures after each rep


class SetSway:
    """Owns the tilt ring; measures each rep when it is counted and the set when it closes."""

    def __init__(self, rate_hz: float = 50.0):
        self.rate_hz = rate_hz
        self.ring = TiltRing(rate_hz)
        self._open: _SetSoFar | None = None
        self.last_set: dict | None = None      # measures of the last finished set

    def on_rep(self, start_s: float, completed_s: float, first_of_set: bool) -> dict:
        """A rep was counted (called before it joins its set): returns its measures, and updates
        the open set's live figures (``current``)."""
        if first_of_set or self._open is None:
            self._open = _SetSoFar(start_s)
        s, fs = self._open, self.rate_hz
        t, frontal, sagittal, inplane, flags = self.ring.window(s.ends_s[-1] if s.ends_s else s.start_s,
                                                                completed_s)
        spans = holds((flags & STILL) > 0, fs)
        rep_holds = hold_measures(frontal.astype(float), sagittal.astype(float), spans, fs)
        rep = leg_sway(t, frontal, sagittal, inplane, flags, fs, per_hold=rep_holds, spectra=False)
        s.ends_s.append(completed_s)
        s.holds.append(rep_holds)
        whole = self._measure(s, spectra=False)
        s.live.append(rounded({"sway_deg": whole["sway_deg"], "sway_dps": whole["sway_dps"]}))
        return rounded(rep)

    def on_undo(self) -> None:
        """The open set's last rep was taken back."""
        s = self._open
        if s is not None and s.ends_s:
            s.ends_s.pop(), s.holds.pop(), s.live.pop()

    @property
    def current(self) -> dict | None:
        """Headline figures of the open set so far (None before its first rep)."""
        s = self._open
        return s.live[-1] if s is not None and s.live else None

    def close(self) -> dict | None:
        """The open set ended: all its measures and foot touch-downs, or None if it had no rep."""
        s, self._open = self._open, None
        if s is None or not s.ends_s:
            return None
        whole = self._measure(s, spectra=True)
        t, _, sagittal, inplane, _ = self.ring.window(s.start_s, s.ends_s[-1])
        whole["foot_tap_s"] = [round(x, 3) for x in foot_taps(t, sagittal, inplane, self.rate_hz)]
        self.last_set = rounded(whole)
        return self.last_set

    def _measure(self, s: _SetSoFar, spectra: bool) -> dict:
        t, frontal, sagittal, inplane, flags = self.ring.window(s.start_s, s.ends_s[-1])
        return leg_sway(t, frontal, sagittal, inplane, flags, self.rate_hz,
                        per_hold=[h for rep_h in s.holds for h in rep_h], spectra=spectra)
