"""The side reaches the files: a session switched to the right leg after set 1 has each rep and set
on its side in reps.csv, sets.csv, the events and summary.json (per side); older files read alike."""
from __future__ import annotations

import csv
import json
import shutil

import pytest
from web_helpers import quiet_config, short_sim

from analysis.sides import asymmetry_pct, per_side
from firmware_bridge.mqtt.topics import Command
from firmware_bridge.service.loop import serve
from firmware_bridge.store.folder import read_reps, read_sets, summarize
from imu.sim import SimSource


def _switched_session(state, switch_to="right"):
    """Records short_sim (sets of 3 and 4 reps); ``cmd/side`` is sent in the rest after set 1.
    Returns (service, the events the service emitted, the simulated truth)."""
    sim = short_sim()
    first, second = sim.truth.sets
    switch_at = (first.end_s + second.start_s) / 2 * sim.stage.clock_factor
    events, sent = [], []

    def on_block(service):
        if not service.listeners or service.listeners[-1] is not listen:
            service.listeners.append(listen)
        s = service.session
        if s is not None and not sent and service.t_s - s.t0_s > switch_at:
            service.on_command(Command("side", switch_to))
            sent.append(service.t_s)

    def listen(kind, body):
        events.append((kind, body))

    service = serve(quiet_config(), SimSource(sim, speed=0), state, on_block=on_block)
    assert sent, "the side command was never sent"
    return service, events, sim.truth


@pytest.fixture(scope="module")
def switched(tmp_path_factory):
    return _switched_session(tmp_path_factory.mktemp("sides"))


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_each_rep_and_set_row_carries_the_side_it_was_done_on(switched):
    service, _, truth = switched
    folder = service.last_folder
    reps = _rows(folder / "reps.csv")
    assert reps and all(r["side"] in ("left", "right") for r in reps)
    by_set = {}
    for r in reps:
        by_set.setdefault(int(r["set_index"]), set()).add(r["side"])
    assert by_set == {1: {"left"}, 2: {"right"}}
    sets = _rows(folder / "sets.csv")
    assert [(int(s["set_index"]), s["side"], int(s["reps"])) for s in sets] == [
        (1, "left", truth.sets[0].reps), (2, "right", truth.sets[1].reps)]
    # the samples header keeps the side the session started on
    assert '# side: "left"' in (folder / "samples.csv").read_text().splitlines()[:14]


def test_summary_has_the_figures_per_side(switched):
    service, _, truth = switched
    summary = json.loads((service.last_folder / "summary.json").read_text())
    assert summary["side"] == "left"
    assert [(s["set_index"], s["side"]) for s in summary["sets"]] == [(1, "left"), (2, "right")]
    sides = summary["sides"]
    assert list(sides) == ["left", "right"]
    reps = read_reps(service.last_folder)
    for side, truth_set in zip(("left", "right"), truth.sets):
        mine = [r for r in reps if r["side"] == side]
        assert sides[side]["sets"] == 1 and sides[side]["reps"] == len(mine) == truth_set.reps
        assert sides[side]["mean_hinge_depth_deg"] == pytest.approx(
            sum(float(r["hinge_depth_deg"]) for r in mine) / len(mine), abs=0.06)
        assert sides[side]["mean_duration_s"] == pytest.approx(
            sum(float(r["duration_s"]) for r in mine) / len(mine), abs=0.006)
    # the summary published at the end is the file's
    assert service.last_summary["sides"] == sides


def test_rep_and_set_events_carry_the_side_once(switched):
    _, events, _ = switched
    reps = [b for k, b in events if k == "rep"]
    sets = [b for k, b in events if k == "set"]
    assert {b["set_index"]: b["side"] for b in reps} == {1: "left", 2: "right"}
    assert [(b["set_index"], b["side"]) for b in sets] == [(1, "left"), (2, "right")]
    ended = next(b for k, b in events if k == "session" and b["phase"] == "ended")
    assert set(ended["summary"]["sides"]) == {"left", "right"}


def test_a_side_switch_mid_set_leaves_the_set_on_its_first_reps_side(tmp_path):
    """The set belongs to the side active at its first rep: a switch during set 2 moves set 3 only."""
    from firmware_bridge.service.live import LiveSession
    cfg = quiet_config()
    session = LiveSession(cfg, "left", short_sim().info, None, 0.0)
    assert session.side_of(1) == "left"
    session.side = "right"
    assert session.side_of(1) == "left" and session.side_of(2) == "right"


def test_files_without_the_side_column_read_as_the_starting_side(switched, tmp_path):
    service, _, truth = switched
    old = tmp_path / service.last_folder.name
    shutil.copytree(service.last_folder, old)
    for name in ("reps.csv", "sets.csv"):
        rows = _rows(old / name)
        cols = [c for c in rows[0] if c != "side"]
        with open(old / name, "w", newline="") as f:
            w = csv.DictWriter(f, cols, extrasaction="ignore", lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
    assert "side" not in read_sets(old)[0]
    summary = summarize(old)
    assert {s["side"] for s in summary["sets"]} == {"left"}
    assert list(summary["sides"]) == ["left"] and summary["sides"]["left"]["reps"] == truth.total_reps


def test_per_side_weights_by_reps_and_asymmetry_is_percent_of_the_larger():
    sets = [{"side": "right", "reps": 2, "mean_hinge_depth_deg": 60.0, "mean_march_height_deg": 70.0,
             "mean_duration_s": 3.0, "sway_deg": 2.0},
            {"side": "left", "reps": 1, "mean_hinge_depth_deg": 90.0, "mean_march_height_deg": 80.0,
             "mean_duration_s": 2.0, "sway_deg": None},
            {"side": "left", "reps": 3, "mean_hinge_depth_deg": 70.0, "mean_march_height_deg": 80.0,
             "mean_duration_s": 4.0, "sway_deg": None},
            {"side": "left", "reps": 0}]
    out = per_side(sets)
    assert list(out) == ["left", "right"]
    assert out["left"] == {"sets": 2, "reps": 4, "mean_hinge_depth_deg": 75.0, "mean_march_height_deg": 80.0,
                           "mean_duration_s": 3.5, "mean_sway_deg": None}
    assert out["right"]["mean_sway_deg"] == 2.0
    assert asymmetry_pct(75.0, 60.0) == 20.0 and asymmetry_pct(60.0, 75.0) == 20.0
    assert asymmetry_pct(0.0, 0.0) is None and asymmetry_pct(None, 3.0) is None
