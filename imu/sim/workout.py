"""The session script: sets of reps with rests and distractions between, and its ground truth.

:func:`plan_workout` draws everything random from one generator, writes the keyframes and records
what happened when, so a rep counter's output can be scored against ``Workout.truth``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np
from scipy.spatial.transform import Rotation

from analysis.reps import PLACEMENTS
from imu.sim import exercises, moves
from imu.sim.keyframes import Script, SineNoise, Trajectory
from imu.sim.leg import LegGeometry, LegMotion

REST_SWAY_DEG = 0.3          # body sway while standing on two feet
REST_WOBBLE_DEG = 0.5


@dataclass
class WorkoutOptions:
    """What the simulated person does; every field can be passed to :func:`plan_workout`."""

    n_sets: int = 3
    reps_per_set: int | list[int] = 10   # a list fixes each set's count exactly
    reps_jitter: int = 2                 # an int count varies by up to +-this per set (0: fixed)
    tempo_range_s: tuple[float, float] = (2.0, 6.0)           # per-rep duration incl. holds
    hold_range_s: tuple[float, float] = (0.0, 2.0)
    hinge_depth_range_deg: tuple[float, float] = (50.0, 100.0)  # thigh behind vertical
    march_height_range_deg: tuple[float, float] = (60.0, 100.0)  # thigh in front of vertical
    rest_range_s: tuple[float, float] = (45.0, 120.0)
    sway_range_deg: tuple[float, float] = (0.5, 3.0)   # per-set whole-body sway RMS
    wobble_range_deg: tuple[float, float] = (0.5, 2.5) # per-set hip ab/adduction wobble RMS
    placement: str = "thigh"
    side: str = "left"
    mount: str = "random"                # random (uniform rotation) | crooked (aligned +-20 deg) | aligned
    include_distractions: bool = True
    false_start_prob: float = 0.15       # per rep (x3 for a set's first rep)
    foot_tap_prob: float = 0.06          # per rep
    flow_prob: float = 0.3               # per rep: march top straight into the next hinge
    fatigue: bool = True
    min_duration_s: float = 0.0          # pad the end with rest activities up to this length
    min_movement_s: float = 1.0          # a rep's movement (holds aside) takes at least this
    hold_prob: float = 0.5               # per session: reps hold at the bottom and the top
    knee_march_range_deg: tuple[float, float] = (75.0, 105.0)  # knee flexion at the march top
    slip_prob: float = 0.0               # per set and per rest: the strap slips once
    slip_range_deg: tuple[float, float] = (5.0, 30.0)   # by this much (either way)...
    slip_in_plane_frac: float = 0.5      # ... about the flexion axis with this probability, else across it
    stretch_prob: float = 0.0            # per rest: 60-120 s of stretching that is never still
    start: str = "standing"              # standing | moving (mid-walk at t = 0) | seated (stands up later)
    exercise: str = "hinge_march"        # or one of imu.sim.exercises.MOVES (lying ones start lying, rest lying)

    def validate(self) -> None:
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, not {self.placement!r}")
        if self.mount not in ("random", "crooked", "aligned"):
            raise ValueError(f"mount must be random, crooked or aligned, not {self.mount!r}")
        if self.side not in ("left", "right"):
            raise ValueError(f"side must be left or right, not {self.side!r}")
        if self.n_sets < 0:
            raise ValueError("n_sets must be >= 0")
        if self.start not in ("standing", "moving", "seated"):
            raise ValueError(f"start must be standing, moving or seated, not {self.start!r}")
        if self.exercise != "hinge_march" and self.exercise not in exercises.MOVES:
            raise ValueError(f"exercise must be hinge_march or one of {', '.join(exercises.MOVES)}, not {self.exercise!r}")
        if not self.min_movement_s > 0:
            raise ValueError("min_movement_s must be positive")
        for name in ("hold_prob", "slip_prob", "slip_in_plane_frac", "stretch_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1")


@dataclass
class SetTruth:
    """One set as performed. Angles are the thigh's, from vertical; times in session seconds."""

    index: int                      # 1-based
    start_s: float                  # leg first leaves standing (false start included)
    end_s: float                    # last rep completed
    side: str
    reps: int
    rep_completion_s: list[float]
    rep_hinge_depth_deg: list[float]
    rep_march_height_deg: list[float]
    sway_level_deg: float
    foot_tap_s: list[float]
    rep_start_s: list[float] = field(default_factory=list)
    rep_sensor_hinge_deg: list[float] = field(default_factory=list)  # the sensor segment's angle
    rep_sensor_march_deg: list[float] = field(default_factory=list)  # (= thigh's on the thigh)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ActivityTruth:
    """A non-rep activity: walk | stairs | sit_stand | fidget | strap_adjust | strap_slip | stretch |
    false_start | rest. A strap slip also says how far the sensor turned and whether it stayed in the
    movement plane (turned about the leg's flexion axis)."""

    kind: str
    start_s: float
    end_s: float
    angle_deg: float | None = None      # strap_slip only
    in_plane: bool | None = None        # strap_slip only

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class WorkoutTruth:
    sets: list[SetTruth]
    activities: list[ActivityTruth]
    duration_s: float
    placement: str
    side: str
    mount: str

    @property
    def total_reps(self) -> int:
        return sum(s.reps for s in self.sets)

    def to_dict(self) -> dict:
        return {"duration_s": self.duration_s, "placement": self.placement, "side": self.side,
                "mount": self.mount, "total_reps": self.total_reps,
                "sets": [s.to_dict() for s in self.sets],
                "activities": [a.to_dict() for a in self.activities]}


