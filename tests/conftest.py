"""Shared fixtures: a real Mosquitto broker on a free loopback port, and a subscriber that records.

The broker is installed from Debian's packages when missing (as ``./run tests`` does), never skipped.
``broker`` is one broker for the whole session; ``own_broker`` is a private one a test may kill.
"""
from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

LOOPBACK = "127.0.0.1"
USER, PASSWORD = "coach", "s3cret-pw"


def mosquitto_path() -> str:
    """The broker binary; installs Debian's ``mosquitto`` package when it is missing."""
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None)
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "mosquitto"], check=True, env=env)
    return "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def make_certificates(workdir: Path) -> Path:
    """A throwaway CA and a server certificate for 127.0.0.1, made with the openssl command."""
    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=workdir, check=True, capture_output=True)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=hingemarch test CA")
    ssl("req", *key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (workdir / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "san.ext")
    return workdir / "ca.crt"


class Broker:
    """A mosquitto process on loopback: an anonymous listener (``port``) and one that needs a
    password (``auth_port``). Persistence is on so a killed broker keeps its sessions."""

    def __init__(self, workdir: Path, tls: bool = False):
        self.workdir = workdir
        self.port, self.auth_port, self.tls_port = free_port(), free_port(), free_port()
        self.host = LOOPBACK
        self.proc: subprocess.Popen | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        pwfile = workdir / "passwd"
        pwfile.write_text("")
        subprocess.run(["mosquitto_passwd", "-b", str(pwfile), USER, PASSWORD], check=True)
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"user {pwd.getpwuid(os.geteuid()).pw_name}\n"   # as root, don't drop to 'mosquitto'
            "per_listener_settings true\n"
            f"persistence true\npersistence_location {workdir}/\nautosave_interval 1\n"
            f"log_dest file {workdir}/mosquitto.log\nlog_type all\n"
            "max_queued_messages 100000\n"
            f"listener {self.port} {LOOPBACK}\nallow_anonymous true\n"
            f"listener {self.auth_port} {LOOPBACK}\nallow_anonymous false\npassword_file {pwfile}\n")
        if tls:
            self.ca_file = make_certificates(workdir)
            with open(self.conf, "a") as f:
                f.write(f"listener {self.tls_port} {LOOPBACK}\nallow_anonymous true\ncafile {self.ca_file}\n"
                        f"certfile {workdir}/server.crt\nkeyfile {workdir}/server.key\n")

    def start(self) -> "Broker":
        self.proc = subprocess.Popen([mosquitto_path(), "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline, waiter = time.monotonic() + 10.0, threading.Event()
        while time.monotonic() < deadline:
            try:
                socket.create_connection((LOOPBACK, self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"mosquitto exited: see {self.workdir}/mosquitto.log")
                waiter.wait(0.05)
        raise RuntimeError("mosquitto did not start listening within 10 s")

    def stop(self, kill: bool = True) -> None:
        """SIGKILL (a crash) by default; SIGTERM for a clean stop."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.proc.wait(timeout=10)

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        threading.Event().wait(down_s)
        self.start()


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("mosquitto")).start()
    yield b
    b.stop(kill=False)


@pytest.fixture(scope="session")
def tls_broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("mosquitto-tls"), tls=True).start()
    yield b
    b.stop(kill=False)


@pytest.fixture
def own_broker(tmp_path):
    b = Broker(tmp_path / "mosquitto").start()
    yield b
    b.stop(kill=False)


class Recorder:
    """A test subscriber: keeps every message (topic, payload, retain) and can wait for a match.

    ``session=True`` asks for a persistent session, so messages sent while the broker was restarting
    are kept for it (the broker must have persistence on)."""

    def __init__(self, broker: Broker, topic: str, session: bool = False, protocol: str = "5"):
        self.messages: list[paho.MQTTMessage] = []
        self._cond = threading.Condition()
        v5 = protocol == "5"
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:8]}",
                                  protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
                                  clean_session=None if v5 else not session)
        self.client.reconnect_delay_set(1, 1)
        self.subscribed = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        if v5 and session:
            props = paho.Properties(paho.PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
            self.client.connect(broker.host, broker.port, clean_start=False, properties=props)
        else:
            self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.subscribed.wait(5), "test subscriber could not subscribe"

    def _on_message(self, client, userdata, msg) -> None:
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def wait_for(self, pred, timeout_s: float = 5.0):
        """The first message satisfying ``pred(msg)``; fails the test after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for m in self.messages:
                    if pred(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = sorted({m.topic for m in self.messages})
                    raise AssertionError(f"no matching message within {timeout_s} s; topics seen: {seen}")
                self._cond.wait(left)

    def topic(self, topic: str, timeout_s: float = 5.0, payload: bytes | str | None = None):
        if isinstance(payload, str):
            payload = payload.encode()
        return self.wait_for(lambda m: m.topic == topic and (payload is None or m.payload == payload), timeout_s)

    def json(self, topic_suffix: str) -> list[dict]:
        with self._cond:
            return [json.loads(m.payload) for m in self.messages if m.topic.endswith(topic_suffix)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscribe(broker):
    """``subscribe(topic)`` -> Recorder on the session broker; closed after the test."""
    made: list[Recorder] = []

    def make(topic: str, **kw) -> Recorder:
        r = Recorder(kw.pop("on", broker), topic, **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()
