"""A phone as the sensor, live: Sensor Logger's HTTP push received and phyphox's remote access polled,
each against an emulation of the app's documented protocol (tests/phone_emulators.py) moved by a
simulated workout. The service counts the workout's reps, refuses garbage without stopping, and
says so while the phone is gone."""
from __future__ import annotations

import json
import signal
import socket
import threading
import time

import numpy as np
import pytest
from phone_emulators import PhyphoxApp, SensorLoggerApp
from run_helpers import wait_listening

from firmware_bridge.service import config
from firmware_bridge.service.loop import serve
from firmware_bridge.service.sources import SourceError, open_source
from firmware_bridge.store.samples import read_samples
from imu.errors import PhoneError
from imu.phone.phyphox import PhyphoxSource
from imu.phone.sensorlogger import SensorLoggerSource
from imu.sim import simulate_session

SPEED = 20.0


def _workout(seed: int = 1):
    """Two sets (6 and 5 reps), no distractions: a session the analysis counts exactly offline."""
    return simulate_session(seed, rate_hz=100.0, n_sets=2, reps_per_set=[6, 5], include_distractions=False,
                            rest_range_s=(20.0, 25.0))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cfg(timeout_s: float = 5.0):
    return (config.defaults().updated("mqtt", enabled=False).updated("web", enabled=False)
            .updated("phone", timeout_s=timeout_s))


def _serve(source, tmp_path, until, max_s: float = 60.0, cfg=None, seen: list | None = None):
    """The live service loop on ``source`` until ``until(service)`` holds (or ``max_s`` passed);
    ``seen`` collects (sensor_status, error) after each block."""
    stop, start = threading.Event(), time.monotonic()
    seen = [] if seen is None else seen

    def on_block(svc) -> None:
        seen.append((svc.source.status, svc.error))
        if until(svc) or time.monotonic() - start > max_s:
            stop.set()
    svc = serve(cfg or _cfg(), source, tmp_path, on_block=on_block, stop=stop)
    return svc, seen


@pytest.mark.parametrize("platform", ["android", "ios"])
def test_sensor_logger_push_counts_the_workout(tmp_path, platform):
    """Each sensor with its own time stamps, some messages sent twice, garbage in between: every
    rep counted, every garbage body answered 400, the good ones 200."""
    sim = _workout()
    source = SensorLoggerSource(0, host="127.0.0.1")
    app = SensorLoggerApp(sim, f"http://127.0.0.1:{source.port}/", platform, speed=SPEED, resend_every=7)
    garbage = [b"{not json", b'{"messageId": 3}', b"\xff\xfe", b'[1, 2]',
               json.dumps({"payload": [{"name": "gyroscope", "time": 5, "values": {"x": "a"}}]}).encode()]
    answers = []

    def send_garbage():
        time.sleep(1.0)
        answers.extend(app.post(body) for body in garbage)
    app.start()
    threading.Thread(target=send_garbage, daemon=True).start()
    svc, seen = _serve(source, tmp_path, lambda s: app.done and s.t_s > sim.block.t_s[-1] - 0.5)
    app.join()
    assert svc.last_summary["totals"]["reps"] == sim.truth.total_reps == 11
    assert answers == [400, 400, 400, 400, 200]      # a well-formed message with a bad reading: the rest kept
    assert set(app.statuses) == {200}
    assert source.joiner.duplicates > 0              # the resent messages were dropped, not counted twice
    assert source.info.nominal_rate_hz == pytest.approx(100.0, abs=1.0)
    (folder,) = (tmp_path / "sessions").iterdir()
    assert json.loads((folder / "summary.json").read_text())["sensor"] == "sensorlogger"


