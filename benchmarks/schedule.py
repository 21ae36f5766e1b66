"""The learning-rate milestones of a shortened schedule (the full-data control at budget b).

The control trains E_b = max(1, round(b E)) epochs instead of E. Each milestone m of
``train.milestones`` is moved to the same place of the short one, and the moved milestones
are kept distinct and ordered::

    r_i = max(1, round(m_i E_b / E))          (the place of m_i in the short schedule)
    s_i = r_i                     when r_i >= E_b (it lands at the end: it never fires,
                                  as m_i = E never fires in the long schedule)
    s_i = max(r_i, s_{i-1} + 1)   otherwise (a milestone that lands on its predecessor's
                                  epoch moves to the next one)

so no two milestones share an epoch (MultiStepLR would decay by gamma^k there). When a
milestone so moved would reach E_b (the short schedule has too few epochs to hold the
milestones at distinct epochs, e.g. E = 12, [1, 5, 8] at b = 1/4 or 1/6), the documented
rule is the plain rounding ``min(E_b, r_i)``: the decays that share an epoch are merged
(gamma^k there), exactly as the budget study's committed controls were trained; the dry run
prints a note naming the cell (:func:`merged_note`), so it is never silent. Where no two
milestones land on one epoch the result is the plain rounding r_i.
"""
from __future__ import annotations

from typing import List, Sequence


class ScheduleError(ValueError):
    """The shortened schedule cannot hold the milestones at distinct epochs."""


def shorten_milestones(milestones: Sequence[int], epochs: int, short: int, budget: float) -> List[int]:
    """The milestones of a schedule of ``short`` epochs standing for ``epochs`` (see above)."""
    places = [max(1, int(round(int(m) * short / epochs))) for m in sorted(milestones)]
    out: List[int] = []
    last = 0
    for r in places:
        if r >= short:  # lands at the end: never fires (the plain rounding, as before)
            out.append(short)
            continue
        s = max(r, last + 1)
        if s >= short:  # too few epochs to hold them apart: the plain rounding (merged decays)
            return [min(short, r) for r in places]
        out.append(s)
        last = s
    return out


def merged_note(milestones: Sequence[int], epochs: int, short: int, budget: float) -> str:
    """'' when the shortened milestones stay distinct, else the note the dry run prints."""
    got = shorten_milestones(milestones, epochs, short, budget)
    firing = [m for m in got if m < short]
    if len(firing) == len(set(firing)):
        return ""
    return (f"strategy full at budget {budget:g}: its shortened schedule has {short} epoch(s) (round(b E), "
            f"E = {epochs}), too few to hold the learning-rate milestones {sorted(milestones)} at distinct "
            f"epochs: they are merged at {got} (gamma^k where k decays share an epoch; benchmarks/schedule.py)")
