"""Robustness of the rep counts: the accuracy corpus again, after one change at a time that must not
change any count.

Every session of bench/accuracy.py's corpus is simulated once and streamed unchanged (the
reference), then once per change below, each applied alone to the session's samples. For each
change: the % of true sets whose count differs from the reference run (target: 0 % for every
change), and the % of sets counted exactly right after it (for context; the reference's is on the
"none" line). Changes, per session drawn from a generator seeded by (session seed, change name):

  scale0.95, scale1.05  accelerometer x0.95 / x1.05 on all axes
  scale-axes            accelerometer x one scale per axis, each uniform in [0.95, 1.05]
  offset+x ... offset-z accelerometer +-0.8 m/s^2 on one axis (x, y and z each a change)
  gyro+5, gyro-5        gyro bias +-5 deg/s on each of the three axes (|bias| 8.7 deg/s)
  clock+3, clock-3      the sensor runs 3 % fast / slow but stamps say nominal: t' = t * 1.03 / 0.97
  rate25 ... rate400    the chip sampling at 25, 50, 104, 400 Hz: the session re-simulated at that rate
                        (same person and workout, same drawn sensor errors); a session already at that
                        rate is unchanged
  rotate                the chip turned on its mount by one uniformly random rotation: the session
                        re-simulated with the turn applied to the motion, before the sensor model
  drop1                 1 % of samples dropped, each independently

Rate and rotation are applied to the motion, not to the recorded samples, because a real chip
clips and quantises in its own axes at its own sample instants: resampling or rotating samples the
chip has already clipped would smear a clipped stretch past full scale and spread one clipped axis
over three, which no chip can output. The other changes act on the samples as a real chip's gain,
offset, bias, clock or lost samples would.

"outside" counts the reps that land outside every true set (all sessions), which a change can
add or remove without touching a set. Cost: 20 runs of the pipeline and 5 extra simulations a
session.

    ./run bench robustness [--sessions 48] [--first-seed 1000] [--jobs 2] [--only rate,clock+3]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
import zlib
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy import CORPORA, machine, run_block, simulate  # noqa: E402

from imu.samples import SampleBlock  # noqa: E402


def scaled(b, rng, s):
    return SampleBlock(b.t_s, b.accel_mps2 * s, b.gyro_dps), 1.0


def offset(b, rng, axis, mps2):
    a = b.accel_mps2.copy()
    a[:, axis] += mps2
    return SampleBlock(b.t_s, a, b.gyro_dps), 1.0


def clock(b, rng, factor):
    """The sensor runs 1/factor x nominal while its stamps count nominal: every stamp reads factor x."""
    return SampleBlock(b.t_s * factor, b.accel_mps2, b.gyro_dps), factor


def resimulated(spec: dict, **change) -> SampleBlock:
    """The same session (person, workout and drawn sensor errors) simulated again with ``change``:
    the chip clips and quantises in its own axes at its own samples, as a real one would."""
    return simulate({**spec, **change}).block


def rotated(spec, rng):
    return resimulated(spec, mount_turn=Rotation.random(random_state=rng).as_matrix()), 1.0


def dropped(b, rng, frac):
    keep = rng.random(len(b)) >= frac
    keep[0] = True
    return SampleBlock(b.t_s[keep], b.accel_mps2[keep], b.gyro_dps[keep]), 1.0


# name -> change(block, rng, spec) -> (changed block, factor by which its time stamps run)
CHANGES = {
    "scale0.95": lambda b, rng, spec: scaled(b, rng, 0.95),
    "scale1.05": lambda b, rng, spec: scaled(b, rng, 1.05),
    "scale-axes": lambda b, rng, spec: scaled(b, rng, rng.uniform(0.95, 1.05, 3)),
    **{f"offset{sign}{ax}": (lambda b, rng, spec, i=i, v=v: offset(b, rng, i, v))
       for i, ax in enumerate("xyz") for sign, v in (("+", 0.8), ("-", -0.8))},
    "gyro+5": lambda b, rng, spec: (SampleBlock(b.t_s, b.accel_mps2, b.gyro_dps + 5.0), 1.0),
    "gyro-5": lambda b, rng, spec: (SampleBlock(b.t_s, b.accel_mps2, b.gyro_dps - 5.0), 1.0),
    "clock+3": lambda b, rng, spec: clock(b, rng, 1.03),
    "clock-3": lambda b, rng, spec: clock(b, rng, 0.97),
    **{f"rate{hz}": (lambda b, rng, spec, hz=hz: (b if hz == spec["rate_hz"] else resimulated(spec, rate_hz=hz), 1.0))
       for hz in (25, 50, 104, 400)},
    "rotate": lambda b, rng, spec: rotated(spec, rng),
    "drop1": lambda b, rng, spec: dropped(b, rng, 0.01),
}


def run_changes(job: tuple[dict, list[str]]) -> dict:
    """One session: the reference run ("none") and one run per change, each {"sets", "outside", ...}."""
    spec, names = job
    c0 = time.process_time()
    s = simulate(spec)
    k = s.stage.clock_factor            # truth is in physics time; samples carry the sensor's clock
    out = {"none": run_block(s.block, s.placement, s.truth.sets, k)}
    for name in names:
        rng = np.random.default_rng([spec["seed"], zlib.crc32(name.encode())])
        block, factor = CHANGES[name](s.block, rng, spec)
        out[name] = run_block(block, s.placement, s.truth.sets, k * factor)
    out["cpu_s"] = time.process_time() - c0
    return out


def select(only: str | None) -> list[str]:
    """--only: comma-separated names or name prefixes ("rate" is every rate)."""
    if not only:
        return list(CHANGES)
    names = []
    for tok in only.split(","):
        hits = [n for n in CHANGES if n == tok or n.startswith(tok)]
        if not hits:
            raise SystemExit(f"robustness: no change named {tok!r}; changes: {', '.join(CHANGES)}")
        names += [n for n in hits if n not in names]
    return names


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=48)
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--corpus", choices=sorted(CORPORA), default="widened")
    ap.add_argument("--verbose", action="store_true", help="one line per set whose count changed")
    ap.add_argument("--only", help="comma-separated changes (or prefixes) to run; default all: "
                    + ", ".join(CHANGES))
    args = ap.parse_args()
    names = select(args.only)
    specs = CORPORA[args.corpus](args.sessions, args.first_seed)
    t0 = time.perf_counter()
    with mp.Pool(args.jobs) as pool:
        results = pool.map(run_changes, [(spec, names) for spec in specs], chunksize=1)
    elapsed = time.perf_counter() - t0
    print(f"hingemarch robustness bench: {len(specs)} simulated sessions ({args.corpus} corpus, seeds "
          f"{args.first_seed}..{args.first_seed + len(specs) - 1}), {len(names)} changes, {elapsed:.0f} s "
          f"({sum(r['cpu_s'] for r in results) / len(results):.0f} CPU s a session) on {machine()}, "
          f"{args.jobs} jobs")
    print("  target: 0 % of sets changed for every change")
    print(f"  {'change':11} {'sets':>5} {'% changed':>10} {'exact %':>8} {'outside':>8}")
    for name in ["none"] + names:
        pairs = [(ref[1], new) for r in results for ref, new in zip(r["none"]["sets"], r[name]["sets"])]
        changed = sum(a != b[1] for a, b in pairs) / len(pairs) * 100
        exact = sum(b[0] == b[1] for _, b in pairs) / len(pairs) * 100
        outside = sum(r[name]["outside"] for r in results)
        print(f"  {name:11} {len(pairs):5} {changed:9.1f}  {exact:7.1f}  {outside:8}")
    print("  outside: reps counted outside every true set (all sessions)")
    if args.verbose:
        for spec, r in zip(specs, results):
            for name in names:
                for i, (ref, new) in enumerate(zip(r["none"]["sets"], r[name]["sets"]), 1):
                    if ref[1] != new[1]:
                        print(f"  {name:11} seed {spec['seed']} {spec['placement']:5} {spec['rate_hz']:3} Hz "
                              f"set {i}: true {ref[0]}, reference {ref[1]}, changed {new[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
