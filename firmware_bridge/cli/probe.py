"""Scan the I2C bus, identify the IMU, configure it as the config file says, and print its
configuration and a few seconds of live samples with the rate measured against the host clock."""
from __future__ import annotations

import argparse
import time

from firmware_bridge.cli.flags import config_number, number
from firmware_bridge.service import config as config_mod
from firmware_bridge.service.paths import CONFIG_HELP, config_file


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    parser.add_argument("--bus", type=config_number("sensor", "i2c_bus"), metavar="N",
                        help="I2C bus number, 0..31 (overrides sensor.i2c_bus)")
    parser.add_argument("--address", type=config_number("sensor", "address"), metavar="ADDR",
                        help="only this address, 0..127, e.g. 0x6A (overrides sensor.address)")
    parser.add_argument("--chip", help="expect this chip (overrides sensor.chip)")
    parser.add_argument("--backend", choices=("smbus2", "emulated"), help="overrides sensor.backend")
    parser.add_argument("--emulate", default="mpu6050", metavar="CHIP",
                        help="chip on the emulated backend (default %(default)s)")
    parser.add_argument("--seconds", type=number(0, 3600, "s"), default=3.0,
                        help="live samples to show (0..3600 s, default %(default)s)")


def run(args: argparse.Namespace) -> int:
    from firmware_bridge.service.wiring import open_sensor_bus, sensor_settings
    from imu.detect import detect, scan
    from imu.i2c_source import I2cSource

    given = {"i2c_bus": args.bus, "address": args.address, "chip": args.chip, "backend": args.backend}
    cfg = config_mod.load(config_file(args.config))
    s = cfg.updated("sensor", **{k: v for k, v in given.items() if v is not None}).sensor
    bus, clock = open_sensor_bus(s, args.emulate)
    try:
        found = scan(bus)
        print(f"bus {bus.name}: {len(found)} device(s) answer: "
              + (" ".join(f"0x{a:02X}" for a in found) or "none"))
        chip = detect(bus, s.chip, s.address)
        print(f"found {chip.chip} at 0x{chip.address:02X} (WHO_AM_I 0x{chip.who_am_i:02X})")
        src = I2cSource(bus, chip.chip, chip.address, sensor_settings(s), clock=clock)
        a = src.applied
        dlpf = f"{a.dlpf_hz:g} Hz" if a.dlpf_hz else "chip default"
        print(f"configured: rate {a.rate_hz:g} Hz (asked {s.rate_hz:g}), accel ±{a.accel_range_g:g} g, "
              f"gyro ±{a.gyro_range_dps:g} deg/s, low-pass {dlpf}")
        print("  registers: " + ", ".join(f"{k}=0x{v:02X}" for k, v in a.registers.items()))
        print(f"  FIFO: {a.fifo_capacity_samples} samples ({a.fifo_capacity_samples / a.rate_hz:.2f} s), "
              f"polled every {src.poll_interval_s * 1000:.0f} ms; temperature "
              f"{src.driver.read_temperature_c():.1f} °C")
        print("      t_s   accel_mps2 (x y z)        gyro_dps (x y z)")
        stats0 = (bus.stats.transactions, bus.stats.wire_bytes)
        t_start, n, shown, last_t = time.monotonic(), 0, -1.0, None
        for block in src.blocks():
            n += len(block)
            if len(block):
                last_t = block.t_s[-1]
                if last_t - shown >= 0.5:
                    am, gm = block.accel_mps2.mean(axis=0), block.gyro_dps.mean(axis=0)
                    print(f"  {last_t:7.2f}  {am[0]:7.3f} {am[1]:7.3f} {am[2]:7.3f}   "
                          f"{gm[0]:7.2f} {gm[1]:7.2f} {gm[2]:7.2f}")
                    shown = last_t
            if time.monotonic() - t_start >= args.seconds:
                break
        src.close()
        elapsed = time.monotonic() - t_start
        transactions = bus.stats.transactions - stats0[0]
        measured = src.measured_rate_hz
        rate_text = (f"measured {measured:.3f} Hz against the host clock" if measured
                     else f"{n / elapsed:.1f} Hz over {elapsed:.1f} s (run ≥ 3 s for a fitted rate)")
        print(f"{n} samples, {rate_text}; status {src.status if src.status != 'ended' else 'ok'}, "
              f"{len(src.gaps)} gap(s), {transactions / elapsed:.1f} bus transactions/s")
        return 0
    finally:
        bus.close()
