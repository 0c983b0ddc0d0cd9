"""Keyframed channels with minimum-jerk transitions, and smooth random processes.

Every simulated trajectory is a handful of scalar channels keyed at times. Between two keys a channel
follows the minimum-jerk profile, so its velocity and acceleration are zero at each key and continuous
everywhere: finite differences of the resulting positions give clean, bounded accelerations.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_U_TABLE = np.linspace(0.0, 1.0, 2001)


def minjerk(u: np.ndarray) -> np.ndarray:
    """Minimum-jerk blend 0 -> 1 over u in [0, 1] (clipped outside)."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * u * (10.0 + u * (-15.0 + 6.0 * u))


def minjerk_integral(u: np.ndarray) -> np.ndarray:
    """Integral of :func:`minjerk` from 0 to u, u in [0, 1]; equals 1/2 at u = 1."""
    u = np.clip(u, 0.0, 1.0)
    return u ** 4 * (2.5 + u * (-3.0 + u))


def minjerk_inverse(frac: float) -> float:
    """The u in [0, 1] at which the minimum-jerk blend reaches ``frac`` (monotone, so unique)."""
    return float(np.interp(frac, minjerk(_U_TABLE), _U_TABLE))


class Channel:
    """A frozen keyed scalar channel: held constant outside its keys, minimum-jerk between them."""

    def __init__(self, times_s, values):
        t = np.asarray(times_s, dtype=float)
        v = np.asarray(values, dtype=float)
        if len(t) == 0:
            t, v = np.zeros(1), np.zeros(1)
        if np.any(np.diff(t) <= 0):
            raise ValueError("channel key times must increase strictly")
        self.t, self.v = t, v
        seg = np.diff(t) * (v[:-1] + v[1:]) / 2.0          # each segment's area (blend integral = 1/2)
        self._area = np.concatenate([[0.0], np.cumsum(seg)])

    def _locate(self, t_s: np.ndarray):
        i = np.clip(np.searchsorted(self.t, t_s, side="right") - 1, 0, max(len(self.t) - 2, 0))
        return i

    def value(self, t_s: np.ndarray) -> np.ndarray:
        """Channel value at each time."""
        t_s = np.asarray(t_s, dtype=float)
        if len(self.t) == 1:
            return np.full(t_s.shape, self.v[0])
        i = self._locate(t_s)
        d = self.t[i + 1] - self.t[i]
        return self.v[i] + (self.v[i + 1] - self.v[i]) * minjerk((t_s - self.t[i]) / d)

    def integral(self, t_s: np.ndarray) -> np.ndarray:
        """Integral of the channel from its first key to each time (negative before it)."""
        t_s = np.asarray(t_s, dtype=float)
        if len(self.t) == 1:
            return self.v[0] * (t_s - self.t[0])
        i = self._locate(t_s)
        t0, d = self.t[i], self.t[i + 1] - self.t[i]
        u = (t_s - t0) / d
        inside = np.clip(u, 0.0, 1.0)
        out = self._area[i] + d * (self.v[i] * inside + (self.v[i + 1] - self.v[i]) * minjerk_integral(u))
        out += np.where(u > 1.0, (t_s - self.t[i + 1]) * self.v[i + 1], 0.0)
        out += np.where(u < 0.0, (t_s - t0) * self.v[i], 0.0)
        return out


class SineNoise:
    """Smooth zero-mean random process of unit RMS: a sum of sinusoids with random frequencies in a
    band, random phases and weights. Cheap, exact at any time, infinitely differentiable."""

    def __init__(self, rng: np.random.Generator, band_hz: tuple[float, float], n: int = 8):
        self.freq_hz = rng.uniform(band_hz[0], band_hz[1], n)
        self.phase_rad = rng.uniform(0.0, 2.0 * np.pi, n)
        amp = rng.uniform(0.3, 1.0, n) / np.sqrt(self.freq_hz / band_hz[0])   # more power at low frequency
        self.amp = amp / np.sqrt(np.sum(amp ** 2) / 2.0)

    def value(self, t_s: np.ndarray) -> np.ndarray:
        t_s = np.asarray(t_s, dtype=float)
        arg = np.multiply.outer(t_s, 2.0 * np.pi * self.freq_hz) + self.phase_rad
        return np.sin(arg) @ self.amp


class ZeroNoise:
    """A process that is always zero (for scripted tests without sway)."""

    def value(self, t_s: np.ndarray) -> np.ndarray:
        return np.zeros(np.shape(t_s))


