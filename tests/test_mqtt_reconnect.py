"""Nothing lost: the real broker is killed mid-session and restarted; every event arrives, in order,
once after de-duplication by (session_id, seq), and the retained tiles are refreshed."""
import threading

from conftest import Recorder
from mqtt_helpers import publisher, settings


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
    tick.wait(1.2)                       # let mosquitto autosave the subscriber's session
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
