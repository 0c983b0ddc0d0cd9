"""Counting on sensors and people as they really are (issue: what broke on recordings made another
way). Each test reproduces one measured cause: uncalibrated accelerometers, a gyro far off, fast
flowing shank reps, and a count of zero that must never be silent."""
import numpy as np
import pytest

from analysis.events import SetEvent
from analysis.pipeline import Pipeline
from imu.sim import simulate_session

G = 9.80665


def count(block, placement, accel=None, gyro=None):
    """Stream in 0.1 s blocks as live; returns (reps per set, problems)."""
    p, events = Pipeline(placement=placement), []
    acc = block.accel_mps2 if accel is None else accel
    gyr = block.gyro_dps if gyro is None else gyro
    step = max(1, int(round(0.1 * len(block) / (block.t_s[-1] - block.t_s[0]))))
    for i in range(0, len(block), step):
        events += p.feed(block.t_s[i:i + step], acc[i:i + step], gyr[i:i + step])
    events += p.finish()
    return [e.reps for e in events if isinstance(e, SetEvent)], p.problems


@pytest.fixture(scope="module", params=["thigh", "shank"])
def session(request):
    return simulate_session(1000 + (request.param == "shank"), rate_hz=100, placement=request.param)


def test_an_uncalibrated_accelerometer_counts_what_the_calibrated_one_does(session):
    """x1.04 and 0.6 m/s² along gravity (inside an uncalibrated MPU-6050's datasheet limits): no
    still window was ever found (|a| had to be 9.81 +- 0.6), so the leg angle stayed unknown and
    nothing was counted, silently."""
    b = session.block
    up = b.accel_mps2[:100].mean(axis=0)
    up /= np.linalg.norm(up)
    reference, _ = count(b, session.placement)
    assert reference == [s.reps for s in session.truth.sets]
    for accel in (b.accel_mps2 * 1.04 + 0.6 * up, b.accel_mps2 * 0.95, b.accel_mps2 + [0.0, 0.0, 0.8]):
        assert count(b, session.placement, accel=accel)[0] == reference


def test_a_gyro_offset_at_the_datasheet_limit_counts_the_same(session):
    """MPU-6050 zero-rate offset: up to +-20 deg/s per axis, taken off at the first still moment."""
    b = session.block
    reference, _ = count(b, session.placement)
    assert count(b, session.placement, gyro=b.gyro_dps + [20.0, -15.0, 10.0])[0] == reference


@pytest.mark.parametrize("tempo_s", [(1.2, 1.4), (1.4, 1.6)])
def test_fast_flowing_shank_reps_all_count(tempo_s):
    """1.2-1.6 s a rep, no holds, every rep flowing from the march into the next hinge: the fixed
    1.4 s stride period dropped them, and the last rep of a set was lost when closing hung on the
    one bucket where the shank re-entered the standing band."""
    for seed in (0, 2, 4):
        s = simulate_session(seed, rate_hz=100, placement="shank", tempo_range_s=tempo_s, hold_range_s=(0, 0),
                             flow_prob=1.0, include_distractions=False, false_start_prob=0, foot_tap_prob=0)
        assert count(s.block, "shank")[0] == [st.reps for st in s.truth.sets], f"seed {seed}"


def test_fast_flowing_thigh_reps_all_count():
    """1.2-1.4 s a rep on the thigh: such a rep is over at its march's return about 1.0 s after it
    left standing, under the 1.1 s floor every rep had to last (two of six sessions lost reps)."""
    for seed in range(6):
        s = simulate_session(seed, rate_hz=100, placement="thigh", tempo_range_s=(1.2, 1.4), hold_range_s=(0, 0),
                             flow_prob=1.0, include_distractions=False, false_start_prob=0, foot_tap_prob=0)
        assert count(s.block, "thigh")[0] == [st.reps for st in s.truth.sets], f"seed {seed}"


