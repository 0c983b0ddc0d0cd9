"""The shipped phone-side configs: the Mosquitto config (passwords, ACL, WebSocket listener) runs on
a real broker as written, and the MQTT Dash dashboard is bound to the real topic tree and commands."""
from __future__ import annotations

import json
import os
import pwd
import re
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as paho
from conftest import LOOPBACK, free_port, mosquitto_path
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from firmware_bridge.mqtt.topics import COMMANDS, SIDES, VALUES, Topics, parse_command

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "config" / "mosquitto" / "hingemarch.conf"
ACL = ROOT / "config" / "mosquitto" / "hingemarch.acl"
INSTALL = ROOT / "systemd" / "install.sh"
DASH = ROOT / "config" / "dashboards" / "mqtt-dash.json"


def _broker_from_shipped_config(workdir: Path) -> tuple[subprocess.Popen, int, int]:
    """The shipped config with only its ports bound to loopback and its file paths moved to workdir."""
    tcp, ws = free_port(), free_port()
    text = CONF.read_text()
    text = text.replace("listener 1883\n", f"listener {tcp} {LOOPBACK}\n")
    text = text.replace("listener 9001\n", f"listener {ws} {LOOPBACK}\n")
    text = text.replace("/etc/mosquitto/", f"{workdir}/")
    assert f"listener {tcp} " in text and f"listener {ws} " in text and "/etc/" not in re.sub(r"#.*", "", text)
    root = workdir / "root"                # the ACL as the installer makes it: device pi, phone 'phone'
    subprocess.run(["bash", str(INSTALL), "--device-id", "pi", "--phone", "phone"], check=True, capture_output=True,
                   env={**os.environ, "ROOT": str(root), "HINGEMARCH_SKIP": "venv"})
    acl = (root / "etc/mosquitto/hingemarch.acl").read_text()
    assert acl.startswith(ACL.read_text())
    (workdir / "hingemarch.acl").write_text(acl)
    pw = workdir / "hingemarch.passwd"
    pw.write_text("")
    for user in ("pi", "phone"):
        subprocess.run(["mosquitto_passwd", "-b", str(pw), user, f"{user}-pw"], check=True)
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"user {pwd.getpwuid(os.geteuid()).pw_name}\nlog_dest file {workdir}/log\n{text}")
    proc = subprocess.Popen([mosquitto_path(), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, tcp, ws


class Client:
    """A paho client that records what it receives and the reason codes of its QoS 1 publishes."""

    def __init__(self, port: int, user: str | None, websockets: bool = False):
        self.got: dict[str, bytes] = {}
        self.acks: dict[int, int] = {}
        self.cond = threading.Condition()
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:6]}",
                             protocol=MQTTProtocolVersion.MQTTv5,
                             transport="websockets" if websockets else "tcp")
        if user:
            self.c.username_pw_set(user, f"{user}-pw")
        self.connected = threading.Event()
        self.reason = None
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_publish = self._on_publish
        self.c.connect(LOOPBACK, port)
        self.c.loop_start()

    def _on_connect(self, c, u, flags, rc, props) -> None:
        self.reason = rc
        self.connected.set()

    def _on_message(self, c, u, msg) -> None:
        with self.cond:
            self.got[msg.topic] = msg.payload
            self.cond.notify_all()

    def _on_publish(self, c, u, mid, rc, props) -> None:
        with self.cond:
            self.acks[mid] = rc
            self.cond.notify_all()

    def wait(self, pred, timeout_s: float = 10.0):
        with self.cond:
            assert self.cond.wait_for(pred, timeout_s), f"timed out; got {self.got} acks {self.acks}"

    def publish(self, topic: str, payload: str, retain: bool = False):
        info = self.c.publish(topic, payload, qos=1, retain=retain)
        self.wait(lambda: info.mid in self.acks)
        return self.acks[info.mid]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def test_mosquitto_config_passwords_acl_and_websockets(tmp_path):
    proc, tcp, ws = _broker_from_shipped_config(tmp_path)
    clients = []
    try:
        for port in (tcp, ws):                    # until it listens
            for _ in range(200):
                try:
                    socket.create_connection((LOOPBACK, port), timeout=0.2).close()
                    break
                except OSError:
                    assert proc.poll() is None, (tmp_path / "log").read_text()
                    threading.Event().wait(0.05)
        anon = Client(tcp, None)
        clients.append(anon)
        assert anon.connected.wait(10) and anon.reason.is_failure           # no anonymous access
        svc = Client(tcp, "pi")
        phone = Client(ws, "phone", websockets=True)                        # the phone over WebSocket
        clients += [svc, phone]
        assert svc.connected.wait(10) and not svc.reason.is_failure
        assert phone.connected.wait(10) and not phone.reason.is_failure
        assert not svc.publish("hingemarch/pi/value/reps", "3", retain=True).is_failure
        svc.c.subscribe("hingemarch/pi/cmd/#", qos=1)
        phone.c.subscribe("hingemarch/+/value/#", qos=1)
        phone.wait(lambda: phone.got.get("hingemarch/pi/value/reps") == b"3")   # retained, over WebSocket
        svc.wait(lambda: svc.c.is_connected())
        for topic in ("hingemarch/pi/cmd/new_set", "hingemarch/pi/cmd"):
            for _ in range(50):                    # the subscription may not be active yet
                assert not phone.publish(topic, "PRESS").is_failure
                with svc.cond:
                    if svc.cond.wait_for(lambda: topic in svc.got, 0.1):
                        break
            assert svc.got[topic] == b"PRESS"
        assert phone.publish("hingemarch/pi/value/reps", "99").is_failure           # the phone cannot fake tiles
        assert not phone.publish("metrics/exchange", "[]").is_failure                 # MQTT Dash import topic
    finally:
        for c in clients:
            c.close()
        proc.terminate()
        proc.wait(10)


def test_mqtt_dash_dashboard_is_bound_to_the_topic_tree():
    sys.path.insert(0, str(DASH.parent))
    import mqtt_dash
    metrics = json.loads(DASH.read_text())
    assert metrics == mqtt_dash.metrics()                      # the shipped file is the generator's output
    topics = Topics("hingemarch", "pi")
    retained = {topics.value(v) for v in VALUES} | {topics.status, topics.error}
    shown = {m["topic"] for m in metrics if not m["topic"].startswith(topics.command())}
    assert shown == retained                                    # every retained tile, and only those
    assert len({m["id"] for m in metrics}) == len({m["longId"] for m in metrics}) == len(metrics)
    pressed = set()
    for m in metrics:
        if m["type"] != 2:
            continue
        pub = m["topicPub"] or m["topic"]
        for payload in (m["payloadOn"], m["payloadOff"]):
            cmd = parse_command(pub, payload.encode(), topics)           # raises if the tree would refuse it
            pressed.add(cmd.name)
            if cmd.name == "side":
                assert cmd.side in SIDES
    assert pressed == set(COMMANDS)
    other = json.loads(subprocess.run([sys.executable, str(DASH.parent / "mqtt_dash.py"), "--prefix", "club/tue",
                                       "--device-id", "anna"], capture_output=True, text=True, check=True).stdout)
    assert {m["topic"].rsplit("/value/", 1)[0] for m in other if "/value/" in m["topic"]} == {"club/tue/anna"}
