"""Left against right: a session's sets summed per side, and the asymmetry between two sides' figures.

A set belongs to the side that was active when its first rep came (the service decides; every rep
of the set carries that side). The figures per side are what a therapist compares in single-leg
work: reps, mean hinge depth, march height and tempo (rep-weighted), and the mean set sway.
"""
from __future__ import annotations

SIDES = ("left", "right")
MEANS = ("mean_hinge_depth_deg", "mean_march_height_deg", "mean_duration_s")


def _number(x) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def per_side(sets: list[dict]) -> dict[str, dict]:
    """``{side: {"sets", "reps", mean_hinge_depth_deg, mean_march_height_deg, mean_duration_s,
    mean_sway_deg}}`` for each side that has a set with reps, in SIDES order (then any other name);
    the means are weighted by each set's reps; a mean with no data (sway not measured) is None."""
    out: dict[str, dict] = {}
    for s in sets:
        n = s.get("reps")
        if not isinstance(n, int) or n <= 0:
            continue
        side = str(s.get("side") or "")
        acc = out.setdefault(side, {"sets": 0, "reps": 0, "_w": {k: [0.0, 0] for k in MEANS}, "_sway": []})
        acc["sets"] += 1
        acc["reps"] += n
        for k in MEANS:
            v = _number(s.get(k))
            if v is not None:
                acc["_w"][k][0] += v * n
                acc["_w"][k][1] += n
        sway = _number(s.get("sway_deg"))
        if sway is not None:
            acc["_sway"].append(sway)
    result = {}
    for side in sorted(out, key=lambda x: (SIDES.index(x) if x in SIDES else len(SIDES), x)):
        acc = out[side]
        row = {"sets": acc["sets"], "reps": acc["reps"]}
        for k, (total, n) in acc["_w"].items():
            row[k] = round(total / n, 2) if n else None
        row["mean_sway_deg"] = round(sum(acc["_sway"]) / len(acc["_sway"]), 3) if acc["_sway"] else None
        result[side] = row
    return result


def asymmetry_pct(left, right) -> float | None:
    """How much the two sides differ, in percent of the larger: 100 |L - R| / max(|L|, |R|);
    None when either is unknown or both are 0 (nothing to compare)."""
    a, b = _number(left), _number(right)
    if a is None or b is None or max(abs(a), abs(b)) == 0:
        return None
    return round(100.0 * abs(a - b) / max(abs(a), abs(b)), 1)
