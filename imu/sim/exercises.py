"""Simulated sets of other leg exercises (docs/exercises.md), with the truth of every rep.

Each writer scripts one rep on the sensor's leg and returns (start_s, completion_s): the leg leaves
its rest pose at start_s and is back at rest at completion_s. Lying exercises tilt the whole body
(``body_pitch_deg``, ``body_roll_deg``); the leg's own angles are then relative to the lying body.
"""
from __future__ import annotations

from imu.sim.keyframes import Script

LYING = {   # the body pose each lying exercise starts from (standing ones start standing)
    "straight_leg_raise": dict(body_pitch_deg=-90.0, sway_level_deg=0.0, wobble_level_deg=0.2),
    "hip_abduction": dict(body_roll_deg=90.0, sway_level_deg=0.0, wobble_level_deg=0.2),
    "hip_extension": dict(body_pitch_deg=90.0, sway_level_deg=0.0, wobble_level_deg=0.2),
}


def _lift(s: Script, joint: str, t_s: float, rom_deg: float, tempo_s: float, hold_s: float) -> tuple[float, float]:
    """One joint out by ``rom_deg`` in 0.45 x the tempo, held ``hold_s``, and back as fast."""
    up = tempo_s * 0.45
    s.move(joint, t_s, t_s + up, rom_deg)
    t1 = t_s + up + hold_s
    s.move(joint, t1, t1 + up, 0.0)
    return t_s, t1 + up


def straight_leg_raise(s: Script, t_s: float, rom_deg: float, tempo_s: float, hold_s: float) -> tuple[float, float]:
    """Lying on the back: the straight leg up by ``rom_deg``, held, and down."""
    return _lift(s, "thigh_deg", t_s, rom_deg, tempo_s, hold_s)


def hip_abduction(s: Script, t_s: float, rom_deg: float, tempo_s: float, hold_s: float) -> tuple[float, float]:
    """Lying on the side: the upper leg lifted sideways by ``rom_deg``, held, and lowered."""
    return _lift(s, "abduct_deg", t_s, rom_deg, tempo_s, hold_s)


def hip_extension(s: Script, t_s: float, rom_deg: float, tempo_s: float, hold_s: float) -> tuple[float, float]:
    """Lying face down: the straight leg lifted backwards by ``rom_deg`` (a few degrees), held, and lowered."""
    return straight_leg_raise(s, t_s, -rom_deg, tempo_s, hold_s)


def step_up(s: Script, t_s: float, rom_deg: float, tempo_s: float, hold_s: float) -> tuple[float, float]:
    """The sensor leg onto a 20 cm step (thigh forward ``rom_deg``, knee bent), the body rises onto
    it (thigh back to vertical), stands, then steps down backwards with the same leg (hip extended
    about a third as far) and stands again."""
    lift, rise, down = 0.25 * tempo_s, 0.3 * tempo_s, 0.2 * tempo_s
    t1 = t_s + lift
    s.moves(t_s, t1, thigh_deg=rom_deg, knee_deg=rom_deg * 1.2)
    t2 = t1 + rise
    s.moves(t1, t2, thigh_deg=0.0, knee_deg=2.0, hip_dz_m=0.2)
    t3 = t2 + max(hold_s, 0.4)
    s.moves(t3, t3 + down, thigh_deg=-rom_deg / 3.0, knee_deg=10.0, hip_dz_m=0.1)
    t4 = t3 + 2 * down
    s.moves(t3 + down, t4, thigh_deg=0.0, knee_deg=2.0, hip_dz_m=0.0)
    return t_s, t4


def lunge(s: Script, t_s: float, rom_deg: float, tempo_s: float, hold_s: float) -> tuple[float, float]:
    """A step forward, down until the front (sensor) thigh is ``rom_deg`` forward, held, up and back."""
    step, down = 0.15 * tempo_s, 0.3 * tempo_s
    t1 = t_s + step
    s.moves(t_s, t1, thigh_deg=rom_deg * 0.35, knee_deg=10.0, hip_dx_m=0.05)
    t2 = t1 + down
    s.moves(t1, t2, thigh_deg=rom_deg, knee_deg=90.0, hip_dz_m=-0.35)
    t3 = t2 + hold_s
    t4 = t3 + down
    s.moves(t3, t4, thigh_deg=rom_deg * 0.35, knee_deg=10.0, hip_dz_m=0.0)
    s.moves(t4, t4 + step, thigh_deg=0.0, knee_deg=2.0, hip_dx_m=0.0)
    return t_s, t4 + step


# name -> (writer, range of motion drawn per set (deg), tempo per rep (s))
MOVES = {
    "straight_leg_raise": (straight_leg_raise, (25.0, 60.0), (2.5, 6.0)),
    "hip_abduction": (hip_abduction, (15.0, 40.0), (2.0, 5.0)),
    "hip_extension": (hip_extension, (6.0, 15.0), (2.0, 4.0)),
    "step_up": (step_up, (40.0, 65.0), (2.5, 4.5)),
    "lunge": (lunge, (60.0, 90.0), (2.5, 5.0)),
}
