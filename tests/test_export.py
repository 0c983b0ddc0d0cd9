"""Exports, as edited: a FIT strength-training activity that Garmin's own FIT SDK decodes (CRCs
checked) with each set's reps, start and duration; one CSV row per set across an athlete's
sessions; from the command line and as downloads on the session page."""
from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
from datetime import datetime

import pytest
from garmin_fit_sdk import Decoder, Stream
from test_side_files import _switched_session
from web_helpers import http, post_json

from firmware_bridge.store.edits import add_edit
from firmware_bridge.store.view import session_view

CLI = [sys.executable, "-m", "firmware_bridge.cli.hingemarch", "export"]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    service, _, _ = _switched_session(tmp_path_factory.mktemp("export"))
    return service.last_folder


@pytest.fixture
def folder(recorded, tmp_path):
    copy = tmp_path / "sessions" / recorded.name
    shutil.copytree(recorded, copy)
    return copy


def _decode(data: bytes) -> dict:
    check = Decoder(Stream.from_byte_array(bytearray(data)))
    assert check.is_fit() and check.check_integrity()          # header and file CRCs
    messages, errors = Decoder(Stream.from_byte_array(bytearray(data))).read()
    assert errors == []
    return messages


def test_the_fit_activity_has_each_set_as_edited(folder, tmp_path):
    add_edit(folder, {"kind": "set_count", "set_index": 2, "reps": 9})
    view = session_view(folder)
    out = tmp_path / "s.fit"
    r = subprocess.run([*CLI, str(folder), "--format", "fit", "--out", str(out)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    msgs = _decode(out.read_bytes())
    (session,) = msgs["session_mesgs"]
    assert (session["sport"], session["sub_sport"]) == ("training", "strength_training")
    assert msgs["file_id_mesgs"][0]["type"] == "activity" and len(msgs["activity_mesgs"]) == 1
    start = datetime.fromisoformat(view["start_utc"].replace("Z", "+00:00"))
    assert session["start_time"] == start
    assert session["total_elapsed_time"] == pytest.approx(view["duration_s"], abs=0.002)
    active = [m for m in msgs["set_mesgs"] if m["set_type"] == "active"]
    assert [m["repetitions"] for m in active] == [s["reps"] for s in view["sets"]] == [3, 9]
    for m, s in zip(active, view["sets"]):
        assert m["duration"] == pytest.approx(s["end_s"] - s["start_s"], abs=0.002)
        assert abs((m["start_time"] - start).total_seconds() - s["start_s"]) <= 0.5
    rests = [m for m in msgs["set_mesgs"] if m["set_type"] == "rest"]
    assert rests and all("repetitions" not in m for m in rests)
    assert [m["message_index"] for m in msgs["set_mesgs"]] == list(range(len(msgs["set_mesgs"])))


def test_a_damaged_fit_file_fails_the_sdks_check(folder, tmp_path):
    out = tmp_path / "s.fit"
    subprocess.run([*CLI, str(folder), "--format", "fit", "--out", str(out)], check=True, capture_output=True, timeout=60)
    data = bytearray(out.read_bytes())
    data[40] ^= 0x01
    assert not Decoder(Stream.from_byte_array(data)).check_integrity()


def test_the_sets_csv_has_a_row_per_set_across_the_athletes_sessions(folder):
    other = folder.parent / "20250101T080000Z-aaaa"            # an older session of the same athlete
    shutil.copytree(folder, other)
    gone = folder.parent / "20250102T080000Z-bbbb"
    shutil.copytree(folder, gone)
    add_edit(gone, {"kind": "delete_session", "confirm": "delete"})
    add_edit(other, {"kind": "delete_rep", "set_index": 1, "rep_in_set": 2})
    add_edit(other, {"kind": "note", "text": "tired, knee ok"})
    r = subprocess.run([*CLI, str(folder), "--format", "csv", "--out", "-"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [(x["session_id"], x["set_index"], x["side"], x["reps"], x["edited"]) for x in rows] == [
        (other.name, "1", "left", "2", "1"), (other.name, "2", "right", "4", "0"),
        (folder.name, "1", "left", "3", "0"), (folder.name, "2", "right", "4", "0")]
    assert rows[0]["reps_counted"] == "3" and rows[0]["notes"] == "tired, knee ok"
    by_folder = subprocess.run([*CLI, str(folder.parent), "--format", "csv", "--athlete", "athlete", "--out", "-"],
                               capture_output=True, text=True, timeout=60)
    assert by_folder.stdout == r.stdout


@pytest.mark.parametrize("args, why", [
    (["--format", "fit", "--out", "-"], "a FIT file is binary"),
    (["--format", "csv", "--athlete", "nobody", "--out", "-"], "no sessions of athlete 'nobody'"),
])
def test_export_problems_are_one_line(folder, args, why):
    r = subprocess.run([*CLI, str(folder), *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and why in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_exports_download_from_the_session_page(folder, web_server):
    port = web_server(folder.parent).port
    page = http(port, f"/sessions/{folder.name}").text
    assert f'href="/sessions/{folder.name}/export.fit"' in page and f'href="/sessions/{folder.name}/sets.csv"' in page
    post_json(port, f"/api/sessions/{folder.name}/edits", {"kind": "set_count", "set_index": 1, "reps": 8})
    fit = http(port, f"/sessions/{folder.name}/export.fit")
    assert fit.status == 200 and fit.headers["Content-Disposition"] == f'attachment; filename="{folder.name}.fit"'
    assert [m["repetitions"] for m in _decode(fit.body)["set_mesgs"] if m["set_type"] == "active"] == [8, 4]
    sets = http(port, f"/sessions/{folder.name}/sets.csv")
    assert sets.status == 200 and sets.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(sets.text)))
    assert [(x["reps"], x["edited"]) for x in rows] == [("8", "1"), ("4", "0")]
