"""The optional second sensor (analysis.sway.trunk): a simulated pelvis sensor during simulated sets
gives the classic sway measures of the true whole-body sway."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from analysis.errors import DataError
from analysis.events import SetEvent
from analysis.pipeline import Pipeline, analyze
from analysis.sway.measures import sway_measures
from analysis.sway.trunk import trunk_sway
from firmware_bridge.service import config
from firmware_bridge.service.live import Service
from firmware_bridge.service.wiring import emulated_source
from firmware_bridge.store.samples import read_samples
from imu.clock import FakeClock
from imu.samples import SampleBlock
from imu.sim import simulate_session
from imu.sim.leg import StanceShank, ideal_imu
from imu.sim.sensor import SensorErrors, SensorStage


def pelvis_samples(session, mount: np.ndarray, rate_hz: float = 100.0, h_s: float = 1e-3):
    """A pelvis-mounted IMU moved by the simulated body: its sway about the stance ankle, heading
    and travel (the same model as imu.sim.leg), through an MPU-6050 error model. Returns (t, a, g)."""
    motion = session.motion
    ch = motion.trajectory.channels

    def pose(t):
        body, ankle = motion.body_pose(t)
        local = np.stack([ch["hip_dx_m"].value(t), np.zeros_like(t), 0.95 + ch["hip_dz_m"].value(t)], axis=-1)
        return body @ mount, ankle + np.einsum("nij,nj->ni", body, local)

    stage = SensorStage(SensorErrors.mpu6050(), rate_hz, 16, 2000, motion.duration_s, np.random.default_rng(2))
    k = np.arange(stage.n_samples)
    t = stage.true_times_s(k)
    force, gyro = ideal_imu(pose, t, h_s)
    accel, gyro = stage.apply(force, gyro)
    return stage.stamp_times_s(k), accel, gyro, stage.clock_factor


@pytest.fixture(scope="module")
def two_sets():
    return simulate_session(6, rate_hz=100, n_sets=2, reps_per_set=[8, 8], include_distractions=False,
                            sway_range_deg=(0.8, 2.5), rest_range_s=(25.0, 30.0))


def test_pelvis_sensor_sway_matches_the_true_body_sway(two_sets):
    mount = Rotation.from_euler("xyz", [10, -25, 70], degrees=True).as_matrix()   # sensor axes in body axes
    t, accel, gyro, k = pelvis_samples(two_sets, mount)
    windows = [(st.start_s * k, st.end_s * k) for st in two_sets.truth.sets]
    forward = mount.T @ [1.0, 0.0, 0.0]           # the body's forward axis in sensor axes
    got = trunk_sway(t, accel, gyro, windows, forward_axis=forward)
    levels = [st.sway_level_deg for st in two_sets.truth.sets]
    for (lo, hi), m in zip(windows, got):
        tt = np.arange(lo, hi, 0.02) / k
        ml, ap = two_sets.motion.sway_deg(tt)
        truth = sway_measures(ml, ap, 50.0)
        # within 10 % or 0.2 deg: the fused tilt of a real-ish chip (bias, gain, noise) is that good
        assert m["rms_ml_deg"] == pytest.approx(truth["rms_ml"], rel=0.1, abs=0.2)
        assert m["rms_ap_deg"] == pytest.approx(truth["rms_ap"], rel=0.1, abs=0.2)
        assert m["mean_velocity_dps"] == pytest.approx(truth["mean_velocity"], rel=0.1)
        assert m["f50_ml_hz"] is not None            # sets here last well over 20 s
    assert (got[0]["rms_radius_deg"] < got[1]["rms_radius_deg"]) == (levels[0] < levels[1])


def test_second_sensor_input_problems_are_clear_errors(two_sets):
    t, accel, gyro, _ = pelvis_samples(two_sets, np.eye(3))
    with pytest.raises(DataError, match="need t_s"):
        trunk_sway(t, accel[:, :2], gyro, [(10.0, 40.0)])
    with pytest.raises(DataError, match="too close to vertical"):
        trunk_sway(t, accel, gyro, [(10.0, 40.0)], forward_axis=(0.0, 0.0, 1.0))
    assert trunk_sway(t, accel, gyro, [(10.0, 10.5)]) == [None]     # under a second: no measures


def test_the_pipeline_attaches_the_second_sensors_sway_to_each_set_streamed_or_batch(two_sets):
    """One stage for the live service and analyze: each set's ``sway["second"]`` is trunk_sway over
    that set's window, whether the second sensor's blocks are interleaved with the leg's or the
    whole recording is given at once; a forward axis that points up is a problem line, not a crash."""
    mount = Rotation.from_euler("xyz", [10, -25, 70], degrees=True).as_matrix()
    t2, a2, g2, _ = pelvis_samples(two_sets, mount)
    forward = tuple(mount.T @ [1.0, 0.0, 0.0])
    b = two_sets.block
    batch = [e for e in analyze(b.t_s, b.accel_mps2, b.gyro_dps, placement="thigh",
                                second=SampleBlock(t2, a2, g2), second_forward_axis=forward)
             if isinstance(e, SetEvent)]
    assert len(batch) == 2
    want = trunk_sway(t2, a2, g2, [(e.start_s, e.end_s) for e in batch], forward_axis=forward)
    assert [e.sway["second"] for e in batch] == want and all(want)
    p, streamed = Pipeline(placement="thigh", second_forward_axis=forward), []
    cuts = np.arange(0.0, b.t_s[-1] + 1.0, 0.1)
    e2, e1 = np.searchsorted(t2, cuts), np.searchsorted(b.t_s, cuts)     # 0.1 s blocks of both
    for i0, i1, j0, j1 in zip(e2[:-1], e2[1:], e1[:-1], e1[1:]):
        p.feed_second(t2[i0:i1], a2[i0:i1], g2[i0:i1])
        streamed += p.feed(b.t_s[j0:j1], b.accel_mps2[j0:j1], b.gyro_dps[j0:j1])
    streamed = [e for e in streamed + p.finish() if isinstance(e, SetEvent)]
    assert [e.sway["second"] for e in streamed] == want
    up = Pipeline(placement="thigh", second_forward_axis=(0.0, 0.0, 1.0))
    up.feed_second(t2, a2, g2)
    sets = [e for e in up.feed(b.t_s, b.accel_mps2, b.gyro_dps) + up.finish() if isinstance(e, SetEvent)]
    assert len(sets) == 2 and all("second" not in e.sway for e in sets)
    assert up.problems[-1].startswith("second sensor: ") and "too close to vertical" in up.problems[-1]


def test_a_second_chip_on_the_bus_is_recorded_and_measured_in_each_set(two_sets, tmp_path):
    """The whole live path: two emulated MPU-6050s on one bus (the lifted thigh, and the standing
    shank at 0x69 swaying with the body), the real drivers, the service: second.csv holds the
    second chip's samples and each set's row its sway, which matches the true body sway."""
    cfg = config.defaults()
    source = emulated_source("mpu6050", two_sets.motion, 100.0, clock=FakeClock(), second_address=0x69,
                             second_motion=StanceShank(two_sets.motion))
    svc = Service(cfg, source, None, tmp_path / "sessions", "emulated:mpu6050", 0)
    for block in source.blocks():
        svc.feed(block)
    svc.finish()
    (folder,) = (tmp_path / "sessions").iterdir()
    meta, second, problems = read_samples(folder / "second.csv")
    assert meta.placement == "second" and not problems
    assert len(second) > 0.95 * 100 * two_sets.motion.duration_s
    rows = list(csv.DictReader((folder / "sets.csv").open()))
    assert [int(r["reps"]) for r in rows] == [8, 8]
    for row in rows:
        ml, ap = two_sets.motion.sway_deg(np.arange(float(row["start_s"]), float(row["end_s"]), 0.02))
        truth = sway_measures(ml, ap, 50.0)
        assert float(row["second_rms_ml_deg"]) == pytest.approx(truth["rms_ml"], rel=0.1, abs=0.2)
        assert float(row["second_rms_ap_deg"]) == pytest.approx(truth["rms_ap"], rel=0.1, abs=0.2)
    # analyze of the folder reads second.csv back and gives the same, but for the file's rounding
    # of the values (4-6 decimals), which the fusion carries through a whole set
    r = subprocess.run([sys.executable, "-m", "firmware_bridge.cli.hingemarch", "analyze", str(folder), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [s["sway"]["second"]["rms_ml_deg"] for s in doc["sets"]] == pytest.approx(
        [float(row["second_rms_ml_deg"]) for row in rows], rel=0.01)
