"""The MQTT topic tree and its payloads, named in one place so docs/mqtt.md, the publisher and
consumers agree. Pure functions: no network here, so every payload can be tested on its own.

Tree under ``<prefix>/<device_id>/`` (see docs/mqtt.md for the full table)::

    status            retained  "online" / "offline" (the last will)
    status/error      retained  plain text of the current problem; cleared (empty) when all is well
    state             retained  JSON: the whole live state
    value/<name>      retained  plain values for dashboard tiles (reps, set, side, depth_deg, ...)
    event/<kind>      QoS 1     JSON rep / set / session events with session_id and seq
    cmd/<name>        in        start, stop, new_set, side, undo, exercise (or cmd with {"cmd": ...})
    reply             out       JSON answer to every command
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from analysis.errors import HingemarchError
from analysis.exercises import EXERCISES
from analysis.sides import SIDES

ONLINE, OFFLINE = "online", "offline"
COMMANDS = ("start", "stop", "new_set", "side", "undo", "exercise")
VALUES = ("reps", "set", "side", "depth_deg", "height_deg", "sway", "session", "exercise")   # tiles under value/
MAX_COMMAND_BYTES = 1024
MAX_COMMAND_DEPTH = 2        # a command is one flat object; 2 lets a stray list value get a clear answer
MAX_ID_CHARS = 64            # "id" is echoed in the reply; keep the reply small
_LEVEL = re.compile(r"^[A-Za-z0-9_.\-]+$")


class TopicError(HingemarchError, ValueError):
    """A topic prefix or device id that would break the tree (wildcards, slashes, empty)."""


class CommandError(HingemarchError, ValueError):
    """A command that is malformed or not allowed; answered on the reply topic, never fatal."""


def check_level(name: str, what: str) -> str:
    """One topic level: letters, digits, ``_ . -`` only, so ``+``/``#``/``/`` can never sneak in."""
    if not _LEVEL.match(name or ""):
        raise TopicError(f"mqtt.{what} {name!r} must be non-empty and use only letters, digits, _ . -")
    return name


def device_id_from_hostname(hostname: str) -> str:
    """A topic-safe device id from the host name (``Pi 4.local`` -> ``pi-4``)."""
    slug = re.sub(r"[^A-Za-z0-9_\-]+", "-", hostname.split(".")[0]).strip("-").lower()
    return slug or "hingemarch"


@dataclass(frozen=True)
class Topics:
    """Every topic of one device. ``prefix`` may hold slashes (``team/site``) but no wildcards."""

    prefix: str
    device_id: str

    def __post_init__(self) -> None:
        for level in self.prefix.split("/"):
            check_level(level, "topic_prefix")
        check_level(self.device_id, "device_id")

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.device_id}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def error(self) -> str:
        return f"{self.base}/status/error"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def reply(self) -> str:
        return f"{self.base}/reply"

    def value(self, name: str) -> str:
        return f"{self.base}/value/{name}"

    def event(self, kind: str) -> str:
        return f"{self.base}/event/{kind}"

    def command(self, name: str | None = None) -> str:
        return f"{self.base}/cmd" if name is None else f"{self.base}/cmd/{name}"

    @property
    def command_filters(self) -> tuple[str, str]:
        return self.command(), f"{self.base}/cmd/+"


