"""Hostile and broken clients against the real service's web server: malformed headers and bodies
get 400/401 with one line and no traceback in the log, then the server still answers and the service
still counts; idle connections are closed, too many connections are refused; every current problem
is in /api/state's ``error``, in a stable order."""
from __future__ import annotations

import logging
import socket
import time

import pytest
from conftest import LOOPBACK, free_port
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web_helpers import LiveService, http

from firmware_bridge.web.app import WebServer

TOKEN = "tok-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def raw(port: int, data: bytes, timeout_s: float = 10.0) -> bytes:
    """Send ``data`` as is on a new connection; everything the server sends until it closes."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout_s) as c:
        c.sendall(data)
        out = b""
        while chunk := c.recv(65536):
            out += chunk
        return out


def status_and_body(reply: bytes) -> tuple[int, bytes]:
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def get(path: str, *headers: bytes) -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: pi\r\nConnection: close\r\n" + b"".join(
        h + b"\r\n" for h in headers) + b"\r\n"


@pytest.fixture
def live(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    svc = LiveService(tmp_path, free_port(), token=TOKEN).start()
    yield svc
    svc.close()


def wait_for(svc: LiveService, pred, tries: int = 2000) -> dict:
    for _ in range(tries):
        try:
            state = http(svc.port, "/api/state", headers=AUTH).json()["state"]
        except (OSError, ValueError, KeyError):
            state = {}
        if state and pred(state):
            return state
        svc.stop.wait(0.01)
    raise AssertionError("the state never matched")


HOSTILE = [
    get("/api/state", b"Cookie: hingemarch_token=\xc3\xa9t\xc3\xa9"),          # UTF-8 in a cookie
    get("/api/state", b"Authorization: Bearer \xff\xfe\xfd"),                    # not even UTF-8
    get("/", b"Authorization: Bearer tok-\xe2\x82\xac"),
    get("/sessions", b"Cookie: \x00\x01;;;==garbage"),                           # control bytes
    get("/api/state", b"Cookie: =;=;=;" + b"a=" * 2000),
    get("/api/state", b"Authorization: " + b"B" * 20000),                        # header too long
    get("/api/state", b"X-\xff: 1"),
    get("/api/state", *[b"X-%d: 1" % i for i in range(200)]),                    # too many headers
    b"GET /api/state HTTP/1.1\r\nHost: pi\r\nContent-Length: -1\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,                # TLS on a plain port
    b"GET /\xff\xfe HTTP/1.1\r\nHost: pi\r\n\r\n",
    b"GARBAGE\r\n\r\n",
]


def test_each_hostile_request_is_one_line_and_the_service_goes_on(live, caplog):
    reps = live.truth.sets[0].rep_completion_s
    live.source.advance_to(reps[0] + 0.5)
    wait_for(live, lambda s: s.get("reps_in_set") == 1)
    for data in HOSTILE:
        status, body = status_and_body(raw(live.port, data))
        assert status in (400, 401), (data[:60], status, body)
        assert body.count(b"\n") <= 1 and b"Traceback" not in body, (data[:60], body)
        assert http(live.port, "/api/state", headers=AUTH).status == 200
    for body in (b"[" * 512 + b"]" * 512, b'{"id":' * 170 + b"1" + b"}" * 170, b"[" * 30000, b"\xff{", b"{" * 60000):
        bad = http(live.port, "/api/cmd/new_set", "POST", {"Content-Type": "application/json", **AUTH}, body)
        assert bad.status in (400, 413) and "\n" not in bad.json()["error"], (body[:20], bad.status)
    live.source.advance_to(reps[2] + 0.5)                       # still counting
    assert wait_for(live, lambda s: s.get("reps_in_set") == 3)["reps_in_set"] == 3
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], \
        [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from([b"Cookie", b"Authorization", b"X-Anything", b"Accept"]),
       value=st.binary(max_size=200).filter(lambda v: b"\r" not in v and b"\n" not in v))
def test_any_header_value_is_never_a_server_error(web_server_with_token, name, value):
    status, _ = status_and_body(raw(web_server_with_token.port, get("/api/state", name + b": " + value)))
    assert status in (400, 401), (name, value, status)


@pytest.fixture(scope="module")
def web_server_with_token():
    s = WebServer(LOOPBACK, 0, TOKEN).start()
    yield s
    s.stop()


def test_idle_and_slow_header_connections_are_closed(tmp_path):
    s = WebServer(LOOPBACK, 0, "", idle_timeout_s=0.5).start()
    try:
        start = time.monotonic()
        assert raw(s.port, b"", timeout_s=20) == b""                           # nothing ever sent
        assert raw(s.port, b"GET /api/state HTTP/1.1\r\nHost: p", timeout_s=20) == b""   # header never ends
        with socket.create_connection((LOOPBACK, s.port), timeout=20) as c:    # keep-alive, then idle
            c.sendall(b"GET /api/state HTTP/1.1\r\nHost: pi\r\n\r\n")
            got = b""
            while chunk := c.recv(65536):
                got += chunk
            assert got.startswith(b"HTTP/1.1 200")
        assert time.monotonic() - start < 20
        assert http(s.port, "/api/state").status == 200
    finally:
        s.stop()


def test_connections_beyond_the_cap_get_a_503_and_the_server_recovers(tmp_path):
    s = WebServer(LOOPBACK, 0, "", max_connections=3).start()
    held = []
    try:
        for _ in range(3):                      # three keep-alive connections, each answered once
            c = socket.create_connection((LOOPBACK, s.port), timeout=10)
            c.sendall(b"GET /api/state HTTP/1.1\r\nHost: pi\r\n\r\n")
            assert c.recv(65536).startswith(b"HTTP/1.1 200")
            held.append(c)
        status, body = status_and_body(raw(s.port, get("/api/state")))
        assert status == 503 and body == b"503: too many connections; try again shortly\n"
        for c in held:
            c.close()
        for _ in range(200):                    # the server notices the closes
            if http(s.port, "/api/state").status == 200:
                break
            time.sleep(0.02)
        assert http(s.port, "/api/state").status == 200
    finally:
        for c in held:
            c.close()
        s.stop()


def test_api_state_lists_every_problem_in_a_stable_order(tmp_path):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "sessions").write_text("a file where the sessions folder should be")
    svc = LiveService(tmp_path, free_port(), token=TOKEN).start()
    try:
        svc.source.advance_to(2.0)
        recording = wait_for(svc, lambda s: s.get("running") and s.get("error"))["error"]
        assert recording.startswith("recording stopped: ") and "\n" not in recording
        page = http(svc.port, "/", headers=AUTH)
        assert page.status == 200 and 'id="error"' in page.text
        both = f"{recording}\nsensor not answering"
        for _ in range(3):                      # the sensor comes and goes: the lines never swap
            svc.source.status = "sensor_lost"
            assert wait_for(svc, lambda s: s["error"] != recording)["error"] == both
            svc.source.status = "ok"
            assert wait_for(svc, lambda s: s["error"] != both)["error"] == recording
    finally:
        svc.close()


def test_api_state_error_is_null_when_all_is_well(live):
    live.source.advance_to(1.0)
    assert wait_for(live, lambda s: s.get("running"))["error"] is None


def test_a_foreign_cookie_of_any_bytes_does_not_lock_the_athlete_out(web_server_with_token):
    """Other programs on the Pi may set cookies of any kind: only ours is read."""
    foreign = b"Cookie: grafana=\xc3\xa9\xff; hingemarch_token=" + TOKEN.encode()
    status, _ = status_and_body(raw(web_server_with_token.port, get("/api/state", foreign)))
    assert status == 200
    status, body = status_and_body(raw(web_server_with_token.port, get("/api/state", b"Cookie: hingemarch_token=\xff")))
    assert status == 401 and body.count(b"\n") <= 1
