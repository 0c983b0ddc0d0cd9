"""Each analysis stage on signals whose answer is known."""
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from analysis.health import Health
from analysis.legangle import LegAngle, _Pose
from analysis.orientation import StillBias, StillParams, Tilt, TiltParams
from analysis.reps import RepDetector, RepParams, knee_mps2
from analysis.sets import SetTracker
from analysis.sway.leg import BURST, TiltRing

G = 9.80665


def test_still_bias_takes_the_mean_rate_at_rest_but_not_a_slow_turn():
    rng = np.random.default_rng(0)
    sb = StillBias()
    for _ in range(100):
        sb.update(np.array([0, 0, G]) + rng.normal(0, 0.02, 3), np.array([1.5, -2.0, 0.5]) + rng.normal(0, 0.1, 3))
    np.testing.assert_allclose(sb.bias_dps, [1.5, -2.0, 0.5], atol=0.05)
    assert sb.still_s >= 1.0
    turning = StillBias()
    for i in range(100):                            # 10 deg/s about x: the accelerometer turns too
        ang = math.radians(10 * i / 50)
        turning.update(np.array([0, -G * math.sin(ang), G * math.cos(ang)]), np.array([10.0, 0, 0]))
    assert not turning.known


def test_still_bias_is_not_fooled_by_a_standing_body_swaying():
    """Standing still sways about 1 deg at under 1 Hz: a second's mean rate then holds up to ~2 deg/s
    of real turning. Taking off the turn the accelerometer saw leaves the bias within 0.2 deg/s."""
    bias = np.array([0.8, -0.4, 0.3])
    for phase in np.linspace(0, 2 * np.pi, 7)[:-1]:
        sb = StillBias()
        for i in range(200):
            t = i / 50
            ang = math.radians(1.0 * math.sin(2 * math.pi * 0.4 * t + phase))
            rate = 1.0 * 2 * math.pi * 0.4 * math.cos(2 * math.pi * 0.4 * t + phase)
            # turning by +ang about x, gravity in sensor axes is (0, sin, cos)
            sb.update(np.array([0, G * math.sin(ang), G * math.cos(ang)]), bias + [rate, 0, 0])
        assert sb.known
        np.testing.assert_allclose(sb.bias_dps[:2], bias[:2], atol=0.2)


def test_still_needs_no_calibration_and_learns_the_resting_magnitude():
    """An uncalibrated chip (5 % gain, 0.8 m/s² offset on one axis) is still when it is steady;
    what it reads at rest is learned, not assumed to be standard gravity."""
    rng = np.random.default_rng(1)
    for gain, offset in ((1.05, [0, 0, 0.8]), (0.95, [-0.8, 0, 0]), (1.04, [0, 0.6, 0])):
        sb = StillBias()
        up = Rotation.random(random_state=rng).apply([0, 0, G])
        reading = up * gain + offset
        for _ in range(150):
            sb.update(reading + rng.normal(0, 0.02, 3), np.array([3.0, -1.0, 2.0]) + rng.normal(0, 0.1, 3))
        assert sb.known and sb.windows >= 3
        assert sb.rest_mps2 == pytest.approx(np.linalg.norm(reading), abs=0.01)
        np.testing.assert_allclose(sb.bias_dps, [3.0, -1.0, 2.0], atol=0.05)



def test_rest_in_a_new_pose_is_still_even_when_an_offset_changes_its_magnitude():
    """An offset chip reads another magnitude at rest in another pose (the offset adds to gravity in
    sensor axes): 1.4 m/s² along x reads 8.4 m/s² with x up and 11.2 with x down, 25 % apart.
    After a strap re-done into the other pose, holding still for a few seconds is still again
    (it used to be refused for ever: no standing reference, a whole set lost); a steady second
    off the resting magnitude alone is not."""
    rng = np.random.default_rng(2)
    offset, gyro = np.array([1.4, 0.0, 0.0]), np.array([1.0, 0.5, -0.5])
    sb = StillBias()
    for _ in range(500):                                    # 10 s at rest, x up
        sb.update(np.array([G, 0, 0]) + offset + rng.normal(0, 0.02, 3), gyro + rng.normal(0, 0.1, 3))
    assert sb.rest_mps2 == pytest.approx(G + 1.4, abs=0.05)
    windows = sb.windows
    first = None
    for i in range(250):                                    # 5 s at rest, x down
        if sb.update(np.array([-G, 0, 0]) + offset + rng.normal(0, 0.02, 3), gyro + rng.normal(0, 0.1, 3)) \
                and first is None:
            first = i / 50
    assert first is not None and first <= 1.0 + StillParams().retrack_s + 0.5
    assert sb.windows > windows and sb.up @ [-1, 0, 0] > 0.999
    brief = StillBias()
    for _ in range(500):
        brief.update(np.array([G, 0, 0]) + offset + rng.normal(0, 0.02, 3), gyro)
    windows = brief.windows
    for _ in range(75):                                     # 1.5 s steady at 1.3 g: not rest
        brief.update(np.array([G * 1.3, 0, 0]) + offset + rng.normal(0, 0.02, 3), gyro)
    assert brief.windows == windows


def test_a_slow_turn_is_not_still_and_cannot_poison_the_bias():
    """A slow 6 deg tilt over a second (a leg lifted slowly, a drift) is steady in rate, direction
    and magnitude; it had been taken as the first still window, its rate as bias (5 deg/s off,
    measured), and a slow lift in a low exercise as rest. Its accelerometer turns 5 deg: not still.
    The next second really at rest gives the bias."""
    bias = np.array([1.0, 0.5, -0.5])
    sb = StillBias()
    for i in range(50):                                      # 6 deg/s about x for one second
        ang = math.radians(6.0 * i / 50)
        sb.update(np.array([0, G * math.sin(ang), G * math.cos(ang)]), bias + [6.0, 0, 0])
    assert not sb.known
    rest = np.array([0, G * math.sin(ang), G * math.cos(ang)])
    for _ in range(50):
        sb.update(rest, bias)
    assert sb.known
    np.testing.assert_allclose(sb.bias_dps, bias, atol=0.05)


