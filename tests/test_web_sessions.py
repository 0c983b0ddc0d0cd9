"""The sessions pages, downloads, zip and report, and their JSON API, on folders the real service
recorded (finished, left open, with sway, with a broken samples file, none at all)."""
from __future__ import annotations

import csv
import io
import json
import re
import shutil
import tracemalloc
import zipfile

import pytest
from web_helpers import http, read_streamed, record_session

from firmware_bridge.store.folder import read_reps


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """(sessions folder, the one finished session in it)."""
    state = tmp_path_factory.mktemp("web-sessions")
    folder = record_session(state)
    return state / "sessions", folder


def test_list_shows_date_duration_sets_reps_and_files(recorded, web_server):
    sessions, folder = recorded
    summary = json.loads((folder / "summary.json").read_text())
    port = web_server(sessions).port
    api = http(port, "/api/sessions")
    assert api.status == 200 and api.headers["Cache-Control"] == "no-store"
    (row,) = api.json()["sessions"]
    assert row["session_id"] == folder.name and row["complete"] is True
    assert (row["reps"], row["sets"]) == (summary["totals"]["reps"], summary["totals"]["sets"]) == (7, 2)
    assert row["duration_s"] == summary["duration_s"] and row["start_utc"] == summary["start_utc"]
    assert {f["name"]: f["size_bytes"] for f in row["files"]} == {
        p.name: p.stat().st_size for p in folder.iterdir()}
    page = http(port, "/sessions")
    assert page.status == 200 and page.headers["Cache-Control"] == "no-cache"
    html = page.text
    date = f"{summary['start_utc'][:10]} {summary['start_utc'][11:16]} UTC"
    assert date in html and "<b>7</b> reps" in html and "<b>2</b> sets" in html
    for f in row["files"]:
        assert f'href="{f["url"]}"' in html
    assert f'href="/sessions/{folder.name}/zip"' in html


def test_each_file_downloads_exactly_with_validators_and_ranges(recorded, web_server):
    sessions, folder = recorded
    port = web_server(sessions).port
    for path in folder.iterdir():
        url = f"/sessions/{folder.name}/files/{path.name}"
        r = http(port, url)
        assert r.status == 200 and r.body == path.read_bytes()
        assert r.headers["Content-Disposition"] == f'attachment; filename="{folder.name}-{path.name}"'
        assert r.headers["Content-Type"].startswith("text/csv" if path.suffix == ".csv" else "application/json")
        assert r.headers["Cache-Control"] == "no-cache" and r.headers["ETag"]
        assert http(port, url, headers={"If-None-Match": r.headers["ETag"]}).status == 304
    samples = (folder / "samples.csv").read_bytes()
    part = http(port, f"/sessions/{folder.name}/files/samples.csv", headers={"Range": "bytes=1000-1999"})
    assert part.status == 206 and part.body == samples[1000:2000]
    head = http(port, f"/sessions/{folder.name}/files/samples.csv", method="HEAD")
    assert head.status == 200 and head.body == b"" and int(head.headers["Content-Length"]) == len(samples)


def test_zip_holds_every_file_and_is_streamed(recorded, web_server):
    sessions, folder = recorded
    r = http(web_server(sessions).port, f"/sessions/{folder.name}/zip")
    assert r.status == 200 and r.headers["Content-Type"] == "application/zip"
    assert r.headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in r.headers
    assert r.headers["Content-Disposition"] == f'attachment; filename="{folder.name}.zip"'
    z = zipfile.ZipFile(io.BytesIO(r.body))
    assert z.testzip() is None
    assert sorted(z.namelist()) == sorted(f"{folder.name}/{p.name}" for p in folder.iterdir())
    for p in folder.iterdir():
        assert z.read(f"{folder.name}/{p.name}") == p.read_bytes()


