"""A coach's gym: 20 devices under one prefix on one broker, no cross-talk in events, tiles or commands."""
import json
import queue
import threading
import uuid

from mqtt_helpers import publisher, settings

N_DEVICES, N_EVENTS = 20, 5


def test_twenty_devices_share_one_broker_without_cross_talk(broker, subscribe, tmp_path):
    prefix = "gym-" + uuid.uuid4().hex[:6]
    inboxes = [queue.Queue() for _ in range(N_DEVICES)]
    pubs = [publisher(settings(broker, f"athlete-{i:02d}", topic_prefix=prefix), tmp_path, inboxes[i].put)
            for i in range(N_DEVICES)]
    coach = subscribe(f"{prefix}/+/event/rep")
    for i, pub in enumerate(pubs):
        pub.update({"reps_in_set": i, "set_index": 1, "side": "left", "running": True})
    for seq in range(1, N_EVENTS + 1):
        for i, pub in enumerate(pubs):
            pub.event("rep", {"rep_in_set": seq, "athlete": i}, f"sess-{i}", seq)
    coach.wait_for(lambda m: len(coach.messages) >= N_DEVICES * N_EVENTS, timeout_s=10)
    per_device: dict[str, list[int]] = {}
    for msg in coach.messages:
        device = msg.topic.split("/")[1]
        d = json.loads(msg.payload)
        assert d["device_id"] == device and d["session_id"] == f"sess-{int(device[-2:])}"
        per_device.setdefault(device, []).append(d["seq"])
    assert per_device == {f"athlete-{i:02d}": list(range(1, N_EVENTS + 1)) for i in range(N_DEVICES)}

    # each tile holds its own athlete's value
    tiles = subscribe(f"{prefix}/+/value/reps")
    tiles.wait_for(lambda m: len(tiles.messages) >= N_DEVICES)
    assert {m.topic: m.payload for m in tiles.messages} == {
        pubs[i].topics.value("reps"): str(i).encode() for i in range(N_DEVICES)}

    # a command for athlete 7 reaches athlete 7 only
    tiles.client.publish(pubs[7].topics.command("new_set"), b"PRESS", qos=1)
    assert inboxes[7].get(timeout=3).name == "new_set"
    threading.Event().wait(0.3)          # time for a stray delivery to show up
    assert all(inboxes[i].empty() for i in range(N_DEVICES))
    for pub in pubs:
        pub.close()