@pytest.mark.parametrize("timeout_s", [2.0, 5.0])
def test_fusion_recovers_onto_the_accelerometer_after_the_configured_seconds(timeout_s):
    """After motion that left the tilt 40 deg off, acceleration rejection ignores the accelerometer
    for ``rejection_timeout_s``, then fusion recovers (it took 250 s when the setting was given in
    samples to an imufusion that reads seconds)."""
    tilt = Tilt(TiltParams(rejection_timeout_s=timeout_s))
    up = np.array([0.0, 0, 1])
    for _ in range(200):
        tilt.update(up * G, np.zeros(3))
    rejected_since = None
    for i in range(50):                                      # a turn the accelerometer never sees
        if float(tilt.update(up * G, np.array([40.0, 0, 0])) @ up) < math.cos(math.radians(10)):
            rejected_since = i if rejected_since is None else rejected_since
    for i in range(50 * 20):
        if float(tilt.update(up * G, np.zeros(3)) @ up) > math.cos(math.radians(38)):
            break
    recovered_s = (50 - rejected_since + i) / 50
    assert timeout_s - 0.5 <= recovered_s <= timeout_s + 0.5


def test_tilt_anchor_snaps_a_drifted_filter():
    tilt = Tilt()
    for _ in range(200):
        tilt.update(np.array([0, 0, G]), np.array([0.0, 0, 0]))
    for _ in range(50):                              # a fake 90 deg turn the accelerometer never saw
        tilt.update(np.array([0, 0, G]), np.array([90.0, 0, 0]))
    up = np.array([0.0, 0, 1])
    assert tilt.anchor(up) and float(tilt.update(up * G, np.zeros(3)) @ up) > 0.999
    assert not tilt.anchor(up)


def test_leg_angle_finds_the_axis_of_any_mount():
    rng = np.random.default_rng(4)
    for _ in range(5):
        mount = Rotation.random(random_state=rng)
        leg = LegAngle()
        axis_s = mount.inv().apply([0, 1, 0])        # hip axis in sensor coordinates
        up0 = mount.inv().apply([0, 0, 1])
        leg.update(up0, np.zeros(3), still_s=1.0)    # standing still: the reference
        got = []
        for i in range(400):                          # +-70 deg swings at 0.5 Hz
            ang = 70 * math.sin(2 * math.pi * 0.5 * i / 50)
            rate = 70 * 2 * math.pi * 0.5 * math.cos(2 * math.pi * 0.5 * i / 50)
            up = (mount.inv() * Rotation.from_rotvec([0, -math.radians(ang), 0])).apply([0, 0, 1])
            got.append((ang,) + leg.update(up, rate * axis_s, still_s=0.0))
        got = np.array(got[100:])
        assert abs(abs(leg.axis @ axis_s) - 1) < 1e-3
        sign = np.sign(np.corrcoef(got[:, 0], got[:, 1])[0, 1])
        np.testing.assert_allclose(sign * got[:, 1], got[:, 0], atol=0.5)
        np.testing.assert_allclose(sign * got[:, 2], 70 * 2 * math.pi * 0.5 *
                                   np.cos(2 * math.pi * 0.5 * np.arange(100, 400) / 50), atol=1e-6)


def test_the_swing_acceleration_reads_how_far_above_the_sensor_the_leg_turns():
    """At a swing's onset (no speed yet) a leg turning about the hip, r above the sensor, accelerates
    the sensor r x the angular acceleration across the leg in the movement plane, and nothing along
    it: ``swing_mps2`` reads r per rad/s^2 about the learned axis, whatever the mount and the axis sign
    (what tells a hinge, turning about the hip, from a march's tilt, turning about a point below)."""
    rng = np.random.default_rng(7)
    for _ in range(4):
        mount = Rotation.random(random_state=rng)
        leg = LegAngle(placement="shank")
        axis_s, up0 = mount.inv().apply([0, 1, 0]), mount.inv().apply([0, 0, 1])
        leg.update(up0, [0.0, 0.0, 0.0], still_s=1.0)
        for i in range(300):                          # swings: the axis is learned
            rate = 70 * math.pi * math.cos(math.pi * i / 50)
            leg.update(up0, (rate * axis_s).tolist(), still_s=0.0)
        per_rad_s2 = float(axis_s @ leg.axis)         # 1 rad/s^2 about the hip axis, about the learned one
        for r_m in (0.7, -0.4):                       # the hip above; a point below (a march's tilt)
            a_world = np.array([-r_m, 0.0, 0.0])      # d/dt of (1 rad/s y) x (-r z)
            across, along = leg.swing_mps2(mount.inv().apply(a_world).tolist())
            assert across == pytest.approx(r_m * per_rad_s2, abs=1e-9) and along == pytest.approx(0.0, abs=1e-9)
        assert leg.swing_mps2(mount.inv().apply([0.0, 0.0, 2.0]).tolist())[1] == pytest.approx(2.0)
        assert leg.swing_mps2(None) == (0.0, 0.0)


