"""What every IMU driver shares: the settings it is asked for, what it actually applied, one FIFO
read, and the generic read-whole-frames loop. Chip modules only fill in tables and decoding."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from analysis.units import STANDARD_GRAVITY_MPS2
from imu.bus import MAX_TRANSFER_BYTES
from imu.errors import SensorConfigError, SensorError
from imu.registers import RegisterIO


@dataclass(frozen=True)
class SensorSettings:
    """Requested configuration, in physical units. The chip picks its nearest available rate and
    filter corner; ranges must exist exactly. ``dlpf_hz`` 0 leaves the chip's default filter."""

    rate_hz: float = 200.0
    accel_range_g: float = 16.0
    gyro_range_dps: float = 2000.0
    dlpf_hz: float = 42.0


@dataclass(frozen=True)
class Applied:
    """What the chip was really set to; ``registers`` holds the bytes written, for ``probe``."""

    chip: str
    address: int
    rate_hz: float
    accel_range_g: float
    gyro_range_dps: float
    dlpf_hz: float | None
    frame_bytes: int
    fifo_capacity_samples: int
    registers: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FifoStatus:
    samples: int            # whole samples ready to read
    overflow: bool = False  # data was lost (or the FIFO filled up): reset and mark a gap
    misaligned: bool = False
    skip_bytes: int = 0     # bytes to read and drop first to get back onto a frame boundary


@dataclass(frozen=True)
class FifoRead:
    accel_mps2: np.ndarray
    gyro_dps: np.ndarray
    status: FifoStatus
    bursts: int = 0

    def __len__(self) -> int:
        return len(self.accel_mps2)


def _empty(status: FifoStatus) -> FifoRead:
    return FifoRead(np.empty((0, 3)), np.empty((0, 3)), status)


class ImuDriver:
    """Base of the chip drivers. Subclasses set the class tables and implement the hooks."""

    name = "imu"
    who_am_i_reg = 0x00
    who_am_i_value = 0x00
    fifo_data_reg = 0x00

    def __init__(self, bus, address: int, sleep: Callable[[float], object] = time.sleep):
        self.io = RegisterIO(bus, address)
        self.address = address
        self.sleep = sleep
        self.applied: Applied | None = None
        self._accel_mps2_per_lsb = 0.0
        self._gyro_dps_per_lsb = 0.0

    # -- scaling ----------------------------------------------------------------------------
    def _set_scales(self, accel_lsb_per_g: float, gyro_lsb_per_dps: float) -> None:
        self._accel_mps2_per_lsb = STANDARD_GRAVITY_MPS2 / accel_lsb_per_g
        self._gyro_dps_per_lsb = 1.0 / gyro_lsb_per_dps

    def scale(self, accel_raw: np.ndarray, gyro_raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(accel_raw, float) * self._accel_mps2_per_lsb,
                np.asarray(gyro_raw, float) * self._gyro_dps_per_lsb)

    @staticmethod
    def _lookup(table, value: float, what: str):
        try:
            return table.for_full_scale(value)
        except KeyError as e:
            raise SensorConfigError(f"{what}: {e.args[0]}") from None

    # -- FIFO ---------------------------------------------------------------------------------
    @property
    def frame_bytes(self) -> int:
        raise NotImplementedError

    def configure(self, settings: SensorSettings) -> Applied:
        raise NotImplementedError

    def fifo_status(self) -> FifoStatus:
        raise NotImplementedError

    def reset_fifo(self) -> None:
        raise NotImplementedError

    def decode_frames(self, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        """Raw FIFO bytes (whole frames) -> (accel_raw (n,3), gyro_raw (n,3)) as int arrays."""
        raise NotImplementedError

    def read_fifo(self, max_burst_bytes: int = MAX_TRANSFER_BYTES, max_samples: int | None = None,
                  status: FifoStatus | None = None) -> FifoRead:
        """One poll: the FIFO level (unless ``status`` was just read), then whole frames in as few
        bursts as the transfer limit allows. Never returns part of a frame; overflow and
        misalignment are reported, not papered over."""
        status = status if status is not None else self.fifo_status()
        if status.overflow or status.misaligned or status.samples == 0 and not status.skip_bytes:
            return _empty(status)
        bursts = 0
        if status.skip_bytes:
            self.io.read(self.fifo_data_reg, status.skip_bytes)
            bursts += 1
        n = status.samples if max_samples is None else max(0, min(status.samples, max_samples))
        if n == 0:
            return FifoRead(np.empty((0, 3)), np.empty((0, 3)), status, bursts)
        frame = self.frame_bytes
        chunk = max(1, min(max_burst_bytes, MAX_TRANSFER_BYTES) // frame) * frame
        total, parts = n * frame, []
        while total > 0:
            take = min(chunk, total)
            parts.append(self.io.read(self.fifo_data_reg, take))
            total -= take
            bursts += 1
        accel_raw, gyro_raw = self.decode_frames(b"".join(parts))
        accel, gyro = self.scale(accel_raw, gyro_raw)
        return FifoRead(accel, gyro, status, bursts)

    # -- direct reads ---------------------------------------------------------------------
    def read_sample(self) -> tuple[np.ndarray, np.ndarray]:
        """The current output registers, scaled: (accel_mps2 (3,), gyro_dps (3,))."""
        raise NotImplementedError

    def read_temperature_c(self) -> float:
        raise NotImplementedError

    def verify(self, expected: dict[int, int]) -> None:
        """Read back configuration registers; a mismatch means the write did not land."""
        bad = []
        for reg, value in expected.items():
            got = self.io.read_u8(reg)
            if got != value:
                bad.append(f"0x{reg:02X} reads 0x{got:02X}, wrote 0x{value:02X}")
        if bad:
            raise SensorError(f"{self.name} at 0x{self.address:02X}: configuration did not stick: "
                              + "; ".join(bad))
