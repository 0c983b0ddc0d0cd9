"""Count and measure the reps in a recorded session.

FILE is a session folder, its samples.csv, a phone app's export as it comes (Sensor Logger's zip or
folder, phyphox's CSV zip, CSV or .xlsx: docs/phone.md), or any CSV with a header row when --columns
names the time, accelerometer and gyroscope columns (and --time-unit/--accel-unit/--gyro-unit their
units; units that do not fit the data, such as ms read as s or g as m/s², are refused with the fix).
A session recorded with the optional second sensor (second.csv) gets its sway per set too.
Prints a per-set table; --json prints the stable schema described in docs/analysis-json.md. No
calibration is needed; when something keeps reps from being counted (no still moment, the
accelerometer far from 1 g at rest, a gyro unit that looks wrong), a note says what and why.
"""
from __future__ import annotations

import argparse
import json
import sys

from analysis.errors import DataError
from analysis.events import RepEvent, SetEvent
from analysis.exercises import EXERCISES, HINGE_MARCH
from analysis.pipeline import Params, recording_pipeline
from analysis.reps import PLACEMENTS, RepParams
from firmware_bridge.cli.flags import config_number
from firmware_bridge.service.config import AXES, axis_vector
from firmware_bridge.store.folder import recorded_exercise, samples_file, second_file
from firmware_bridge.store.phone import read_phone_export
from firmware_bridge.store.samples import ACCEL_SCALE, GYRO_SCALE, TIME_SCALE, read_generic_csv, read_samples
from imu.samples import SampleBlock

JSON_SCHEMA = "hingemarch.analysis/1"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE",
                   help="session folder, samples.csv, a Sensor Logger or phyphox export, or a generic CSV with --columns")
    p.add_argument("--json", action="store_true", help="print JSON (schema hingemarch.analysis/1)")
    p.add_argument("--placement", choices=PLACEMENTS,
                   help="where the sensor was strapped (default: from the file's metadata, else thigh)")
    p.add_argument("--set-gap-s", type=config_number("analysis", "set_gap_s"), default=Params().set_gap_s,
                   help="a pause this long ends a set (5..600 s, default %(default)s s)")
    p.add_argument("--exercise", choices=EXERCISES, default=None,
                   help="what to count (docs/exercises.md; default: what the session folder's reps.csv says, else hinge_march)")
    p.add_argument("--columns", metavar="T,AX,AY,AZ,GX,GY,GZ",
                   help="generic CSV: the seven column names for time, accel x/y/z, gyro x/y/z")
    p.add_argument("--time-unit", choices=tuple(TIME_SCALE), default="s")
    p.add_argument("--accel-unit", choices=tuple(ACCEL_SCALE), default="mps2")
    p.add_argument("--gyro-unit", choices=tuple(GYRO_SCALE), default="dps")
    p.add_argument("--skip-bad-rows", action="store_true",
                   help="skip malformed rows (each is reported) instead of stopping at the first")
    p.add_argument("--second-forward-axis", choices=AXES, default="x",
                   help="a session with a second sensor (second.csv beside samples.csv): its axis that "
                        "points forward, as in the config (default %(default)s)")


def load(args) -> tuple:
    if not args.columns:
        phone = read_phone_export(args.file, args.skip_bad_rows)
        if phone is not None:
            return phone
    path = samples_file(args.file)
    if args.columns:
        cols = [c.strip() for c in args.columns.split(",")]
        if len(cols) != 7:
            raise DataError(f"--columns needs 7 names (time, 3 accel, 3 gyro), got {len(cols)}")
        return read_generic_csv(path, cols[0], cols[1:4], cols[4:7], args.time_unit, args.accel_unit,
                                args.gyro_unit, args.skip_bad_rows)
    return read_samples(path, args.skip_bad_rows)


def second_sensor(args, problems: list[str]) -> SampleBlock | None:
    """The optional second sensor's samples, when second.csv lies beside the samples."""
    second = second_file(args.file)
    if args.columns or not second.is_file():
        return None
    _, block, skipped = read_samples(second, args.skip_bad_rows)
    problems += [f"second.csv: {p}" for p in skipped]
    return block


