"""The demo's status line fits the terminal: it never wraps, so each redraw stays on its line."""
from __future__ import annotations

import pytest

from firmware_bridge.cli.demo import status_line

STATE = {"side": "right", "set_index": 2, "reps_in_set": 11,
         "last_rep": {"hinge_depth_deg": 71.4, "march_height_deg": 80.2, "duration_s": 3.1}}


@pytest.mark.parametrize("columns", [20, 40, 60, 80, 90, 100, 200])
def test_the_line_is_shorter_than_the_terminal(columns):
    line = status_line(STATE, 30.0, 120.0, columns)
    assert 0 < len(line) <= columns - 1
    assert line.startswith("right set 2  reps 11"[: columns - 1])


def test_a_wide_terminal_shows_the_whole_bar_and_progress():
    line = status_line(STATE, 30.0, 120.0, 200)
    assert line.endswith("[######------------------]  25%")
    assert "hinge 71 deg, march 80 deg, 3.1 s" in line