@dataclass
class Workout:
    """A planned session: the trajectory to simulate, the body, and the ground truth."""

    trajectory: Trajectory
    geometry: LegGeometry
    truth: WorkoutTruth
    options: WorkoutOptions

    def motion(self, step_s: float = 1e-3) -> LegMotion:
        return LegMotion(self.trajectory, self.options.placement, self.options.side, self.geometry, step_s)


def _mount(rng, mode: str) -> np.ndarray:
    if mode == "random":
        return Rotation.random(random_state=rng).as_matrix()
    if mode == "crooked":
        axis = rng.normal(size=3)
        return Rotation.from_rotvec(axis / np.linalg.norm(axis) * np.radians(rng.uniform(3, 20))).as_matrix()
    return np.eye(3)


def _plan_reps(rng, o: WorkoutOptions, n: int, base: dict) -> list[moves.Rep]:
    """Per-rep variation around the session's style, with fatigue drifting over the set."""
    drop = rng.uniform(0.0, 0.15) if o.fatigue else 0.0
    slow = rng.uniform(0.0, 0.25) if o.fatigue else 0.0
    reps = []
    for i in range(n):
        f = i / max(n - 1, 1)
        lo_d, hi_d = o.hinge_depth_range_deg
        lo_h, hi_h = o.march_height_range_deg
        holds = base["holds"]
        reps.append(moves.Rep(
            depth_deg=float(np.clip(base["depth"] * (1 - drop * f) * rng.normal(1, 0.05), lo_d, hi_d)),
            height_deg=float(np.clip(base["height"] * (1 - drop * f) * rng.normal(1, 0.05), lo_h, hi_h)),
            tempo_s=float(np.clip(base["tempo"] * (1 + slow * f) * rng.normal(1, 0.07), *o.tempo_range_s)),
            hold_bottom_s=float(rng.uniform(*o.hold_range_s)) if holds else 0.0,
            hold_top_s=float(rng.uniform(*o.hold_range_s)) if holds else 0.0,
            knee_hinge_deg=float(rng.uniform(0, 15)),
            knee_march_deg=float(rng.uniform(*o.knee_march_range_deg)),
            false_start_deg=float(rng.uniform(10, 25))
            if rng.random() < o.false_start_prob * (3 if i == 0 else 1) else 0.0,
            tap_inside_s=float(rng.uniform(0.3, 1.5)) if rng.random() < o.foot_tap_prob / 2 else 0.0,
            tap_after_s=float(rng.uniform(0.3, 1.5)) if rng.random() < o.foot_tap_prob / 2 else 0.0,
            flow_into_next=bool(rng.random() < o.flow_prob),
            pause_s=float(rng.uniform(0.1, 0.8)), min_movement_s=o.min_movement_s))
    return reps


def _write_slip(s: Script, t_s: float, rng, o: WorkoutOptions, acts: list[ActivityTruth]) -> None:
    """The strap slips at t_s, in the movement plane or across it (see :func:`moves.write_strap_slip`)."""
    in_plane = bool(rng.random() < o.slip_in_plane_frac)
    angle = float(rng.uniform(*o.slip_range_deg) * rng.choice([-1.0, 1.0]))
    phi = rng.uniform(0.0, 2.0 * np.pi)            # across: any axis square to the flexion axis
    axis = [0.0, 1.0, 0.0] if in_plane else [np.cos(phi), 0.0, np.sin(phi)]
    t1 = moves.write_strap_slip(s, t_s, angle, axis, rng)
    acts.append(ActivityTruth("strap_slip", t_s, t1, angle_deg=angle, in_plane=in_plane))


