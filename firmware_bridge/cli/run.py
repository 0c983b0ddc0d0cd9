"""Run the rep counter live: read the sensor (or a simulation, or a recording), count reps, record
each session to its folder and publish live results over MQTT (see docs/mqtt.md).

Sessions start by themselves (config run.autostart) or on an MQTT "start" command; SIGTERM or
Ctrl-C stops cleanly: the open session is closed and summarised, queued events get a few seconds.

On a phone: open http://<this Pi>:8080/ for the live page, the sessions and their downloads
(config [web], --web-port, --no-web; see docs/dashboard.md).
"""
from __future__ import annotations

import argparse
import logging
import signal

from analysis.exercises import EXERCISES
from firmware_bridge.cli.flags import SEED, SPEED, config_number
from firmware_bridge.cli.signals import stop_on_signals
from firmware_bridge.service import config, logsetup, sdnotify
from firmware_bridge.service.loop import serve
from firmware_bridge.service.paths import CONFIG_HELP, config_file, state_dir
from firmware_bridge.service.sources import open_source

log = logging.getLogger("hingemarch.run")


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    p.add_argument("--source", default="i2c", metavar="SRC",
                   help="i2c (the [sensor] config) | mpu6050 | lsm6dsox | replay:FILE (a samples file, "
                        "session folder or phone app export) | sim | emulated:CHIP (the real driver on an "
                        "emulated chip moved by the simulator) | sensorlogger[:PORT] (a phone's Sensor Logger "
                        "HTTP push, received on PORT, default 8000) | phyphox:http://PHONE:PORT (a phone's "
                        "phyphox remote access); phones: docs/phone.md (default %(default)s)")
    p.add_argument("--speed", type=SPEED, default=1.0,
                   help="replay/sim pace, 0..1000: 1 = recorded speed, 10 = ten times faster, 0 = as fast as "
                        "possible")
    p.add_argument("--seed", type=SEED, default=1, help="sim: which simulated workout, 0..4294967295 (default %(default)s)")
    p.add_argument("--rate-hz", type=config_number("sensor", "rate_hz"),
                   help="sample rate, 12.5..1000 Hz: sim (default 200) or the sensor (default sensor.rate_hz "
                        "from the config)")
    p.add_argument("--state-dir", metavar="DIR",
                   help="sessions and the MQTT outbox live here (default: $HINGEMARCH_STATE_DIR, "
                        "$STATE_DIRECTORY, ~/.local/state/hingemarch)")
    p.add_argument("--device-id", help="overrides mqtt.device_id")
    p.add_argument("--exercise", choices=EXERCISES, help="overrides analysis.exercise: what is counted (docs/exercises.md)")
    p.add_argument("--no-mqtt", action="store_true", help="don't publish (record only)")
    p.add_argument("--no-record", action="store_true",
                   help="don't write session folders (the page still shows those already recorded)")
    p.add_argument("--web", action=argparse.BooleanOptionalAction, default=None,
                   help="serve the live page and session downloads at http://HOST:PORT/ (default: "
                        "web.enabled from the config, on)")
    p.add_argument("--web-host", metavar="HOST", help="overrides web.host (default 0.0.0.0: every network)")
    p.add_argument("--web-port", type=config_number("web", "port"), metavar="PORT",
                   help="overrides web.port (1..65535, default 8080)")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))


def run(args) -> int:
    logsetup.setup(args.log_level)
    cfg = config.load(config_file(args.config))
    if args.no_mqtt:
        cfg = cfg.updated("mqtt", enabled=False)
    if args.exercise:
        cfg = cfg.updated("analysis", exercise=args.exercise)
    for flag, key, value in (("--web", "enabled", args.web), ("--web-host", "host", args.web_host),
                             ("--web-port", "port", args.web_port)):
        if value is not None:
            cfg = cfg.updated("web", flag, **{key: value})
    if cfg.mqtt.enabled:
        config.mqtt_settings(cfg.mqtt, args.device_id)     # config errors before any hardware
    state = state_dir(args.state_dir)
    source = open_source(args.source, cfg, state, args.speed, args.seed, args.rate_hz)
    watch = sdnotify.LoopWatch()     # under systemd: READY, watchdog pings, STATUS, STOPPING

    def stop(signum: int) -> None:
        log.info("stopping on %s", signal.Signals(signum).name)
        watch.stopping()
        source.close()

    with stop_on_signals(stop) as stopping:
        try:
            serve(cfg, source, state, on_block=watch, device_id=args.device_id, source_name=args.source,
                  speed=args.speed, record=not args.no_record, stop=stopping)
        finally:
            watch.stopping()
    return 0