def test_the_knee_acceleration_leaves_out_the_shanks_own_turn_about_the_knee():
    """A shank whipping about a still knee (a stride's swing: 60 deg each way in 0.8 s) accelerates a
    sensor 0.25 m below the knee by up to 17 m/s^2, all of it the shank's own turn: read through the
    learned axis and ``swing_mps2`` (any mount), the knee's acceleration is what is left, near 0. The
    same sensor carried by a knee that moves without the shank turning reads the knee's acceleration."""
    d, dt = RepParams().knee_above_m, 1 / 50
    rng = np.random.default_rng(11)
    for _ in range(3):
        mount = Rotation.random(random_state=rng)
        leg = LegAngle(placement="shank")
        leg.update(mount.inv().apply([0, 0, 1]), [0.0, 0.0, 0.0], still_s=1.0)
        sensor, knee, prev = [], [], 0.0
        for i in range(200):
            t = i * dt
            k = 2 * math.pi / 0.8
            th, w, al = (math.radians(60) * f for f in (math.sin(k * t), k * math.cos(k * t), -k * k * math.sin(k * t)))
            shank = Rotation.from_rotvec([0, th, 0])               # turned about the flexion axis y
            p = shank.apply([0, 0, -d])                            # the sensor, d below the knee
            a_world = np.cross([0, al, 0], p) + np.cross([0, w, 0], np.cross([0, w, 0], p))
            a_s = (mount.inv() * shank.inv()).apply(a_world)       # in the sensor's axes
            up_s = (mount.inv() * shank.inv()).apply([0, 0, 1])
            _, rate = leg.update(up_s, mount.inv().apply([0, math.degrees(w), 0]).tolist(), still_s=0.0)
            if i >= 100 and rate == rate:                          # the axis learned: the second swing
                lin = float(np.linalg.norm(a_s))
                sensor.append(lin)
                knee.append(knee_mps2(dt, rate, prev, lin, *leg.swing_mps2(a_s.tolist()), d))
            prev = rate if rate == rate else 0.0
        assert max(sensor) > 15.0 and max(knee) < 0.1 * max(sensor)
        a_s = mount.inv().apply([3.0, 0.0, 0.0])                   # the knee carried forward, shank upright
        assert knee_mps2(dt, 0.0, 0.0, 3.0, *leg.swing_mps2(a_s.tolist()), d) == pytest.approx(3.0)


def test_the_last_sets_axis_comes_back_only_when_the_axis_has_turned_far_from_it():
    """restore_axis takes the kept axis (and its movement) again when the axis turned more than
    ``turned_deg`` from it, and leaves a nearby axis as it is (a strap turned a little is followed)."""
    leg = LegAngle()
    kept = (np.array([0.0, 1.0, 0.0]), [0.0, 0.0, 0.0, 1e6, 0.0, 0.0])
    for deg, restored in ((30.0, False), (60.0, True)):
        leg.axis = np.array([math.sin(math.radians(deg)), math.cos(math.radians(deg)), 0.0])
        assert leg.restore_axis(*kept) is restored
        assert abs(float(leg.axis @ kept[0])) == pytest.approx(1.0 if restored else math.cos(math.radians(deg)))
    assert leg.axis_memory()[1] == kept[1]


def _shank_standing_after_a_slip(slip_deg: float) -> tuple[LegAngle, float]:
    """A shank standing, then swinging (the axis is learned), then the strap slipping ``slip_deg``
    about the flexion axis in the rest and the leg standing still for 3 s: the angle it reads then."""
    leg = LegAngle(placement="shank")
    axis_s, up0 = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])
    leg.update(up0, [0.0, 0.0, 0.0], still_s=1.0)
    for i in range(300):                               # walking about: swings both ways
        ang = 40 * math.sin(2 * math.pi * i / 50)
        up = Rotation.from_rotvec([0, -math.radians(ang), 0]).apply(up0)
        leg.update(up, (80 * math.pi * math.cos(2 * math.pi * i / 50) * axis_s).tolist(), still_s=0.0)
    slipped = Rotation.from_rotvec([0, -math.radians(slip_deg), 0]).apply(up0)
    for i in range(150):
        leg.update(slipped, [0.0, 0.0, 0.0], still_s=3.0 if i == 149 else 0.0)
    return leg, abs(leg.update(slipped, [0.0, 0.0, 0.0], still_s=0.0)[0])


@pytest.mark.parametrize("slip_deg", [-30.0, 20.0, 35.0])
def test_a_shank_standing_still_for_3_s_near_the_reference_is_standing(slip_deg):
    """The strap slipped within the plane in a rest: standing reads that far off, and walks and stairs
    read through it had their strides pass as hinges (70 reps outside sets on the tuning seeds). A
    still pose held 3 s 15-40 deg from the reference is standing (a seated shank is nearer, a held
    hinge further); it read 20-35 deg until two hinges left it and came back."""
    leg, deg = _shank_standing_after_a_slip(slip_deg)
    assert leg.rehomes == 1 and deg < 0.5


@pytest.mark.parametrize("pose_deg", [10.0, -12.0, 60.0])
def test_a_shank_seated_or_holding_a_hinge_keeps_its_reference(pose_deg):
    """Seated, the shank hangs within 15 deg of standing; a held hinge is 50-100 deg back: neither
    is taken for standing."""
    leg, deg = _shank_standing_after_a_slip(pose_deg)
    assert leg.rehomes == 0 and abs(deg - abs(pose_deg)) < 0.5


def test_a_held_pose_followed_in_one_go_reads_as_followed_bucket_by_bucket():
    """The thigh's kept poses follow the leg only when one is read: a stretch of angles followed at
    once leaves a pose exactly where following them one bucket at a time does, unwrapped (a pose at
    170 deg that the leg leaves by 30 deg forward is 30 deg away, not 330 back)."""
    rng = np.random.default_rng(6)
    angles = ((170.0 + np.cumsum(rng.normal(0.5, 6.0, 300)) + 180.0) % 360.0 - 180.0).tolist()
    one, at_once = _Pose(170.0), _Pose(170.0)
    for a in angles:
        one.follow((a,))
    at_once.follow(angles[:137])
    at_once.follow(angles[137:])
    assert (at_once.from_deg, at_once.behind, at_once.ahead) == (one.from_deg, one.behind, one.ahead)
    wrapped = _Pose(170.0)
    wrapped.follow([175.0, -175.0, -160.0])
    assert wrapped.from_deg == pytest.approx(30.0) and wrapped.ahead == pytest.approx(30.0)
    assert wrapped.behind == 0.0


def run_detector(angles, placement="thigh", rate_hz=50.0, with_rates=False):
    """The detector fed the trace, with its own rate of turn if ``with_rates`` (a swing is fast
    through standing, a held pose turns slowly), else 0; the reps as they are shown."""
    det, found = RepDetector(RepParams(placement=placement)), []
    rates = np.gradient(angles) * rate_hz if with_rates else np.zeros(len(angles))
    for i, (a, w) in enumerate(zip(angles, rates)):
        found += det.update(i / rate_hz, a, w)
    return found


