"""The one sample type that flows from every source into the analysis.

Units, stated once for the whole project: time in seconds since the session start (``t_s``),
specific force in m/s^2 (``accel_mps2``; a still sensor reads +9.81 along "up"), angular rate in
degrees per second (``gyro_dps``, right-handed), all in the sensor's own axes. A gap in the stream
(dropped samples, FIFO overflow, sensor lost) is a jump in ``t_s``; sources never glue data across it.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class SampleBlock:
    """A run of samples in time order: ``t_s`` (n,), ``accel_mps2`` (n, 3), ``gyro_dps`` (n, 3)."""

    t_s: np.ndarray
    accel_mps2: np.ndarray
    gyro_dps: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.t_s)
        if self.accel_mps2.shape != (n, 3) or self.gyro_dps.shape != (n, 3):
            raise ValueError(f"sample block shapes disagree: t_s {self.t_s.shape}, "
                             f"accel {self.accel_mps2.shape}, gyro {self.gyro_dps.shape}")

    def __len__(self) -> int:
        return len(self.t_s)

    @staticmethod
    def empty() -> SampleBlock:
        return SampleBlock(np.empty(0), np.empty((0, 3)), np.empty((0, 3)))

    @staticmethod
    def concat(blocks: list[SampleBlock]) -> SampleBlock:
        if not blocks:
            return SampleBlock.empty()
        return SampleBlock(np.concatenate([b.t_s for b in blocks]),
                           np.concatenate([b.accel_mps2 for b in blocks]),
                           np.concatenate([b.gyro_dps for b in blocks]))


@dataclass
class SensorInfo:
    """What a source knows about the sensor behind it; recorded in the session metadata."""

    sensor: str = "unknown"            # chip name, e.g. "mpu6050", "lsm6dsox", "simulated"
    nominal_rate_hz: float = 100.0
    accel_range_g: float = 16.0
    gyro_range_dps: float = 2000.0
    calibration: dict = field(default_factory=dict)  # offsets/scales applied before samples leave


class Source(Protocol):
    """Anything that produces samples: the I2C driver, an emulated chip, the simulator, a replay.

    ``blocks()`` yields SampleBlocks in time order until the source ends or ``close()`` is called
    (from any thread; waits use an event so closing never sits out a sleep). ``status`` is "ok",
    or "sensor_lost" while a real sensor is not answering (it recovers by itself), or "ended".
    ``second_info`` describes an optional second sensor (on the standing leg or the pelvis, for
    sway), None without one; ``take_second()`` hands over its samples read since the last call.
    """

    info: SensorInfo
    status: str
    second_info: SensorInfo | None

    def blocks(self) -> Iterator[SampleBlock]: ...

    def take_second(self) -> SampleBlock: ...

    def close(self) -> None: ...


class OneSensor:
    """What a source with no second sensor says about it (see :class:`Source`)."""

    second_info: SensorInfo | None = None

    def take_second(self) -> SampleBlock:
        return SampleBlock.empty()


def paced_blocks(block: SampleBlock, block_s: float, speed: float, closed: threading.Event
                 ) -> Iterator[SampleBlock]:
    """A recorded or simulated run of samples cut into ``block_s`` pieces of its own time, each
    released when the wall clock reaches it at ``speed`` x recorded speed (0 or inf: at once);
    stops early once ``closed`` is set, never sitting out a wait."""
    if len(block) == 0:
        return
    t = block.t_s
    edges = np.unique(np.append(np.searchsorted(t, np.arange(t[0], t[-1] + block_s, block_s)), len(t)))
    paced = speed not in (0, math.inf) and speed > 0
    wall0 = time.monotonic()
    for i0, i1 in zip(edges[:-1], edges[1:]):
        wait = wall0 + (t[i1 - 1] - t[0]) / speed - time.monotonic() if paced else 0.0
        if closed.is_set() or (wait > 0 and closed.wait(wait)):
            return
        yield SampleBlock(t[i0:i1], block.accel_mps2[i0:i1], block.gyro_dps[i0:i1])
