"""Config validation: defaults, every kind of problem on its own line, the shipped file matches."""
import os
import subprocess
import sys
import threading
import tomllib
from dataclasses import asdict
from pathlib import Path

import pytest

from firmware_bridge.service import config

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_config_equals_the_schema_defaults():
    raw = tomllib.loads((ROOT / "config" / "hingemarch.toml").read_text())
    assert config.validate(raw) == config.defaults()
    assert {s: set(t) for s, t in raw.items()} == {s: set(t) for s, t in config.SCHEMA.items()}


def test_every_problem_is_listed_once_with_a_suggestion():
    raw = {"sesion": {}, "session": {"placment": "thigh", "side": "middle"},
           "analysis": {"set_gap_s": "long", "min_hinge_deg": 5}}
    with pytest.raises(config.ConfigError) as e:
        config.validate(raw, "x.toml")
    problems = e.value.problems
    assert len(problems) == 5
    assert "x.toml: unknown section [sesion] (did you mean 'session'?)" in problems
    assert "x.toml: session.placment: unknown key (did you mean 'placement'?)" in problems
    assert any("session.side: 'middle' is not one of" in p for p in problems)
    assert any("analysis.set_gap_s: expected float, got str" in p for p in problems)
    assert any("analysis.min_hinge_deg: 5.0 is out of range 10.0..80.0 deg" in p for p in problems)


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(config.ConfigError, match="cannot read"):
        config.load(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[session\n")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load(tmp_path / "bad.toml")


def test_ints_are_accepted_for_floats_but_bools_are_not():
    assert config.validate({"analysis": {"set_gap_s": 30}}).analysis.set_gap_s == 30.0
    with pytest.raises(config.ConfigError, match="expected float, got bool"):
        config.validate({"analysis": {"set_gap_s": True}})


# --- every message config.validate / config.load / `config check` can give, word for word --------

@pytest.mark.parametrize("raw, line", [
    ({"zzz": {}}, "x.toml: unknown section [zzz]"),                       # nothing close: no hint
    ({"session": 3}, "x.toml: [session] must be a table"),
    ({"mqtt": {"qqq": 1}}, "x.toml: mqtt.qqq: unknown key"),
    ({"mqtt": {"host": 5}}, "x.toml: mqtt.host: expected str, got int 5"),
    ({"mqtt": {"port": 1.5}}, "x.toml: mqtt.port: expected int, got float 1.5"),
    ({"mqtt": {"port": True}}, "x.toml: mqtt.port: expected int, got bool True"),
    ({"mqtt": {"tls": "yes"}}, "x.toml: mqtt.tls: expected bool, got str 'yes'"),
    ({"mqtt": {"port": 0}}, "x.toml: mqtt.port: 0 is out of range 1..65535"),  # no unit
    ({"run": {"drain_s": 61}}, "x.toml: run.drain_s: 61.0 is out of range 0.0..60.0 s"),
    ({"sensor": {"accel_range_g": 3}}, "x.toml: sensor.accel_range_g: 3 is not one of 2, 4, 8, 16"),
])
def test_each_validation_message(raw, line):
    with pytest.raises(config.ConfigError) as e:
        config.validate(raw, "x.toml")
    assert e.value.problems == [line]


def test_file_level_messages(tmp_path):
    with pytest.raises(config.ConfigError) as e:
        config.load(tmp_path)                                   # a folder, not a file
    assert e.value.problems == [f"{tmp_path}: cannot read: Is a directory"]
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b'[session]\nathlete = "J\xe9r\xf4me"\n')
    with pytest.raises(config.ConfigError) as e:
        config.load(latin1)
    assert e.value.problems[0].startswith(f"{latin1}: not valid TOML: ")


@pytest.mark.parametrize("mqtt, line", [
    ('topic_prefix = "gym/#"', "mqtt.topic_prefix '#' must be non-empty and use only letters, digits, _ . -"),
    ('device_id = "a b"', "mqtt.device_id 'a b' must be non-empty and use only letters, digits, _ . -"),
    ('ha_prefix = ""', "mqtt.ha_prefix '' must be non-empty and use only letters, digits, _ . -"),
    ('tls = true\nca_file = "/nonexistent/ca.crt"', "mqtt.ca_file: /nonexistent/ca.crt does not exist"),
])
def test_mqtt_checks_made_at_start_are_in_config_check(tmp_path, mqtt, line):
    from firmware_bridge.cli.config import load_checked
    f = tmp_path / "m.toml"
    f.write_text(f"[mqtt]\n{mqtt}\n")
    with pytest.raises(config.ConfigError) as e:
        load_checked(f)
    assert e.value.problems == [f"{f}: {line}"]


def test_mqtt_checks_skipped_when_mqtt_is_off(tmp_path):
    from firmware_bridge.cli.config import load_checked
    f = tmp_path / "off.toml"
    f.write_text('[mqtt]\nenabled = false\ntopic_prefix = "gym/#"\n')
    assert load_checked(f).mqtt.enabled is False


# --- which file: one rule (paths.config_file) --------------------------------------------------------

def test_config_file_rule(tmp_path):
    from firmware_bridge.service.paths import config_file
    system, env_file = tmp_path / "etc.toml", tmp_path / "env.toml"
    env = {"HINGEMARCH_CONFIG": str(env_file)}
    assert config_file(None, {}, system) is None                         # nothing: built-in defaults
    system.write_text("")
    assert config_file(None, {}, system) == system                       # the installed file
    assert config_file(None, env, system) == env_file                    # $HINGEMARCH_CONFIG wins
    assert config_file("cli.toml", env, system) == Path("cli.toml")      # --config wins over all


# --- `hingemarch config check|show` as a real process ------------------------------------------------

def hingemarch(*args, env_extra=None, cwd=None):
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k not in ("HINGEMARCH_CONFIG", "HINGEMARCH_MQTT_PASSWORD")}
    return subprocess.run([sys.executable, "-m", "firmware_bridge.cli.hingemarch", *args], capture_output=True,
                          text=True, env={**env, **(env_extra or {})}, cwd=cwd or ROOT, timeout=60)


