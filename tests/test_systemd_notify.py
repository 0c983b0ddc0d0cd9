"""sd_notify for real: `hingemarch run --source sim` with NOTIFY_SOCKET on an AF_UNIX datagram socket
of the test says READY=1 once samples flow, WATCHDOG=1 while blocks (or lost-sensor heartbeats)
keep coming, STATUS= when it changes and STOPPING=1 at the end or on SIGTERM. Under JOURNAL_STREAM
its log lines carry <N> priorities and no timestamp."""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from firmware_bridge.service import config
from firmware_bridge.service.live import Service
from firmware_bridge.service.sdnotify import LoopWatch, Notifier
from firmware_bridge.service.wiring import emulated_source
from imu.clock import FakeClock
from imu.emulated.motions import Still

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def notify_socket():
    """A bound datagram socket (short path: AF_UNIX allows about 100 bytes) and its path."""
    folder = tempfile.mkdtemp(prefix="hm-", dir="/tmp")
    path = os.path.join(folder, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(60)          # a guard against a hang, not a timing check
    yield sock, path
    sock.close()
    os.unlink(path)
    os.rmdir(folder)


def receive_until(sock, last: str) -> list[str]:
    """Messages (decoded) up to and including the first that contains ``last``."""
    got = []
    while not got or last not in got[-1]:
        got.append(sock.recv(4096).decode())
    return got


def start_run(tmp_path: Path, path: str, *args: str, stderr=subprocess.DEVNULL, **env) -> subprocess.Popen:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[web]\nenabled = false\n" if "web" in config.SCHEMA else "")
    env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", "PYTHONUNBUFFERED": "1", **env}
    env.pop("HINGEMARCH_CONFIG", None)
    return subprocess.Popen([sys.executable, "-m", "firmware_bridge.cli.hingemarch", "run", "--source", "sim",
                             "--no-mqtt", "--config", str(cfg), "--state-dir", str(tmp_path / "state"), *args],
                            stdout=subprocess.DEVNULL, stderr=stderr, env=env, cwd=ROOT)


def test_a_run_under_systemd(tmp_path, notify_socket):
    """READY, watchdog pings and STATUS while the sim runs; SIGTERM once set 2 has begun (so set 1
    ended): STOPPING, a clean exit, the session closed; the log in the journal's format."""
    sock, path = notify_socket
    log = tmp_path / "journal.log"
    with open(log, "wb") as stderr:
        st = os.fstat(stderr.fileno())
        proc = start_run(tmp_path, path, "--speed", "0", stderr=stderr,
                         JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        messages = [sock.recv(4096).decode()]
        while not re.search(r"STATUS=sensor ok; session \S+: set [2-9]", messages[-1]):
            messages.append(sock.recv(4096).decode())
        proc.send_signal(signal.SIGTERM)
        messages += receive_until(sock, "STOPPING=1")
        assert proc.wait(60) == 0
    fields = [m.split("\n") for m in messages]
    assert fields[0][0] == "READY=1" and fields[0][1].startswith("STATUS=sensor ok; ")
    assert not any("READY=1" in m for m in messages[1:])
    assert sum(f.count("WATCHDOG=1") for f in fields) >= 1
    statuses = [x for f in fields for x in f if x.startswith("STATUS=")]
    assert all(re.fullmatch(r"STATUS=sensor ok; (no session running|session \S+: "
                            r"(set \d+, \d+ rep\(s\)|\d+ set\(s\) done, between sets))",
                            x) for x in statuses[:-1]), statuses
    assert all(a != b for a, b in zip(statuses, statuses[1:]))                # sent on change only
    assert any(x.endswith(": 1 set(s) done, between sets") for x in statuses)
    assert messages[-1] == "STOPPING=1\nSTATUS=stopping"
    [folder] = (tmp_path / "state" / "sessions").iterdir()
    assert (folder / "summary.json").exists()                                  # closed cleanly

    lines = log.read_text().splitlines()
    assert lines and all(line.startswith(("<6>", "<4>", "<3>")) for line in lines), lines
    assert not any(re.search(r"\d\d:\d\d:\d\d", line) for line in lines)       # journald adds the time
    for pattern in (r"<6>hingemarch\.run: session \S+ started in .*",
                    r"<6>hingemarch\.run: session \S+: set 1 ended, \d+ rep\(s\)",
                    r"<6>hingemarch\.run: stopping on SIGTERM",
                    r"<6>hingemarch\.run: session \S+ ended: \d+ set\(s\), \d+ rep\(s\)"):
        assert any(re.fullmatch(pattern, line) for line in lines), pattern


def test_lost_sensor_heartbeats_keep_the_watchdog_fed(notify_socket):
    """The real driver on an emulated chip that drops off the bus for 3 s: the watchdog is still
    pinged (every 0.5 s of the emulated clock) while it is lost, and STATUS says so."""
    sock, path = notify_socket
    sock.settimeout(0)
    clock = FakeClock()
    source = emulated_source("mpu6050", Still(), 100.0, clock=clock, duration_s=6.0, disconnect_s=(1.0, 4.0))
    svc = Service(config.defaults(), source, None, None, "emulated:mpu6050")
    watch = LoopWatch(Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"}), clock=clock.now)
    messages = []

    def drain():       # as systemd does: the socket queue holds only a few datagrams
        while True:
            try:
                messages.append(sock.recv(4096).decode())
            except BlockingIOError:
                return
    for block in source.blocks():
        svc.feed(block)
        watch(svc)
        drain()
    watch.stopping("done")
    drain()
    lost = next(i for i, m in enumerate(messages) if "STATUS=sensor lost" in m)
    back = next(i for i, m in enumerate(messages) if i > lost and "STATUS=sensor ok" in m)
    assert sum("WATCHDOG=1" in m for m in messages[lost:back + 1]) >= 4     # 3 s lost, 0.5 s apart
    assert messages[-1] == "STOPPING=1\nSTATUS=done"


def test_notifier_follows_the_environment(notify_socket):
    sock, path = notify_socket
    assert not Notifier({}).send("READY=1")                            # not under systemd: no-op
    assert Notifier({"NOTIFY_SOCKET": path}).watchdog_s is None        # no watchdog asked
    other = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert Notifier(other).watchdog_s is None                          # meant for another process
    assert Notifier({**other, "WATCHDOG_PID": str(os.getpid())}).watchdog_s == 30.0
    name = f"hingemarch-test-{uuid.uuid4().hex}"                       # "@": the abstract namespace
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    abstract.bind("\0" + name)
    abstract.settimeout(60)
    assert Notifier({"NOTIFY_SOCKET": "@" + name}).send("STATUS=hello")
    assert abstract.recv(100) == b"STATUS=hello"
    abstract.close()


def test_a_full_queue_never_stalls_the_loop(notify_socket):
    """Nobody reading (systemd busy): sends fail fast and are dropped instead of blocking."""
    sock, path = notify_socket
    n = Notifier({"NOTIFY_SOCKET": path})
    results = [n.send("WATCHDOG=1") for _ in range(200)]
    assert results[0] and not results[-1]


def test_status_line_shows_the_first_analysis_problem():
    from firmware_bridge.service.sdnotify import status_line
    state = {"running": True, "session_id": "s1", "in_set": False, "sets_done": 0, "sensor_status": "ok",
             "problems": ["no still moment found: ...", "the gyro turned 0.02 x ..."]}
    assert status_line(state) == "sensor ok; session s1: 0 set(s) done, between sets; no still moment found: ..."
    assert status_line({**state, "problems": []}).endswith("between sets")