def test_the_last_rep_of_a_set_closes_on_a_sustained_condition():
    """The shank closes a rep once it has stood for ``settle_s``: a set that ends straight after its
    last rep (no pause) still gets that rep, whatever bucket it re-entered standing on."""
    for seed in range(3):
        s = simulate_session(seed, rate_hz=50, placement="shank", tempo_range_s=(1.3, 1.5), hold_range_s=(0, 0),
                             flow_prob=0.0, include_distractions=False, false_start_prob=0, foot_tap_prob=0)
        assert count(s.block, "shank")[0] == [st.reps for st in s.truth.sets], f"seed {seed}"


def test_a_count_of_zero_is_never_silent():
    """The pipeline says why nothing could be counted: no still moment, the resting accelerometer
    far from 1 g, a gyro read in the wrong unit."""
    s = simulate_session(1001, rate_hz=100, placement="shank", n_sets=1)
    b = s.block
    rng = np.random.default_rng(0)
    reps, problems = count(b, "shank", accel=b.accel_mps2 + rng.normal(0, 3.0, b.accel_mps2.shape))
    assert sum(reps) == 0 and any("no still moment" in p for p in problems)
    _, problems = count(b, "shank", accel=b.accel_mps2 / G)
    assert any("values in g read as m/s²" in p for p in problems)
    _, problems = count(b, "shank", accel=b.accel_mps2 * 1.15)
    assert any("% from 1 g: is the sensor calibrated" in p for p in problems)
    reps, problems = count(b, "shank", gyro=np.radians(b.gyro_dps))
    assert sum(reps) == 0 and any("rad/s read as deg/s" in p for p in problems)
    assert not any("gyro disagrees" in p for p in problems)     # one cause, one line
    reps, problems = count(b, "shank", gyro=np.degrees(b.gyro_dps))
    assert sum(reps) == 0 and any("deg/s read as rad/s" in p for p in problems)
    assert not any("gyro disagrees" in p for p in problems)
    assert count(b, "shank")[1] == []


def test_problems_are_in_the_live_state():
    s = simulate_session(3, rate_hz=50, n_sets=1, reps_per_set=[3], include_distractions=False)
    p = Pipeline()
    p.feed(s.block.t_s, s.block.accel_mps2 * 1.2, s.block.gyro_dps)
    assert p.state["problems"] and "from 1 g" in p.state["problems"][0]


def test_problem_lines_change_only_when_a_problem_does():
    """status/error is republished and logged whenever its text changes: a line holding the
    seconds so far did that every second (86 texts in 86 s of a sensor never still)."""
    s = simulate_session(1001, rate_hz=100, placement="shank", n_sets=1)
    b = s.block
    for accel, gyro in ((b.accel_mps2 * 1.15, b.gyro_dps), (b.accel_mps2, np.radians(b.gyro_dps)),
                        (b.accel_mps2 + np.random.default_rng(0).normal(0, 3.0, b.accel_mps2.shape), b.gyro_dps)):
        p, texts = Pipeline(placement="shank"), []
        for i in range(0, len(b), 10):
            p.feed(b.t_s[i:i + 10], accel[i:i + 10], gyro[i:i + 10])
            if not texts or texts[-1] != p.problems:
                texts.append(p.problems)
        assert len(texts) <= 4 and texts[-1], texts       # a problem appears, stays: a few changes at most


def test_analyze_says_plainly_that_a_generic_csv_is_in_g(tmp_path, capsys):
    """A CSV in g read with the default --accel-unit (m/s²): one line naming the fix, never a silent zero."""
    import json

    from firmware_bridge.cli.hingemarch import main
    s = simulate_session(3, rate_hz=50, n_sets=1, reps_per_set=[4], include_distractions=False)
    path = tmp_path / "phone.csv"
    rows = np.column_stack([s.block.t_s, s.block.accel_mps2 / G, s.block.gyro_dps])
    np.savetxt(path, rows, delimiter=",", header="t,ax,ay,az,gx,gy,gz", comments="", fmt="%.6f")
    cols = ["--columns", "t,ax,ay,az,gx,gy,gz"]
    assert main(["analyze", str(path), *cols]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "about 1/9.8 of gravity" in err[0] and "--accel-unit g" in err[0]
    assert main(["analyze", str(path), *cols, "--accel-unit", "g", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["totals"]["reps"] == 4 and doc["problems"] == []
