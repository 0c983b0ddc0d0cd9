"""Sources by name: replay pacing, clear errors for sources that cannot be opened, and a sensor
that is not there yet at the start."""
import json
import threading
import time

import numpy as np
import pytest

from firmware_bridge.service import config
from firmware_bridge.service.live import Service
from firmware_bridge.service.sources import ReplaySource, SourceError, WaitingSource, open_source
from firmware_bridge.service.wiring import emulated_source
from firmware_bridge.store.samples import SessionMeta, write_samples
from imu.emulated.motions import Still
from imu.errors import SensorNotFound
from imu.samples import SampleBlock


def _recording(path, seconds: float = 1.0, rate_hz: float = 100.0):
    t = np.arange(0, seconds, 1 / rate_hz)
    acc = np.tile([0.0, 0.0, 9.81], (len(t), 1))
    write_samples(path, SessionMeta(sensor="mpu6050", nominal_rate_hz=rate_hz), SampleBlock(t, acc, np.zeros((len(t), 3))))
    return t


@pytest.mark.parametrize("speed,min_s,max_s", [(1.0, 0.85, 1.5), (4.0, 0.2, 0.5), (0.0, 0.0, 0.2)])
def test_replay_runs_at_recorded_speed_or_faster(tmp_path, speed, min_s, max_s):
    t = _recording(tmp_path / "s.csv")
    src = ReplaySource(tmp_path / "s.csv", speed)
    start = time.monotonic()
    blocks = list(src.blocks())
    took_s = time.monotonic() - start
    assert min_s <= took_s <= max_s
    np.testing.assert_allclose(np.concatenate([b.t_s for b in blocks]), t, atol=1e-6)
    assert src.info.sensor == "mpu6050" and src.status == "ended"


def test_replay_close_stops_it_from_another_thread(tmp_path):
    _recording(tmp_path / "s.csv", seconds=30.0)
    src = ReplaySource(tmp_path / "s.csv", 1.0)
    threading.Timer(0.3, src.close).start()
    start = time.monotonic()
    list(src.blocks())
    assert time.monotonic() - start < 1.0


@pytest.mark.parametrize("spec,says", [("usb", "unknown source"), ("replay:/no/such.csv", "does not exist")])
def test_unknown_or_missing_sources(spec, says):
    with pytest.raises(SourceError, match=says):
        open_source(spec, config.defaults())


def test_a_sensor_plugged_in_after_the_start_is_waited_for(tmp_path):
    """No sensor at the start: the source comes up anyway, says "sensor_lost" with a heartbeat
    after each attempt (the service shows the error), and streams once the sensor answers."""
    cfg = config.defaults().updated("sensor", backend="emulated", address=0x69)   # the emulated chip sits at 0x68
    src = open_source("i2c", cfg, tmp_path)
    assert isinstance(src, WaitingSource) and src.status == "sensor_lost" and src.info.sensor == "none"
    attempts = []

    def opener():                                                   # plugged in at the third try
        attempts.append(1)
        if len(attempts) < 3:
            raise SensorNotFound("no supported IMU found: 0x69: no answer")
        return emulated_source("mpu6050", Still(), 100.0, speed=4.0)
    src.opener, src.retry_s = opener, 0.05
    svc = Service(cfg, src, None, tmp_path / "sessions", "i2c", 1.0)
    errors, samples = [], 0
    for block in src.blocks():
        svc.feed(block)
        errors.append(svc.error)
        samples += len(block)
        if samples > 300:
            break
    src.close()
    svc.finish()
    assert errors[0] == "sensor not answering" and errors[-1] is None
    assert len(attempts) == 3 and src.info.sensor == "mpu6050"
    (folder,) = (tmp_path / "sessions").iterdir()
    assert json.loads((folder / "summary.json").read_text())["sensor"] == "mpu6050"


def test_closing_a_source_still_waiting_for_its_sensor_ends_it_at_once(tmp_path):
    cfg = config.defaults().updated("sensor", backend="emulated", address=0x69)
    src = open_source("i2c", cfg, tmp_path)
    threading.Timer(0.2, src.close).start()
    start = time.monotonic()
    assert all(len(b) == 0 for b in src.blocks())
    assert time.monotonic() - start < 1.0
