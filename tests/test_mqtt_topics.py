"""The topic tree and payloads without a broker: naming, command validation, tiles, discovery."""
import json

import numpy as np
import pytest

from analysis.events import RepEvent
from firmware_bridge.mqtt import topics as tp
from firmware_bridge.mqtt.settings import PASSWORD_ENV
from firmware_bridge.service import config

T = tp.Topics("gym/north", "pi-7")


def test_tree_names_every_topic_under_prefix_and_device():
    assert T.status == "gym/north/pi-7/status"
    assert T.error == "gym/north/pi-7/status/error"
    assert T.state == "gym/north/pi-7/state"
    assert T.value("reps") == "gym/north/pi-7/value/reps"
    assert T.event("rep") == "gym/north/pi-7/event/rep"
    assert T.command("undo") == "gym/north/pi-7/cmd/undo"
    assert T.command_filters == ("gym/north/pi-7/cmd", "gym/north/pi-7/cmd/+")


@pytest.mark.parametrize("prefix,device", [("a/+", "x"), ("a", "x#"), ("a//b", "x"), ("a", ""), ("a", "x/y")])
def test_wildcards_and_empty_levels_are_refused(prefix, device):
    with pytest.raises(tp.TopicError):
        tp.Topics(prefix, device)


def test_device_id_defaults_to_a_topic_safe_hostname():
    s = config.mqtt_settings(config.defaults().mqtt, hostname="Rasp Pi#4.local")
    assert s.topics.device_id == "rasp-pi-4"
    with pytest.raises(config.ConfigError):
        config.mqtt_settings(config.defaults().updated("mqtt", device_id="bad/id").mqtt)


def test_password_comes_from_the_environment_first(monkeypatch):
    section = config.defaults().updated("mqtt", password="from-file").mqtt
    assert config.mqtt_settings(section, "d").password == "from-file"
    monkeypatch.setenv(PASSWORD_ENV, "from-env")
    assert config.mqtt_settings(section, "d").password == "from-env"
    assert "from-env" not in repr(config.mqtt_settings(section, "d"))   # never in a log line


def test_config_section_validates_types_and_choices():
    with pytest.raises(config.ConfigError) as e:
        config.validate({"mqtt": {"port": 70000, "protocol": "4", "qos": 0, "keepalive_s": "30"}})
    assert len(e.value.problems) == 4
    assert config.SCHEMA["mqtt"]["password"].secret


@pytest.mark.parametrize("topic,payload,expect", [
    ("cmd/start", b"", ("start", None, None)),
    ("cmd/new_set", b"PRESS", ("new_set", None, None)),
    ("cmd/side", b"Right", ("side", "right", None)),
    ("cmd/side", b'{"side": "left", "id": 7}', ("side", "left", "7")),
    ("cmd", b'{"cmd": "undo", "id": "abc"}', ("undo", None, "abc")),
    ("cmd/stop", b'{"id": "s1"}', ("stop", None, "s1")),
])
def test_valid_commands(topic, payload, expect):
    c = tp.parse_command(f"{T.base}/{topic}", payload, T)
    assert (c.name, c.side, c.id) == expect


@pytest.mark.parametrize("topic,payload,says", [
    ("cmd/jump", b"", "unknown command"),
    ("cmd/side", b"middle", "side must be"),
    ("cmd/start", b"now please", "takes no argument"),
    ("cmd", b"start", "JSON object"),
    ("cmd", b'{"cmd": "undo"', "not valid JSON"),
    ("cmd", b'["undo"]', "must be an object"),
    ("cmd/undo", b'{"cmd": "start"}', "topic says"),
    ("cmd/start", b'{"side": "left"}', "takes no side"),
    ("cmd/start", b'{"id": [1]}', '"id" must be'),
    ("cmd/start", b'{"rm": "-rf"}', "unknown field"),
    ("cmd/start", b"\xff\xfe", "not UTF-8"),
    ("cmd/start", b"x" * 5000, "limit"),
])
def test_malformed_commands_say_what_is_wrong(topic, payload, says):
    with pytest.raises(tp.CommandError, match=says):
        tp.parse_command(f"{T.base}/{topic}", payload, T)


def test_event_payload_is_json_with_dedup_key_and_plain_numbers():
    rep = RepEvent(12.5, 12.3, 1, 3, 10.1, 2.2, 41.234, 62.0, {"thr_deg": np.float64(25.0), "bad": float("nan")})
    d = json.loads(tp.event_payload("rep", rep.to_dict(), "s-1", 4, "pi-7", 1700000000.0))
    assert (d["kind"], d["session_id"], d["seq"], d["device_id"]) == ("rep", "s-1", 4, "pi-7")
    assert d["rep_in_set"] == 3 and d["hinge_depth_deg"] == pytest.approx(41.234)
    assert d["evidence"] == {"thr_deg": 25.0, "bad": None}


def test_tiles_are_plain_text_for_a_dashboard():
    state = {"reps_in_set": 4, "set_index": 2, "side": "right", "running": True,
             "last_rep": {"hinge_depth_deg": 43.21, "march_height_deg": 70.06}}
    assert tp.tile_values(state) == {"reps": "4", "set": "2", "side": "right", "depth_deg": "43.2",
                                     "height_deg": "70.1", "sway": "", "session": "running",
                                     "exercise": ""}
    assert tuple(tp.tile_values({})) == tp.VALUES      # the documented tile names, in order


def test_ha_discovery_points_at_the_tree():
    msgs = {k: json.loads(v) for k, v in tp.ha_discovery(T, "homeassistant", "0.1").items()}
    reps = msgs["homeassistant/sensor/gym_north_pi-7/reps/config"]
    assert reps["state_topic"] == T.value("reps") and reps["availability_topic"] == T.status
    side = msgs["homeassistant/select/gym_north_pi-7/side/config"]
    assert side["command_topic"] == T.command("side") and side["options"] == ["left", "right"]
    undo = msgs["homeassistant/button/gym_north_pi-7/undo/config"]
    assert undo["command_topic"] == T.command("undo")
    # every button's press payload is accepted by the command parser
    assert tp.parse_command(undo["command_topic"], undo["payload_press"].encode(), T).name == "undo"
    assert len({m["unique_id"] for m in msgs.values()}) == len(msgs)
    assert not any("object_id" in m or "configuration_url" in m["device"] for m in msgs.values())   # no page: no URL
    assert {m["default_entity_id"] for m in msgs.values()} == {
        f"{t.split('/')[1]}.{t.split('/')[2]}_{t.split('/')[3]}" for t in msgs}
    page = tp.ha_discovery(T, "homeassistant", "0.1", "http://pi-7.local:8080/")
    assert all(json.loads(v)["device"]["configuration_url"] == "http://pi-7.local:8080/" for v in page.values())
