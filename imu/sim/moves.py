"""Keyframe writers for each activity of a session: the exercise rep and what people do between sets.

Each writer appends keys to a :class:`~imu.sim.keyframes.Script` starting at ``t_s`` (the body
standing still, leg hanging) and returns the time it is back at standing. Angles in degrees.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from imu.sim.keyframes import Script, minjerk_inverse

HINGE_HIP_DROP_M = 0.06      # hip lowers this much in a 90 deg hinge (and shifts back as much)
STANDING = dict(thigh_deg=0.0, knee_deg=2.0, hip_dx_m=0.0, hip_dz_m=0.0, abduct_deg=0.0)
WALKING = dict(thigh_deg=25.0, knee_deg=5.0)   # at heel strike, where each stride of _gait starts


@dataclass
class Rep:
    """One planned rep: depth and height of the thigh, timing (s) and knee angles."""

    depth_deg: float
    height_deg: float
    tempo_s: float
    hold_bottom_s: float = 0.0
    hold_top_s: float = 0.0
    knee_hinge_deg: float = 5.0
    knee_march_deg: float = 90.0
    false_start_deg: float = 0.0    # > 0: a shallow abandoned hinge before this rep
    tap_inside_s: float = 0.0       # > 0: foot touches down between hinge and march
    tap_after_s: float = 0.0        # > 0: foot touches down after the rep
    flow_into_next: bool = False    # march top goes straight into the next hinge
    pause_s: float = 0.3            # standing pause after the rep (if not flowing)
    min_movement_s: float = 1.0     # the movement (hinge, march, back) never takes less than this

    @property
    def movement_s(self) -> float:
        return max(self.tempo_s - self.hold_bottom_s - self.hold_top_s, 0.8 * self.tempo_s, self.min_movement_s)


@dataclass
class RepResult:
    start_s: float
    completion_s: float
    taps_s: list[float]
    false_start: tuple[float, float] | None


def _hinge_keys(depth_deg: float, knee_deg: float) -> dict:
    k = depth_deg / 90.0
    return dict(thigh_deg=-depth_deg, knee_deg=knee_deg, hip_dx_m=-HINGE_HIP_DROP_M * k,
                hip_dz_m=-HINGE_HIP_DROP_M * k)


def write_false_start(s: Script, t_s: float, depth_deg: float, rng) -> float:
    """A shallow hinge abandoned: down, back to standing, a pause."""
    t1 = t_s + rng.uniform(0.5, 1.0)
    s.moves(t_s, t1, **_hinge_keys(depth_deg, 4.0))
    t2 = t1 + rng.uniform(0.1, 0.4)
    t3 = t2 + rng.uniform(0.5, 0.9)
    s.moves(t2, t3, **STANDING)
    return t3 + rng.uniform(0.4, 1.2)


def _foot_down(s: Script, t_s: float, duration_s: float) -> None:
    """Both feet on the ground for a moment: the body steadies, then sways again."""
    level = s.last("sway_level_deg")[1]
    s.move("sway_level_deg", t_s, t_s + min(0.3, duration_s / 2), 0.2 * level)
    s.move("sway_level_deg", t_s + duration_s, t_s + duration_s + 0.4, level)


def write_set(s: Script, t_s: float, reps: list[Rep], rng) -> list[RepResult]:
    """All reps of a set from standing; returns per-rep start, completion, taps and false start."""
    results, t, at_bottom = [], t_s, False
    for i, rep in enumerate(reps):
        m, taps, fs = rep.movement_s, [], None
        if rep.false_start_deg > 0 and not at_bottom:
            t_end = write_false_start(s, t, rep.false_start_deg, rng)
            fs, t = (t, t_end), t_end
        start = results[-1].completion_s if at_bottom else t    # flowing in: it left standing then
        if not at_bottom:
            s.moves(t, t + 0.3 * m, **_hinge_keys(rep.depth_deg, rep.knee_hinge_deg))
            t += 0.3 * m
        t += rep.hold_bottom_s
        march = dict(thigh_deg=rep.height_deg, knee_deg=rep.knee_march_deg, hip_dx_m=0.0, hip_dz_m=0.0)
        if rep.tap_inside_s > 0:
            s.moves(t, t + 0.25 * m, **STANDING)
            taps.append(t + 0.25 * m)
            _foot_down(s, t + 0.25 * m, rep.tap_inside_s)
            t += 0.25 * m + rep.tap_inside_s
            s.moves(t, t + 0.3 * m, **march)
            t += 0.3 * m
        else:
            s.moves(t, t + 0.4 * m, **march)
            t += 0.4 * m
        t += rep.hold_top_s
        nxt = reps[i + 1] if i + 1 < len(reps) else None
        if rep.flow_into_next and nxt is not None and nxt.false_start_deg <= 0:
            d = 0.3 * m + 0.3 * nxt.movement_s
            s.moves(t, t + d, **_hinge_keys(nxt.depth_deg, nxt.knee_hinge_deg))
            completion = t + d * minjerk_inverse(rep.height_deg / (rep.height_deg + nxt.depth_deg))
            t += d
            at_bottom = True
        else:
            s.moves(t, t + 0.3 * m, **STANDING)
            t += 0.3 * m
            completion = t
            if rep.tap_after_s > 0:
                taps.append(t + 0.05)
                _foot_down(s, t, rep.tap_after_s)
                t += rep.tap_after_s
            t += rep.pause_s
            at_bottom = False
        results.append(RepResult(start, completion, taps, fs))
    return results


def _step_keys(s: Script, t_s: float, stride_s: float, thigh_keys, knee_keys) -> None:
    for name, keys in (("thigh_deg", thigh_keys), ("knee_deg", knee_keys)):
        t_prev = t_s
        for frac, value in keys:
            s.move(name, t_prev, t_s + frac * stride_s, value)
            t_prev = t_s + frac * stride_s


def _gait(s: Script, t_s: float, n_strides: int, stride_s: float, speed_mps: float, heading_deg: float,
          rng, climb_mps: float = 0.0, pattern: str = "walk") -> float:
    """Strides in a straight line at ``heading_deg``: leg keys per stride, body velocity, hip bob."""
    c, sn = np.cos(np.radians(heading_deg)), np.sin(np.radians(heading_deg))
    ramp = 0.5 * stride_s
    s.moves(t_s, t_s + ramp, vel_x_mps=speed_mps * c, vel_y_mps=speed_mps * sn, vel_z_mps=climb_mps)
    for k in range(n_strides):
        t0 = t_s + k * stride_s
        j = rng.normal(1.0, 0.06)
        if pattern == "walk":
            # stride from heel strike: thigh +25 -> -12 at toe-off -> +25; knee swing peak ~60
            thigh = [(0.6, -12.0 * j), (1.0, 25.0 * j)]
            knee = [(0.15, 15.0), (0.45, 5.0), (0.72, 60.0 * j), (1.0, 5.0)]
        elif pattern == "up":
            thigh = [(0.2, -5.0), (0.55, 60.0 * j), (0.65, 52.0 * j), (1.0, 0.0)]
            knee = [(0.2, 35.0), (0.55, 90.0 * j), (0.65, 70.0), (1.0, 4.0)]
        else:  # down
            thigh = [(0.3, 30.0 * j), (0.6, 12.0), (1.0, 0.0)]
            knee = [(0.3, 55.0 * j), (0.6, 20.0), (1.0, 4.0)]
        _step_keys(s, t0, stride_s, thigh, knee)
        for half in (0.0, 0.5):
            s.move("hip_dz_m", t0 + half * stride_s, t0 + (half + 0.25) * stride_s, -0.02)
            s.move("hip_dz_m", t0 + (half + 0.25) * stride_s, t0 + (half + 0.5) * stride_s, 0.0)
    t_end = t_s + n_strides * stride_s
    s.moves(t_end - ramp, t_end, vel_x_mps=0.0, vel_y_mps=0.0, vel_z_mps=0.0)
    s.moves(t_end, t_end + 0.4 * stride_s, thigh_deg=0.0, knee_deg=3.0)
    return t_end + 0.4 * stride_s


def _turn(s: Script, t_s: float, by_deg: float, duration_s: float) -> float:
    duration_s = max(duration_s, abs(by_deg) / 120.0)      # people turn at ~100-200 deg/s peak
    s.move("heading_deg", t_s, t_s + duration_s, s.last("heading_deg")[1] + by_deg)
    return t_s + duration_s


def write_walk(s: Script, t_s: float, budget_s: float, rng) -> float:
    """Walk somewhere and back: turn, strides out, turn round, the same strides back, turn back."""
    stride = rng.uniform(0.95, 1.2)
    n = max(2, int((budget_s - 4.0) / (2 * stride)))
    speed = rng.uniform(1.0, 1.35)
    heading0 = s.last("heading_deg")[1]
    t = _turn(s, t_s, rng.uniform(-150.0, 150.0), 1.0)
    t = _gait(s, t, n, stride, speed, s.last("heading_deg")[1], rng)
    t = _turn(s, t, rng.choice([-180.0, 180.0]), 1.2)
    t = _gait(s, t, n, stride, speed, s.last("heading_deg")[1], rng)
    back = (heading0 - s.last("heading_deg")[1] + 180.0) % 360.0 - 180.0
    return _turn(s, t, back, 1.0)


def write_stairs(s: Script, t_s: float, budget_s: float, rng) -> float:
    """Up a flight of stairs and back down; the body's height returns exactly to where it was."""
    stride = rng.uniform(1.1, 1.4)
    n = int(np.clip((budget_s - 3.0) / (2 * stride), 2, 7))
    rise, tread = 0.17, 0.28
    t = _gait(s, t_s, n, stride, 2 * tread / stride, s.last("heading_deg")[1], rng,
              climb_mps=2 * rise / stride, pattern="up")
    t = _turn(s, t, 180.0, 1.5)
    t = _gait(s, t, n, stride, 2 * tread / stride, s.last("heading_deg")[1], rng,
              climb_mps=-2 * rise / stride, pattern="down")
    return _turn(s, t, -180.0, 1.5)


