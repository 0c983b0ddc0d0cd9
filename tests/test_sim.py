"""Physics and bookkeeping checks of the simulated sensor (imu.sim)."""
from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from imu.samples import STANDARD_GRAVITY_MPS2 as G
from imu.sim import SimSource, simulate_session
from imu.sim.keyframes import Channel, Script, SineNoise, minjerk
from imu.sim.leg import LegMotion
from imu.sim.sensor import SensorErrors, SensorStage, lsb, quantise

SHORT = dict(n_sets=1, reps_per_set=6, include_distractions=False)


def still_motion(mount=np.eye(3), placement="thigh", **keys) -> LegMotion:
    """A leg standing still (no sway), optionally with scripted moves: name=(t0, t1, value)."""
    s = Script()
    s.mount_initial = mount
    for name, (t0, t1, value) in keys.items():
        s.move(name, t0, t1, value)
    return LegMotion(s.freeze(10.0), placement)


@pytest.fixture(scope="module")
def session():
    return simulate_session(7, rate_hz=100.0, faults=False, mount="random", sway_range_deg=(0.3, 0.5))


def test_channel_integral_matches_numeric():
    ch = Channel([0.0, 1.0, 2.5, 4.0], [0.0, 2.0, -1.0, 0.5])
    t = np.linspace(-1.0, 6.0, 70001)
    numeric = np.concatenate([[0.0], np.cumsum((ch.value(t[1:]) + ch.value(t[:-1])) / 2 * np.diff(t))])
    numeric -= np.interp(0.0, t, numeric)
    assert np.allclose(ch.integral(t), numeric, atol=1e-6)


@pytest.mark.parametrize("placement", ["thigh", "shank"])
def test_still_level_sensor_reads_plus_g_up_and_no_rate(placement):
    accel, gyro = still_motion(placement=placement).at(np.linspace(0.0, 9.0, 50))
    assert np.allclose(accel, [0.0, 0.0, G], atol=1e-6)
    assert np.allclose(gyro, 0.0, atol=1e-6)


def test_still_level_with_noise_matches_datasheet_density():
    errors = replace(SensorErrors.ideal(), accel_noise_ug_per_rthz=75.0, gyro_noise_dps_per_rthz=0.0038)
    stage = SensorStage(errors, 100.0, 2, 250, 60.0, np.random.default_rng(1))
    accel, gyro = stage.apply(*still_motion().at(stage.true_times_s(np.arange(stage.n_samples))))
    accel_sd, gyro_sd = 75e-6 * G * np.sqrt(50.0), 0.0038 * np.sqrt(50.0)
    assert np.allclose(accel.mean(axis=0), [0, 0, G], atol=5 * accel_sd / np.sqrt(len(accel)) + lsb(2 * G))
    assert np.allclose(gyro.mean(axis=0), 0.0, atol=5 * gyro_sd / np.sqrt(len(gyro)) + lsb(250))
    assert np.allclose(accel.std(axis=0), accel_sd, rtol=0.1)
    assert np.allclose(gyro.std(axis=0), gyro_sd, rtol=0.1)


def test_held_thigh_angle_tilts_gravity_in_the_sagittal_plane():
    accel, gyro = still_motion(thigh_deg=(0.0, 1.0, 60.0)).at(np.array([2.0, 5.0]))
    th = np.radians(60.0)
    assert np.allclose(accel, [G * np.sin(th), 0.0, G * np.cos(th)], atol=1e-6)
    assert np.allclose(gyro, 0.0, atol=1e-6)


def test_shank_angle_is_thigh_minus_knee():
    motion = LegMotion(_script_held(thigh_deg=30.0, knee_deg=120.0), "shank")
    accel, _ = motion.at(np.array([5.0]))
    th = np.radians(30.0 - 120.0)
    assert np.allclose(accel[0], [G * np.sin(th), 0.0, G * np.cos(th)], atol=1e-6)


def _script_held(**values):
    s = Script()
    for name, value in values.items():
        s.move(name, 0.5, 2.0, value)
    return s.freeze(10.0)


