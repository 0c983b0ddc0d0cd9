"""The signed leg angle in the movement plane, found from the data whatever the mount.

The leg swings about one axis (hip flexion/extension). That axis, in sensor coordinates, is the
principal direction of the angular rate while moving (a PCA that forgets old movement). The leg
angle is the rotation of the measured "up" vector about that axis away from its standing value,
so it is drift-free (it comes from the fused tilt, not from integrating the gyro) and correct from
the moment the axis is known. The axis sign is arbitrary; the rep detector decides which side is
the hinge. Re-zero: when the leg is still with "up" well out of the movement plane, the strap has
moved, so standing is taken again and the axis is learned afresh; until then a reference up to
``ref_off_plane_deg`` out of the new plane is read through its projection. A slip within the plane cannot
be seen that way; it is caught when the leg comes back to a pose far from zero after swinging both
ways from it: between the reps of a set the leg keeps coming back to standing.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

FOLLOW_BUCKETS = 500     # the poses kept follow at least this often (bounded memory through long movement)


@dataclass(frozen=True)
class LegAngleParams:
    """Tuning of :class:`LegAngle`: how the axis is learned and when the standing reference is renewed."""

    moving_dps: float = 20.0            # rates above this are movement, and teach the axis, deg/s
    axis_tau_s: float = 10.0            # the axis follows the movement of about this long ago
    min_planarity: float = 0.6          # learn an axis only when this share of the motion is about it
    turned_deg: float = 45.0            # an axis turned this far since learned: relearn the hinge side
    rezero_off_plane_deg: float = 20.0  # still with "up" this far out of the plane: the strap moved
    ref_off_plane_deg: float = 45.0     # a reference up to this far out of the plane is read projected
    max_pose_deg: float = 135.0         # no leg is held further from standing: the sensor was put on anew
    home_still_s: float = 3.0           # a pose still this long may be standing after an in-plane slip...
    stale_ref_deg: float = 8.0          # ...if it reads this far from the reference...
    round_trip_deg: float = 40.0        # ...and the leg then swings this far one way, half as far the other
    quiet_s: float = 0.2                # thigh, mid-set: the leg turning under moving_dps this long holds a pose...
    poses_kept: int = 9                 # ...one of the last this many held (a rep stops at its bottom and top:
                                        # a run of three flowing reps between two returns holds six)...
    home_return_deg: float = 8.0        # ...standing, if after a round trip the leg holds a pose this close to it...
    home_returns: int = 2               # ...this many times over (a false start's bottom may recur once)
    seated_deg: float = 15.0            # shank: a pose held home_still_s further than this from the reference...
    stand_deg: float = 40.0             # ...and nearer than this is standing read through a slipped strap (a
                                        # seated shank is within 15 deg of standing, a held hinge 50-100 deg back)


class LegAngle:
    """Per-bucket axis learning, standing reference and angle (tuning: :class:`LegAngleParams`)."""

    def __init__(self, params: LegAngleParams = LegAngleParams(), rate_hz: float = 50.0, placement: str = "thigh"):
        p = self.params = params
        self.round_trip_deg, self.stale_ref_deg = p.round_trip_deg, p.stale_ref_deg
        self.home_still_s, self.home_return_deg, self.home_returns = p.home_still_s, p.home_return_deg, p.home_returns
        self._quiet_buckets, self._quiet = max(1, round(p.quiet_s * rate_hz)), 0   # needed; so far
        self._follow_reps = placement == "thigh"   # a march holds the shank near vertical, as standing does
        self.moving_dps = p.moving_dps
        self._decay = math.exp(-1.0 / (p.axis_tau_s * rate_hz))
        self._sin_off = math.sin(math.radians(p.rezero_off_plane_deg))
        self._sin_ref = math.sin(math.radians(p.ref_off_plane_deg))
        self.max_pose_deg = p.max_pose_deg
        self.min_planarity = p.min_planarity
        self._c = [0.0] * 6           # decayed covariance of the moving rates: xx xy xz yy yz zz
        self._since_eig = 0
        self.axis: np.ndarray | None = None   # unit vector, sensor axes
        self._frame_for: tuple = (None, None, False, None, None)   # see _frame
        self.up_ref: np.ndarray | None = None # "up" at standing, sensor axes
        self.rezeros = 0              # times the strap was seen to move (axis relearned)
        self.turns = 0                # times the axis turned far while being followed
        self.rehomes = 0
        self.set_rehomes = 0          # of them, re-homes confirmed by the reps' own returns (mid-set, thigh)
        self.set_rehome_buckets = 0   # the last of those: buckets since the leg first held that standing
        self._n = 0                   # buckets seen (update calls)
        self._home: _Pose | None = None   # the last long still pose
        self._poses: deque[_Pose] = deque(maxlen=p.poses_kept)   # the last poses held, however briefly
        self._unfollowed: list[float] = []   # angles the poses have not followed yet (see _track_home)
        self._axis_anchor: np.ndarray | None = None   # the axis when it was last (re)learned
        self._cos_turned = math.cos(math.radians(p.turned_deg))

    def update(self, up: np.ndarray, gyro_dps, still_s: float, hinge_sign: int = 0) -> tuple[float, float]:
        """One bucket: returns (raw angle deg, angular rate about the axis dps); NaN until known.

        ``gyro_dps``: three floats (a list is quickest: this runs 50 times a second). ``still_s`` > 0
        when a still window was just confirmed: how long the leg has been still. ``hinge_sign``: the
        sign of the raw angle in a hinge, once the rep detector knows it (0: not known)."""
        self._n += 1
        still = still_s > 0
        gx, gy, gz = gyro_dps
        if gx * gx + gy * gy + gz * gz > self.moving_dps ** 2:
            d, c = self._decay, self._c   # c = decay * c + outer(g, g), its six distinct entries
            self._c = [d * c[0] + gx * gx, d * c[1] + gx * gy, d * c[2] + gx * gz,
                       d * c[3] + gy * gy, d * c[4] + gy * gz, d * c[5] + gz * gz]
            self._since_eig += 1
            if self._since_eig >= 10:
                self._learn_axis()
        if still:
            self._on_still(up)
        if self.axis is None or not self._ref_valid():
            self._home = None
            self._forget_poses()
            return math.nan, math.nan
        ax, ay, az = self._frame_for[4]   # as _ref_valid just brought it up to date
        rate = gx * ax + gy * ay + gz * az
        return self._track_home(up, self._angle(up), rate, still_s, hinge_sign), rate

    def reread(self, up: np.ndarray, gyro_dps) -> tuple[float, float]:
        """(raw angle deg, rate dps) of an earlier bucket in the current axis and reference, without
        learning anything from it: what the rep detector replays after a re-home or a turn."""
        if self.axis is None or not self._ref_valid():
            return math.nan, math.nan
        gx, gy, gz = gyro_dps
        ax, ay, az = self._frame_for[4]   # as _ref_valid just brought it up to date
        return self._angle(up), gx * ax + gy * ay + gz * az

    def swing_mps2(self, linear_mps2: list | None) -> tuple[float, float]:
        """The linear acceleration (a vector in sensor axes, m/s^2) in the movement plane: across the leg
        (along standing "up" x the axis: for the leg turning about a centre r above the sensor it reads r
        x its angular acceleration about the axis, rad/s^2) and along it (toward the hip); (0, 0) unknown."""
        if linear_mps2 is None or self.axis is None or not self._ref_valid():
            return 0.0, 0.0
        _, _, _, (rx, ry, rz), (ax, ay, az) = self._frame_for
        lx, ly, lz = linear_mps2
        across = lx * (ry * az - rz * ay) + ly * (rz * ax - rx * az) + lz * (rx * ay - ry * ax)
        return across, lx * rx + ly * ry + lz * rz

    def _angle(self, up: np.ndarray) -> float:
        """Rotation of ``up`` from ``up_ref`` about the axis ``a``: atan2 of the triple product (u x r).a
        and the dot product of both projected onto the plane normal to ``a`` (plain floats: hot path)."""
        ux, uy, uz = up.tolist()
        _, _, _, (rx, ry, rz), (ax, ay, az) = self._frame()
        cross_a = (uy * rz - uz * ry) * ax + (uz * rx - ux * rz) * ay + (ux * ry - uy * rx) * az
        dot_p = ux * rx + uy * ry + uz * rz - (ux * ax + uy * ay + uz * az) * (rx * ax + ry * ay + rz * az)
        return math.degrees(math.atan2(cross_a, dot_p))

    def _learn_axis(self) -> None:
        self._since_eig = 0
        xx, xy, xz, yy, yz, zz = self._c
        w, v = np.linalg.eigh(np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]]))
        if w[2] <= 0 or w[2] / w.sum() < self.min_planarity:
            return
        new = v[:, 2]
        if self.axis is not None and new @ self.axis < 0:
            new = -new
        self.axis = new
        if self._axis_anchor is None:
            self._axis_anchor = new
        elif new @ self._axis_anchor < self._cos_turned:
            # turned far since the hinge side was learned (the strap slid round the leg): the
            # sign carried along may now be the wrong one, so the side is learned again
            self._axis_anchor = new
            self.turns += 1

    def axis_memory(self) -> tuple[np.ndarray, list[float]]:
        """The axis and the movement it was learned from, for :meth:`restore_axis`."""
        return self.axis, list(self._c)

    def restore_axis(self, axis: np.ndarray, cov: list[float]) -> bool:
        """Between sets, at a still stand: back to the axis (and the movement it was learned from) of
        the last set's reps, if the axis has turned more than ``turned_deg`` from it since. A minute of
        stretching (leg swings out and across, the knee pulled up behind) teaches an axis 55-85 deg off
        the flexion axis, and slow reps take several to teach it back: the next set's first reps read
        too shallow to count. The mount is what sets the axis; if the strap did turn round the leg in
        the rest, the next set's first rep turns the axis again and is re-read."""
        if self.axis is None or abs(float(axis @ self.axis)) >= self._cos_turned:
            return False
        self.axis = self._axis_anchor = axis
        self._c, self._since_eig = list(cov), 0
        return True

    def _ref_valid(self) -> bool:
        """Standing "up" lies in the movement plane, or near it: the angle uses its projection onto
        the plane, which is exactly the new standing "up" after a slip about the forward axis (the
        strap tilting on the leg). One further out than ``ref_off_plane_deg`` belongs to another mount."""
        return self._frame()[2]

    def _frame(self) -> tuple:
        """(up_ref, axis, whether the reference is valid, up_ref and axis as plain floats), with an axis
        learned: asked every bucket, while both change seldom (never in place), so worked out only then."""
        ref, axis = self.up_ref, self.axis
        if ref is not self._frame_for[0] or axis is not self._frame_for[1]:
            self._frame_for = (ref, axis, ref is not None and abs(float(ref @ axis)) <= self._sin_ref,
                               None if ref is None else ref.tolist(), axis.tolist())
        return self._frame_for

    def _on_still(self, up: np.ndarray) -> None:
        """The first still pose (session start, or just after the strap moved) is standing; later
        ones (sitting, holds) never replace it unless it no longer fits the learned axis, or reads
        further from standing than any leg can be held (``max_pose_deg``: the sensor was put on
        anew, with "up" landing in the old plane by chance)."""
        if self.axis is not None and self._ref_valid() and abs(self._angle(up)) > self.max_pose_deg:
            self.up_ref = up.copy()
            self.rezeros += 1
        elif self.axis is not None and abs(float(up @ self.axis)) > self._sin_off:
            self.axis = self._axis_anchor = None  # the strap moved: relearn from the next movement
            self._c = [0.0] * 6
            self.rezeros += 1
            self.up_ref = up.copy()
        elif self.up_ref is None or (self.axis is not None and not self._ref_valid()):
            self.up_ref = up.copy()

    def _track_home(self, up: np.ndarray, angle: float, rate_dps: float, still_s: float, hinge_sign: int) -> float:
        """Standing is the pose the leg leaves and comes back to going both ways (sets, walking; from
        a seat the thigh only ever goes one way, and a hold at a rep's bottom or top is left one way
        only: the next rep stops about as deep). If that pose is far from zero the reference is stale
        (the strap slipped within the movement plane, or the session began seated): it becomes
        standing. A pose held still longer than ``home_still_s`` (holds in a rep are shorter) is
        standing once the leg has gone well both ways from it. On the thigh, in the middle of a set,
        a pose held only ``quiet_s`` is standing when, after such a round trip, the leg comes back from
        afar to hold a pose within ``home_return_deg`` of it, ``home_returns`` times over: the reps'
        return, a rep or two after a slip (a false start's bottom may recur once, never twice).
        The shank's hinge and march both go back from standing (one way only), so there a long still
        pose is standing when the leg leaves it for hinges (``hinge_sign``) and comes back to hold
        a pose within ``home_return_deg`` of it ``home_returns`` times: a held hinge is left the
        other way, a march is never held still that long. A long still pose ``seated_deg`` to
        ``stand_deg`` from the reference is standing at once: a seated shank hangs nearer, a held
        hinge is further back, and a strap slipped in a rest with no hinge after it (walking, stairs)
        had its strides read as hinges.
        """
        home, poses = self._home, self._poses
        if still_s >= self.home_still_s:    # the same pose held again keeps its returns
            again = home is not None and abs(home.from_deg) <= self.home_return_deg
            self._home = _Pose(angle, up.copy(), returns=home.returns if again else 0)
            if not self._follow_reps and self.params.seated_deg < abs(angle) <= self.params.stand_deg:
                angle = self._rehome(up, up)   # shank: standing still, read through a slipped strap
        elif home is not None and still_s == 0:
            home.follow((angle,))
            if abs(home.deg) > self.stale_ref_deg and home.round_trip(self.round_trip_deg):
                angle = self._rehome(home.up, up)
        if poses:             # they are read only when a pose is held: they follow then, all at once
            self._unfollowed.append(angle)
            if len(self._unfollowed) >= FOLLOW_BUCKETS:
                self._follow_poses()
        self._quiet = self._quiet + 1 if abs(rate_dps) < self.moving_dps else 0
        if self._quiet != self._quiet_buckets:   # moving, or this pose already held since
            return angle
        if not self._follow_reps:
            return self._shank_return(self._home, up, angle, hinge_sign)
        self._follow_poses()
        back_to = max((p for p in poses if p.round_trip(self.round_trip_deg) and abs(p.from_deg) <= self.home_return_deg),
                      key=lambda p: p.returns, default=None) if poses and poses[-1].reach(self.round_trip_deg) else None
        returns, first_n = (back_to.returns + 1, back_to.first_n) if back_to is not None else (0, self._n)
        if self._follow_reps and returns >= self.home_returns and abs(angle) > self.stale_ref_deg:
            angle = self._rehome(up, up)
            self.set_rehomes += 1
            self.set_rehome_buckets = self._n - first_n
        poses.append(_Pose(angle, returns=returns, first_n=first_n))
        return angle

    def _shank_return(self, home: _Pose | None, up: np.ndarray, angle: float, hinge_sign: int) -> float:
        """Shank, a pose just held: one more return to the long still pose after a hinge from it?"""
        if home is None or not hinge_sign or abs(home.from_deg) > self.home_return_deg:
            return angle
        if (home.behind if hinge_sign < 0 else home.ahead) > self.round_trip_deg:
            home.returns += 1
            home.behind = home.ahead = abs(home.from_deg)   # the next return needs a hinge of its own
            if home.returns >= self.home_returns and abs(home.deg) > self.stale_ref_deg:
                return self._rehome(home.up, up)
        return angle

    def _follow_poses(self) -> None:
        """The poses kept follow the leg through the angles since they last did."""
        for pose in self._poses:
            pose.follow(self._unfollowed)
        self._unfollowed.clear()

    def _forget_poses(self) -> None:
        self._poses.clear()
        self._unfollowed.clear()

    def _rehome(self, ref: np.ndarray, up: np.ndarray) -> float:
        """Standing is ``ref`` from now: returns the angle of ``up`` in it."""
        self.up_ref, self._home = ref.copy(), None
        self._forget_poses()
        self.rehomes += 1
        return self._angle(up)


