"""The broker files systemd/install.sh generates, on a real Mosquitto: two devices (pi-anna, pi-ben) and
two phones (one each) may each use only their own device's topics; anonymous clients are refused; the
--tls listener serves the certificate signed by the CA the installer made.

The installed config is used as written, with only its ports moved to free loopback ports and its
/etc/mosquitto/ paths into the temporary root."""
from __future__ import annotations

import json
import os
import pwd
import re
import socket
import ssl
import subprocess
import threading
import time
import tomllib
import uuid
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from firmware_bridge.mqtt.localbroker import LOOPBACK, free_port, mosquitto_path

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ROOT / "systemd" / "install.sh"
NOT_DELIVERED_S = 1.0          # how long to wait for a message that must not arrive


class Client:
    """A paho client (MQTT 5) that records what it receives; ``publish`` waits for the broker's answer."""

    def __init__(self, port: int, user: str | None, password: str | None = None, ca: Path | None = None):
        self.got: list[tuple[str, bytes]] = []
        self.cond = threading.Condition()
        self.connected = threading.Event()
        self.reason = None
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}",
                             protocol=MQTTProtocolVersion.MQTTv5)
        if user:
            self.c.username_pw_set(user, password)
        if ca:
            self.c.tls_set(ca_certs=str(ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.connect(LOOPBACK, port)
        self.c.loop_start()
        assert self.connected.wait(10), f"no CONNACK for {user}"

    def _on_connect(self, client, userdata, flags, reason, props):
        self.reason = reason
        self.connected.set()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.got.append((msg.topic, msg.payload))
            self.cond.notify_all()

    def subscribe(self, *filters: str) -> None:
        done = threading.Event()
        self.c.on_subscribe = lambda *a: done.set()
        self.c.subscribe([(f, 1) for f in filters])
        assert done.wait(10)

    def publish(self, topic: str, payload: str, retain: bool = False):
        info = self.c.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)
        return info

    def receives(self, topic: str, payload: bytes, timeout: float = 10.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: (topic, payload) in self.got, timeout)

    def topics(self) -> set[str]:
        with self.cond:
            return {t for t, _ in self.got}

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """Mosquitto with the installed files; yields (port, tls_port, passwords, ca)."""
    tmp = tmp_path_factory.mktemp("broker-acl")
    root = tmp / "root"
    env = {**os.environ, "ROOT": str(root), "HINGEMARCH_SKIP": "venv"}
    out = subprocess.run(["bash", str(INSTALL), "--device-id", "pi-anna", "--device", "pi-ben", "--phone",
                          "anna-phone", "--phone", "ben-phone:pi-ben", "--home-assistant", "ha", "--tls"], env=env, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    passwords = dict(re.findall(r"^install: broker account (\S+) .*password \(shown only now\): (\S+)$", out, re.M))
    passwords["pi-anna"] = tomllib.loads((root / "etc/hingemarch/hingemarch.toml").read_text())["mqtt"]["password"]
    assert set(passwords) == {"pi-anna", "pi-ben", "anna-phone", "ben-phone", "ha"}
    port, ws, tls_port = free_port(), free_port(), free_port()
    text = ""
    for name, moves in (("hingemarch.conf", {1883: port, 9001: ws}), ("hingemarch_tls.conf", {8883: tls_port})):
        body = (root / "etc/mosquitto/conf.d" / name).read_text()
        for old, new in moves.items():
            assert f"\nlistener {old}\n" in body
            body = body.replace(f"\nlistener {old}\n", f"\nlistener {new} {LOOPBACK}\n")
        text += body.replace("/etc/mosquitto/", f"{root}/etc/mosquitto/") + "\n"
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"user {pwd.getpwuid(os.geteuid()).pw_name}\nlog_dest file {tmp}/mosquitto.log\n{text}")
    proc = subprocess.Popen([mosquitto_path(), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection((LOOPBACK, tls_port), timeout=0.2).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, (tmp / "mosquitto.log").read_text()
            time.sleep(0.05)
    yield port, tls_port, passwords, root / "etc/mosquitto/certs/hingemarch-ca.crt"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def clients(broker):
    port, _, passwords, _ = broker
    made = []

    def connect(user: str) -> Client:
        c = Client(port, user, passwords[user])
        made.append(c)
        assert not c.reason.is_failure, (user, c.reason)
        return c
    yield connect
    for c in made:
        c.close()


def tag() -> str:
    return uuid.uuid4().hex[:8]


def test_anonymous_and_wrong_passwords_are_refused(broker):
    port, _, passwords, _ = broker
    for user, password in ((None, None), ("pi-anna", "wrong"), ("ben-phone", passwords["anna-phone"]),
                           ("nobody", "x")):
        c = Client(port, user, password)
        try:
            assert c.reason.is_failure and c.reason.getName() == "Not authorized", (user, c.reason)
        finally:
            c.close()


def test_a_device_publishes_its_own_subtree_and_its_home_assistant_node_only(clients):
    anna, ben = clients("pi-anna"), clients("pi-ben")
    anna_phone, ben_phone = clients("anna-phone"), clients("ben-phone")
    anna.subscribe("homeassistant/#")
    ben.subscribe("hingemarch/#", "homeassistant/#")
    anna_phone.subscribe("hingemarch/pi-anna/#")
    ben_phone.subscribe("hingemarch/pi-ben/#")
    t = tag()
    assert not anna.publish("hingemarch/pi-anna/value/reps", t, retain=True).rc
    assert anna_phone.receives("hingemarch/pi-anna/value/reps", t.encode())
    assert not anna.publish("hingemarch/pi-anna/event/rep", t).rc
    assert anna_phone.receives("hingemarch/pi-anna/event/rep", t.encode())
    anna.publish("homeassistant/sensor/hingemarch_pi-anna/reps/config", t)
    assert anna.receives("homeassistant/sensor/hingemarch_pi-anna/reps/config", t.encode())
    # into the other device's subtree and node, and outside the tree: never delivered
    for topic in ("hingemarch/pi-ben/value/reps", "hingemarch/pi-ben/status", "hingemarch/pi-ben/cmd/stop",
                  "homeassistant/sensor/hingemarch_pi-ben/reps/config", "hingemarch/other/value/reps"):
        anna.publish(topic, "fake-" + t)
    time.sleep(NOT_DELIVERED_S)
    assert not [m for m in ben.got + ben_phone.got if m[1] == f"fake-{t}".encode()]
    # a new subscriber gets no retained fake either
    late = clients("ben-phone")
    late.subscribe("hingemarch/pi-ben/#")
    time.sleep(NOT_DELIVERED_S)
    assert (f"fake-{t}".encode()) not in [p for _, p in late.got]


def test_a_phone_reads_only_its_device_and_commands_only_it(clients):
    anna, ben = clients("pi-anna"), clients("pi-ben")
    anna.subscribe("hingemarch/pi-anna/cmd/#", "hingemarch/pi-anna/cmd")
    ben.subscribe("hingemarch/pi-ben/cmd/#", "hingemarch/pi-ben/cmd")
    t = tag()
    anna.publish("hingemarch/pi-anna/value/set", t, retain=True)
    ben.publish("hingemarch/pi-ben/value/set", t, retain=True)
    ben.publish("hingemarch/pi-ben/event/rep", t)
    phone = clients("anna-phone")
    phone.subscribe("hingemarch/#", "homeassistant/#", "#")
    assert phone.receives("hingemarch/pi-anna/value/set", t.encode())
    ben.publish("hingemarch/pi-ben/event/rep", t)
    time.sleep(NOT_DELIVERED_S)
    assert {x for x in phone.topics() if not x.startswith("hingemarch/pi-anna/")} == set()
    # commands: its device's arrive, the other device's do not, and it cannot write tiles
    for topic, payload in (("hingemarch/pi-anna/cmd/new_set", "PRESS"), ("hingemarch/pi-anna/cmd", '{"cmd":"undo"}')):
        assert not phone.publish(topic, payload).rc
        assert anna.receives(topic, payload.encode())
    phone.publish("hingemarch/pi-ben/cmd/stop", "PRESS-" + t)
    phone.publish("hingemarch/pi-ben/cmd", "PRESS-" + t)
    watcher = clients("anna-phone")
    watcher.subscribe("hingemarch/pi-anna/#")
    phone.publish("hingemarch/pi-anna/value/reps", "99-" + t)          # a phone cannot fake a tile
    time.sleep(NOT_DELIVERED_S)
    assert not [m for m in ben.got if m[1] == f"PRESS-{t}".encode()]
    assert not [m for m in watcher.got if m[1] == f"99-{t}".encode()]
    # MQTT Dash's import topic, the one topic phones share
    other = clients("ben-phone")
    other.subscribe("metrics/exchange")
    phone.publish("metrics/exchange", "[]" + t)
    assert other.receives("metrics/exchange", ("[]" + t).encode())


def test_tls_listener_with_the_generated_ca(broker):
    _, tls_port, passwords, ca = broker
    phone = Client(tls_port, "anna-phone", passwords["anna-phone"], ca=ca)
    device = Client(tls_port, "pi-anna", passwords["pi-anna"], ca=ca)
    try:
        assert not phone.reason.is_failure and not device.reason.is_failure
        phone.subscribe("hingemarch/pi-anna/#")
        t = tag()
        device.publish("hingemarch/pi-anna/value/reps", t)
        assert phone.receives("hingemarch/pi-anna/value/reps", t.encode())
    finally:
        phone.close()
        device.close()
    wrong = paho.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    wrong.tls_set(tls_version=ssl.PROTOCOL_TLS_CLIENT)      # the system's CAs: the private CA is not among them
    with pytest.raises(ssl.SSLCertVerificationError):
        wrong.connect(LOOPBACK, tls_port)


def test_the_service_runs_under_its_device_account(broker, clients, service):
    """`hingemarch run` as device pi-anna (discovery on): its tiles, status and discovery are accepted,
    its phone sees them and its command gets a reply; the other phone sees nothing of it."""
    port, _, passwords, _ = broker
    phone, other, own = clients("anna-phone"), clients("ben-phone"), clients("pi-anna")
    phone.subscribe("hingemarch/pi-anna/#")
    other.subscribe("#")
    own.subscribe("homeassistant/+/hingemarch_pi-anna/#")
    where = type("Where", (), {"host": LOOPBACK, "port": port})
    svc = service("--source", "sim", "--speed", "20", "--seed", "4", on=where, device_id="pi-anna",
                  prefix="hingemarch", username="pi-anna", password=passwords["pi-anna"], ha_discovery=True)
    svc.start()
    assert phone.receives("hingemarch/pi-anna/status", b"online", 30), svc.log.read_text()
    with phone.cond:
        assert phone.cond.wait_for(lambda: "hingemarch/pi-anna/value/reps" in phone.topics(), 30)
    with own.cond:
        assert own.cond.wait_for(lambda: "homeassistant/button/hingemarch_pi-anna/new_set/config" in own.topics(), 30)
    for _ in range(50):                             # the service's subscription may not be active yet
        phone.publish("hingemarch/pi-anna/cmd/new_set", "PRESS")
        with phone.cond:
            if phone.cond.wait_for(lambda: "hingemarch/pi-anna/reply" in phone.topics(), 0.2):
                break
    assert "hingemarch/pi-anna/reply" in phone.topics(), svc.log.read_text()
    assert not [t for t in other.topics() if "pi-anna" in t]


# Home Assistant's MQTT discovery schema (home-assistant.io/integrations/mqtt, sensor.mqtt,
# binary_sensor.mqtt, select.mqtt, button.mqtt): the keys each entity may carry, and their values.
HA_COMMON = {"name", "unique_id", "default_entity_id", "availability_topic", "payload_available",
             "payload_not_available", "device", "origin", "icon", "entity_category", "value_template"}
HA_KEYS = {"sensor": HA_COMMON | {"state_topic", "unit_of_measurement", "state_class"},
           "binary_sensor": HA_COMMON | {"state_topic", "device_class"},
           "select": HA_COMMON | {"state_topic", "command_topic", "options"},
           "button": HA_COMMON | {"command_topic", "payload_press"}}
HA_STATE_CLASSES = {"measurement", "total", "total_increasing"}
HA_DEVICE_KEYS = {"identifiers", "name", "manufacturer", "model", "sw_version", "configuration_url"}


def test_home_assistant_reads_the_services_discovery_as_it_documents_it(broker, clients, service):
    """The installer's Home Assistant account, on the broker with the shipped ACL, receives every
    discovery message the service (device account pi-anna, page on) publishes; each is what Home
    Assistant documents, field by field, and a press from Home Assistant reaches the device."""
    port, _, passwords, _ = broker
    ha = clients("ha")
    ha.subscribe("homeassistant/#", "hingemarch/#")
    where = type("Where", (), {"host": LOOPBACK, "port": port})
    web_port = free_port()
    svc = service("--source", "sim", "--speed", "5", "--seed", "4", "--web", "--web-host", LOOPBACK,
                  "--web-port", str(web_port), on=where, device_id="pi-anna", prefix="hingemarch",
                  username="pi-anna", password=passwords["pi-anna"], ha_discovery=True)
    svc.start()
    node = "homeassistant/{}/hingemarch_pi-anna/{}/config"
    expected = {node.format(d, n) for d, names in (
        ("sensor", ("reps", "set", "depth_deg", "height_deg", "sway", "session", "problem_text")),
        ("binary_sensor", ("problem",)), ("select", ("side",)),
        ("button", ("start", "stop", "new_set", "undo"))) for n in names}
    page = f"http://{LOOPBACK}:{web_port}/"

    def fresh() -> set[str]:          # this run's messages (an earlier test's retained ones have no page)
        return {t for t, p in ha.got if page.encode() in p}
    with ha.cond:
        assert ha.cond.wait_for(lambda: expected <= fresh(), 30), (expected - fresh(), svc.log.read_text())
        configs = {t: json.loads(p) for t, p in ha.got if t in expected and page.encode() in p}
    for topic, cfg in configs.items():
        domain, name = topic.split("/")[1], topic.split("/")[3]
        assert set(cfg) <= HA_KEYS[domain], (topic, set(cfg) - HA_KEYS[domain])
        assert "object_id" not in cfg
        assert cfg["default_entity_id"] == f"{domain}.hingemarch_pi-anna_{name}"
        assert cfg["unique_id"] == f"hingemarch_pi-anna_{name}"
        assert cfg["origin"]["name"] == "hingemarch" and cfg["origin"]["sw_version"]
        assert cfg["origin"]["support_url"] == page
        assert set(cfg["device"]) <= HA_DEVICE_KEYS and cfg["device"]["configuration_url"] == page
        assert cfg["device"]["identifiers"] == ["hingemarch_pi-anna"]
        assert (cfg["availability_topic"], cfg["payload_available"], cfg["payload_not_available"]) == (
            "hingemarch/pi-anna/status", "online", "offline")
        assert cfg.get("state_class", "measurement") in HA_STATE_CLASSES
        assert cfg.get("entity_category", "diagnostic") == "diagnostic"
    sensor = {n: configs[node.format("sensor", n)] for n in ("reps", "set", "depth_deg", "height_deg", "sway")}
    assert sensor["reps"]["state_class"] == sensor["set"]["state_class"] == "total_increasing"
    for n in ("depth_deg", "height_deg", "sway"):
        assert (sensor[n]["state_class"], sensor[n]["unit_of_measurement"]) == ("measurement", "°")
    problem = configs[node.format("binary_sensor", "problem")]
    assert (problem["state_topic"], problem["device_class"], problem["entity_category"]) == (
        "hingemarch/pi-anna/status/error", "problem", "diagnostic")
    # every state topic a discovery message names is one Home Assistant's account may read, and live
    with ha.cond:
        assert ha.cond.wait_for(lambda: "hingemarch/pi-anna/value/reps" in ha.topics(), 30)
    # a press from Home Assistant reaches the device: it answers on reply
    button = configs[node.format("button", "new_set")]
    for _ in range(50):                               # the service's subscription may not be active yet
        assert not ha.publish(button["command_topic"], button["payload_press"]).rc
        with ha.cond:
            if ha.cond.wait_for(lambda: "hingemarch/pi-anna/reply" in ha.topics(), 0.2):
                break
    assert "hingemarch/pi-anna/reply" in ha.topics()
    # Home Assistant's birth message is accepted; it cannot write a tile or another device's discovery
    t = tag()
    ha.publish("homeassistant/status", "online-" + t)
    assert ha.receives("homeassistant/status", f"online-{t}".encode())
    ha.publish("hingemarch/pi-anna/value/reps", "99-" + t)
    ha.publish("homeassistant/sensor/hingemarch_pi-anna/reps/config", "fake-" + t)
    time.sleep(NOT_DELIVERED_S)
    assert not [m for m in ha.got if m[1] in (f"99-{t}".encode(), f"fake-{t}".encode())]


def test_a_refused_discovery_is_logged_with_its_topic(broker, service):
    """A device account whose ACL does not cover the discovery prefix (here: another prefix) gets
    MQTT 5 "Not authorized" for each discovery message, and the service says so in its log."""
    port, _, passwords, _ = broker
    where = type("Where", (), {"host": LOOPBACK, "port": port})
    svc = service("--source", "sim", "--speed", "5", "--seed", "4", on=where, device_id="pi-ben", prefix="hingemarch",
                  username="pi-ben", password=passwords["pi-ben"], ha_discovery=True, ha_prefix="ha-elsewhere")
    svc.start()
    deadline = time.monotonic() + 30
    while "refused a publish" not in svc.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    line = next(x for x in svc.log.read_text().splitlines() if "refused a publish" in x)
    assert "ha-elsewhere/" in line and "Not authorized" in line and "docs/mqtt.md" in line
