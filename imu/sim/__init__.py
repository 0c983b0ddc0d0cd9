"""Simulated sensor: a scripted hinge-and-march workout, its leg physics, a MEMS error model.

``simulate_session`` gives a whole session's samples with their ground truth; ``SimSource`` streams
them like a live sensor. ``session.motion.at(t_s)`` is the ideal physics the emulated chips sample.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from imu.samples import OneSensor, SampleBlock, SensorInfo, paced_blocks
from imu.sim.leg import LegMotion
from imu.sim.sensor import SensorErrors, SensorStage
from imu.sim.workout import Workout, WorkoutTruth, plan_workout

__all__ = ["SimSession", "SimSource", "simulate_session", "SensorErrors", "plan_workout", "LegMotion"]

CHUNK_SAMPLES = 20_000


@dataclass
class SimSession:
    """A generated session: samples, what the sensor claims to be, the truth, and the physics."""

    info: SensorInfo
    block: SampleBlock
    truth: WorkoutTruth
    motion: LegMotion
    placement: str
    workout: Workout
    stage: SensorStage          # the drawn sensor errors (biases, scale, clock factor, drops)


def simulate_session(seed: int, rate_hz: float = 100.0, placement: str = "thigh", accel_range_g: float = 16,
                     gyro_range_dps: float = 2000, faults: bool = True, errors: SensorErrors | None = None,
                     mount_turn: np.ndarray | None = None, **workout_options) -> SimSession:
    """Plan a workout from ``seed`` and sample it through the sensor error model.

    ``faults=False`` leaves only quantisation and clipping; ``errors`` picks another chip's model
    (e.g. ``SensorErrors.lsm6dsox()``, or one at its datasheet limits: ``SensorErrors.datasheet("mpu6500")``).
    ``mount_turn`` (3x3 rotation) turns the chip on its mount: it reads ``mount_turn @ v`` for every
    ideal vector v, before its errors, clipping and quantisation, as a chip mounted turned would.
    Other keywords are :class:`imu.sim.workout.WorkoutOptions`.
    """
    if not rate_hz > 0:
        raise ValueError(f"rate_hz must be positive, not {rate_hz}")
    plan_seed, sensor_seed = np.random.SeedSequence(seed).spawn(2)
    workout = plan_workout(np.random.default_rng(plan_seed), placement=placement, **workout_options)
    motion = workout.motion()
    stage = SensorStage((errors or SensorErrors()) if faults else SensorErrors.ideal(), rate_hz,
                        accel_range_g, gyro_range_dps, workout.truth.duration_s,
                        np.random.default_rng(sensor_seed))
    blocks = []
    for k0 in range(0, stage.n_samples, CHUNK_SAMPLES):
        k = np.arange(k0, min(k0 + CHUNK_SAMPLES, stage.n_samples))
        accel, gyro = motion.at(stage.true_times_s(k))
        if mount_turn is not None:
            accel, gyro = accel @ np.asarray(mount_turn).T, gyro @ np.asarray(mount_turn).T
        accel, gyro = stage.apply(accel, gyro)
        keep = stage.keep(k)
        blocks.append(SampleBlock(stage.stamp_times_s(k)[keep], accel[keep], gyro[keep]))
    info = SensorInfo(sensor="simulated", nominal_rate_hz=float(rate_hz), accel_range_g=float(accel_range_g),
                      gyro_range_dps=float(gyro_range_dps))
    return SimSession(info, SampleBlock.concat(blocks), workout.truth, motion, placement, workout, stage)


class SimSource(OneSensor):
    """A :class:`imu.samples.Source` over a simulated session: blocks of about ``block_s`` seconds,
    paced at ``speed`` x real time (0 or inf: as fast as they are taken)."""

    def __init__(self, session: SimSession, speed: float = 1.0, block_s: float = 0.1):
        if block_s <= 0:
            raise ValueError("block_s must be positive")
        self.session, self.info, self.speed, self.block_s = session, session.info, speed, block_s
        self.status = "ok"
        self._closed = threading.Event()

    def blocks(self) -> Iterator[SampleBlock]:
        yield from paced_blocks(self.session.block, self.block_s, self.speed, self._closed)
        self.status = "ended"

    def close(self) -> None:
        self._closed.set()
        self.status = "ended"
