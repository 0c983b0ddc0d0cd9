"""The standing reference follows a strap slip within the movement plane in the middle of a set
(analysis/legangle.py ``_track_home``), and is never taken from a held hinge or march."""
import pytest

from analysis.events import SetEvent
from analysis.pipeline import REPLAY_S, Pipeline
from analysis.resample import ANALYSIS_RATE_HZ
from imu.sim import simulate_session

SHALLOW_DEG = (45.0, 55.0)     # a 20 deg offset takes such hinges under the threshold


def _run(s) -> tuple[list[int], Pipeline]:
    b = s.block
    p = Pipeline(placement=s.placement)
    events = p.feed(b.t_s, b.accel_mps2, b.gyro_dps) + p.finish()
    return [e.reps for e in events if isinstance(e, SetEvent)], p


@pytest.mark.parametrize("seed", [10, 11, 20])
def test_a_slip_within_the_plane_mid_set_loses_no_rep(seed):
    """The strap slips 20 deg about the flexion axis between two reps (and in the rests): the set
    goes on, and the pose the leg keeps coming back to between reps is standing again within a rep
    or two. These sets lost 1-4 reps while standing waited for a 3 s still stand."""
    s = simulate_session(seed, rate_hz=100, n_sets=1, reps_per_set=[10], include_distractions=False,
                         slip_prob=1.0, slip_in_plane_frac=1.0, slip_range_deg=(20.0, 20.0),
                         hinge_depth_range_deg=SHALLOW_DEG, hold_prob=0.0)
    st = s.truth.sets[0]
    assert any(a.kind == "strap_slip" and a.in_plane and st.start_s < a.start_s < st.end_s
               for a in s.truth.activities)
    sets, _ = _run(s)
    assert sets == [10]


@pytest.mark.parametrize("seed", [3, 4])
def test_a_held_hinge_or_march_is_never_standing(seed):
    """Every rep holds 4-4.5 s at its bottom and at its top, shallow hinges, no slip: a hold is left
    one way only, so no held pose is taken for standing, and every rep counts."""
    s = simulate_session(seed, rate_hz=100, n_sets=2, reps_per_set=[6, 6], include_distractions=False,
                         hold_prob=1.0, hold_range_s=(4.0, 4.5), hinge_depth_range_deg=SHALLOW_DEG,
                         tempo_range_s=(10.0, 11.0), false_start_prob=0.0)
    sets, p = _run(s)
    assert p._leg.rehomes == 0
    assert sets == [6, 6]


@pytest.mark.parametrize("seed", [10, 18])
def test_a_slip_in_a_slow_set_keeps_the_reps_before_it_is_confirmed(seed):
    """At 6-8 s a rep, the two returns to standing that confirm a re-home take up to 16 s: the
    detector then re-reads that far back, so the reps between the slip and the confirmation are
    counted (with 10 s of history the first of them was lost)."""
    s = simulate_session(seed, rate_hz=100, n_sets=1, reps_per_set=[10], include_distractions=False,
                         slip_prob=1.0, slip_in_plane_frac=1.0, slip_range_deg=(20.0, 20.0),
                         hinge_depth_range_deg=SHALLOW_DEG, hold_prob=0.0, tempo_range_s=(6.0, 8.0))
    sets, p = _run(s)
    assert p._leg.rehomes >= 1
    assert sets == [10]


@pytest.mark.parametrize("seed", [2, 6])
def test_a_slip_of_24_deg_mid_set_keeps_the_sets_last_rep(seed):
    """The strap slips 24 deg about the flexion axis in the set and is not re-homed before its end:
    standing reads above the march's exit level, so the last rep's march never came back under it
    and the rep was lost. The leg resting after it comes down from the march ends the rep."""
    s = simulate_session(seed, rate_hz=100, n_sets=1, reps_per_set=[8], include_distractions=False,
                         slip_prob=1.0, slip_in_plane_frac=1.0, slip_range_deg=(24.0, 24.0), hold_prob=0.0)
    st = s.truth.sets[0]
    assert any(a.kind == "strap_slip" and a.in_plane and st.start_s < a.start_s < st.end_s
               for a in s.truth.activities)
    sets, _ = _run(s)
    assert sets == [8]


@pytest.mark.parametrize("seed", [17])
def test_a_slip_in_a_flowing_set_keeps_every_rep_since_the_leg_first_stood_there(seed):
    """Reps that flow one into the next come back to standing seldom: the second return that confirms
    the re-home came more than 16 s after the leg first held the new standing, and the reps between
    were lost. The detector re-reads all since that first hold."""
    s = simulate_session(seed, rate_hz=100, n_sets=1, reps_per_set=[10], include_distractions=False,
                         slip_prob=1.0, slip_in_plane_frac=1.0, slip_range_deg=(24.0, 24.0),
                         hinge_depth_range_deg=SHALLOW_DEG, hold_prob=0.0, flow_prob=1.0, tempo_range_s=(2.0, 6.0))
    sets, p = _run(s)
    assert p._leg.set_rehomes == 1 and p._leg.set_rehome_buckets > REPLAY_S * ANALYSIS_RATE_HZ
    assert sets == [10]
