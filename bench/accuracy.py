"""Rep-count accuracy and event delay on a corpus of simulated sessions, and the real recordings.

Each session varies seed, mount (uniformly random, crooked, aligned), placement (thigh, shank),
sample rate (50-400 Hz), tempo, depth, ranges and sensor faults, with rests full of walking,
stairs, sitting down, fidgets and strap adjustments. Every session is streamed through the
pipeline in 0.1 s blocks, exactly as live. Prints the figures the docs quote.

If ../shared/data/real_dev/ exists next to the repository (real leg-IMU recordings, see its
README.md; never copied into the repo), every recording there is streamed too: walking and
sit/stand (target: 0 reps), and other leg exercises (not the hinge-and-march, so their counts are
no target: printed with the rep angles and the leg-angle range over each true set as a check of
the front end).

    ./run bench accuracy [--sessions 48] [--jobs 2] [--first-seed 1000] [--corpus standard]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.events import RepEvent  # noqa: E402
from analysis.pipeline import Pipeline  # noqa: E402
from imu.samples import SampleBlock  # noqa: E402
from imu.sim import SensorErrors, SimSession, simulate_session  # noqa: E402

RATES_HZ = (50, 100, 200, 400)
MOUNTS = ("random", "random", "crooked", "aligned")
ACCEL_RANGES_G = (4, 8, 16)
GYRO_RANGES_DPS = (500, 1000, 2000)
TEMPOS_S = ((1.5, 3.0), (2.0, 6.0), (4.0, 8.0))
DEPTHS_DEG = ((50.0, 75.0), (60.0, 100.0), (75.0, 100.0))
SET_MARGIN_S = (1.0, 2.0)   # a rep counts for a set if it lands this far before its start / after its end
BLOCK_S = 0.1
REAL_DEV = Path(__file__).resolve().parents[2] / "shared/data/real_dev"


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


CHIPS = ("mpu6050", "mpu6500", "lsm6ds3", "lsm6dsox")
WIDE_TEMPOS_S = ((1.2, 2.0), (1.5, 4.0), (2.0, 6.0), (4.0, 8.0))
STARTS = ("standing", "moving", "seated")


def widened(n: int, first_seed: int = 1000) -> list[dict]:
    """Sensors and people as they really are: every chip at its datasheet limits (offsets, gain,
    cross-axis, temperature drift), 1.2-8 s reps, flowing reps without holds, marches with the knee
    bent up to 120 deg, strap slips of 5-30 deg within and across the movement plane, stretches of
    over a minute without a still second, sessions that start walking or seated."""
    out = []
    for i, spec in enumerate(corpus(n, first_seed)):
        spec.update(errors="datasheet:" + CHIPS[(i // 2) % 4], faults=True, tempo_range_s=WIDE_TEMPOS_S[(i // 3) % 4],
                    hold_prob=(0.2, 0.6)[(i // 4) % 2], flow_prob=(0.3, 0.8)[(i // 5) % 2], min_movement_s=0.9,
                    knee_march_range_deg=(75.0, 120.0), slip_prob=0.3, stretch_prob=0.3, start=STARTS[(i // 7) % 3])
        out.append(spec)
    return out


# --corpus NAME: each a function (n, first_seed) -> list of specs; any key of a spec other than
# seed and errors goes to simulate_session unchanged
CORPORA = {"widened": widened, "standard": corpus}


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, {date.today()}"


def simulate(spec: dict) -> SimSession:
    """The session a corpus spec describes."""
    spec = dict(spec)
    name = spec.pop("errors", "mpu6050")
    errors = SensorErrors.datasheet(name.split(":")[1]) if name.startswith("datasheet:") \
        else SensorErrors.lsm6dsox() if name == "lsm6dsox" else SensorErrors.mpu6050()
    return simulate_session(spec.pop("seed"), errors=errors, **spec)


def stream(block, placement: str, trace: bool = False, exercise: str | None = None) -> tuple[list[RepEvent], np.ndarray | None]:
    """Feed a SampleBlock-like (t_s, accel_mps2, gyro_dps) in 0.1 s blocks of its own time, as live,
    counting ``exercise`` (default hinge_march). Returns the rep events and, with ``trace``, (t_s, the
    front end's leg angle deg or nan) after every block: its sign is the movement axis's, before the
    detector learns which side is the hinge."""
    t = np.asarray(block.t_s, float)
    p = Pipeline(placement=placement, exercise=exercise)
    reps: list[RepEvent] = []
    angles = []
    if len(t):
        edges = np.unique(np.append(np.searchsorted(t, np.arange(t[0], t[-1] + BLOCK_S, BLOCK_S)), len(t)))
        for i0, i1 in zip(edges[:-1], edges[1:]):
            reps += [e for e in p.feed(t[i0:i1], block.accel_mps2[i0:i1], block.gyro_dps[i0:i1])
                     if isinstance(e, RepEvent)]
            if trace:
                angles.append((p.t_s, p.raw_angle_deg))
    reps += [e for e in p.finish() if isinstance(e, RepEvent)]
    return reps, (np.array(angles).reshape(-1, 2) if trace else None)


def score(reps: list[RepEvent], truth_sets, time_factor: float) -> dict:
    """Reps per true set (true, counted), reps outside every set, and each rep's delay. A rep belongs
    where it happened (``completed_s``); its delay is when it was shown (``t_s``) less the true
    completion nearest to where it happened, so a rep re-read or held back is as late as it was
    shown. The truth is in physics time; ``time_factor`` turns it into the stream's time stamps."""
    k = time_factor
    sets, delays = [], []
    windows = [(st.start_s * k - SET_MARGIN_S[0], st.end_s * k + SET_MARGIN_S[1]) for st in truth_sets]
    for st, (lo, hi) in zip(truth_sets, windows):
        mine = [r for r in reps if lo <= r.completed_s <= hi]
        sets.append((st.reps, len(mine)))
        truth = [x * k for x in st.rep_completion_s]
        for r in mine:
            delays.append(r.t_s - min(truth, key=lambda x: abs(x - r.completed_s)))
    outside = sum(1 for r in reps if not any(lo <= r.completed_s <= hi for lo, hi in windows))
    return {"sets": sets, "outside": outside, "delays": delays}


def run_block(block, placement: str, truth_sets, time_factor: float) -> dict:
    """Stream and score one block of samples (the simulated session's, or a changed copy of it)."""
    return score(stream(block, placement)[0], truth_sets, time_factor)


def run_session(spec: dict) -> dict:
    s = simulate(spec)
    b = s.block     # truth is in physics time; samples carry the sensor's clock
    return {**run_block(b, s.placement, s.truth.sets, s.stage.clock_factor), "placement": s.placement,
            "duration_s": float(b.t_s[-1]), "samples": len(b)}


def run_recording(path: Path) -> dict:
    """One real recording (<name>.imu.csv, <name>.truth.json): its reps and leg-angle trace."""
    x = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    truth = json.loads(path.with_name(path.name.replace(".imu.csv", ".truth.json")).read_text())
    placement = "shank" if "shank" in truth["placement"].lower() else "thigh"
    block = SampleBlock(x[:, 0], x[:, 1:4], np.degrees(x[:, 4:7]))
    reps, trace = stream(block, placement, trace=True)
    sets = []
    for st in truth["sets"]:
        sel = (trace[:, 0] >= st["start_s"]) & (trace[:, 0] <= st["end_s"]) & ~np.isnan(trace[:, 1])
        lo, hi = st["start_s"] - SET_MARGIN_S[0], st["end_s"] + SET_MARGIN_S[1]
        sets.append({"true": st["reps"], "counted": sum(lo <= r.t_s <= hi for r in reps),
                     "angle": (float(trace[sel, 1].min()), float(trace[sel, 1].max())) if sel.any() else None})
    return {"name": path.name.replace(".imu.csv", ""), "placement": placement, "sets": sets,
            "duration_s": float(x[-1, 0] - x[0, 0]), "rate_hz": (len(x) - 1) / float(x[-1, 0] - x[0, 0]),
            "reps": [(r.t_s, r.hinge_depth_deg, r.march_height_deg) for r in reps]}


def print_recordings(results: list[dict]) -> None:
    print(f"real recordings in {REAL_DEV}:")
    negatives = [r for r in results if not r["sets"]]
    print("  never a rep (walking, sit/stand; target 0):")
    for r in negatives:
        print(f"    {r['name']:40} {r['placement']:5} {r['duration_s']:5.0f} s at {r['rate_hz']:5.1f} Hz: "
              f"{len(r['reps'])} reps")
    print("  other exercises (not the hinge-and-march: counts are no target):")
    for r in results:
        if not r["sets"]:
            continue
        print(f"    {r['name']:40} {r['placement']:5} {r['duration_s']:5.0f} s at {r['rate_hz']:5.1f} Hz: "
              f"{len(r['reps'])} reps counted, {sum(s['true'] for s in r['sets'])} true")
        for i, s in enumerate(r["sets"], 1):
            ang = "no angle" if s["angle"] is None else f"leg angle {s['angle'][0]:+6.1f} .. {s['angle'][1]:+6.1f} deg"
            print(f"      set {i}: {s['true']:2} true, {s['counted']:2} counted, {ang}")
        if r["reps"]:
            print("      reps (t s: hinge depth / march height deg): "
                  + ", ".join(f"{t:.0f}: {h:.0f}/{m:.0f}" for t, h, m in r["reps"]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=48)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--first-seed", type=int, default=1000,
                    help="seeds first..first+sessions-1 (another value: a corpus the tuning never saw)")
    ap.add_argument("--corpus", choices=sorted(CORPORA), default="widened",
                    help="which simulated corpus (widened: datasheet-limit sensors and real-world people; "
                         "standard: the first design's)")
    ap.add_argument("--verbose", action="store_true", help="one line per session")
    args = ap.parse_args()
    specs = CORPORA[args.corpus](args.sessions, args.first_seed)
    recordings = sorted(REAL_DEV.glob("*.imu.csv")) if REAL_DEV.is_dir() else []
    t0 = time.perf_counter()
    with mp.Pool(args.jobs) as pool:
        results = pool.map(run_session, specs, chunksize=1)
        elapsed = time.perf_counter() - t0
        real = pool.map(run_recording, recordings, chunksize=1)
    if args.verbose:
        for spec, r in zip(specs, results):
            print(spec["seed"], spec["placement"], spec["rate_hz"], spec["mount"], "sets true/got", r["sets"],
                  "outside", r["outside"])
    print(f"hingemarch accuracy bench: {len(specs)} simulated sessions ({args.corpus} corpus), "
          f"{sum(r['duration_s'] for r in results) / 3600:.2f} h of data, {elapsed:.0f} s on {machine()}")
    for label, keep in (("all", lambda r: True), ("thigh", lambda r: r["placement"] == "thigh"),
                        ("shank", lambda r: r["placement"] == "shank")):
        rs = [r for r in results if keep(r)]
        sets = [x for r in rs for x in r["sets"]]
        d = [x for r in rs for x in r["delays"]]
        if not sets or not d:
            print(f"  {label:5}: no sets in these sessions")
            continue
        exact = sum(t == g for t, g in sets) / len(sets) * 100
        within1 = sum(abs(t - g) <= 1 for t, g in sets) / len(sets) * 100
        print(f"  {label:5}: {len(sets):3} sets, exact {exact:5.1f} %, within +-1 {within1:5.1f} %, "
              f"reps outside sets {sum(r['outside'] for r in rs):3}, delay median {statistics.median(d):+.2f} s, "
              f"p95 {float(np.percentile(d, 95)):+.2f} s, |delay| p95 {float(np.percentile(np.abs(d), 95)):.2f} s, "
              f"max {max(d):+.1f} s, over 1 s late {sum(x > 1.0 for x in d) / len(d) * 100:.1f} %")
    if real:
        print_recordings(real)
    else:
        print(f"real recordings: {REAL_DEV} not found (or empty), skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
