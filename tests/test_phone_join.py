"""Joining a phone's two sensors by time: readings in any order, twice, late or across a gap."""
import numpy as np

from imu.phone.join import Joiner, rate_hz


def _ramp(t: np.ndarray) -> np.ndarray:
    """A signal whose interpolation is exact: x = t, y = 2t, z = -t."""
    return np.stack([t, 2 * t, -t], axis=1)


def test_shuffled_and_repeated_batches_come_out_once_in_time_order():
    rng = np.random.default_rng(4)
    t_acc = np.arange(0.0, 10.0, 0.01)
    t_gyr = np.arange(0.004, 10.0, 0.0095)              # its own clock and rate
    j = Joiner()
    out_t, out_g = [], []
    for k in range(0, 1000, 50):                        # batches of 0.5 s, shuffled inside, some sent twice
        for _ in range(2 if k % 150 == 0 else 1):
            a = rng.permutation(np.arange(k, k + 50))
            g = rng.permutation(np.nonzero((t_gyr >= t_acc[k]) & (t_gyr < t_acc[k] + 0.5))[0])
            j.add_second(t_gyr[g], _ramp(t_gyr[g]))
            j.add_first(t_acc[a], _ramp(t_acc[a]))
        t, acc, gyr = j.take()
        out_t.append(t)
        out_g.append(gyr)
        np.testing.assert_array_equal(acc, _ramp(t))
    t, gyr = np.concatenate(out_t), np.concatenate(out_g)
    assert np.all(np.diff(t) > 0)                        # once each, in order
    np.testing.assert_array_equal(t, t_acc[(t_acc >= t_gyr[0]) & (t_acc <= t[-1])])
    np.testing.assert_allclose(gyr, _ramp(t), atol=1e-9)  # the gyroscope at the accelerometer's times
    assert j.duplicates > 0 and j.late == 0


def test_late_readings_are_dropped_and_gaps_are_not_bridged():
    j = Joiner(max_gap_s=0.25)
    t = np.arange(0.0, 2.0, 0.01)
    j.add_first(t, _ramp(t))
    gyro_t = np.concatenate([np.arange(0.0, 0.8, 0.01), np.arange(1.3, 2.0, 0.01)])   # 0.5 s without gyro
    j.add_second(gyro_t, _ramp(gyro_t))
    out, _, _ = j.take()
    assert not np.any((out > 0.8) & (out < 1.3))           # no interpolation across the gyro's gap
    assert j.unpaired == np.count_nonzero((t > 0.79 + 1e-9) & (t < 1.3 - 1e-9))
    j.add_first(np.array([0.5, 1.0]), np.zeros((2, 3)))    # older than what was handed out
    assert j.late == 2 and len(j.take()[0]) == 0


def test_the_rate_is_the_median_step():
    t = np.concatenate([np.arange(0, 1, 0.0025), np.arange(3, 4, 0.0025)])   # 400 Hz with a gap
    assert abs(rate_hz(t) - 400.0) < 1e-6
    assert rate_hz(t[:5]) is None