def _write_rest(s: Script, t_s: float, length_s: float, rng, o: WorkoutOptions,
                acts: list[ActivityTruth]) -> float:
    """Standing, or walking about / stairs / sitting / fidgeting / re-strapping, for about length_s;
    first, if asked for, a strap slip while standing and a stretch (which may make the rest longer)."""
    end = t_s + length_s
    t = t_s + rng.uniform(2.0, 5.0)
    if o.slip_prob > 0 and rng.random() < o.slip_prob:
        _write_slip(s, (t_s + t) / 2.0, rng, o, acts)
    if o.stretch_prob > 0 and rng.random() < o.stretch_prob:
        t1 = moves.write_stretch(s, t, rng.uniform(60.0, 120.0), rng)
        acts.append(ActivityTruth("stretch", t, t1))
        t = t1 + rng.uniform(1.0, 4.0)
    kinds = ["walk", "stairs", "sit_stand", "fidget", "strap_adjust"]
    weights = np.array([0.35, 0.15, 0.2, 0.2, 0.1])
    while o.include_distractions and end - t > 12.0:
        kind = kinds[rng.choice(len(kinds), p=weights)]
        budget = min(end - t - 3.0, rng.uniform(10.0, 40.0))
        if kind == "walk":
            t1 = moves.write_walk(s, t, budget, rng)
        elif kind == "stairs":
            t1 = moves.write_stairs(s, t, budget, rng)
        elif kind == "sit_stand":
            t1 = moves.write_sit_stand(s, t, budget, rng)
        elif kind == "fidget":
            t1 = moves.write_fidget(s, t, budget, rng)
        else:
            t1 = moves.write_strap_adjust(s, t, _mount(rng, o.mount), rng)
        acts.append(ActivityTruth(kind, t, t1))
        t = t1 + rng.uniform(1.0, 6.0)
    end = max(end, t + 2.0)
    acts.append(ActivityTruth("rest", t_s, end))
    return end


def _write_exercise_set(s: Script, t_s: float, index: int, n: int, rng, o: WorkoutOptions) -> tuple[SetTruth, float]:
    """A set of another exercise: per-set range and tempo, each rep varying a little, pauses at rest."""
    write, rom_range, tempo_range = exercises.MOVES[o.exercise]
    rom, tempo = rng.uniform(*rom_range), rng.uniform(*tempo_range)
    holds = rng.random() < o.hold_prob
    t, starts, ends, roms = t_s + 2.0, [], [], []
    for _ in range(n):
        r = float(rom * rng.normal(1, 0.06))
        t0, t1 = write(s, t, r, float(tempo * rng.normal(1, 0.07)), float(rng.uniform(*o.hold_range_s)) if holds else 0.0)
        starts.append(t0), ends.append(t1), roms.append(r)
        t = t1 + float(rng.uniform(0.6, 2.5))
    truth = SetTruth(index=index, start_s=starts[0], end_s=ends[-1], side=o.side, reps=n, rep_completion_s=ends,
                     rep_hinge_depth_deg=[0.0] * n, rep_march_height_deg=roms, sway_level_deg=0.0, foot_tap_s=[],
                     rep_start_s=starts)
    return truth, max(t, s.last_key_s) + 1.0


def _write_set(s: Script, t_s: float, index: int, n: int, base: dict, rng, o: WorkoutOptions,
               placement_knee: bool, acts: list[ActivityTruth]) -> tuple[SetTruth, float]:
    if o.exercise != "hinge_march":
        return _write_exercise_set(s, t_s, index, n, rng, o)
    sway, wobble = rng.uniform(*o.sway_range_deg), rng.uniform(*o.wobble_range_deg)
    s.moves(t_s, t_s + 1.5, sway_level_deg=sway, wobble_level_deg=wobble)   # shifting onto one leg
    reps = _plan_reps(rng, o, n, base)
    results = moves.write_set(s, t_s + 2.0, reps, rng)
    if o.slip_prob > 0 and n >= 2 and rng.random() < o.slip_prob:     # between two reps, the set goes on
        _write_slip(s, results[int(rng.integers(0, n - 1))].completion_s, rng, o, acts)
    for r in results:
        if r.false_start:
            acts.append(ActivityTruth("false_start", *r.false_start))
    end = results[-1].completion_s if results else t_s + 2.0
    t_free = max(end, s.last_key_s) + 0.5
    s.moves(t_free, t_free + 1.5, sway_level_deg=REST_SWAY_DEG, wobble_level_deg=REST_WOBBLE_DEG)
    start = min([r.false_start[0] if r.false_start else r.start_s for r in results] or [t_s])
    knee = [r.knee_hinge_deg for r in reps] if placement_knee else [0.0] * n
    knee_m = [r.knee_march_deg for r in reps] if placement_knee else [0.0] * n
    truth = SetTruth(
        index=index, start_s=start, end_s=end, side=o.side, reps=n,
        rep_completion_s=[r.completion_s for r in results],
        rep_hinge_depth_deg=[r.depth_deg for r in reps], rep_march_height_deg=[r.height_deg for r in reps],
        sway_level_deg=sway, foot_tap_s=[t for r in results for t in r.taps_s],
        rep_start_s=[r.start_s for r in results],
        rep_sensor_hinge_deg=[r.depth_deg + k for r, k in zip(reps, knee)],
        rep_sensor_march_deg=[r.height_deg - k for r, k in zip(reps, knee_m)])
    return truth, t_free + 1.5


