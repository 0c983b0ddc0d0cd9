"""Check what the service needs, one line each with OK or FAIL and, for a failure, what to do:
the config file, the I2C bus (present, readable and writable by this user), the sensor (WHO_AM_I),
the broker (a real connection with the configured credentials), the state folder (writable), the
clock (set, and NTP-synchronised when timedatectl can tell). Exit status 0 when all pass, else 1.
Run it as the service's user to check its permissions: sudo -u hingemarch hingemarch doctor
--state-dir /var/lib/hingemarch."""
from __future__ import annotations

import argparse
import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path

import paho.mqtt.client as paho

from analysis.errors import HingemarchError, one_line
from firmware_bridge.cli.config import load_checked
from firmware_bridge.cli.flags import number
from firmware_bridge.mqtt.client import make_client
from firmware_bridge.mqtt.settings import PASSWORD_ENV
from firmware_bridge.service import config
from firmware_bridge.service.paths import CONFIG_HELP, config_file, state_dir

BROKER_PASSWD = "/etc/mosquitto/hingemarch.passwd"    # made by systemd/install.sh (config/mosquitto/)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def lines(self) -> list[str]:
        head = f"{'OK' if self.ok else 'FAIL':<5} {self.name}: {self.detail}"
        return [head] if self.ok or not self.fix else [head, f"      fix: {self.fix}"]


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    p.add_argument("--state-dir", metavar="DIR", help="state folder to check (default: as `run`: "
                   "$HINGEMARCH_STATE_DIR, $STATE_DIRECTORY, ~/.local/state/hingemarch; the service "
                   "uses /var/lib/hingemarch)")
    p.add_argument("--timeout", type=number(0.1, 60, "s"), default=5.0, metavar="S",
                   help="how long to wait for the broker (0.1..60 s, default %(default)s s)")


def _user() -> str:
    """The effective user: the one whose permissions count."""
    return pwd.getpwuid(os.geteuid()).pw_name


def check_i2c_bus(sensor: config.SensorConfig, dev: Path = Path("/dev")) -> Check:
    """The device node exists and this user may read and write it (no bus traffic)."""
    if sensor.backend == "emulated":
        return Check("i2c bus", True, 'emulated (sensor.backend = "emulated"): no device needed')
    node = dev / f"i2c-{sensor.i2c_bus}"
    if not node.exists():
        others = sorted(p.name for p in dev.glob("i2c-*"))
        return Check("i2c bus", False, f"{node} does not exist"
                     + (f" (present: {', '.join(others)})" if others else ""),
                     "enable I2C: sudo raspi-config nonint do_i2c 0 (or raspi-config > Interface "
                     "Options > I2C), then reboot; or set sensor.i2c_bus to the bus the IMU is on")
    if not os.access(node, os.R_OK | os.W_OK):
        user = _user()
        return Check("i2c bus", False, f"{node} exists but user {user!r} may not read and write it",
                     f"add the user to the i2c group: sudo usermod -aG i2c {user} (then log in again); "
                     "the service's user 'hingemarch' is in it")
    return Check("i2c bus", True, f"{node} is there and readable and writable by {_user()!r}")


def check_sensor(sensor: config.SensorConfig) -> Check:
    """Open the bus and read WHO_AM_I at the configured (or the usual) addresses."""
    from firmware_bridge.service.wiring import open_sensor_bus
    from imu.detect import detect

    try:
        bus, _ = open_sensor_bus(sensor)
    except HingemarchError as e:
        return Check("sensor", False, f"cannot open the bus: {e}", "fix the I2C bus first (see above)")
    try:
        found = detect(bus, sensor.chip, sensor.address)
        second = detect(bus, "auto", sensor.second_address) if sensor.second_address else None
    except HingemarchError as e:
        return Check("sensor", False, one_line(e),
                     "check the wiring (3V3, GND, SDA to GPIO2/pin 3, SCL to GPIO3/pin 5), the "
                     "address pins and sensor.chip / sensor.address / sensor.second_address; "
                     "`hingemarch probe` shows what answers")
    finally:
        bus.close()
    also = f"; second sensor {second.chip} at 0x{second.address:02X}" if second else ""
    return Check("sensor", True, f"{found.chip} at 0x{found.address:02X} on {bus.name} "
                 f"(WHO_AM_I 0x{found.who_am_i:02X}){also}")


