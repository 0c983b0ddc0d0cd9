"""Edits afterwards, through the web API on a session the real service recorded: fix a set's count,
delete a false rep, add a note, delete the session, undo; kept in edits.json, raw files untouched;
the report, the list and the JSON show the edited values and mark them; bad bodies are 400."""
from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from web_helpers import http, post_json, record_session

from firmware_bridge.store.edits import EDITS, read_edits


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    state = tmp_path_factory.mktemp("edits")
    return record_session(state)


@pytest.fixture
def session(recorded, tmp_path):
    """A fresh copy of the recorded session: (sessions folder, session folder)."""
    root = tmp_path / "sessions"
    root.mkdir()
    folder = root / recorded.name
    shutil.copytree(recorded, folder)
    return root, folder


def _hashes(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.name != EDITS}


def _api(port, sid):
    return http(port, f"/api/sessions/{sid}").json()


def test_fix_a_count_delete_a_rep_and_undo_both(session, web_server):
    root, folder = session
    raw = _hashes(folder)
    port, sid = web_server(root).port, folder.name
    before = _api(port, sid)
    assert [s["reps"] for s in before["sets"]] == [3, 4] and before["edited"] is False

    r = post_json(port, f"/api/sessions/{sid}/edits", {"kind": "set_count", "set_index": 1, "reps": 5})
    assert r.status == 200 and r.json()["edit"]["kind"] == "set_count"
    after = _api(port, sid)
    assert [s["reps"] for s in after["sets"]] == [5, 4] and after["totals"]["reps"] == 9
    assert after["sets"][0]["edited"] is True and after["sets"][0]["reps_counted"] == 3
    assert "edited" not in after["sets"][1]
    assert after["reps"] == before["reps"]            # the measured reps are what they were
    assert after["sides"]["left"]["reps"] == 9
    row = next(r for r in http(port, "/api/sessions").json()["sessions"] if r["session_id"] == sid)
    assert row["reps"] == 9 and row["edited"] is True
    page = http(port, f"/sessions/{sid}").text
    assert 'class="edited"' in page and "5*" in page and "counted live: 3" in page

    victim = before["reps"][-1]
    r = post_json(port, f"/api/sessions/{sid}/edits",
                  {"kind": "delete_rep", "set_index": victim["set_index"], "rep_in_set": victim["rep_in_set"]})
    assert r.status == 200
    after = _api(port, sid)
    assert [s["reps"] for s in after["sets"]] == [5, 3] and len(after["reps"]) == len(before["reps"]) - 1
    assert after["sets"][1]["edited"] is True and after["sets"][1]["reps_counted"] == 4
    assert [victim["set_index"], victim["rep_in_set"]] in after["deleted_reps"]

    assert post_json(port, f"/api/sessions/{sid}/edits/undo", {}).json()["undone"]["kind"] == "delete_rep"
    assert [s["reps"] for s in _api(port, sid)["sets"]] == [5, 4]
    assert post_json(port, f"/api/sessions/{sid}/edits/undo", {}).json()["undone"]["kind"] == "set_count"
    back = _api(port, sid)
    assert [s["reps"] for s in back["sets"]] == [3, 4] and back["edited"] is False
    r = post_json(port, f"/api/sessions/{sid}/edits/undo", {})
    assert r.status == 409 and r.json()["error"] == "no edit to undo in this session"

    assert _hashes(folder) == raw                      # the raw files were never rewritten
    log = json.loads((folder / EDITS).read_text())["edits"]
    assert [e["kind"] for e in log] == ["set_count", "delete_rep"] and all(e.get("undone_utc") for e in log)


def test_a_note_and_deleting_the_session_with_confirmation(session, web_server):
    root, folder = session
    port, sid = web_server(root).port, folder.name
    assert post_json(port, f"/api/sessions/{sid}/edits", {"kind": "note", "text": "knee <b>sore</b>"}).status == 200
    page = http(port, f"/sessions/{sid}").text
    assert "knee &lt;b&gt;sore&lt;/b&gt;" in page and "<b>sore</b>" not in page

    r = post_json(port, f"/api/sessions/{sid}/edits", {"kind": "delete_session"})
    assert r.status == 400 and "confirm" in r.json()["error"]
    assert post_json(port, f"/api/sessions/{sid}/edits", {"kind": "delete_session", "confirm": "delete"}).status == 200
    row = next(r for r in http(port, "/api/sessions").json()["sessions"] if r["session_id"] == sid)
    assert row["deleted"] is True
    listing = http(port, "/sessions").text
    assert '<li class="card">' not in listing and "<h2>Deleted</h2>" in listing
    assert "This session is deleted" in http(port, f"/sessions/{sid}").text
    assert folder.is_dir() and (folder / "samples.csv").exists()    # nothing removed
    post_json(port, f"/api/sessions/{sid}/edits/undo", {})
    assert '<li class="card">' in http(port, "/sessions").text
    assert read_edits(folder).notes[0]["text"] == "knee <b>sore</b>"