def plan_workout(rng: np.random.Generator, **options) -> Workout:
    """Plan a whole session; ``options`` are :class:`WorkoutOptions` fields (unknown names raise)."""
    known = {f.name for f in fields(WorkoutOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unknown workout option(s): {', '.join(unknown)}")
    o = WorkoutOptions(**options)
    o.validate()
    geometry = LegGeometry(thigh_length_m=0.45 * rng.uniform(0.92, 1.08),
                           shank_length_m=0.43 * rng.uniform(0.92, 1.08),
                           strap_fraction=rng.uniform(0.4, 0.65),
                           strap_azimuth_deg=rng.uniform(-90.0, 90.0))
    init = {"sway_level_deg": REST_SWAY_DEG, "wobble_level_deg": REST_WOBBLE_DEG, "knee_deg": 2.0}
    if o.start == "moving":
        speed = rng.uniform(1.0, 1.35)
        init.update(moves.WALKING, vel_x_mps=speed)
    elif o.start == "seated":
        init.update(moves.seated(rng))
    init.update(exercises.LYING.get(o.exercise, {}))
    if o.exercise in exercises.LYING:
        o = replace(o, include_distractions=False, start="standing")   # lying: the rests are lying still
    s = Script(init)
    s.mount_initial = _mount(rng, o.mount)
    base = {"depth": rng.uniform(*o.hinge_depth_range_deg), "height": rng.uniform(*o.march_height_range_deg),
            "tempo": rng.uniform(*o.tempo_range_s), "holds": rng.random() < o.hold_prob}
    if isinstance(o.reps_per_set, (list, tuple)):
        counts = [int(c) for c in o.reps_per_set]
        if len(counts) != o.n_sets:
            raise ValueError(f"reps_per_set lists {len(counts)} sets but n_sets is {o.n_sets}")
    else:
        counts = [max(1, int(o.reps_per_set) + int(rng.integers(-o.reps_jitter, o.reps_jitter + 1)))
                  for _ in range(o.n_sets)]
    acts: list[ActivityTruth] = []
    lead = rng.uniform(25.0, 40.0) if o.include_distractions else rng.uniform(4.0, 8.0)
    t = 0.0
    if o.start == "moving":
        t = moves.write_walk_in(s, 0.0, rng.uniform(10.0, 20.0), speed, rng)
        acts.append(ActivityTruth("walk", 0.0, t))
    elif o.start == "seated":
        t = moves.write_stand_up(s, 0.0, REST_SWAY_DEG, rng)
        acts.append(ActivityTruth("sit_stand", 0.0, t))
    t = _write_rest(s, t, lead, rng, o, acts)
    sets = []
    for i, n in enumerate(counts):
        truth, t = _write_set(s, t, i + 1, n, base, rng, o, o.placement == "shank", acts)
        sets.append(truth)
        if i + 1 < len(counts):
            t = _write_rest(s, t, rng.uniform(*o.rest_range_s), rng, o, acts)
    tail = rng.uniform(10.0, 25.0) if o.include_distractions else rng.uniform(3.0, 6.0)
    t = _write_rest(s, t, max(tail, o.min_duration_s - t), rng, o, acts)
    t = max(t, s.last_key_s + 1.0)
    noises = dict(sway_ap=SineNoise(rng, (0.1, 0.8)), sway_ml=SineNoise(rng, (0.1, 0.8)),
                  wobble=SineNoise(rng, (0.2, 1.5)))
    trajectory = s.freeze(t, **noises)
    acts.sort(key=lambda a: a.start_s)
    return Workout(trajectory, geometry, WorkoutTruth(sets, acts, t, o.placement, o.side, o.mount), o)
