"""`hingemarch doctor` against the emulated sensor and a real local Mosquitto: one OK/FAIL line per
check, a fix line under each failure, exit status 0 only when everything passes."""
import os
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from conftest import PASSWORD, USER, free_port

from firmware_bridge.cli import hingemarch
from firmware_bridge.cli.doctor import check_clock, check_i2c_bus
from firmware_bridge.service import config

ROOT = Path(__file__).resolve().parents[1]


def write_config(tmp_path: Path, broker=None, *, port=None, sensor="", mqtt="") -> Path:
    f = tmp_path / "hingemarch.toml"
    f.write_text(f'[sensor]\nbackend = "emulated"\n{sensor}\n'
                 f'[mqtt]\nhost = "127.0.0.1"\nport = {port or (broker.port if broker else 1)}\n{mqtt}\n')
    return f


def doctor(capsys, cfg: Path, tmp_path: Path, *extra: str) -> tuple[int, list[str]]:
    rc = hingemarch.main(["doctor", "--config", str(cfg), "--state-dir", str(tmp_path / "state"), *extra])
    return rc, capsys.readouterr().out.splitlines()


def line(lines: list[str], name: str) -> str:
    [found] = [x for x in lines if re.match(rf"(OK|FAIL) +{name}: ", x)]
    return found


def fix_after(lines: list[str], name: str) -> str:
    nxt = lines[lines.index(line(lines, name)) + 1]
    assert nxt.startswith("      fix: "), nxt
    return nxt


def test_all_ok_as_a_real_process(broker, tmp_path):
    """Config found through $HINGEMARCH_CONFIG (the one rule), emulated chip, anonymous broker."""
    cfg = write_config(tmp_path, broker)
    env = {**os.environ, "HINGEMARCH_CONFIG": str(cfg), "HINGEMARCH_STATE_DIR": str(tmp_path / "st")}
    r = subprocess.run([sys.executable, "-m", "firmware_bridge.cli.hingemarch", "doctor"], capture_output=True,
                       text=True, env=env, cwd=ROOT, timeout=120)
    lines = r.stdout.splitlines()
    assert line(lines, "config") == f"OK    config: {cfg}"
    assert line(lines, "i2c bus") == 'OK    i2c bus: emulated (sensor.backend = "emulated"): no device needed'
    assert line(lines, "sensor") == "OK    sensor: mpu6050 at 0x68 on emulated-i2c (WHO_AM_I 0x68)"
    assert line(lines, "broker") == f"OK    broker: connected to 127.0.0.1:{broker.port} without a user name"
    assert re.fullmatch(rf"OK    state: {tmp_path / 'st'} is writable \(\d+\.\d GB free\)", line(lines, "state"))
    clock_ok = line(lines, "clock").startswith("OK")       # this machine's NTP state is what it is
    assert r.returncode == (0 if clock_ok else 1) and r.stderr == ""
    assert lines[-1] == ("all checks passed" if clock_ok else "1 problem(s): clock")


def test_another_emulated_chip_and_a_sensor_that_does_not_answer(broker, tmp_path, capsys):
    rc, lines = doctor(capsys, write_config(tmp_path, broker, sensor='chip = "lsm6dsox"'), tmp_path)
    assert line(lines, "sensor") == "OK    sensor: lsm6dsox at 0x6A on emulated-i2c (WHO_AM_I 0x6C)"
    rc, lines = doctor(capsys, write_config(tmp_path, broker, sensor="address = 0x69"), tmp_path)
    assert rc == 1
    assert line(lines, "sensor").startswith("FAIL  sensor: no supported IMU found on emulated-i2c: 0x69: no answer")
    assert "`hingemarch probe` shows what answers" in fix_after(lines, "sensor")
    # a second sensor configured where nothing answers (the emulated bus holds one chip)
    rc, lines = doctor(capsys, write_config(tmp_path, broker, sensor="address = 0x68\nsecond_address = 0x69"),
                       tmp_path)
    assert line(lines, "sensor").startswith("FAIL  sensor: no supported IMU found on emulated-i2c: 0x69: no answer")
    assert "sensor.second_address" in fix_after(lines, "sensor")


def test_broker_credentials(broker, tmp_path, capsys, monkeypatch):
    where = f"127.0.0.1:{broker.auth_port}"
    ok = write_config(tmp_path, port=broker.auth_port, mqtt=f'username = "{USER}"\npassword = "{PASSWORD}"')
    assert line(doctor(capsys, ok, tmp_path)[1], "broker") == f"OK    broker: connected to {where} as 'coach'"

    wrong = write_config(tmp_path, port=broker.auth_port, mqtt=f'username = "{USER}"\npassword = "nope"')
    rc, lines = doctor(capsys, wrong, tmp_path)
    assert rc == 1
    assert line(lines, "broker") == f"FAIL  broker: {where} refused the connection as 'coach': Not authorized"
    assert "mqtt.username and mqtt.password (or $HINGEMARCH_MQTT_PASSWORD)" in fix_after(lines, "broker")
    assert f"in [mqtt] of {wrong} against the broker's password file" in fix_after(lines, "broker")

    monkeypatch.setenv("HINGEMARCH_MQTT_PASSWORD", PASSWORD)      # the environment wins over the file
    assert line(doctor(capsys, wrong, tmp_path)[1], "broker").startswith("OK    broker: connected")
    monkeypatch.delenv("HINGEMARCH_MQTT_PASSWORD")

    anonymous = write_config(tmp_path, port=broker.auth_port)
    assert line(doctor(capsys, anonymous, tmp_path)[1], "broker") == (
        f"FAIL  broker: {where} refused the connection without a user name: Not authorized")


