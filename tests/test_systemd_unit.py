"""The unit file: `systemd-analyze verify` accepts it (with its mosquitto drop-in) without a single
warning, its hardening scores "OK" in `systemd-analyze security`, and the settings the service
relies on are there. verify needs ExecStart's binary to exist, so the unit is rendered to a temp
folder with ExecStart on this venv's real `hingemarch`."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "systemd" / "hingemarch.service"
DROPIN = ROOT / "systemd" / "hingemarch.service.d" / "mosquitto.conf"
INSTALLED_BINARY = "/opt/hingemarch/venv/bin/hingemarch"
ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
needs_analyze = pytest.mark.skipif(not Path(ANALYZE).exists(), reason="systemd-analyze is not installed")


def settings(path: Path) -> dict[str, list[str]]:
    """KEY -> every value given (a unit may repeat a key), comments and sections dropped."""
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def render(tmp_path: Path, text: str | None = None) -> Path:
    """The unit (and its drop-in) in tmp_path, ExecStart pointing at this venv's hingemarch."""
    binary = Path(sys.executable).parent / "hingemarch"
    assert binary.exists(), binary
    unit = tmp_path / "hingemarch.service"
    unit.write_text((text or UNIT.read_text()).replace(INSTALLED_BINARY, str(binary)))
    (tmp_path / "hingemarch.service.d").mkdir()
    shutil.copy(DROPIN, tmp_path / "hingemarch.service.d" / "mosquitto.conf")
    return unit


def verify(unit: Path) -> subprocess.CompletedProcess:
    return subprocess.run([ANALYZE, "verify", "--man=no", str(unit)], capture_output=True, text=True,
                          timeout=60)


@needs_analyze
def test_systemd_analyze_verify_passes_without_warnings(tmp_path):
    r = verify(render(tmp_path))
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


@needs_analyze
def test_verify_would_catch_a_mistake(tmp_path):
    """The check above can fail: a misspelt key is a warning, a missing binary an error."""
    typo = verify(render(tmp_path, UNIT.read_text().replace("ProtectHome=", "ProtectHomes=")))
    assert "Unknown key 'ProtectHomes'" in typo.stderr
    shutil.rmtree(tmp_path / "hingemarch.service.d")
    missing = verify(render(tmp_path, UNIT.read_text().replace(INSTALLED_BINARY, "/nonexistent/hingemarch")))
    assert missing.returncode != 0 and "/nonexistent/hingemarch" in missing.stderr


@needs_analyze
def test_hardening_exposure_is_ok(tmp_path):
    """`systemd-analyze security` rates exposure 0-10; --threshold=20 fails above 2.0 ("OK")."""
    r = subprocess.run([ANALYZE, "security", "--offline=true", "--threshold=20", "--no-pager",
                        str(render(tmp_path))], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout[-400:]


def test_the_settings_the_service_relies_on():
    s = settings(UNIT)
    one = {k: v[-1] for k, v in s.items()}
    assert one["Type"] == "notify" and one["NotifyAccess"] == "main"        # READY=1 from the loop
    assert int(one["WatchdogSec"]) >= 10                                     # pinged per block
    assert one["Restart"] == "on-failure"
    assert one["User"] == "hingemarch" and "i2c" in one["SupplementaryGroups"].split()
    assert one["StateDirectory"] == "hingemarch"                             # -> $STATE_DIRECTORY
    assert one["ExecStart"].split() == [INSTALLED_BINARY, "run", "--source", "i2c",
                                        "--config", "/etc/hingemarch/hingemarch.toml"]
    assert one["SyslogLevelPrefix"] == "yes"                                 # <N> prefixes
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "DevicePolicy": "closed", "DeviceAllow": "char-i2c rw",
                       "CapabilityBoundingSet": ""}.items():
        assert one[key] == value, key
    assert "PrivateDevices" not in one        # it would hide /dev/i2c-* whatever DeviceAllow says
    assert settings(DROPIN) == {"Wants": ["mosquitto.service"], "After": ["mosquitto.service"]}


def test_installer_and_unit_agree_on_the_paths():
    script = (ROOT / "systemd" / "install.sh").read_text()
    assert "VENV=/opt/hingemarch/venv\n" in script and INSTALLED_BINARY.startswith("/opt/hingemarch/venv/")
    assert "CONF=/etc/hingemarch/hingemarch.toml\n" in script
