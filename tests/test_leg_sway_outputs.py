"""Sway in the outputs: the per-athlete baseline (analysis.sway.baseline, firmware_bridge.service.baseline),
the session files, the set event, the dashboard tile and ``analyze --json``."""
from __future__ import annotations

import csv
import json

import pytest

from analysis.errors import DataError
from analysis.sway.baseline import CHANGE_Z, compare, sway_baseline
from firmware_bridge.cli.hingemarch import main
from firmware_bridge.mqtt.topics import tile_values
from firmware_bridge.service import config
from firmware_bridge.service.baseline import sway_history
from firmware_bridge.service.live import Service
from firmware_bridge.store.recorder import SET_COLUMNS
from imu.sim import SimSource, simulate_session


def test_baseline_needs_a_few_sessions_and_ignores_an_odd_one():
    assert sway_baseline([[1.0, 1.1], [0.9, 1.0]]) is None                    # two sessions: too few
    steady = [[1.0, 1.1, 0.9], [1.05, 0.95, 1.0], [1.1, 1.0, 0.9]]
    b = sway_baseline(steady)
    assert b.typical_deg == pytest.approx(1.0) and b.sessions == 3 and b.sets == 9
    odd = sway_baseline(steady + [[4.0, 5.0]])                                  # one bad day
    assert odd.typical_deg == pytest.approx(1.0) and odd.spread_deg < 2 * b.spread_deg
    assert sway_baseline([[1.0, None, 1.1], [None], [1.0, 0.9], [1.2, 1.1]]).sessions == 3   # unmeasured: skipped
    with pytest.raises(DataError, match="finite"):
        sway_baseline([[1.0], [float("nan")], [1.0]])


def test_a_real_change_is_beyond_the_athletes_own_spread():
    b = sway_baseline([[1.0, 1.2, 0.8], [1.1, 0.9, 1.0], [1.0, 1.05, 0.95]])
    within = compare(b, b.typical_deg + 0.5 * CHANGE_Z * b.spread_deg)
    assert within["change"] == "none" and 0 < within["z"] < CHANGE_Z
    worse, better = compare(b, 2.0), compare(b, 0.5)
    assert worse["change"] == "higher" and worse["ratio"] == pytest.approx(2.0, rel=0.01)
    assert better["change"] == "lower" and better["z"] < -CHANGE_Z
    flat = sway_baseline([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]])                 # no spread at all
    assert compare(flat, 1.03)["change"] == "none" and compare(flat, 1.2)["change"] == "higher"


def past_session(root, name: str, athlete: str, sway: list[float] | None) -> None:
    """A closed session folder as an older or this version wrote it (sway None: no sway columns)."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({"session_id": name, "athlete": athlete}))
    cols = SET_COLUMNS if sway is not None else SET_COLUMNS[:8]
    with open(folder / "sets.csv", "w", newline="") as f:
        w = csv.DictWriter(f, cols, restval="")
        w.writeheader()
        for i, x in enumerate(sway or [1.0]):
            w.writerow({"set_index": i + 1, "reps": 8, **({"sway_deg": x} if sway is not None else {})})


class Events:
    """Stands in for the MQTT publisher: keeps every event."""

    def __init__(self):
        self.events, self.states = [], []
        self.problems: list[str] = []       # the link's own: none here

    def event(self, kind, body, session_id, seq):
        self.events.append((kind, body))

    def update(self, state):
        self.states.append(state)

    def reply(self, *args):
        pass

    def set_error(self, message):
        pass


def test_recorded_session_has_sway_and_is_compared_with_the_athletes_past(tmp_path):
    sessions = tmp_path / "sessions"
    for i, sway in enumerate([[2.0, 2.2], [1.8, 2.1, 2.0], None, [2.1, 1.9]]):
        past_session(sessions, f"20261101T0{i}0000Z-aaaa", "anna", sway)
    past_session(sessions, "20261102T000000Z-bbbb", "ben", [9.0, 9.5, 9.0])
    assert sway_history(sessions, "anna") == [[2.0, 2.2], [1.8, 2.1, 2.0], [2.1, 1.9]]   # old format skipped
    cfg = config.defaults().updated("session", athlete="anna")
    sim = simulate_session(4, rate_hz=100, n_sets=2, reps_per_set=[6, 6], include_distractions=False,
                           rest_range_s=(25.0, 30.0), sway_range_deg=(0.5, 0.6), wobble_range_deg=(0.5, 0.5))
    out = Events()
    service = Service(cfg, SimSource(sim, speed=0), out, sessions, "sim", 0)
    for block in service.source.blocks():
        service.feed(block)
    service.finish()
    sets = [body for kind, body in out.events if kind == "set"]
    assert len(sets) == 2
    for s in sets:
        assert 0 < s["sway_deg"] < 1.9 and s["sway"]["frontal"]["rms_deg"] == s["sway_deg"]
        b = s["sway_baseline"]
        assert (b["typical_deg"], b["sessions"], b["sets"]) == (2.0, 3, 7)      # anna's, not ben's
        assert b["change"] == "lower" and b["z"] < -CHANGE_Z                     # far steadier than usual
    assert tile_values(out.states[-1])["sway"] == f"{sets[-1]['sway_deg']:.2f}"
    folder = service.last_folder
    rows = list(csv.DictReader(open(folder / "sets.csv")))
    assert list(rows[0]) == list(SET_COLUMNS)
    assert [float(r["sway_deg"]) for r in rows] == [s["sway_deg"] for s in sets]
    assert [int(r["foot_taps"]) for r in rows] == [s["foot_taps"] for s in sets]
    reps = list(csv.DictReader(open(folder / "reps.csv")))
    assert len(reps) == 12 and all(float(r["sway_deg"]) > 0 for r in reps)
    summary = json.loads((folder / "summary.json").read_text())
    assert [s["sway_deg"] for s in summary["sets"]] == [s["sway_deg"] for s in sets]
    # the next session of anna's counts this one too
    assert sway_history(sessions, "anna")[-1] == [s["sway_deg"] for s in sets]


def test_analyze_json_adds_sway_fields(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["simulate", "--seed", "3", "--sets", "1", "--reps", "6", "--fixed-reps", "--rate-hz", "50",
                 "--no-distractions", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["analyze", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (s,) = doc["sets"]
    assert s["reps"] == 6 and s["sway_deg"] > 0 and s["foot_taps"] == len(s["foot_tap_s"])
    assert {"frontal", "holds"} <= set(s["sway"]) and s["sway"]["holds"]["count"] >= 0
    assert all(r["sway_deg"] > 0 for r in s["rep_metrics"])
    assert main(["analyze", str(out)]) == 0
    assert f"{s['sway_deg']:.2f}" in capsys.readouterr().out
