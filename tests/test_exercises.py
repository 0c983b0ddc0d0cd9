"""Other leg exercises (docs/exercises.md): simulated sets counted, walking and sitting never, and
the exercise chosen by config, flag and MQTT command and carried into events and files."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import Recorder

from analysis.errors import DataError
from analysis.events import RepEvent, SetEvent
from analysis.excursions import ExcursionDetector
from analysis.exercises import EXERCISES, PROFILES, check_exercise
from analysis.gyrocheck import disagreement
from analysis.pipeline import Pipeline, analyze
from firmware_bridge.cli.hingemarch import main
from firmware_bridge.mqtt import topics as tp
from firmware_bridge.service import config
from firmware_bridge.service.live import pipeline_params
from firmware_bridge.store.folder import read_reps, read_sets, summarize
from imu.sim import SensorErrors, simulate_session
from imu.sim.exercises import MOVES

T = tp.Topics("hm", "dev1")


def counts(events) -> list[int]:
    return [e.reps for e in events if isinstance(e, SetEvent)]


@pytest.fixture(scope="module", params=sorted(MOVES))
def exercise_session(request):
    """Two sets (6 and 8 reps) of one simulated exercise, random mount, MPU-6050 errors, 50 Hz."""
    return request.param, simulate_session(2, rate_hz=50, exercise=request.param, n_sets=2, reps_per_set=[6, 8],
                                           rest_range_s=(30.0, 40.0))


def test_each_simulated_exercise_is_counted_as_any_and_as_itself(exercise_session):
    name, s = exercise_session
    b = s.block
    for profile in ("any", name):
        events = analyze(b.t_s, b.accel_mps2, b.gyro_dps, exercise=profile)
        assert counts(events) == [6, 8], profile
        reps = [e for e in events if isinstance(e, RepEvent)]
        assert {r.exercise for r in reps} == {profile}
        assert {e.exercise for e in events if isinstance(e, SetEvent)} == {profile}
        true_rom = [r for st in s.truth.sets for r in st.rep_march_height_deg]
        np.testing.assert_allclose([r.rom_deg for r in reps], true_rom, atol=12)   # tilt of the segment
        starts = [t * s.stage.clock_factor for st in s.truth.sets for t in st.rep_start_s]
        assert all(r.duration_s >= 1.0 for r in reps)
        assert max(abs(r.start_s - t) for r, t in zip(reps, starts)) < 1.0   # (a step-up ends on the step)
        assert all(r.t_s - r.completed_s < 3.5 for r in reps if r.rep_in_set > 3)   # the first three wait for each other


def test_streaming_equals_batch_for_any(exercise_session):
    _, s = exercise_session
    b = s.block
    whole = analyze(b.t_s, b.accel_mps2, b.gyro_dps, exercise="any")
    p, got = Pipeline(exercise="any"), []
    for i in range(0, len(b), 37):
        got += p.feed(b.t_s[i:i + 37], b.accel_mps2[i:i + 37], b.gyro_dps[i:i + 37])
    assert got + p.finish() == whole


@pytest.mark.parametrize("placement, seed", [("thigh", 1000), ("shank", 1001), ("thigh", 1002)])
def test_walking_stairs_sitting_and_fidgets_are_never_reps(placement, seed):
    """Four minutes of no exercise at all (walks, stairs, sitting down on a bench, fidgets,
    re-strapping): no profile counts anything."""
    s = simulate_session(seed, rate_hz=100, placement=placement, n_sets=0, min_duration_s=240.0,
                         errors=SensorErrors.datasheet("mpu6500"))
    kinds = {a.kind for a in s.truth.activities}
    assert {"walk", "stairs"} & kinds
    b = s.block
    for name in PROFILES:
        reps = [e for e in analyze(b.t_s, b.accel_mps2, b.gyro_dps, placement=placement, exercise=name)
                if isinstance(e, RepEvent)]
        assert reps == [], (name, [(r.completed_s, r.rom_deg) for r in reps])


def test_hinge_march_is_the_default_and_keeps_its_metrics():
    s = simulate_session(3, rate_hz=100, n_sets=1, reps_per_set=[5], include_distractions=False)
    b = s.block
    events = analyze(b.t_s, b.accel_mps2, b.gyro_dps)
    reps = [e for e in events if isinstance(e, RepEvent)]
    assert len(reps) == 5 and {r.exercise for r in reps} == {"hinge_march"}
    assert all(r.rom_deg == pytest.approx(r.hinge_depth_deg + r.march_height_deg, abs=0.11) for r in reps)
    assert events == analyze(b.t_s, b.accel_mps2, b.gyro_dps, exercise="hinge_march")


def test_changing_the_exercise_closes_the_set_and_counts_the_new_one():
    s = simulate_session(2, rate_hz=50, exercise="hip_abduction", n_sets=2, reps_per_set=[6, 8],
                         rest_range_s=(30.0, 40.0))
    b = s.block
    p = Pipeline()                          # starts as hinge_march: counts none of these
    n = np.searchsorted(b.t_s, s.truth.sets[0].end_s + 5.0)
    assert p.feed(b.t_s[:n], b.accel_mps2[:n], b.gyro_dps[:n]) == []
    assert p.set_exercise("hip_abduction", float(b.t_s[n - 1])) == [] and p.state["exercise"] == "hip_abduction"
    events = p.feed(b.t_s[n:], b.accel_mps2[n:], b.gyro_dps[n:]) + p.finish()
    assert counts(events) == [8] and {e.exercise for e in events} == {"hip_abduction"}
    with pytest.raises(DataError, match="unknown exercise 'yoga'"):
        p.set_exercise("yoga", 0.0)


def test_names_and_profiles():
    assert EXERCISES[0] == "hinge_march" and "any" in EXERCISES and set(PROFILES) == set(EXERCISES[1:])
    assert check_exercise("lunge") == "lunge"
    with pytest.raises(DataError, match="choose one of hinge_march, any"):
        check_exercise("Lunge")
    with pytest.raises(DataError, match="unknown exercise"):
        Pipeline(exercise="squat")


def test_the_config_chooses_the_exercise():
    cfg = config.validate({"analysis": {"exercise": "step_up"}})
    assert pipeline_params(cfg).exercise == "step_up"
    assert config.defaults().analysis.exercise == "hinge_march"
    with pytest.raises(config.ConfigError) as e:
        config.validate({"analysis": {"exercise": "squats"}}, "x.toml")
    assert e.value.problems[0].startswith("x.toml: analysis.exercise: 'squats' is not one of 'hinge_march', 'any'")


@pytest.mark.parametrize("topic, payload, expect", [
    ("cmd/exercise", b"lunge", "lunge"),
    ("cmd/exercise", b"Any", "any"),
    ("cmd/exercise", b'{"exercise": "step_up", "id": 3}', "step_up"),
    ("cmd", b'{"cmd": "exercise", "exercise": "hinge_march"}', "hinge_march"),
])
def test_exercise_command(topic, payload, expect):
    c = tp.parse_command(f"{T.base}/{topic}", payload, T)
    assert (c.name, c.exercise) == ("exercise", expect)


def test_dashboards_show_and_choose_the_exercise():
    assert tp.tile_values({"exercise": "lunge"})["exercise"] == "lunge"
    select = json.loads(tp.ha_discovery(T, "homeassistant", "0.1")["homeassistant/select/hm_dev1/exercise/config"])
    assert select["state_topic"] == T.value("exercise") and select["options"] == list(EXERCISES)
    assert [tp.parse_command(select["command_topic"], o.encode(), T).exercise for o in select["options"]] == list(EXERCISES)


@pytest.mark.parametrize("topic, payload, says", [
    ("cmd/exercise", b"", "exercise must be one of"),
    ("cmd/exercise", b"squats", "exercise must be one of"),
    ("cmd/exercise", b'{"exercise": 3}', "exercise must be one of"),
    ("cmd/start", b'{"exercise": "lunge"}', "takes no exercise"),
])
def test_bad_exercise_commands_say_what_is_wrong(topic, payload, says):
    with pytest.raises(tp.CommandError, match=says):
        tp.parse_command(f"{T.base}/{topic}", payload, T)


def test_simulate_then_analyze_with_the_flag_and_the_files_say_which(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["simulate", "--seed", "2", "--exercise", "hip_abduction", "--sets", "2", "--reps", "7",
                 "--fixed-reps", "--out", str(out)]) == 0
    truth = json.loads((out / "truth.json").read_text())
    assert [s["reps"] for s in truth["sets"]] == [7, 7]
    capsys.readouterr()
    assert main(["analyze", str(out), "--exercise", "any", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["exercise"] == "any" and [s["reps"] for s in doc["sets"]] == [7, 7]
    assert all(s["exercise"] == "any" and s["mean_rom_deg"] > 10 for s in doc["sets"])
    assert all(m["rom_deg"] > 10 and m["duration_s"] > 1 for s in doc["sets"] for m in s["rep_metrics"])
    assert main(["analyze", str(out)]) == 0      # no reps.csv: hinge_march, which counts none of these
    assert "total: 0 reps" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["analyze", str(out), "--exercise", "squats"])
    assert "invalid choice: 'squats'" in capsys.readouterr().err


def test_reps_and_sets_files_and_summary_carry_the_exercise(tmp_path):
    from firmware_bridge.store.recorder import SessionRecorder
    from firmware_bridge.store.samples import SessionMeta
    s = simulate_session(2, rate_hz=50, exercise="lunge", n_sets=1, reps_per_set=[6], rest_range_s=(30.0, 40.0))
    b = s.block
    rec = SessionRecorder(tmp_path, SessionMeta(session_id="x"))
    rec.samples(b)
    p = Pipeline(exercise="lunge")
    for ev in p.feed(b.t_s, b.accel_mps2, b.gyro_dps) + p.finish():
        rec.event(ev, "left")
    rec.close()
    (folder,) = [f for f in tmp_path.iterdir() if f.is_dir()]
    reps, sets = read_reps(folder), read_sets(folder)
    assert len(reps) == 6 and {r["exercise"] for r in reps} == {"lunge"} and all(float(r["rom_deg"]) > 40 for r in reps)
    assert [(r["exercise"], r["reps"]) for r in sets] == [("lunge", "6")] and float(sets[0]["mean_rom_deg"]) > 40
    with open(folder / "reps.csv", newline="") as f:
        assert list(csv.DictReader(f).fieldnames)[-2:] == ["exercise", "rom_deg"]
    assert [x["exercise"] for x in summarize(folder)["sets"]] == ["lunge"]
    assert main(["analyze", str(folder), "--json"]) == 0       # re-analysed as what it recorded


def test_run_flag_and_mqtt_command_choose_the_exercise(broker, service):
    svc = service("--source", "sim", "--speed", "20", "--seed", "4", "--exercise", "any")
    sub = Recorder(broker, f"{svc.base}/#")
    svc.start()
    state = sub.wait_for(lambda m: m.topic == f"{svc.base}/state" and b'"running":true' in m.payload, timeout_s=20)
    assert json.loads(state.payload)["exercise"] == "any"
    sub.client.publish(f"{svc.base}/cmd/exercise", b'{"exercise": "lunge", "id": "e1"}', qos=1)
    reply = json.loads(sub.wait_for(lambda m: m.topic == f"{svc.base}/reply" and b'"e1"' in m.payload,
                                    timeout_s=10).payload)
    assert reply["ok"] and reply["error"] is None
    sub.wait_for(lambda m: m.topic == f"{svc.base}/state" and b'"exercise":"lunge"' in m.payload, timeout_s=10)
    sub.client.publish(f"{svc.base}/cmd/exercise", b"squats", qos=1)
    bad = json.loads(sub.wait_for(lambda m: m.topic == f"{svc.base}/reply" and b"squats" in m.payload,
                                  timeout_s=10).payload)
    assert not bad["ok"] and "exercise must be one of" in bad["error"]
    svc.proc.terminate()
    assert svc.wait(20) == 0
    sub.close()


def test_gyro_check_flags_a_gyro_that_disagrees_with_its_accelerometer():
    """From one still pose to the next: a leg raised 30 deg, held, lowered, at rest; the gyro that
    matches the accelerometer lands within a few deg and is trusted, one reading 2x too much is not."""
    rate_hz, t = 25.0, np.arange(0, 24, 1 / 25.0)
    k = t % 8.0                                                   # rest 1 s, up 2 s, hold 2 s, down 2 s, rest 1 s
    up = np.clip(np.minimum(k - 1.0, 7.0 - k) / 2.0, 0, 1)
    angle = np.radians(30.0) * np.sin(np.pi / 2 * up) ** 2
    acc = 9.81 * np.column_stack([np.zeros_like(t), np.sin(angle), np.cos(angle)])
    rate = np.column_stack([np.gradient(angle, 1 / rate_hz), np.zeros_like(t), np.zeros_like(t)])
    good, moves, good_off = disagreement(t, acc, np.degrees(rate))
    bad, _, bad_off = disagreement(t, acc, 2 * np.degrees(rate))
    assert moves >= 3 and good < 3.0 < 10.0 < bad
    assert not good_off and bad_off


def _scaled_gyro_raises(axis_gain: float):
    """Two sets (6 and 8) of simulated straight-leg raises, the gyro's x axis read ``axis_gain`` x."""
    s = simulate_session(2, rate_hz=50, exercise="straight_leg_raise", n_sets=2, reps_per_set=[6, 8],
                         rest_range_s=(30.0, 40.0))
    gyro = s.block.gyro_dps.copy()
    gyro[:, 0] *= axis_gain
    return s.block, gyro