def run_shank_with_rates(angles, rate_hz=50.0):
    return run_detector(angles, "shank", rate_hz, with_rates=True)


def run_thigh_with_rates(angles, rate_hz=50.0):
    return run_detector(angles, "thigh", rate_hz, with_rates=True)


def segment(points, rate_hz=50.0):
    """Piecewise-cosine angle trace through (duration_s, angle_deg) points from 0."""
    out, last = [], 0.0
    for dur, ang in points:
        n = int(dur * rate_hz)
        u = (1 - np.cos(np.linspace(0, np.pi, n, endpoint=False))) / 2
        out.append(last + (ang - last) * u)
        last = ang
    return np.concatenate(out + [np.full(int(rate_hz), last)])


def thigh_rep(depth=70, height=80, q=0.8):
    return [(q, -depth), (0.3, -depth), (q, 0), (q, height), (0.3, height), (q, 0), (1.0, 0)]


def test_thigh_reps_false_start_and_sitting():
    trace = segment([(2, 0)] + thigh_rep() * 3 + [(0.6, -18), (0.6, 0), (1, 0)] + thigh_rep() * 2
                    + [(1.0, 90), (5.0, 90), (1.0, 0), (2, 0)])
    found = run_thigh_with_rates(trace)    # with its rate: a march coming down is not at rest
    assert len(found) == 5
    assert all(f.evidence["rule"] == "march_return" for f in found)
    assert abs(found[0].hinge_depth_deg - 70) < 1 and abs(found[0].march_height_deg - 80) < 1


def test_thigh_rep_after_a_slip_mid_set_ends_when_the_leg_rests_after_its_march():
    """The strap slips 22 deg up between two reps and is not re-homed inside the set: standing reads
    22 deg, above the march's exit level (20 deg here). Reps flowing through standing into the next
    hinge still pass under it; the set's last rep comes down to that stand and rests there, and it
    is over then (it had waited in the march until the march timed out: the rep was lost). A march
    held at its top, or lowered slowly, is no rest back down."""
    def rep(stand=0.0, top_s=0.3):
        return [(0.8, stand - 70), (0.3, stand - 70), (0.8, stand), (0.8, stand + 80), (top_s, stand + 80),
                (0.8, stand)]
    slip = 22.0
    trace = segment([(2, 0)] + rep() * 3 + [(1.0, 0), (0.4, slip), (0.6, slip)] + rep(slip) * 3 + [(12.0, slip)])
    found = run_thigh_with_rates(trace)
    assert [f.evidence["rule"] for f in found] == ["march_return"] * 5 + ["march_rest"]
    t_back = len(trace) / 50.0 - 1.0 - 12.0       # the last march is back at the stand
    assert t_back < found[-1].t_s < t_back + 0.5
    held = run_thigh_with_rates(segment([(2, 0)] + rep(top_s=4.0) * 3 + [(2.0, 0)]))
    assert [f.evidence["rule"] for f in held] == ["march_return"] * 3


def test_a_sensor_turned_in_the_hand_or_a_march_never_ended_is_no_rep():
    """Re-doing the strap: the sensor turned over (180 deg) and back, or swung back and then left
    lying at a steep angle. Neither is a leg, even though the shapes pass every threshold."""
    turned = segment([(2, 0)] + thigh_rep(depth=170, height=175) + thigh_rep())
    assert len(run_detector(turned)) == 1
    left = segment([(2, 0)] + thigh_rep() + [(0.8, -70), (0.8, 0), (0.8, 130), (12.0, 130)])
    assert len(run_detector(left)) == 1


def test_the_side_is_learned_from_the_first_rep():
    trace = segment([(2, 0)] + thigh_rep() * 4)
    assert len(run_detector(-trace)) == 4       # the same reps with the axis the other way round


def test_shank_rep_ends_back_at_standing_and_strides_do_not_count():
    rep = [(0.8, -70), (0.3, -70), (0.7, -25), (0.3, -20), (0.8, -25), (0.6, 0), (1.0, 0)]
    stride = [(0.35, -65), (0.35, 20), (0.3, 0)]
    trace = segment([(2, 0)] + rep * 3 + [(2, 0)] + stride * 8 + [(2, 0)] + rep)
    found = run_shank_with_rates(trace)        # a stride swings fast: it holds no pose
    assert len(found) == 4 and {f.evidence["rule"] for f in found} == {"standing"}


def test_shank_rep_is_over_after_the_march_not_when_it_passes_standing():
    """Hinge, through standing into a march that tilts the shank back 25 deg, back to standing:
    one rep, counted at the end of the march (the pass through standing comes 1.4 s after the
    shank left it, the end 2.7 s). A march that hides the tilt (thigh raised as far as the knee
    bends) is over 0.6 s after the shank is back at standing."""
    tilted = [(0.8, -70), (0.3, -70), (0.6, 0), (0.6, -25), (0.3, -25), (0.6, 0), (1.5, 0)]
    hidden = [(0.8, -70), (0.3, -70), (0.6, 0), (2.0, 0)]
    for rep, over_s in ((tilted, 2.5), (hidden, 1.9)):
        found = run_detector(segment([(2, 0)] + rep * 3), "shank")
        assert len(found) == 3
        assert all(f.t_s - f.start_s >= over_s for f in found), [f.t_s - f.start_s for f in found]


def test_shank_reps_flowing_into_the_next_without_standing():
    """A deep march tilts the shank back ~40 deg and the next hinge starts from there: each rise
    and fall is a rep. A pose held back for 20 s (a strap re-done, read as a stale reference) then
    a wobble is not."""
    flow = [(0.8, -70), (0.3, -70), (0.7, -38), (0.4, -38)]
    trace = segment([(2, 0)] + flow * 4 + [(0.8, -70), (0.8, 0), (2, 0)])
    found = run_detector(trace, "shank")
    assert len(found) == 5 and [f.evidence["rule"] for f in found].count("next_hinge") == 4
    pose = segment([(2, 0), (1, -60), (20, -62), (0.8, -35), (0.8, -65), (1, -62)])
    assert run_detector(pose, "shank") == []


