"""The live MQTT link: one paho client (``CallbackAPIVersion.VERSION2``) behind a small class.

It keeps the retained status (with a last will), tiles and state current and refreshes them on every
(re)connect; sends events from the on-disk outbox one at a time, oldest first, each deleted only on
its PUBACK; and hands validated commands to the run loop. A broker going away is logged once and
retried by paho with backoff (at most 2 s apart for a broker on this machine or the LAN); nothing
here raises on it.

Nothing may kill paho's network thread (it would stop events and command replies while counting
goes on): every callback is guarded, and a watchdog thread notices a network thread that died or is
stuck, or an outbox that stops draining while connected, reports it in ``problems`` and replaces the
paho client with a fresh one. Nor may anything kill the outbox's sender thread: an exception in it is
reported in ``problems`` and the event is sent again a moment later.
"""
from __future__ import annotations

import functools
import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from firmware_bridge import __version__
from firmware_bridge.mqtt import topics as tp
from firmware_bridge.mqtt.outbox import Outbox, OutboxError
from firmware_bridge.mqtt.settings import MqttSettings

log = logging.getLogger("hingemarch.mqtt")
STATE_HEARTBEAT_S = 1.0      # the JSON state is re-sent at least this often while it changes
LOCAL_RECONNECT_MAX_S = 2    # a broker on this machine or the LAN is retried at least this often
STUCK_S = 10.0               # a callback running longer than this means the network thread is stuck
STALL_S = 20.0               # connected, events queued, none acknowledged for this long: the link is dead
WATCH_EVERY_S = 0.5
SEND_RETRY_S = 1.0           # after an unexpected exception in the sender, the event is sent again this much later
MAX_IN_FLIGHT = 1000         # topics of unanswered QoS 1 publishes kept (to name a refused one)
_LAN_SUFFIXES = (".local", ".lan", ".home", ".internal", ".home.arpa")


def is_local_host(host: str) -> bool:
    """True for a broker on this machine or the local network: a loopback, private or link-local
    address, ``localhost``, a name without a dot or under .local/.lan/.home/.internal. No DNS look-up
    (it could block the start)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        name = host.lower().rstrip(".")
        return name == "localhost" or "." not in name or name.endswith(_LAN_SUFFIXES)
    return ip.is_loopback or ip.is_private or ip.is_link_local


def reconnect_max_delay(s: MqttSettings) -> int:
    """paho doubles its reconnect wait from 1 s up to this after each failed attempt (reset on a
    successful CONNACK). ``reconnect_max_s`` for a remote broker; a local one is retried at least every
    LOCAL_RECONNECT_MAX_S, so events flow again within a few seconds of it being back."""
    cap = max(1, round(s.reconnect_max_s))
    return min(cap, LOCAL_RECONNECT_MAX_S) if is_local_host(s.host) else cap


def make_client(s: MqttSettings, client_id: str) -> paho.Client:
    """A paho 2 client with credentials, TLS, last will and reconnect backoff from the settings."""
    v5 = s.protocol == "5"
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
                         clean_session=None if v5 else True)
    if s.username:
        client.username_pw_set(s.username, s.password or None)
    if s.tls:
        client.tls_set(ca_certs=s.ca_file or None)
    client.will_set(s.topics.status, tp.OFFLINE, qos=1, retain=True)
    client.reconnect_delay_set(min_delay=1, max_delay=reconnect_max_delay(s))
    client.suppress_exceptions = True     # second line of defence behind _guarded: paho logs, goes on
    return client


def _guarded(kind: str):
    """Wrap a paho callback: ignore calls from a client already replaced, time the call (the watchdog
    sees a stuck one), and catch everything, so nothing raised can end paho's network thread."""
    def wrap(method):
        @functools.wraps(method)
        def guarded(self: Publisher, client, *args):
            if client is not self.client:    # a replaced client's late callback
                return None
            self._busy = (kind, time.monotonic())
            try:
                return method(self, client, *args)
            except Exception as e:
                self._callback_failed(kind, e)
                return None
            finally:
                if client is self.client:
                    self._busy = None
        return guarded
    return wrap