def seated(rng) -> dict:
    """Keys of sitting on a bench: thigh ~90 deg forward, knee ~90 deg, hips low and back, no sway."""
    return dict(thigh_deg=rng.uniform(80, 95), knee_deg=rng.uniform(80, 95), hip_dz_m=-0.45, hip_dx_m=-0.12,
                sway_level_deg=0.0)


def write_sit_stand(s: Script, t_s: float, budget_s: float, rng) -> float:
    """Sit down on a bench, stay, stand up."""
    down, up = rng.uniform(1.5, 2.5), rng.uniform(1.2, 2.0)
    sit = max(2.0, min(budget_s - down - up, rng.uniform(5.0, 25.0)))
    t1 = t_s + down
    sway_deg = s.last("sway_level_deg")[1]
    s.moves(t_s, t1, **seated(rng))
    t2 = t1 + sit
    s.moves(t2, t2 + up, sway_level_deg=sway_deg, **STANDING)
    return t2 + up


def write_stand_up(s: Script, t_s: float, sway_deg: float, rng) -> float:
    """Still sitting (the script begun at :func:`seated`) for 5-20 s, then up to standing with
    ``sway_deg`` of sway."""
    t1 = t_s + rng.uniform(5.0, 20.0)
    t2 = t1 + rng.uniform(1.2, 2.0)
    s.moves(t1, t2, sway_level_deg=sway_deg, **STANDING)
    return t2


