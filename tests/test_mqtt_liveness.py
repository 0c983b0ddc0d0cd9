"""The link heals itself: reconnect within seconds of the broker's return, and the watchdog that
replaces a paho client whose network thread died or is stuck, or whose outbox stopped draining while
connected (a frozen broker), reporting it in ``Publisher.problems`` for status/error."""
import json
import logging
import os
import signal
import threading
import time

import pytest
from conftest import Recorder
from mqtt_helpers import settings

from firmware_bridge.mqtt.client import Publisher, is_local_host, reconnect_max_delay
from firmware_bridge.mqtt.outbox import Outbox


def started(s, tmp_path, on_command=None, **kw) -> Publisher:
    pub = Publisher(s, Outbox(tmp_path / "outbox.sqlite3"), on_command, **kw).start()
    assert pub.connected.wait(5), "publisher did not connect"
    return pub


def wait_until(pred, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        threading.Event().wait(0.05)


@pytest.mark.parametrize("host, local", [("127.0.0.1", True), ("localhost", True), ("192.168.1.20", True),
                                         ("10.0.0.5", True), ("mosquitto", True), ("pi.local", True),
                                         ("fe80::1", True), ("broker.example.org", False),
                                         ("8.8.8.8", False)])
def test_local_brokers_are_retried_every_two_seconds_remote_ones_up_to_the_setting(broker, host, local):
    s = settings(broker, host=host, reconnect_max_s=30.0)
    assert is_local_host(host) is local
    assert reconnect_max_delay(s) == (2 if local else 30)
    assert reconnect_max_delay(settings(broker, host=host, reconnect_max_s=1.0)) == 1


def test_events_flow_within_5_s_of_the_broker_coming_back(own_broker, tmp_path):
    """Down long enough for paho's doubling backoff to reach 16 s with reconnect_max_s = 30; a local
    broker is still retried every 2 s, so the queued event arrives soon after it is back."""
    s = settings(own_broker, reconnect_max_s=30.0)
    pub = started(s, tmp_path)
    own_broker.stop(kill=True)
    pub.event("rep", {"rep_in_set": 1}, "sess-R", 1)
    threading.Event().wait(16.0)
    own_broker.start()
    back = time.monotonic()
    sub = Recorder(own_broker, f"{s.topics.base}/event/#")
    sub.wait_for(lambda m: b'"seq":1' in m.payload, timeout_s=max(0.1, 5.0 - (time.monotonic() - back)))
    sub.close()
    pub.close()


def test_a_dead_network_thread_is_noticed_and_the_client_restarted(broker, subscribe, tmp_path, caplog):
    s = settings(broker)
    events = subscribe(f"{s.topics.base}/event/#")
    pub = started(s, tmp_path, stuck_s=1.0, stall_s=2.0)
    with caplog.at_level(logging.INFO, logger="hingemarch.mqtt"):
        pub.client.loop_stop()         # paho's thread ends as if killed; "connected" is still set
        wait_until(lambda: pub.restarts == 1, 5, "restart after the thread stopped")
        assert any("network thread has stopped; restarted" in r.getMessage() for r in caplog.records)
        pub.event("rep", {"rep_in_set": 1}, "sess-T", 1)
        assert json.loads(events.topic(s.topics.event("rep")).payload)["session_id"] == "sess-T"
        wait_until(lambda: pub.problems == [], 5, "problem cleared once the link works")
    assert pub.restarts == 1
    pub.close()


def test_a_stuck_network_thread_is_noticed_and_the_client_restarted(broker, subscribe, tmp_path, caplog):
    s = settings(broker)
    release, entered = threading.Event(), threading.Event()
    events, replies = subscribe(f"{s.topics.base}/event/#"), subscribe(s.topics.reply)
    ctl = subscribe("unused/none")
    pub = started(s, tmp_path, on_command=lambda cmd: entered.set() or release.wait(30), stuck_s=1.0, stall_s=60.0)
    try:
        for _ in range(50):                   # until the client's subscription is active
            ctl.client.publish(s.topics.command("start"), b"", qos=1)      # the handler never returns
            if entered.wait(0.2):
                break
        wait_until(lambda: pub.restarts == 1, 6, "restart of the stuck client")
        assert any("stuck in on_message" in r.getMessage() for r in caplog.records)
        pub.event("rep", {"rep_in_set": 1}, "sess-S", 1)
        events.topic(s.topics.event("rep"))
        pub.reply(None, False, "after the restart")
        replies.wait_for(lambda m: b"after the restart" in m.payload)
    finally:
        release.set()
    threading.Event().wait(0.5)           # the old client's late callbacks are ignored
    assert pub.restarts == 1
    pub.close()


def test_an_outbox_not_draining_while_connected_is_reported_and_the_client_restarted(own_broker, tmp_path):
    """A frozen broker (SIGSTOP) keeps the TCP link up but acknowledges nothing: the watchdog says so
    on ``problems`` and restarts the client; once the broker runs again the event arrives."""
    s = settings(own_broker)
    sub = Recorder(own_broker, f"{s.topics.base}/event/#")
    pub = started(s, tmp_path, stuck_s=1.0, stall_s=2.0)
    os.kill(own_broker.proc.pid, signal.SIGSTOP)
    try:
        pub.event("rep", {"rep_in_set": 1}, "sess-F", 1)
        wait_until(lambda: pub.problems, 8, "the stall reported")
        assert "no queued event acknowledged" in pub.problems[0] and "restarted" in pub.problems[0]
        assert pub.restarts == 1
    finally:
        os.kill(own_broker.proc.pid, signal.SIGCONT)
    sub.wait_for(lambda m: b"sess-F" in m.payload, timeout_s=10)
    wait_until(lambda: pub.problems == [] and len(pub.outbox) == 0, 10, "the link works again")
    sub.close()
    pub.close()


class _Publisher:
    """Just what Service calls, and a ``problems`` list like the real Publisher's."""

    def __init__(self):
        self.problems: list[str] = []
        self.shown: list[str | None] = []

    def set_error(self, message):
        self.shown.append(message)

    def update(self, state):
        pass

    def event(self, *args):
        pass

    def reply(self, *args, **kw):
        pass


def test_the_service_shows_the_publishers_problems_on_status_error(tmp_path):
    from firmware_bridge.service import config
    from firmware_bridge.service.live import Service
    from imu.samples import SampleBlock
    from imu.sim import SimSource, simulate_session

    sim = simulate_session(1, rate_hz=100.0, n_sets=1, reps_per_set=[2], include_distractions=False)
    pub = _Publisher()
    svc = Service(config.defaults(), SimSource(sim, speed=0), pub, tmp_path / "sessions", "sim", 0)
    svc.feed(SampleBlock.empty())
    pub.problems = ["MQTT: the network thread has stopped; restarted the MQTT client"]
    svc.feed(SampleBlock.empty())
    assert pub.shown[-1] == pub.problems[0]
    pub.problems = []
    svc.feed(SampleBlock.empty())
    assert pub.shown[-1] is None
