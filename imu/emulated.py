"""Emulated IMUs on a fake I2C bus, in the spirit of gpiozero's mock pins: a chip is told physics
(m/s^2 and deg/s from a motion object's ``.at(t_s)``) and turns it into register bytes and FIFO
frames at its configured rate, on a clock tests can drive. The REAL drivers run against it.

Each chip implements the register subset the drivers use, with its own copy of the datasheet
scales (deliberately not imported from the drivers, so a wrong driver table fails a test). Faults:
NACK bursts, a stuck WHO_AM_I, failed bursts after some bytes, disconnection and return.
"""
from __future__ import annotations

import errno
import math
from typing import Callable

import numpy as np

from imu.bus import BusStats
from imu.clock import FakeClock
from imu.errors import BusError
from imu.samples import STANDARD_GRAVITY_MPS2


class Still:
    """Lying still: gravity along ``up`` (sensor axes), no rotation."""

    def __init__(self, up=(0.0, 0.0, 1.0)):
        self.up = np.asarray(up, float) / np.linalg.norm(up)

    def at(self, t_s):
        n = len(np.atleast_1d(t_s))
        return np.tile(self.up * STANDARD_GRAVITY_MPS2, (n, 1)), np.zeros((n, 3))


class SixFaces:
    """Rests on each face in turn (+x, -x, +y, -y, +z, -z up) for ``hold_s``, turning between them
    in ``turn_s`` at a steady rate: what a person does for a six-position calibration."""

    UPS = ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1))

    def __init__(self, hold_s: float = 2.0, turn_s: float = 0.5, start_s: float = 0.0):
        self.hold_s, self.turn_s, self.start_s = hold_s, turn_s, start_s

    def at(self, t_s):
        t = np.atleast_1d(np.asarray(t_s, float)) - self.start_s
        period = self.hold_s + self.turn_s
        k = np.clip((t // period).astype(int), 0, len(self.UPS) - 1)
        phase = t - k * period
        accel = np.array(self.UPS, float)[k] * STANDARD_GRAVITY_MPS2
        gyro = np.zeros((len(t), 3))
        turning = (phase > self.hold_s) & (k < len(self.UPS) - 1)
        gyro[turning] = (90.0 / self.turn_s, 45.0 / self.turn_s, 0.0)   # tumbling: not still
        accel[turning] = accel[turning] * 0.7 + (1.5, -1.0, 0.8)
        return accel, gyro


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


# ------------------------------------------------------------------------------------ InvenSense
class EmulatedMPU6050(EmulatedChip):
    name, who_am_i_reg, who_am_i_value, fifo_data_reg, default_address = "mpu6050", 0x75, 0x68, 0x74, 0x68
    fifo_bytes = 1024
    can_stop_when_full = False
    ACCEL_LSB_PER_G = {0: 16384, 1: 8192, 2: 4096, 3: 2048}     # AFS_SEL 0..3
    GYRO_LSB_PER_DPS = {0: 131, 1: 65.5, 2: 32.8, 3: 16.4}      # FS_SEL 0..3

    def reset_values(self):
        return {0x6B: 0x40}                    # PWR_MGMT_1: asleep after power-up

    def fifo_capacity_bytes(self):
        return self.fifo_bytes

    def output_rate_hz(self):
        if self.regs[0x6B] & 0x40:
            return 0.0
        internal = 8000.0 if self.regs[0x1A] & 0x07 in (0, 7) else 1000.0
        return internal / (1 + self.regs[0x19])

    def fifo_enabled(self):
        return bool(self.regs[0x6A] & 0x40)

    def accel_lsb_per_g(self):
        return self.ACCEL_LSB_PER_G[(self.regs[0x1C] >> 3) & 3]

    def gyro_lsb_per_dps(self):
        return self.GYRO_LSB_PER_DPS[(self.regs[0x1B] >> 3) & 3]

    def temperature_raw(self):
        return int(round((self.temperature_c - 36.53) * 340))

    def frame_bytes(self, a_raw, g_raw) -> tuple[bytes, int]:
        en = self.regs[0x23]
        cols = []
        if en & 0x08:
            cols += [a_raw[:, 0], a_raw[:, 1], a_raw[:, 2]]
        if en & 0x80:
            cols.append(np.full(len(a_raw), self.temperature_raw()))
        for bit_, axis in ((0x40, 0), (0x20, 1), (0x10, 2)):
            if en & bit_:
                cols.append(g_raw[:, axis])
        if not cols:
            return b"", 0
        return np.stack(cols, axis=1).astype(">i2").tobytes(), 2 * len(cols)

    def push_fifo(self, a_raw, g_raw):
        blob, frame = self.frame_bytes(a_raw, g_raw)
        if not frame:
            return
        stop_when_full = self.can_stop_when_full and self.regs[0x1A] & 0x40
        if stop_when_full:
            fit = (self.fifo_bytes - len(self.fifo)) // frame
            if fit * frame < len(blob):
                self.overflowed = True
            self.fifo += blob[:fit * frame]
        else:
            self._append_overwriting(blob, 1)    # oldest BYTES go: frame boundaries are lost

    def read_register(self, reg):
        if 0x3B <= reg <= 0x48:
            words = list(self.latest_accel_raw) + [self.temperature_raw()] + list(self.latest_gyro_raw)
            word = int(words[(reg - 0x3B) // 2]) & 0xFFFF
            return word >> 8 if (reg - 0x3B) % 2 == 0 else word & 0xFF
        if reg in (0x72, 0x73):
            count = min(len(self.fifo), 0x1FFF)
            return count >> 8 if reg == 0x72 else count & 0xFF
        if reg == 0x3A:                          # INT_STATUS, cleared by the read
            value = 0x10 if self.overflowed else 0
            self.overflowed = False
            return value | 0x01
        return self.regs[reg]

    def write_register(self, reg, value):
        if reg == 0x6B and value & 0x80:         # DEVICE_RESET
            self.power_on_reset()
            return
        if reg == 0x6A:
            if value & 0x04:                     # FIFO_RESET, self-clearing
                self.clear_fifo()
            value &= ~0x05
        self.regs[reg] = value


class EmulatedMPU6500(EmulatedMPU6050):
    name, who_am_i_value = "mpu6500", 0x70
    fifo_bytes = 512
    can_stop_when_full = True

    def temperature_raw(self):
        return int(round((self.temperature_c - 21.0) * 333.87))


class EmulatedMPU9250(EmulatedMPU6500):
    name, who_am_i_value = "mpu9250", 0x71


# --------------------------------------------------------------------------------------------- ST
ST_ODR_HZ = {1: 12.5, 2: 26, 3: 52, 4: 104, 5: 208, 6: 416, 7: 833, 8: 1660}
ST_ACCEL_MG_PER_LSB = {0b00: 0.061, 0b01: 0.488, 0b10: 0.122, 0b11: 0.244}   # FS_XL codes
ST_GYRO_MDPS_PER_LSB = {0b00: 8.75, 0b01: 17.5, 0b10: 35.0, 0b11: 70.0}       # FS_G codes


class _EmulatedST(EmulatedChip):
    who_am_i_reg, default_address = 0x0F, 0x6A
    temp_lsb_per_c = 256.0

    def reset_values(self):
        return {0x12: 0x04}                      # CTRL3_C: IF_INC set

    def output_rate_hz(self):
        return float(ST_ODR_HZ.get(self.regs[0x10] >> 4, 0.0))

    def accel_lsb_per_g(self):
        return 1000.0 / ST_ACCEL_MG_PER_LSB[(self.regs[0x10] >> 2) & 3]

    def gyro_lsb_per_dps(self):
        if self.regs[0x11] & 0x02:               # FS_125
            return 1000.0 / 4.375
        return 1000.0 / ST_GYRO_MDPS_PER_LSB[(self.regs[0x11] >> 2) & 3]

    def temperature_raw(self):
        return int(round((self.temperature_c - 25.0) * self.temp_lsb_per_c))

    def read_register(self, reg):
        if 0x20 <= reg <= 0x2D:
            words = [self.temperature_raw()] + list(self.latest_gyro_raw) + list(self.latest_accel_raw)
            word = int(words[(reg - 0x20) // 2]) & 0xFFFF
            return word & 0xFF if (reg - 0x20) % 2 == 0 else word >> 8
        return self.status_register(reg)

    def status_register(self, reg):
        return self.regs[reg]

    def write_register(self, reg, value):
        if reg == 0x12 and value & 0x01:         # SW_RESET: registers to defaults, self-clearing
            self.power_on_reset()
            return
        self.regs[reg] = value


class EmulatedLSM6DS3(_EmulatedST):
    name, who_am_i_value, fifo_data_reg = "lsm6ds3", 0x69, 0x3E
    fifo_words = 4096
    diff_mask = 0x0FFF
    temp_lsb_per_c = 16.0

    def fifo_capacity_bytes(self):
        return 2 * self.fifo_words

    def fifo_enabled(self):
        return self.regs[0x0A] & 0x07 == 0b110 and self.regs[0x08] & 0x3F == 0x09

    def push_fifo(self, a_raw, g_raw):
        words = np.concatenate([g_raw, a_raw], axis=1)          # Gx Gy Gz XLx XLy XLz
        self._append_overwriting(words.astype("<i2").tobytes(), 2)

    def next_address(self, reg):
        return 0x3E if reg == 0x3F else (reg + 1) & 0xFF

    def status_register(self, reg):
        words = len(self.fifo) // 2
        if reg == 0x3A:
            return words & 0xFF
        if reg == 0x3B:
            full = len(self.fifo) + 12 > self.fifo_capacity_bytes()
            return (0x40 if self.overflowed else 0) | (0x20 if full else 0) | \
                (0x10 if not words else 0) | ((words & self.diff_mask) >> 8)
        if reg in (0x3C, 0x3D):
            pattern = (self.fifo_removed_bytes // 2) % 6
            return pattern & 0xFF if reg == 0x3C else pattern >> 8
        if reg == 0x3E and self.fifo:            # byte-wise access (bursts take the fast path)
            return self.fifo[0]
        if reg == 0x3F and self.fifo:
            return self.pop_fifo(2)[1]
        return self.regs[reg]

    def write_register(self, reg, value):
        super().write_register(reg, value)
        if reg == 0x0A and value & 0x07 == 0:   # bypass mode empties the FIFO
            self.clear_fifo()


class EmulatedLSM6DS3TRC(EmulatedLSM6DS3):
    name, who_am_i_value = "lsm6ds3trc", 0x6A
    fifo_words = 2048
    diff_mask = 0x07FF
    temp_lsb_per_c = 256.0


class EmulatedLSM6DSOX(_EmulatedST):
    name, who_am_i_value, fifo_data_reg = "lsm6dsox", 0x6C, 0x78
    fifo_words = 512

    def power_on_reset(self):
        super().power_on_reset()
        self.slot = 0

    def fifo_capacity_bytes(self):
        return 7 * self.fifo_words

    def fifo_enabled(self):
        return self.regs[0x0A] & 0x07 == 0b110 and self.regs[0x09] != 0

    def push_fifo(self, a_raw, g_raw):
        n = len(a_raw)
        cnt = (self.slot + np.arange(n)) & 3
        self.slot = (self.slot + n) & 3
        words = np.zeros((n, 2, 7), np.uint8)
        words[:, 0, 0] = (0x01 << 3) | (cnt << 1)                 # gyro tag
        words[:, 1, 0] = (0x02 << 3) | (cnt << 1)                 # accel tag
        words[:, 0, 1:] = g_raw.astype("<i2").view(np.uint8).reshape(n, 6)
        words[:, 1, 1:] = a_raw.astype("<i2").view(np.uint8).reshape(n, 6)
        self._append_overwriting(words.tobytes(), 7)

    def next_address(self, reg):
        return 0x78 if reg == 0x7E else (reg + 1) & 0xFF

    def status_register(self, reg):
        words = len(self.fifo) // 7
        if reg == 0x3A:
            return words & 0xFF
        if reg == 0x3B:
            full = len(self.fifo) + 14 > self.fifo_capacity_bytes()
            return (0x40 if self.overflowed else 0) | (0x20 if full else 0) | ((words >> 8) & 0x03)
        return self.regs[reg]

    def write_register(self, reg, value):
        super().write_register(reg, value)
        if reg == 0x0A and value & 0x07 == 0:
            self.clear_fifo()


CHIPS: dict[str, type[EmulatedChip]] = {c.name: c for c in (
    EmulatedMPU6050, EmulatedMPU6500, EmulatedMPU9250, EmulatedLSM6DS3, EmulatedLSM6DS3TRC,
    EmulatedLSM6DSOX)}


# -------------------------------------------------------------------------------------------- bus
class EmulatedBus:
    """A fake /dev/i2c-N: chips by address, transaction counting, and fault injection."""

    def __init__(self, clock=None, name: str = "emulated-i2c"):
        self.clock = clock if clock is not None else FakeClock()
        self.name = name
        self.stats = BusStats()
        self.devices: dict[int, EmulatedChip] = {}
        self.absent: set[int] = set()
        self._nacks: dict[int, int] = {}
        self._fail_after: dict[int, int] = {}
        self._schedule: list[tuple[float, Callable[[], None]]] = []

    def attach(self, address: int, chip: EmulatedChip) -> EmulatedChip:
        self.devices[address] = chip
        return chip

    # -- faults -------------------------------------------------------------------------------------
    def nack(self, address: int, count: int) -> None:
        """The next ``count`` transactions to ``address`` are not acknowledged."""
        self._nacks[address] = self._nacks.get(address, 0) + count

    def fail_burst_after(self, address: int, nbytes: int) -> None:
        """The next read longer than ``nbytes`` clocks out ``nbytes`` and then fails with EIO."""
        self._fail_after[address] = nbytes

    def disconnect(self, address: int) -> None:
        self.absent.add(address)

    def reconnect(self, address: int, power_cycled: bool = True) -> None:
        self.absent.discard(address)
        if power_cycled and address in self.devices:
            self.devices[address].power_on_reset()

    def at(self, t_s: float, action: Callable[[], None]) -> None:
        """Run ``action`` at the first transaction on or after clock time ``t_s``."""
        self._schedule.append((t_s, action))
        self._schedule.sort(key=lambda item: item[0])

    # -- the Bus interface -----------------------------------------------------------------------
    def _gate(self, address: int, what: str) -> EmulatedChip:
        now = self.clock.now()
        while self._schedule and self._schedule[0][0] <= now:
            self._schedule.pop(0)[1]()
        if address in self.absent or address not in self.devices:
            self.stats.errors += 1
            raise BusError(f"{self.name} 0x{address:02X}: {what}: no acknowledge", errno.EREMOTEIO)
        if self._nacks.get(address):
            self._nacks[address] -= 1
            self.stats.errors += 1
            raise BusError(f"{self.name} 0x{address:02X}: {what}: NACK (injected)", errno.EREMOTEIO)
        return self.devices[address]

    def read(self, address: int, reg: int, length: int) -> bytes:
        chip = self._gate(address, f"read 0x{reg:02X}+{length}")
        limit = self._fail_after.get(address)
        if limit is not None and length > limit:
            del self._fail_after[address]
            if limit:
                chip.read(reg, limit)
            self.stats.errors += 1
            raise BusError(f"{self.name} 0x{address:02X}: read failed after {limit} bytes (injected)",
                           errno.EIO)
        data = chip.read(reg, length)
        self.stats.count_read(length)
        return data

    def write(self, address: int, reg: int, data: bytes) -> None:
        self._gate(address, f"write 0x{reg:02X}").write(reg, bytes(data))
        self.stats.count_write(len(data))

    def probe(self, address: int) -> bool:
        self.stats.transactions += 1
        self.stats.wire_bytes += 2
        try:
            self._gate(address, "probe")
        except BusError:
            return False
        return True

    def close(self) -> None:
        pass


def make_chip(chip: str, motion=None, clock=None, **options) -> EmulatedChip:
    try:
        cls = CHIPS[chip]
    except KeyError:
        raise ValueError(f"no emulated chip {chip!r} (choose {', '.join(CHIPS)})") from None
    return cls(motion, clock, **options)


def emulated_bus(chip: str = "mpu6050", motion=None, clock=None, address: int | None = None,
                 **chip_options) -> EmulatedBus:
    """A bus holding one emulated chip at its default (or the given) address."""
    bus = EmulatedBus(clock)
    c = make_chip(chip, motion, bus.clock, **chip_options)
    bus.attach(address or c.default_address, c)
    return bus

