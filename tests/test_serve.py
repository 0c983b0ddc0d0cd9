"""Sessions without a sensor: ``hingemarch serve`` on a copied sessions folder; the session pages of a
service run with --no-record; the page kept up after a workout ends ("session ended", its report)."""
from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading

import pytest
from conftest import free_port
from run_helpers import CHILD_ENV, ended, wait_listening
from web_helpers import HOST, GatedSource, http, quiet_config, record_session, short_sim

from firmware_bridge.service.loop import serve
from imu.sim import SimSource

CLI = [sys.executable, "-m", "firmware_bridge.cli.hingemarch"]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    state = tmp_path_factory.mktemp("serve")
    return state, record_session(state)


def test_serve_shows_sessions_reports_and_history_from_a_folder(recorded):
    state, folder = recorded
    port = free_port()
    env = {k: v for k, v in CHILD_ENV.items() if k != "HINGEMARCH_CONFIG"}    # no config file: this machine only
    proc = subprocess.Popen([*CLI, "serve", str(state / "sessions"), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        wait_listening(proc, port)
        root = http(port, "/")
        assert root.status == 302 and root.headers["Location"] == "/sessions"
        listing = http(port, "/sessions")
        assert listing.status == 200 and f'href="/sessions/{folder.name}"' in listing.text
        report = http(port, f"/sessions/{folder.name}")
        assert report.status == 200 and "Left and right" in report.text
        hist = http(port, "/history/athlete")
        assert hist.status == 200 and f'href="/sessions/{folder.name}"' in hist.text
        assert http(port, "/history/nobody").status == 404
        proc.send_signal(signal.SIGTERM)
        code, out, _ = ended(proc, 30)
        assert code == 0 and f"on http://127.0.0.1:{port}/" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_says_in_one_line_when_there_is_no_sessions_folder(tmp_path):
    r = subprocess.run([*CLI, "serve", str(tmp_path / "missing")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    assert "is not a folder of sessions" in r.stderr and "Traceback" not in r.stderr


def test_session_pages_work_when_the_service_does_not_record(recorded, tmp_path):
    state, folder = recorded
    port = free_port()
    source = GatedSource(short_sim())
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(quiet_config(port=port), source, state),
                              kwargs={"stop": stop, "record": False}, daemon=True)
    before = sorted(p.name for p in (state / "sessions").iterdir())
    thread.start()
    try:
        pause = threading.Event()
        while http_ok(port) is False:
            pause.wait(0.05)
        source.advance_to(5.0)
        rows = http(port, "/api/sessions").json()["sessions"]
        assert [r["session_id"] for r in rows] == before == [folder.name]
        assert http(port, f"/sessions/{folder.name}").status == 200
    finally:
        stop.set()
        source.close()
        thread.join(30)
    assert sorted(p.name for p in (state / "sessions").iterdir()) == before    # nothing recorded


def http_ok(port) -> bool:
    try:
        return http(port, "/api/state").status == 200
    except OSError:
        return False


def test_the_page_stays_up_after_the_workout_and_says_the_session_ended(tmp_path):
    port = free_port()
    service = serve(quiet_config(port=port), SimSource(short_sim(), speed=0), tmp_path / "state", keep_web=True)
    try:
        assert service.web is not None
        snap = http(port, "/api/state").json()
        assert snap["state"]["running"] is False and snap["recorded"] is True
        assert snap["session_id"] == service.last_folder.name
        assert 'id="ended"' in http(port, "/").text
        assert http(port, f"/sessions/{service.last_folder.name}").status == 200
    finally:
        service.web.stop()


def test_a_ctrl_c_as_the_page_line_shows_ends_the_demo_cleanly(tmp_path):
    """The Ctrl-C the line asks for, sent the moment it shows: the same clean end (exit 0, no
    traceback), not an interrupt caught before the demo waits for it."""
    proc = subprocess.Popen([*CLI, "demo", "--speed", "1000", "--sets", "1", "--no-mqtt", "--state-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CHILD_ENV)
    try:
        assert any("the page stays up" in line for line in proc.stdout)
        proc.send_signal(signal.SIGINT)
        code, _, err = ended(proc, 30)
        assert code == 0 and "Traceback" not in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_demo_keeps_its_page_until_ctrl_c(tmp_path):
    proc = subprocess.Popen([*CLI, "demo", "--speed", "1000", "--sets", "1", "--no-mqtt", "--state-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CHILD_ENV)
    try:
        url = None
        for line in proc.stdout:
            found = re.search(r"the page stays up .*: (http://\S+/) ", line)
            if found:
                url = found.group(1)
                break
        assert url, proc.stderr.read()
        port = int(url.rsplit(":", 1)[1].strip("/"))
        snap = http(port, "/api/state").json()
        assert snap["state"]["running"] is False and snap["recorded"] is True
        assert http(port, f"/sessions/{snap['session_id']}").status == 200
        proc.send_signal(signal.SIGINT)
        assert ended(proc, 30)[0] == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_page_whose_port_is_taken_takes_another_when_asked(tmp_path):
    """The demo's page (``web_any_port``): another program holds its port, so it serves on a free one
    and says where; without the flag the page is off and the state says why."""
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        service = serve(quiet_config(port=port), SimSource(short_sim(), speed=0), tmp_path / "a", keep_web=True,
                        web_any_port=True)
        try:
            url = service.parts["web"]["url"]
            assert url and service.web.port != port and url.endswith(f":{service.web.port}/")
            assert http(service.web.port, "/api/state").json()["session_id"] == service.last_folder.name
        finally:
            service.web.stop()
        off = serve(quiet_config(port=port), SimSource(short_sim(), speed=0), tmp_path / "b", keep_web=True)
        assert off.web is None and "already in use" in off.parts["web"]["error"]
