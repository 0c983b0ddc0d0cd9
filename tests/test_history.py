"""An athlete's history from the sessions on disk: each side per session, oldest first, as edited,
deleted sessions left out, other athletes' sessions not mixed in."""
from __future__ import annotations

import json
import shutil

from test_side_files import _switched_session
from web_helpers import http, post_json, record_session


def _retitle(folder, athlete, new_id):
    """A copy of a session folder as another session (another id, maybe another athlete)."""
    copy = folder.parent / new_id
    shutil.copytree(folder, copy)
    summary = json.loads((copy / "summary.json").read_text())
    summary.update(athlete=athlete, session_id=new_id, start_utc=f"{new_id[:4]}-{new_id[4:6]}-{new_id[6:8]}T08:00:00Z")
    (copy / "summary.json").write_text(json.dumps(summary))
    return copy


def test_history_has_each_side_per_session_as_edited(tmp_path, web_server):
    state = tmp_path / "state"
    left_only = record_session(state)
    switched, _, _ = _switched_session(state)
    root = state / "sessions"
    old = _retitle(left_only, "athlete", "20250101T080000Z-aaaa")
    other = _retitle(left_only, "someone else", "20250102T080000Z-bbbb")
    gone = _retitle(left_only, "athlete", "20250103T080000Z-cccc")
    port = web_server(root).port
    assert post_json(port, f"/api/sessions/{gone.name}/edits", {"kind": "delete_session", "confirm": "delete"}).status == 200
    assert post_json(port, f"/api/sessions/{old.name}/edits", {"kind": "set_count", "set_index": 2, "reps": 10}).status == 200

    hist = http(port, "/api/history/athlete").json()
    ids = [s["session_id"] for s in hist["sessions"]]
    assert ids == sorted(ids) and other.name not in ids and gone.name not in ids
    assert set(ids) == {old.name, left_only.name, switched.last_folder.name}
    by_id = {s["session_id"]: s for s in hist["sessions"]}
    assert list(by_id[left_only.name]["sides"]) == ["left"] and by_id[left_only.name]["totals"]["reps"] == 7
    assert by_id[old.name]["sides"]["left"]["reps"] == 13 and by_id[old.name]["edited"] is True
    assert {k: v["reps"] for k, v in by_id[switched.last_folder.name]["sides"].items()} == {"left": 3, "right": 4}

    page = http(port, "/history/athlete").text
    for sid in ids:
        assert f'href="/sessions/{sid}"' in page
    assert page.count('<polyline class="right"') == 0          # one session with a right side: a point, no line
    assert page.count('<circle class="right"') == 2 * 4          # 4 charts, each drawn in two sizes
    assert http(port, "/history").status == 200 and "someone else" in http(port, "/history").text
    assert http(port, "/api/history/nobody").status == 404
