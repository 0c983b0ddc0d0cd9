"""The publisher against a real Mosquitto: status and last will, retained tiles and state, events,
commands and replies, credentials, both protocol versions, Home Assistant discovery."""
import json
import queue
import signal
import subprocess
import sys
import textwrap

import paho.mqtt.client as paho
import pytest
from conftest import PASSWORD, USER, Recorder
from mqtt_helpers import publisher, settings

STATE = {"reps_in_set": 3, "set_index": 1, "side": "left", "running": True, "t_s": 12.0,
         "last_rep": {"hinge_depth_deg": 40.0, "march_height_deg": 65.0}}


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_status_tiles_and_state_are_retained(broker, subscribe, tmp_path, protocol):
    s = settings(broker, protocol=protocol)
    pub = publisher(s, tmp_path)
    pub.update(STATE)
    live = subscribe(f"{s.topics.base}/#")
    live.topic(s.topics.value("depth_deg"))
    pub.close()
    # a dashboard opened later still finds every tile, and that the device went offline
    late = subscribe(f"{s.topics.base}/#", protocol=protocol)
    assert late.topic(s.topics.status).payload == b"offline"
    for name, text in {"reps": "3", "set": "1", "side": "left", "depth_deg": "40.0",
                       "height_deg": "65.0", "session": "running"}.items():
        msg = late.topic(s.topics.value(name))
        assert (msg.payload.decode(), msg.retain) == (text, True)
    state = json.loads(late.topic(s.topics.state).payload)
    assert state["reps_in_set"] == 3 and state["device_id"] == s.topics.device_id and state["error"] is None


def test_tiles_change_at_once_and_online_status(broker, subscribe, tmp_path):
    s = settings(broker)
    live = subscribe(f"{s.topics.base}/#")
    pub = publisher(s, tmp_path)
    live.topic(s.topics.status, payload="online")
    pub.update(STATE)
    pub.update({**STATE, "reps_in_set": 4})
    live.topic(s.topics.value("reps"), payload="4", timeout_s=1.0)
    assert [m.payload for m in live.messages if m.topic == s.topics.value("reps")] == [b"3", b"4"]
    pub.close()


def test_events_arrive_in_order_with_session_and_seq(broker, subscribe, tmp_path):
    s = settings(broker)
    live = subscribe(f"{s.topics.base}/event/#")
    pub = publisher(s, tmp_path)
    for seq in range(1, 31):
        pub.event("rep", {"rep_in_set": seq}, "sess-A", seq)
    pub.event("set", {"set_index": 1, "reps": 30}, "sess-A", 31)
    live.topic(s.topics.event("set"))
    reps = live.json("/event/rep")
    assert [r["seq"] for r in reps] == list(range(1, 31))
    assert {(r["session_id"], r["kind"]) for r in reps} == {("sess-A", "rep")}
    assert all(m.qos == 1 for m in live.messages)
    assert pub.flush(2.0) and len(pub.outbox) == 0   # every event acknowledged and dropped from disk
    pub.close()


def test_commands_reach_the_loop_and_bad_ones_are_answered(broker, subscribe, tmp_path, caplog):
    s = settings(broker)
    got: queue.Queue = queue.Queue()
    pub = publisher(s, tmp_path, on_command=got.put)
    replies = subscribe(s.topics.reply)
    ctl = subscribe("unused/none")
    ctl.client.publish(s.topics.command("side"), "right", qos=1)
    cmd = got.get(timeout=3)
    assert (cmd.name, cmd.side) == ("side", "right")
    ctl.client.publish(s.topics.command(), b'{"cmd": "explode", "id": "x1"}', qos=1)
    bad = json.loads(replies.wait_for(lambda m: b"explode" in m.payload).payload)
    assert bad["ok"] is False and "unknown command" in bad["error"]
    for junk in (b"\xff" * 10, b"{", b"[]", b"x" * 100000):
        ctl.client.publish(s.topics.command("start"), junk, qos=1)
    ctl.client.publish(s.topics.command("undo"), b'{"id": 42}', qos=1)
    assert got.get(timeout=3).id == "42"   # still alive and in order after the junk
    assert got.empty()
    ignored = [r.getMessage() for r in caplog.records if "ignored a command" in r.getMessage()]
    assert len(ignored) == 5 and all(s.topics.base in m for m in ignored)
    pub.reply(cmd, True, session_id="sess-B")
    ok = json.loads(replies.wait_for(lambda m: b"sess-B" in m.payload).payload)
    assert ok == {"cmd": "side", "id": None, "ok": True, "error": None, "session_id": "sess-B"}
    pub.close()


