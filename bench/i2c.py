"""I2C bus cost of FIFO streaming versus naive polling, measured on the emulated bus.

For each chip and rate the REAL driver + I2cSource stack streams a minute of emulated time (a
FakeClock, so it runs in well under a second) while the bus counts transactions and wire bytes
(address and register bytes included). Printed next to it: the naive figure, one register read
per sample. Bus share assumes 9 clocks per byte plus ~3 per START/STOP at 400 kHz.

    python bench/i2c.py [--seconds 60] [--json]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from firmware_bridge.service.wiring import emulated_source  # noqa: E402
from imu.clock import FakeClock  # noqa: E402
from imu.emulated.motions import Still  # noqa: E402

BUS_HZ = 400_000
# naive polling: one burst of the output registers per sample (no data-ready check counted)
NAIVE_PAYLOAD = {"mpu6050": 14, "lsm6ds3": 12, "lsm6dsox": 12}   # MPU: accel+temp+gyro 0x3B..0x48


def measure(chip: str, rate_hz: float, seconds: float) -> dict:
    clock = FakeClock()
    src = emulated_source(chip, Still(), rate_hz, clock=clock)
    stats = src.bus.stats
    start_tx, start_bytes, start_bits = stats.transactions, stats.wire_bytes, stats.bus_bits()
    t_end = src.t0_s + seconds
    cpu0 = time.process_time()
    samples = 0
    for block in src.blocks():
        samples += len(block)
        if clock.now() >= t_end:
            break
    cpu_s = time.process_time() - cpu0
    src.close()
    elapsed = clock.now() - src.t0_s
    tx = stats.transactions - start_tx
    wire = stats.wire_bytes - start_bytes
    bits = stats.bus_bits() - start_bits
    actual = src.applied.rate_hz
    naive_wire = 3 + NAIVE_PAYLOAD[chip]
    return {
        "chip": chip, "asked_hz": rate_hz, "rate_hz": actual, "samples": samples,
        "poll_ms": src.poll_interval_s * 1000,
        "transactions_per_s": tx / elapsed, "samples_per_burst": samples / max(1, src.stats.bursts),
        "frame_bytes": src.applied.frame_bytes, "wire_bytes_per_sample": wire / samples,
        "bus_share": bits / elapsed / BUS_HZ,
        "naive_transactions_per_s": actual, "naive_wire_bytes_per_sample": naive_wire,
        "naive_bus_share": actual * (9 * naive_wire + 3) / BUS_HZ,
        "host_cpu_us_per_sample": cpu_s / samples * 1e6, "gaps": len(src.gaps),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    rows = [measure(chip, rate, args.seconds)
            for chip in ("mpu6050", "lsm6ds3", "lsm6dsox") for rate in (100, 200, 400)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"# I2C bench, {args.seconds:g} s emulated per row, {platform.machine()}, Python "
          f"{platform.python_version()}")
    print("| chip | asked Hz | chip Hz | poll ms | samples/burst | tx/s | frame B | bus B/sample "
          "| 400 kHz bus | naive tx/s | naive B/sample | naive bus | CPU µs/sample (driver+emulator) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['chip']} | {r['asked_hz']:g} | {r['rate_hz']:.1f} | {r['poll_ms']:.0f} "
              f"| {r['samples_per_burst']:.1f} | {r['transactions_per_s']:.1f} | {r['frame_bytes']} "
              f"| {r['wire_bytes_per_sample']:.2f} | {100 * r['bus_share']:.2f} % "
              f"| {r['naive_transactions_per_s']:.0f} | {r['naive_wire_bytes_per_sample']} "
              f"| {100 * r['naive_bus_share']:.2f} % | {r['host_cpu_us_per_sample']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
