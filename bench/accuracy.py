"""Rep-count accuracy and event delay on a corpus of simulated sessions.

Each session varies seed, mount (uniformly random, crooked, aligned), placement (thigh, shank),
sample rate (50-400 Hz), tempo, depth, ranges and sensor faults, with rests full of walking,
stairs, sitting down, fidgets and strap adjustments. Every session is streamed through the
pipeline in 0.1 s blocks, exactly as live. Prints the figures the docs quote.

    ./run bench accuracy [--sessions 48] [--jobs 2]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.events import RepEvent  # noqa: E402
from analysis.pipeline import Pipeline  # noqa: E402
from imu.sim import SensorErrors, simulate_session  # noqa: E402

RATES_HZ = (50, 100, 200, 400)
MOUNTS = ("random", "random", "crooked", "aligned")
ACCEL_RANGES_G = (4, 8, 16)
GYRO_RANGES_DPS = (500, 1000, 2000)
TEMPOS_S = ((1.5, 3.0), (2.0, 6.0), (4.0, 8.0))
DEPTHS_DEG = ((50.0, 75.0), (60.0, 100.0), (75.0, 100.0))
SET_MARGIN_S = (1.0, 2.0)   # a rep counts for a set if it lands this far before its start / after its end


def corpus(n: int, first_seed: int = 1000) -> list[dict]:
    """The session parameters: every combination axis cycles, so any n >= 24 covers them all."""
    out = []
    for i in range(n):
        out.append(dict(seed=first_seed + i, placement=("thigh", "shank")[i % 2], rate_hz=RATES_HZ[(i // 2) % 4],
                        mount=MOUNTS[(i // 3) % 4], accel_range_g=ACCEL_RANGES_G[i % 3],
                        gyro_range_dps=GYRO_RANGES_DPS[(i // 4) % 3], tempo_range_s=TEMPOS_S[(i // 5) % 3],
                        hinge_depth_range_deg=DEPTHS_DEG[(i // 6) % 3],
                        errors="lsm6dsox" if i % 5 == 4 else "mpu6050", faults=i % 7 != 6))
    return out


def run_session(spec: dict) -> dict:
    spec = dict(spec)
    errors = SensorErrors.lsm6dsox() if spec.pop("errors") == "lsm6dsox" else SensorErrors.mpu6050()
    s = simulate_session(spec.pop("seed"), errors=errors, **spec)
    k = s.stage.clock_factor            # truth is in physics time; samples carry the sensor's clock
    b = s.block
    p = Pipeline(placement=s.placement)
    step = max(1, int(round(0.1 * spec["rate_hz"])))
    reps: list[RepEvent] = []
    for i in range(0, len(b), step):
        reps += [e for e in p.feed(b.t_s[i:i + step], b.accel_mps2[i:i + step], b.gyro_dps[i:i + step])
                 if isinstance(e, RepEvent)]
    reps += [e for e in p.finish() if isinstance(e, RepEvent)]
    sets, outside, delays = [], 0, []
    windows = [(st.start_s * k - SET_MARGIN_S[0], st.end_s * k + SET_MARGIN_S[1]) for st in s.truth.sets]
    for st, (lo, hi) in zip(s.truth.sets, windows):
        mine = [r for r in reps if lo <= r.t_s <= hi]
        sets.append((st.reps, len(mine)))
        truth = [x * k for x in st.rep_completion_s]
        for r in mine:                   # each event against its nearest true completion
            delays.append(r.t_s - min(truth, key=lambda x: abs(x - r.t_s)))
    outside = sum(1 for r in reps if not any(lo <= r.t_s <= hi for lo, hi in windows))
    return {"sets": sets, "outside": outside, "delays": delays, "placement": s.placement,
            "duration_s": float(b.t_s[-1]), "samples": len(b)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=48)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--first-seed", type=int, default=1000,
                    help="seeds first..first+sessions-1 (another value: a corpus the tuning never saw)")
    ap.add_argument("--verbose", action="store_true", help="one line per session")
    args = ap.parse_args()
    specs = corpus(args.sessions, args.first_seed)
    t0 = time.perf_counter()
    with mp.Pool(args.jobs) as pool:
        results = pool.map(run_session, specs)
    elapsed = time.perf_counter() - t0
    if args.verbose:
        for spec, r in zip(specs, results):
            print(spec["seed"], spec["placement"], spec["rate_hz"], spec["mount"], "sets true/got", r["sets"],
                  "outside", r["outside"])
    print(f"hingemarch accuracy bench: {len(specs)} simulated sessions, "
          f"{sum(r['duration_s'] for r in results) / 3600:.2f} h of data, {elapsed:.0f} s on "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    for label, keep in (("all", lambda r: True), ("thigh", lambda r: r["placement"] == "thigh"),
                        ("shank", lambda r: r["placement"] == "shank")):
        rs = [r for r in results if keep(r)]
        sets = [x for r in rs for x in r["sets"]]
        exact = sum(t == g for t, g in sets) / len(sets) * 100
        within1 = sum(abs(t - g) <= 1 for t, g in sets) / len(sets) * 100
        d = [x for r in rs for x in r["delays"]]
        print(f"  {label:5}: {len(sets):3} sets, exact {exact:5.1f} %, within +-1 {within1:5.1f} %, "
              f"reps outside sets {sum(r['outside'] for r in rs):3}, delay median {statistics.median(d):+.2f} s, "
              f"p95 {float(np.percentile(d, 95)):+.2f} s, |delay| p95 {float(np.percentile(np.abs(d), 95)):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