def write_walk_in(s: Script, t_s: float, budget_s: float, speed_mps: float, rng) -> float:
    """Arriving on foot: already mid-walk at t_s (the script begun at :data:`WALKING` with
    ``vel_x_mps = speed_mps``), strides on for at least budget_s, stops and turns to the spot."""
    stride = rng.uniform(0.95, 1.2)
    t = _gait(s, t_s, int(np.ceil(budget_s / stride)), stride, speed_mps, s.last("heading_deg")[1], rng)
    return _turn(s, t, rng.uniform(-150.0, 150.0), 1.0)


def write_fidget(s: Script, t_s: float, budget_s: float, rng) -> float:
    """A few small random leg motions (under ~15 deg), then back to standing."""
    t = t_s
    for _ in range(rng.integers(2, 6)):
        d = rng.uniform(0.4, 1.2)
        s.moves(t, t + d, thigh_deg=rng.uniform(-12, 15), knee_deg=rng.uniform(0, 15),
                abduct_deg=rng.uniform(-8, 8))
        t += d + rng.uniform(0.0, 0.8)
    s.moves(t, t + 0.8, **STANDING)
    return t + 0.8


def write_strap_adjust(s: Script, t_s: float, mount_new: np.ndarray, rng) -> float:
    """The sensor turns on the strap to a new mount while fumbling, then the person stands still."""
    fumble = rng.uniform(2.0, 4.0)
    s.change_mount(t_s, t_s + fumble, mount_new)
    return t_s + fumble + rng.uniform(3.0, 6.0)