def test_strap_adjust_turns_the_sensor_by_the_mount_change():
    new = Rotation.from_rotvec([0.4, -1.1, 0.7]).as_matrix()
    s = Script()
    s.change_mount(1.0, 3.0, new)
    motion = LegMotion(s.freeze(10.0))
    accel, _ = motion.at(np.array([0.5, 5.0]))
    assert np.allclose(accel[0], [0, 0, G], atol=1e-6)
    assert np.allclose(accel[1], new.T @ [0, 0, G], atol=1e-6)
    t = np.arange(0.5, 3.5, 0.002)
    _, gyro = motion.at(t)
    turned = Rotation.identity()
    for w in np.radians(gyro[:-1]) * 0.002:        # body-frame rates compose on the right
        turned = turned * Rotation.from_rotvec(w)
    assert np.degrees((turned.inv() * Rotation.from_matrix(new)).magnitude()) < 0.5


@pytest.mark.parametrize("placement", ["thigh", "shank"])
def test_pure_rotation_gyro_is_angle_derivative_in_sensor_axes(placement):
    mount = Rotation.random(random_state=3).as_matrix()
    t0, t1, delta = 1.0, 3.0, 60.0
    motion = still_motion(mount, placement, thigh_deg=(t0, t1, delta))
    t = np.linspace(0.5, 3.5, 31)
    u = np.clip((t - t0) / (t1 - t0), 0, 1)
    rate = delta * 30 * u ** 2 * (1 - u) ** 2 / (t1 - t0)           # d/dt of the min-jerk angle
    expected = (mount.T @ np.array([0.0, -1.0, 0.0])) * rate[:, None]  # + forward is about -y (left)
    _, gyro = motion.at(t)
    assert np.allclose(gyro, expected, atol=1e-3)
    assert np.allclose(motion.segment_angle_deg(t), delta * minjerk(u))


def test_turning_on_the_spot_reads_yaw_rate_about_the_leg_axis():
    motion = still_motion(heading_deg=(0.0, 2.0, 90.0))
    t = np.linspace(0.1, 1.9, 10)
    _, gyro = motion.at(t)
    u = t / 2.0
    assert np.allclose(gyro[:, 2], 90.0 * 30 * u ** 2 * (1 - u) ** 2 / 2.0, atol=1e-3)
    assert np.allclose(gyro[:, :2], 0.0, atol=1e-6)


@pytest.mark.parametrize("side", ["left", "right"])
def test_sway_tilts_the_leg_about_the_stance_ankle(side):
    s = Script({"sway_level_deg": 2.0})
    rng = np.random.default_rng(4)
    motion = LegMotion(s.freeze(600.0, sway_ap=SineNoise(rng, (0.1, 0.8)), sway_ml=SineNoise(rng, (0.1, 0.8))),
                       side=side)
    t = np.arange(0.0, 600.0, 0.02)
    ml, ap = motion.sway_deg(t)
    assert np.sqrt(np.mean(ml ** 2)) == pytest.approx(2.0, rel=0.2)
    assert np.sqrt(np.mean(ap ** 2)) == pytest.approx(2.0, rel=0.2)
    n = 1500                                             # 30 s: the leg's tilt follows the sway
    _, gyro = motion.at(t[:n])
    tilt = np.concatenate([np.zeros((1, 3)), np.cumsum((gyro[1:] + gyro[:-1]) / 2 * 0.02, axis=0)])
    toward_lifted = -1.0 if side == "left" else 1.0      # + ML leans towards the lifted leg's side
    assert np.allclose(tilt[:, 1], ap[:n] - ap[0], atol=0.1)
    assert np.allclose(tilt[:, 0] * toward_lifted, ml[:n] - ml[0], atol=0.1)


def test_accel_norm_standing_still_is_g_for_any_mount():
    for mount in Rotation.random(20, random_state=5).as_matrix():
        accel, gyro = still_motion(mount).at(np.array([1.0, 4.0]))
        assert np.allclose(np.linalg.norm(accel, axis=1), G, atol=1e-6)
        assert np.allclose(accel, (mount.T @ [0.0, 0.0, G])[None, :], atol=1e-6)


