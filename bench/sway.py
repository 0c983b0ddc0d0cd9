"""Balance sway and foot touch-downs against the simulator's truth.

Validity: Spearman rank correlation of each set's ``sway_deg`` with the set's true whole-body sway
level, over varied sessions (placement, rate, mount, chip, tempo, depth, distractions between sets).
Repeatability: the same true level in every set, different seeds: coefficient of variation of
``sway_deg``. Foot touch-downs: recall and precision against the injected taps (within +-1 s; a tap
after a set's last rep is the set ending, not a balance loss, so only taps up to the last rep count).
Every session is streamed through the pipeline in 0.1 s blocks, as live. The same for the optional
second sensor, simulated on the standing shank: its RMS sway against the true level. Prints the
figures the docs quote.

    ./run bench sway [--sessions 36] [--repeat 12] [--jobs 2] [--seed0 5000]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.events import RepEvent, SetEvent  # noqa: E402
from analysis.pipeline import Pipeline  # noqa: E402
from analysis.sway.trunk import TrunkTilt  # noqa: E402
from imu.sim import SensorErrors, simulate_session  # noqa: E402
from imu.sim.leg import StanceShank  # noqa: E402
from imu.sim.sensor import SensorStage  # noqa: E402

RATES_HZ = (50, 100, 200, 400)
MOUNTS = ("random", "random", "crooked", "aligned")
TEMPOS_S = ((1.5, 3.0), (2.0, 6.0), (4.0, 8.0))
DEPTHS_DEG = ((50.0, 75.0), (60.0, 100.0), (75.0, 100.0))
TAP_TOLERANCE_S = 1.0
REPEAT_LEVELS_DEG = (1.0, 2.0)


def corpus(n: int, seed0: int) -> list[dict]:
    """Varied sessions: every axis cycles; a third have taps three times as often (more to score)."""
    return [dict(seed=seed0 + i, placement=("thigh", "shank")[i % 2], rate_hz=RATES_HZ[(i // 2) % 4],
                 mount=MOUNTS[(i // 3) % 4], tempo_range_s=TEMPOS_S[(i // 5) % 3],
                 hinge_depth_range_deg=DEPTHS_DEG[(i // 6) % 3], n_sets=4, rest_range_s=(30.0, 90.0),
                 foot_tap_prob=0.18 if i % 3 == 0 else 0.06,
                 errors="lsm6dsox" if i % 5 == 4 else "mpu6050") for i in range(n)]


def repeat_corpus(n: int, seed0: int, level_deg: float, wobble_deg: float | None) -> list[dict]:
    """Same true sway level in every set; seeds (and so everything else) differ."""
    extra = {} if wobble_deg is None else {"wobble_range_deg": (wobble_deg, wobble_deg)}
    return [dict(seed=seed0 + i, placement=("thigh", "shank")[i % 2], rate_hz=100, mount="random",
                 n_sets=3, rest_range_s=(30.0, 60.0), sway_range_deg=(level_deg, level_deg),
                 errors="mpu6050", **extra) for i in range(n)]


def run_session(spec: dict) -> list[dict]:
    """One session streamed in 0.1 s blocks; per true set: truth and what the pipeline reported."""
    spec = dict(spec)
    errors = SensorErrors.lsm6dsox() if spec.pop("errors") == "lsm6dsox" else SensorErrors.mpu6050()
    s = simulate_session(spec.pop("seed"), errors=errors, **spec)
    k, b = s.stage.clock_factor, s.block          # truth is in physics time; samples on the chip's clock
    p = Pipeline(placement=s.placement)
    step = max(1, int(round(0.1 * spec["rate_hz"])))
    events = []
    for i in range(0, len(b), step):
        events += p.feed(b.t_s[i:i + step], b.accel_mps2[i:i + step], b.gyro_dps[i:i + step])
    events += p.finish()
    # the optional second sensor on the standing shank: same chip model, stamped on the same clock
    # (streaming equals batch, so it is fed in one go)
    second = SensorStage(errors, spec["rate_hz"], 16, 2000, s.motion.duration_s, np.random.default_rng(7))
    t2 = second.true_times_s(np.arange(second.n_samples))
    a2, g2 = second.apply(*StanceShank(s.motion).at(t2))
    trunk = TrunkTilt(keep_s=float(t2[-1]) * k + 1.0)
    trunk.feed(t2 * k, a2, g2)
    found = [e for e in events if isinstance(e, SetEvent)]
    reps = [e for e in events if isinstance(e, RepEvent)]
    out = []
    for st in s.truth.sets:
        lo, hi = st.start_s * k, st.end_s * k
        best = max(found, key=lambda e: min(hi, e.end_s) - max(lo, e.start_s), default=None)
        if best is None or min(hi, best.end_s) - max(lo, best.start_s) <= 0:
            best = None
        out.append({"level_deg": st.sway_level_deg, "placement": s.placement,
                    "true_taps_s": [x * k for x in st.foot_tap_s if x <= st.end_s + 1e-6],
                    "reps_true": st.reps, "reps_got": sum(1 for r in reps if lo - 1 <= r.t_s <= hi + 2),
                    "sway_deg": best.sway_deg if best else None, "sway_dps": best.sway_dps if best else None,
                    "taps_s": list(best.foot_tap_s) if best else [], "found": best is not None,
                    "second_deg": second_rms_deg(trunk, best)})
    return out


def second_rms_deg(trunk: TrunkTilt, found: SetEvent | None) -> float | None:
    """The second sensor's RMS sway (the mean of its ML and AP RMS, deg) over a found set."""
    m = trunk.measures(found.start_s, found.end_s) if found else None
    return None if m is None else (m["rms_ml_deg"] + m["rms_ap_deg"]) / 2


