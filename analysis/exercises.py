"""The exercises a session can count, each a table of parameters for one generic detector.

``hinge_march`` is the hinge-and-march state machine (analysis/reps.py). Every other exercise is
counted by :class:`analysis.excursions.ExcursionDetector`: a rep is an excursion of the leg from its
rest pose (whatever still pose it holds between reps: standing, seated or lying) beyond a fraction
of the set's own range of motion, and back, ending with the leg stopped at rest. ``any`` is that
detector with rules that suit every exercise; the named profiles differ from it only where the
movement needs it (a deep held pose, a small range, long holds). docs/exercises.md describes them.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from analysis.errors import DataError

HINGE_MARCH = "hinge_march"


@dataclass(frozen=True)
class ExerciseProfile:
    """What one rep of an exercise is, for the excursion detector. Angles in degrees (the tilt of
    the sensor's "up" away from the rest pose), times in seconds, rates in deg/s."""

    name: str
    rep: str = "the leg moves away from its rest pose and back"   # one line: what counts as one rep
    min_rom_deg: float = 3.0        # an excursion smaller than this is never a rep (sway, fidgets)...
    spread_mult: float = 2.5        # ...nor one under this x how far the leg lands off its rest pose after a
                                    # movement (the median of the last ones: the person's and fusion's repeatability)
    spread_deg: float = 1.0         # that landing spread until one is measured (a person's leg, fusion at speed)
    enter_frac: float = 0.5         # a rep must pass this x the set's typical range (median of its last reps)
    return_frac: float = 0.3        # the leg is back once within this x the rep's own peak of the rest pose
    lobe_frac: float = 0.25         # out, back half way and out again by this x the peak: a swing (gait), not a rep
    min_rep_s: float = 0.7          # leave rest -> back at rest takes at least this
    max_rep_s: float = 15.0         # ...and at most this
    max_dir_deg: float = 45.0       # a rep goes within this of the set's learned direction (else: another movement)
    stop_dps: float = 6.0           # back at rest the leg stops (rate below this for ``stop_s``)...
    stop_s: float = 0.3
    settle_dps: float = 30.0        # ...or lingers (within ``return_frac`` of rest, rate below this for
    dwell_s: float = 0.5            # ``dwell_s``: a stride swings through rest at 100-300 deg/s)...
    settle_within_s: float = 3.0    # ...this soon after it came back, before it leaves again; a rep starts so too
    rebound_frac: float = 0.5       # back at rest, a rebound below this x the rep's range (a leg dropped
                                    # on the mat) is not the leg leaving again
    confirm_reps: int = 3           # a set's first reps count once this many like ones (direction, range)...
    confirm_within_s: float = 20.0  # ...came this close to each other (fidgets, a step or two, are not a set)
    like_frac: float = 0.5          # "like": ranges within this factor of each other
    hold_far_deg: float = 45.0      # still this far from rest...
    far_hold_s: float = 4.0         # ...for this long is a new posture (sat down, lay down), not a rep
    max_hold_s: float = 10.0        # still this long anywhere away from rest is a new posture too
    max_rom_deg: float = 150.0      # no leg goes further: the sensor is in the hand
    typical_reps: int = 5           # the set's typical range follows this many recent reps


ANY = ExerciseProfile("any")

PROFILES: dict[str, ExerciseProfile] = {p.name: p for p in (
    ANY,
    replace(ANY, name="straight_leg_raise", rep="lying on the back, the straight leg is raised and lowered",
            min_rom_deg=10.0, hold_far_deg=90.0, far_hold_s=5.0, max_hold_s=12.0),
    replace(ANY, name="hip_abduction", rep="lying on the side (or standing), the leg is lifted sideways and lowered",
            max_hold_s=12.0),
    replace(ANY, name="hip_extension", rep="lying face down (or standing), the leg is lifted backwards and lowered",
            max_hold_s=12.0),
    replace(ANY, name="lunge", rep="a step forward into the lunge, down, up and back to standing",
            min_rom_deg=20.0, hold_far_deg=120.0, max_hold_s=5.0),
    replace(ANY, name="split_squat", rep="feet split, down until the front thigh is near level, and up",
            min_rom_deg=20.0, hold_far_deg=120.0, max_hold_s=5.0),
    replace(ANY, name="step_up", rep="the sensor leg steps up onto the step, the body rises, and steps down",
            min_rom_deg=20.0, hold_far_deg=90.0, max_hold_s=5.0),
    replace(ANY, name="single_leg_squat", rep="on one leg, down and back up to standing",
            min_rom_deg=15.0, hold_far_deg=120.0, max_hold_s=5.0),
    replace(ANY, name="heel_raise", rep="up onto the toes and down (the shank tilts a few degrees)"),
)}

EXERCISES = (HINGE_MARCH, *PROFILES)   # every name the setting takes


def check_exercise(name: str) -> str:
    """The name if it is an exercise; else DataError naming the choices."""
    if name not in EXERCISES:
        raise DataError(f"unknown exercise {name!r}: choose one of {', '.join(EXERCISES)}")
    return name
