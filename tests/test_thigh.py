"""The thigh placement end to end on simulated sessions with what a thigh's rests hold."""
from analysis.events import RepEvent
from analysis.pipeline import analyze
from imu.sim import simulate_session


def test_leg_swings_in_a_stretch_before_the_first_set_are_no_reps():
    """A minute and more of stretching before the first set and in each rest, the leg never still:
    its forward-and-back swings take the thigh 20-30 deg back and 30-50 deg forward at rep tempo,
    each swing a hinge and a march to the detector (one counted here; other seeds 13 before the
    first set, and a stretch taught the hinge side the wrong way round, losing reps of the next
    set). A swing never rests anywhere; a set's first hinge leaves a stand."""
    s = simulate_session(1, rate_hz=100, placement="thigh", n_sets=2, reps_per_set=[8, 8],
                         include_distractions=False, stretch_prob=1.0, hold_prob=0.0, false_start_prob=0.0,
                         rest_range_s=(60.0, 80.0))
    k = s.stage.clock_factor
    b = s.block
    reps = [e for e in analyze(b.t_s, b.accel_mps2, b.gyro_dps, placement="thigh") if isinstance(e, RepEvent)]
    assert [sum(st.start_s * k - 1 <= r.completed_s <= st.end_s * k + 2 for r in reps) for st in s.truth.sets] == [8, 8]
    stretches = [a for a in s.truth.activities if a.kind == "stretch"]
    assert len(stretches) == 3
    assert not [r for r in reps for a in stretches if a.start_s * k < r.completed_s < a.end_s * k]
