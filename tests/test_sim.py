"""Physics and bookkeeping checks of the simulated sensor (imu.sim)."""
from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from analysis.units import STANDARD_GRAVITY_MPS2 as G
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


def test_turned_mount_reads_the_turned_motion_and_clips_in_its_own_axes():
    keys = dict(faults=False, accel_range_g=2, gyro_range_dps=250, tempo_range_s=(1.5, 2.0), **SHORT)
    turn = Rotation.from_euler("xyz", [30, -50, 70], degrees=True).as_matrix()
    s, t = simulate_session(4, **keys), simulate_session(4, mount_turn=turn, **keys)
    accel, gyro = s.motion.at(np.array([0.0, 5.0]))
    assert np.allclose(t.block.accel_mps2[[0, 500]], accel @ turn.T, atol=lsb(2 * G))
    assert np.allclose(t.block.gyro_dps[[0, 500]], gyro @ turn.T, atol=lsb(250))
    assert np.all(np.abs(t.block.gyro_dps) <= 250)      # clipped at the range on the turned chip's axes
    assert np.sum(np.isclose(np.abs(t.block.gyro_dps), 32767 * lsb(250)) | np.isclose(t.block.gyro_dps, -250)) > 10
    assert np.abs(t.block.gyro_dps - s.block.gyro_dps @ turn.T).max() > 10  # not the clipped samples turned


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

    from firmware_bridge.cli import simulate
    from firmware_bridge.store.samples import read_samples

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


# --- widened simulator: chips at their datasheet limits, people as they really are ---------------

MG = 1e-3 * G
# chip: (accel offset x/y, z (m/s^2), gyro offset (dps), gain, cross-axis, accel tempco x/y, z
# (m/s^2 per deg C), gyro tempco (dps per deg C)), from the datasheets, independently of sensor.py
DATASHEET_LIMITS = {
    "mpu6050": (50 * MG, 80 * MG, 20.0, 0.03, 0.02, 35 * MG / 70, 60 * MG / 70, 20.0 / 125),
    "mpu6500": (60 * MG, 60 * MG, 5.0, 0.03, 0.02, 1.5 * MG, 1.5 * MG, 0.24),
    "lsm6ds3": (40 * MG, 40 * MG, 10.0, 0.01, 0.01, 0.5 * MG, 0.5 * MG, 0.05),
    "lsm6dsox": (20 * MG, 20 * MG, 1.0, 0.01, 0.01, 0.1 * MG, 0.1 * MG, 0.01),
}


def sample_hash(block, n: int) -> str:
    h = hashlib.sha256()
    for a in (block.t_s, block.accel_mps2, block.gyro_dps):
        h.update(np.ascontiguousarray(a[:n]).tobytes())
    return h.hexdigest()


def still_windows(motion, t0_s: float, t1_s: float, step_s: float = 0.1) -> list[float]:
    """Starts of the 1-s windows of ideal physics that the counter would take as still (as
    analysis.orientation.StillBias: gyro within 5 dps of its mean, accelerometer magnitude within 6 %,
    its direction within 3 deg)."""
    found = []
    for a in np.arange(t0_s, t1_s - 1.0 + 1e-9, step_s):
        accel, gyro = motion.at(np.linspace(a, a + 1.0, 51))
        norm = np.linalg.norm(accel, axis=1)
        up = accel.mean(axis=0) / np.linalg.norm(accel.mean(axis=0))
        if (np.abs(gyro - gyro.mean(axis=0)).max() < 5.0 and np.abs(norm - norm.mean()).max() < 0.06 * norm.mean()
                and ((accel @ up) / norm).min() > np.cos(np.radians(3.0))):
            found.append(float(a))
    return found


def test_default_options_reproduce_the_corpus_bit_for_bit():
    # reference taken before the simulator was widened: new behaviour is opt-in only
    s = simulate_session(1000)
    assert sample_hash(s.block, 1000) == "f02f99cc53656f181c4e8fbb1f0cef3dcd69089b9b04c1564848b3159de09668"
    assert len(s.block) == 39165
    assert all(set(a.to_dict()) == {"kind", "start_s", "end_s"} for a in s.truth.activities)


