"""A recorded session's leg angle over the whole session, for its report (web/pages.py draws it).

The leg angle comes from running the samples through the same streaming pipeline as live (the angle
is read after every 0.1 s, as the live page sees it), reading the file a chunk at a time so a two-hour
session needs little memory; then it is thinned to at most ``MAX_POINTS`` (the lowest and highest
point of each stretch, so no rep peak is lost). This runs in a separate low-priority process
(:class:`ReportWorker`), so the counting thread never competes with it for the interpreter lock.
"""
from __future__ import annotations

import asyncio
import collections
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

from analysis.errors import HingemarchError
from analysis.pipeline import Pipeline
from analysis.reps import PLACEMENTS
from firmware_bridge.store.samples import head_meta, sample_chunks

STEP_S = 0.1          # the leg angle is read after each 0.1 s of samples, like the live page
MAX_POINTS = 1500


def leg_angle_trace(samples: str, max_points: int = MAX_POINTS) -> dict:
    """``{"t_s": [...], "leg_angle_deg": [...], "skipped_rows": n}``; None where the angle is unknown."""
    meta = head_meta(Path(samples))
    pipe = Pipeline(placement=meta.get("placement") if meta.get("placement") in PLACEMENTS else None)
    t_out, a_out, skipped = [], [], 0
    for block, bad in sample_chunks(Path(samples)):
        skipped += bad
        t, acc, gyr = block.t_s, block.accel_mps2, block.gyro_dps
        step = np.floor(t / STEP_S).astype(np.int64)
        cuts = [0, *(np.flatnonzero(np.diff(step)) + 1).tolist(), len(t)]
        for a, b in zip(cuts[:-1], cuts[1:]):     # any split gives the pipeline's same results
            pipe.feed(t[a:b], acc[a:b], gyr[a:b])
            t_out.append(round(float(t[b - 1]), 3))
            a_out.append(pipe.state["leg_angle_deg"])
    t_thin, a_thin = thin(t_out, a_out, max_points)
    return {"t_s": t_thin, "leg_angle_deg": a_thin, "skipped_rows": skipped}


def thin(t: list, y: list, max_points: int) -> tuple[list, list]:
    """At most ``max_points``: each stretch keeps its lowest and highest point, in time order;
    unknown values (None) are kept as gaps."""
    if len(t) <= max_points:
        return list(t), list(y)
    per = math.ceil(len(t) / (max_points // 2))
    t_out, y_out = [], []
    for i in range(0, len(t), per):
        idx = [j for j in range(i, min(i + per, len(t))) if y[j] is not None]
        if not idx:
            t_out.append(t[i])
            y_out.append(None)
            continue
        lo, hi = min(idx, key=y.__getitem__), max(idx, key=y.__getitem__)
        for j in sorted({lo, hi}):
            t_out.append(t[j])
            y_out.append(y[j])
    return t_out, y_out


class ReportWorker:
    """Leg-angle traces computed by ``python -m firmware_bridge.web.report FILE`` (a niced child
    process, one at a time) and cached by (file, size, mtime): a finished session is computed once."""

    def __init__(self, cache_size: int = 8):
        self._cache: collections.OrderedDict = collections.OrderedDict()
        self._inflight: dict = {}
        self._cache_size = cache_size
        self._one: asyncio.Semaphore | None = None
        self._procs: set = set()

    async def trace(self, samples: Path) -> dict:
        st = samples.stat()
        key = (str(samples), st.st_size, st.st_mtime_ns)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        task = self._inflight.get(key)
        if task is None:
            task = self._inflight[key] = asyncio.ensure_future(self._compute(key, samples))
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(task)

    async def _compute(self, key, samples: Path) -> dict:
        self._one = self._one or asyncio.Semaphore(1)
        async with self._one:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "firmware_bridge.web.report", str(samples),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            self._procs.add(proc)
            try:
                out, err = await proc.communicate()
            finally:
                self._procs.discard(proc)
        if proc.returncode != 0:
            lines = err.decode(errors="replace").strip().splitlines()
            raise HingemarchError(lines[-1] if lines else f"the report worker failed ({proc.returncode})")
        result = json.loads(out)
        self._cache[key] = result
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return result

    def close(self) -> None:
        for proc in list(self._procs):
            if proc.returncode is None:
                proc.kill()


def main(argv: list[str]) -> int:
    """The worker: the trace of one samples file as JSON on stdout, a one-line problem on stderr."""
    os.nice(10)                   # counting first
    try:
        sys.stdout.write(json.dumps(leg_angle_trace(argv[0])))
    except (HingemarchError, OSError) as e:
        print(e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
