"""The shank placement end to end on simulated sets whose march the shank's own angle cannot show."""
import pytest

from analysis.events import SetEvent
from analysis.pipeline import analyze
from imu.sim import simulate_session


@pytest.mark.parametrize("seed", [5, 6])
def test_marches_with_the_knee_bent_as_far_as_the_thigh_rises_count(seed):
    """Thigh raised 60 deg with the knee bent 110-120 deg, each rep flowing into the next hinge: the
    shank stays 50-60 deg back from hinge to march to hinge (it barely turns), only the knee sweeping
    forward and back shows, in the linear acceleration. Every rep counts (half of them did)."""
    s = simulate_session(seed, rate_hz=100, placement="shank", n_sets=1, reps_per_set=10, reps_jitter=0,
                         include_distractions=False, flow_prob=1.0, hold_prob=1.0, tempo_range_s=(2.0, 3.0),
                         march_height_range_deg=(60.0, 62.0), knee_march_range_deg=(112.0, 120.0),
                         hinge_depth_range_deg=(50.0, 60.0), false_start_prob=0.0)
    b = s.block
    sets = [e.reps for e in analyze(b.t_s, b.accel_mps2, b.gyro_dps, placement="shank") if isinstance(e, SetEvent)]
    assert sets == [10]