def test_mqtt5_response_topic_and_correlation(broker, subscribe, tmp_path):
    s = settings(broker)
    got: queue.Queue = queue.Queue()
    pub = publisher(s, tmp_path, on_command=got.put)
    mine = subscribe("app/inbox/1")
    props = paho.Properties(paho.PacketTypes.PUBLISH)
    props.ResponseTopic, props.CorrelationData = "app/inbox/1", b"req-9"
    mine.client.publish(s.topics.command("new_set"), b"", qos=1, properties=props)
    cmd = got.get(timeout=3)
    pub.reply(cmd, False, "no session running")
    msg = mine.topic("app/inbox/1")
    assert msg.properties.CorrelationData == b"req-9"
    assert json.loads(msg.payload)["error"] == "no session running"
    props.ResponseTopic = "app/#"          # not a valid topic to publish to: logged, not fatal
    mine.client.publish(s.topics.command("undo"), b"", qos=1, properties=props)
    pub.reply(got.get(timeout=3), True)
    assert pub.client.is_connected()
    pub.close()


def test_error_is_shown_on_status_error_and_cleared(broker, subscribe, tmp_path):
    s = settings(broker)
    pub = publisher(s, tmp_path)
    live = subscribe(s.topics.error)
    pub.set_error("recording stopped: disk full (/data)")
    live.topic(s.topics.error, payload="recording stopped: disk full (/data)")
    pub.set_error(None)
    live.topic(s.topics.error, payload="")
    pub.close()
    with pytest.raises(AssertionError):   # cleared: no retained error for a new subscriber
        subscribe(s.topics.error).topic(s.topics.error, timeout_s=0.5)


def test_username_password(broker, subscribe, tmp_path, caplog):
    s = settings(broker, port=broker.auth_port, username=USER, password=PASSWORD, protocol="3.1.1")
    pub = publisher(s, tmp_path)
    pub.close()
    wrong = settings(broker, port=broker.auth_port, username=USER, password="nope")
    pub = publisher(wrong, tmp_path, wait_s=0)
    assert not pub.connected.wait(2.5)
    pub.close()
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert 1 <= len(refused) <= 2      # logged once per distinct problem, not once per retry


def test_home_assistant_discovery(broker, subscribe, tmp_path):
    s = settings(broker, ha_discovery=True, ha_prefix="ha-" + settings(broker).topics.prefix)
    live = subscribe(f"{s.ha_prefix}/#")
    pub = publisher(s, tmp_path)
    cfg = json.loads(live.wait_for(lambda m: m.topic.endswith("/reps/config")).payload)
    assert cfg["state_topic"] == s.topics.value("reps") and cfg["availability_topic"] == s.topics.status
    pub.close()
    late = subscribe(f"{s.ha_prefix}/#")   # Home Assistant started later still finds the tiles
    undo = late.wait_for(lambda m: m.topic.endswith("/undo/config"))
    assert undo.retain and json.loads(undo.payload)["command_topic"] == s.topics.command("undo")


CRASHER = textwrap.dedent("""
    import sys, threading
    sys.path.insert(0, {tests!r})
    from conftest import Broker
    from mqtt_helpers import settings, publisher
    class B: host, port = "127.0.0.1", {port}
    import pathlib
    p = publisher(settings(B, device_id={dev!r}, topic_prefix={prefix!r}, keepalive_s=5), pathlib.Path({tmp!r}))
    print("ready", flush=True)
    threading.Event().wait(30)
""")


def test_last_will_says_offline_when_the_process_dies(broker, subscribe, tmp_path):
    import os
    s = settings(broker)
    live = subscribe(s.topics.status)
    code = CRASHER.format(tests=os.path.dirname(__file__), port=broker.port, dev=s.topics.device_id,
                          prefix=s.topics.prefix, tmp=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        live.topic(s.topics.status, payload="online")
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        msg = live.topic(s.topics.status, payload="offline", timeout_s=3.0)
        assert msg is not None
    finally:
        proc.kill()


def test_tls_with_the_configured_ca(tls_broker, tmp_path, caplog):
    s = settings(tls_broker, port=tls_broker.tls_port, tls=True, ca_file=str(tls_broker.ca_file))
    sub = Recorder(tls_broker, s.topics.status)
    pub = publisher(s, tmp_path)
    sub.topic(s.topics.status, payload="online")
    pub.close()
    # a server certificate the configured CAs don't vouch for: no connection, logged, no crash
    untrusted = settings(tls_broker, port=tls_broker.tls_port, tls=True, ca_file="")
    pub = publisher(untrusted, tmp_path, wait_s=0)
    assert not pub.connected.wait(1.5)
    pub.close()
    assert any("cannot reach the broker" in r.getMessage() for r in caplog.records)
    sub.close()
