"""Write a simulated workout session with its ground truth.

The session is scripted from --seed: sets of single-leg hinge-and-march reps with rests between them
(walking about, stairs, sitting down, fidgeting, re-strapping the sensor unless --no-distractions),
sampled through an MPU-6050-like error model (bias, drift, noise, gain, clock error, dropped samples)
unless --no-faults. OUT gets samples.csv (session format v1, readable by `hingemarch analyze OUT`) and
truth.json (every set's rep completion times, depths and heights, and the non-rep activities).
"""
from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from analysis.errors import HingemarchError
from analysis.reps import PLACEMENTS
from firmware_bridge import __version__
from firmware_bridge.cli.flags import SEED, number
from firmware_bridge.store.folder import SAMPLES
from firmware_bridge.store.samples import SessionMeta, write_samples
from imu.sim import simulate_session
from imu.sim.exercises import MOVES


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=SEED, default=1,
                   help="random seed, 0..4294967295; the same seed gives the same session (default %(default)s)")
    p.add_argument("--rate-hz", type=number(10, 2000, "Hz"), default=100.0,
                   help="nominal sample rate (10..2000 Hz, default %(default)s Hz)")
    p.add_argument("--placement", choices=PLACEMENTS, default="thigh", help="where the sensor is strapped")
    p.add_argument("--side", choices=("left", "right"), default="left", help="the lifted leg")
    p.add_argument("--sets", type=number(1, 50, whole=True), default=3,
                   help="number of sets (1..50, default %(default)s)")
    p.add_argument("--reps", type=number(1, 100, whole=True), default=10,
                   help="reps per set (1..100), varied by up to +-2 per set unless --fixed-reps (default %(default)s)")
    p.add_argument("--fixed-reps", action="store_true", help="every set has exactly --reps reps")
    p.add_argument("--mount", choices=("random", "crooked", "aligned"), default="random",
                   help="sensor orientation on the leg: uniformly random, aligned with the leg within "
                        "~20 deg, or exactly aligned (default %(default)s)")
    p.add_argument("--accel-range-g", type=int, choices=(2, 4, 8, 16), default=16)
    p.add_argument("--gyro-range-dps", type=int, choices=(250, 500, 1000, 2000), default=2000)
    p.add_argument("--no-faults", action="store_true",
                   help="ideal sensor: no bias, noise, gain or clock error, no dropped samples")
    p.add_argument("--exercise", choices=("hinge_march", *MOVES), default="hinge_march",
                   help="what the simulated person does (lying ones rest lying; docs/exercises.md)")
    p.add_argument("--no-distractions", action="store_true", help="rests are spent standing still")
    p.add_argument("--out", metavar="DIR", type=Path, help="output folder (default sim-seed<SEED>); must not "
                   "already hold a samples.csv")


def run(args) -> int:
    out = args.out or Path(f"sim-seed{args.seed}")
    samples_path, truth_path = out / SAMPLES, out / "truth.json"
    if samples_path.exists():
        raise HingemarchError(f"{samples_path} already exists; pick another --out")
    session = simulate_session(
        args.seed, rate_hz=args.rate_hz, placement=args.placement, accel_range_g=args.accel_range_g,
        gyro_range_dps=args.gyro_range_dps, faults=not args.no_faults, n_sets=args.sets,
        reps_per_set=args.reps, reps_jitter=0 if args.fixed_reps else 2, mount=args.mount, side=args.side,
        include_distractions=not args.no_distractions, exercise=args.exercise)
    info, truth, stage = session.info, session.truth, session.stage
    meta = SessionMeta(sensor=info.sensor, placement=args.placement, side=args.side,
                       nominal_rate_hz=info.nominal_rate_hz, accel_range_g=info.accel_range_g,
                       gyro_range_dps=info.gyro_range_dps, calibration=dict(info.calibration),
                       start_utc=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                       software_version=__version__, session_id=f"sim-seed{args.seed}", athlete="simulated")
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_samples(samples_path, meta, session.block)
        doc = {"schema": "hingemarch.simtruth/1", "seed": args.seed, "faults": not args.no_faults,
               "sensor_errors": {"clock_factor": stage.clock_factor,
                                 "gyro_bias_dps": stage.gyro_bias_dps.tolist(),
                                 "accel_bias_mps2": stage.accel_bias_mps2.tolist(),
                                 "accel_scale": stage.accel_scale.tolist(), "gyro_scale": stage.gyro_scale.tolist(),
                                 "dropped_runs": stage.drop_runs.tolist()},
               **truth.to_dict()}
        truth_path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    except OSError as e:
        raise HingemarchError(f"{out}: cannot write: {e.strerror or e}") from None
    print(f"wrote {len(session.block)} samples ({truth.duration_s:.0f} s, {truth.total_reps} reps in "
          f"{len(truth.sets)} sets) to {samples_path}")
    print(f"ground truth in {truth_path}")
    return 0
