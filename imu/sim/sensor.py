"""Sensor error model: what a real MEMS IMU does to ideal physics before the samples leave it.

Bias (turn-on offset plus a slow random walk on the gyro), white noise at the datasheet density,
per-axis gain error, cross-axis coupling, offsets that drift as the chip warms up after power-on,
int16 quantisation and clipping at the configured range, a sample clock that runs fast or slow, and
short runs of dropped samples. One session's errors are drawn once from a generator and applied chunk
by chunk, so a long session never needs all its noise in memory at once.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from analysis.units import STANDARD_GRAVITY_MPS2

INT16_STEPS = 32768
MG_MPS2 = 1e-3 * STANDARD_GRAVITY_MPS2

# Limits from the datasheets (offsets, gains and cross-axis at 25 deg C; offset change with temperature
# as a slope: a change over a range is divided by that range). MPU-6050: PS-MPU-6000A-00 rev 3.4,
# tables 6.1/6.2 (zero-g change 35/60 mg over 0..70 C, ZRO change 20 dps over -40..85 C). MPU-6500:
# PS-MPU-6500A-01 rev 1.1. LSM6DS3: DocID026899 rev 8; LSM6DSOX: DS12814 (the ST tables give no gain
# tolerance or cross-axis: 1 % assumed). Only the MPU-6050 figures were checked against the document
# itself; the other three are from those documents as remembered, still to verify (docs/sensors.md).
DATASHEETS: dict[str, dict] = {
    "mpu6050": dict(accel_noise_ug_per_rthz=400.0, gyro_noise_dps_per_rthz=0.005,
                    accel_bias_max_mps2=50 * MG_MPS2, accel_bias_z_max_mps2=80 * MG_MPS2, gyro_bias_max_dps=20.0,
                    scale_error_max=0.03, cross_axis_max=0.02,
                    accel_tempco_max_mps2_per_c=35 * MG_MPS2 / 70, accel_tempco_z_max_mps2_per_c=60 * MG_MPS2 / 70,
                    gyro_tempco_max_dps_per_c=20.0 / 125),
    "mpu6500": dict(accel_noise_ug_per_rthz=300.0, gyro_noise_dps_per_rthz=0.01,
                    accel_bias_max_mps2=60 * MG_MPS2, gyro_bias_max_dps=5.0, scale_error_max=0.03,
                    cross_axis_max=0.02, accel_tempco_max_mps2_per_c=1.5 * MG_MPS2, gyro_tempco_max_dps_per_c=0.24),
    "lsm6ds3": dict(accel_noise_ug_per_rthz=90.0, gyro_noise_dps_per_rthz=0.007,
                    accel_bias_max_mps2=40 * MG_MPS2, gyro_bias_max_dps=10.0, scale_error_max=0.01,
                    cross_axis_max=0.01, accel_tempco_max_mps2_per_c=0.5 * MG_MPS2, gyro_tempco_max_dps_per_c=0.05),
    "lsm6dsox": dict(accel_noise_ug_per_rthz=75.0, gyro_noise_dps_per_rthz=0.0038,
                     accel_bias_max_mps2=20 * MG_MPS2, gyro_bias_max_dps=1.0, scale_error_max=0.01,
                     cross_axis_max=0.01, accel_tempco_max_mps2_per_c=0.1 * MG_MPS2, gyro_tempco_max_dps_per_c=0.01),
}


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
    accel_bias_z_max_mps2: float | None = None  # the z axis's offset limit (None: as x and y)
    cross_axis_max: float = 0.0                 # each axis picks up +-this fraction of each other axis
    accel_tempco_max_mps2_per_c: float = 0.0    # per-axis offset change with temperature, uniform in +-this
    accel_tempco_z_max_mps2_per_c: float | None = None  # ... the z axis's (None: as x and y)
    gyro_tempco_max_dps_per_c: float = 0.0      # per-axis zero-rate change with temperature
    warm_up_range_c: tuple[float, float] = (3.0, 15.0)      # the chip warms by this after power-on...
    warm_up_tau_range_s: tuple[float, float] = (60.0, 300.0)  # ... with this time constant
    cool_down_max_frac: float = 0.0             # then loses up to this fraction of it again, 3x slower

    @classmethod
    def ideal(cls) -> SensorErrors:
        """No errors at all: only quantisation and clipping remain (they are the data format)."""
        return cls(accel_noise_ug_per_rthz=0.0, gyro_noise_dps_per_rthz=0.0, accel_bias_max_mps2=0.0,
                   gyro_bias_max_dps=0.0, gyro_bias_walk_dps_per_rts=0.0, scale_error_max=0.0,
                   clock_error_max=0.0, drops_per_min=0.0)

    @classmethod
    def mpu6050(cls) -> SensorErrors:
        return cls()

    @classmethod
    def lsm6dsox(cls) -> SensorErrors:
        return replace(cls(), accel_noise_ug_per_rthz=75.0, gyro_noise_dps_per_rthz=0.0038,
                       accel_bias_max_mps2=0.1, gyro_bias_max_dps=1.0)

    @classmethod
    def datasheet(cls, chip: str) -> SensorErrors:
        """A chip at its datasheet limits (:data:`DATASHEETS`): offsets, gains, cross-axis and offset
        drift with temperature as bad as the part may be, warming 3-15 deg C and cooling a little."""
        if chip not in DATASHEETS:
            raise ValueError(f"chip must be one of {tuple(DATASHEETS)}, not {chip!r}")
        return cls(cool_down_max_frac=0.2, **DATASHEETS[chip])


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
        z_max = e.accel_bias_max_mps2 if e.accel_bias_z_max_mps2 is None else e.accel_bias_z_max_mps2
        lim = np.array([e.accel_bias_max_mps2, e.accel_bias_max_mps2, z_max])
        self.accel_bias_mps2 = rng.uniform(-lim, lim)
        self.gyro_bias_dps = rng.uniform(-e.gyro_bias_max_dps, e.gyro_bias_max_dps, 3)
        self.accel_scale = 1.0 + rng.uniform(-e.scale_error_max, e.scale_error_max, 3)
        self.gyro_scale = 1.0 + rng.uniform(-e.scale_error_max, e.scale_error_max, 3)
        self.n_samples = int(np.floor(duration_s * self.true_rate_hz)) + 1
        n_runs = rng.poisson(e.drops_per_min * duration_s / 60.0)
        starts = np.sort(rng.integers(1, max(self.n_samples - 1, 2), n_runs))
        self.drop_runs = np.column_stack([starts, starts + rng.integers(1, e.drop_run_max_samples + 1, n_runs)])
        # Drawn only when switched on, so that sessions without them keep their random numbers.
        self.accel_cross = np.eye(3)        # output = cross @ input, per sensor, before the gains
        self.gyro_cross = np.eye(3)
        if e.cross_axis_max > 0:
            off = ~np.eye(3, dtype=bool)
            self.accel_cross[off] = rng.uniform(-e.cross_axis_max, e.cross_axis_max, 6)
            self.gyro_cross[off] = rng.uniform(-e.cross_axis_max, e.cross_axis_max, 6)
        tz_max = e.accel_tempco_max_mps2_per_c if e.accel_tempco_z_max_mps2_per_c is None \
            else e.accel_tempco_z_max_mps2_per_c
        self.accel_tempco_mps2_per_c = np.zeros(3)
        self.gyro_tempco_dps_per_c = np.zeros(3)
        self.warm_up_c = self.warm_up_tau_s = self.cool_down_c = 0.0
        if e.accel_tempco_max_mps2_per_c > 0 or tz_max > 0 or e.gyro_tempco_max_dps_per_c > 0:
            lim = np.array([e.accel_tempco_max_mps2_per_c, e.accel_tempco_max_mps2_per_c, tz_max])
            self.accel_tempco_mps2_per_c = rng.uniform(-lim, lim)
            self.gyro_tempco_dps_per_c = rng.uniform(-e.gyro_tempco_max_dps_per_c, e.gyro_tempco_max_dps_per_c, 3)
            self.warm_up_c = rng.uniform(*e.warm_up_range_c)
            self.warm_up_tau_s = rng.uniform(*e.warm_up_tau_range_s)
            self.cool_down_c = rng.uniform(0.0, e.cool_down_max_frac) * self.warm_up_c
        self._next_k = 0
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

    def warming_c(self, t_s: np.ndarray) -> np.ndarray:
        """The chip's temperature above what it was at power-on (t = 0), at true times t_s."""
        t_s = np.asarray(t_s, dtype=float)
        if not self.warm_up_tau_s:
            return np.zeros(t_s.shape)
        return (self.warm_up_c * -np.expm1(-t_s / self.warm_up_tau_s)
                - self.cool_down_c * -np.expm1(-t_s / (3.0 * self.warm_up_tau_s)))

    def gyro_offset_dps(self, t_s: np.ndarray) -> np.ndarray:
        """Zero-rate output (n, 3) at true times t_s: turn-on bias plus temperature drift (no walk)."""
        return self.gyro_bias_dps + np.multiply.outer(self.warming_c(t_s), self.gyro_tempco_dps_per_c)

    def accel_offset_mps2(self, t_s: np.ndarray) -> np.ndarray:
        """Zero-g output (n, 3) at true times t_s: offset plus temperature drift."""
        return self.accel_bias_mps2 + np.multiply.outer(self.warming_c(t_s), self.accel_tempco_mps2_per_c)

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
        if self.errors.cross_axis_max > 0:
            accel_mps2, gyro_dps = accel_mps2 @ self.accel_cross.T, gyro_dps @ self.gyro_cross.T
        if self.warm_up_tau_s:
            t = self.true_times_s(self._next_k + np.arange(n))
            accel = accel_mps2 * self.accel_scale + self.accel_offset_mps2(t)
            gyro = gyro_dps * self.gyro_scale + self.gyro_offset_dps(t) + walk
        else:
            accel = accel_mps2 * self.accel_scale + self.accel_bias_mps2
            gyro = gyro_dps * self.gyro_scale + self.gyro_bias_dps + walk
        self._next_k += n
        if self._accel_sd > 0:
            accel = accel + self._rng.normal(0.0, self._accel_sd, (n, 3))
        if self._gyro_sd > 0:
            gyro = gyro + self._rng.normal(0.0, self._gyro_sd, (n, 3))
        return quantise(accel, self.accel_full_scale_mps2), quantise(gyro, self.gyro_full_scale_dps)
