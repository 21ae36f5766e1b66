"""The learning-rate milestones of a shortened schedule (the full-data control at budget b).

The control trains E_b = max(1, round(b E)) epochs instead of E. Each milestone m of
``train.milestones`` is moved to the same place of the short one, and the moved milestones
are kept distinct and ordered::

    r_i = max(1, round(m_i E_b / E))          (the place of m_i in the short schedule)
    s_i = r_i                     when r_i >= E_b (it lands at the end: it never fires,
                                  as m_i = E never fires in the long schedule)
    s_i = max(r_i, s_{i-1} + 1)   otherwise (a milestone that lands on its predecessor's
                                  epoch moves to the next one)

so no two milestones ever share an epoch (MultiStepLR would decay by gamma^k there). When a
milestone so moved reaches E_b (the short schedule has too few epochs to hold the
milestones at distinct epochs) the budget is an error that names it: a schedule that
merged or silently dropped those decays would not be the schedule of the shorter length.
Where no two milestones land on one epoch the result is the plain rounding r_i.
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
        if s >= short:
            raise ScheduleError(
                f"strategy full at budget {budget:g}: its shortened schedule has {short} epoch(s) (round(b E), "
                f"E = {epochs}), too few to hold the learning-rate milestones {sorted(milestones)} of "
                f"train.milestones at distinct epochs: they land on {places}, and epochs 1..{short - 1} cannot "
                f"hold them apart; use a larger budget or fewer milestones")
        out.append(s)
        last = s
    return out
