"""The report's words: times in the device's time zone, the shank's "height" named for what it is
(and its 0 shown as not measured), reps labelled "set 2 · rep 11", no column names as labels."""
from __future__ import annotations

import os
import time

import pytest

from firmware_bridge.web.pages import clock, report_page, sets_table, when


@pytest.fixture
def vienna():
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Vienna"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ")
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_times_are_in_the_devices_time_zone(vienna):
    assert when("2026-11-25T09:30:00Z") == "2026-11-25 10:30 CET"
    assert when("2026-07-01T09:30:00Z") == "2026-07-01 11:30 CEST"
    assert clock("2026-11-25T09:30:00Z", 125.0) == "10:32"
    assert when(None) == "—" and when("garbage") == "—" and clock("2026-11-25T09:30:00Z", None) == "—"


def _rep(i, height):
    return {"set_index": 2, "rep_in_set": i, "completed_s": 10.0 * i, "start_s": 10.0 * i - 3, "duration_s": 3.0,
            "hinge_depth_deg": 60.0 + i, "march_height_deg": height, "sway_deg": None, "side": "right"}


def _page(placement):
    reps = [_rep(1, 0.0), _rep(2, 12.5)]
    sets = [{"set_index": 2, "side": "right", "start_s": 7.0, "end_s": 20.0, "reps": 2, "mean_hinge_depth_deg": 61.5,
             "mean_march_height_deg": 6.2, "mean_duration_s": 3.0}]
    sides = {"right": {"sets": 1, "reps": 2, "mean_hinge_depth_deg": 61.5, "mean_march_height_deg": 6.2,
                       "mean_duration_s": 3.0, "mean_sway_deg": None}}
    row = {"session_id": "20261125T093000Z-3f9a", "start_utc": "2026-11-25T09:30:00Z", "placement": placement,
           "reps": 2, "sets": 1, "files": [], "sides": ["right"]}
    return report_page(row, {"reps": reps, "sets": sets, "sides": sides, "trace": None}, "v")


def test_on_the_shank_height_is_shank_lift_and_zero_is_not_measured():
    html = _page("shank")
    assert "shank lift" in html and "march height" not in html
    reps = html[html.index('<table class="reps">'):]
    first = reps[reps.index("set 2 · rep 1<"):reps.index("set 2 · rep 2<")]
    assert "<td>—</td>" in first and "<td>0.0</td>" not in first
    assert "<td>12.5</td>" in reps
    assert "Only the right leg in this session" in html


def test_on_the_thigh_it_is_march_height_and_labels_are_for_people():
    html = _page("thigh")
    assert "march height" in html and "shank lift" not in html
    assert "set 2 · rep 2" in html and ">2.2<" not in html
    for column in ("sway_deg", "march_height_deg", "hinge_depth_deg"):
        assert column not in html


def test_a_set_of_another_exercise_shows_its_name_and_range_of_motion():
    sets = [{"set_index": 1, "side": "left", "start_s": 5.0, "reps": 10, "mean_hinge_depth_deg": 40.0,
             "mean_march_height_deg": 60.0, "mean_duration_s": 3.1, "exercise": "hinge_march", "mean_rom_deg": 100.0},
            {"set_index": 2, "side": "left", "start_s": 90.0, "reps": 8, "mean_hinge_depth_deg": 0.0,
             "mean_march_height_deg": 0.0, "mean_duration_s": 2.4, "exercise": "straight_leg_raise",
             "mean_rom_deg": 48.3}]
    html = sets_table(sets, "2026-12-01T10:00:00Z", "thigh")
    assert "<th>exercise</th>" in html and "straight leg raise" in html and "<td>48.3</td>" in html
    only_hinge = sets_table(sets[:1], "2026-12-01T10:00:00Z", "thigh")
    assert "exercise" not in only_hinge and "100.0" not in only_hinge
