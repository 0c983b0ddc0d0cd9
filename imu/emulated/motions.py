"""What an emulated chip is told: motions with ``.at(t_s) -> (accel_mps2 (n,3), gyro_dps (n,3))``
in sensor axes. Any object with that method will do; these two are the ones tests and the
calibrate command use."""
from __future__ import annotations

import numpy as np

from analysis.units import STANDARD_GRAVITY_MPS2


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
