"""The one TOML configuration file: schema, defaults and validation.

Every key has a type, default, unit, limits and a one-line description here; ``config/hingemarch.toml``
is the same table written out for people (a test keeps the two equal). Validation reports every
problem at once, one line each, before anything touches hardware.
"""
from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.errors import HingemarchError
from imu.chips import CHIPS


class ConfigError(HingemarchError, ValueError):
    """The config file has problems; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Key:
    type: type
    default: Any
    help: str
    unit: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    secret: bool = False


AXES = ("x", "-x", "y", "-y", "z", "-z")    # a sensor axis, signed: see axis_vector

SCHEMA: dict[str, dict[str, Key]] = {
    "session": {
        "placement": Key(str, "thigh", "where the sensor is strapped on the lifted leg",
                         choices=("thigh", "shank")),
        "side": Key(str, "left", "which leg is lifted", choices=("left", "right")),
        "athlete": Key(str, "athlete", "name used in topics and session folders"),
    },
    "sensor": {
        "backend": Key(str, "smbus2", "I2C backend: the real bus, or an emulated chip for trying things "
                       "without hardware", choices=("smbus2", "emulated")),
        "chip": Key(str, "auto", "IMU chip; auto reads WHO_AM_I at the usual addresses",
                    choices=("auto", *CHIPS)),
        "i2c_bus": Key(int, 1, "I2C bus number, /dev/i2c-N (1 on a Raspberry Pi header)", min=0, max=31),
        "address": Key(int, 0, "7-bit I2C address; 0 probes 0x68, 0x69, 0x6A, 0x6B", min=0, max=127),
        "rate_hz": Key(float, 200.0, "output data rate; the chip's nearest rate is used (MPU: 1 kHz/n, "
                       "LSM6DS: 104, 208, 416 Hz...)", "Hz", 12.5, 1000.0),
        "accel_range_g": Key(int, 16, "accelerometer full scale; 16 g keeps foot-strike transients at "
                             "the shank unclipped", "g", choices=(2, 4, 8, 16)),
        "gyro_range_dps": Key(int, 2000, "gyroscope full scale; fast knee drives reach 700-1000 deg/s at "
                              "the thigh and more at the shank, so 2000 never clips", "deg/s",
                              choices=(250, 500, 1000, 2000)),
        "dlpf_hz": Key(float, 42.0, "digital low-pass corner; the chip's nearest is used, 0 leaves the "
                       "chip default. Voluntary motion is below 15 Hz", "Hz", 0.0, 500.0),
        "second_address": Key(int, 0, "optional second sensor on the standing leg's shank or the "
                              "pelvis, at the bus's other address (0x69 or 0x6B); 0 for none. With it, "
                              "give the lifted-leg sensor's address too", min=0, max=127),
        "second_forward_axis": Key(str, "x", "the second sensor's axis that points forward, for its "
                                   "AP and ML sway", choices=AXES),
    },
    "analysis": {
        "set_gap_s": Key(float, 20.0, "a pause this long after a rep ends the set", "s", 5.0, 600.0),
        "min_hinge_deg": Key(float, 25.0, "a hinge shallower than this is never a rep", "deg", 10.0, 80.0),
    },
    "mqtt": {
        "enabled": Key(bool, True, "publish live results over MQTT"),
        "host": Key(str, "localhost", "broker host name or address"),
        "port": Key(int, 1883, "broker TCP port (8883 is usual with TLS)", min=1, max=65535),
        "protocol": Key(str, "5", "MQTT protocol version", choices=("5", "3.1.1")),
        "username": Key(str, "", "broker user name; empty for none"),
        "password": Key(str, "", "broker password; the environment variable HINGEMARCH_MQTT_PASSWORD "
                        "overrides it", secret=True),
        "tls": Key(bool, False, "connect with TLS"),
        "ca_file": Key(str, "", "CA certificate file for TLS; empty uses the system's CAs"),
        "topic_prefix": Key(str, "hingemarch", "first level of every topic; one per team or site"),
        "device_id": Key(str, "", "second level of every topic; empty uses the host name"),
        "keepalive_s": Key(int, 30, "MQTT keepalive; the last will fires after 1.5 times this "
                           "if the network goes silent", "s", 5, 3600),
        "qos": Key(int, 1, "QoS of rep, set and session events (1: at least once, de-duplicate by "
                   "session_id and seq)", choices=(1, 2)),
        "reconnect_max_s": Key(float, 30.0, "longest wait between reconnection attempts", "s", 1.0, 600.0),
        "ha_discovery": Key(bool, False, "publish Home Assistant MQTT discovery so tiles appear by themselves"),
        "ha_prefix": Key(str, "homeassistant", "Home Assistant discovery prefix"),
    },
    "run": {
        "autostart": Key(bool, True, "start a session as soon as samples flow; otherwise wait for "
                         "a start command"),
        "drain_s": Key(float, 5.0, "at shutdown, how long to wait for the broker to take queued "
                       "events (the rest is sent on the next start)", "s", 0.0, 60.0),
    },
    "web": {
        "enabled": Key(bool, True, "serve the live page, session downloads and the JSON API "
                       "(--no-web also turns it off; see docs/dashboard.md)"),
        "host": Key(str, "0.0.0.0", "address to listen on: 0.0.0.0 for every network of the Pi, "
                    "127.0.0.1 for this machine only"),
        "port": Key(int, 8080, "TCP port of the web page", min=1, max=65535),
        "token": Key(str, "", "access token; empty lets anyone on the network in. The environment "
                     "variable HINGEMARCH_WEB_TOKEN overrides it", secret=True),
    },
}


def defaults() -> dict[str, dict[str, Any]]:
    """The configuration with every key at its default."""
    return {sec: {k: key.default for k, key in keys.items()} for sec, keys in SCHEMA.items()}


def _check_value(where: str, key: Key, value: Any) -> tuple[Any, str | None]:
    if key.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, key.type) or (key.type is not bool and isinstance(value, bool)):
        return value, f"{where}: expected {key.type.__name__}, got {type(value).__name__} {value!r}"
    if key.choices is not None and value not in key.choices:
        return value, f"{where}: {value!r} is not one of {', '.join(map(repr, key.choices))}"
    if key.min is not None and value < key.min or key.max is not None and value > key.max:
        unit = f" {key.unit}" if key.unit else ""
        return value, f"{where}: {value!r} is out of range {key.min}..{key.max}{unit}"
    return value, None


def _suggest(name: str, options) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def validate(raw: dict[str, Any], source: str = "config") -> dict[str, dict[str, Any]]:
    """Merge ``raw`` over the defaults; raise :class:`ConfigError` listing every problem."""
    cfg, problems = defaults(), []
    for sec, table in raw.items():
        if sec not in SCHEMA:
            problems.append(f"{source}: unknown section [{sec}]{_suggest(sec, SCHEMA)}")
            continue
        if not isinstance(table, dict):
            problems.append(f"{source}: [{sec}] must be a table")
            continue
        for name, value in table.items():
            where = f"{source}: {sec}.{name}"
            if name not in SCHEMA[sec]:
                problems.append(f"{where}: unknown key{_suggest(name, SCHEMA[sec])}")
                continue
            value, problem = _check_value(where, SCHEMA[sec][name], value)
            if problem:
                problems.append(problem)
            else:
                cfg[sec][name] = value
    sensor = cfg["sensor"]
    if sensor["second_address"] and not problems:
        if not sensor["address"]:
            problems.append(f"{source}: sensor.address: give the lifted-leg sensor's address "
                            "when sensor.second_address is set (probing could find either chip)")
        elif sensor["address"] == sensor["second_address"]:
            problems.append(f"{source}: sensor.second_address: the same as sensor.address")
    if problems:
        raise ConfigError(problems)
    return cfg


def axis_vector(name: str) -> tuple[float, float, float]:
    """A config axis name ("x", "-y", ...) as a unit vector in sensor axes."""
    v = [0.0, 0.0, 0.0]
    v["xyz".index(name[-1])] = -1.0 if name.startswith("-") else 1.0
    return tuple(v)


def load(path: str | os.PathLike | None) -> dict[str, dict[str, Any]]:
    """Read and validate a TOML file; ``None`` gives the defaults."""
    if path is None:
        return defaults()
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError([f"{p}: cannot read: {e.strerror or e}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError([f"{p}: not valid TOML: {e}"]) from None
    return validate(raw, str(p))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def to_toml(cfg: dict[str, dict[str, Any]], mask_secrets: bool = False) -> str:
    """Write ``cfg`` as commented TOML: each key with its help, unit and limits above it."""
    lines = ["# hingemarch configuration. Every key is optional; these are the defaults.",
             "# Check a file with `hingemarch config check FILE`."]
    for sec, keys in SCHEMA.items():
        lines += ["", f"[{sec}]"]
        for name, key in keys.items():
            extra = []
            if key.unit:
                extra.append(key.unit)
            if key.choices is not None:
                extra.append("one of " + ", ".join(_toml_value(c) for c in key.choices))
            elif key.min is not None:
                extra.append(f"{key.min:g}..{key.max:g}")
            lines.append(f"# {key.help}" + (f" [{'; '.join(extra)}]" if extra else ""))
            value = cfg[sec][name]
            if mask_secrets and key.secret and value:
                value = "********"
            lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