@pytest.mark.parametrize("chip", sorted(DATASHEET_LIMITS))
def test_datasheet_presets_stay_within_the_limits_and_reach_near_them(chip):
    xy, z, gyro, gain, cross, tc_xy, tc_z, tc_gyro = DATASHEET_LIMITS[chip]
    stages = [SensorStage(SensorErrors.datasheet(chip), 100.0, 16, 2000, 600.0, np.random.default_rng(seed))
              for seed in range(50)]
    accel_bias = np.array([st.accel_bias_mps2 for st in stages])
    off = ~np.eye(3, dtype=bool)
    cross_drawn = np.array([[st.accel_cross[off], st.gyro_cross[off]] for st in stages])
    tempco = np.array([st.accel_tempco_mps2_per_c for st in stages])
    for drawn, limit in ((np.abs(accel_bias[:, :2]), xy), (np.abs(accel_bias[:, 2]), z),
                         (np.abs([st.gyro_bias_dps for st in stages]), gyro),
                         (np.abs([[st.accel_scale, st.gyro_scale] for st in stages]) - 1.0, gain),
                         (np.abs(cross_drawn), cross), (np.abs(tempco[:, :2]), tc_xy), (np.abs(tempco[:, 2]), tc_z),
                         (np.abs([st.gyro_tempco_dps_per_c for st in stages]), tc_gyro)):
        assert drawn.max() <= limit * (1 + 1e-9)
        assert drawn.max() > 0.8 * limit
    assert all(np.array_equal(np.diag(st.accel_cross), np.ones(3)) for st in stages)
    assert all(3.0 <= st.warm_up_c <= 15.0 and 60.0 <= st.warm_up_tau_s <= 300.0
               and 0.0 <= st.cool_down_c <= 0.2 * st.warm_up_c for st in stages)
    with pytest.raises(ValueError, match="chip"):
        SensorErrors.datasheet("bmi160")


def test_cross_axis_coupling_mixes_the_axes_of_both_sensors():
    errors = replace(SensorErrors.ideal(), cross_axis_max=0.02)
    stage = SensorStage(errors, 100.0, 2, 250, 20.0, np.random.default_rng(3))
    t = np.array([5.0])
    ideal_accel, _ = still_motion().at(t)                              # gravity along z
    _, ideal_gyro = still_motion(heading_deg=(0.0, 10.0, 360.0)).at(t)   # a turn about z
    accel, gyro = stage.apply(ideal_accel, ideal_gyro)
    assert np.allclose(accel[0], stage.accel_cross @ ideal_accel[0], atol=lsb(2 * G))
    assert np.allclose(gyro[0], stage.gyro_cross @ ideal_gyro[0], atol=lsb(250))
    assert 0.0 < np.abs(stage.accel_cross - np.eye(3)).max() <= 0.02
    assert 5 * lsb(2 * G) < np.abs(accel[0, :2]).max() <= 0.02 * G + lsb(2 * G)   # x, y pick up gravity
    assert 5 * lsb(250) < np.abs(gyro[0, :2]).max() <= 0.02 * np.abs(ideal_gyro).max() + lsb(250)


def test_temperature_drift_moves_the_gyro_offset_by_the_drawn_coefficient():
    errors = replace(SensorErrors.ideal(), gyro_tempco_max_dps_per_c=0.16, accel_tempco_max_mps2_per_c=0.005,
                     warm_up_range_c=(10.0, 15.0), warm_up_tau_range_s=(120.0, 180.0), cool_down_max_frac=0.2)
    rate, duration = 20.0, 900.0
    whole = SensorStage(errors, rate, 2, 250, duration, np.random.default_rng(9))
    chunked = SensorStage(errors, rate, 2, 250, duration, np.random.default_rng(9))
    s = Script()
    motion = LegMotion(s.freeze(duration))
    k = np.arange(whole.n_samples)
    accel, gyro = whole.apply(*motion.at(whole.true_times_s(k)))
    parts = [chunked.apply(*motion.at(chunked.true_times_s(k[i:i + 1234]))) for i in range(0, len(k), 1234)]
    assert np.array_equal(gyro, np.concatenate([p[1] for p in parts]))   # temperature follows true time
    assert np.array_equal(accel, np.concatenate([p[0] for p in parts]))
    warming = whole.warming_c(whole.true_times_s(k))
    assert warming[0] == 0.0 and 0.5 * whole.warm_up_c < warming[-1] <= whole.warm_up_c
    assert np.all(np.diff(warming[: int(60 * rate)]) > 0)                 # warming up after power-on
    first, last = slice(0, int(10 * rate)), slice(-int(10 * rate), None)
    moved = gyro[last].mean(axis=0) - gyro[first].mean(axis=0)
    expected = whole.gyro_tempco_dps_per_c * (warming[last].mean() - warming[first].mean())
    assert np.abs(expected).max() > 0.5                                   # a visible drift...
    assert np.allclose(moved, expected, atol=lsb(250))                    # ... by the coefficient
    assert np.allclose(accel[last].mean(axis=0) - accel[first].mean(axis=0),
                       whole.accel_tempco_mps2_per_c * (warming[last].mean() - warming[first].mean()),
                       atol=lsb(2 * G))


