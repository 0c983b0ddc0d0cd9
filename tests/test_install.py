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
TLS_CONF = "etc/mosquitto/conf.d/hingemarch_tls.conf"
CERTS = "etc/mosquitto/certs"
DEV = "pi-anna"
PHONE_HINT = ("install: phone: add its broker account with `sudo systemd/install.sh --phone NAME` (it reads pi-anna, "
              "sends its commands)")


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


def acl_rules(path: Path) -> list[str]:
    """The ACL's lines without comments and blank lines."""
    return [x for x in path.read_text().splitlines() if x.strip() and not x.startswith("#")]


def device_block(dev: str, node: str | None = None, prefix: str = "hingemarch") -> list[str]:
    return [f"user {dev}", f"topic readwrite {prefix}/{dev}/#",
            f"topic readwrite homeassistant/+/{node or prefix + '_' + dev}/#"]


def phone_block(name: str, dev: str, prefix: str = "hingemarch") -> list[str]:
    return [f"user {name}", f"topic read {prefix}/{dev}/#", f"topic write {prefix}/{dev}/cmd",
            f"topic write {prefix}/{dev}/cmd/#", "topic readwrite metrics/exchange"]


def shown_passwords(out: str) -> dict[str, str]:
    return dict(re.findall(r"^install: broker account (\S+) .*: created; password \(shown only now\): (\S+)$", out, re.M))


def test_install_puts_each_file_in_place(tmp_path):
    out = install(tmp_path, "--device-id", DEV).stdout
    assert (tmp_path / UNIT).read_bytes() == (ROOT / "systemd" / "hingemarch.service").read_bytes()
    assert (tmp_path / DROPIN).read_bytes() == (ROOT / "systemd/hingemarch.service.d/mosquitto.conf").read_bytes()
    assert (tmp_path / BROKER).read_bytes() == (ROOT / "config" / "mosquitto" / "hingemarch.conf").read_bytes()
    shipped_acl = (ROOT / "config" / "mosquitto" / "hingemarch.acl").read_text()
    assert acl_rules(ROOT / "config" / "mosquitto" / "hingemarch.acl") == []         # rules only per account
    assert (tmp_path / ACL).read_text().startswith(shipped_acl)
    assert acl_rules(tmp_path / ACL) == device_block(DEV)
    assert not (tmp_path / TLS_CONF).exists() and not (tmp_path / CERTS).exists()    # TLS only with --tls
    user, password = mqtt_account(tmp_path / CONF)
    assert user == DEV and re.fullmatch(r"[A-Za-z0-9]{20,}", password)
    shipped = (ROOT / "config" / "hingemarch.toml").read_text()
    assert 'username = ""\n' in shipped and 'password = ""\n' in shipped and 'device_id = ""\n' in shipped
    assert (tmp_path / CONF).read_text() == shipped.replace('username = ""\n', f'username = "{DEV}"\n').replace(
        'password = ""\n', f'password = "{password}"\n').replace(
        'device_id = ""\n', f'device_id = "{DEV}"\n')             # the shipped file, plus the device and its account
    [entry] = (tmp_path / PASSWD).read_text().splitlines()
    assert entry.startswith(f"{DEV}:$") and password not in entry   # hashed
    for secret in (CONF, PASSWD, ACL):
        assert (tmp_path / secret).stat().st_mode & 0o777 == 0o640, secret
    assert password not in out
    assert PHONE_HINT in out
    assert os.readlink(tmp_path / "usr/local/bin/hingemarch") == "/opt/hingemarch/venv/bin/hingemarch"
    for step in ("I2C: skipped", "packages: skipped", "user: skipped", "systemctl: skipped"):
        assert f"install: {step}" in out          # ROOT never touches the running system


def test_each_install_generates_its_own_password(tmp_path):
    install(tmp_path / "a", "--device-id", DEV)
    install(tmp_path / "b", "--device-id", DEV)
    assert mqtt_account(tmp_path / "a" / CONF)[1] != mqtt_account(tmp_path / "b" / CONF)[1]