def test_shank_leg_swings_from_a_stretch_are_no_reps():
    """A stretch bobbing forward, then the leg swinging back 60 deg and forward through standing at
    rep tempo without ever resting there: no reps (each swing was counted). Reps from rest at
    standing after it, and a flowing set, still count."""
    rep = [(0.8, -70), (0.3, -70), (0.7, -25), (0.3, -20), (0.8, -25), (0.6, 0), (1.0, 0)]
    bob, swing = [(0.6, 40), (0.6, 30)] * 4, [(0.7, -60), (0.7, 8)] * 12
    found = run_shank_with_rates(segment([(2, 0)] + bob + swing + [(1, 0), (2, 0)] + rep * 3))
    assert len(found) == 3 and all(f.start_s > 25 for f in found)
    flow = [(0.8, -70), (0.3, -70), (0.7, -38), (0.4, -38)]
    assert len(run_shank_with_rates(segment([(2, 0)] + flow * 4 + [(0.8, -70), (0.8, 0), (2, 0)]))) == 5


@pytest.mark.parametrize("slip_deg", [-18.0, -12.0, 12.0])
def test_shank_reps_after_a_strap_slip_mid_set_end_back_where_the_leg_stands(slip_deg):
    """The strap slips between two reps of a set: standing then reads 12-18 deg off the reference,
    outside the standing band, and nothing re-homes the shank inside a set. Each later rep ends back
    at the pose its hinge left (it had waited for the next hinge, and the set's last rep was lost)."""
    def rep(stand=0.0):
        return [(0.8, stand - 70), (0.3, stand - 70), (0.7, stand - 25), (0.3, stand - 20), (0.8, stand - 25),
                (0.6, stand), (1.0, stand)]
    trace = segment([(2, 0)] + rep() * 3 + [(0.4, slip_deg), (1.0, slip_deg)] + rep(slip_deg) * 3)
    found = run_shank_with_rates(trace)
    assert [f.evidence["rule"] for f in found] == ["standing"] * 6


def slipped_rep(stand=0.0):
    """A shank rep from standing at ``stand`` (a strap slipped reads standing that far off)."""
    return [(0.8, stand - 70), (0.3, stand - 70), (0.7, stand - 25), (0.3, stand - 20), (0.8, stand - 25),
            (0.6, stand), (1.0, stand)]


@pytest.mark.parametrize("slip_deg", [-22.0, 22.0])
def test_shank_strap_slipped_as_the_next_hinge_begins_loses_no_rep(slip_deg):
    """The strap slips 22 deg as a rep completes and the next hinge leaves at once, so the new standing
    is never held before it. That rep's leg comes up to rest there: the rest the next hinge leaves is
    where the next rep ends (it had waited for the following hinge, and the set's last rep was lost)."""
    trace = segment([(2, 0)] + slipped_rep() * 3 + [(0.3, slip_deg)] + slipped_rep(slip_deg) * 3 + [(3.0, slip_deg)])
    assert len(run_shank_with_rates(trace)) == 6


def test_shank_last_rep_after_a_slip_in_a_flowing_set_ends_where_the_leg_rests():
    """A flowing set whose strap slips 22 deg mid-way: no pose is held between its reps, so nothing
    shows where standing now reads. The last rep comes up to rest there and never reaches a standing
    it knows: it is counted once it has rested until the rep's time is up, as over when the rest began."""
    flow = [(0.8, -70), (0.3, -70), (0.7, -30), (0.4, -30)]
    slipped = [(0.8, -92), (0.3, -92), (0.7, -52), (0.4, -52)]
    trace = segment([(2, 0)] + flow * 3 + slipped * 2 + [(0.8, -92), (0.3, -92), (0.8, -22), (10.0, -22)])
    found = run_shank_with_rates(trace)
    assert len(found) == 6 and found[-1].evidence["rule"] == "rest"
    assert 14.5 < found[-1].t_s < 15.5, found[-1].t_s     # the leg is back up at 14.9 s


def test_shank_last_rep_after_a_slip_is_counted_at_its_rest_when_the_strap_slips_again():
    """As in the test above, but while the last rep waits out its time the strap slips again, 16 deg
    further: the pose the leg rests in then reads 38 deg off, out of the band rest is looked for. The
    rest the leg came up to still ended the rep: it is counted, as over when that rest began."""
    flow = [(0.8, -70), (0.3, -70), (0.7, -30), (0.4, -30)]
    slipped = [(0.8, -92), (0.3, -92), (0.7, -52), (0.4, -52)]
    last = [(0.8, -92), (0.3, -92), (0.8, -22), (4.0, -22), (0.4, -38), (10.0, -38)]
    found = run_shank_with_rates(segment([(2, 0)] + flow * 3 + slipped * 2 + last))
    assert len(found) == 6 and found[-1].evidence["rule"] == "rest"
    assert 14.5 < found[-1].t_s < 15.5, found[-1].t_s     # the leg is back up at 14.9 s


def test_shank_slow_flowing_reps_whose_knee_barely_accelerates_count():
    """Slow reps flowing one into the next, the march bent so far at the knee that from the hinge (80 deg)
    the shank rises only 23 deg, over 2 s, and falls into the next hinge: the knee accelerates too little
    to show (no linear acceleration here), but a rise of 20 deg over 1.5 s and a fall as far is no held
    hinge. They had read as one hinge held past 8 s and were dropped. A hinge held with a drift of
    12 deg up and back is still one rep, and a stretch holding the foot up behind (the shank 125-145 deg
    back, further than any march tilts it) bobbing as slowly is none."""
    slow = [(1.5, -80), (0.5, -80), (2.0, -57), (0.3, -57)]
    last = [(1.5, -80), (0.5, -80), (1.5, 0), (2.0, 0)]
    found = run_shank_with_rates(segment([(2, 0)] + slipped_rep() * 2 + slow * 3 + last))
    assert [f.evidence["rule"] for f in found] == ["standing"] * 2 + ["knee_rise"] * 3 + ["standing"]
    drift = [(1.5, -80), (2.0, -68), (2.0, -80), (1.5, 0), (2.0, 0)]
    assert len(run_shank_with_rates(segment([(2, 0)] + slipped_rep() * 2 + drift))) == 3
    stretch = [(1.5, -145), (2.0, -124), (2.0, -147), (2.0, -124), (2.0, -147), (1.5, 0), (2.0, 0)]
    assert len(run_shank_with_rates(segment([(2, 0)] + slipped_rep() * 2 + stretch))) == 2