def test_datasheet_chip_session_runs_with_its_drift():
    s = simulate_session(21, errors=SensorErrors.datasheet("mpu6050"), **SHORT)
    assert s.stage.warm_up_c > 0 and np.abs(s.stage.gyro_tempco_dps_per_c).max() > 0
    offset = s.stage.gyro_offset_dps(np.array([0.0, s.truth.duration_s]))
    assert np.allclose(offset[0], s.stage.gyro_bias_dps)
    assert not np.allclose(offset[1], offset[0])


@pytest.mark.parametrize("placement", ["thigh", "shank"])
def test_moving_start_has_no_still_second_in_the_first_ten_seconds(placement):
    for seed in (31, 32, 33):
        s = simulate_session(seed, faults=False, start="moving", placement=placement, **SHORT)
        assert still_windows(s.motion, 0.0, 10.0) == []
        first = s.truth.activities[0]
        assert first.kind == "walk" and first.start_s == 0.0 and first.end_s > 10.0
        assert np.linalg.norm(s.motion.body_pose(np.array([0.0, 0.5]))[1][1]) > 0.4   # already walking
    standing = simulate_session(31, faults=False, placement=placement, **SHORT)
    assert still_windows(standing.motion, 0.0, 3.0) != []                 # the default starts still


def test_seated_start_stands_up_after_some_seconds():
    s = simulate_session(34, faults=False, start="seated", **SHORT)
    first = s.truth.activities[0]
    assert first.kind == "sit_stand" and first.start_s == 0.0 and 6.0 < first.end_s < 23.0
    assert 75.0 < s.motion.segment_angle_deg(np.array([1.0]))[0] < 100.0  # thigh ~horizontal
    assert abs(s.motion.segment_angle_deg(np.array([first.end_s + 0.5]))[0]) < 1.0
    assert s.truth.sets[0].start_s > first.end_s


@pytest.mark.parametrize("placement", ["thigh", "shank"])
def test_stretch_is_a_long_non_rep_activity_without_a_still_second(placement):
    for seed in (41, 42):
        s = simulate_session(seed, faults=False, stretch_prob=1.0, placement=placement, n_sets=2, reps_per_set=3,
                             reps_jitter=0, include_distractions=False)
        stretches = [a for a in s.truth.activities if a.kind == "stretch"]
        assert len(stretches) == 3                                        # one per rest: lead, between, tail
        for a in stretches:
            assert 58.0 < a.end_s - a.start_s < 130.0
            assert still_windows(s.motion, a.start_s + 0.5, a.end_s - 1.5, step_s=0.25) == []
            assert not any(a.start_s < c < a.end_s for st in s.truth.sets for c in st.rep_completion_s)
        assert s.truth.total_reps == 6


def _principal_axis(block, t0_s: float, t1_s: float) -> np.ndarray:
    sel = (block.t_s >= t0_s) & (block.t_s <= t1_s)
    return np.linalg.svd(block.gyro_dps[sel], full_matrices=False)[2][0]


