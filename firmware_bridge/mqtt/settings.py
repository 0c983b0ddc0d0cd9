"""What the MQTT client is given: the ``[mqtt]`` config section resolved (kept apart from the client,
so the config can name it without loading paho)."""
from __future__ import annotations

from dataclasses import dataclass, field

from firmware_bridge.mqtt import topics as tp

PASSWORD_ENV = "HINGEMARCH_MQTT_PASSWORD"   # overrides mqtt.password


@dataclass(frozen=True)
class MqttSettings:
    """What the client needs, resolved from the ``[mqtt]`` config section (service.config.mqtt_settings)."""

    host: str
    port: int
    protocol: str
    username: str
    password: str = field(repr=False)      # never in a log line
    tls: bool
    ca_file: str
    topics: tp.Topics
    keepalive_s: int
    qos: int
    reconnect_max_s: float
    ha_discovery: bool
    ha_prefix: str
    page_url: str = ""                     # the live page, when served: Home Assistant's configuration_url