def test_shank_rep_flowing_from_a_held_march_ends_back_at_the_reference():
    """A rep holds its march 1 s, 15 deg back, and flows from there into the next hinge: that hinge
    left a held pose that is not standing, and the rep still ends when the leg is back at the reference."""
    held = [(0.8, -70), (0.3, -70), (0.7, -15), (1.0, -15)]
    trace = segment([(2, 0)] + slipped_rep() * 2 + held + [(0.8, -70), (0.3, -70), (0.8, 0), (4.0, 0)])
    assert len(run_shank_with_rates(trace)) == 4


def test_shank_rests_near_where_the_last_rep_ended_after_a_slip_beyond_the_rest_band():
    """The strap slipped 28 deg before the set: standing reads outside the 25 deg rest band round the
    reference. A rep that ended where its march held (18 deg) leaves the leg resting within reach of
    where it ended, so the hinge from that stand is from rest: every rep after the set's first counts."""
    stand_deg, march_deg = 28, 18
    rep = [(0.8, stand_deg - 78), (0.3, stand_deg - 78), (0.7, march_deg), (0.8, march_deg)]
    stand = [(0.5, stand_deg), (1.5, stand_deg)]
    trace = segment([(2, 0), (0.4, stand_deg), (3, stand_deg)] + rep * 2 + stand + (rep + stand) * 3 + [(10, stand_deg)])
    assert len(run_shank_with_rates(trace)) == 4


def test_the_side_is_learned_again_after_a_set():
    """Between sets the strap may be turned round the leg: the same movement, the angle mirrored."""
    rep = [(0.8, -70), (0.3, -70), (0.7, -25), (0.3, -20), (0.8, -25), (0.6, 0), (1.0, 0)]
    first, second = segment([(2, 0)] + rep * 3), -segment([(2, 0)] + rep * 3)
    for relearn, expected in ((False, 0), (True, 3)):
        det = RepDetector(RepParams(placement="shank"))
        assert sum(len(det.update(i / 50, a, 0.0)) for i, a in enumerate(first)) == 3
        if relearn:
            det.relearn_side()
        t0 = len(first) / 50 + 30
        assert sum(len(det.update(t0 + i / 50, a, 0.0)) for i, a in enumerate(second)) == expected


def test_shank_bobs_from_a_crest_held_near_standing_are_no_reps_before_a_set():
    """A stretch before the first set holds the shank forward (read as a hinge: no side is known yet)
    and bobs 23 deg from a crest 17 deg off the reference, where it turns slowly enough to read as the
    pose the next hinge left (standing through a slipped strap). Measured from there no bob reaches
    the 25 deg hinge floor: none is a rep (each came back "to standing" and counted), and the set
    after the stretch counts in full."""
    rep = [(0.8, -70), (0.3, -70), (0.7, -25), (0.3, -20), (0.8, -25), (0.6, 0), (1.0, 0)]
    bobs = [(1.5, -40)] + [(0.7, -17), (0.5, -17), (0.7, -40)] * 12 + [(1.5, 0), (3, 0)]
    assert run_shank_with_rates(segment([(2, 0)] + bobs)) == []
    found = run_shank_with_rates(segment([(2, 0)] + bobs + rep * 3))
    assert len(found) == 3 and all(f.start_s > 30 for f in found)


def test_after_a_set_a_stretch_held_forward_is_no_rep_but_a_set_the_other_way_counts():
    """After a set the side is learned again, and a hamstring stretch holds the shank 40 deg forward
    and bobs there at rep tempo: taken as the hinge side, every bob read as a hinge flowing into the
    next (a rep each). The last set's side is the likelier one: the other way, only a whole rep
    (standing to standing) turns it round, as the reps of a set after the strap was turned round the
    leg do, from the first."""
    rep = [(0.8, -70), (0.3, -70), (0.7, -25), (0.3, -20), (0.8, -25), (0.6, 0), (1.0, 0)]
    bobs = segment([(2, 0), (1.5, 50)] + [(0.8, 26), (0.8, 50)] * 12 + [(1.2, 0), (2, 0)])
    det, t0 = RepDetector(RepParams(placement="shank")), 0.0
    counts = []
    for trace in (segment([(2, 0)] + rep * 3), bobs, -segment([(2, 0)] + rep * 3)):
        det.relearn_side()                    # the pipeline's set gap has passed
        counts.append(sum(len(det.update(t0 + i / 50, a, 0.0)) for i, a in enumerate(trace)))
        t0 += len(trace) / 50 + 30
    assert counts == [3, 0, 3]


def test_after_a_set_a_set_the_other_way_counts_from_its_first_flowing_rep():
    """The strap turned round the leg between sets (the side flips) and the new set's reps flow one
    into the next, never standing between them: the first rep left standing and its knee swept
    through a march (linear acceleration), which no bob from a pose held forward does. It counts,
    and with it the rest of the set (all five had been dropped: none was standing to standing)."""
    rep = [(0.8, -70), (0.3, -70), (0.7, -25), (0.3, -20), (0.8, -25), (0.6, 0), (1.0, 0)]
    flow = [(0.8, -70), (0.3, -70), (0.7, -30), (0.4, -30)]
    det, t0, counts = RepDetector(RepParams(placement="shank")), 0.0, []
    for trace in (segment([(2, 0)] + rep * 3), -segment([(2, 0)] + flow * 4 + [(0.8, -70), (0.3, -70), (0.8, 0), (2, 0)])):
        det.relearn_side()                    # the pipeline's set gap has passed
        knee_mps2 = np.where(np.gradient(np.abs(trace)) * 50 < -20, 10.0, 0.0)   # rising out of each hinge
        counts.append(sum(len(det.update(t0 + i / 50, a, 0.0, k)) for i, (a, k) in enumerate(zip(trace, knee_mps2))))
        t0 += len(trace) / 50 + 30
    assert counts == [3, 5]