def test_large_files_go_out_without_being_held_in_memory(recorded, tmp_path, web_server):
    sessions = tmp_path / "sessions"
    big = sessions / "20261125T000000Z-big0"
    big.mkdir(parents=True)
    row = b"12.345678,0.12345,-9.81000,0.54321,12.3456,-65.4321,0.1234\n"
    with open(big / "samples.csv", "wb") as f:
        for _ in range(40):
            f.write(row * 8000)          # ~22 MB
    size = (big / "samples.csv").stat().st_size
    port = web_server(sessions).port
    for url in (f"/sessions/{big.name}/files/samples.csv", f"/sessions/{big.name}/zip"):
        tracemalloc.start()               # counts the server thread too: it runs in this process
        status, got = read_streamed(port, url)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert status == 200 and got >= (size if url.endswith(".csv") else 1)
        assert peak < size / 8, f"{url}: {peak} bytes held for a {size}-byte file"


def test_report_plots_leg_angle_with_rep_marks_depth_height(recorded, web_server):
    sessions, folder = recorded
    port = web_server(sessions).port
    api = http(port, f"/api/sessions/{folder.name}")
    assert api.status == 200 and api.headers["Cache-Control"] == "no-store"
    rep = api.json()
    counted = read_reps(folder)
    assert [(r["set_index"], r["rep_in_set"]) for r in rep["reps"]] == [
        (int(r["set_index"]), int(r["rep_in_set"])) for r in counted]
    assert [r["hinge_depth_deg"] for r in rep["reps"]] == [float(r["hinge_depth_deg"]) for r in counted]
    assert [s["set_index"] for s in rep["sets"]] == [1, 2]
    trace = rep["trace"]
    assert rep["trace_error"] is None and 100 < len(trace["t_s"]) <= 1500
    assert trace["t_s"] == sorted(trace["t_s"])
    angles = [a for a in trace["leg_angle_deg"] if a is not None]
    assert min(angles) < -30 and max(angles) > 30            # hinges behind, marches in front
    page = http(port, f"/sessions/{folder.name}")
    assert page.status == 200
    html = page.text
    # leg angle, depth/height, sway per set: each drawn for a phone and for a wider screen
    assert html.count('<svg class="chart narrow"') == html.count('<svg class="chart wide"') == 3
    assert len(re.findall(r'<line class="mark"', html)) == 2 * len(counted)
    assert len(re.findall(r'<rect class="depth"', html)) == len(re.findall(r'<rect class="height"', html)) == 2 * len(counted)
    reps_table = html[html.index('<table class="reps">'):]
    assert reps_table[:reps_table.index("</table>")].count("<tr><td>") == len(counted)
    assert "set 1 · rep 1" in html and "1.1<" not in html and "sway_deg" not in html


def test_sway_per_set_is_what_was_recorded_and_absent_from_older_sessions(recorded, tmp_path, web_server):
    sessions, folder = recorded
    recorded_sway = {s["set_index"]: s.get("sway_deg") for s in json.loads((folder / "summary.json").read_text())["sets"]}
    port = web_server(sessions).port
    sets = http(port, f"/api/sessions/{folder.name}").json()["sets"]
    assert {s["set_index"]: s.get("sway_deg") for s in sets} == recorded_sway
    bars = re.findall(r'<rect class="sway"[^>]*><title>set (\d+) · \w+: sway, RMS tilt ([\d.]+)</title>',
                      http(port, f"/sessions/{folder.name}").text)
    assert {int(i): float(v) for i, v in bars} == {i: v for i, v in recorded_sway.items() if v is not None}
    assert bars                                                 # the simulated sets do have sway
    older = tmp_path / "sessions" / folder.name                 # recorded before sway existed
    shutil.copytree(folder, older)
    with open(folder / "sets.csv") as f:
        rows = list(csv.reader(f))
    keep = [i for i, c in enumerate(rows[0]) if c in ("set_index", "start_s", "end_s", "reps", "mean_hinge_depth_deg",
                                                      "mean_march_height_deg", "mean_duration_s", "rep_times_s")]
    (older / "sets.csv").write_text("".join(",".join(r[i] for i in keep) + "\n" for r in rows))
    summary = json.loads((folder / "summary.json").read_text())
    summary["sets"] = [{k: v for k, v in s.items() if not k.startswith(("sway", "foot_tap"))} for s in summary["sets"]]
    (older / "summary.json").write_text(json.dumps(summary))
    port = web_server(older.parent).port
    assert all("sway_deg" not in s for s in http(port, f"/api/sessions/{folder.name}").json()["sets"])
    html = http(port, f"/sessions/{folder.name}").text
    assert html.count('<svg class="chart narrow"') == 2 and "No sway was measured in this session." in html


