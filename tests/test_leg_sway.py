"""Balance sway from the lifted leg (analysis.sway: leg, per_set, foottaps): the measures on synthetic
tilt with known answers, and the pipeline on simulated sets with known sway. docs/sway.md."""
from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.errors import DataError
from analysis.events import RepEvent, SetEvent
from analysis.pipeline import Pipeline, analyze
from analysis.sway.foottaps import foot_taps
from analysis.sway.leg import BURST, STILL, TiltRing, leg_sway
from analysis.units import STANDARD_GRAVITY_MPS2 as G
from imu.sim import simulate_session

FS = 50.0
AXIS = np.array([0.0, 1.0, 0.0])                 # the movement axis, in sensor axes


def tilt_window(seconds: float, frontal_deg, sagittal_deg=None, still=None, burst=None):
    """Arrays as TiltRing.window gives them, from functions of time."""
    t = np.arange(1, int(seconds * FS) + 1) / FS
    fr = frontal_deg(t)
    sa = np.zeros_like(t) if sagittal_deg is None else sagittal_deg(t)
    flags = np.zeros(t.size, np.uint8)
    if still is not None:
        flags |= np.where(still(t), STILL, 0).astype(np.uint8)
    if burst is not None:
        flags |= np.where(burst(t), BURST, 0).astype(np.uint8)
    return t, fr, sa, np.gradient(sa, t), flags


def sine(amp_deg: float, f_hz: float):
    return lambda t: amp_deg * np.sin(2 * np.pi * f_hz * t)


def test_ring_keeps_the_last_seconds_in_time_order_with_fixed_memory():
    ring = TiltRing(FS, ring_s=2.0)               # 100 buckets
    up = np.array([0.0, math.sin(math.radians(3.0)), math.cos(math.radians(3.0))])
    for k in range(1, 251):                       # 5 s: wraps round twice and a half
        ring.push(k / FS, up * G, np.zeros(3), up, AXIS, float(k))
    t, frontal, sagittal, inplane, flags = ring.window(0.0, 10.0)
    assert np.allclose(t, np.arange(151, 251) / FS)           # only the last 2 s, oldest first
    assert np.allclose(sagittal, np.arange(151, 251))
    assert np.allclose(frontal, 3.0, atol=1e-4) and np.all(flags == STILL)
    t, *_ = ring.window(3.5, 4.0)
    assert np.allclose(t, np.arange(175, 201) / FS)           # a stretch across the wrap point


def test_frontal_tilt_sway_is_its_rms_and_bursts_are_masked():
    """A 1.5 deg, 0.3 Hz frontal sway gives sway_deg = 1.5/sqrt(2); a 20 deg jolt flagged as a burst
    of excessive motion changes nothing, the same jolt unflagged dominates."""
    quiet = tilt_window(40.0, sine(1.5, 0.3))
    got = leg_sway(*quiet, FS)
    assert got["sway_deg"] == pytest.approx(1.5 / math.sqrt(2), rel=0.05)
    assert got["frontal"]["mean_velocity_dps"] == pytest.approx(4 * 1.5 * 0.3, rel=0.05)
    assert got["frontal"]["f50_hz"] == pytest.approx(0.3, abs=0.03)   # 40 s: spectra are measured
    jolt = lambda t: sine(1.5, 0.3)(t) + np.where((t > 20) & (t < 20.5), 20.0, 0.0)
    masked = leg_sway(*tilt_window(40.0, jolt, burst=lambda t: (t > 20) & (t < 20.5)), FS)
    assert masked["sway_deg"] == pytest.approx(got["sway_deg"], rel=0.05)
    assert masked["frontal"]["masked_s"] == pytest.approx(0.5 + 2 * 0.2, abs=0.05)
    assert leg_sway(*tilt_window(40.0, jolt), FS)["sway_deg"] > 1.5 * got["sway_deg"]


def test_slow_drift_of_the_frontal_tilt_is_not_sway():
    """A slow 6 deg drift (fusion settling, strap creeping) over the set is filtered out."""
    drift = leg_sway(*tilt_window(60.0, lambda t: sine(1.0, 0.4)(t) + 0.1 * t), FS)
    assert drift["sway_deg"] == pytest.approx(1.0 / math.sqrt(2), rel=0.1)


def test_holds_give_the_2d_measures_of_both_tilts():
    """Still 2 s out of every 4 s, the sagittal tilt swaying 0.8 deg at 1 Hz while still: the holds'
    AP RMS about each hold's mean and their sagittal speed follow; moving stretches are left out."""
    still = lambda t: (t % 4.0) < 2.0
    sagittal = lambda t: np.where(still(t), sine(0.8, 1.0)(t), 60.0 * np.sin(np.pi * (t % 4.0 - 2.0) / 2))
    got = leg_sway(*tilt_window(40.0, sine(0.5, 0.2), sagittal, still), FS)
    holds = got["holds"]
    assert holds["count"] == 10 and holds["total_s"] == pytest.approx(10 * (2.0 - 0.12), abs=0.1)
    assert holds["rms_ap_deg"] == pytest.approx(0.8 / math.sqrt(2), rel=0.1)
    assert got["sway_dps"] == holds["mean_velocity_ap_dps"] == pytest.approx(4 * 0.8 * 1.0, rel=0.1)
    assert holds["centroid_frequency_ap_hz"] is None           # holds are far shorter than 20 s
    assert leg_sway(*tilt_window(40.0, sine(0.5, 0.2), sagittal), FS)["holds"]["count"] == 0


def test_malformed_window_is_a_clear_error():
    t, fr, sa, rate, flags = tilt_window(5.0, sine(1.0, 0.5))
    with pytest.raises(DataError, match="same length"):
        leg_sway(t, fr[:-1], sa, rate, flags, FS)
    with pytest.raises(DataError, match="positive"):
        leg_sway(t, fr, sa, rate, flags, 0.0)


