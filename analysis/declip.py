"""Gyro samples a chip clipped at its full scale, rebuilt from the swing's shape either side.

A chip set to +-500 deg/s reads its end code through the fastest part of a quick rep; the rotation
beyond is lost, fusion's "up" ends every such rep 10-20 deg off and the counts drift (two of the
widened corpus's thigh sessions lost a rep a set). A swing's rate is smooth about its peak, so a run
of clipped samples on an axis is replaced by the parabola through the unclipped samples either side
of it (never below the clip level). The full scale is found from the data, per axis and sign: the
most extreme reading, once separate runs have hit exactly that value (a clipped converter repeats
its end code; two swings peaking at the same count by chance is rare), and beyond a floor no
chip's full scale is under. A run is rebuilt once its far side has arrived: the samples from its
start are held back until then (a few samples; the stream stays in order).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DeclipParams:
    """Tuning of :class:`Declip`."""

    min_full_scale_dps: float = 240.0   # no gyro's full scale is lower (the smallest is 250 deg/s)
    min_runs: int = 2                   # separate runs at exactly the extreme value make it the clip level
    side: int = 3                       # unclipped samples each side the parabola is fitted to (2 at least)


class Declip:
    """Streaming: ``feed`` returns the samples it can pass on, rebuilt where they were clipped. Each
    decision reads only the samples before it, so any split of the stream gives the same samples."""

    def __init__(self, params: DeclipParams = DeclipParams()):
        self.p = params
        self._extreme = np.zeros(6)           # most extreme reading per axis: x y z highest, x y z lowest (negated)
        self._runs = np.zeros(6, int)         # runs that have hit it exactly so far
        self._at = np.zeros(6, bool)          # the last sample passed on was at it...
        self._last = np.full(6, math.nan)     # ...and read this
        self._held: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None   # waiting for a run's far side
        self._ctx_t = np.zeros(0)             # the last samples passed on: the near side of a run at a
        self._ctx_g = np.zeros((0, 3))        # block's start

    def feed(self, t_s: np.ndarray, accel_mps2: np.ndarray, gyro_dps: np.ndarray, final: bool = False):
        """A block in, the samples ready out (t_s, accel_mps2, gyro_dps); ``final``: pass on all."""
        if self._held is not None:
            t_s, accel_mps2, gyro_dps = (np.concatenate([h, x]) for h, x in zip(self._held, (t_s, accel_mps2, gyro_dps)))
            self._held = None
        if not len(t_s):
            return t_s, accel_mps2, gyro_dps
        if not np.fmax.reduce(np.abs(gyro_dps), axis=None) >= self.p.min_full_scale_dps:   # nowhere near a
            # full scale: the usual (fmax passes NaN readings over, as a comparison with them would)
            self._at[:] = False       # (readings under the floor never count towards a clip level)
            return self._passed(t_s, accel_mps2, gyro_dps)
        clipped, state = self._clipped(gyro_dps)
        n = cut = len(t_s)
        rows = clipped.any(axis=1)
        if rows.any() and not final and n - 1 - np.flatnonzero(rows)[-1] < self.p.side:
            cut = _run_start(rows, int(np.flatnonzero(rows)[-1]))   # its far side has not come yet
            clipped, state = self._clipped(gyro_dps[:cut])
        self._extreme, self._runs, self._at, self._last = state
        if cut < n:
            self._held = (t_s[cut:], accel_mps2[cut:], gyro_dps[cut:])
        t_s, accel_mps2, gyro_dps = t_s[:cut], accel_mps2[:cut], gyro_dps[:cut]
        if clipped.any():
            k = len(self._ctx_t)
            g_all = _rebuilt(np.concatenate([self._ctx_t, t_s]), np.concatenate([self._ctx_g, gyro_dps]),
                             np.concatenate([np.zeros((k, 3), bool), clipped]), self.p.side)
            gyro_dps = g_all[k:]
        return self._passed(t_s, accel_mps2, gyro_dps)

    def _passed(self, t_s, accel_mps2, gyro_dps):
        """Keep the last samples passed on: the near side of a run that starts the next block."""
        s = self.p.side
        if len(t_s) >= s:
            self._ctx_t, self._ctx_g = t_s[-s:].copy(), gyro_dps[-s:].copy()
        else:
            self._ctx_t = np.concatenate([self._ctx_t, t_s])[-s:]
            self._ctx_g = np.concatenate([self._ctx_g, gyro_dps])[-s:]
        return t_s, accel_mps2, gyro_dps

    def _clipped(self, gyro_dps: np.ndarray):
        """Which samples are clipped, each judged on the samples before it: a run at exactly the most
        extreme reading so far (beyond ``min_full_scale_dps``) that is at least the ``min_runs``-th to
        hit that value. Returns (n, 3) flags and the state after the samples."""
        v = np.concatenate([gyro_dps, -gyro_dps], axis=1)       # lows as negated highs
        extreme, runs, at_prev = self._extreme.copy(), self._runs.copy(), self._at.copy()
        flags = np.zeros(v.shape, bool)
        if not len(v):
            return flags[:, :3], (extreme, runs, at_prev, self._last)
        for c in range(6):
            col = v[:, c]
            top = np.fmax.accumulate(np.concatenate([[extreme[c]], col]))[1:]
            at = (col == top) & (col >= self.p.min_full_scale_dps)
            prev = np.concatenate([[at_prev[c]], at[:-1]])
            same = np.concatenate([[self._last[c]], col[:-1]]) == col
            starts = np.flatnonzero(at & ~(prev & same))
            for i0 in starts:                 # few: only where a reading ties or beats every one before
                if col[i0] > extreme[c]:
                    extreme[c], runs[c] = col[i0], 0
                runs[c] += 1
                if runs[c] >= self.p.min_runs:
                    i1 = i0
                    while i1 + 1 < len(col) and at[i1 + 1] and col[i1 + 1] == col[i0]:
                        i1 += 1
                    flags[i0:i1 + 1, c] = True
            extreme[c] = max(extreme[c], top[-1])
            at_prev[c] = at[-1]
        return flags[:, :3] | flags[:, 3:], (extreme, runs, at_prev, v[-1].copy())


def _run_start(flags: np.ndarray, i: int) -> int:
    """Index of the first of the run of True in ``flags`` that ``i`` is in."""
    while i > 0 and flags[i - 1]:
        i -= 1
    return i


def _rebuilt(t_s: np.ndarray, gyro_dps: np.ndarray, clipped: np.ndarray, side: int) -> np.ndarray:
    """Every run of clipped samples on an axis with at least 2 unclipped ones either side replaced
    by the parabola through up to ``side`` of them each side, never below the clip level."""
    out = gyro_dps.copy()
    n = len(t_s)
    for ax in range(3):
        c = clipped[:, ax]
        for i0 in np.flatnonzero(c & ~np.concatenate([[False], c[:-1]])):   # each run's first sample
            i1 = i0
            while i1 + 1 < n and c[i1 + 1]:
                i1 += 1
            before = [j for j in range(max(0, i0 - side), i0) if not c[j]]
            after = [j for j in range(i1 + 1, min(n, i1 + 1 + side)) if not c[j]]
            idx = before + after
            if len(before) >= 2 and len(after) >= 2 and np.isfinite(t_s[idx]).all() and np.isfinite(gyro_dps[idx, ax]).all():
                fit = np.polyval(np.polyfit(t_s[idx] - t_s[i0], gyro_dps[idx, ax], 2), t_s[i0:i1 + 1] - t_s[i0])
                level = gyro_dps[i0, ax]
                out[i0:i1 + 1, ax] = np.fmax(fit, level) if level > 0 else np.fmin(fit, level)
    return out
