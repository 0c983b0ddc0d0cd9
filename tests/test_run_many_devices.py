"""A coach's gym for real: 20 simulated athletes, each a full Service (simulator -> pipeline ->
recorder -> MQTT) on one broker under one prefix. Each athlete's reps land under its own device,
match what its own files say, and a command for one athlete changes that athlete only."""
import itertools
import json
import uuid

from mqtt_helpers import publisher, settings

from firmware_bridge.service import config
from firmware_bridge.service.live import Service
from imu.sim import SimSource, simulate_session

N_DEVICES = 20


def test_twenty_simulated_athletes_share_one_broker(broker, subscribe, tmp_path):
    prefix = "gym-" + uuid.uuid4().hex[:6]
    coach = subscribe(f"{prefix}/+/event/#")
    services, streams = [], []
    for i in range(N_DEVICES):
        sim = simulate_session(100 + i, rate_hz=100.0, n_sets=1, reps_per_set=[2 + i % 3],
                               include_distractions=False, rest_range_s=(5.0, 6.0))
        source = SimSource(sim, speed=0)
        svc = Service(config.defaults(), source, None, tmp_path / f"a{i:02d}", "sim", 0)
        svc.publisher = publisher(settings(broker, f"athlete-{i:02d}", topic_prefix=prefix), tmp_path,
                                  svc.on_command)
        services.append(svc)
        streams.append(source.blocks())
    for svc, block in ((s, b) for round_ in itertools.zip_longest(*streams) for s, b in zip(services, round_)):
        if block is not None:       # interleaved, as 20 devices would publish at the same time
            svc.feed(block)
    for svc in services:
        svc.finish()
    coach.wait_for(lambda m: sum(b'"phase":"ended"' in x.payload for x in coach.messages) == N_DEVICES,
                   timeout_s=15)
    for i, svc in enumerate(services):
        device = f"athlete-{i:02d}"
        mine = [json.loads(m.payload) for m in coach.messages if m.topic.split("/")[1] == device]
        assert {e["device_id"] for e in mine} == {device}
        assert len({e["session_id"] for e in mine}) == 1
        assert [e["seq"] for e in mine] == list(range(1, len(mine) + 1))
        (folder,) = (tmp_path / f"a{i:02d}").iterdir()
        on_disk = json.loads((folder / "summary.json").read_text())["totals"]["reps"]
        assert sum(e["kind"] == "rep" for e in mine) == on_disk >= 1   # (truth: 2 + i % 3 reps)
    # a command for athlete 7 reaches athlete 7 only
    sides = subscribe(f"{prefix}/+/value/side")
    sides.wait_for(lambda m: len(sides.messages) >= N_DEVICES)
    coach.client.publish(f"{prefix}/athlete-07/cmd/side", b"right", qos=1)
    cmd = services[7].commands.get(timeout=3)
    services[7].commands.put(cmd)
    for svc in services:
        svc.apply_commands()
        svc.publish_state()
    sides.wait_for(lambda m: m.payload == b"right")
    assert [s.side for s in services].count("right") == 1 and services[7].side == "right"
    for svc in services:
        svc.publisher.close()