def stands(pattern: list[tuple[str, float, float]]):
    """A set as stands at the standing pose (sway rate ``amp`` dps) and excursions to +-60 deg."""
    t0, ts, ang, rate = 0.0, [], [], []
    for kind, seconds, amp in pattern:
        t = t0 + np.arange(int(seconds * FS)) / FS
        if kind == "stand":
            r = amp * np.sin(2 * np.pi * 0.4 * t + 1.0)
            a = np.cumsum(r) / FS
        else:
            sign = -1.0 if kind == "hinge" else 1.0
            a = sign * 60.0 * np.sin(np.pi * (t - t0) / seconds)
            r = np.gradient(a, t)
        ts.append(t), ang.append(a), rate.append(r)
        t0 += seconds
    return np.concatenate(ts), np.concatenate(ang), np.concatenate(rate)


def test_foot_touch_downs_are_the_quiet_stands():
    rep = [("hinge", 1.5, 0), ("march", 1.5, 0), ("stand", 0.8, 5.0)]
    quiet_long = [("hinge", 1.5, 0), ("march", 1.5, 0), ("stand", 1.6, 0.2)]
    mid_rep = [("hinge", 1.5, 0), ("stand", 0.6, 1.0), ("march", 1.5, 0), ("stand", 0.8, 5.0)]
    t, ang, rate = stands(rep * 3 + quiet_long + rep * 2 + mid_rep + rep * 2)
    taps = foot_taps(t, ang, rate, FS)
    assert len(taps) == 2
    assert taps[0] == pytest.approx(3 * 3.8 + 3.0, abs=0.3)            # the long quiet stand
    assert taps[1] == pytest.approx(3 * 3.8 + 4.6 + 2 * 3.8 + 1.5, abs=0.3)   # back from a hinge, then march
    # a still stand of ordinary length and sway, or a set with no other stand to compare, is no tap
    assert foot_taps(*stands(rep * 6), FS) == []
    assert foot_taps(*stands(quiet_long), FS) == []


def run_sets(seed: int, **options) -> tuple[list[SetEvent], list[RepEvent], object]:
    s = simulate_session(seed, rate_hz=100, include_distractions=False, rest_range_s=(25.0, 30.0), **options)
    events = analyze(s.block.t_s, s.block.accel_mps2, s.block.gyro_dps, placement=s.placement)
    return ([e for e in events if isinstance(e, SetEvent)], [e for e in events if isinstance(e, RepEvent)], s)


@pytest.mark.parametrize("placement", ["thigh", "shank"])
def test_more_body_sway_gives_a_higher_sway_deg(placement):
    """The same workout (seed) with whole-body sway 0.5 deg and 3 deg RMS, hip wobble held at 0.5 deg:
    every set's sway_deg orders them, and sits near the true level."""
    common = dict(n_sets=2, reps_per_set=[6, 6], placement=placement, wobble_range_deg=(0.5, 0.5))
    low, reps, _ = run_sets(8, sway_range_deg=(0.5, 0.5), **common)
    high, _, _ = run_sets(8, sway_range_deg=(3.0, 3.0), **common)
    assert [s.reps for s in low] == [s.reps for s in high] == [6, 6]
    for a, b in zip(low, high):
        assert a.sway_deg < 1.5 < b.sway_deg < 5.0, (a.sway_deg, b.sway_deg)
        assert b.sway["frontal"]["window_s"] == pytest.approx(b.end_s - b.start_s, abs=0.1)
        assert b.sway["holds"]["count"] > 0
        if placement == "thigh":   # on the shank a march barely turns it: slow marches pass as holds
            assert b.sway_dps > a.sway_dps
    assert all(r.sway_deg is not None and "frontal" in r.sway for r in reps)


def test_foot_taps_are_reported_per_set_and_do_not_break_the_count():
    """Taps after most reps: each set still counts exactly, and reports touch-downs near true ones."""
    sets, _, s = run_sets(12, n_sets=2, reps_per_set=[8, 8], foot_tap_prob=0.9, hold_range_s=(0.0, 0.5))
    k = s.stage.clock_factor
    assert [e.reps for e in sets] == [8, 8]
    for got, truth in zip(sets, s.truth.sets):
        true_taps = [x * k for x in truth.foot_tap_s if x <= truth.end_s]
        assert got.foot_taps == len(got.foot_tap_s) >= 2
        near = [x for x in got.foot_tap_s if min(abs(x - y) for y in true_taps) <= 1.0]
        assert len(near) >= 0.75 * len(got.foot_tap_s)


def test_live_state_and_undo_follow_the_open_set():
    s = simulate_session(5, rate_hz=100, n_sets=1, reps_per_set=[6], include_distractions=False)
    b, end = s.block, s.truth.sets[0].end_s * s.stage.clock_factor
    p = Pipeline()
    n = np.searchsorted(b.t_s, end + 1.0)
    reps = [e for e in p.feed(b.t_s[:n], b.accel_mps2[:n], b.gyro_dps[:n]) if isinstance(e, RepEvent)]
    assert len(reps) == 6 and p.state["sway_deg"] is not None
    p.undo_last_rep()
    (closed,) = p.new_set(float(b.t_s[n - 1]))
    # the set ends at the remaining last rep: its sway is the one measured then, not the undone rep's
    assert closed.reps == 5 and closed.end_s == reps[4].completed_s
    assert closed.sway["frontal"]["window_s"] == pytest.approx(reps[4].completed_s - reps[0].start_s, abs=0.1)
    assert p.state["sway_deg"] == closed.sway_deg and not p.state["in_set"]