def test_broker_not_there_or_not_speaking_mqtt(broker, tls_broker, tmp_path, capsys):
    port = free_port()                                   # nothing listens there
    rc, lines = doctor(capsys, write_config(tmp_path, port=port), tmp_path)
    assert rc == 1 and line(lines, "broker").startswith(f"FAIL  broker: cannot reach 127.0.0.1:{port}: ")
    assert "sudo systemctl status mosquitto" in fix_after(lines, "broker")

    plain_to_tls = write_config(tmp_path, port=tls_broker.tls_port)
    lines = doctor(capsys, plain_to_tls, tmp_path)[1]
    assert line(lines, "broker") == (f"FAIL  broker: 127.0.0.1:{tls_broker.tls_port} closed the connection "
                                     "without an MQTT answer")
    assert "mqtt.tls" in fix_after(lines, "broker")

    tls = write_config(tmp_path, port=tls_broker.tls_port, mqtt=f'tls = true\nca_file = "{tls_broker.ca_file}"')
    assert line(doctor(capsys, tls, tmp_path)[1], "broker") == (
        f"OK    broker: connected to 127.0.0.1:{tls_broker.tls_port} (TLS) without a user name")
    no_ca = write_config(tmp_path, port=tls_broker.tls_port, mqtt="tls = true")   # system CAs: untrusted
    lines = doctor(capsys, no_ca, tmp_path)[1]
    assert line(lines, "broker").startswith(f"FAIL  broker: TLS with 127.0.0.1:{tls_broker.tls_port} (TLS) failed: ")
    assert "mqtt.ca_file" in fix_after(lines, "broker")

    off = write_config(tmp_path, mqtt="enabled = false")
    assert line(doctor(capsys, off, tmp_path)[1], "broker") == (
        "OK    broker: MQTT is off (mqtt.enabled = false): nothing to check")


def test_missing_i2c_bus_and_unwritable_state(broker, tmp_path, capsys):
    cfg = write_config(tmp_path, broker, sensor="i2c_bus = 31").read_text().replace('"emulated"', '"smbus2"')
    (tmp_path / "hingemarch.toml").write_text(cfg)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    rc = hingemarch.main(["doctor", "--config", str(tmp_path / "hingemarch.toml"),
                          "--state-dir", str(blocker / "state")])
    lines = capsys.readouterr().out.splitlines()
    assert rc == 1
    assert line(lines, "i2c bus").startswith("FAIL  i2c bus: /dev/i2c-31 does not exist")
    assert "sudo raspi-config nonint do_i2c 0" in fix_after(lines, "i2c bus")
    assert line(lines, "sensor") == "FAIL  sensor: not checked: the I2C bus is not usable"
    assert line(lines, "state") == f"FAIL  state: {blocker / 'state'} is not writable: Not a directory"
    assert "sudo -u hingemarch hingemarch doctor" in fix_after(lines, "state")
    assert line(lines, "broker").startswith("OK")           # one failure does not hide the others
    assert re.fullmatch(r"\d problem\(s\): i2c bus, sensor, state(, clock)?", lines[-1])


def as_user(uid: int, gid: int, action) -> str:
    """``action()`` in a forked child running as uid/gid (root can open anything); its result."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                                         # the child: drop privileges, answer, exit
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            os.write(write, action().encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        out = f.read()
    os.waitpid(pid, 0)
    return out


def test_an_i2c_bus_this_user_may_not_open():
    """A node only its owner may read and write, checked by another user (nobody, when we are root)."""
    import pwd
    dev = Path(tempfile.mkdtemp(prefix="hm-dev-", dir="/tmp"))
    node = dev / "i2c-7"
    try:
        dev.chmod(0o755)
        node.write_text("")
        node.chmod(0o600)
        sensor = config.SensorConfig(backend="smbus2", i2c_bus=7)
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            who, out = "nobody", as_user(nobody.pw_uid, nobody.pw_gid,
                                         lambda: "\n".join(check_i2c_bus(sensor, dev).lines()))
        else:
            node.chmod(0o000)
            who, out = pwd.getpwuid(os.geteuid()).pw_name, "\n".join(check_i2c_bus(sensor, dev).lines())
        assert out.splitlines() == [
            f"FAIL  i2c bus: {node} exists but user '{who}' may not read and write it",
            f"      fix: add the user to the i2c group: sudo usermod -aG i2c {who} (then log in again); "
            "the service's user 'hingemarch' is in it"]
        node.chmod(0o666)
        ok = check_i2c_bus(sensor, dev)
        assert ok.ok and ok.detail.startswith(f"{node} is there and readable and writable")
    finally:
        node.unlink()
        dev.rmdir()


def test_clock():
    now = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    assert check_clock(now, True).lines() == ["OK    clock: 2026-11-25 09:30 UTC, NTP-synchronised"]
    assert check_clock(now, None).lines() == [
        "OK    clock: 2026-11-25 09:30 UTC (NTP state unknown: timedatectl cannot tell)"]
    unsynced = check_clock(now, False)
    assert not unsynced.ok and "sudo timedatectl set-ntp true" in unsynced.fix
    stale = check_clock(datetime(1970, 1, 1, tzinfo=UTC), None)     # a Pi with no RTC, no network
    assert stale.lines()[0] == "FAIL  clock: says 1970-01-01 00:00 UTC: it has not been set"


def test_a_bad_config_stops_before_the_other_checks(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[sensor]\nbakend = "emulated"\n[mqtt]\nport = 0\n')
    rc = hingemarch.main(["doctor", "--config", str(bad)])
    assert rc == 1
    assert capsys.readouterr().out.splitlines() == [
        f"FAIL  config: {bad}: sensor.bakend: unknown key (did you mean 'backend'?) (and 1 more)",
        f"      fix: hingemarch config check {bad} lists every problem",
        "the other checks need a valid config: not run"]
