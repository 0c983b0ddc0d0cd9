"""Sources by name: replay pacing, and clear errors for sources that cannot be opened."""
import time

import numpy as np
import pytest

from firmware_bridge import config
from firmware_bridge.sources import ReplaySource, SourceError, open_source
from imu.recording import SessionMeta, write_samples
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
    import threading
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
