"""Builders shared by the MQTT tests: settings and a started Publisher for a test broker."""
from __future__ import annotations

import uuid

from firmware_bridge.mqtt.client import Publisher
from firmware_bridge.mqtt.outbox import Outbox
from firmware_bridge.mqtt.settings import MqttSettings
from firmware_bridge.service import config


def settings(broker, device_id: str | None = None, **mqtt) -> MqttSettings:
    mqtt = {"host": broker.host, "port": broker.port, "topic_prefix": "test-" + uuid.uuid4().hex[:6],
            "reconnect_max_s": 1.0, **mqtt}
    cfg = config.defaults().updated("mqtt", **mqtt)
    return config.mqtt_settings(cfg.mqtt, device_id or "dev-" + uuid.uuid4().hex[:6])


def publisher(s: MqttSettings, tmp_path, on_command=None, wait_s: float = 5.0) -> Publisher:
    p = Publisher(s, Outbox(tmp_path / f"outbox-{s.topics.device_id}.sqlite3"), on_command).start()
    if wait_s:
        assert p.connected.wait(wait_s), "publisher did not connect"
    return p