def test_a_gyro_far_off_its_accelerometer_is_said_and_the_tilt_is_gravitys():
    """A gyro reading 0.3 x about one axis turns fused "up" far from gravity while the leg moves (the
    counts were [4, 3]); the check finds it, says so, and the excursion counter reads gravity's tilt."""
    b, gyro = _scaled_gyro_raises(0.3)
    p = Pipeline(exercise="any")
    events = p.feed(b.t_s, b.accel_mps2, gyro) + p.finish()
    assert counts(events) == [6, 8]
    assert any("gyro disagrees with the accelerometer" in x for x in p.problems)
    assert any("gyro disagrees with the accelerometer" in x for x in p.state["problems"])


def test_a_gyro_in_the_wrong_unit_is_said_once_by_its_cause():
    """rad/s read as deg/s also lands every movement far off: the unit's line says what to fix, and
    the check's more general line is not said beside it (one cause, one line)."""
    s = simulate_session(2, rate_hz=50, exercise="straight_leg_raise", n_sets=2)
    p = Pipeline(exercise="straight_leg_raise")
    p.feed(s.block.t_s, s.block.accel_mps2, np.radians(s.block.gyro_dps))
    p.finish()
    assert p._gyro.untrusted and any("rad/s read as deg/s" in x for x in p.problems)
    assert not any("gyro disagrees" in x for x in p.problems)