def _plain(x: Any) -> Any:
    """JSON-safe copy: numpy scalars/arrays become Python numbers/lists, NaN/inf become null."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if hasattr(x, "tolist"):           # numpy scalar or array
        return _plain(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def to_json(obj: dict) -> bytes:
    return json.dumps(_plain(obj), separators=(",", ":"), allow_nan=False).encode()


def event_payload(kind: str, body: dict, session_id: str, seq: int, device_id: str, unix_s: float) -> bytes:
    """One event: the body (``RepEvent.to_dict()`` etc.) inside an envelope that makes
    ``(session_id, seq)`` a unique, ordered key for de-duplication."""
    return to_json({**body, "kind": kind, "session_id": session_id, "seq": seq,
                    "device_id": device_id, "unix_s": round(unix_s, 3)})


def tile_values(state: dict) -> dict[str, str]:
    """The plain retained tiles from the JSON state: text a dashboard shows as is."""
    last = state.get("last_rep") or {}

    def num(x: Any, decimals: int) -> str:
        return "" if x is None else f"{float(x):.{decimals}f}"

    return {
        "reps": str(state.get("reps_in_set", 0)),
        "set": str(state.get("set_index", 0)),
        "side": str(state.get("side", "")),
        "depth_deg": num(last.get("hinge_depth_deg"), 1),
        "height_deg": num(last.get("march_height_deg"), 1),
        "sway": num(state.get("sway_deg"), 2),   # degrees, docs/sway.md
        "session": "running" if state.get("running") else "stopped",
        "exercise": str(state.get("exercise", "")),   # what the open or next set counts (docs/exercises.md)
    }


@dataclass(frozen=True)
class Command:
    """A validated command: ``name`` in COMMANDS, ``side`` for "side", ``id`` echoed in the reply."""

    name: str
    side: str | None = None
    id: str | None = None
    exercise: str | None = None     # for "exercise": what to count from the next set (docs/exercises.md)
    response_topic: str | None = None
    correlation: bytes | None = None


_PLAIN_PRESS = {"", "press", "1", "on", "true"}


def _short(x: Any) -> str:
    """``repr`` cut to 40 characters, so an error reply stays one short line whatever was sent."""
    r = repr(x)
    return r if len(r) <= 40 else r[:37] + "..."


def json_depth(text: str) -> int:
    """Deepest ``[``/``{`` nesting in JSON text, brackets inside strings not counted. Checked before
    ``json.loads``, whose decoder recurses once per level (``[`` x 1000 is a RecursionError)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise CommandError(f"command JSON holds {name}, which is not a number")


def _finite(text: str) -> float:
    x = float(text)
    if not math.isfinite(x):
        raise CommandError(f"command JSON holds the number {_short(text)}, too large")
    return x


def parse_command(topic: str, payload: bytes, topics: Topics) -> Command:
    """Validate one incoming command; raise CommandError saying what is wrong.

    Accepted: ``cmd/<name>`` with an empty/plain payload (``PRESS`` from a dashboard button, the side
    as text for ``cmd/side``) or a JSON object; or ``cmd`` with a JSON object holding ``"cmd"``.
    JSON objects may carry ``"id"`` (string or number, echoed in the reply) and ``"side"``.
    """
    if len(payload) > MAX_COMMAND_BYTES:
        raise CommandError(f"command payload is {len(payload)} bytes; the limit is {MAX_COMMAND_BYTES}")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CommandError("command payload is not UTF-8 text") from None
    name = topic[len(topics.command()) + 1:] if topic.startswith(topics.command() + "/") else None
    body: dict = {}
    if text[:1] in ("{", "["):
        if json_depth(text) > MAX_COMMAND_DEPTH:
            raise CommandError(f"command JSON is nested more than {MAX_COMMAND_DEPTH} levels deep")
        try:
            body = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
        except json.JSONDecodeError as e:
            raise CommandError(f"command payload is not valid JSON: {e.msg} at column {e.colno}") from None
        except (ValueError, RecursionError) as e:   # CommandError is a ValueError too; keep its text
            if isinstance(e, CommandError):
                raise
            raise CommandError(f"command payload is not usable JSON: {_short(str(e))}") from None
        if not isinstance(body, dict):
            raise CommandError("command JSON must be an object")
        unknown = set(body) - {"cmd", "id", "side", "exercise"}
        if unknown:
            names = ", ".join(sorted(unknown))
            names = names if len(names) <= 40 and names.isprintable() else _short(names)
            raise CommandError(f"unknown field(s) in command: {names}")
        if name is not None and body.get("cmd", name) != name:
            raise CommandError(f"topic says {_short(name)} but payload says {_short(body.get('cmd'))}")
        name = name or body.get("cmd")
    elif name == "side":
        body = {"side": text.lower()}
    elif name == "exercise":
        body = {"exercise": text.lower()}
    elif name is None:
        raise CommandError('commands on the "cmd" topic must be a JSON object with "cmd"')
    elif text.lower() not in _PLAIN_PRESS | {name}:
        raise CommandError(f"command {_short(name)} takes no argument, got {_short(text)}")
    if not isinstance(name, str) or name not in COMMANDS:
        raise CommandError(f"unknown command {_short(name)}; expected one of {', '.join(COMMANDS)}")
    req_id = body.get("id")
    if req_id is not None and (isinstance(req_id, bool) or not isinstance(req_id, (str, int, float))):
        raise CommandError('"id" must be a string or a number')
    if req_id is not None and len(str(req_id)) > MAX_ID_CHARS:
        raise CommandError(f'"id" is longer than {MAX_ID_CHARS} characters')
    side = body.get("side")
    if name == "side":
        if not isinstance(side, str) or side not in SIDES:
            raise CommandError(f"side must be one of {', '.join(SIDES)}, got {_short(side)}")
    elif side is not None:
        raise CommandError(f"command {name!r} takes no side")
    exercise = body.get("exercise")
    if name == "exercise":
        if not isinstance(exercise, str) or exercise not in EXERCISES:
            raise CommandError(f"exercise must be one of {', '.join(EXERCISES)}, got {_short(exercise)}")
    elif exercise is not None:
        raise CommandError(f"command {name!r} takes no exercise")
    return Command(name, side, None if req_id is None else str(req_id), exercise=exercise)


def reply_payload(cmd_name: str | None, req_id: str | None, ok: bool, error: str | None,
                  session_id: str | None) -> bytes:
    return to_json({"cmd": cmd_name, "id": req_id, "ok": ok, "error": error, "session_id": session_id})


def ha_discovery(topics: Topics, ha_prefix: str, version: str, page_url: str = "") -> dict[str, bytes]:
    """Home Assistant MQTT discovery messages (topic -> retained payload) for tiles, buttons and the
    problem line, as Home Assistant documents them: ``default_entity_id`` (not the deprecated
    ``object_id``), ``origin``, ``state_class`` and units where a value has history, the live page
    (``page_url``, when served) as the device's ``configuration_url``."""
    node = f"{topics.prefix.replace('/', '_')}_{topics.device_id}".replace(".", "_")
    device = {"identifiers": [node], "name": f"hingemarch {topics.device_id}",
              "manufacturer": "hingemarch", "model": "wearable rep counter", "sw_version": version}
    origin = {"name": "hingemarch", "sw_version": version}
    if page_url:
        device["configuration_url"] = page_url
        origin["support_url"] = page_url
    common = {"availability_topic": topics.status, "payload_available": ONLINE,
              "payload_not_available": OFFLINE, "device": device, "origin": origin}
    out: dict[str, bytes] = {}

    def entity(domain: str, key: str, **cfg) -> None:
        out[f"{ha_prefix}/{domain}/{node}/{key}/config"] = to_json(
            {**common, "unique_id": f"{node}_{key}", "default_entity_id": f"{domain}.{node}_{key}", **cfg})

    # name -> (label, unit, state_class, icon): counts only grow within a set/session (a drop is a reset)
    sensors = {"reps": ("Reps in set", None, "total_increasing", "mdi:counter"),
               "set": ("Set", None, "total_increasing", "mdi:format-list-numbered"),
               "depth_deg": ("Last hinge depth", "°", "measurement", "mdi:angle-acute"),
               "height_deg": ("Last march height", "°", "measurement", "mdi:angle-acute"),
               "sway": ("Sway", "°", "measurement", "mdi:scale-balance"),
               "session": ("Session", None, None, "mdi:run")}
    for name, (label, unit, state_class, icon) in sensors.items():
        extra = {"unit_of_measurement": unit} if unit else {}
        if state_class:
            extra["state_class"] = state_class
        if unit:      # an empty tile (no rep yet) is Home Assistant's "None": unknown, not a bad number
            extra["value_template"] = "{{ value if value else 'None' }}"
        entity("sensor", name, name=label, state_topic=topics.value(name), icon=icon, **extra)
    entity("select", "side", name="Side", state_topic=topics.value("side"), command_topic=topics.command("side"),
           options=list(SIDES))
    entity("select", "exercise", name="Exercise", state_topic=topics.value("exercise"),
           command_topic=topics.command("exercise"), options=list(EXERCISES))
    for name, label in {"start": "Start session", "stop": "Stop session", "new_set": "New set",
                        "undo": "Undo last rep"}.items():
        entity("button", name, name=label, command_topic=topics.command(name), payload_press="PRESS")
    # status/error: empty (removed) when all is well, else the problem lines
    entity("binary_sensor", "problem", name="Problem", state_topic=topics.error, device_class="problem",
           entity_category="diagnostic", value_template="{{ 'ON' if value else 'OFF' }}")
    entity("sensor", "problem_text", name="Problem detail", state_topic=topics.error, entity_category="diagnostic",
           icon="mdi:alert-circle-outline", value_template="{{ value[:255] if value else 'none' }}")
    return out
