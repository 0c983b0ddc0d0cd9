"""FIFO handling at register level: whole frames only, alignment kept across partial reads and
transfer limits, overflow detected on every chip, reset, and the gap visible downstream."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import Const, rig

from analysis.units import STANDARD_GRAVITY_MPS2 as G
from firmware_bridge.service.wiring import emulated_source
from imu.clock import FakeClock
from imu.detect import DRIVERS
from imu.driver import SensorSettings

CHIPS = list(DRIVERS)
ACCEL = np.array([1.0, 2.0, 9.0])          # distinct per axis: a shifted frame cannot pass
GYRO = np.array([10.0, 20.0, 30.0])
STEADY = Const(ACCEL, GYRO)               # the motion of most tests here


class Ramp:
    """Gyro x equals motion time in seconds (modulo 100 s): each sample carries its own time."""

    def at(self, t_s):
        t = np.atleast_1d(t_s)
        g = np.zeros((len(t), 3))
        g[:, 0] = t % 100.0
        return np.tile([0, 0, G], (len(t), 1)), g


def assert_frames_clean(read):
    np.testing.assert_allclose(read.accel_mps2, np.tile(ACCEL, (len(read), 1)), atol=0.01)
    np.testing.assert_allclose(read.gyro_dps, np.tile(GYRO, (len(read), 1)), atol=0.1)


@pytest.mark.parametrize("chip", CHIPS)
def test_transfer_limit_not_a_multiple_of_the_frame_keeps_alignment(chip):
    clock, bus, _, driver = rig(chip, STEADY)
    driver.configure(SensorSettings(200, 16, 2000, 42))
    clock.advance(0.2)
    before = bus.stats.transactions
    read = driver.read_fifo(max_burst_bytes=50)    # 50 is no multiple of 12 or 7
    assert len(read) >= 35
    assert_frames_clean(read)
    assert read.bursts == bus.stats.transactions - before - 1   # one status read, rest bursts


@pytest.mark.parametrize("chip", CHIPS)
def test_one_burst_reads_everything_beyond_32_bytes(chip):
    clock, bus, _, driver = rig(chip, STEADY)
    driver.configure(SensorSettings(200, 16, 2000, 42))
    clock.advance(0.1)
    before = bus.stats.transactions
    read = driver.read_fifo()
    assert len(read) >= 19 and read.bursts == 1
    assert bus.stats.transactions - before == 2               # FIFO level + one burst
    assert_frames_clean(read)


def test_lsm6ds3_realigns_by_fifo_pattern_without_a_reset():
    clock, _, emu, driver = rig("lsm6ds3", STEADY)
    driver.configure(SensorSettings(104, 16, 2000, 0))
    clock.advance(0.2)
    emu.advance()
    emu.pop_fifo(4)                                           # someone read Gx, Gy and stopped
    read = driver.read_fifo()
    assert read.status.skip_bytes == 8 and not read.status.misaligned
    assert len(read) >= 18
    assert_frames_clean(read)


def test_lsm6dsox_odd_word_waits_for_its_partner():
    clock, _, emu, driver = rig("lsm6dsox", STEADY)
    driver.configure(SensorSettings(104, 16, 2000, 0))
    clock.advance(0.2)
    emu.advance()
    words = len(emu.fifo) // 7
    assert words % 2 == 0 and words >= 40
    first = driver.read_fifo(max_samples=words - 1)          # leaves the last accel word behind
    second = driver.read_fifo()
    assert len(first) + len(second) == words // 2
    assert_frames_clean(first)
    assert_frames_clean(second)


def test_mpu6050_misaligned_count_is_reported():
    clock, _, emu, driver = rig("mpu6050", STEADY)
    driver.configure(SensorSettings(100, 16, 2000, 42))
    clock.advance(0.1)
    emu.advance()
    emu.pop_fifo(5)
    assert driver.read_fifo().status.misaligned


@pytest.mark.parametrize("chip", CHIPS)
def test_overflow_is_detected_on_every_chip(chip):
    clock, _, emu, driver = rig(chip, STEADY)
    applied = driver.configure(SensorSettings(200, 16, 2000, 42))
    clock.advance(2 * applied.fifo_capacity_samples / applied.rate_hz)
    read = driver.read_fifo()
    assert read.status.overflow and len(read) == 0
    driver.reset_fifo()
    assert len(emu.fifo) == 0
    clock.advance(0.1)
    read = driver.read_fifo()
    assert not read.status.overflow and len(read) >= 19
    assert_frames_clean(read)


@pytest.mark.parametrize("chip", CHIPS)
def test_overflow_in_the_stream_resets_and_marks_the_gap(chip):
    clock = FakeClock()
    src = emulated_source(chip, Ramp(), 200, clock=clock, gyro_range_dps=250, accel_range_g=2)
    it = src.blocks()
    blocks = list(itertools.islice(it, 5))
    clock.advance(5.0)                                         # the consumer stalls for 5 s
    blocks += list(itertools.islice((b for b in it if len(b)), 5))
    src.close()
    assert len(src.gaps) == 1 and src.gaps[0].reason == "fifo overflow"
    gap = src.gaps[0]
    t = np.concatenate([b.t_s for b in blocks])
    dt = np.diff(t)
    period = 1 / src.applied.rate_hz
    jumps = np.flatnonzero(dt > 1.5 * period)
    assert len(jumps) == 1 and dt[jumps[0]] > 4.0               # one gap, seen as a jump in t_s
    assert gap.after_t_s == t[jumps[0]] and gap.before_t_s == t[jumps[0] + 1]
    # no sample is glued across: each one's own time (carried in gyro x) matches its stamp
    gyro_x = np.concatenate([b.gyro_dps[:, 0] for b in blocks])
    np.testing.assert_allclose(gyro_x, t, atol=1.2 * period + 250 / 32768)   # motion time == t_s
    assert np.all(dt > 0)


@pytest.mark.parametrize("chip", ["mpu6050", "lsm6ds3", "lsm6dsox"])
def test_burst_failing_midway_realigns_with_a_gap(chip):
    clock = FakeClock()
    src = emulated_source(chip, STEADY, 200, clock=clock)
    it = src.blocks()
    first = list(itertools.islice(it, 3))
    src.bus.fail_burst_after(src.address, 17)                 # EIO after 17 bytes clocked out
    rest = list(itertools.islice((b for b in it if len(b)), 5))
    src.close()
    assert src.status == "ended"
    assert len(src.gaps) == 1 and "bus error during FIFO read" in src.gaps[0].reason
    for b in first + rest:
        np.testing.assert_allclose(b.accel_mps2, np.tile(ACCEL, (len(b), 1)), atol=0.01)
        np.testing.assert_allclose(b.gyro_dps, np.tile(GYRO, (len(b), 1)), atol=0.1)
