"""The FIFO streaming Source on emulated chips: time stamps from the chip's own (mis-tuned)
oscillator, not the polling; NACK bursts retried unseen; a vanished sensor reported and recovered
with its configuration re-run; close() from another thread; calibration applied on every read."""
from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest

from analysis.units import STANDARD_GRAVITY_MPS2 as G
from firmware_bridge.service.wiring import emulated_source
from imu.calibration import Calibration
from imu.clock import FakeClock


class Sinusoid:
    """A known knee-drive-like swing: gyro z 400 deg/s amplitude at 1 Hz, accel x follows."""

    def at(self, t_s):
        t = np.atleast_1d(t_s)
        w = np.sin(2 * np.pi * 1.0 * t)
        accel = np.column_stack([3.0 * w, np.zeros_like(t), np.full_like(t, G)])
        gyro = np.column_stack([np.zeros_like(t), np.zeros_like(t), 400.0 * w])
        return accel, gyro


class Still:
    def at(self, t_s):
        n = len(np.atleast_1d(t_s))
        return np.tile([0.0, 0.0, G], (n, 1)), np.zeros((n, 3))


class JitterClock(FakeClock):
    """Every wait overshoots by 0..40 ms, like a busy Pi scheduling Python late."""

    def __init__(self, seed=1):
        super().__init__()
        self.rng = np.random.default_rng(seed)

    def wait(self, timeout_s, stop):
        if stop.is_set():
            return True
        self.advance(timeout_s + self.rng.uniform(0, 0.04))
        return stop.is_set()


def run_for(src, seconds):
    out = []
    for block in src.blocks():
        out.append(block)
        if src.clock.now() - src.t0_s > seconds:
            break
    return out


@pytest.mark.parametrize("chip,ppm", [("mpu6050", 15000), ("lsm6dsox", -8000), ("lsm6ds3trc", 3000)])
def test_time_stamps_follow_the_chip_oscillator_not_the_polls(chip, ppm):
    clock = JitterClock()
    src = emulated_source(chip, Sinusoid(), 200, clock=clock, rate_error_ppm=ppm)
    emu = next(iter(src.bus.devices.values()))
    emu.fifo_times = []
    blocks = run_for(src, 20.0)
    src.close()
    t = np.concatenate([b.t_s for b in blocks]) + src.t0_s
    truth = np.array(emu.fifo_times[:len(t)])
    true_rate = src.applied.rate_hz * (1 + ppm * 1e-6)
    period = 1 / true_rate
    assert src.measured_rate_hz == pytest.approx(true_rate, rel=100e-6)
    settled = t > src.t0_s + 3.0
    assert np.abs(t - truth)[settled].max() < 0.6 * period
    assert np.abs(t - truth).max() < 3.0 * period                # before the first fit
    dt = np.diff(t)
    assert dt.min() > 0.5 * period and dt.max() < 1.5 * period   # no false gaps, never backwards
    # the naive alternative, stamping a block with the host time of its poll, is far worse
    naive = np.concatenate([np.full(len(b), b.t_s[-1]) for b in blocks]) + src.t0_s
    assert np.abs(naive - truth).max() > 10 * period
    # and the gyro read back follows the known motion at the stamped times
    gyro_z = np.concatenate([b.gyro_dps[:, 2] for b in blocks])
    np.testing.assert_allclose(gyro_z, 400 * np.sin(2 * np.pi * (truth - emu.motion_t0_s)), atol=0.2)


def test_nack_burst_is_retried_without_a_gap():
    clock = FakeClock()
    src = emulated_source("mpu6500", Still(), 200, clock=clock, nack_burst=(1.0, 3))
    blocks = run_for(src, 3.0)
    src.close()
    assert src.stats.retries == 3 and not src.gaps and src.stats.lost == 0
    t = np.concatenate([b.t_s for b in blocks])
    assert np.diff(t).max() < 1.5 / src.applied.rate_hz


@pytest.mark.parametrize("chip", ["mpu6050", "lsm6dsox"])
def test_sensor_lost_then_back_reconfigures_and_marks_the_gap(chip):
    clock = FakeClock()
    src = emulated_source(chip, Still(), 200, clock=clock, accel_range_g=4, gyro_range_dps=500,
                          disconnect_s=(2.0, 4.0))
    emu = next(iter(src.bus.devices.values()))
    configured = bytes(emu.regs)
    seen = []
    blocks = []
    for block in src.blocks():
        seen.append((clock.now() - src.t0_s, src.status))
        blocks.append(block)
        if clock.now() - src.t0_s > 7.0:
            break
    src.close()
    lost_at = [t for t, s in seen if s == "sensor_lost"]
    assert lost_at and 1.8 <= lost_at[0] < 2.3                   # reported promptly
    assert seen[-1][1] == "ok" and src.stats.recoveries == 1
    assert bytes(emu.regs) == configured                         # power-cycled chip set up again
    assert len(src.gaps) == 1 and src.gaps[0].reason.startswith("sensor lost")
    t = np.concatenate([b.t_s for b in blocks if len(b)])
    jumps = np.diff(t)[np.diff(t) > 1.5 / src.applied.rate_hz]
    assert len(jumps) == 1 and 1.9 < jumps[0] < 3.0
    a = np.concatenate([b.accel_mps2 for b in blocks if len(b)])
    np.testing.assert_allclose(a[-50:], np.tile([0, 0, G], (50, 1)), atol=0.01)