def test_a_phone_that_stops_pushing_is_shown_and_cleared(tmp_path):
    sim = _workout()
    source = SensorLoggerSource(0, host="127.0.0.1", timeout_s=1.0)
    app = SensorLoggerApp(sim, f"http://127.0.0.1:{source.port}/", speed=SPEED)
    app.pause_at_s = 30.0                            # the phone goes quiet half way
    resumed = []

    def until(svc) -> bool:
        if app._thread is None:                      # the service is up before the phone pushes
            app.start()
        if svc.error == "sensor not answering" and svc.t_s > 25.0 and not resumed:
            resumed.append(svc.t_s)
            app.resume()
        return app.done and svc.t_s > sim.block.t_s[-1] - 0.5
    svc, seen = _serve(source, tmp_path, until)
    app.join()
    assert seen[0] == ("sensor_lost", "sensor not answering")      # waiting for the phone at first
    assert resumed, "the quiet phone was never shown as not answering"
    statuses = [s for s, _ in seen]
    lost_again = statuses.index("sensor_lost", statuses.index("ok"))
    assert ("ok", None) in seen[lost_again:]                         # cleared once it pushed again
    assert svc.last_summary["totals"]["reps"] == sim.truth.total_reps  # nothing pushed was lost


def test_pushes_without_the_gyroscope_say_which_sensor_to_turn_on(tmp_path, caplog):
    source = SensorLoggerSource(0, host="127.0.0.1", timeout_s=1.0)
    app = SensorLoggerApp(_workout(), f"http://127.0.0.1:{source.port}/", speed=SPEED, off=("gyroscope",)).start()
    seen = []
    _serve(source, tmp_path, lambda s: len(seen) > 6 and (app.stop() or True), seen=seen)  # app first
    assert set(seen) == {("sensor_lost", "sensor not answering")} and app.sent > 0
    assert "its pushes carry no gyroscope: turn gyroscope on in the app" in caplog.text


def test_run_takes_sensor_logger_pushes(service, tmp_path):
    """``hingemarch run --source sensorlogger:PORT`` as a process: it listens, counts, and closes the
    session on SIGTERM."""
    sim = _workout(2)
    port = _free_port()
    svc = service("--source", f"sensorlogger:{port}").start()
    wait_listening(svc.proc, port)
    app = SensorLoggerApp(sim, f"http://127.0.0.1:{port}/", speed=SPEED).start()
    app.join()
    time.sleep(0.5)
    svc.proc.send_signal(signal.SIGTERM)
    assert svc.wait() == 0, svc.log.read_text()
    (folder,) = svc.sessions()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["totals"]["reps"] == sim.truth.total_reps and summary["sensor"] == "sensorlogger"


def test_phyphox_remote_access_counts_the_workout(tmp_path):
    sim = _workout(3)
    phone = PhyphoxApp(sim, speed=SPEED)
    source = open_source(f"phyphox:{phone.url}", _cfg())
    assert isinstance(source, PhyphoxSource)
    svc, seen = _serve(source, tmp_path, lambda s: s.t_s > sim.block.t_s[-1] - 0.5)
    phone.close()
    assert svc.last_summary["totals"]["reps"] == sim.truth.total_reps
    assert "/control?cmd=start" in phone.requests                   # the client started the measurement
    polls = [r for r in phone.requests if r.startswith("/get?")]
    assert "acc_time=full" in polls[0] and all("full" not in r for r in polls[1:])   # then only what is new
    assert source.info.nominal_rate_hz == pytest.approx(100.0, abs=1.0)


def test_a_phyphox_phone_that_leaves_the_network_is_shown_and_nothing_is_lost(tmp_path):
    sim = _workout(3)
    phone = PhyphoxApp(sim, speed=SPEED)
    source = open_source(f"phyphox:{phone.url}", _cfg(timeout_s=1.0))
    events, shown_at, seen = [], [], []

    def until(svc) -> bool:
        if svc.t_s > 30.0 and not events:
            events.append("vanished")
            phone.vanish()
        elif events == ["vanished"] and svc.error == "sensor not answering":
            events.append("shown")
            shown_at.append(len(seen))
            phone.come_back()
        return svc.t_s > sim.block.t_s[-1] - 0.5
    svc, _ = _serve(source, tmp_path, until, seen=seen)
    phone.close()
    assert events == ["vanished", "shown"]
    assert ("ok", None) in seen[shown_at[0]:]                      # cleared once it answers again
    assert svc.last_summary["totals"]["reps"] == sim.truth.total_reps   # it kept measuring meanwhile


