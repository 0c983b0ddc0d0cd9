"""Sensor calibration: accelerometer offset and scale per axis (six-position method), gyro bias at
rest; stored as JSON in the state directory and applied to every sample before it leaves the
source. Refreshing the gyro bias during still periods is the analysis's job
(analysis.orientation); this stored bias is only its starting point."""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from analysis.errors import DataError
from analysis.units import STANDARD_GRAVITY_MPS2
from imu.samples import SampleBlock

log = logging.getLogger(__name__)
FILE_NAME = "imu_calibration.json"
POSES = ("+x", "-x", "+y", "-y", "+z", "-z")        # which sensor axis points up


@dataclass
class Calibration:
    """corrected_accel = (raw - accel_offset_mps2) * accel_scale; corrected_gyro = raw - gyro_bias_dps."""

    accel_offset_mps2: np.ndarray = field(default_factory=lambda: np.zeros(3))
    accel_scale: np.ndarray = field(default_factory=lambda: np.ones(3))
    gyro_bias_dps: np.ndarray = field(default_factory=lambda: np.zeros(3))
    chip: str = ""
    created: str = ""

    def apply(self, accel_mps2: np.ndarray, gyro_dps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (accel_mps2 - self.accel_offset_mps2) * self.accel_scale, gyro_dps - self.gyro_bias_dps

    def to_dict(self) -> dict:
        return {"chip": self.chip, "created": self.created,
                "accel_offset_mps2": [float(v) for v in self.accel_offset_mps2],
                "accel_scale": [float(v) for v in self.accel_scale],
                "gyro_bias_dps": [float(v) for v in self.gyro_bias_dps]}

    @classmethod
    def from_dict(cls, d: dict, where: str = "calibration") -> Calibration:
        try:
            vecs = {k: np.asarray(d[k], float) for k in ("accel_offset_mps2", "accel_scale", "gyro_bias_dps")}
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{where}: missing or malformed field: {e}") from None
        for k, v in vecs.items():
            if v.shape != (3,) or not np.all(np.isfinite(v)):
                raise DataError(f"{where}: {k} must be three finite numbers")
        if np.any(vecs["accel_scale"] < 0.5) or np.any(vecs["accel_scale"] > 2.0):
            raise DataError(f"{where}: accel_scale {vecs['accel_scale']} is implausible (0.5..2)")
        return cls(chip=str(d.get("chip", "")), created=str(d.get("created", "")), **vecs)


def save(cal: Calibration, state_dir: str | os.PathLike) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves half a file."""
    directory = Path(state_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(cal.to_dict(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def load(state_dir: str | os.PathLike | None, chip: str | None = None) -> Calibration | None:
    """The stored calibration, or None when there is none (or it belongs to another chip)."""
    if state_dir is None:
        return None
    path = Path(state_dir) / FILE_NAME
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read calibration: {e}") from None
    cal = Calibration.from_dict(raw, str(path))
    if chip and cal.chip and cal.chip != chip:
        log.warning("%s was made for a %s, not this %s: ignored", path, cal.chip, chip)
        return None
    return cal


def is_still(accel_mps2: np.ndarray, gyro_dps: np.ndarray, gyro_tol_dps: float = 4.0,
             accel_tol_mps2: float = 0.15) -> bool:
    """No rotation and a steady specific force near 1 g over the whole window."""
    if len(accel_mps2) < 2:
        return False
    norm = np.linalg.norm(accel_mps2.mean(axis=0))
    return (np.abs(gyro_dps - np.median(gyro_dps, axis=0)).max() < gyro_tol_dps
            and accel_mps2.std(axis=0).max() < accel_tol_mps2
            and abs(norm - STANDARD_GRAVITY_MPS2) < 0.2 * STANDARD_GRAVITY_MPS2)


class SixPosition:
    """Six-position accelerometer calibration: the sensor rests with each axis up and down in
    turn; each still second with a new axis pointing up is captured. Offset = (up + down) / 2,
    scale = 2 g / (up - down) per axis. The gyro bias is the mean over all still captures."""

    def __init__(self, rate_hz: float, still_s: float = 1.0):
        self.window = max(10, int(round(rate_hz * still_s)))
        self._accel = np.empty((0, 3))
        self._gyro = np.empty((0, 3))
        self.poses: dict[str, np.ndarray] = {}
        self.gyro_means: list[np.ndarray] = []

    @property
    def missing(self) -> list[str]:
        return [p for p in POSES if p not in self.poses]

    @property
    def done(self) -> bool:
        return not self.missing

    def feed(self, block: SampleBlock) -> str | None:
        """Add samples; returns the pose just captured, if any."""
        self._accel = np.concatenate([self._accel, block.accel_mps2])[-self.window:]
        self._gyro = np.concatenate([self._gyro, block.gyro_dps])[-self.window:]
        if len(self._accel) < self.window or not is_still(self._accel, self._gyro):
            return None
        mean = self._accel.mean(axis=0)
        axis = int(np.argmax(np.abs(mean)))
        if abs(mean[axis]) < 0.9 * np.linalg.norm(mean):
            return None                          # tilted: no axis clearly up
        pose = ("+" if mean[axis] > 0 else "-") + "xyz"[axis]
        self.gyro_means.append(self._gyro.mean(axis=0))
        self._accel, self._gyro = np.empty((0, 3)), np.empty((0, 3))
        if pose in self.poses:
            return None
        self.poses[pose] = mean
        return pose

    def solve(self, chip: str = "") -> Calibration:
        if not self.done:
            raise DataError(f"calibration incomplete: missing poses {', '.join(self.missing)}")
        offset, scale = np.zeros(3), np.ones(3)
        for i, a in enumerate("xyz"):
            up, down = self.poses["+" + a][i], self.poses["-" + a][i]
            offset[i] = (up + down) / 2
            scale[i] = 2 * STANDARD_GRAVITY_MPS2 / (up - down)
        gyro_bias = np.mean(self.gyro_means, axis=0) if self.gyro_means else np.zeros(3)
        return Calibration(offset, scale, gyro_bias, chip,
                           datetime.now(UTC).isoformat(timespec="seconds"))

