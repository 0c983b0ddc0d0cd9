"""Nothing lost: the real broker is killed mid-session and restarted; every event arrives, in order,
once after de-duplication by (session_id, seq), and the retained tiles are refreshed.

A killed Mosquitto comes back with what it last saved: the test's subscriber must be in that save, or
its subscription is gone until it subscribes again and the broker acknowledges the events published
meanwhile with "no matching subscribers" (the broker has them; nobody was there to receive them)."""
import logging
import threading
import time

import paho.mqtt.client as paho
from conftest import Recorder
from mqtt_helpers import publisher, settings
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion


def test_broker_killed_mid_session_loses_nothing(own_broker, tmp_path):
    s = settings(own_broker)
    sub = Recorder(own_broker, f"{s.topics.base}/event/#", session=True)
    pub = publisher(s, tmp_path)
    tick = threading.Event()
    seq = 0

    def emit(n: int) -> None:
        nonlocal seq
        for _ in range(n):
            seq += 1
            pub.event("rep", {"rep_in_set": seq}, "sess-K", seq)
            tick.wait(0.02)

    emit(20)
    sub.wait_for(lambda m: b'"seq":20' in m.payload)
    own_broker.wait_saved()              # the subscriber's session is in mosquitto's file before the crash
    own_broker.stop(kill=True)
    emit(25)                             # reps keep coming while the broker is gone
    pub.update({"reps_in_set": 99, "set_index": 2, "side": "right", "running": True})
    assert len(pub.outbox) >= 20, "events while the broker is down must wait on disk"
    own_broker.start()
    assert pub.connected.wait(8), "publisher did not reconnect"
    emit(15)
    sub.wait_for(lambda m: b'"seq":60' in m.payload, timeout_s=10)
    assert pub.flush(3)
    seqs = [d["seq"] for d in sub.json("/event/rep")]
    first_seen = list(dict.fromkeys(seqs))
    assert first_seen == list(range(1, 61)), f"missing or out of order: {first_seen}"
    sub.close()
    late = Recorder(own_broker, f"{s.topics.base}/value/#")
    assert late.topic(s.topics.value("reps")).payload == b"99"   # refreshed on reconnect
    late.close()
    pub.close()


def test_events_from_a_killed_service_are_sent_on_the_next_start(own_broker, tmp_path):
    s = settings(own_broker)
    own_broker.stop(kill=True)
    first = publisher(s, tmp_path, wait_s=0)
    for seq in range(1, 6):
        first.event("rep", {"rep_in_set": seq}, "sess-C", seq)
    first.close(drain_s=0)               # as good as a crash: nothing was delivered
    own_broker.start()
    sub = Recorder(own_broker, f"{s.topics.base}/event/#")
    second = publisher(s, tmp_path)      # same device, same state dir
    second.event("rep", {"rep_in_set": 1}, "sess-D", 1)
    sub.wait_for(lambda m: b"sess-D" in m.payload)
    got = [(d["session_id"], d["seq"]) for d in sub.json("/event/rep")]
    assert got == [("sess-C", i) for i in range(1, 6)] + [("sess-D", 1)]
    second.close()
    sub.close()


def test_an_event_handed_to_paho_as_the_link_drops_is_delivered_and_the_next_ones_too(broker, tmp_path):
    """paho closes its socket before it calls ``on_disconnect``: an event published in between is
    refused with ``MQTT_ERR_NO_CONN`` while the publisher still believes it is connected. The broker
    itself closes the link (another client takes over the publisher's client id) and
    ``on_disconnect`` is held until the event has been handed over, so the moment is exact.
    That event and the ones after it must all arrive once the publisher is back."""
    s = settings(broker)
    sub = Recorder(broker, f"{s.topics.base}/event/#")
    pub = publisher(s, tmp_path)
    client = pub.client
    handed, publish = threading.Event(), client.publish

    def publish_and_tell(*args, **kw):
        info = publish(*args, **kw)
        if "/event/" in args[0]:
            handed.set()
        return info

    def held_on_disconnect(*args):
        pub.event("rep", {"rep_in_set": 2}, "sess-N", 2)     # paho's socket is closed already
        assert handed.wait(5), "the sender did not hand the event to paho"
        pub._on_disconnect(*args)

    pub.event("rep", {"rep_in_set": 1}, "sess-N", 1)
    assert pub.flush(5)
    client.publish, client.on_disconnect = publish_and_tell, held_on_disconnect
    taker = paho.Client(CallbackAPIVersion.VERSION2, client_id=client._client_id.decode(),
                        protocol=MQTTProtocolVersion.MQTTv5)
    taker.connect(broker.host, broker.port)
    taker.loop_start()
    assert handed.wait(5), "the broker did not drop the publisher"
    taker.disconnect()
    taker.loop_stop()
    assert pub.connected.wait(8), "publisher did not reconnect"
    pub.event("rep", {"rep_in_set": 3}, "sess-N", 3)
    sub.wait_for(lambda m: b'"seq":3' in m.payload, timeout_s=10)
    assert pub.flush(3)
    seqs = [d["seq"] for d in sub.json("/event/rep")]
    assert list(dict.fromkeys(seqs)) == [1, 2, 3], f"missing or out of order: {seqs}"
    sub.close()
    pub.close()


def test_an_exception_in_the_sender_is_reported_and_every_event_still_delivered_in_order(broker, tmp_path, caplog):
    """Whatever raises in the outbox's sender (here paho's publish, once, for event 2) must not end
    delivery: event 2 stays queued and is sent again, the ones after it follow in order, and the
    exception is in ``problems`` (one log line, no traceback) until an event is acknowledged."""
    s = settings(broker)
    sub = Recorder(broker, f"{s.topics.base}/event/#")
    pub = publisher(s, tmp_path)
    publish, raised, at_retry = pub.client.publish, threading.Event(), []

    def publish_failing_once(topic, payload=None, *args, **kw):
        if "/event/" in topic and b'"seq":2' in payload:
            if not raised.is_set():
                raised.set()
                raise RuntimeError("injected\nfailure")
            at_retry.append(list(pub.problems))
        return publish(topic, payload, *args, **kw)

    pub.client.publish = publish_failing_once
    with caplog.at_level(logging.INFO, logger="hingemarch.mqtt"):
        for seq in (1, 2, 3):
            pub.event("rep", {"rep_in_set": seq}, "sess-X", seq)
        sub.wait_for(lambda m: b'"seq":3' in m.payload, timeout_s=10)
        assert pub.flush(3)
        assert pub._sender.is_alive()
        pub.event("rep", {"rep_in_set": 4}, "sess-X", 4)
        sub.wait_for(lambda m: b'"seq":4' in m.payload, timeout_s=5)
        assert pub.flush(3), "nothing left in the outbox"
        deadline = time.monotonic() + 5
        while pub.problems and time.monotonic() < deadline:
            threading.Event().wait(0.05)
    assert raised.is_set()
    assert [d["seq"] for d in sub.json("/event/rep")] == [1, 2, 3, 4]
    assert len(at_retry) == 1 and len(at_retry[0]) == 1, at_retry
    assert "sending a queued event raised RuntimeError: injected failure; it stays queued" in at_retry[0][0]
    assert pub.problems == [], "the problem is cleared once events are acknowledged again"
    lines = [r for r in caplog.records if "RuntimeError" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None, [r.getMessage() for r in lines]
    assert any("acknowledged again" in r.getMessage() for r in caplog.records)
    sub.close()
    pub.close()