CHANNELS: dict[str, float] = {
    "thigh_deg": 0.0,          # thigh angle from vertical in the leg's plane, + forward (march)
    "knee_deg": 0.0,           # knee flexion >= 0; shank angle = thigh - knee
    "abduct_deg": 0.0,         # hip abduction (+ leg out sideways), scripted part
    "body_pitch_deg": 0.0,     # whole body tilted back (-90: lying on the back, +90: face down)
    "body_roll_deg": 0.0,      # whole body rolled towards the lifted side's opposite (90: lying on the other side)
    "hip_dx_m": 0.0,           # hip shift forward in the body frame (back in a hinge, seat when sitting)
    "hip_dz_m": 0.0,           # hip shift up in the body frame (lowers in a hinge, walking bob, sitting)
    "heading_deg": 0.0,        # body heading about the vertical, + turning left
    "vel_x_mps": 0.0,          # body (stance foot) velocity in the world, integrated to position
    "vel_y_mps": 0.0,
    "vel_z_mps": 0.0,
    "sway_level_deg": 0.0,     # RMS of whole-body sway about the stance ankle, each plane
    "wobble_level_deg": 0.0,   # RMS of random hip ab/adduction wobble
}


@dataclass
class Trajectory:
    """Everything that determines the leg's motion: frozen channels, random processes, mount changes.

    ``mount_changes`` holds (start_s, end_s, R_new): the sensor turns on the strap from the previous
    mount rotation to ``R_new`` (3x3, sensor axes in segment axes) between the two times.
    """

    channels: dict[str, Channel]
    duration_s: float
    mount_initial: np.ndarray = field(default_factory=lambda: np.eye(3))
    mount_changes: list[tuple[float, float, np.ndarray]] = field(default_factory=list)
    sway_ap: object = field(default_factory=ZeroNoise)
    sway_ml: object = field(default_factory=ZeroNoise)
    wobble: object = field(default_factory=ZeroNoise)


class Script:
    """Builder of a :class:`Trajectory`: activity writers append keys to channels in time order."""

    def __init__(self, start: dict[str, float] | None = None):
        init = {**CHANNELS, **(start or {})}
        self._keys = {name: ([0.0], [value]) for name, value in init.items()}
        self.mount_initial = np.eye(3)
        self.mount_changes: list[tuple[float, float, np.ndarray]] = []

    def last(self, name: str) -> tuple[float, float]:
        ts, vs = self._keys[name]
        return ts[-1], vs[-1]

    @property
    def last_key_s(self) -> float:
        """Time of the latest key on any channel or mount change."""
        ends = [ts[-1] for ts, _ in self._keys.values()] + [c[1] for c in self.mount_changes]
        return max(ends)

    def move(self, name: str, t0_s: float, t1_s: float, value: float) -> None:
        """Hold ``name`` at its current value until t0_s, then blend to ``value`` by t1_s."""
        ts, vs = self._keys[name]
        if t0_s < ts[-1] - 1e-9:
            raise ValueError(f"{name}: key at {t0_s:.3f} s is before the last key {ts[-1]:.3f} s")
        if t0_s > ts[-1] + 1e-9:
            ts.append(t0_s)
            vs.append(vs[-1])
        if t1_s <= t0_s + 1e-9:
            raise ValueError(f"{name}: a move needs time ({t0_s:.3f} -> {t1_s:.3f} s)")
        ts.append(t1_s)
        vs.append(float(value))

    def moves(self, t0_s: float, t1_s: float, **values: float) -> None:
        """Several channels moving together over the same interval."""
        for name, value in values.items():
            self.move(name, t0_s, t1_s, value)

    @property
    def mount_last(self) -> np.ndarray:
        """The mount rotation after the latest change (sensor axes in segment axes)."""
        return self.mount_changes[-1][2] if self.mount_changes else np.asarray(self.mount_initial, dtype=float)

    def change_mount(self, t0_s: float, t1_s: float, mount_new: np.ndarray) -> None:
        if self.mount_changes and t0_s < self.mount_changes[-1][1] - 1e-9:
            raise ValueError(f"mount change at {t0_s:.3f} s overlaps the last one "
                             f"(to {self.mount_changes[-1][1]:.3f} s)")
        self.mount_changes.append((t0_s, t1_s, np.asarray(mount_new, dtype=float)))

    def freeze(self, duration_s: float, **noises) -> Trajectory:
        channels = {name: Channel(ts, vs) for name, (ts, vs) in self._keys.items()}
        return Trajectory(channels, duration_s, self.mount_initial, list(self.mount_changes), **noises)
