"""Shared fixtures: a real Mosquitto broker on a free loopback port, a subscriber that records, and
an emulated chip with its driver (``rig``) for the driver tests.

Mosquitto comes from Debian's packages, installed by ``./run tests`` when missing; without it the
broker tests fail, never skip. ``broker`` is one broker for the whole session; ``own_broker`` is a
private one a test may kill.
"""
from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from firmware_bridge.mqtt.localbroker import LOOPBACK, LocalBroker, free_port, mosquitto_path
from imu.clock import FakeClock
from imu.detect import DRIVERS
from imu.emulated import EmulatedBus, make_chip

pytest_plugins = ["run_helpers", "web_helpers"]   # fixtures: ``service`` (``hingemarch run`` as a real process), ``web_server``

USER, PASSWORD = "coach", "s3cret-pw"


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


class Broker(LocalBroker):
    """The project's local broker plus a listener that needs a password (``auth_port``) and, with
    ``tls``, one with TLS (``tls_port``). Persistence is on so a killed broker keeps its sessions."""

    def __init__(self, workdir: Path, tls: bool = False):
        if not mosquitto_path():
            pytest.fail("mosquitto is not installed: ./run tests installs it "
                        "(Debian: apt-get install mosquitto)")
        super().__init__(workdir, persistence=True)
        self.auth_port, self.tls_port = free_port(), free_port()
        pwfile = self.workdir / "passwd"
        pwfile.write_text("")
        subprocess.run(["mosquitto_passwd", "-b", str(pwfile),
                        USER, PASSWORD], check=True)
        lines = ["log_type all", f"listener {self.auth_port} {LOOPBACK}", "allow_anonymous false",
                 f"password_file {pwfile}"]
        if tls:
            self.ca_file = make_certificates(self.workdir)
            lines += [f"listener {self.tls_port} {LOOPBACK}", "allow_anonymous true", f"cafile {self.ca_file}",
                      f"certfile {self.workdir}/server.crt", f"keyfile {self.workdir}/server.key"]
        with open(self.conf, "a") as f:
            f.write("\n".join(lines) + "\n")

    def stop(self, kill: bool = True) -> None:
        """SIGKILL (a crash) by default; SIGTERM for a clean stop."""
        super().stop(kill=kill)

    def wait_saved(self, timeout_s: float = 5.0) -> None:
        """Wait until mosquitto has next written its persistence file (autosave, every 1-2 s here).
        Only what it has saved survives a crash: a subscriber's persistent session made before this
        call, and the messages queued for it. It writes ``mosquitto.db.new`` and renames it, so the
        file's inode and time change with each save."""
        db = self.workdir / "mosquitto.db"

        def stamp():
            try:
                st = db.stat()
            except FileNotFoundError:
                return None
            return st.st_ino, st.st_mtime_ns

        before, deadline = stamp(), time.monotonic() + timeout_s
        while stamp() == before:
            assert time.monotonic() < deadline, f"mosquitto did not save {db} within {timeout_s} s"
            threading.Event().wait(0.05)

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


class Const:
    """Constant specific force and rotation."""

    def __init__(self, accel_mps2, gyro_dps):
        self.a, self.g = np.asarray(accel_mps2, float), np.asarray(gyro_dps, float)

    def at(self, t_s):
        n = len(np.atleast_1d(t_s))
        return np.tile(self.a, (n, 1)), np.tile(self.g, (n, 1))


def rig(chip, motion=None, **options):
    """An emulated ``chip`` moved by ``motion`` (at rest without), alone on an emulated bus with its
    driver, all on one fake clock: (clock, bus, chip, driver)."""
    clock = FakeClock()
    bus = EmulatedBus(clock)
    emu = make_chip(chip, motion, clock, **options)
    bus.attach(emu.default_address, emu)
    driver = DRIVERS[chip](bus, emu.default_address, sleep=clock.sleep)
    return clock, bus, emu, driver