def write_strap_slip(s: Script, t_s: float, angle_deg: float, axis, rng) -> float:
    """The strap slips: within 0.2-0.6 s the sensor turns on the leg by ``angle_deg`` about ``axis``
    (a unit vector in segment axes). About y, the leg's flexion axis, it stays in the movement plane:
    the sensor then sees the same flexion axis, only its angle from vertical is off."""
    d = rng.uniform(0.2, 0.6)
    turn = Rotation.from_rotvec(np.radians(angle_deg) * np.asarray(axis, dtype=float)).as_matrix()
    s.change_mount(t_s, t_s + d, turn @ s.mount_last)     # a turn in segment axes acts from the left
    return t_s + d


# Stretches: per joint channel, the range of the pose's centre and of the swing about it (deg), and
# the range of each swing's duration (s).
STRETCHES: dict[str, dict] = {
    "quad": dict(thigh_deg=((-15, 5), (5, 10)), knee_deg=((135, 160), (4, 8)), abduct_deg=((-5, 5), (3, 6)),
                 swing_s=(0.5, 1.1)),             # foot held behind, thigh near vertical, pulsing
    "hamstring": dict(thigh_deg=((25, 60), (5, 10)), knee_deg=((0, 10), (3, 6)), abduct_deg=((-5, 5), (3, 6)),
                      swing_s=(0.5, 1.1)),        # leg forward, heel down, bobbing
    "swing": dict(thigh_deg=((5, 15), (25, 40)), knee_deg=((10, 25), (8, 15)), abduct_deg=((-3, 3), (3, 6)),
                  swing_s=(0.5, 0.9)),            # leg swings forward and back
    "side_swing": dict(thigh_deg=((5, 15), (5, 10)), knee_deg=((5, 15), (4, 8)), abduct_deg=((5, 15), (15, 25)),
                       swing_s=(0.5, 0.9)),       # leg swings out and across
}


def write_stretch(s: Script, t_s: float, duration_s: float, rng) -> float:
    """Stretching for about duration_s without a still second: stretches of :data:`STRETCHES` one
    after another, the joints swinging about the pose all the time; the body sways more, balancing
    on one leg. Ends standing."""
    sway, wobble = s.last("sway_level_deg")[1], s.last("wobble_level_deg")[1]
    s.moves(t_s, t_s + 1.0, sway_level_deg=rng.uniform(1.0, 2.5), wobble_level_deg=rng.uniform(1.5, 3.0))
    joints, t, end = ("thigh_deg", "knee_deg", "abduct_deg"), t_s, t_s + duration_s
    while t < end - 5.0:
        spec = STRETCHES[list(STRETCHES)[rng.integers(len(STRETCHES))]]
        t_until = min(end, t + rng.uniform(15.0, 40.0))
        pose = {name: (rng.uniform(*spec[name][0]), rng.uniform(*spec[name][1])) for name in joints}
        # Thigh and knee swing in step, the knee the other way (so the shank swings more than the
        # thigh, never less); the abduction on a clock of its own: the leg never pauses as a whole.
        for names in (("thigh_deg", "knee_deg"), ("abduct_deg",)):
            tk = s.last(names[0])[0] if t > t_s else t_s + rng.uniform(0.0, 0.4)    # no pause between
            sign = 1.0 if s.last(names[0])[1] <= pose[names[0]][0] else -1.0     # into the pose, across it
            d = rng.uniform(1.0, 1.8)
            while tk < t_until:
                f = rng.uniform(0.7, 1.0)
                for name, way in zip(names, (1.0, -1.0)):
                    centre, swing = pose[name]
                    value = centre + way * sign * swing * f
                    s.move(name, tk, tk + d, max(value, 0.0) if name == "knee_deg" else value)  # knee >= 0
                tk, sign, d = tk + d, -sign, rng.uniform(*spec["swing_s"])
        t = max(s.last(name)[0] for name in joints)
    s.moves(t, t + 1.2, thigh_deg=STANDING["thigh_deg"], knee_deg=STANDING["knee_deg"], abduct_deg=0.0)
    s.moves(t, t + 1.5, sway_level_deg=sway, wobble_level_deg=wobble)
    return t + 1.5
