"""The one TOML configuration file: schema, defaults and validation, into frozen typed settings.

Every key is a field of one section's dataclass below, with its type, default, unit, limits and a
one-line description; ``config/hingemarch.toml`` is the same table written out for people (a test
keeps the two equal). Validation reports every problem at once, one line each, before anything
touches hardware, and gives a :class:`Config` that is passed on instead of the file's dict;
:func:`mqtt_settings` resolves its ``[mqtt]`` section for the client.
"""
from __future__ import annotations

import difflib
import math
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from analysis.errors import HingemarchError
from analysis.exercises import EXERCISES
from analysis.reps import PLACEMENTS
from analysis.sides import SIDES
from firmware_bridge.mqtt import topics as tp
from firmware_bridge.mqtt.settings import PASSWORD_ENV, MqttSettings
from imu.chips import CHIPS

AXES = ("x", "-x", "y", "-y", "z", "-z")    # a sensor axis, signed: see axis_vector


class ConfigError(HingemarchError, ValueError):
    """The config file has problems; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Key:
    """What a config key accepts and means (from its field)."""

    type: type
    default: Any
    help: str
    unit: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    secret: bool = False


def key(default: Any, help: str, unit: str = "", min: float | None = None, max: float | None = None,
        choices: tuple | None = None, secret: bool = False):
    """A section field: its default, and what the schema, the checks and the TOML file say of it."""
    return field(default=default, repr=not secret,
                 metadata={"key": dict(help=help, unit=unit, min=min, max=max, choices=choices, secret=secret)})


@dataclass(frozen=True)
class SessionConfig:
    """[session]: who trains, which leg, where the sensor sits."""

    placement: str = key("thigh", "where the sensor is strapped on the lifted leg", choices=PLACEMENTS)
    side: str = key("left", "which leg is lifted", choices=SIDES)
    athlete: str = key("athlete", "name used in topics and session folders")


@dataclass(frozen=True)
class SensorConfig:
    """[sensor]: the I2C bus and the chip on it (and the optional second one)."""

    backend: str = key("smbus2", "I2C backend: the real bus, or an emulated chip for trying things "
                       "without hardware", choices=("smbus2", "emulated"))
    chip: str = key("auto", "IMU chip; auto reads WHO_AM_I at the usual addresses", choices=("auto", *CHIPS))
    i2c_bus: int = key(1, "I2C bus number, /dev/i2c-N (1 on a Raspberry Pi header)", min=0, max=31)
    address: int = key(0, "7-bit I2C address; 0 probes 0x68, 0x69, 0x6A, 0x6B", min=0, max=127)
    rate_hz: float = key(200.0, "output data rate; the chip's nearest rate is used (MPU: 1 kHz/n, "
                         "LSM6DS: 104, 208, 416 Hz...)", "Hz", 12.5, 1000.0)
    accel_range_g: int = key(16, "accelerometer full scale; 16 g keeps foot-strike transients at "
                             "the shank unclipped", "g", choices=(2, 4, 8, 16))
    gyro_range_dps: int = key(2000, "gyroscope full scale; fast knee drives reach 700-1000 deg/s at "
                              "the thigh and more at the shank, so 2000 never clips", "deg/s",
                              choices=(250, 500, 1000, 2000))
    dlpf_hz: float = key(42.0, "digital low-pass corner; the chip's nearest is used, 0 leaves the "
                         "chip default. Voluntary motion is below 15 Hz", "Hz", 0.0, 500.0)
    second_address: int = key(0, "optional second sensor on the standing leg's shank or the "
                              "pelvis, at the bus's other address (0x69 or 0x6B); 0 for none. With it, "
                              "give the lifted-leg sensor's address too", min=0, max=127)
    second_forward_axis: str = key("x", "the second sensor's axis that points forward, for its "
                                   "AP and ML sway", choices=AXES)


@dataclass(frozen=True)
class AnalysisConfig:
    """[analysis]: the counting's settings a person may change."""

    set_gap_s: float = key(20.0, "a pause this long after a rep ends the set", "s", 5.0, 600.0)
    min_hinge_deg: float = key(25.0, "a hinge shallower than this is never a rep", "deg", 10.0, 80.0)
    exercise: str = key("hinge_march", "what is counted: hinge_march, any one-sided leg exercise, or a named "
                        "one (docs/exercises.md); the exercise command changes it for the next set",
                        choices=EXERCISES)


