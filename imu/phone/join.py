"""Two sensors' readings, each with its own time stamps, joined on the first one's times.

A phone reports the accelerometer and the gyroscope separately, in batches that may arrive late,
twice or out of order. :class:`Joiner` keeps what has come in, sorted and without duplicates, and
hands out the first stream's samples once the second has readings on both sides of them, with the
second interpolated there; never across a gap in either (the stream shows it as a jump in time).
"""
from __future__ import annotations

import numpy as np


class _Pending:
    """One stream's readings not handed out yet (plus, for the second, the last one before them)."""

    def __init__(self):
        self.t = np.empty(0)
        self.xyz = np.empty((0, 3))

    def add(self, t: np.ndarray, xyz: np.ndarray) -> None:
        self.t = np.concatenate([self.t, t])
        self.xyz = np.concatenate([self.xyz, xyz])

    def tidy(self) -> int:
        """Sort by time, keep the first arrival of each time stamp; the number of duplicates dropped."""
        t, first = np.unique(self.t, return_index=True)     # sorted; first of equal stamps by arrival
        dropped = len(self.t) - len(t)
        self.t, self.xyz = t, self.xyz[first]
        return dropped

    def keep_from(self, i: int) -> None:
        self.t, self.xyz = self.t[i:], self.xyz[i:]


class Joiner:
    """The first stream's samples with the second interpolated at their times (see module doc).

    ``max_gap_s``: readings of either stream further apart than this are a gap, never bridged.
    ``late``, ``duplicates``, ``unpaired`` count readings dropped: older than what was already
    handed out, seen twice, or with no reading of the other stream close enough."""

    def __init__(self, max_gap_s: float = 0.25, max_pending_s: float = 10.0):
        self.max_gap_s, self.max_pending_s = max_gap_s, max_pending_s
        self._a, self._b = _Pending(), _Pending()
        self.released_t = -np.inf
        self.late = self.duplicates = self.unpaired = 0

    def add_first(self, t: np.ndarray, xyz: np.ndarray) -> None:
        self._add(self._a, t, xyz)

    def add_second(self, t: np.ndarray, xyz: np.ndarray) -> None:
        self._add(self._b, t, xyz)

    def _add(self, pending: _Pending, t: np.ndarray, xyz: np.ndarray) -> None:
        new = t > self.released_t
        self.late += int(np.count_nonzero(~new))
        pending.add(t[new], xyz[new])

    def take(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(t, first, second at t) of every first-stream reading that can be joined now."""
        self.duplicates += self._a.tidy() + self._b.tidy()
        at, bt = self._a.t, self._b.t
        if not len(at) or not len(bt):
            self._drop_stale()
            return np.empty(0), np.empty((0, 3)), np.empty((0, 3))
        n = int(np.searchsorted(at, bt[-1], side="right"))      # first-stream readings the second covers
        t, first = at[:n], self._a.xyz[:n]
        self._a.keep_from(n)
        hi = np.minimum(np.searchsorted(bt, t, side="left"), len(bt) - 1)
        lo = np.maximum(hi - 1, 0)
        lo = np.where(bt[hi] == t, hi, lo)
        ok = (t >= bt[0]) & (bt[hi] - bt[lo] <= self.max_gap_s)
        span = np.where(bt[hi] > bt[lo], bt[hi] - bt[lo], 1.0)
        w = ((t - bt[lo]) / span)[:, None]
        second = self._b.xyz[lo] * (1 - w) + self._b.xyz[hi] * w
        if n:
            self.released_t = float(t[-1])
            self._b.keep_from(int(lo[-1]))                          # the reading before the next ones
        self.unpaired += int(np.count_nonzero(~ok))
        self._drop_stale()
        return t[ok], first[ok], second[ok]

    def _drop_stale(self) -> None:
        """While the second stream has stopped, the first is not kept for more than ``max_pending_s``."""
        at = self._a.t
        if len(at) and at[-1] - at[0] > self.max_pending_s:
            stale = int(np.searchsorted(at, at[-1] - self.max_pending_s))
            self.unpaired += stale
            self._a.keep_from(stale)


def rate_hz(t_s: np.ndarray) -> float | None:
    """The sample rate of evenly meant time stamps (the median step, robust to gaps), or None."""
    if len(t_s) < 10:
        return None
    step = float(np.median(np.diff(t_s)))
    return 1.0 / step if step > 0 else None
