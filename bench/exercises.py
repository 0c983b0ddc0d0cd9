"""Rep counts of the other exercises (docs/exercises.md): simulated sets of each, as ``any`` and as
its own profile; sessions of walking, stairs, sitting down and fidgets that must count 0 with every
profile; and, when ../shared/data/real_dev/ exists beside the repository (real recordings, see its
README.md; never copied into the repo), every recording there counted with ``--exercise any``
(targets: >= 90 % of the exercise sets exact, 100 % within +-1, 0 reps on walking and sit/stand).

    ./run bench exercises [--sessions 8] [--jobs 2] [--first-seed 1000] [--verbose] [--real-as any]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.exercises import PROFILES  # noqa: E402
from analysis.gyrocheck import disagreement  # noqa: E402
from bench.accuracy import REAL_DEV, SET_MARGIN_S, machine, score, stream  # noqa: E402
from imu.samples import SampleBlock  # noqa: E402
from imu.sim import SensorErrors, simulate_session  # noqa: E402
from imu.sim.exercises import LYING, MOVES  # noqa: E402

RATES_HZ = (25, 50, 100, 200)
CHIPS = ("mpu6050", "mpu6500", "lsm6ds3", "lsm6dsox")
MOUNTS = ("random", "crooked")


def specs(exercise: str, n: int, first_seed: int) -> list[dict]:
    """Sessions of one exercise: 3 sets of 6-14 reps, every rate, chip and mount in turn, holds in half."""
    return [dict(seed=first_seed + i, exercise=exercise, rate_hz=RATES_HZ[i % 4], chip=CHIPS[(i // 2) % 4],
                 mount=MOUNTS[(i // 4) % 2], hold_prob=0.5, rest_range_s=(30.0, 90.0)) for i in range(n)]


def negatives(n: int, first_seed: int) -> list[dict]:
    """Sessions with no set at all: four minutes of walking, stairs, sitting down, fidgets, re-strapping."""
    return [dict(seed=first_seed + i, exercise="hinge_march", rate_hz=RATES_HZ[i % 4], chip=CHIPS[(i // 2) % 4],
                 mount=MOUNTS[(i // 4) % 2], n_sets=0, min_duration_s=240.0,
                 placement=("thigh", "shank")[i % 2]) for i in range(n)]


def run_spec(spec: dict) -> dict:
    """One simulated session, counted as ``any``, as its own profile (if one), and as every profile
    when it has no sets."""
    spec = dict(spec)
    seed, chip = spec.pop("seed"), spec.pop("chip")
    s = simulate_session(seed, errors=SensorErrors.datasheet(chip), **spec)
    names = list(PROFILES) if not s.truth.sets else ["any", spec["exercise"]]
    out = {"exercise": spec["exercise"], "seed": seed, "gyro_untrusted": disagreement(s.block.t_s, s.block.accel_mps2, s.block.gyro_dps)[2]}
    for name in names:
        reps, _ = stream(s.block, s.placement, exercise=name)
        out[name] = score(reps, s.truth.sets, s.stage.clock_factor)
    return out


def run_recording(path: Path, exercise: str = "any") -> dict:
    """One real recording counted as ``exercise``: reps per true set, and in all."""
    x = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    truth = json.loads(path.with_name(path.name.replace(".imu.csv", ".truth.json")).read_text())
    placement = "shank" if "shank" in truth["placement"].lower() else "thigh"
    block = SampleBlock(x[:, 0], x[:, 1:4], np.degrees(x[:, 4:7]))
    reps, _ = stream(block, placement, exercise=exercise)
    gyro_off_deg, moves, untrusted = disagreement(block.t_s, block.accel_mps2, block.gyro_dps)
    sets = [(st["reps"], sum(st["start_s"] - SET_MARGIN_S[0] <= r.t_s <= st["end_s"] + SET_MARGIN_S[1] for r in reps))
            for st in truth["sets"]]
    return {"name": path.name.replace(".imu.csv", ""), "placement": placement, "sets": sets, "reps": len(reps),
            "rate_hz": (len(x) - 1) / float(x[-1, 0] - x[0, 0]), "rom_deg": [r.rom_deg for r in reps],
            "gyro_off_deg": gyro_off_deg, "moves": moves, "untrusted": untrusted}


def line(label: str, results: list[dict]) -> str:
    sets = [x for r in results for x in r["sets"]]
    if not sets:
        return f"  {label:34}: no sets"
    exact = sum(t == g for t, g in sets) / len(sets) * 100
    within = sum(abs(t - g) <= 1 for t, g in sets) / len(sets) * 100
    return (f"  {label:34}: {len(sets):3} sets, exact {exact:5.1f} %, within +-1 {within:5.1f} %, "
            f"reps outside sets {sum(r['outside'] for r in results):3}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=8, help="simulated sessions per exercise, and of no exercise")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--verbose", action="store_true", help="one line per session and recording")
    ap.add_argument("--real-as", choices=sorted(PROFILES), default="any", help="count the real recordings as this")
    args = ap.parse_args()
    todo = [sp for ex in MOVES for sp in specs(ex, args.sessions, args.first_seed)] + negatives(args.sessions, args.first_seed)
    recordings = sorted(REAL_DEV.glob("*.imu.csv")) if REAL_DEV.is_dir() else []
    t0 = time.perf_counter()
    with mp.Pool(args.jobs) as pool:
        results = pool.map(run_spec, todo, chunksize=1)
        real = pool.starmap(run_recording, [(r, args.real_as) for r in recordings], chunksize=1)
    print(f"hingemarch exercises bench: {len(todo)} simulated sessions, {time.perf_counter() - t0:.0f} s on {machine()}")
    for ex in MOVES:
        mine = [r for r in results if r["exercise"] == ex]
        where = "lying" if ex in LYING else "standing, rests with walking, stairs, sitting down"
        print(f" {ex} ({where}):")
        print(line("as any", [r["any"] for r in mine]))
        print(line(f"as {ex}", [r[ex] for r in mine]))
        if args.verbose:
            for r in mine:
                print(f"    seed {r['seed']}: any {r['any']['sets']} +{r['any']['outside']}, "
                      f"{ex} {r[ex]['sets']} +{r[ex]['outside']}")
    print(f" gyro check (analysis/gyrocheck.py): untrusted in {sum(r['gyro_untrusted'] for r in results)} of "
          f"{len(results)} simulated sessions (sound chips at their datasheet limits; target 0)")
    none = [r for r in results if r["exercise"] == "hinge_march"]
    print(f" no exercise ({len(none)} sessions of 4 min: walking, stairs, sitting down, fidgets, re-strapping; target 0):")
    print("  " + ", ".join(f"{name} {sum(r[name]['outside'] for r in none)}" for name in PROFILES) + " reps")
    if not recordings:
        print(f"real recordings: {REAL_DEV} not found (or empty), skipped")
        return 0
    print(f"real recordings in {REAL_DEV}, counted as {args.real_as}:")
    for r in real:
        print(f"  {r['name']:44} {r['placement']:5} {r['rate_hz']:5.1f} Hz: {r['reps']:3} reps"
              + (f", sets true/counted {r['sets']}" if r["sets"] else " (target 0)"))
        print(f"    gyro against accelerometer, still pose to still pose: median {r['gyro_off_deg']:.1f} deg "
              f"over {r['moves']} movements" + (", untrusted: the tilt is gravity's" if r["untrusted"] else "")
              if r["moves"] else "    no movement between two still poses to judge: the gyro cannot be checked")
        if args.verbose and r["rom_deg"]:
            print("    rom deg: " + " ".join(f"{x:.0f}" for x in r["rom_deg"]))
    sets = [x for r in real for x in r["sets"]]
    zero = [r for r in real if not r["sets"]]
    print(f"  exercise sets: {len(sets)}, exact {sum(t == g for t, g in sets) / len(sets) * 100:.1f} % (target >= 90), "
          f"within +-1 {sum(abs(t - g) <= 1 for t, g in sets) / len(sets) * 100:.1f} % (target 100); "
          f"walking and sit/stand: {sum(r['reps'] for r in zero)} reps (target 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
