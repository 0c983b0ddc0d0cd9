"""The emulated chip's common part: a 256-byte register file, power-on reset, the FIFO buffer and
``advance``, which turns a motion into the samples due by the clock's now at the configured rate
(times the oscillator error), with offsets, gains, noise and int16 clipping. The vendor modules
(invensense, st) say where each register and FIFO byte goes."""
from __future__ import annotations

import math

import numpy as np

from analysis.units import STANDARD_GRAVITY_MPS2
from imu.clock import FakeClock
from imu.emulated.motions import Still


def _int16(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), -32768, 32767).astype(np.int64)


class EmulatedChip:
    """Register file + lazily generated samples. Subclasses define the map and the FIFO format."""

    name = "chip"
    who_am_i_reg = 0x00
    who_am_i_value = 0x00
    fifo_data_reg = 0x00
    default_address = 0x00

    def __init__(self, motion=None, clock=None, *, rate_error_ppm: float = 0.0,
                 accel_offset_mps2=(0.0, 0.0, 0.0), accel_gain=(1.0, 1.0, 1.0),
                 gyro_bias_dps=(0.0, 0.0, 0.0), noise_lsb: float = 0.0, temperature_c: float = 30.0,
                 seed: int = 0, motion_t0_s: float | None = None):
        self.motion = motion if motion is not None else Still()
        self.clock = clock if clock is not None else FakeClock()
        # the motion's time zero on the clock (motion time before it is held at 0)
        self.motion_t0_s = self.clock.now() if motion_t0_s is None else motion_t0_s
        self.rate_factor = 1.0 + rate_error_ppm * 1e-6     # the chip's oscillator error
        self.accel_offset_mps2 = np.asarray(accel_offset_mps2, float)
        self.accel_gain = np.asarray(accel_gain, float)
        self.gyro_bias_dps = np.asarray(gyro_bias_dps, float)
        self.noise_lsb = noise_lsb
        self.temperature_c = temperature_c
        self.rng = np.random.default_rng(seed)
        self.stuck_who_am_i: int | None = None
        self.fifo_times: list[float] | None = None   # set to [] to log true times of FIFO samples
        self.samples_made = 0            # every sample the chip produced since power-up
        self.power_on_reset()

    # -- state ------------------------------------------------------------------------------
    def power_on_reset(self) -> None:
        self.regs = bytearray(256)
        for reg, value in self.reset_values().items():
            self.regs[reg] = value
        self.fifo = bytearray()
        self.fifo_removed_bytes = 0
        self.overflowed = False
        self.latest_accel_raw = np.zeros(3, np.int64)
        self.latest_gyro_raw = np.zeros(3, np.int64)
        self._origin_s: float | None = None
        self._made = 0
        self._rate_hz = 0.0

    def reset_values(self) -> dict[int, int]:
        return {}

    def clear_fifo(self) -> None:
        self.fifo = bytearray()
        if self.fifo_times is not None:
            self.fifo_times = []
        self.fifo_removed_bytes = 0
        self.overflowed = False

    # -- to be defined by each chip -------------------------------------------------------------
    def output_rate_hz(self) -> float:
        raise NotImplementedError

    def fifo_enabled(self) -> bool:
        raise NotImplementedError

    def accel_lsb_per_g(self) -> float:
        raise NotImplementedError

    def gyro_lsb_per_dps(self) -> float:
        raise NotImplementedError

    def push_fifo(self, accel_raw: np.ndarray, gyro_raw: np.ndarray) -> None:
        raise NotImplementedError

    def read_register(self, reg: int) -> int:
        return self.regs[reg]

    def write_register(self, reg: int, value: int) -> None:
        self.regs[reg] = value

    def next_address(self, reg: int) -> int:
        return (reg + 1) & 0xFF

    def fifo_capacity_bytes(self) -> int:
        raise NotImplementedError

    # -- sample generation ------------------------------------------------------------------------
    def advance(self) -> None:
        """Produce every sample due by now (only the newest that can still matter are computed)."""
        now = self.clock.now()
        rate = self.output_rate_hz()
        if rate != self._rate_hz:                    # rate changed or chip woke up: restart timing
            self._rate_hz, self._origin_s, self._made = rate, now, 0
        if rate <= 0:
            return
        true_rate = rate * self.rate_factor
        due = int(math.floor((now - self._origin_s) * true_rate + 1e-9)) - self._made
        if due <= 0:
            return
        keep = min(due, self.fifo_capacity_bytes() // 6 + 2)
        idx = self._made + due - keep + np.arange(1, keep + 1)
        t_s = self._origin_s + idx / true_rate
        accel, gyro = self.motion.at(np.maximum(t_s - self.motion_t0_s, 0.0))
        accel = np.asarray(accel, float) * self.accel_gain + self.accel_offset_mps2
        gyro = np.asarray(gyro, float) + self.gyro_bias_dps
        a_raw = accel / STANDARD_GRAVITY_MPS2 * self.accel_lsb_per_g()
        g_raw = gyro * self.gyro_lsb_per_dps()
        if self.noise_lsb:
            a_raw = a_raw + self.rng.normal(0, self.noise_lsb, a_raw.shape)
            g_raw = g_raw + self.rng.normal(0, self.noise_lsb, g_raw.shape)
        a_raw, g_raw = _int16(a_raw), _int16(g_raw)
        self.latest_accel_raw, self.latest_gyro_raw = a_raw[-1], g_raw[-1]
        self._made += due
        self.samples_made += due
        if self.fifo_enabled():
            if due > keep:
                self.overflowed = True
            self.push_fifo(a_raw, g_raw)
            if self.fifo_times is not None:
                self.fifo_times.extend(t_s.tolist())

    def _append_overwriting(self, blob: bytes, unit: int) -> None:
        """Continuous mode: append, dropping the oldest ``unit``-byte words beyond capacity."""
        self.fifo += blob
        excess = len(self.fifo) - self.fifo_capacity_bytes()
        if excess > 0:
            excess = -(-excess // unit) * unit
            del self.fifo[:excess]
            self.fifo_removed_bytes += excess
            self.overflowed = True

    def pop_fifo(self, n: int) -> bytes:
        out = bytes(self.fifo[:n]) + b"\x00" * max(0, n - len(self.fifo))
        self.fifo_removed_bytes += min(n, len(self.fifo))
        del self.fifo[:n]
        return out

    # -- the bus side ------------------------------------------------------------------------------
    def read(self, reg: int, length: int) -> bytes:
        self.advance()
        if reg == self.fifo_data_reg:
            return self.pop_fifo(length)
        out = bytearray()
        for _ in range(length):
            if reg == self.who_am_i_reg:
                out.append(self.who_am_i_value if self.stuck_who_am_i is None else self.stuck_who_am_i)
            else:
                out.append(self.read_register(reg) & 0xFF)
            reg = self.next_address(reg)
        return bytes(out)

    def write(self, reg: int, data: bytes) -> None:
        self.advance()
        for value in data:
            self.write_register(reg, value)
            reg = self.next_address(reg)
        self.advance()                    # a new rate takes effect from now

    def temperature_raw(self) -> int:
        raise NotImplementedError