def test_the_second_sensor_sway_is_plotted_beside_the_leg_sway(recorded, tmp_path, web_server):
    sessions, folder = recorded
    copy = tmp_path / "second" / folder.name                    # as if recorded with a second sensor
    shutil.copytree(folder, copy)
    with open(folder / "sets.csv") as f:
        rows = list(csv.DictReader(f))
    for i, r in enumerate(rows):
        r.update(second_rms_ml_deg=f"{1.0 + i:.3f}", second_rms_ap_deg=f"{2.0 + i:.3f}")
    with open(copy / "sets.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    html = http(web_server(copy.parent).port, f"/sessions/{folder.name}").text
    bars = re.findall(r'<rect class="second"[^>]*><title>set (\d+) · \w+: second sensor ([\d.]+)</title>', html)
    assert {int(i): float(v) for i, v in bars} == {int(r["set_index"]): 1.5 + i for i, r in enumerate(rows)}
    assert len(re.findall(r'<rect class="sway"', html)) == 2 * len(rows)   # the leg's own sway stays (both sizes)


def test_a_session_left_open_is_listed_and_reported_from_its_files(recorded, tmp_path, web_server):
    sessions, folder = recorded
    copy = tmp_path / "sessions" / "20261125T235959Z-open"
    shutil.copytree(folder, copy)
    (copy / "summary.json").unlink()
    with open(copy / "samples.csv", "a") as f:
        f.write("999.5,0.1,0.2")                   # a row cut short by a crash
    lines = (copy / "samples.csv").read_text().splitlines()
    last_t = float(lines[-2].split(",")[0])
    port = web_server(copy.parent).port
    (row,) = http(port, "/api/sessions").json()["sessions"]
    assert row["complete"] is False and row["reps"] == len(read_reps(copy)) and row["sets"] == 2
    assert row["duration_s"] == round(last_t, 3) and row["start_utc"].startswith("20")
    assert "not closed" in http(port, "/sessions").text
    rep = http(port, f"/api/sessions/{copy.name}").json()
    assert rep["trace"]["skipped_rows"] == 1 and rep["trace"]["t_s"][-1] <= last_t
    assert [s["reps"] for s in rep["sets"]] == [3, 4]


def test_no_sessions_yet_and_unknown_ones(tmp_path, web_server):
    port = web_server(tmp_path / "not-there-yet").port
    assert http(port, "/api/sessions").json() == {"sessions": []}
    assert "No session recorded yet." in http(port, "/sessions").text
    missing = http(port, "/api/sessions/20261125T000000Z-none")
    assert missing.status == 404 and missing.json() == {"ok": False, "error": "no sessions recorded yet"}


def test_a_broken_samples_file_gives_a_report_without_the_trace(tmp_path, web_server):
    folder = tmp_path / "sessions" / "20261125T010203Z-bad0"
    folder.mkdir(parents=True)
    (folder / "samples.csv").write_text("time,x\n1,2\n")
    port = web_server(folder.parent).port
    rep = http(port, f"/api/sessions/{folder.name}")
    assert rep.status == 200 and rep.json()["trace"] is None
    assert rep.json()["trace_error"] == "samples.csv: not a hingemarch v1 samples file"
    page = http(port, f"/sessions/{folder.name}")
    assert page.status == 200 and "Leg angle not available: samples.csv: not a hingemarch v1" in page.text