class _OnceLog:
    """Logs a recurring problem once, then again only if it changes or a minute has passed."""

    def __init__(self) -> None:
        self.last, self.at = "", 0.0

    def problem(self, msg: str) -> None:
        if msg != self.last or time.monotonic() - self.at > 60.0:
            log.warning("%s", msg)
            self.last, self.at = msg, time.monotonic()

    def recovered(self, msg: str) -> None:
        if self.last:
            log.info("%s", msg)
        self.last = ""


class Publisher:
    """Publishes one device's tree. Call ``start()``, then ``event``/``update``/``reply``; ``close()``
    sends "offline" and stops. ``on_command(Command)`` runs on paho's thread: queue, don't block."""

    def __init__(self, settings: MqttSettings, outbox: Outbox,
                 on_command: Callable[[tp.Command], None] | None = None,
                 stuck_s: float = STUCK_S, stall_s: float = STALL_S):
        self.settings, self.topics, self.outbox = settings, settings.topics, outbox
        self.on_command = on_command or (lambda cmd: None)
        self.stuck_s, self.stall_s = stuck_s, stall_s
        self.connected = threading.Event()
        self._stop, self._wake = threading.Event(), threading.Event()
        self._lock = threading.Lock()        # guards the retained cache below
        self._tiles: dict[str, str] = {}
        self._state: dict | None = None
        self._state_sent_at = 0.0
        self._error = ""
        self._oncelog = _OnceLog()           # the broker's reachability
        self._faultlog = _OnceLog()          # repeated exceptions caught in callbacks
        self._refusedlog = _OnceLog()        # publishes the broker refused (MQTT 5 reason codes)
        self._sendlog = _OnceLog()           # exceptions caught in the outbox's sender
        self._send_problem = ""              # the sender's last exception, until an event is acknowledged
        self._flight_lock = threading.Lock()
        self._in_flight: dict[int, str] = {}  # mid -> topic of a QoS 1/2 publish not yet answered
        self._answered: dict[int, object] = {}  # mid -> reason code of an answer that came first
        self.refused = 0                     # publishes the broker refused
        self._closed = False
        self.callback_errors: dict[str, int] = {}    # kind -> how many times it raised (caught)
        self.restarts = 0                            # paho clients replaced by the watchdog
        self._problem = ""                           # what the watchdog found, until it is resolved
        self._busy: tuple[str, float] | None = None  # the callback running now, since when
        self._progress_at = self._acked_at = self._restarted_at = time.monotonic()
        self.client = self._new_client()
        self._sender = threading.Thread(target=self._send_loop, name="mqtt-outbox", daemon=True)
        self._watchdog = threading.Thread(target=self._watch, name="mqtt-watchdog", daemon=True)

    def _new_client(self) -> paho.Client:
        client = make_client(self.settings, f"hingemarch-{self.topics.prefix.replace('/', '-')}-"
                                            f"{self.topics.device_id}")
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    @property
    def problems(self) -> list[str]:
        """What is wrong with the MQTT link, its sender or its outbox (stalled disk), one line each,
        for status/error (empty = fine)."""
        return [p for p in (self._problem, self._send_problem, self.outbox.problem) if p]

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Publisher:
        s = self.settings
        self.client.connect_async(s.host, s.port, keepalive=s.keepalive_s)
        self.client.loop_start()
        self._sender.start()
        self._watchdog.start()
        log.info("MQTT: publishing to %s:%d under %s/ (%d queued events)", s.host, s.port,
                 self.topics.base, len(self.outbox))
        return self

    def flush(self, timeout_s: float) -> bool:
        """Wait until every queued event is acknowledged; False if the time ran out."""
        deadline = time.monotonic() + timeout_s
        while len(self.outbox) and time.monotonic() < deadline:
            self._stop.wait(0.02)
        return not len(self.outbox)

    def close(self, drain_s: float = 2.0) -> None:
        """Deliver what can be delivered within ``drain_s``, say "offline", disconnect. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.connected.is_set():
            self.flush(drain_s)
        self._stop.set()
        self._wake.set()
        for thread in (self._sender, self._watchdog):
            if thread.is_alive():
                thread.join(timeout=2.0)
        if self.connected.is_set():
            info = self.client.publish(self.topics.status, tp.OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=1.0)
            except (RuntimeError, ValueError):
                pass
        network = self._network_thread()
        self.client.disconnect()      # ends paho's loop; joined with a timeout, as it may be stuck
        if network is not None and network is not threading.current_thread():
            network.join(timeout=2.0)
        left = len(self.outbox)
        if left:
            log.warning("MQTT: %d event(s) not yet delivered; they stay in %s for the next start",
                        left, self.outbox.path)
        self.outbox.close()

    # --- what the run loop calls ---------------------------------------------------------------
    def event(self, kind: str, body: dict, session_id: str, seq: int) -> None:
        """Queue one event on disk (it survives a crash), then let the sender deliver it."""
        payload = tp.event_payload(kind, body, session_id, seq, self.topics.device_id, time.time())
        try:
            self.outbox.put(self.topics.event(kind), payload, self.settings.qos)
        except OutboxError:    # disk full: still send it, from memory only, and report the problem
            self.client.publish(self.topics.event(kind), payload, qos=self.settings.qos)
            raise
        self._wake.set()

    def update(self, state: dict) -> None:
        """New live state: changed tiles go out at once, the JSON state on change or each second."""
        tiles = tp.tile_values(state)
        with self._lock:
            changed = {k: v for k, v in tiles.items() if self._tiles.get(k) != v}
            self._tiles.update(tiles)
            self._state = state
            due = bool(changed) or time.monotonic() - self._state_sent_at >= STATE_HEARTBEAT_S
            if not self.connected.is_set():
                return
            for name, text in changed.items():
                self.client.publish(self.topics.value(name), text, qos=0, retain=True)
            if due:
                self._publish_state()

    def set_error(self, message: str | None) -> None:
        """Show a problem (disk full, sensor lost...) on status/error; ``None`` clears it."""
        with self._lock:
            self._error = message or ""
            if self.connected.is_set():
                self._publish(self.client, self.topics.error, self._error, qos=1, retain=True)

    def reply(self, cmd: tp.Command | None, ok: bool, error: str | None = None,
              session_id: str | None = None) -> None:
        """Answer a command on ``reply`` (and on its MQTT 5 response topic, if it gave one)."""
        payload = tp.reply_payload(cmd.name if cmd else None, cmd.id if cmd else None, ok, error, session_id)
        self._publish(self.client, self.topics.reply, payload, qos=1)
        if cmd and cmd.response_topic:
            props = paho.Properties(paho.PacketTypes.PUBLISH)
            if cmd.correlation is not None:
                props.CorrelationData = cmd.correlation
            try:
                self._publish(self.client, cmd.response_topic, payload, qos=1, properties=props)
            except ValueError as e:   # e.g. a wildcard in the response topic: answer on reply only
                log.warning("MQTT: cannot answer on response topic %r: %s", cmd.response_topic, e)

    # --- internals -------------------------------------------------------------------------------
    def _publish_state(self) -> None:
        if self._state is not None:
            body = {**self._state, "device_id": self.topics.device_id, "unix_s": round(time.time(), 3),
                    "error": self._error or None, "queued_events": len(self.outbox)}
            self.client.publish(self.topics.state, tp.to_json(body), qos=0, retain=True)
            self._state_sent_at = time.monotonic()

    def _send_loop(self) -> None:
        """The sender thread: ``_send_next`` until stopped. An exception in it (a bug, paho in a state
        nobody foresaw) must not end delivery while the status says online: it is caught, the event
        stays in the outbox and is sent again after SEND_RETRY_S, and ``problems`` names the
        exception until an event is acknowledged."""
        while not self._stop.is_set():
            try:
                self._send_next()
            except Exception as e:
                self._send_problem = (f"MQTT: sending a queued event raised {type(e).__name__}: "
                                      f"{' '.join(str(e).split())}; it stays queued and is sent again")
                self._sendlog.problem(self._send_problem)
                self._stop.wait(SEND_RETRY_S)

    def _send_next(self) -> None:
        """Send the oldest queued event and wait for its PUBACK (or wait for an event or the link).

        Stop-and-wait: one event in flight at a time keeps them in order across reconnects. If the
        watchdog replaces the client meanwhile, the event is sent again on the new one (a duplicate
        at worst, which ``seq`` makes harmless).

        paho closes its socket before it calls ``on_disconnect``, so an event handed over in between
        is refused (``rc`` not success) although ``connected`` was still set: paho then reports nothing
        for it (``is_published`` raises), so it is sent again once connected (a duplicate at worst:
        paho resends its own copy on reconnect too)."""
        row = self.outbox.peek()
        if row is None or not self.connected.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            return
        client = self.client
        info = self._publish(client, row.topic, row.payload, qos=row.qos)
        if info.rc != paho.MQTT_ERR_SUCCESS:     # the link dropped just now: wait for on_disconnect
            self._stop.wait(0.2)
            return
        # paho keeps an unacknowledged message and resends it after a reconnect: just wait.
        while not info.is_published() and not self._stop.is_set() and client is self.client:
            info.wait_for_publish(timeout=0.5)
        if info.is_published():
            self.outbox.ack(row.id)
            self._progress_at = self._acked_at = time.monotonic()
            if self._send_problem:
                self._sendlog.recovered("MQTT: queued events are acknowledged again")
                self._send_problem = ""

    # --- the watchdog ------------------------------------------------------------------------------
    def _network_thread(self) -> threading.Thread | None:
        """paho's network thread (``Client._thread``, private: paho 2 has no public handle; it is None
        once the thread has ended)."""
        return getattr(self.client, "_thread", None)

    def _check(self) -> str:
        """What is wrong with the link now ('' = nothing): a dead or stuck network thread, or an outbox
        that does not drain while connected."""
        now = time.monotonic()
        network = self._network_thread()
        if network is None or not network.is_alive():
            return "MQTT: the network thread has stopped"
        busy = self._busy
        if busy is not None and now - busy[1] > self.stuck_s:
            return f"MQTT: the network thread is stuck in {busy[0]} for {now - busy[1]:.0f} s"
        if not self.connected.is_set() or not len(self.outbox):
            self._progress_at = now
        elif now - self._progress_at > self.stall_s:
            return (f"MQTT: connected, but no queued event acknowledged for {now - self._progress_at:.0f} s "
                    f"({len(self.outbox)} waiting)")
        return ""

    def _watch(self) -> None:
        """Every WATCH_EVERY_S: check the link; on a problem say so and replace the client. The problem
        stays in ``problems`` until the new client is connected and the outbox drains again."""
        while not self._stop.wait(WATCH_EVERY_S):
            try:
                problem = self._check()
                if problem:
                    self._problem = f"{problem}; restarted the MQTT client"
                    log.error("%s", self._problem)
                    self._restart()
                elif self._problem and self.connected.is_set() and (
                        not len(self.outbox) or self._acked_at > self._restarted_at):
                    log.info("MQTT: the link works again after the restart (%s)", self._problem)
                    self._problem = ""
            except Exception as e:      # the watchdog must outlive what it watches
                self._callback_failed("watchdog", e)

    def _restart(self) -> None:
        """A fresh paho client with the same id (the broker drops the old connection on takeover); the
        old one is told to stop and its late callbacks are ignored (see _guarded)."""
        old = self.client
        self.connected.clear()
        self.client = self._new_client()
        self.restarts += 1
        self._restarted_at = self._progress_at = time.monotonic()
        self._busy = None
        try:
            old.disconnect()
        except Exception:   # whatever state the old client is in, it is being dropped
            pass
        s = self.settings
        self.client.connect_async(s.host, s.port, keepalive=s.keepalive_s)
        self.client.loop_start()
        self._wake.set()

    def _callback_failed(self, kind: str, e: BaseException) -> None:
        """Count a caught exception; log the first of each kind with its traceback, later ones once a
        minute with the count (a flood of bad input must not flood the log)."""
        n = self.callback_errors[kind] = self.callback_errors.get(kind, 0) + 1
        if n == 1:
            log.error("MQTT: %s raised %s; ignored, the link goes on", kind, type(e).__name__, exc_info=e)
        else:
            self._faultlog.problem(f"MQTT: {kind} has raised {n} times (last: {type(e).__name__})")

    @_guarded("on_connect")
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._oncelog.problem(f"MQTT: broker {self.settings.host}:{self.settings.port} refused the "
                                  f"connection: {reason_code}; retrying")
            return
        self._oncelog.recovered(f"MQTT: connected again; {len(self.outbox)} queued event(s) to deliver")
        for flt in self.topics.command_filters:
            client.subscribe(flt, qos=1)
        self._publish(client, self.topics.status, tp.ONLINE, qos=1, retain=True)
        if self.settings.ha_discovery:
            for topic, payload in tp.ha_discovery(self.topics, self.settings.ha_prefix, __version__,
                                                  self.settings.page_url).items():
                self._publish(client, topic, payload, qos=1, retain=True)
        with self._lock:
            self._publish(client, self.topics.error, self._error, qos=1, retain=True)
            for name, text in self._tiles.items():
                client.publish(self.topics.value(name), text, qos=0, retain=True)
            self._publish_state()
            self._progress_at = time.monotonic()
            self.connected.set()
        self._wake.set()

    def _publish(self, client: paho.Client, topic: str, payload, qos: int, retain: bool = False, **kw):
        """Publish, remembering a QoS 1/2 message's topic until the broker answers, so a refusal
        (an MQTT 5 reason code, e.g. the ACL's "Not authorized") is logged with its topic. The answer
        may come before ``publish`` returns: then it waits in ``_answered`` (no lock is held around
        paho's publish, whose callbacks run under paho's own lock)."""
        info = client.publish(topic, payload, qos=qos, retain=retain, **kw)
        if qos and info.rc == paho.MQTT_ERR_SUCCESS:
            with self._flight_lock:
                early = self._answered.pop(info.mid, None)
                if early is None:
                    self._in_flight[info.mid] = topic
                    while len(self._in_flight) > MAX_IN_FLIGHT:    # answers that never came (a dropped link)
                        self._in_flight.pop(next(iter(self._in_flight)))
            if early is not None:
                self._answer(topic, early)
        return info

    @_guarded("on_publish")
    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._flight_lock:
            topic = self._in_flight.pop(mid, None)
            if topic is None:
                self._answered[mid] = reason_code
                while len(self._answered) > MAX_IN_FLIGHT:
                    self._answered.pop(next(iter(self._answered)))
        if topic is not None:
            self._answer(topic, reason_code)

    def _answer(self, topic: str, reason_code) -> None:
        if reason_code.is_failure:
            self.refused += 1
            self._refusedlog.problem(f"MQTT: the broker refused a publish to {topic}: {reason_code} "
                                     f"(its ACL must let this account write there: docs/mqtt.md)")

    @_guarded("on_connect_fail")
    def _on_connect_fail(self, client, userdata) -> None:
        self._oncelog.problem(f"MQTT: cannot reach the broker at {self.settings.host}:{self.settings.port}; "
                              f"events queue on disk and are sent once it is back")

    @_guarded("on_disconnect")
    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was_connected = self.connected.is_set()
        self.connected.clear()
        self._wake.set()
        if was_connected and not self._closed:   # a refused attempt was already reported
            self._oncelog.problem(f"MQTT: lost the broker ({reason_code}); events queue on disk, reconnecting")

    @_guarded("on_message")
    def _on_message(self, client, userdata, msg) -> None:
        """One command: parse, answer errors on ``reply``, hand good ones to ``on_command``."""
        try:
            topic = msg.topic
            cmd = tp.parse_command(topic, msg.payload, self.topics)
        except tp.CommandError as e:
            log.warning("MQTT: ignored a command on %s: %s", topic, e)
            self.reply(None, False, str(e))
            return
        except Exception as e:   # a parser bug or an undecodable topic: count, answer, go on
            self._callback_failed("parse_command", e)
            self.reply(None, False, "command could not be read (internal error, logged)")
            return
        try:
            props = getattr(msg, "properties", None)
            if props is not None and getattr(props, "ResponseTopic", None):
                cmd = replace(cmd, response_topic=props.ResponseTopic,
                              correlation=getattr(props, "CorrelationData", None))
            self.on_command(cmd)
        except Exception as e:  # a bug in a handler must never take the network thread down
            self._callback_failed("on_command", e)
            self.reply(cmd, False, "internal error")
