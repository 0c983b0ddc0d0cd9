"""A real driver on an emulated chip that drops off the bus: the service says so on status/error
(and in state), keeps answering commands meanwhile, and clears the error when the chip is back."""
import json
import time

from mqtt_helpers import publisher, settings

from firmware_bridge.service import config
from firmware_bridge.service.live import Service
from firmware_bridge.service.wiring import emulated_source
from imu.emulated.motions import Still


def test_lost_sensor_is_reported_and_cleared(broker, subscribe, tmp_path):
    s = settings(broker)
    source = emulated_source("mpu6050", Still(), 100.0, speed=4.0, disconnect_s=(2.0, 6.0))
    svc = Service(config.defaults(), source, None, tmp_path / "sessions", "emulated:mpu6050", 4.0)
    svc.publisher = publisher(s, tmp_path, svc.on_command)
    live = subscribe(f"{s.topics.base}/#")
    start, saw_lost_state = time.monotonic(), False
    for block in source.blocks():
        svc.feed(block)
        if source.status == "sensor_lost" and not saw_lost_state:
            saw_lost_state = True
            live.client.publish(s.topics.command("side"), b"right", qos=1)   # answered while lost
        if svc.t_s > 10.0 or time.monotonic() - start > 8.0:
            break
    source.close()
    svc.finish()
    svc.publisher.close()
    errors = [m.payload.decode() for m in live.messages if m.topic == s.topics.error]
    assert "sensor not answering" in errors
    assert errors[-1] == ""                                # cleared once the chip answered again
    reply = live.topic(s.topics.reply)
    assert json.loads(reply.payload)["ok"]
    cleared = max(i for i, m in enumerate(live.messages) if m.topic == s.topics.error and not m.payload)
    assert live.messages.index(reply) < cleared, "the command waited for the sensor to come back"
    assert any(json.loads(m.payload).get("sensor_status") == "sensor_lost"
               for m in live.messages if m.topic == s.topics.state)
