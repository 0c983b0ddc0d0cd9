"""Writes the MQTT Dash (Android, net.routix.mqttdash) dashboard for one hingemarch device.

MQTT Dash imports a dashboard as a JSON list of "metrics" received on the topic metrics/exchange
(Import/export -> "Subscribe and wait for metrics"). Tiles show the retained value/* and status
topics of docs/mqtt.md; buttons publish PRESS (or the side, or the exercise) to cmd/*. docs/dashboard.md has the steps.

    python3 config/dashboards/mqtt_dash.py --device-id pi-anna > my-dash.json
    mosquitto_pub -h PI -u phone -P PASSWORD -t metrics/exchange -f my-dash.json

Without arguments it writes the shipped config/dashboards/mqtt-dash.json (prefix hingemarch,
device id "pi").
"""
from __future__ import annotations

import argparse
import json
import sys
import uuid

WHITE, CYAN, AMBER, GREEN, RED, VIOLET = -1, -11745808, -1002455, -11353062, -41892, -5011201
_NS = uuid.UUID("6f1d2c1e-3b7a-4d0e-9a51-2d5c7e0b8a44")


def _common(base: str, n: int, name: str, topic: str, kind: int, **extra) -> dict:
    return {"id": str(uuid.uuid5(_NS, f"{base}:{name}")), "longId": n, "name": name, "type": kind,
            "topic": f"{base}/{topic}", "topicPub": "", "qos": 0, "retained": False, "enablePub": False,
            "enableIntermediateState": True, "enteredIntermediateStateAt": 0, "intermediateStateTimeout": 0,
            "updateLastPayloadOnPub": True, "lastPayload": "", "lastActivity": 0, "jsonPath": "",
            "jsOnReceive": "", "jsOnDisplay": "", "jsOnTap": "", "jsBlinkExpression": "", **extra}


def text(base, n, name, topic, size="MEDIUM", color=WHITE, postfix=""):
    return _common(base, n, name, topic, 1, mainTextSize=size, textColor=color, prefix="", postfix=postfix)


def gauge(base, n, name, topic, lo, hi, postfix, color):
    return _common(base, n, name, topic, 3, minValue=float(lo), maxValue=float(hi), decimalPrecision=1,
                   displayPayloadValue=True, prefix="", postfix=postfix, progressColor=color)


def button(base, n, name, command, color):
    """A tile that publishes PRESS to cmd/<command> when tapped."""
    return _common(base, n, name, f"cmd/{command}", 2, enablePub=True, enableIntermediateState=False,
                   updateLastPayloadOnPub=False, payloadOn="PRESS", payloadOff="PRESS",
                   iconOn="ic_autorenew", iconOff="ic_autorenew", onColor=color, offColor=color)


def side_switch(base, n):
    """Shows value/side; a tap publishes the other side to cmd/side."""
    return _common(base, n, "Side", "value/side", 2, enablePub=True, topicPub=f"{base}/cmd/side",
                   payloadOn="right", payloadOff="left", iconOn="ic_autorenew", iconOff="ic_autorenew",
                   onColor=VIOLET, offColor=CYAN)


def exercise_switch(base, n):
    """Shows value/exercise; a tap switches between the hinge-and-march and any leg exercise."""
    return _common(base, n, "Exercise", "value/exercise", 2, enablePub=True, topicPub=f"{base}/cmd/exercise",
                   payloadOn="any", payloadOff="hinge_march", iconOn="ic_autorenew", iconOff="ic_autorenew",
                   onColor=GREEN, offColor=CYAN)


def metrics(prefix: str = "hingemarch", device_id: str = "pi") -> list[dict]:
    b = f"{prefix}/{device_id}"
    return [
        text(b, 1, "Reps", "value/reps", "LARGE", CYAN),
        text(b, 2, "Set", "value/set", "LARGE"),
        side_switch(b, 3),
        gauge(b, 4, "Hinge depth", "value/depth_deg", 0, 120, "°", CYAN),
        gauge(b, 5, "March height", "value/height_deg", 0, 120, "°", VIOLET),
        text(b, 6, "Sway", "value/sway", "MEDIUM", GREEN, postfix="°"),
        text(b, 7, "Session", "value/session", "SMALL"),
        text(b, 8, "Status", "status", "SMALL", GREEN),
        text(b, 9, "Problem", "status/error", "SMALL", RED),
        button(b, 10, "New set", "new_set", AMBER),
        button(b, 11, "Undo last rep", "undo", RED),
        button(b, 12, "Start session", "start", GREEN),
        button(b, 13, "Stop session", "stop", RED),
        exercise_switch(b, 14),
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prefix", default="hingemarch", help="[mqtt] topic_prefix (default %(default)s)")
    p.add_argument("--device-id", default="pi", help="[mqtt] device_id (default %(default)s)")
    args = p.parse_args(argv)
    json.dump(metrics(args.prefix, args.device_id), sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