def test_stuck_who_am_i_keeps_it_lost_until_the_chip_is_itself_again():
    clock = FakeClock()
    src = emulated_source("lsm6ds3", Still(), 104, clock=clock, disconnect_s=(1.0, 1.5),
                          stuck_who_am_i=(1.0, 4.0, 0xFF))
    status_at = {}
    for _ in src.blocks():
        status_at[round(clock.now() - src.t0_s, 1)] = src.status
        if clock.now() - src.t0_s > 6.0:
            break
    src.close()
    lost = sorted(t for t, s in status_at.items() if s == "sensor_lost")
    assert 0.8 < lost[0] < 1.3                                   # reported when it went away
    assert max(lost) >= 3.5                                      # heartbeats while it is lost
    assert status_at[max(status_at)] == "ok" and src.stats.recoveries == 1
    gap = src.gaps[0]
    assert gap.reason.startswith("sensor lost") and gap.before_t_s > 3.8   # not before 0x69 again


def test_close_from_another_thread_does_not_wait_out_a_sleep():
    src = emulated_source("mpu6050", Still(), 100)
    src.poll_interval_s = 30.0                                   # a very long wait to cut short
    got = []
    worker = threading.Thread(target=lambda: got.extend(src.blocks()))
    worker.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    src.close()
    worker.join(2.0)
    assert not worker.is_alive() and time.monotonic() - t0 < 0.5
    assert src.status == "ended"
    src.close()                                                  # idempotent


def test_calibration_is_applied_on_every_read():
    clock = FakeClock()
    offset, gain, bias = np.array([0.3, -0.2, 0.5]), np.array([1.02, 0.98, 1.01]), np.array([1.5, -2, 0.7])
    cal = Calibration(accel_offset_mps2=offset, accel_scale=1 / gain, gyro_bias_dps=bias, chip="mpu6050")
    src = emulated_source("mpu6050", Still(), 100, clock=clock, calibration=cal, accel_range_g=2,
                          gyro_range_dps=250, accel_offset_mps2=offset, accel_gain=gain,
                          gyro_bias_dps=bias)
    blocks = list(itertools.islice(src.blocks(), 5))
    src.close()
    a = np.concatenate([b.accel_mps2 for b in blocks])
    g = np.concatenate([b.gyro_dps for b in blocks])
    np.testing.assert_allclose(a, np.tile([0, 0, G], (len(a), 1)), atol=0.002)
    np.testing.assert_allclose(g, 0, atol=0.01)
    assert src.info.calibration["chip"] == "mpu6050"


def test_source_info_and_status():
    src = emulated_source("lsm6dsox", Still(), 200, clock=FakeClock(), accel_range_g=8)
    assert (src.info.sensor, src.info.nominal_rate_hz, src.info.accel_range_g) == ("lsm6dsox", 208, 8)
    assert src.status == "ok"
    src.close()
    assert src.status == "ended"


def test_emulated_stream_ends_with_its_motion_and_motion_time_is_session_time():
    class Scripted(Sinusoid):
        duration_s = 2.0

    src = emulated_source("mpu9250", Scripted(), 200, clock=FakeClock(), gyro_range_dps=500)
    blocks = list(src.blocks())                                  # ends by itself
    assert src.status == "ended"
    t = np.concatenate([b.t_s for b in blocks])
    assert 1.9 < t[-1] <= 2.15
    gyro_z = np.concatenate([b.gyro_dps[:, 2] for b in blocks])
    np.testing.assert_allclose(gyro_z, 400 * np.sin(2 * np.pi * t), atol=400 * 2 * np.pi / 200)


def test_nack_burst_at_start_up_is_retried():
    clock = FakeClock()
    from imu.emulated import emulated_bus
    from imu.i2c_source import I2cSource

    bus = emulated_bus("lsm6ds3trc", Still(), clock)
    bus.nack(0x6A, 3)
    src = I2cSource(bus, clock=clock)
    assert src.chip == "lsm6ds3trc" and src.stats.retries >= 1
