"""The live service loop: source -> Service -> session folder, MQTT and the web page, until the
source ends or it is told to stop; then the session is closed and queued events get a few seconds.

Sessions a killed service left open are closed from their files first (a "recovered" event says so).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path

from firmware_bridge.mqtt.client import Publisher
from firmware_bridge.mqtt.outbox import open_outbox
from firmware_bridge.service.config import Config, mqtt_settings
from firmware_bridge.service.live import Service
from firmware_bridge.store.folder import read_summary
from firmware_bridge.store.recorder import recover_unfinished

log = logging.getLogger("hingemarch.run")


def _recover(sessions: Path, publisher) -> None:
    """Close sessions a killed service left open, and say so (log, and a "recovered" event)."""
    for folder in recover_unfinished(sessions):
        summary = read_summary(folder)
        log.warning("closed unfinished session %s from its files: %d rep(s)", folder.name,
                    summary["totals"]["reps"])
        if publisher:   # seq 0 is reserved for this one message per session
            publisher.event("session", {"phase": "recovered", "summary": summary}, summary["session_id"], 0)


def serve(cfg: Config, source, state: Path, on_block=None, *, device_id: str | None = None,
          source_name: str = "", speed: float | None = None, record: bool = True,
          stop: threading.Event | None = None, keep_web: bool = False, web_any_port: bool = False) -> Service:
    """The live service until the source ends or ``stop`` is set: source -> pipeline -> session
    folder under ``state``/sessions + MQTT (if ``cfg.mqtt.enabled``). ``on_block(service)``
    runs after each block (a live view). Returns the Service (``last_summary``, ``last_folder``).
    The web page shows the sessions under ``state``/sessions even when not recording (``record``
    False). ``keep_web``: the page stays up after the source ends (showing "session ended"), as
    ``service.web``; the caller stops it (``service.web.stop()``). ``web_any_port``: the page takes
    any free port if its own is taken (``service.parts["web"]["url"]`` says where it is)."""
    settings = mqtt_settings(cfg.mqtt, device_id) if cfg.mqtt.enabled else None
    sessions = state / "sessions" if record else None
    speed = getattr(source, "speed", 1.0) if speed is None else speed
    service = Service(cfg, source, None, sessions, source_name or source.info.sensor, speed)
    stop = stop or threading.Event()
    web = None
    try:
        if cfg.web.enabled:    # a port that cannot be had is logged; counting goes on
            from firmware_bridge.web.app import start_for  # aiohttp only when the page is on
            web = start_for(service, cfg.web.host, cfg.web.port, cfg.web.token, state / "sessions", web_any_port)
        if settings is not None:
            if web is not None:
                settings = replace(settings, page_url=web.url)
            outbox, problem = open_outbox(state / "mqtt" / f"outbox-{settings.topics.device_id}.sqlite3")
            if problem:    # a read-only state directory: publish anyway, from memory
                service.notes.append(problem)
            service.publisher = Publisher(settings, outbox, service.on_command).start()
        if sessions is not None:
            _recover(sessions, service.publisher)
        for block in source.blocks():
            service.feed(block)
            if web is not None:
                web.hub.feed(service)
            if on_block is not None:
                on_block(service)
            if stop.is_set():
                break
        log.info("source %s", "stopped" if stop.is_set() else "ended")
    finally:
        source.close()
        service.finish()          # also when the source failed: the session is closed and summarised
        if web is not None:
            web.hub.feed(service)
            if keep_web:
                service.web = web
            else:
                web.stop()
        if service.publisher:
            service.publisher.close(drain_s=cfg.run.drain_s)
    return service
