"""Sensor error model: what a real MEMS IMU does to ideal physics before the samples leave it.

Bias (turn-on offset plus a slow random walk on the gyro), white noise at the datasheet density,
per-axis gain error, int16 quantisation and clipping at the configured range, a sample clock that runs
fast or slow, and short runs of dropped samples. One session's errors are drawn once from a generator
and applied chunk by chunk, so a long session never needs all its noise in memory at once.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from imu.samples import STANDARD_GRAVITY_MPS2

INT16_STEPS = 32768


@dataclass(frozen=True)
class SensorErrors:
    """Error parameters of one chip. Defaults: an MPU-6050 (noise densities from its datasheet).

    Set a field to 0 to switch that error off; :meth:`ideal` switches them all off.
    """

    accel_noise_ug_per_rthz: float = 400.0      # white noise density, micro-g per sqrt(Hz)
    gyro_noise_dps_per_rthz: float = 0.005      # white noise density, deg/s per sqrt(Hz)
    noise_bandwidth_fraction: float = 0.5       # noise bandwidth as a fraction of the output rate
    accel_bias_max_mps2: float = 0.15           # per-axis offset, uniform in +-this, per session
    gyro_bias_max_dps: float = 3.0              # per-axis turn-on bias, uniform in +-this
    gyro_bias_walk_dps_per_rts: float = 0.005   # gyro bias random walk, deg/s per sqrt(s)
    scale_error_max: float = 0.02               # per-axis gain error, uniform in +-this (fraction)
    clock_error_max: float = 0.02               # true rate = nominal * (1 + uniform in +-this)
    drops_per_min: float = 0.5                  # mean number of dropped-sample runs per minute
    drop_run_max_samples: int = 10              # each run drops 1..this consecutive samples

    @classmethod
    def ideal(cls) -> "SensorErrors":
        """No errors at all: only quantisation and clipping remain (they are the data format)."""
        return cls(accel_noise_ug_per_rthz=0.0, gyro_noise_dps_per_rthz=0.0, accel_bias_max_mps2=0.0,
                   gyro_bias_max_dps=0.0, gyro_bias_walk_dps_per_rts=0.0, scale_error_max=0.0,
                   clock_error_max=0.0, drops_per_min=0.0)

    @classmethod
    def mpu6050(cls) -> "SensorErrors":
        return cls()

    @classmethod
    def lsm6dsox(cls) -> "SensorErrors":
        return replace(cls(), accel_noise_ug_per_rthz=75.0, gyro_noise_dps_per_rthz=0.0038,
                       accel_bias_max_mps2=0.1, gyro_bias_max_dps=1.0)


def lsb(full_scale: float) -> float:
    """Value of one int16 count at a range of +-full_scale."""
    return full_scale / INT16_STEPS


def quantise(x: np.ndarray, full_scale: float) -> np.ndarray:
    """Round to whole int16 counts of the range and clip at its ends (-32768 .. +32767 counts)."""
    step = lsb(full_scale)
    return np.clip(np.round(x / step), -INT16_STEPS, INT16_STEPS - 1) * step


class SensorStage:
    """One session's drawn errors, applied to consecutive chunks of ideal samples in order."""

    def __init__(self, errors: SensorErrors, rate_hz: float, accel_range_g: float, gyro_range_dps: float,
                 duration_s: float, rng: np.random.Generator):
        e, self.errors, self._rng = errors, errors, rng
        self.rate_hz = float(rate_hz)
        self.accel_full_scale_mps2 = float(accel_range_g) * STANDARD_GRAVITY_MPS2
        self.gyro_full_scale_dps = float(gyro_range_dps)
        self.clock_factor = 1.0 + rng.uniform(-e.clock_error_max, e.clock_error_max)
        self.true_rate_hz = self.rate_hz * self.clock_factor
        self.accel_bias_mps2 = rng.uniform(-e.accel_bias_max_mps2, e.accel_bias_max_mps2, 3)
        self.gyro_bias_dps = rng.uniform(-e.gyro_bias_max_dps, e.gyro_bias_max_dps, 3)
        self.accel_scale = 1.0 + rng.uniform(-e.scale_error_max, e.scale_error_max, 3)
        self.gyro_scale = 1.0 + rng.uniform(-e.scale_error_max, e.scale_error_max, 3)
        self.n_samples = int(np.floor(duration_s * self.true_rate_hz)) + 1
        n_runs = rng.poisson(e.drops_per_min * duration_s / 60.0)
        starts = np.sort(rng.integers(1, max(self.n_samples - 1, 2), n_runs))
        self.drop_runs = np.column_stack([starts, starts + rng.integers(1, e.drop_run_max_samples + 1, n_runs)])
        bw_hz = e.noise_bandwidth_fraction * self.rate_hz
        self._accel_sd = e.accel_noise_ug_per_rthz * 1e-6 * STANDARD_GRAVITY_MPS2 * np.sqrt(bw_hz)
        self._gyro_sd = e.gyro_noise_dps_per_rthz * np.sqrt(bw_hz)
        self._walk_sd = e.gyro_bias_walk_dps_per_rts * np.sqrt(1.0 / self.true_rate_hz)
        self._walk_dps = np.zeros(3)

    def true_times_s(self, k: np.ndarray) -> np.ndarray:
        """When sample k is really taken (physics time)."""
        return k / self.true_rate_hz

    def stamp_times_s(self, k: np.ndarray) -> np.ndarray:
        """The timestamp sample k carries: counted at the nominal rate from the start."""
        return k / self.rate_hz

    def keep(self, k: np.ndarray) -> np.ndarray:
        """False for samples inside a dropped run."""
        keep = np.ones(len(k), dtype=bool)
        for a, b in self.drop_runs:
            keep &= ~((k >= a) & (k < b))
        return keep

    def apply(self, accel_mps2: np.ndarray, gyro_dps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Errors, then quantisation and clipping, for the next chunk of ideal samples."""
        n = len(accel_mps2)
        walk = self._walk_dps + np.cumsum(self._rng.normal(0.0, self._walk_sd, (n, 3)), axis=0) \
            if self._walk_sd > 0 else np.broadcast_to(self._walk_dps, (n, 3))
        if n:
            self._walk_dps = walk[-1].copy()
        accel = accel_mps2 * self.accel_scale + self.accel_bias_mps2
        gyro = gyro_dps * self.gyro_scale + self.gyro_bias_dps + walk
        if self._accel_sd > 0:
            accel = accel + self._rng.normal(0.0, self._accel_sd, (n, 3))
        if self._gyro_sd > 0:
            gyro = gyro + self._rng.normal(0.0, self._gyro_sd, (n, 3))
        return quantise(accel, self.accel_full_scale_mps2), quantise(gyro, self.gyro_full_scale_dps)