def test_integrated_gyro_about_hinge_axis_reproduces_the_rep(session):
    b, motion = session.block, session.motion
    st = session.truth.sets[0]
    for i in range(1, 4):
        start, end = st.rep_start_s[i] - 0.2, st.rep_completion_s[i] + 0.2
        sel = (b.t_s >= start) & (b.t_s <= end)
        t, gyro = b.t_s[sel], b.gyro_dps[sel]
        axis = motion.mount_at(t[:1])[0].T @ [0.0, -1.0, 0.0]
        w = gyro @ axis
        angle = np.concatenate([[0.0], np.cumsum((w[1:] + w[:-1]) / 2 * np.diff(t))])
        truth = motion.segment_angle_deg(t)
        truth -= truth[0]
        assert abs(angle.min() - truth.min()) < 2.0
        assert abs(angle.max() - truth.max()) < 2.0
        assert abs(truth.min() + st.rep_hinge_depth_deg[i]) < 1.0     # truth matches the script
        assert abs(truth.max() - st.rep_march_height_deg[i]) < 1.0


def test_truth_rep_counts_and_completion_times(session):
    for st in session.truth.sets:
        assert 8 <= st.reps <= 12
        assert len(st.rep_completion_s) == len(st.rep_hinge_depth_deg) == st.reps
        assert np.all(np.diff(st.rep_completion_s) > 0)
        assert st.start_s < st.rep_completion_s[0] and st.rep_completion_s[-1] == st.end_s
        thigh = session.workout.trajectory.channels["thigh_deg"]
        c = np.array(st.rep_completion_s)
        assert np.allclose(thigh.value(c), 0.0, atol=0.5)          # back at standing...
        assert np.all(thigh.value(c - 0.15) > 0.05)                 # ...coming down from the march
        assert np.all(thigh.value(c - 0.6) > 5.0)
    fixed = simulate_session(3, faults=False, n_sets=3, reps_per_set=[8, 12, 5], include_distractions=False)
    assert [s.reps for s in fixed.truth.sets] == [8, 12, 5]
    assert fixed.truth.total_reps == 25
    assert all(len(s.rep_completion_s) == s.reps for s in fixed.truth.sets)


def test_distractions_are_in_the_truth_and_session_length(session):
    kinds = {a.kind for a in session.truth.activities}
    assert "rest" in kinds and len(kinds) >= 3
    assert 240.0 < session.truth.duration_s < 660.0
    d = session.truth.to_dict()
    assert d["total_reps"] == session.truth.total_reps and set(d["sets"][0]) >= {
        "index", "start_s", "end_s", "side", "reps", "rep_completion_s", "rep_hinge_depth_deg",
        "rep_march_height_deg", "sway_level_deg", "foot_tap_s"}


def test_quantisation_step_is_the_range_lsb():
    s = simulate_session(2, accel_range_g=4, gyro_range_dps=500, **SHORT)
    for x, step in ((s.block.accel_mps2, lsb(4 * G)), (s.block.gyro_dps, lsb(500))):
        counts = x / step
        assert np.allclose(counts, np.round(counts), atol=1e-6)
        assert np.min(np.diff(np.unique(x[:, 0]))) == pytest.approx(step)
    assert lsb(500) == pytest.approx(500 / 32768)


def test_clipping_at_the_range():
    s = simulate_session(4, faults=False, accel_range_g=2, gyro_range_dps=250, tempo_range_s=(1.5, 2.0), **SHORT)
    top_g, top_a = 32767 * lsb(250), 32767 * lsb(2 * G)
    assert s.block.gyro_dps.max() == pytest.approx(top_g) or s.block.gyro_dps.min() == pytest.approx(-250)
    assert np.all(np.abs(s.block.gyro_dps) <= 250) and np.all(np.abs(s.block.accel_mps2) <= 2 * G)
    assert np.sum(np.isclose(np.abs(s.block.gyro_dps), top_g) | np.isclose(s.block.gyro_dps, -250)) > 10
    assert quantise(np.array([1e3, -1e3, 19.0]), 2 * G).tolist() == pytest.approx([top_a, -2 * G, 19.0], abs=lsb(2 * G))