def test_a_phyphox_measurement_cleared_on_the_phone_goes_on_after_a_gap(tmp_path):
    sim = _workout(3)
    rest_s = sim.truth.sets[0].end_s + 5.0                # cleared during the rest between the sets
    phone = PhyphoxApp(sim, speed=SPEED)
    source = open_source(f"phyphox:{phone.url}", _cfg())
    cleared = []

    def until(svc) -> bool:
        if svc.t_s > rest_s and not cleared:
            cleared.append(svc.t_s)
            phone.control("clear")
        return bool(cleared) and phone.base_s + phone.now_s() > sim.block.t_s[-1] + 5.0   # all served, polled
    svc, _ = _serve(source, tmp_path, until)
    phone.close()
    assert svc.last_summary["totals"]["reps"] == sim.truth.total_reps
    (folder,) = (tmp_path / "sessions").iterdir()
    meta, block, _ = read_samples(folder / "samples.csv")
    steps = np.diff(block.t_s)
    assert steps.min() > 0                                 # never back in time
    assert np.count_nonzero(steps > 0.5) == 1              # one gap: the clear, at the right place
    assert block.t_s[np.argmax(steps)] == pytest.approx(cleared[0], abs=0.5)


def test_phyphox_running_another_experiment_says_which_buffers_it_lacks(tmp_path, caplog):
    sim = _workout(3)
    phone = PhyphoxApp(sim, speed=SPEED)
    cfg = _cfg().updated("phone", phyphox_gyro="rot_time,rotX,rotY,rotZ")
    source = open_source(f"phyphox:{phone.url}", cfg)
    seen = []
    _serve(source, tmp_path, lambda s: len(seen) >= 3, cfg=cfg, seen=seen)
    phone.close()
    assert all(s == ("sensor_lost", "sensor not answering") for s in seen)
    assert "the running experiment has no buffer rot_time, rotX, rotY, rotZ" in caplog.text
    assert "/control?cmd=start" not in phone.requests


def test_an_address_that_is_not_phyphox_is_said_and_does_not_stop_the_service(tmp_path, caplog):
    other = SensorLoggerSource(0, host="127.0.0.1")          # some other web server on that address
    source = open_source(f"phyphox:http://127.0.0.1:{other.port}", _cfg())
    seen = []
    _serve(source, tmp_path, lambda s: len(seen) >= 3, seen=seen)
    other.close()
    assert set(seen) == {("sensor_lost", "sensor not answering")}
    assert "the answer is not phyphox's remote access" in caplog.text


@pytest.mark.parametrize("spec,says", [
    ("sensorlogger:http", "the port must be a whole number 1..65535"),
    ("sensorlogger:70000", "the port must be a whole number 1..65535"),
    ("phyphox:", "give the address phyphox shows"),
    ("phyphox:ftp://phone:8080", "give the address phyphox shows"),
    ("phyphox:http://phone:80x", "give the address phyphox shows"),
])
def test_bad_phone_sources_are_one_line_errors(spec, says):
    with pytest.raises(SourceError, match=says) as e:
        open_source(spec, config.defaults())
    assert "\n" not in str(e.value)


def test_bad_phyphox_buffer_names_are_one_line_errors():
    cfg = config.defaults().updated("phone", phyphox_accel="acc_time,accX")
    with pytest.raises(SourceError, match="phone.phyphox_accel buffers: give four names"):
        open_source("phyphox:http://phone:8080", cfg)


def test_a_taken_port_is_one_line_error():
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(PhoneError) as e:
            open_source(f"sensorlogger:{port}", config.defaults())
    assert str(e.value) == f"sensorlogger: cannot listen on port {port}: Address already in use"