@dataclass(frozen=True)
class MqttConfig:
    """[mqtt]: the broker, credentials and topics."""

    enabled: bool = key(True, "publish live results over MQTT")
    host: str = key("localhost", "broker host name or address")
    port: int = key(1883, "broker TCP port (8883 is usual with TLS)", min=1, max=65535)
    protocol: str = key("5", "MQTT protocol version", choices=("5", "3.1.1"))
    username: str = key("", "broker user name; empty for none")
    password: str = key("", "broker password; the environment variable HINGEMARCH_MQTT_PASSWORD "
                        "overrides it", secret=True)
    tls: bool = key(False, "connect with TLS")
    ca_file: str = key("", "CA certificate file for TLS; empty uses the system's CAs")
    topic_prefix: str = key("hingemarch", "first level of every topic; one per team or site")
    device_id: str = key("", "second level of every topic; empty uses the host name")
    keepalive_s: int = key(30, "MQTT keepalive; the last will fires after 1.5 times this "
                           "if the network goes silent", "s", 5, 3600)
    qos: int = key(1, "QoS of rep, set and session events (1: at least once, de-duplicate by "
                   "session_id and seq)", choices=(1, 2))
    reconnect_max_s: float = key(30.0, "longest wait between reconnection attempts", "s", 1.0, 600.0)
    ha_discovery: bool = key(False, "publish Home Assistant MQTT discovery so tiles appear by themselves")
    ha_prefix: str = key("homeassistant", "Home Assistant discovery prefix")


@dataclass(frozen=True)
class RunConfig:
    """[run]: how the service starts and stops."""

    autostart: bool = key(True, "start a session as soon as samples flow; otherwise wait for "
                          "a start command")
    drain_s: float = key(5.0, "at shutdown, how long to wait for the broker to take queued "
                         "events (the rest is sent on the next start)", "s", 0.0, 60.0)


@dataclass(frozen=True)
class WebConfig:
    """[web]: the live page, downloads and JSON API."""

    enabled: bool = key(True, "serve the live page, session downloads and the JSON API "
                        "(--no-web also turns it off; see docs/dashboard.md)")
    host: str = key("0.0.0.0", "address to listen on: 0.0.0.0 for every network of the Pi, "
                    "127.0.0.1 for this machine only")
    port: int = key(8080, "TCP port of the web page", min=1, max=65535)
    token: str = key("", "access token; empty lets anyone on the network in. The environment "
                     "variable HINGEMARCH_WEB_TOKEN overrides it", secret=True)


@dataclass(frozen=True)
class PhoneConfig:
    """[phone]: a phone as the sensor (run --source sensorlogger or phyphox; see docs/phone.md)."""

    timeout_s: float = key(5.0, "no readings from the phone for this long shows \"sensor not answering\"; "
                           "keep it above Sensor Logger's batch period", "s", 1.0, 120.0)
    phyphox_accel: str = key("acc_time,accX,accY,accZ", "phyphox buffers of the accelerometer with g: time,x,y,z "
                             "(the names in phyphox's \"Acceleration with g\")")
    phyphox_gyro: str = key("gyr_time,gyrX,gyrY,gyrZ", "phyphox buffers of the gyroscope: time,x,y,z "
                            "(the names in phyphox's \"Gyroscope\")")


@dataclass(frozen=True)
class Config:
    """The whole file, validated: one frozen section per table."""

    session: SessionConfig = field(default_factory=SessionConfig)
    sensor: SensorConfig = field(default_factory=SensorConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    run: RunConfig = field(default_factory=RunConfig)
    web: WebConfig = field(default_factory=WebConfig)
    phone: PhoneConfig = field(default_factory=PhoneConfig)

    def updated(self, section: str, source: str = "command line", **changes: Any) -> Config:
        """A copy with ``changes`` in ``section``, checked by the same rules as the file; a problem
        names ``source`` (a flag such as "--web-port" stands for the key itself)."""
        values, problems = {}, []
        for name, value in changes.items():
            where = source if source.startswith("--") else f"{source}: {section}.{name}"
            value, problem = _check_value(where, SCHEMA[section][name], value)
            problems += [problem] if problem else []
            values[name] = value
        if problems:
            raise ConfigError(problems)
        return replace(self, **{section: replace(getattr(self, section), **values)})


def _schema() -> dict[str, dict[str, Key]]:
    out = {}
    for sec in fields(Config):
        cls = sec.default_factory
        hints = get_type_hints(cls)
        out[sec.name] = {f.name: Key(hints[f.name], f.default, **f.metadata["key"]) for f in fields(cls)}
    return out


SCHEMA: dict[str, dict[str, Key]] = _schema()   # section -> key name -> Key, in file order


def defaults() -> Config:
    """The configuration with every key at its default."""
    return Config()


def _check_value(where: str, key: Key, value: Any) -> tuple[Any, str | None]:
    if key.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, key.type) or (key.type is not bool and isinstance(value, bool)):
        return value, f"{where}: expected {key.type.__name__}, got {type(value).__name__} {value!r}"
    if key.choices is not None and value not in key.choices:
        return value, f"{where}: {value!r} is not one of {', '.join(map(repr, key.choices))}"
    if key.type in (int, float):
        problem = number_problem(value, key.min, key.max, key.unit)
        return value, problem and f"{where}: {problem}"
    return value, None


