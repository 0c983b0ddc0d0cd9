"""Calibration end to end (six positions on an emulated chip with known errors, stored, reloaded,
applied), the state-directory rule, the probe and calibrate commands, and the bus seam's errors."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from analysis.errors import DataError, HingemarchError
from analysis.units import STANDARD_GRAVITY_MPS2 as G
from firmware_bridge.cli import calibrate as calibrate_cmd
from firmware_bridge.cli import probe as probe_cmd
from firmware_bridge.service.paths import state_dir
from firmware_bridge.service.wiring import emulated_source, open_bus, source_from_config
from imu import calibration as cal_mod
from imu.clock import FakeClock
from imu.emulated.motions import SixFaces
from imu.errors import BusOpenError

OFFSET = np.array([0.25, -0.4, 0.6])
GAIN = np.array([1.03, 0.97, 1.015])
BIAS = np.array([1.2, -0.8, 2.5])


def run_cmd(module, argv):
    parser = argparse.ArgumentParser()
    module.configure(parser)
    return module.run(parser.parse_args(argv))


@pytest.mark.parametrize("chip", ["mpu6050", "lsm6dsox"])
def test_six_position_recovers_offsets_scales_and_gyro_bias(chip, tmp_path):
    clock = FakeClock()
    src = emulated_source(chip, SixFaces(hold_s=1.5), 100, clock=clock,
                          accel_range_g=4, gyro_range_dps=250, accel_offset_mps2=OFFSET,
                          accel_gain=GAIN, gyro_bias_dps=BIAS, noise_lsb=2.0)
    said = []
    cal = calibrate_cmd.collect(src, timeout_s=60, say=said.append)
    assert sum("captured" in s for s in said) == 6
    np.testing.assert_allclose(cal.accel_offset_mps2, OFFSET, atol=0.01)
    np.testing.assert_allclose(cal.accel_scale, 1 / GAIN, atol=0.002)
    np.testing.assert_allclose(cal.gyro_bias_dps, BIAS, atol=0.05)
    assert cal.chip == chip
    cal_mod.save(cal, tmp_path)
    loaded = cal_mod.load(tmp_path, chip)
    np.testing.assert_allclose(loaded.accel_scale, cal.accel_scale)
    assert cal_mod.load(tmp_path, "lsm6ds3") is None            # another chip's file is not used
    # applied on every read: a tilted, imperfect sensor now reads true
    tilted = np.array([0.3, -0.5, 0.81]) / np.linalg.norm([0.3, -0.5, 0.81]) * G

    class Tilted:
        def at(self, t_s):
            n = len(np.atleast_1d(t_s))
            return np.tile(tilted, (n, 1)), np.tile([0.0, 0.0, 50.0], (n, 1))

    src2 = emulated_source(chip, Tilted(), 100, clock=FakeClock(), calibration=loaded,
                           accel_range_g=4, gyro_range_dps=250, accel_offset_mps2=OFFSET,
                           accel_gain=GAIN, gyro_bias_dps=BIAS)
    block = next(b for b in src2.blocks() if len(b))
    src2.close()
    np.testing.assert_allclose(block.accel_mps2.mean(axis=0), tilted, atol=0.02)
    np.testing.assert_allclose(block.gyro_dps.mean(axis=0), [0, 0, 50], atol=0.1)


def test_calibration_times_out_naming_missing_poses():
    clock = FakeClock()

    class OnlyFlat:
        def at(self, t_s):
            n = len(np.atleast_1d(t_s))
            return np.tile([0, 0, G], (n, 1)), np.zeros((n, 3))

    src = emulated_source("mpu6500", OnlyFlat(), 100, clock=clock)
    with pytest.raises(calibrate_cmd.CalibrationTimeout, match=r"-x \+y -y \+z -z|\+x -x \+y -y -z"):
        calibrate_cmd.collect(src, timeout_s=3, say=lambda s: None)


def test_bad_calibration_file_is_a_clear_error(tmp_path):
    (tmp_path / cal_mod.FILE_NAME).write_text(json.dumps({"accel_offset_mps2": [0, 0],
                                                          "accel_scale": [1, 1, 1],
                                                          "gyro_bias_dps": [0, 0, 0]}))
    with pytest.raises(DataError, match="accel_offset_mps2 must be three"):
        cal_mod.load(tmp_path)
    assert cal_mod.load(tmp_path / "none") is None


def test_state_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("HINGEMARCH_STATE_DIR", raising=False)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert state_dir() == tmp_path / ".local/state/hingemarch"
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/hingemarch:/var/lib/other")
    assert str(state_dir()) == "/var/lib/hingemarch"
    monkeypatch.setenv("HINGEMARCH_STATE_DIR", str(tmp_path / "s"))
    assert state_dir() == tmp_path / "s"
    assert state_dir("/x/y") == state_dir("/x/y") and str(state_dir("/x/y")) == "/x/y"


def test_calibrate_command_stores_the_file(tmp_path, capsys):
    assert run_cmd(calibrate_cmd, ["--backend", "emulated", "--emulate", "lsm6ds3", "--speed", "40",
                                   "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "-z up: captured (6/6)" in out and f"saved {tmp_path}" in out
    stored = json.loads((tmp_path / cal_mod.FILE_NAME).read_text())
    assert stored["chip"] == "lsm6ds3"
    np.testing.assert_allclose(stored["accel_offset_mps2"], 0, atol=0.01)


def test_probe_command_prints_chip_config_and_live_rate(capsys):
    assert run_cmd(probe_cmd, ["--backend", "emulated", "--emulate", "mpu6500", "--seconds", "0.6"]) == 0
    out = capsys.readouterr().out
    assert "1 device(s) answer: 0x68" in out
    assert "found mpu6500 at 0x68 (WHO_AM_I 0x70)" in out
    assert "rate 200 Hz" in out and "GYRO_CONFIG=0x18" in out and "temperature 30.0" in out
    assert "samples," in out and "status ok" in out


def test_probe_with_nothing_on_the_bus_lists_what_answered(monkeypatch):
    with pytest.raises(HingemarchError, match=r"no supported IMU found on emulated-i2c:\n  0x6B: no answer"):
        run_cmd(probe_cmd, ["--backend", "emulated", "--emulate", "mpu6050", "--address", "0x6B",
                            "--seconds", "0.1"])


def test_bus_seam_errors_are_clear_and_never_fall_back():
    with pytest.raises(BusOpenError, match="unknown I2C backend 'spi'"):
        open_bus("spi")
    with pytest.raises(BusOpenError, match="/dev/i2c-29 does not exist"):
        open_bus("smbus2", 29)


def test_source_from_config_builds_the_source_with_the_stored_calibration(tmp_path):
    from firmware_bridge.service import config
    from imu.calibration import Calibration, save

    cfg = config.validate({"sensor": {"backend": "emulated", "chip": "lsm6dsox", "rate_hz": 100,
                                      "accel_range_g": 8}})
    save(Calibration(gyro_bias_dps=np.array([0.5, 0, 0]), chip="lsm6dsox"), tmp_path)
    src = source_from_config(cfg.sensor, tmp_path)
    try:
        assert (src.chip, src.applied.rate_hz, src.applied.accel_range_g) == ("lsm6dsox", 104, 8)
        assert src.info.calibration["gyro_bias_dps"] == [0.5, 0, 0]
        block = next(b for b in src.blocks() if len(b))
        np.testing.assert_allclose(block.gyro_dps[:, 0], -0.5, atol=0.08)
    finally:
        src.close()


def test_commands_are_registered_and_errors_are_one_line_each(monkeypatch, capsys):
    from firmware_bridge.cli import hingemarch

    assert hingemarch.COMMANDS["probe"][0] == "firmware_bridge.cli.probe"
    assert hingemarch.COMMANDS["calibrate"][0] == "firmware_bridge.cli.calibrate"
    monkeypatch.setattr(hingemarch, "COMMANDS", {k: hingemarch.COMMANDS[k] for k in ("probe", "calibrate")})
    assert hingemarch.main(["probe", "--backend", "emulated", "--emulate", "lsm6dsox", "--address", "0x6B",
                     "--seconds", "0.1"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "hingemarch probe: error: no supported IMU found on emulated-i2c:"
    assert "Traceback" not in "\n".join(err)
