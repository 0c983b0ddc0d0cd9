"""Streaming throughput and memory of the analysis pipeline over long sessions.

Generates a simulated session at 200 Hz (default 2 hours, with rests padded out to length), streams
it through the pipeline in 0.1 s blocks on one core, and reports samples per second. Memory: the
pipeline's own peak allocation (tracemalloc) for a short and the long session, to show it does not
grow with session length.

Cost ratio: on the same 0.1 s blocks, a floor is timed too, the least any pipeline on this design
must do: per block, the 20 ms bucket means (numpy, vectorised over the block) and one imufusion
AHRS update per bucket, with analysis/orientation.py's Tilt settings. Pipeline CPU s / floor CPU s
is the cost ratio (target <= 4x). Both use process_time, in rounds that alternate the two
(``--rounds``, default 3): the ratio is the least pipeline time over the least floor time, the
runs least disturbed by a shared machine (as timeit takes the minimum), and every round's ratio is
printed too.

    ./run bench throughput [--hours 2] [--rate-hz 200] [--rounds 3]
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
import tracemalloc
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.orientation import Tilt  # noqa: E402
from analysis.pipeline import Pipeline  # noqa: E402
from analysis.resample import ANALYSIS_RATE_HZ  # noqa: E402
from analysis.units import STANDARD_GRAVITY_MPS2  # noqa: E402
from imu.sim import simulate_session  # noqa: E402


def stream(block, rate_hz: float, trace: bool) -> tuple[float, float, int, int]:
    """Feed the session in 0.1 s blocks: (wall s, CPU s, reps, peak pipeline bytes or 0). CPU time
    is given too because on a shared virtual machine the wall clock also counts stolen time."""
    step = int(round(0.1 * rate_hz))
    if trace:
        tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    p = Pipeline(placement="thigh")
    reps = 0
    for i in range(0, len(block), step):
        reps += sum(e.kind == "rep" for e in p.feed(block.t_s[i:i + step], block.accel_mps2[i:i + step],
                                                    block.gyro_dps[i:i + step]))
    reps += sum(e.kind == "rep" for e in p.finish())
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = 0
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return elapsed, cpu, reps, peak


def floor(block, rate_hz: float) -> float:
    """The floor on the same blocks: bucket means and one fusion update per bucket. CPU s."""
    step = int(round(0.1 * rate_hz))
    dt = 1.0 / ANALYSIS_RATE_HZ
    c0 = time.process_time()
    ahrs = Tilt(rate_hz=ANALYSIS_RATE_HZ)._ahrs      # the pipeline's own fusion settings
    for i in range(0, len(block), step):
        t = block.t_s[i:i + step]
        if not len(t):
            continue
        k = np.floor(t / dt).astype(np.int64)
        starts = np.flatnonzero(np.concatenate(((True,), k[1:] != k[:-1])))
        x = np.hstack([block.accel_mps2[i:i + step] / STANDARD_GRAVITY_MPS2, block.gyro_dps[i:i + step]])
        means = np.add.reduceat(x, starts, axis=0) / np.diff(np.append(starts, len(t)))[:, None]
        for m in means:
            ahrs.update_no_magnetometer(m[3:], m[:3])
    return time.process_time() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--rate-hz", type=float, default=200.0)
    ap.add_argument("--rounds", type=int, default=3, help="pipeline and floor timed alternately this many times")
    args = ap.parse_args()
    print(f"hingemarch throughput bench: {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}, one core, {date.today()}")
    for label, duration_s in (("short", 600.0), ("long", args.hours * 3600)):
        s = simulate_session(7, rate_hz=args.rate_hz, n_sets=3, min_duration_s=duration_s)
        n = len(s.block)
        runs, floors = [], []
        for _ in range(max(1, args.rounds)):
            runs.append(stream(s.block, args.rate_hz, trace=False))
            floors.append(floor(s.block, args.rate_hz))
        elapsed, cpu, reps, _ = min(runs, key=lambda r: r[1])
        floor_cpu = min(floors)
        peak = stream(s.block, args.rate_hz, trace=True)[3]
        print(f"  {label:5}: {n / args.rate_hz / 3600:5.2f} h at {args.rate_hz:.0f} Hz = {n:,} samples, "
              f"{elapsed:6.1f} s, {n / elapsed:,.0f} samples/s ({n / args.rate_hz / elapsed:,.0f}x real time; "
              f"{n / cpu:,.0f} per CPU second), "
              f"{reps} reps, pipeline peak memory {peak / 1024:,.0f} KiB")
        print(f"         floor (bucket means + one AHRS update a bucket) {floor_cpu:.2f} CPU s, pipeline "
              f"{cpu:.2f} CPU s: cost ratio {cpu / floor_cpu:.1f}x (target <= 4x); rounds: "
              + ", ".join(f"{r[1]:.2f}/{f:.2f} s {r[1] / f:.1f}x" for r, f in zip(runs, floors)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