def test_thresholds_follow_the_person():
    det = RepDetector()
    start = det.hinge_threshold_deg()
    for depth in (90, 95, 100, 92, 98):
        det.depths.append(depth)
    assert det.hinge_threshold_deg() > start
    shallow = RepDetector()
    for depth in (40, 42, 38, 41, 40):
        shallow.depths.append(depth)
    assert shallow.hinge_threshold_deg() == RepParams().min_hinge_deg


def test_sets_close_after_the_gap_and_undo():
    sets = SetTracker(set_gap_s=20)
    for t in (10, 14, 18):
        sets.add_rep(t, t, t - 3, 70, 80, {})
    assert sets.tick(37) is None
    done = sets.tick(38.5)
    assert done.reps == 3 and done.rep_times_s == (10, 14, 18) and done.mean_hinge_depth_deg == 70
    rep = sets.add_rep(100, 100, 97, 60, 70, {})
    assert rep.set_index == 2 and rep.rep_in_set == 1
    assert sets.undo_last_rep() == rep and sets.undo_last_rep() is None


def _rest_and_motion(rng, n: int = 900):
    """Buckets of rest and swinging in turns (accelerometer, gyro), with two gaps."""
    t = np.arange(n) / 50
    moving = (t % 6.0) > 3.5                                 # 3.5 s still, 2.5 s swinging
    ang = np.where(moving, 0.6 * np.sin(2 * np.pi * 0.8 * t), 0.0)
    acc = np.c_[np.zeros(n), G * np.sin(ang), G * np.cos(ang)] + rng.normal(0, 0.02, (n, 3))
    gyr = np.c_[np.where(moving, 40.0 * np.cos(2 * np.pi * 0.8 * t), 0.0), np.zeros(n), np.zeros(n)]
    gyr += np.array([1.0, -0.5, 0.3]) + rng.normal(0, 0.1, (n, 3))
    gap = np.zeros(n, bool)
    gap[[333, 610]] = True
    return acc, gyr, gap


def _blocks(n: int, rng):
    """Random block bounds over n buckets (single buckets, empty blocks and long ones among them)."""
    cuts = np.sort(rng.integers(0, n, 60))
    return list(zip(np.r_[0, cuts], np.r_[cuts, n]))


def test_still_bias_and_fusion_by_block_equal_bucket_by_bucket():
    """StillBias.update_block and Tilt.update_block give, bit for bit, what reset_gap / update /
    anchor / restart say bucket by bucket, however the stream is split into blocks."""
    rng = np.random.default_rng(5)
    acc, gyr, gap = _rest_and_motion(rng)
    sb, tilt = StillBias(), Tilt()
    still_s, corrected, rest, ups = [], [], [], []
    for i in range(len(acc)):
        if gap[i]:
            sb.reset_gap()
            tilt.restart()
        still = sb.update(acc[i], gyr[i])
        if still:
            tilt.anchor(sb.up)
        still_s.append(sb.still_s if still else 0.0)
        corrected.append(gyr[i] - sb.bias_dps)
        rest.append(sb.rest_mps2)
        ups.append(tilt.update(acc[i], corrected[-1]))
    assert 5 < sum(s > 0 for s in still_s) and sb.windows == sum(s > 0 for s in still_s)
    for seed in range(3):
        sb, tilt = StillBias(), Tilt()
        got = {"still_s": [], "gyro": [], "rest": [], "up": []}
        for lo, hi in _blocks(len(acc), np.random.default_rng(seed)):
            steps = sb.update_block(acc[lo:hi], gyr[lo:hi], gap[lo:hi])
            got["still_s"] += steps.still_s
            got["gyro"] += list(steps.gyro_dps)
            got["rest"] += steps.rest_mps2.tolist()
            got["up"] += tilt.update_block(acc[lo:hi], steps.gyro_dps, gap[lo:hi], steps.up)
        assert got["still_s"] == still_s
        assert np.array_equal(got["gyro"], corrected)
        assert np.array_equal(got["rest"], rest, equal_nan=True)
        assert np.array_equal(got["up"], ups)


def test_tilt_ring_by_block_equals_bucket_by_bucket():
    """TiltRing.push_block (measured in batches, the rest magnitude per bucket) fills the ring with
    the same bits as push bucket by bucket, an axis not yet learned included."""
    rng = np.random.default_rng(6)
    acc, gyr, _ = _rest_and_motion(rng, 1200)
    ups = list(acc / np.linalg.norm(acc, axis=1, keepdims=True))
    axis = np.array([0.6, 0.0, 0.8])                  # "up" 37 deg out of the plane: bursts by rest
    axes = [None if i < 100 else axis for i in range(len(acc))]
    angles = (rng.normal(0, 30, len(acc))).tolist()
    rest = np.select([np.arange(len(acc)) < 200, np.arange(len(acc)) < 600], [np.nan, G], 5.5)
    t = np.arange(1, len(acc) + 1) / 50
    one = TiltRing(50.0, ring_s=20.0)                  # 1000 buckets: the stream wraps round
    for i in range(len(acc)):
        if not np.isnan(rest[i]):
            one.rest_mps2 = rest[i]
        one.push(t[i], acc[i], gyr[i], ups[i], axes[i], angles[i])
    blocks = TiltRing(50.0, ring_s=20.0)
    for lo, hi in _blocks(len(acc), rng):
        blocks.push_block(t[lo:hi], acc[lo:hi], gyr[lo:hi], ups[lo:hi], axes[lo:hi], angles[lo:hi],
                          rest[lo:hi])
        if hi % 7 == 0:                                 # a read now and then measures what is pending
            blocks.window(0.0, t[hi - 1])
    for a, b in zip(one.window(0.0, 100.0), blocks.window(0.0, 100.0)):
        assert np.array_equal(a, b, equal_nan=True)
    flags = one.window(0.0, 100.0)[4]
    assert len(flags) == 1000 and 0 < np.count_nonzero(flags & BURST) < 1000   # as rest has it