def test_the_gyro_problem_is_said_by_analyze_for_the_hinge_march_too(tmp_path, capsys):
    """analyze --json's problems[] and the table's notes: the hinge-and-march reads fused tilt too."""
    from firmware_bridge.store.folder import SAMPLES
    from firmware_bridge.store.samples import read_samples, write_samples
    out = tmp_path / "sim"
    assert main(["simulate", "--seed", "2", "--exercise", "straight_leg_raise", "--sets", "2", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["analyze", str(out), "--json"]) == 0
    assert not any("gyro disagrees" in x for x in json.loads(capsys.readouterr().out)["problems"])
    path = out / SAMPLES
    meta, block = read_samples(path)[:2]
    gyro = block.gyro_dps.copy()
    gyro[:, 0] *= 0.3
    path.unlink()
    write_samples(path, meta, type(block)(block.t_s, block.accel_mps2, gyro))
    assert main(["analyze", str(out), "--json"]) == 0
    assert any("gyro disagrees with the accelerometer" in x for x in json.loads(capsys.readouterr().out)["problems"])
    assert main(["analyze", str(out)]) == 0
    assert "note: the gyro disagrees with the accelerometer" in capsys.readouterr().out


@pytest.mark.parametrize("chip", ["mpu6050", "mpu6500", "lsm6ds3", "lsm6dsox"])
def test_a_sound_gyro_never_trips_the_check(chip):
    """Chips at their datasheet limits (gain, cross-axis, bias, noise), moving every way the
    simulator moves a leg (exercises, hinge-and-march sets, walks, stairs, sitting down), with the
    robustness bench's changes (gyro bias +-5 deg/s on each axis, the clock 3 % off): never untrusted."""
    i = ["mpu6050", "mpu6500", "lsm6ds3", "lsm6dsox"].index(chip)
    sessions = [simulate_session(10 + i, rate_hz=(25, 50, 100, 200)[i], exercise=ex, n_sets=1, mount="random",
                                 errors=SensorErrors.datasheet(chip))
                for ex in ("lunge", "straight_leg_raise", "hinge_march")]
    judged = 0
    for s in sessions:
        b = s.block
        for t_s, gyro in ((b.t_s, b.gyro_dps), (b.t_s, b.gyro_dps + 5.0), (b.t_s, b.gyro_dps - 5.0),
                          (b.t_s * 1.03, b.gyro_dps), (b.t_s * 0.97, b.gyro_dps)):
            miss_deg, moves, off = disagreement(t_s, b.accel_mps2, gyro)
            assert not off, (s.truth.exercise if hasattr(s.truth, "exercise") else s.info, miss_deg)
            judged += moves
    assert judged >= 10        # the check did judge: movements from still pose to still pose were seen


DT_S = 0.02


def _ramp(a_deg: float, b_deg: float, s: float) -> list[float]:
    x = np.arange(1, round(s / DT_S) + 1) / round(s / DT_S)
    return list(a_deg + (b_deg - a_deg) * (0.5 - 0.5 * np.cos(np.pi * x)))


def _raises(n: int, rom_deg: float, land_deg: float = 0.0, hold_s: float = 0.5, rest_s: float = 2.0) -> list[float]:
    """The leg's tilt at 50 Hz: still, then ``n`` raises of ``rom_deg`` held ``hold_s``, every other one
    landing ``land_deg`` off the pose it left (the next one lands back)."""
    tilt, base = [0.0] * 150, 0.0
    for k in range(n):
        end = land_deg if k % 2 == 0 else 0.0
        tilt += _ramp(base, base + rom_deg, 1.0) + [base + rom_deg] * round(hold_s / DT_S)
        tilt += _ramp(base + rom_deg, end, 1.0) + [end] * round(rest_s / DT_S)
        base = end
    return tilt + [base] * round(25.0 / DT_S)


def _count(tilt_deg: list[float], profile: str = "any") -> int:
    """Reps the excursion detector finds in a tilt about one axis, fed as the pipeline would (still
    windows reported every 0.5 s with how long the leg has been still)."""
    det, n, prev, still = ExcursionDetector(PROFILES[profile]), 0, tilt_deg[0], 0.0
    for i, a in enumerate(tilt_deg):
        rate, prev = (a - prev) / DT_S, a
        still = still + DT_S if rate == 0 else 0.0
        still_s = 1.0 if i == 0 else (still if still >= 1.0 and i % 25 == 0 else 0.0)
        r = np.radians(a)
        n += len(det.update(i * DT_S, np.array([0.0, np.sin(r), np.cos(r)]), (rate, 0.0, 0.0), still_s))
    return n


def _count_late_still(tilt_deg: list[float]) -> int:
    """As ``_count``, but with still windows judged as the pipeline does: every 0.5 s, the last second
    still if it turned under 2.5 deg, so a window can end inside the first degrees of a slow lift."""
    det, n, prev, still, w = ExcursionDetector(PROFILES["any"]), 0, tilt_deg[0], 0.0, round(1.0 / DT_S)
    for i, a in enumerate(tilt_deg):
        rate, prev = (a - prev) / DT_S, a
        window = tilt_deg[max(0, i - w + 1):i + 1]
        steady = i >= w and max(window) - min(window) < 2.5
        still = still + DT_S if steady else 0.0
        still_s = 1.0 if i == 0 else (still + 1.0 if steady and i % 25 == 20 else 0.0)
        r = np.radians(a)
        n += len(det.update(i * DT_S, np.array([0.0, np.sin(r), np.cos(r)]), (rate, 0.0, 0.0), still_s))
    return n


def test_a_still_window_ending_inside_a_slow_lift_does_not_move_the_rest_pose():
    """Prone hip extensions of 5 deg lifted in 1 s: a still window reported 0.4 s into a lift (its
    second mostly before it, the leg 1.7 deg up) must not make that the rest pose; the leg is
    stopped only when its rate says so now."""
    tilt = [0.0] * 150
    for _ in range(10):
        tilt += _ramp(0.0, 5.0, 1.0) + [5.0] * 25 + _ramp(5.0, 0.0, 1.0) + [0.0] * 100
    assert _count_late_still(tilt + [0.0] * 1250) == 10


def test_a_set_of_small_raises_counts_when_the_leg_lands_where_it_left():
    """A floor relative to how well the leg finds its rest pose again, not a fixed 8 deg: 5 deg
    raises landing exactly are a set; the floor follows the landings, 3 deg at least."""
    assert _count(_raises(10, 5.0)) == 10
    assert _count(_raises(10, 2.0)) == 0


def test_a_rep_is_back_within_a_fraction_of_its_own_peak():
    """40 deg raises that land 9 deg off the pose they left (a person, or fusion after a fast rep):
    back at rest is within return_frac of the rep's own peak, whatever the floor."""
    assert _count(_raises(10, 40.0, land_deg=9.0)) == 10


def test_a_raise_held_for_3_s_is_a_rep_and_sitting_is_not():
    """A still hold far from rest is a new posture only after far_hold_s (4 s): a raise held 3 s at
    50 deg is part of its rep; sitting down for 6 s and standing for 6 s, six times, is no set."""
    assert _count(_raises(10, 50.0, hold_s=3.0)) == 10
    assert _count(_raises(6, 90.0, hold_s=6.0, rest_s=6.0)) == 0
