"""Calibrate the accelerometer (six-position method) and the gyro bias at rest, and store the result
in the state directory, where every later read applies it. Rest the sensor still with each face up
in turn (+x, -x, +y, -y, +z, -z, any order), about two seconds each; progress is printed."""
from __future__ import annotations

import argparse
import time

from analysis.errors import HingemarchError
from firmware_bridge.cli.flags import number
from firmware_bridge.service import config as config_mod
from firmware_bridge.service.paths import CONFIG_HELP, config_file, state_dir


class CalibrationTimeout(HingemarchError, TimeoutError):
    """Not every pose was seen in time."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    parser.add_argument("--state-dir", metavar="DIR",
                        help="where to store the calibration (default: $HINGEMARCH_STATE_DIR, "
                             "$STATE_DIRECTORY, ~/.local/state/hingemarch)")
    parser.add_argument("--timeout-s", type=number(1, 3600, "s"), default=180.0,
                        help="give up after this long (1..3600 s)")
    parser.add_argument("--still-s", type=number(0.1, 60, "s"), default=1.0,
                        help="stillness needed per pose (0.1..60 s)")
    parser.add_argument("--backend", choices=("smbus2", "emulated"), help="overrides sensor.backend")
    parser.add_argument("--emulate", default="mpu6050", metavar="CHIP",
                        help="chip on the emulated backend (it turns through the six faces)")
    parser.add_argument("--speed", type=number(0.01, 1000), default=1.0,
                        help="emulated backend: time speed-up (0.01..1000)")


def collect(source, timeout_s: float = 180.0, still_s: float = 1.0, say=print):
    """Feed a source's samples to a six-position solver until every pose is captured."""
    from imu.calibration import SixPosition

    solver = SixPosition(source.info.nominal_rate_hz, still_s)
    t_end = None
    say("rest the sensor still with each face up in turn: " + " ".join(solver.missing))
    for block in source.blocks():
        if not len(block):
            continue
        t_end = t_end if t_end is not None else block.t_s[0] + timeout_s
        pose = solver.feed(block)
        if pose:
            say(f"  {pose} up: captured ({6 - len(solver.missing)}/6)"
                + (f"; still to do: {' '.join(solver.missing)}" if solver.missing else ""))
        if solver.done:
            break
        if block.t_s[-1] > t_end:
            raise CalibrationTimeout(f"gave up after {timeout_s:g} s; poses never seen still: "
                                     + " ".join(solver.missing))
    source.close()
    return solver.solve(source.chip)


def run(args: argparse.Namespace) -> int:
    from firmware_bridge.service.wiring import open_sensor_bus, sensor_settings
    from imu.calibration import save
    from imu.emulated.motions import SixFaces
    from imu.i2c_source import I2cSource

    cfg = config_mod.load(config_file(args.config))
    s = cfg.updated("sensor", backend=args.backend).sensor if args.backend else cfg.sensor
    bus, clock = open_sensor_bus(s, args.emulate, motion=SixFaces(), speed=args.speed)
    try:
        src = I2cSource(bus, s.chip, s.address, sensor_settings(s), clock=clock)
        print(f"calibrating {src.chip} at 0x{src.address:02X}, {src.applied.rate_hz:g} Hz")
        started = time.monotonic()
        cal = collect(src, args.timeout_s, args.still_s)
        path = save(cal, state_dir(args.state_dir))
        fmt = lambda v: " ".join(f"{x:+.4f}" for x in v)  # noqa: E731
        print(f"accel offset (m/s^2): {fmt(cal.accel_offset_mps2)}")
        print(f"accel scale:          {fmt(cal.accel_scale)}")
        print(f"gyro bias (deg/s):    {fmt(cal.gyro_bias_dps)}")
        print(f"saved {path} ({time.monotonic() - started:.1f} s)")
        return 0
    finally:
        bus.close()