class _Pose:
    """A pose the leg held, and how far it has gone from it since, each way (unwrapped: from a seat
    the hinge is 180 deg away, not "behind")."""

    __slots__ = ("deg", "up", "returns", "first_n", "from_deg", "behind", "ahead")

    def __init__(self, deg: float, up: np.ndarray | None = None, returns: int = 0, first_n: int = 0):
        self.deg, self.up, self.returns = deg, up, returns   # returns: times the leg came back to it so far
        self.first_n = first_n    # the bucket where the leg first held it (before those returns)
        self.from_deg = self.behind = self.ahead = 0.0

    def follow(self, angles) -> None:
        """Track the leg through ``angles`` (time order) since this pose, in plain floats: this runs
        for every bucket and every pose kept."""
        deg, d, behind, ahead = self.deg, self.from_deg, self.behind, self.ahead
        for angle in angles:
            d += _wrap(angle - deg - d)
            if -d > behind:   # max(behind, -d), as max() decides, without its call
                behind = -d
            if d > ahead:
                ahead = d
        self.from_deg, self.behind, self.ahead = d, behind, ahead

    def reach(self, deg: float) -> bool:
        """The leg was ``deg`` from where it is now since this pose: it came back from afar."""
        return max(self.ahead - self.from_deg, self.from_deg + self.behind) > deg

    def round_trip(self, deg: float) -> bool:
        """Gone ``deg`` one way and half as far the other since."""
        return max(self.behind, self.ahead) > deg and min(self.behind, self.ahead) > deg / 2


def _wrap(deg: float) -> float:
    """An angle difference folded into -180..180."""
    return (deg + 180.0) % 360.0 - 180.0