def test_health_measured_in_batches_sees_every_span():
    """Health measures its blocks in batches, and when asked: the turns it adds up are those of
    the whole stream, however it was fed."""
    rng = np.random.default_rng(7)
    acc, gyr, _ = _rest_and_motion(rng, 1500)
    whole, blocks = Health(), Health()
    whole.feed(acc, gyr)
    for lo, hi in _blocks(len(acc), rng):
        blocks.feed(acc[lo:hi], gyr[lo:hi])
    assert whole.problems(1, G) == blocks.problems(1, G)
    assert whole.accel_turn_deg > 100
    assert blocks.accel_turn_deg == pytest.approx(whole.accel_turn_deg, rel=1e-12)
    assert blocks.gyro_turn_deg == pytest.approx(whole.gyro_turn_deg, rel=1e-12)


def shown_shank(angles, rate_hz=50.0):
    """The shank detector fed the trace with its own rate of turn: (time shown, rep) for each rep."""
    det, shown = RepDetector(RepParams(placement="shank")), []
    rates = np.gradient(angles) * rate_hz
    for i, (a, w) in enumerate(zip(angles, rates)):
        shown += [(i / rate_hz, f) for f in det.update(i / rate_hz, a, w)]
    return shown


def test_shank_rep_after_a_held_march_tilted_back_counts_however_shallow_its_hinge():
    """A rep whose march holds the shank 37 deg back (the knee bent more than the thigh is raised) for
    1.4 s, then the next hinge only 15 deg beyond it (52 deg, under 0.8 x the 68 deg hinge before):
    up from the hinge and held short of standing is the march's top, and going back from there is the
    next hinge. It had read as the march's own tilt: two reps counted as one."""
    rep = [(0.3, -68), (1.0, -68), (0.6, -37), (1.4, -37), (0.8, -52), (0.6, -52), (0.6, 0), (2.0, 0)]
    found = run_shank_with_rates(segment([(2, 0)] + slipped_rep() * 2 + rep))
    assert [f.evidence["rule"] for f in found] == ["standing"] * 2 + ["next_hinge", "standing"]
    held = [(0.3, -68), (1.0, -68), (0.6, -37), (1.4, -37), (0.8, 0), (2.0, 0)]     # no hinge after it
    assert len(run_shank_with_rates(segment([(2, 0)] + slipped_rep() * 2 + held))) == 3


def test_shank_rep_flowing_on_after_a_slip_ends_back_where_the_hinge_before_it_left():
    """The strap slipped 13 deg between two reps; the next rep leaves that stand and flows from its
    march straight into the set's last hinge, no pose held between them. That last rep ends back at
    the stand its flowing rep left (it was read from the reference, 13 deg off, and waited out its
    8 s for a rest; the set's last rep of 1029 drifted into the band only after the set had ended)."""
    flow = [(0.8, 13 - 70), (0.3, 13 - 70), (0.7, 13 - 30)]
    last = [(0.8, 13 - 70), (0.3, 13 - 70), (0.8, 13), (10.0, 13)]
    trace = segment([(2, 0)] + slipped_rep() * 2 + [(0.4, 13), (1.5, 13)] + flow + last)
    shown = shown_shank(trace)
    assert [f.evidence["rule"] for _, f in shown] == ["standing"] * 2 + ["next_hinge", "standing"]
    back_s = 2 + 2 * 4.5 + 1.9 + 1.8 + 1.9     # the last rep is back at the stand
    assert shown[-1][0] - back_s < 1.5, shown[-1][0] - back_s


def test_shank_fast_flowing_reps_keep_the_sets_cadence_through_its_stands():
    """A fast set (1.4 s reps) standing 2.5 s between its first reps, then flowing two into one another
    1.35 s apart, the march reaching 15 deg forward (as a stride's heel strike does): sooner than any
    stride-free period, but the set's own cadence. Measured hinge to hinge, the stands made it
    3.8 s and the flowing rep was dropped as a stride (and the rep after it, leaving no rest, too)."""
    stand = [(0.4, -75), (0.1, -75), (0.4, 0), (2.5, 0)]     # the march hides at standing
    flow = [(0.4, -75), (0.1, -75), (0.4, 15), (0.45, 15)]
    found = run_shank_with_rates(segment([(2, 0)] + stand * 4 + flow * 2 + stand))
    assert len(found) == 7
    stride = [(0.35, -65), (0.35, 20), (0.3, 0)]      # walking off after the set: strides, 1.0 s apart
    found = run_shank_with_rates(segment([(2, 0)] + stand * 4 + stride * 8 + [(2, 0)]))
    assert len(found) == 4


def test_shank_last_rep_resting_far_in_front_of_where_its_hinge_left_is_counted_at_its_rest():
    """A flowing set whose strap slipped 29 deg forward mid-way: the last rep comes up to rest where
    standing now reads, 29 deg in front of the reference, out of the 25 deg band rest is looked for.
    No march holds the shank still in front of where its hinge left: that rest ended the rep, which is
    counted once the rep's time is up, as over when the rest began (it waited for a rest in the band)."""
    flow = [(0.8, -70), (0.3, -70), (0.7, -30), (0.4, -30)]
    trace = segment([(2, 0)] + slipped_rep() * 2 + flow * 2 + [(0.8, -70), (0.3, -70), (0.8, 29), (12.0, 29)])
    found = run_shank_with_rates(trace)
    assert len(found) == 5 and found[-1].evidence["rule"] == "rest"
    assert 17.0 < found[-1].t_s < 18.0, found[-1].t_s     # the leg is back up at 17.3 s