def test_clock_error_changes_the_sample_count_not_the_stamps():
    errors = replace(SensorErrors.ideal(), clock_error_max=0.02)
    s = simulate_session(5, errors=errors, **SHORT)
    ref = simulate_session(5, faults=False, **SHORT)
    factor, duration = s.stage.clock_factor, s.truth.duration_s
    assert abs(factor - 1.0) > 1e-4
    assert len(s.block) == int(np.floor(duration * 100.0 * factor)) + 1
    assert len(ref.block) == int(np.floor(duration * 100.0)) + 1
    assert np.allclose(np.diff(s.block.t_s), 0.01)
    k = np.array([0, 1000, len(s.block) - 1])
    accel, _ = s.motion.at(k / (100.0 * factor))                  # physics at the true times
    assert np.allclose(s.block.accel_mps2[k], accel, atol=lsb(16 * G))


def test_dropped_samples_leave_jumps_in_time():
    errors = replace(SensorErrors.ideal(), drops_per_min=20.0, drop_run_max_samples=5)
    s = simulate_session(6, errors=errors, **SHORT)
    dt = np.diff(s.block.t_s)
    gaps = dt[dt > 0.015]
    assert len(gaps) >= 3
    assert np.allclose(np.round(dt / 0.01) * 0.01, dt)
    missing = int(np.sum(np.round(gaps / 0.01) - 1))
    assert len(s.block) + missing == s.stage.n_samples


def test_same_seed_same_session_other_seed_differs():
    a, b, c = (simulate_session(seed, **SHORT) for seed in (11, 11, 12))
    assert np.array_equal(a.block.t_s, b.block.t_s)
    assert np.array_equal(a.block.accel_mps2, b.block.accel_mps2)
    assert np.array_equal(a.block.gyro_dps, b.block.gyro_dps)
    assert a.truth.to_dict() == b.truth.to_dict()
    n = min(len(a.block), len(c.block))
    assert not np.array_equal(a.block.gyro_dps[:n], c.block.gyro_dps[:n])


def test_unknown_workout_option_is_refused():
    with pytest.raises(TypeError, match="n_set"):
        simulate_session(1, n_set=2)


def test_sim_source_streams_the_session_and_closes_promptly():
    s = simulate_session(8, faults=False, **SHORT)
    src = SimSource(s, speed=0, block_s=0.5)
    blocks = list(src.blocks())
    assert src.status == "ended" and len(blocks) > 10
    assert np.array_equal(np.concatenate([b.t_s for b in blocks]), s.block.t_s)
    assert max(b.t_s[-1] - b.t_s[0] for b in blocks) < 0.5
    live = SimSource(s, speed=1.0, block_s=0.1)
    threading.Timer(0.3, live.close).start()
    t0 = time.monotonic()
    n = sum(1 for _ in live.blocks())
    assert time.monotonic() - t0 < 1.5 and 1 <= n <= 6


def test_simulate_command_writes_samples_and_truth(tmp_path, capsys):
    import argparse
    import json

    from firmware_bridge import simulate
    from imu.recording import read_samples

    parser = argparse.ArgumentParser()
    simulate.configure(parser)
    out = tmp_path / "sess"
    args = parser.parse_args(["--seed", "3", "--sets", "1", "--reps", "4", "--fixed-reps", "--no-distractions",
                              "--placement", "shank", "--out", str(out)])
    assert simulate.run(args) == 0
    assert str(out / "samples.csv") in capsys.readouterr().out
    meta, block, problems = read_samples(out / "samples.csv")
    truth = json.loads((out / "truth.json").read_text())
    assert meta.sensor == "simulated" and meta.placement == "shank" and problems == []
    assert truth["total_reps"] == 4 and truth["sets"][0]["reps"] == 4
    assert len(block) > 1000 and block.t_s[-1] <= truth["duration_s"] * 1.03