@pytest.mark.parametrize("in_plane", [True, False])
@pytest.mark.parametrize("placement", ["thigh", "shank"])
def test_strap_slip_within_a_set_keeps_or_moves_the_flexion_axis(in_plane, placement):
    for seed in (51, 52, 53):
        s = simulate_session(seed, faults=False, placement=placement, slip_prob=1.0,
                             slip_in_plane_frac=1.0 if in_plane else 0.0, slip_range_deg=(20.0, 30.0),
                             n_sets=1, reps_per_set=8, reps_jitter=0, include_distractions=False, flow_prob=0.0,
                             sway_range_deg=(0.3, 0.5), wobble_range_deg=(0.3, 0.5), false_start_prob=0.0)
        st = s.truth.sets[0]
        slip = next(a for a in s.truth.activities if a.kind == "strap_slip" and st.start_s < a.start_s < st.end_s)
        assert slip.in_plane is in_plane and 20.0 <= abs(slip.angle_deg) <= 30.0
        assert 0.2 <= slip.end_s - slip.start_s <= 0.6 and slip.to_dict()["in_plane"] is in_plane
        i = st.rep_completion_s.index(slip.start_s)                       # between rep i and rep i + 1
        before = _principal_axis(s.block, st.rep_start_s[i], st.rep_completion_s[i])
        after = _principal_axis(s.block, max(st.rep_start_s[i + 1], slip.end_s), st.rep_completion_s[i + 1])
        moved_deg = np.degrees(np.arccos(min(1.0, abs(before @ after))))
        # the flexion axis (segment y) in sensor axes, from the mount itself
        m0, m1 = s.motion.mount_at(np.array([slip.start_s - 0.01, slip.end_s + 0.01]))
        axis_moved_deg = np.degrees(np.arccos(np.clip((m0.T @ [0, 1, 0]) @ (m1.T @ [0, 1, 0]), -1, 1)))
        # standing gravity in sensor axes turns by the slip either way
        up0, up1 = s.motion.at(np.array([st.rep_start_s[i] - 0.05, st.end_s + 0.4]))[0]
        up_moved_deg = np.degrees(np.arccos(up0 @ up1 / np.linalg.norm(up0) / np.linalg.norm(up1)))
        assert st.reps == 8
        if in_plane:
            assert axis_moved_deg < 1e-6 and moved_deg < 5.0
            assert abs(up_moved_deg - abs(slip.angle_deg)) < 3.0
        else:
            assert abs(axis_moved_deg - abs(slip.angle_deg)) < 1e-6
            assert abs(moved_deg - abs(slip.angle_deg)) < 5.0


def test_min_movement_lets_a_fast_rep_take_its_tempo():
    fast = dict(tempo_range_s=(1.2, 1.2), hold_prob=1.0, hold_range_s=(0.1, 0.12), fatigue=False, flow_prob=0.0,
                false_start_prob=0.0, foot_tap_prob=0.0, **SHORT)
    quick = simulate_session(61, faults=False, min_movement_s=0.9, **fast)
    usual = simulate_session(61, faults=False, **fast)
    for s, shortest, longest in ((quick, 1.15, 1.2 + 1e-9), (usual, 1.2, 1.25)):
        st = s.truth.sets[0]
        took = np.array(st.rep_completion_s) - np.array(st.rep_start_s)
        assert shortest <= took.min() and took.max() <= longest
    st = quick.truth.sets[0]
    for start, end, height in zip(st.rep_start_s, st.rep_completion_s, st.rep_march_height_deg):
        t = np.linspace(start, end, 200)
        assert abs(quick.motion.segment_angle_deg(t).max() - height) < 0.5   # the whole rep, only quicker


def test_new_workout_options_refuse_nonsense():
    with pytest.raises(ValueError, match="start"):
        simulate_session(1, start="lying")
    with pytest.raises(ValueError, match="slip_prob"):
        simulate_session(1, slip_prob=1.5)
    with pytest.raises(ValueError, match="min_movement_s"):
        simulate_session(1, min_movement_s=0.0)


def test_knee_march_range_bends_the_shank_back_at_the_march_top():
    s = simulate_session(71, faults=False, placement="shank", knee_march_range_deg=(115.0, 120.0),
                         march_height_range_deg=(60.0, 70.0), **SHORT)
    st = s.truth.sets[0]
    assert all(-60.0 <= m <= -45.0 for m in st.rep_sensor_march_deg)   # shank tilted back at the top
