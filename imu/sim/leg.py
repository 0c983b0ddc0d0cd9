"""Rigid-body kinematics of the lifted leg and the ideal IMU physics at the strap point.

World frame: x forward, y left, z up, origin at the stance foot at the start. Segment frame: x
anterior, y to the person's left, z along the segment towards the hip. The whole body tilts about the
stance ankle (sway, both planes) and turns about the vertical (heading); the leg hangs from the hip in
its sagittal plane (thigh angle, knee flexion) with a little ab/adduction. The sensor's axes are the
segment's turned by the mount rotation: ``R_sensor = R_segment @ R_mount``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from analysis.reps import PLACEMENTS
from analysis.units import STANDARD_GRAVITY_MPS2
from imu.sim.keyframes import Trajectory, minjerk


@dataclass(frozen=True)
class LegGeometry:
    """Body dimensions (m) and where the strap sits."""

    thigh_length_m: float = 0.45
    shank_length_m: float = 0.43
    stance_hip_height_m: float = 0.92     # stance ankle to hip joint when standing tall
    hip_spacing_m: float = 0.18           # lateral distance between the two hip joints
    strap_fraction: float = 0.55          # strap point along the segment, from its proximal joint
    strap_radius_m: float = 0.06          # strap point off the segment axis (skin surface)
    strap_azimuth_deg: float = 0.0        # around the segment: 0 front, +90 towards the left


def rot_x(a_rad: np.ndarray) -> np.ndarray:
    c, s = np.cos(a_rad), np.sin(a_rad)
    o, z = np.ones_like(c), np.zeros_like(c)
    return np.stack([o, z, z, z, c, -s, z, s, c], axis=-1).reshape(*np.shape(c), 3, 3)


def rot_y(a_rad: np.ndarray) -> np.ndarray:
    c, s = np.cos(a_rad), np.sin(a_rad)
    o, z = np.ones_like(c), np.zeros_like(c)
    return np.stack([c, z, s, z, o, z, -s, z, c], axis=-1).reshape(*np.shape(c), 3, 3)


def rot_z(a_rad: np.ndarray) -> np.ndarray:
    c, s = np.cos(a_rad), np.sin(a_rad)
    o, z = np.ones_like(c), np.zeros_like(c)
    return np.stack([c, -s, z, s, c, z, z, z, o], axis=-1).reshape(*np.shape(c), 3, 3)


class LegMotion:
    """Ideal sensor physics of a strap point on the lifted leg; ``at(t_s)`` is the contract the
    emulated chips rely on: (accel_mps2 (n,3), gyro_dps (n,3)) in the sensor frame, no sensor errors."""

    def __init__(self, trajectory: Trajectory, placement: str = "thigh", side: str = "left",
                 geometry: LegGeometry = LegGeometry(), step_s: float = 1e-3):
        if placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, not {placement!r}")
        if side not in ("left", "right"):
            raise ValueError(f"side must be 'left' or 'right', not {side!r}")
        self.trajectory, self.placement, self.side, self.geometry = trajectory, placement, side, geometry
        self.step_s = step_s
        self._side_sign = 1.0 if side == "left" else -1.0
        self._mount_times = np.array([c[0] for c in trajectory.mount_changes])
        mounts = [np.asarray(trajectory.mount_initial, dtype=float)]
        self._mount_steps = []     # (start_s, end_s, R_before, rotvec to R_new in R_before's frame)
        for t0, t1, r_new in trajectory.mount_changes:
            rel = Rotation.from_matrix(mounts[-1].T @ r_new).as_rotvec()
            self._mount_steps.append((t0, t1, mounts[-1], rel))
            mounts.append(np.asarray(r_new, dtype=float))

    @property
    def duration_s(self) -> float:
        """Length of the scripted session; ``at`` holds the final pose (with sway) beyond it."""
        return self.trajectory.duration_s

    def sway_deg(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """True whole-body tilt about the stance ankle: (ML + towards the lifted side, AP + forward)."""
        tr = self.trajectory
        level = tr.channels["sway_level_deg"].value(t_s)
        return level * tr.sway_ml.value(t_s), level * tr.sway_ap.value(t_s)

    def segment_angle_deg(self, t_s: np.ndarray) -> np.ndarray:
        """Scripted angle of the sensor's segment from vertical (+ forward), without sway."""
        ch = self.trajectory.channels
        thigh = ch["thigh_deg"].value(t_s)
        return thigh if self.placement == "thigh" else thigh - ch["knee_deg"].value(t_s)

    def mount_at(self, t_s: np.ndarray) -> np.ndarray:
        """Mount rotation (n, 3, 3): sensor axes expressed in segment axes."""
        t_s = np.asarray(t_s, dtype=float)
        out = np.broadcast_to(np.asarray(self.trajectory.mount_initial, float), (len(t_s), 3, 3)).copy()
        if not self._mount_steps:
            return out
        which = np.searchsorted(self._mount_times, t_s, side="right") - 1
        for k, (t0, t1, r_before, rel) in enumerate(self._mount_steps):
            sel = which == k
            if not np.any(sel):
                continue
            frac = minjerk((t_s[sel] - t0) / (t1 - t0))
            turn = Rotation.from_rotvec(np.outer(frac, rel)).as_matrix()
            out[sel] = r_before @ turn
        return out

    def body_pose(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The body's orientation (n, 3, 3): heading, and the sway about the stance ankle; and the
        position of that ankle (n, 3), metres, where walking has taken it."""
        ch, sgn, rad = self.trajectory.channels, self._side_sign, np.pi / 180.0
        sway_ml, sway_ap = self.sway_deg(t_s)
        body = (rot_z(ch["heading_deg"].value(t_s) * rad)
                @ rot_x(sgn * ch["body_roll_deg"].value(t_s) * rad) @ rot_y(ch["body_pitch_deg"].value(t_s) * rad)
                @ rot_x(-sgn * sway_ml * rad) @ rot_y(sway_ap * rad))
        root = np.stack([ch[k].integral(t_s) for k in ("vel_x_mps", "vel_y_mps", "vel_z_mps")], axis=-1)
        return body, root

    def pose(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sensor orientation in the world (n, 3, 3) and strap-point position (n, 3), metres."""
        t_s = np.asarray(t_s, dtype=float)
        tr, g, sgn = self.trajectory, self.geometry, self._side_sign
        ch = tr.channels
        rad = np.pi / 180.0
        wobble = ch["wobble_level_deg"].value(t_s) * tr.wobble.value(t_s)
        abduct = (ch["abduct_deg"].value(t_s) + wobble) * rad * sgn
        body, root = self.body_pose(t_s)
        hip_local = np.stack([ch["hip_dx_m"].value(t_s), np.full(len(t_s), sgn * g.hip_spacing_m),
                              g.stance_hip_height_m + ch["hip_dz_m"].value(t_s)], axis=-1)
        hip = root + np.einsum("nij,nj->ni", body, hip_local)
        thigh = ch["thigh_deg"].value(t_s) * rad
        leg_plane = body @ rot_x(abduct)
        r_thigh = leg_plane @ rot_y(-thigh)
        az = g.strap_azimuth_deg * rad
        off = np.array([g.strap_radius_m * np.cos(az), g.strap_radius_m * np.sin(az), 0.0])
        if self.placement == "thigh":
            r_seg = r_thigh
            strap_local = off + [0.0, 0.0, -g.strap_fraction * g.thigh_length_m]
            origin = hip
        else:
            r_seg = leg_plane @ rot_y(-(thigh - ch["knee_deg"].value(t_s) * rad))
            strap_local = off + [0.0, 0.0, -g.strap_fraction * g.shank_length_m]
            origin = hip + r_thigh[:, :, 2] * -g.thigh_length_m
        p = origin + r_seg @ strap_local
        return r_seg @ self.mount_at(t_s), p

    def at(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ideal specific force (m/s^2) and angular rate (deg/s) in the sensor frame at each time."""
        return ideal_imu(self.pose, t_s, self.step_s)


class StanceShank:
    """Ideal physics of a second sensor on the standing leg's shank (the optional second sensor):
    it tilts with the whole-body sway about the stance ankle and turns with the heading; the same
    ``at`` contract as :class:`LegMotion`. ``mount``: sensor axes in body axes (x forward, z up)."""

    def __init__(self, leg: LegMotion, mount=None, height_m: float = 0.25):
        self.leg, self.height_m = leg, height_m
        self.mount = np.eye(3) if mount is None else np.asarray(mount, float)

    @property
    def duration_s(self) -> float:
        return self.leg.duration_s

    def pose(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        body, ankle = self.leg.body_pose(t_s)
        return body @ self.mount, ankle + body[:, :, 2] * self.height_m

    def at(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return ideal_imu(self.pose, t_s, self.leg.step_s)


def ideal_imu(pose, t_s: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Specific force (m/s^2) and angular rate (deg/s) in the sensor frame from ``pose(t)`` ->
    (orientation (n, 3, 3), position (n, 3)), by central differences over ``h`` seconds."""
    t_s = np.asarray(t_s, dtype=float).ravel()
    n = len(t_s)
    r, p = pose(np.concatenate([t_s - h, t_s, t_s + h]))
    r_m, r_0, r_p = r[:n], r[n:2 * n], r[2 * n:]
    accel_world = (p[2 * n:] - 2.0 * p[n:2 * n] + p[:n]) / (h * h)
    accel_world[:, 2] += STANDARD_GRAVITY_MPS2
    force = np.einsum("nji,nj->ni", r_0, accel_world)
    w = np.swapaxes(r_0, 1, 2) @ ((r_p - r_m) / (2.0 * h))
    gyro_rps = 0.5 * np.stack([w[:, 2, 1] - w[:, 1, 2], w[:, 0, 2] - w[:, 2, 0], w[:, 1, 0] - w[:, 0, 1]], axis=-1)
    return force, np.degrees(gyro_rps)
