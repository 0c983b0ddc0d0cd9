"""systemd/install.sh in a temporary root (ROOT=DIR: files only, no apt, useradd or systemctl; the
venv step skipped, it needs minutes): a second run changes nothing, the user's config is never
overwritten, an update replaces what changed, uninstall keeps config and sessions unless --purge.
The broker config it installs runs on a real Mosquitto with the account the installer generated."""
import os
import re
import subprocess
import tomllib
from pathlib import Path

from firmware_bridge.cli import hingemarch
from firmware_bridge.mqtt.localbroker import LOOPBACK, LocalBroker, free_port

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ROOT / "systemd" / "install.sh"
UNIT = "etc/systemd/system/hingemarch.service"
DROPIN = "etc/systemd/system/hingemarch.service.d/mosquitto.conf"
CONF = "etc/hingemarch/hingemarch.toml"
BROKER = "etc/mosquitto/conf.d/hingemarch.conf"
ACL = "etc/mosquitto/hingemarch.acl"
PASSWD = "etc/mosquitto/hingemarch.passwd"
PHONE_HINT = ("install: phone: add its broker account with `sudo mosquitto_passwd /etc/mosquitto/hingemarch.passwd "
              "phone`, then `sudo systemctl restart mosquitto`")


def install(root: Path, *args: str, ok: bool = True, **env_extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ROOT": str(root), "HINGEMARCH_SKIP": "venv", **env_extra}
    r = subprocess.run(["bash", str(INSTALL), *args], env=env, capture_output=True, text=True, timeout=60)
    assert (r.returncode == 0) == ok, r.stdout + r.stderr
    return r


def snapshot(root: Path) -> dict:
    """Every path under root with its mode, content (or link target) and modification time."""
    snap = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        body = os.readlink(p) if p.is_symlink() else (p.read_bytes() if p.is_file() else None)
        snap[str(p.relative_to(root))] = (st.st_mode, body, st.st_mtime_ns)
    return snap


def mqtt_account(conf: Path) -> tuple[str, str]:
    mqtt = tomllib.loads(conf.read_text())["mqtt"]
    return mqtt["username"], mqtt["password"]


def test_install_puts_each_file_in_place(tmp_path):
    out = install(tmp_path).stdout
    assert (tmp_path / UNIT).read_bytes() == (ROOT / "systemd" / "hingemarch.service").read_bytes()
    assert (tmp_path / DROPIN).read_bytes() == (ROOT / "systemd/hingemarch.service.d/mosquitto.conf").read_bytes()
    assert (tmp_path / BROKER).read_bytes() == (ROOT / "config" / "mosquitto" / "hingemarch.conf").read_bytes()
    assert (tmp_path / ACL).read_bytes() == (ROOT / "config" / "mosquitto" / "hingemarch.acl").read_bytes()
    user, password = mqtt_account(tmp_path / CONF)
    assert user == "hingemarch" and re.fullmatch(r"[A-Za-z0-9]{20,}", password)
    shipped = (ROOT / "config" / "hingemarch.toml").read_text()
    assert 'username = ""\n' in shipped and 'password = ""\n' in shipped
    assert (tmp_path / CONF).read_text() == shipped.replace('username = ""\n', 'username = "hingemarch"\n').replace(
        'password = ""\n', f'password = "{password}"\n')             # the shipped file, plus the account
    [entry] = (tmp_path / PASSWD).read_text().splitlines()
    assert entry.startswith("hingemarch:$") and password not in entry   # hashed
    for secret in (CONF, PASSWD, ACL):
        assert (tmp_path / secret).stat().st_mode & 0o777 == 0o640, secret
    assert password not in out
    assert PHONE_HINT in out
    assert os.readlink(tmp_path / "usr/local/bin/hingemarch") == "/opt/hingemarch/venv/bin/hingemarch"
    for step in ("I2C: skipped", "packages: skipped", "user: skipped", "systemctl: skipped"):
        assert f"install: {step}" in out          # ROOT never touches the running system


def test_each_install_generates_its_own_password(tmp_path):
    install(tmp_path / "a")
    install(tmp_path / "b")
    assert mqtt_account(tmp_path / "a" / CONF)[1] != mqtt_account(tmp_path / "b" / CONF)[1]


def test_the_installed_broker_accepts_the_generated_account_and_nothing_else(tmp_path, capsys):
    """Mosquitto with the installed config, ACL and password file (ports moved to loopback, paths
    into the temporary root); doctor with the installed service config connects as 'hingemarch'."""
    root = tmp_path / "root"
    install(root)
    broker = LocalBroker(tmp_path / "mosquitto")
    ws = free_port()
    text = (root / BROKER).read_text().replace("listener 1883\n", f"listener {broker.port} {LOOPBACK}\n")
    text = text.replace("listener 9001\n", f"listener {ws} {LOOPBACK}\n").replace("/etc/mosquitto/", f"{root}/etc/mosquitto/")
    first = broker.conf.read_text().splitlines()[0]               # user: as root, don't drop to 'mosquitto'
    broker.conf.write_text(f"{first}\nlog_dest file {broker.workdir}/mosquitto.log\n{text}")
    service = (root / CONF).read_text().replace('host = "localhost"', f'host = "{LOOPBACK}"')
    service = service.replace("port = 1883\n", f"port = {broker.port}\n")
    assert service.count(str(broker.port)) == 1
    conf = tmp_path / "service.toml"
    broker.start()
    try:
        for body, expected in ((service, f"OK    broker: connected to {LOOPBACK}:{broker.port} as 'hingemarch'"),
                               (re.sub(r'password = ".*"', 'password = "wrong"', service),
                                f"FAIL  broker: {LOOPBACK}:{broker.port} refused the connection as 'hingemarch': "
                                "Not authorized"),
                               (re.sub(r'username = ".*"', 'username = ""', service),
                                f"FAIL  broker: {LOOPBACK}:{broker.port} refused the connection without a user "
                                "name: Not authorized")):
            conf.write_text(body)
            hingemarch.main(["doctor", "--config", str(conf), "--state-dir", str(tmp_path / "state")])
            lines = capsys.readouterr().out.splitlines()
            assert [x for x in lines if x.split()[1:2] == ["broker:"]] == [expected]
            if expected.startswith("FAIL"):                  # what to check, and where
                fix = lines[lines.index(expected) + 1]
                assert f"in [mqtt] of {conf} against the broker's password file" in fix
                assert "sudo mosquitto_passwd /etc/mosquitto/hingemarch.passwd hingemarch" in fix
    finally:
        broker.stop()


def test_second_run_changes_nothing_and_keeps_the_users_config(tmp_path):
    install(tmp_path)
    passwd = (tmp_path / PASSWD).read_bytes()
    account = mqtt_account(tmp_path / CONF)
    conf = tmp_path / CONF
    mine = conf.read_text().replace('athlete = "athlete"', 'athlete = "sam"')
    assert mine != conf.read_text()
    conf.write_text(mine)
    before = snapshot(tmp_path)
    out = install(tmp_path).stdout
    assert snapshot(tmp_path) == before
    assert "install: /etc/hingemarch/hingemarch.toml: kept (never overwritten)" in out
    assert "install: /etc/mosquitto/hingemarch.passwd: kept (never overwritten)" in out
    assert out.rstrip().endswith("install: done; nothing changed")
    assert conf.read_text() == mine and mqtt_account(conf) == account
    assert (tmp_path / PASSWD).read_bytes() == passwd


def test_an_existing_config_and_password_file_are_left_alone(tmp_path):
    """A Pi set up by hand: none of its files is touched, and no account is made."""
    conf, passwd, broker = tmp_path / CONF, tmp_path / PASSWD, tmp_path / BROKER
    for f, body in ((conf, '[mqtt]\nusername = "me"\npassword = "mine"\n'), (passwd, "me:$7$101$abc\nphone:$7$101$def\n"),
                    (broker, "listener 1883\nallow_anonymous true\n")):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(body)
        f.chmod(0o600)
    before = {f: (f.read_bytes(), f.stat().st_mode) for f in (conf, passwd, broker)}
    out = install(tmp_path).stdout
    assert {f: (f.read_bytes(), f.stat().st_mode) for f in (conf, passwd, broker)} == before
    assert "install: /etc/mosquitto/hingemarch.passwd: kept (never overwritten)" in out
    assert ("install: /etc/mosquitto/conf.d/hingemarch.conf: allows anonymous access; docs/install.md says how "
            "to switch to passwords") in out
    assert PHONE_HINT not in out                       # the phone has its account
    assert (tmp_path / ACL).exists()


def test_a_new_password_file_never_changes_an_existing_config(tmp_path):
    conf = tmp_path / CONF
    conf.parent.mkdir(parents=True)
    conf.write_text('[mqtt]\nhost = "localhost"\n')
    out = install(tmp_path).stdout
    assert conf.read_text() == '[mqtt]\nhost = "localhost"\n'
    assert (tmp_path / PASSWD).read_text().startswith("hingemarch:$")
    assert "install: /etc/hingemarch/hingemarch.toml has no new password: give hingemarch one you know" in out


def test_an_existing_password_file_gets_the_shipped_config_without_an_account(tmp_path):
    passwd = tmp_path / PASSWD
    passwd.parent.mkdir(parents=True)
    passwd.write_text("hingemarch:$7$101$abc\n")
    install(tmp_path)
    assert (tmp_path / CONF).read_bytes() == (ROOT / "config" / "hingemarch.toml").read_bytes()
    assert passwd.read_text() == "hingemarch:$7$101$abc\n"


def test_no_mosquitto_passwd_stops_before_the_config_is_written(tmp_path):
    """PATH with every command but mosquitto_passwd."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for d in ("/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"):
        for exe in Path(d).iterdir() if Path(d).is_dir() else ():
            if exe.name != "mosquitto_passwd" and not (bin_dir / exe.name).exists():
                (bin_dir / exe.name).symlink_to(exe)
    root = tmp_path / "root"
    r = install(root, ok=False, PATH=str(bin_dir))
    assert r.stderr == "install: error: mosquitto_passwd not found: install the mosquitto package\n"
    assert not (root / CONF).exists() and not (root / PASSWD).exists()


def test_an_update_replaces_a_changed_unit_and_nothing_else(tmp_path):
    install(tmp_path)
    (tmp_path / UNIT).write_text("[Service]\nExecStart=/old\n")
    before = snapshot(tmp_path)
    out = install(tmp_path).stdout
    after = snapshot(tmp_path)
    assert (tmp_path / UNIT).read_bytes() == (ROOT / "systemd" / "hingemarch.service").read_bytes()
    assert {k for k in after if after[k] != before[k] and after[k][1] is not None} == {UNIT}   # files
    assert "changed: /etc/systemd/system/hingemarch.service" in out


def test_uninstall_keeps_config_sessions_and_drop_ins_unless_purged(tmp_path):
    install(tmp_path)
    session = tmp_path / "var/lib/hingemarch/sessions/20261125T100000Z-abcd/summary.json"
    session.parent.mkdir(parents=True)
    session.write_text("{}")
    override = tmp_path / "etc/systemd/system/hingemarch.service.d/override.conf"   # systemctl edit
    override.write_text("[Service]\nEnvironment=X=1\n")
    venv_python = tmp_path / "opt/hingemarch/venv/bin/python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text("")
    for _ in range(2):                                   # twice: the second finds nothing to remove
        out = install(tmp_path, "--uninstall").stdout
        assert not (tmp_path / UNIT).exists() and not (tmp_path / DROPIN).exists()
        assert not (tmp_path / "opt/hingemarch").exists()
        assert not (tmp_path / "usr/local/bin/hingemarch").is_symlink()
        assert session.exists() and override.exists() and (tmp_path / CONF).exists()
        assert all((tmp_path / f).exists() for f in (BROKER, ACL, PASSWD))
        assert "kept: /etc/hingemarch (config), /var/lib/hingemarch" in out
    install(tmp_path, "--uninstall", "--purge")
    for gone in (CONF, BROKER, ACL, PASSWD, "var/lib/hingemarch", "etc/systemd/system/hingemarch.service.d"):
        assert not (tmp_path / gone).exists(), gone


def test_bad_arguments_are_refused_with_one_line(tmp_path):
    r = install(tmp_path, "--purge", ok=False)
    assert r.stderr == "install: error: --purge goes with --uninstall\n"
    r = install(tmp_path, "--frobnicate", ok=False)
    assert r.stderr == "install: error: unknown argument --frobnicate (see --help)\n"
    assert not any(tmp_path.iterdir())                  # nothing was written