def result(events, meta, placement: str, duration_s: float, problems: list[str], source: str,
           exercise: str = HINGE_MARCH) -> dict:
    """The JSON document: sets with their reps' metrics, and totals."""
    reps = [e for e in events if isinstance(e, RepEvent)]
    sets = []
    for s in (e for e in events if isinstance(e, SetEvent)):
        mine = [r for r in reps if r.set_index == s.set_index]
        sets.append({
            "index": s.set_index, "exercise": s.exercise, "start_s": s.start_s, "end_s": s.end_s, "reps": s.reps,
            "rep_times_s": list(s.rep_times_s),
            "mean_hinge_depth_deg": s.mean_hinge_depth_deg, "mean_march_height_deg": s.mean_march_height_deg,
            "mean_duration_s": s.mean_duration_s, "mean_rom_deg": s.mean_rom_deg,
            "rep_metrics": [{"rep": r.rep_in_set, "completed_s": r.completed_s, "start_s": r.start_s,
                             "duration_s": r.duration_s, "rom_deg": r.rom_deg, "hinge_depth_deg": r.hinge_depth_deg,
                             "march_height_deg": r.march_height_deg, "sway_deg": r.sway_deg,
                             "sway_dps": r.sway_dps, "sway": r.sway} for r in mine],
            "sway_deg": s.sway_deg, "sway_dps": s.sway_dps, "foot_taps": s.foot_taps,
            "foot_tap_s": list(s.foot_tap_s), "sway": s.sway,
        })
    return {"schema": JSON_SCHEMA, "file": source, "sensor": meta.sensor, "placement": placement, "exercise": exercise,
            "side": meta.side, "start_utc": meta.start_utc, "duration_s": round(duration_s, 3),
            "sets": sets, "totals": {"sets": len(sets), "reps": sum(s["reps"] for s in sets)},
            "problems": problems}


def table(doc: dict) -> str:
    lines = [f"{doc['file']}: {doc['duration_s']:.0f} s, sensor {doc['sensor']}, {doc['placement']}, "
             f"{doc['side']} leg, {doc['exercise']}", "",
             f"{'set':>3}  {'reps':>4}  {'start':>8}  {'end':>8}  {'rom':>6}  {'hinge':>7}  {'march':>7}  {'tempo':>7}"
             f"  {'sway':>5}  {'taps':>4}",
             f"{'':>3}  {'':>4}  {'s':>8}  {'s':>8}  {'deg':>6}  {'deg':>7}  {'deg':>7}  {'s/rep':>7}  {'deg':>5}  {'':>4}"]
    for s in doc["sets"]:
        lines.append(f"{s['index']:>3}  {s['reps']:>4}  {s['start_s']:>8.1f}  {s['end_s']:>8.1f}  "
                     f"{s['mean_rom_deg']:>6.1f}  {s['mean_hinge_depth_deg']:>7.1f}  {s['mean_march_height_deg']:>7.1f}  "
                     f"{s['mean_duration_s']:>7.1f}  "
                     f"{'-' if s['sway_deg'] is None else format(s['sway_deg'], '.2f'):>5}  {s['foot_taps']:>4}")
    if not doc["sets"]:
        lines.append("  no reps found")
    lines += ["", f"total: {doc['totals']['reps']} reps in {doc['totals']['sets']} sets"]
    lines += [f"note: {p}" for p in doc["problems"]]
    return "\n".join(lines)


def run(args) -> int:
    meta, block, problems = load(args)
    placement = args.placement or (meta.placement if meta.placement in PLACEMENTS else "thigh")
    recorded = None if args.columns else recorded_exercise(args.file)
    exercise = args.exercise or (recorded if recorded in EXERCISES else HINGE_MARCH)
    pipeline = recording_pipeline(Params(args.set_gap_s, RepParams(placement=placement), exercise=exercise),
                                  second=second_sensor(args, problems), second_forward_axis=axis_vector(args.second_forward_axis))
    events = pipeline.feed(block.t_s, block.accel_mps2, block.gyro_dps) + pipeline.finish()
    problems += pipeline.problems       # never a silent zero: what kept reps from being counted
    duration = float(block.t_s[-1]) if len(block) else 0.0
    doc = result(events, meta, placement, duration, problems, str(args.file), exercise)
    print(json.dumps(doc, indent=2) if args.json else table(doc), file=sys.stdout)
    return 0