def test_the_installed_broker_accepts_the_generated_account_and_nothing_else(tmp_path, capsys):
    """Mosquitto with the installed config, ACL and password file (ports moved to loopback, paths
    into the temporary root); doctor with the installed service config connects as 'hingemarch'."""
    root = tmp_path / "root"
    install(root, "--device-id", DEV)
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
        for body, expected in ((service, f"OK    broker: connected to {LOOPBACK}:{broker.port} as '{DEV}'"),
                               (re.sub(r'password = ".*"', 'password = "wrong"', service),
                                f"FAIL  broker: {LOOPBACK}:{broker.port} refused the connection as '{DEV}': "
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
                # the account to give a password is the device's, named or not
                assert f"sudo mosquitto_passwd /etc/mosquitto/hingemarch.passwd {DEV}," in fix
    finally:
        broker.stop()


def test_second_run_changes_nothing_and_keeps_the_users_config(tmp_path):
    install(tmp_path, "--device-id", DEV)
    passwd = (tmp_path / PASSWD).read_bytes()
    account = mqtt_account(tmp_path / CONF)
    conf = tmp_path / CONF
    mine = conf.read_text().replace('athlete = "athlete"', 'athlete = "sam"')
    assert mine != conf.read_text()
    conf.write_text(mine)
    before = snapshot(tmp_path)
    out = install(tmp_path).stdout                       # the device id now comes from the config
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
    assert "install: phone: add its broker account with `sudo systemd/install.sh --phone NAME`" in out  # no rules
    assert (tmp_path / ACL).exists()


def test_a_new_password_file_never_changes_an_existing_config(tmp_path):
    conf = tmp_path / CONF
    conf.parent.mkdir(parents=True)
    conf.write_text('[mqtt]\nhost = "localhost"\n')
    out = install(tmp_path, "--device-id", DEV).stdout
    assert conf.read_text() == '[mqtt]\nhost = "localhost"\n'
    assert (tmp_path / PASSWD).read_text().startswith(f"{DEV}:$")
    [password] = re.findall(r'^install: /etc/hingemarch/hingemarch.toml is kept: put this device.s account into its '
                            r'\[mqtt\]: device_id = "pi-anna", username = "pi-anna", password = "(\w{20,})" '
                            r'\(shown only now\)$', out, re.M)
    assert password not in (tmp_path / PASSWD).read_text()
    assert acl_rules(tmp_path / ACL) == device_block(DEV)


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


def test_accounts_for_devices_and_phones_each_with_its_acl_block(tmp_path):
    out = install(tmp_path, "--device-id", DEV, "--device", "pi-ben", "--phone", "anna-phone",
                  "--phone", "ben-phone:pi-ben").stdout
    shown = shown_passwords(out)
    assert set(shown) == {"pi-ben", "anna-phone", "ben-phone"}        # this Pi's own is in its config only
    assert all(re.fullmatch(r"[A-Za-z0-9]{20,}", pw) for pw in shown.values()) and len(set(shown.values())) == 3
    entries = (tmp_path / PASSWD).read_text()
    assert [x.split(":")[0] for x in entries.splitlines()] == [DEV, "pi-ben", "anna-phone", "ben-phone"]
    assert not any(pw in entries for pw in shown.values())           # hashed
    assert acl_rules(tmp_path / ACL) == (device_block(DEV) + device_block("pi-ben") + phone_block("anna-phone", DEV)
                                         + phone_block("ben-phone", "pi-ben"))
    assert PHONE_HINT not in out
    assert (tmp_path / PASSWD).stat().st_mode & 0o777 == 0o640
    assert "note: no account" not in out
    out = install(tmp_path, "--phone", "carl:pi-carl").stdout       # a device this broker does not know (a typo?)
    assert "install:   note: no account pi-carl on this broker (yet): another device's? add it with --device pi-carl" in out
    assert acl_rules(tmp_path / ACL)[-5:] == phone_block("carl", "pi-carl")
    before = snapshot(tmp_path)                                      # again: nothing changes, nothing shown
    out = install(tmp_path, "--device", "pi-ben", "--phone", "anna-phone", "--phone", "ben-phone:pi-ben").stdout
    assert snapshot(tmp_path) == before
    assert shown_passwords(out) == {} and "install: broker account anna-phone: exists (kept)" in out
    assert out.rstrip().endswith("install: done; nothing changed")


def test_a_phone_added_later_goes_after_the_users_edits(tmp_path):
    install(tmp_path, "--device-id", DEV)
    acl = tmp_path / ACL
    mine = acl.read_text().replace(f"topic readwrite hingemarch/{DEV}/#", f"topic readwrite hingemarch/{DEV}/#\n"
                                   "topic read hingemarch/shared/#") + "\nuser coach\ntopic read hingemarch/#\n"
    acl.write_text(mine)
    out = install(tmp_path, "--add-phone", "anna-phone").stdout
    assert acl.read_text().startswith(mine)                           # every line of theirs as it was
    assert acl_rules(acl)[-5:] == phone_block("anna-phone", DEV)    # for the config's device
    assert set(shown_passwords(out)) == {"anna-phone"}
    assert "changed: /etc/mosquitto/hingemarch.passwd /etc/mosquitto/hingemarch.acl" in out
    assert ("install: /etc/mosquitto/hingemarch.acl: an account there may use every device's topics (the old "
            "shared ACL); docs/install.md says how to switch to one account per device and phone") in out   # coach


def test_the_old_shared_acl_is_kept_and_named(tmp_path):
    acl = tmp_path / ACL
    acl.parent.mkdir(parents=True)
    old = "user hingemarch\ntopic readwrite hingemarch/#\nuser phone\ntopic read hingemarch/#\n"
    acl.write_text(old)
    out = install(tmp_path, "--device-id", DEV).stdout
    assert "the old shared ACL" in out
    assert acl.read_text().startswith(old) and acl_rules(acl)[4:] == device_block(DEV)


def test_accounts_follow_the_configs_prefix_and_device(tmp_path):
    """A kept config's topic_prefix (with a slash) and device id (with a dot) name the rules."""
    conf = tmp_path / CONF
    conf.parent.mkdir(parents=True)
    conf.write_text('[mqtt]\ntopic_prefix = "club/tue"  # ours\ndevice_id = "pi.3"\nha_prefix = "ha"\n')
    install(tmp_path, "--phone", "p1")
    assert acl_rules(tmp_path / ACL) == [
        "user pi.3", "topic readwrite club/tue/pi.3/#", "topic readwrite ha/+/club_tue_pi_3/#",
        *phone_block("p1", "pi.3", prefix="club/tue")]
    r = install(tmp_path, "--device-id", "other", ok=False)
    assert r.stderr == ('install: error: --device-id other: /etc/hingemarch/hingemarch.toml already sets '
                        'device_id = "pi.3" (change it there)\n')


def test_the_device_id_defaults_to_the_host_name(tmp_path):
    host = subprocess.run(["hostname"], capture_output=True, text=True, check=True).stdout.strip()
    dev = re.sub(r"[^a-z0-9_-]+", "-", host.split(".")[0].lower()).strip("-") or "hingemarch"
    install(tmp_path)
    assert mqtt_account(tmp_path / CONF)[0] == dev
    assert tomllib.loads((tmp_path / CONF).read_text())["mqtt"]["device_id"] == dev


def test_bad_account_names_are_refused_before_anything_is_written(tmp_path):
    for args, err in ((("--device-id", DEV, "--phone", DEV), f"--phone {DEV}: that is a device's account name; "
                       "give it its own"),
                      (("--device-id", DEV, "--home-assistant", DEV), f"--home-assistant {DEV}: that is a device's "
                       "account name; give it its own"),
                      (("--phone", "a/b"), "account a/b: letters, digits, _ . - only"),
                      (("--device", "a+"), "account a+: letters, digits, _ . - only"),
                      (("--phone", "p:pi/x"), "--phone p:pi/x: device pi/x: letters, digits, _ . - only"),
                      (("--device-id", "pi#1"), "device id pi#1: letters, digits, _ . - only"),
                      (("--phone",), "--phone needs a value (see --help)"),
                      (("--bind", "1.2.3.4 x"), "--bind 1.2.3.4 x: not an address or host name")):
        r = install(tmp_path, *args, ok=False)
        assert r.stderr == f"install: error: {err}\n", args
        assert not any(tmp_path.iterdir())


def test_bind_puts_the_listeners_on_one_address_in_a_new_broker_config_only(tmp_path):
    install(tmp_path / "a", "--device-id", DEV, "--bind", "127.0.0.1", "--tls")
    conf = (tmp_path / "a" / BROKER).read_text()
    assert re.findall(r"^listener .*", conf, re.M) == ["listener 1883 127.0.0.1", "listener 9001 127.0.0.1"]
    assert re.findall(r"^listener .*", (tmp_path / "a" / TLS_CONF).read_text(), re.M) == ["listener 8883 127.0.0.1"]
    install(tmp_path / "b", "--device-id", DEV)                                 # as shipped: every interface
    assert (tmp_path / "b" / BROKER).read_bytes() == (ROOT / "config/mosquitto/hingemarch.conf").read_bytes()
    out = install(tmp_path / "b", "--bind", "127.0.0.1").stdout
    assert (tmp_path / "b" / BROKER).read_bytes() == (ROOT / "config/mosquitto/hingemarch.conf").read_bytes()
    assert ("install: --bind 127.0.0.1: not applied to the kept /etc/mosquitto/conf.d/hingemarch.conf; edit its "
            "listener lines (listener 1883 127.0.0.1)") in out


def test_tls_makes_a_ca_and_a_server_certificate_once(tmp_path):
    out = install(tmp_path, "--device-id", DEV, "--tls").stdout
    certs = tmp_path / CERTS
    modes = {p.name: p.stat().st_mode & 0o777 for p in certs.iterdir()}
    assert modes == {"hingemarch-ca.crt": 0o644, "hingemarch-ca.key": 0o600, "hingemarch-server.crt": 0o644,
                     "hingemarch-server.key": 0o640}
    assert (tmp_path / TLS_CONF).read_bytes() == (ROOT / "config/mosquitto/hingemarch_tls.conf").read_bytes()
    assert "install: /etc/mosquitto/certs: made a private CA" in out
    text = subprocess.run(["openssl", "x509", "-in", str(certs / "hingemarch-server.crt"), "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    assert "IP Address:127.0.0.1" in text and "DNS:localhost" in text
    subprocess.run(["openssl", "verify", "-CAfile", str(certs / "hingemarch-ca.crt"),
                    str(certs / "hingemarch-server.crt")], check=True, capture_output=True)
    before = snapshot(tmp_path)
    out = install(tmp_path, "--tls").stdout
    assert snapshot(tmp_path) == before
    assert "install: /etc/mosquitto/certs: certificates kept (never overwritten)" in out
    (certs / "hingemarch-server.crt").unlink()               # one of them missing: the rest is not replaced
    ca = (certs / "hingemarch-ca.crt").read_bytes()
    install(tmp_path, "--tls")
    assert (certs / "hingemarch-ca.crt").read_bytes() == ca and not (certs / "hingemarch-server.crt").exists()
    install(tmp_path, "--uninstall", "--purge")
    assert not (tmp_path / TLS_CONF).exists() and not certs.exists()


def test_a_home_assistant_account_reads_every_device_and_sends_commands(tmp_path):
    out = install(tmp_path, "--device-id", DEV, "--home-assistant", "ha").stdout
    assert set(shown_passwords(out)) == {"ha"}
    assert acl_rules(tmp_path / ACL)[-6:] == ["user ha", "topic read hingemarch/#", "topic write hingemarch/+/cmd",
                                              "topic write hingemarch/+/cmd/#", "topic read homeassistant/#",
                                              "topic write homeassistant/status"]
    assert "the old shared ACL" not in out.replace("\n", " ")   # Home Assistant reads all devices by design
    assert PHONE_HINT in out                                    # its command rights are not a phone's
    before = snapshot(tmp_path)
    assert "broker account ha: exists (kept)" in install(tmp_path, "--home-assistant", "ha").stdout
    assert snapshot(tmp_path) == before