def test_config_check_lists_each_problem_on_one_line_and_exits_2(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('[sesion]\n[session]\nside = "middle"\n[mqtt]\nport = 0\n')
    r = hingemarch("config", "check", str(f))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [
        f"hingemarch config: error: {f}: unknown section [sesion] (did you mean 'session'?)",
        f"hingemarch config: error: {f}: session.side: 'middle' is not one of 'left', 'right'",
        f"hingemarch config: error: {f}: mqtt.port: 0 is out of range 1..65535"]
    missing = hingemarch("config", "check", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.splitlines() == [
        f"hingemarch config: error: {tmp_path / 'nope.toml'}: cannot read: No such file or directory"]


def test_config_check_ok_and_the_environment_rule(tmp_path):
    f = tmp_path / "good.toml"
    f.write_text('[session]\nside = "right"\n')
    r = hingemarch("config", "check", str(f))
    assert (r.returncode, r.stdout) == (0, f"{f}: ok\n")
    via_env = hingemarch("config", "check", env_extra={"HINGEMARCH_CONFIG": str(f)})
    assert (via_env.returncode, via_env.stdout) == (0, f"{f}: ok\n")


def test_config_show_prints_effective_values_with_secrets_masked(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[mqtt]\nusername = "coach"\npassword = "s3cret-pw"\nport = 8883\n')
    r = hingemarch("config", "show", env_extra={"HINGEMARCH_CONFIG": str(f)})
    assert r.returncode == 0, r.stderr
    assert "s3cret-pw" not in r.stdout
    assert 'password = "********"' in r.stdout and "port = 8883" in r.stdout
    assert r.stdout.startswith(f"# hingemarch effective configuration, from {f}.")
    shown = tomllib.loads(r.stdout)          # the output is a valid config file itself
    assert shown["mqtt"]["username"] == "coach" and shown["session"] == asdict(config.defaults().session)
    # a password only in the environment is effective, so it is shown (masked) too
    r = hingemarch("config", "show", str(tmp_path / "c.toml"), env_extra={"HINGEMARCH_MQTT_PASSWORD": "pw2"})
    assert "pw2" not in r.stdout and "mqtt.password comes from $HINGEMARCH_MQTT_PASSWORD" in r.stdout


def test_every_command_has_help_and_starts_with_only_its_own_module():
    from firmware_bridge.cli import hingemarch
    full = hingemarch.build_parser()               # every command module imports and configures
    text = full.format_help()
    assert all(name in text for name in hingemarch.COMMANDS)
    out = subprocess.run([sys.executable, "-c", "import sys; from firmware_bridge.cli import hingemarch; "
                          "hingemarch.main(['config', 'check']); print('scipy' in sys.modules)"],
                         capture_output=True, text=True, env={**os.environ, "HINGEMARCH_CONFIG": ""})
    assert out.returncode == 0 and out.stdout.strip().endswith("False"), out.stderr


def test_a_second_sensor_needs_the_first_one_s_address():
    with pytest.raises(config.ConfigError) as e:
        config.validate({"sensor": {"second_address": 0x69}}, "x.toml")
    assert e.value.problems == ["x.toml: sensor.address: give the lifted-leg sensor's address when "
                                "sensor.second_address is set (probing could find either chip)"]
    with pytest.raises(config.ConfigError, match="the same as sensor.address"):
        config.validate({"sensor": {"address": 0x69, "second_address": 0x69}})
    cfg = config.validate({"sensor": {"address": 0x68, "second_address": 0x69, "second_forward_axis": "-y"}})
    assert config.axis_vector(cfg.sensor.second_forward_axis) == (0.0, -1.0, 0.0)


def test_every_schema_key_is_read_somewhere(broker, tmp_path, monkeypatch):
    """A key that validates but is never read is a setting that silently does nothing. The service
    runs for real (an emulated chip and a second one on the bus, MQTT to the test broker, the web
    page) with every section spied on: each key must have been read."""
    from dataclasses import fields

    from analysis.errors import HingemarchError
    from firmware_bridge.mqtt.localbroker import free_port
    from firmware_bridge.service.loop import serve
    from firmware_bridge.service.sources import open_source
    from firmware_bridge.service.wiring import open_sensor_bus
    read = set()
    for section in fields(config.Config):
        cls = section.default_factory

        def spy(self, name, _sec=section.name, _get=cls.__getattribute__):
            read.add(f"{_sec}.{name}")
            return _get(self, name)
        monkeypatch.setattr(cls, "__getattribute__", spy)
    cfg = (config.defaults().updated("sensor", backend="emulated", address=0x68, second_address=0x69)
           .updated("mqtt", host=broker.host, port=broker.port).updated("web", host="127.0.0.1", port=free_port()))
    read.clear()
    stop, blocks = threading.Event(), []
    source = open_source("i2c", cfg, tmp_path)
    serve(cfg, source, tmp_path, on_block=lambda svc: blocks.append(1) or len(blocks) < 20 or stop.set(),
          stop=stop)
    with pytest.raises(HingemarchError):       # the real bus, by its number (none here)
        open_sensor_bus(cfg.updated("sensor", backend="smbus2", i2c_bus=31).sensor)
    for spec in (f"sensorlogger:{free_port()}", "phyphox:http://127.0.0.1:9"):   # a phone as the sensor
        open_source(spec, cfg, tmp_path).close()
    unread = [f"{sec}.{name}" for sec, keys in config.SCHEMA.items() for name in keys if f"{sec}.{name}" not in read]
    assert unread == []


def test_min_hinge_deg_reaches_the_counter():
    """analysis.min_hinge_deg = 65 means a 45-55 deg hinge is never a rep (it was validated, not used)."""
    from analysis.pipeline import Pipeline
    from firmware_bridge.service.live import pipeline_params
    from imu.sim import simulate_session
    s = simulate_session(3, rate_hz=50, n_sets=1, reps_per_set=[6], hinge_depth_range_deg=(45.0, 55.0),
                         march_height_range_deg=(40.0, 55.0),
                         include_distractions=False)
    counts = []
    for floor in (25.0, 65.0):
        cfg = config.validate({"analysis": {"min_hinge_deg": floor}})
        p = Pipeline(pipeline_params(cfg))
        events = p.feed(s.block.t_s, s.block.accel_mps2, s.block.gyro_dps) + p.finish()
        counts.append(sum(e.kind == "rep" for e in events))
    assert counts == [6, 0]
