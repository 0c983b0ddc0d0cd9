"""The 20 ms bucketer: averages, gap marking, short-hole filling, and block-split independence."""
import numpy as np

from analysis.resample import Bucketer


def run(t, a, g, block):
    b, outs = Bucketer(), []
    for i in range(0, len(t), block):
        outs.append(b.feed(t[i:i + block], a[i:i + block], g[i:i + block]))
    outs.append(b.finish())
    return [np.concatenate([o[j] for o in outs]) for j in range(4)]


def test_bucket_means_and_times():
    t = np.arange(0, 1, 0.005)                 # 200 Hz: 4 samples a bucket
    a = np.column_stack([t, -t, np.ones_like(t)])
    te, am, gm, gap = run(t, a, np.zeros_like(a), 1000)
    assert len(te) == 50 and np.allclose(np.diff(te), 0.02) and not gap.any()
    assert np.allclose(am[0], [np.mean(t[:4]), -np.mean(t[:4]), 1.0])


def test_any_split_gives_the_same_output():
    rng = np.random.default_rng(3)
    t = np.sort(rng.uniform(0, 3, 400))
    a, g = rng.normal(size=(400, 3)), rng.normal(size=(400, 3))
    whole = run(t, a, g, 10_000)
    for block in (1, 7, 64):
        for x, y in zip(run(t, a, g, block), whole):
            np.testing.assert_array_equal(x, y)


def test_long_hole_is_a_gap_short_hole_is_filled():
    t = np.r_[np.arange(0, 1, 0.02), np.arange(1.04, 1.5, 0.02), np.arange(2.5, 3, 0.02)] + 0.001
    a = np.tile([0, 0, 9.8], (len(t), 1))
    te, am, gm, gap = run(t, a, np.zeros_like(a), 5)
    assert gap.sum() == 1                      # the 1 s hole
    assert te[np.flatnonzero(gap)[0]] > 2.5
    before = te[te < 2.0]
    assert np.allclose(np.diff(before), 0.02)  # the 40 ms hole was filled


def test_dropped_samples_in_a_swing_keep_its_rotation():
    """Ten samples lost at 50 Hz in the middle of a swing: the fill interpolates the rate across
    the hole, so integrating the buckets still gives the swing's angle (repeating the last bucket
    or leaving the hole empty would be off by tens of degrees)."""
    t = np.arange(0, 2, 0.02) + 0.001
    rate = 300.0 * np.sin(np.pi * t / 2)          # a 2 s swing peaking at 300 deg/s: 382 deg in all
    g = np.column_stack([np.zeros_like(t), np.zeros_like(t), rate])
    keep = (t < 0.8) | (t > 1.0)                  # 0.2 s around the peak lost
    a = np.tile([0, 0, 9.8], (len(t), 1))
    te, am, gm, gap = run(t[keep], a[keep], g[keep], 7)
    assert not gap.any() and np.allclose(np.diff(te), 0.02)
    assert abs(gm[:, 2].sum() * 0.02 - rate.sum() * 0.02) < 2.0


def test_samples_going_back_in_time_are_dropped_not_fatal():
    t = np.arange(100) / 100.0
    x = np.ones((100, 3))
    b = Bucketer(50.0)
    first = b.feed(t[:60], x[:60], x[:60])
    back = t[40:] - 0.005                          # a block that starts 0.2 s in the past
    second = b.feed(back, x[40:], x[40:])
    assert b.dropped == 20
    ends = np.r_[first[0], second[0]]
    assert np.all(np.diff(ends) > 0)