def check_broker(cfg: config.Config, timeout_s: float = 5.0, config_path: Path | None = None) -> Check:
    """Connect with the configured host, port, TLS and credentials; wait for the broker's answer.
    ``config_path`` is the file those came from, named in the fix line."""
    if not cfg.mqtt.enabled:
        return Check("broker", True, "MQTT is off (mqtt.enabled = false): nothing to check")
    settings = config.mqtt_settings(cfg.mqtt)
    where = f"{settings.host}:{settings.port}" + (" (TLS)" if settings.tls else "")
    client = make_client(settings, f"hingemarch-doctor-{os.getpid()}")
    client.will_clear()                  # never publish "offline" for the running service
    client.connect_timeout = timeout_s
    answer: list = []
    client.on_connect = lambda c, userdata, flags, rc, props: answer.append(rc)
    try:
        client.connect(settings.host, settings.port, keepalive=max(5, round(timeout_s)))
        deadline, closed = time.monotonic() + timeout_s, False
        while not answer and not closed and time.monotonic() < deadline:
            closed = client.loop(timeout=0.1) != paho.MQTT_ERR_SUCCESS
    except ssl.SSLError as e:
        return Check("broker", False, f"TLS with {where} failed: {e}",
                     "check mqtt.ca_file (the CA that signed the broker's certificate) and that "
                     "mqtt.host is the name in that certificate")
    except (OSError, ValueError) as e:
        return Check("broker", False, f"cannot reach {where}: {e}",
                     "is the broker running (sudo systemctl status mosquitto)? check mqtt.host, "
                     "mqtt.port and mqtt.tls in the config")
    finally:
        client.disconnect()
    if not answer:
        what = "closed the connection without an MQTT answer" if closed else \
            f"did not answer as an MQTT broker within {timeout_s:g} s"
        return Check("broker", False, f"{where} {what}",
                     "check mqtt.port and mqtt.tls (a TLS port needs tls = true, and the reverse)")
    rc = answer[0]
    who = f" as {settings.username!r}" if settings.username else " without a user name"
    if rc.is_failure:
        denied = rc.value in (4, 5, 134, 135)     # bad user name or password / not authorised
        account = settings.username or settings.topics.device_id    # each device has its own account
        return Check("broker", False, f"{where} refused the connection{who}: {rc}",
                     f"check mqtt.username and mqtt.password (or ${PASSWORD_ENV}) in [mqtt] of "
                     f"{config_path or 'the config'} against the broker's password file (on the Pi "
                     f"{BROKER_PASSWD}; a new password: sudo mosquitto_passwd {BROKER_PASSWD} {account}, "
                     "then sudo systemctl restart mosquitto)" if denied
                     else "see the broker's log (journalctl -u mosquitto)")
    return Check("broker", True, f"connected to {where}{who}")


def check_state(folder: Path) -> Check:
    """The folder exists (or can be made) and a file can be written, synced and removed in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-") as f:
            f.write(b"ok")
            f.flush()
            os.fsync(f.fileno())
        free_gb = shutil.disk_usage(folder).free / 1e9
    except OSError as e:
        return Check("state", False, f"{folder} is not writable: {e.strerror or e}",
                     "run as the service's user with its folder (sudo -u hingemarch hingemarch doctor "
                     "--state-dir /var/lib/hingemarch), or give --state-dir / $HINGEMARCH_STATE_DIR "
                     "a folder this user owns")
    return Check("state", True, f"{folder} is writable ({free_gb:.1f} GB free)")


def ntp_synchronised() -> bool | None:
    """timedatectl's NTPSynchronized, or None when it cannot tell (no systemd, no timedatectl)."""
    try:
        out = subprocess.run(["timedatectl", "show", "--property=NTPSynchronized", "--value"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.strip()
    return {"yes": True, "no": False}.get(value) if out.returncode == 0 else None


def check_clock(now: datetime | None = None, synced: bool | None = None) -> Check:
    """Sessions are named and stamped by the clock: a Pi without network boots with a stale one."""
    now = now or datetime.now(UTC)
    shown = now.strftime("%Y-%m-%d %H:%M UTC")
    if now.year < 2024:
        return Check("clock", False, f"says {shown}: it has not been set",
                     "connect the Pi to a network so NTP sets it (sudo timedatectl set-ntp true), or "
                     "set it by hand: sudo date -s 'YYYY-MM-DD HH:MM'")
    if synced is False:
        return Check("clock", False, f"says {shown} but is not synchronised (timedatectl: "
                     "NTPSynchronized=no)", "connect the Pi to a network and run sudo timedatectl "
                     "set-ntp true; session times may be off until then")
    return Check("clock", True, shown + (", NTP-synchronised" if synced else
                                         " (NTP state unknown: timedatectl cannot tell)"))


def run_checks(cfg: config.Config, state: Path, timeout_s: float = 5.0, config_path: Path | None = None):
    """Each Check as soon as it is done (the broker may take ``timeout_s``)."""
    bus = check_i2c_bus(cfg.sensor)
    yield bus
    yield check_sensor(cfg.sensor) if bus.ok else Check(
        "sensor", False, "not checked: the I2C bus is not usable", "fix the I2C bus first (see above)")
    yield check_broker(cfg, timeout_s, config_path)
    yield check_state(state)
    yield check_clock(synced=ntp_synchronised())


def run(args: argparse.Namespace) -> int:
    path = config_file(args.config)
    where = str(path) if path else "built-in defaults"
    try:
        cfg = load_checked(path)
    except config.ConfigError as e:
        first = e.problems[0] + (f" (and {len(e.problems) - 1} more)" if len(e.problems) > 1 else "")
        fix = f"hingemarch config check {path or ''}".strip() + " lists every problem"
        print("\n".join(Check("config", False, first, fix).lines()))
        print("the other checks need a valid config: not run")
        return 1
    failed = []
    for c in chain([Check("config", True, where)], run_checks(cfg, state_dir(args.state_dir), args.timeout, path)):
        print("\n".join(c.lines()), flush=True)
        failed += [] if c.ok else [c.name]
    print(f"{len(failed)} problem(s): {', '.join(failed)}" if failed else "all checks passed")
    return 1 if failed else 0