def tap_scores(sets: list[dict]) -> tuple[int, int, int]:
    """(true taps found, true taps, taps reported) over sets the pipeline found; greedy nearest match."""
    hit = n_true = n_got = 0
    for s in sets:
        if not s["found"]:
            continue
        got = list(s["taps_s"])
        n_true, n_got = n_true + len(s["true_taps_s"]), n_got + len(got)
        for x in s["true_taps_s"]:
            near = [g for g in got if abs(g - x) <= TAP_TOLERANCE_S]
            if near:
                got.remove(min(near, key=lambda g: abs(g - x)))
                hit += 1
    return hit, n_true, n_got


def spearman(sets: list[dict], key: str) -> tuple[float, int]:
    ok = [s for s in sets if s[key] is not None]
    return float(stats.spearmanr([s[key] for s in ok], [s["level_deg"] for s in ok])[0]), len(ok)


def cv_percent(sets: list[dict], key: str = "sway_deg") -> tuple[float, int]:
    x = np.array([s[key] for s in sets if s[key] is not None])
    return float(x.std(ddof=1) / x.mean() * 100), len(x)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=36, help="varied sessions (4 sets each)")
    ap.add_argument("--repeat", type=int, default=12, help="sessions per repeatability level (3 sets each)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed0", type=int, default=5000)
    args = ap.parse_args()
    specs = corpus(args.sessions, args.seed0)
    groups = {("varied", None): specs}
    for j, level in enumerate(REPEAT_LEVELS_DEG):
        groups[("repeat", level)] = repeat_corpus(args.repeat, args.seed0 + 1000 * (j + 1), level, None)
        groups[("repeat-fixed-wobble", level)] = repeat_corpus(args.repeat, args.seed0 + 1000 * (j + 1),
                                                               level, 1.5)
    flat = [(g, spec) for g, ss in groups.items() for spec in ss]
    t0 = time.perf_counter()
    with mp.Pool(args.jobs) as pool:
        results = pool.map(run_session, [spec for _, spec in flat])
    elapsed = time.perf_counter() - t0
    by: dict = {}
    for (g, _), r in zip(flat, results):
        by.setdefault(g, []).extend(r)
    varied = by[("varied", None)]
    print(f"hingemarch sway bench: {len(flat)} simulated sessions, {elapsed:.0f} s on "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"  validity ({len(varied)} sets of {len(specs)} varied sessions, "
          f"{sum(s['found'] for s in varied)} found):")
    for label, keep in (("all", lambda s: True), ("thigh", lambda s: s["placement"] == "thigh"),
                        ("shank", lambda s: s["placement"] == "shank")):
        sel = [s for s in varied if keep(s)]
        (rho, n), (rho_dps, _) = spearman(sel, "sway_deg"), spearman(sel, "sway_dps")
        print(f"    {label:5}: Spearman sway_deg vs true level {rho:.3f} (n={n}); sway_dps {rho_dps:.3f}")
    for (g, level), sets in by.items():
        if g == "varied":
            continue
        (cv, n), (cv_dps, _) = cv_percent(sets), cv_percent(sets, "sway_dps")
        note = "hip wobble random per set (as simulated)" if g == "repeat" else "hip wobble fixed at 1.5 deg"
        print(f"  repeatability, true level {level:.1f} deg, {note}: CV sway_deg {cv:.1f} % "
              f"(n={n}, mean {np.mean([s['sway_deg'] for s in sets if s['sway_deg'] is not None]):.2f} deg); "
              f"CV sway_dps {cv_dps:.1f} %")
    hit, n_true, n_got = tap_scores(varied)
    print(f"  foot touch-downs ({len(varied)} sets): {n_true} true, {n_got} reported, {hit} matched within "
          f"+-{TAP_TOLERANCE_S:.0f} s: recall {hit / max(n_true, 1):.3f}, precision {hit / max(n_got, 1):.3f}")
    for label in ("thigh", "shank"):
        h, nt, ng = tap_scores([s for s in varied if s["placement"] == label])
        print(f"    {label:5}: recall {h / max(nt, 1):.3f} ({h}/{nt}), precision {h / max(ng, 1):.3f} ({h}/{ng})")
    exact = sum(s["reps_true"] == s["reps_got"] for s in varied) / len(varied) * 100
    print(f"  rep counts in these sets (taps included): exact {exact:.1f} %")
    rho, n = spearman(varied, "second_deg")
    cvs = [(level, *cv_percent(sets, "second_deg")) for (g, level), sets in by.items() if g == "repeat"]
    print(f"  second sensor on the standing shank (optional): Spearman RMS sway vs true level {rho:.3f} "
          f"(n={n}); CV " + ", ".join(f"{cv:.1f} % at {level:.1f} deg (n={m})" for level, cv, m in cvs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
