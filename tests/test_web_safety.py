"""Every refusal of the web server: paths out of the sessions folder, symlinks, odd names, special
files, the access token on every route, wrong methods and media types; and its cache headers."""
from __future__ import annotations

import io
import json
import os
import shutil
import zipfile

import pytest
from web_helpers import http, post_json, record_session

from firmware_bridge.web import sessions as web_sessions

SECRET = "TOP-SECRET-NOT-A-SESSION"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A sessions folder with one real session plus traps: links out, a FIFO, a directory named
    like a file, hidden and oddly named files; and a secret next to the sessions folder."""
    root = tmp_path_factory.mktemp("web-safety")
    folder = record_session(root / "state")
    sessions = folder.parent
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text(SECRET)
    shutil.copy(folder / "summary.json", outside / "summary.json")
    (root / "state" / "secret.csv").write_text(SECRET)          # beside sessions/, in the state dir
    os.symlink(outside, sessions / "20261125T000000Z-link")     # a session folder that is a link out
    os.symlink(outside / "secret.csv", folder / "leak.csv")     # a file that is a link out
    os.mkfifo(folder / "fifo.csv")                              # reading it would block forever
    (folder / "dir.csv").mkdir()
    for name in (".hidden.csv", "notes.txt", "ünïcode.csv", "sp ace.csv", "summary.json.tmp"):
        (folder / name).write_text(SECRET)
    return sessions, folder


ODD_PATHS = [
    "/sessions/..%2F..%2Fsecret.csv", "/sessions/%2e%2e/files/secret.csv", "/sessions/../secret.csv",
    "/sessions/..", "/sessions/.", "/sessions/%2e", "/api/sessions/..%2F..%2Fsecret.csv",
    "/sessions/20261125T000000Z-link", "/api/sessions/20261125T000000Z-link",
    "/sessions/20261125T000000Z-link/files/secret.csv", "/sessions/20261125T000000Z-link/zip",
    "/sessions/{sid}/files/leak.csv", "/sessions/{sid}/files/fifo.csv", "/sessions/{sid}/files/dir.csv",
    "/sessions/{sid}/files/.hidden.csv", "/sessions/{sid}/files/notes.txt",
    "/sessions/{sid}/files/%C3%BCn%C3%AFcode.csv", "/sessions/{sid}/files/sp%20ace.csv",
    "/sessions/{sid}/files/summary.json.tmp", "/sessions/{sid}/files/..%2F..%2Fsecret.csv",
    "/sessions/{sid}/files/%2e%2e%2f%2e%2e%2fsecret.csv", "/sessions/{sid}/files/samples.csv%00.json",
    "/sessions/{sid}/files/a%5Cb.csv", "/sessions/{sid}/files/" + "a" * 300 + ".csv",
    "/sessions/{sid}/files/", "/sessions/{sid}/files/%2Fetc%2Fpasswd", "/static/..%2Fapp.py",
    "/static/live.html", "/static/%2e%2e%2fapp.py", "/sessions/{sid}%00/zip",
]


@pytest.mark.parametrize("path", ODD_PATHS)
def test_nothing_outside_the_sessions_folder_is_served(tree, web_server, path):
    sessions, folder = tree
    r = http(web_server(sessions).port, path.format(sid=folder.name))
    assert r.status in (400, 404), (path, r.status)
    assert SECRET.encode() not in r.body and b"root:" not in r.body and b"Traceback" not in r.body
    assert len(r.text.strip().splitlines()) == 1 and r.headers["Cache-Control"] == "no-store"


def test_listing_and_zip_leave_out_links_special_and_odd_files(tree, web_server):
    sessions, folder = tree
    port = web_server(sessions).port
    rows = http(port, "/api/sessions").json()["sessions"]
    assert [r["session_id"] for r in rows] == [folder.name]          # the linked folder is not listed
    assert sorted(f["name"] for f in rows[0]["files"]) == ["reps.csv", "samples.csv", "sets.csv", "summary.json"]
    z = zipfile.ZipFile(io.BytesIO(http(port, f"/sessions/{folder.name}/zip").body))
    assert sorted(n.split("/", 1)[1] for n in z.namelist()) == ["reps.csv", "samples.csv", "sets.csv", "summary.json"]
    assert all(SECRET.encode() not in z.read(n) for n in z.namelist())


def test_names_are_single_plain_components():
    ok = ["20261125T093000Z-3f9a", "20261125T093000Z-3f9a-2", "samples.csv", "a_b.c-d"]
    bad = ["", ".", "..", ".x", "a/b", "a\\b", "a b", "ü.csv", "a\x00b", "-x", "a" * 129]
    assert all(web_sessions.NAME.match(n) for n in ok)
    assert not any(web_sessions.NAME.match(n) for n in bad)


ROUTES = [("GET", "/"), ("GET", "/api/state"), ("GET", "/api/live"), ("GET", "/sessions"),
          ("GET", "/api/sessions"), ("GET", "/sessions/{sid}"), ("GET", "/api/sessions/{sid}"),
          ("GET", "/sessions/{sid}/files/reps.csv"), ("GET", "/sessions/{sid}/zip"),
          ("GET", "/static/style.css"), ("POST", "/api/cmd/new_set"), ("GET", "/no/such/page")]


@pytest.mark.parametrize("method, path", ROUTES)
def test_with_a_token_every_route_refuses_strangers(tree, web_server, method, path):
    sessions, folder = tree
    port = web_server(sessions, token="s3cret-token").port
    path = path.format(sid=folder.name)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Cookie": "hingemarch_token=wrong"}):
        r = http(port, path, method, {"Content-Type": "application/json", **headers}, b"{}" if method == "POST" else None)
        assert r.status == 401 and r.headers["WWW-Authenticate"] == 'Bearer realm="hingemarch"'
        assert r.headers["Cache-Control"] == "no-store" and b"Traceback" not in r.body
        if path.startswith("/api/"):
            assert r.json()["ok"] is False and "access token" in r.json()["error"]
        else:
            assert r.text.startswith("401: this page needs the access token")
    wrong_query = http(port, path + ("&" if "?" in path else "?") + "token=nope", method)
    assert wrong_query.status == 401


def test_the_token_works_as_header_query_or_cookie(tree, web_server):
    sessions, _ = tree
    port = web_server(sessions, token="s3cret-token").port
    assert http(port, "/api/sessions", headers={"Authorization": "Bearer s3cret-token"}).status == 200
    first = http(port, "/?token=s3cret-token")
    assert first.status == 200
    cookie = first.headers["Set-Cookie"]
    assert "hingemarch_token=s3cret-token" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert http(port, "/sessions", headers={"Cookie": "hingemarch_token=s3cret-token"}).status == 200


def test_wrong_methods_media_types_and_unknown_routes(tree, web_server):
    sessions, _ = tree
    port = web_server(sessions).port
    assert http(port, "/sessions", "POST").status == 405
    assert http(port, "/api/state", "PUT").json()["ok"] is False
    assert http(port, "/api/cmd/new_set").status == 405                       # commands are POST only
    form = http(port, "/api/cmd/new_set", "POST", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=1")
    assert form.status == 415 and "Content-Type: application/json" in form.json()["error"]
    no_service = post_json(port, "/api/cmd/new_set", {})
    assert no_service.status == 503 and no_service.json()["error"] == "no live service to take commands"
    assert http(port, "/nope").status == 404 and http(port, "/nope").text.startswith("404: ")
    assert http(port, "/api/nope").json()["ok"] is False


def test_an_unexpected_failure_is_one_line_and_logged(tree, web_server, monkeypatch, caplog):
    sessions, _ = tree
    port = web_server(sessions).port

    def broken(self, session_id):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(web_sessions.Sessions, "describe", broken)
    r = http(port, "/api/sessions")
    assert r.status == 500 and r.json() == {"ok": False, "error": "internal error; the service log has the details"}
    assert "disk on fire" not in r.text and "disk on fire" in caplog.text


def test_cache_headers_assets_for_a_year_pages_revalidated_live_never_stored(tree, web_server):
    sessions, _ = tree
    server = web_server(sessions)
    port, v = server.port, server.asset_version
    page = http(port, "/")
    assert page.headers["Cache-Control"] == "no-cache"
    assert f"/static/live.js?v={v}" in page.text and f"/static/style.css?v={v}" in page.text
    asset = http(port, f"/static/live.js?v={v}")
    assert asset.status == 200 and asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert asset.headers["Content-Type"].startswith("text/javascript")
    assert http(port, f"/static/live.js?v={v}", headers={"If-None-Match": asset.headers["ETag"]}).status == 304
    assert http(port, "/static/live.js?v=old").headers["Cache-Control"] == "no-cache"
    assert http(port, "/api/state").headers["Cache-Control"] == "no-store"
    for r in (page, asset):
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]


def test_the_page_loads_nothing_from_elsewhere(tree, web_server):
    """Every src/href of the live page and its script is on the Pi itself (no CDN, no fonts)."""
    sessions, _ = tree
    server = web_server(sessions)
    port = server.port
    html = http(port, "/").text
    js = http(port, f"/static/live.js?v={server.asset_version}").text
    css = http(port, f"/static/style.css?v={server.asset_version}").text
    for text in (html, js, css):
        assert "http://" not in text and "https://" not in text and "//" + "cdn" not in text
    assert "@import" not in css and "url(" not in css
    assert json.loads(http(port, "/api/state").body)["full"] is True