@pytest.mark.parametrize("body, why", [
    ({"kind": "set_count", "set_index": 1}, "reps must be a whole number"),
    ({"kind": "set_count", "set_index": 1, "reps": -1}, "reps must be 0..1000"),
    ({"kind": "set_count", "set_index": 1, "reps": 2.5}, "reps must be a whole number"),
    ({"kind": "set_count", "set_index": 1, "reps": True}, "reps must be a whole number"),
    ({"kind": "set_count", "set_index": 1, "reps": "1e999"}, "reps must be a whole number"),
    ({"kind": "set_count", "set_index": 9, "reps": 3}, "this session has no set 9"),
    ({"kind": "delete_rep", "set_index": 1, "rep_in_set": 99}, "no counted rep 99 in set 1"),
    ({"kind": "note", "text": "   "}, "a note needs its text"),
    ({"kind": "note", "text": "x" * 2001}, "at most 2000 characters"),
    ({"kind": "explode"}, "kind must be one of"),
    ({"kind": "note", "text": "hi", "extra": 1}, "note takes text; not extra"),
    ([1, 2], "an edit is a JSON object"),
])
def test_bad_edits_are_400_with_one_line_and_change_nothing(session, web_server, body, why):
    root, folder = session
    port = web_server(root).port
    r = post_json(port, f"/api/sessions/{folder.name}/edits", body)
    assert r.status == 400 and why in r.json()["error"] and "\n" not in r.json()["error"]
    assert not (folder / EDITS).exists()


def test_malformed_bodies_and_unknown_sessions(session, web_server):
    root, folder = session
    port = web_server(root).port
    url = f"/api/sessions/{folder.name}/edits"
    assert http(port, url, "POST", {"Content-Type": "application/json"}, b"{not json").status == 400
    assert http(port, url, "POST", {"Content-Type": "application/json"}, b"\xff\xfe").status == 400
    assert http(port, url, "POST", {"Content-Type": "application/json"}, b"[" * 100_000).status in (400, 413)
    assert http(port, url, "POST", {"Content-Type": "text/plain"}, b"{}").status == 415
    assert post_json(port, "/api/sessions/nope/edits", {"kind": "note", "text": "x"}).status == 404
    assert post_json(port, "/api/sessions/..%2F..%2Fetc/edits", {"kind": "note", "text": "x"}).status == 404
    assert not (folder / EDITS).exists()


def test_edits_need_the_token(session, web_server):
    root, folder = session
    port = web_server(root, token="s3cret").port
    url = f"/api/sessions/{folder.name}/edits"
    assert post_json(port, url, {"kind": "note", "text": "x"}).status == 401
    assert post_json(port, url, {"kind": "note", "text": "x"}, {"Authorization": "Bearer s3cret"}).status == 200


def test_an_unreadable_edits_file_reads_as_no_edits(session, web_server):
    root, folder = session
    (folder / EDITS).write_text('{"edits": [{"kind": "set_count", "set_index": "x"}, 7, {"kind": "note", "text": "ok"}]')
    port = web_server(root).port
    assert _api(port, folder.name)["notes"] == []          # not JSON at all: no edits
    (folder / EDITS).write_text('{"edits": [{"kind": "set_count", "set_index": "x"}, 7, {"id": 3, "kind": "note", "text": "ok"}]}')
    view = _api(port, folder.name)
    assert [n["text"] for n in view["notes"]] == ["ok"] and [s["reps"] for s in view["sets"]] == [3, 4]


def test_the_edit_command_does_the_same_from_a_shell(session):
    import subprocess
    import sys
    _, folder = session
    cli = [sys.executable, "-m", "firmware_bridge.cli.hingemarch", "edit", str(folder)]
    run = lambda *a: subprocess.run([*cli, *a], capture_output=True, text=True, timeout=60)   # noqa: E731
    r = run("--set-count", "1=6")
    assert r.returncode == 0 and "10 reps in 2 sets as edited" in r.stdout
    shown = json.loads(run("--show").stdout)
    assert [s["reps"] for s in shown["sets"]] == [6, 4] and shown["edited"] is True
    r = run("--delete-session")
    assert r.returncode == 2 and "needs --yes" in r.stderr and r.stderr.count("\n") == 1
    assert run("--delete-session", "--yes").returncode == 0 and read_edits(folder).deleted
    assert run("--undo").returncode == 0 and not read_edits(folder).deleted
    r = run("--set-count", "9=3")
    assert r.returncode == 2 and "this session has no set 9" in r.stderr
    r = run("--set-count", "1=x")
    assert r.returncode == 2 and "expected SET=REPS" in r.stderr
