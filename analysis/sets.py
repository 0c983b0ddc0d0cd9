"""Grouping reps into sets: a set ends when no rep follows the last one within ``set_gap_s``,
or when told (the "new set" command). Undo removes the last rep of the open set."""
from __future__ import annotations

from dataclasses import dataclass, field

from analysis.events import RepEvent, SetEvent


@dataclass
class _OpenSet:
    index: int
    reps: list[RepEvent] = field(default_factory=list)


def _mean(values) -> float:
    values = list(values)
    return round(sum(values) / len(values), 3) if values else 0.0


class SetTracker:
    """Numbers reps within sets and closes sets after a pause."""

    def __init__(self, set_gap_s: float = 20.0):
        self.set_gap_s = set_gap_s
        self.sets_done = 0
        self.open: _OpenSet | None = None

    def add_rep(self, t_s: float, completed_s: float, start_s: float, depth_deg: float,
                height_deg: float, evidence: dict, **more) -> RepEvent:
        """Count a rep in the open set (opening one if needed); ``more``: RepEvent's sway fields, rom_deg
        and exercise."""
        if self.open is None:
            self.open = _OpenSet(self.sets_done + 1)
        rep = RepEvent(t_s=round(t_s, 3), completed_s=round(completed_s, 3), set_index=self.open.index,
                       rep_in_set=len(self.open.reps) + 1, start_s=round(start_s, 3),
                       duration_s=round(completed_s - start_s, 3), hinge_depth_deg=round(depth_deg, 1),
                       march_height_deg=round(height_deg, 1), evidence=evidence, **more)
        self.open.reps.append(rep)
        return rep

    def tick(self, t_s: float) -> SetEvent | None:
        """Close the open set if its last rep is older than the set gap."""
        if self.open is not None and self.open.reps and t_s - self.open.reps[-1].completed_s > self.set_gap_s:
            return self.close(t_s)
        return None

    def close(self, t_s: float) -> SetEvent | None:
        """Close the open set now (new-set command, end of session); None if nothing is open."""
        s, self.open = self.open, None
        if s is None or not s.reps:
            return None
        self.sets_done = s.index
        reps = s.reps
        return SetEvent(t_s=round(t_s, 3), set_index=s.index, start_s=reps[0].start_s,
                        end_s=reps[-1].completed_s, reps=len(reps),
                        rep_times_s=tuple(r.completed_s for r in reps),
                        mean_hinge_depth_deg=_mean(r.hinge_depth_deg for r in reps),
                        mean_march_height_deg=_mean(r.march_height_deg for r in reps),
                        mean_duration_s=_mean(r.duration_s for r in reps),
                        mean_rom_deg=_mean(r.rom_deg for r in reps), exercise=reps[0].exercise)

    def undo_last_rep(self) -> RepEvent | None:
        """Remove the open set's last rep (a miscount the athlete corrects); None if there is none."""
        if self.open is None or not self.open.reps:
            return None
        return self.open.reps.pop()