def number_problem(value: float, lo: float | None = None, hi: float | None = None, unit: str = "") -> str | None:
    """The one rule for a number given by a person (a config key, a command-line flag): finite and
    within ``lo..hi`` (either may be None). What is wrong with it, or None."""
    if not math.isfinite(value):
        return f"{value!r} is not a finite number"
    if lo is not None and value < lo or hi is not None and value > hi:
        unit = f" {unit}" if unit else ""
        return f"{value!r} is out of range {'' if lo is None else lo}..{'' if hi is None else hi}{unit}"
    return None


def _shown(name: str) -> str:
    """A name from the file as it can be shown on one line (quoted if it holds odd characters)."""
    return name if name.isprintable() else repr(name)


def _suggest(name: str, options) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def validate(raw: dict[str, Any], source: str = "config") -> Config:
    """``raw`` (a parsed TOML file) over the defaults; raise :class:`ConfigError` listing every problem."""
    values: dict[str, dict[str, Any]] = {sec: {} for sec in SCHEMA}
    problems = []
    for sec, table in raw.items():
        if sec not in SCHEMA:
            problems.append(f"{source}: unknown section [{_shown(sec)}]{_suggest(sec, SCHEMA)}")
            continue
        if not isinstance(table, dict):
            problems.append(f"{source}: [{sec}] must be a table")
            continue
        for name, value in table.items():
            where = f"{source}: {sec}.{name}"
            if name not in SCHEMA[sec]:
                problems.append(f"{source}: {sec}.{_shown(name)}: unknown key{_suggest(name, SCHEMA[sec])}")
                continue
            value, problem = _check_value(where, SCHEMA[sec][name], value)
            if problem:
                problems.append(problem)
            else:
                values[sec][name] = value
    cfg = Config(**{f.name: f.default_factory(**values[f.name]) for f in fields(Config)})
    sensor = cfg.sensor
    if sensor.second_address and not problems:
        if not sensor.address:
            problems.append(f"{source}: sensor.address: give the lifted-leg sensor's address "
                            "when sensor.second_address is set (probing could find either chip)")
        elif sensor.address == sensor.second_address:
            problems.append(f"{source}: sensor.second_address: the same as sensor.address")
    if problems:
        raise ConfigError(problems)
    return cfg


def axis_vector(name: str) -> tuple[float, float, float]:
    """A config axis name ("x", "-y", ...) as a unit vector in sensor axes."""
    v = [0.0, 0.0, 0.0]
    v["xyz".index(name[-1])] = -1.0 if name.startswith("-") else 1.0
    return tuple(v)


def load(path: str | os.PathLike | None) -> Config:
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


def to_toml(cfg: Config, mask_secrets: bool = False) -> str:
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
            value = getattr(getattr(cfg, sec), name)
            if mask_secrets and key.secret and value:
                value = "********"
            lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def mqtt_settings(section: MqttConfig, device_id: str | None = None, hostname: str | None = None) -> MqttSettings:
    """The ``[mqtt]`` section resolved for the client: device id (``device_id``, e.g. a CLI flag, wins
    over the section's, which wins over the host name), topics checked, password from the environment."""
    dev = device_id or section.device_id or tp.device_id_from_hostname(hostname or os.uname().nodename)
    try:
        topics = tp.Topics(section.topic_prefix, dev)
        tp.check_level(section.ha_prefix, "ha_prefix")
    except tp.TopicError as e:
        raise ConfigError([str(e)]) from None
    if section.tls and section.ca_file and not os.path.isfile(section.ca_file):
        raise ConfigError([f"mqtt.ca_file: {section.ca_file} does not exist"])
    return MqttSettings(
        host=section.host, port=section.port, protocol=section.protocol, username=section.username,
        password=os.environ.get(PASSWORD_ENV) or section.password, tls=section.tls, ca_file=section.ca_file,
        topics=topics, keepalive_s=section.keepalive_s, qos=section.qos, reconnect_max_s=section.reconnect_max_s,
        ha_discovery=section.ha_discovery, ha_prefix=section.ha_prefix)
