"""Feasible points of a space drawn with the cost model, before anything is trained.

The batch cost model (:func:`hwmodel.batch.score_choices`) scores thousands of candidates per
second, so a tight hardware budget can be met by rejection sampling: draw uniform choices
(:meth:`SearchSpace.random_choices`), score them in chunks, keep the distinct specs within
every budget. The search uses it three times:

* **warm start** -- the sampler's random start-up trials are replaced by feasible points
  (``Proposer`` enqueues them), so under ``memory_bits<=30000`` on ``heq-resnet`` the first
  trials train instead of being thrown away (benchmarks/budget_proposals.py);
* **gap filling** -- every ``gap_fill_every``-th trained candidate is the pool point in the
  widest stretch of cost where nothing was trained yet (:func:`widest_gap`), so the front's
  cheap end, where budgets bite and the sampler seldom goes, keeps being explored;
* **a fixed hypervolume reference** -- the largest cost seen over the draws bounds the
  minimized hardware objectives that no budget bounds (:func:`hypervolume_reference`).

Budgets on metrics the batch model does not report are not checked here (the proposer still
checks every budget); ``cycles`` is checked as the stall-free ``ideal_cycles``, a lower bound
of the simulated count, so a point rejected here is infeasible for sure.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from dse.config import Budget
    from hwmodel.accel import AccelConfig

#: Budget metric -> the batch model's column that bounds it from below (the simulator's
#: cycles are at least the stall-free count).
_LOWER_BOUND_COLUMN = {"cycles": "ideal_cycles"}


@dataclass(frozen=True)
class Draws:
    """What rejection sampling saw: the feasible distinct points and the cost of every draw."""

    feasible: list[dict[str, Any]]
    costs: pd.DataFrame
    draws: int


def _column(budget_metric: str, columns: Sequence[str]) -> str | None:
    col = _LOWER_BOUND_COLUMN.get(budget_metric, budget_metric)
    return col if col in columns else None


def draw(space: Any, budgets: Sequence[Budget], *, want: int, seed: int,
         accel: AccelConfig | None = None, max_draws: int = 5_000,
         chunk: int = 1_000) -> Draws:
    """Draw uniform choices in chunks until ``want`` distinct feasible points are found or
    ``max_draws`` were drawn. Rows of ``costs`` are every draw's batch-model totals."""
    import numpy as np
    import pandas as pd

    from hwmodel.batch import score_choices

    rng = random.Random(seed)
    seen: set[str] = set()
    feasible: list[dict[str, Any]] = []
    frames: list[pd.DataFrame] = []
    drawn = 0
    while drawn < max_draws and len(feasible) < want:
        n = min(chunk, max_draws - drawn)
        choices = [space.random_choices(rng) for _ in range(n)]
        drawn += n
        df = score_choices(space, choices, accel)
        frames.append(df)
        ok = np.ones(len(df), dtype=bool)
        for b in budgets:
            col = _column(b.metric, list(df.columns))
            if col is not None:
                ok &= ~np.array([b.violated_by(float(v)) for v in df[col]])
        for i in np.flatnonzero(ok):
            h = str(df["spec_hash"].iat[int(i)])
            if h not in seen and len(feasible) < want:
                seen.add(h)
                feasible.append(choices[i])
    costs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return Draws(feasible, costs, drawn)


def spread(points: Sequence[Mapping[str, Any]], costs: Sequence[float], k: int
           ) -> list[dict[str, Any]]:
    """``k`` of ``points`` spread over ``costs`` (the first objective known before training):
    the cheapest, the dearest, and between them the point nearest each of ``k - 2`` targets
    evenly spaced in log cost (ties to the cheaper), each point taken once. A front's costs
    span orders of magnitude and the cheap corner is where budgets bite, so even ranks of a
    uniform sample (its quantiles, crowded around the median cost) would leave it almost
    empty. Non-positive costs fall back to even ranks."""
    if k >= len(points):
        return [dict(p) for p in points]
    order = sorted(range(len(points)), key=lambda i: costs[i])
    if k <= 1 or costs[order[0]] <= 0:
        picks = [order[round(j * (len(order) - 1) / max(1, k - 1))] for j in range(k)]
        return [dict(points[i]) for i in picks]
    lo, hi = math.log(costs[order[0]]), math.log(costs[order[-1]])
    left = list(order)
    picks = []
    for j in range(k):
        target = lo + j * (hi - lo) / (k - 1)
        best = min(left, key=lambda i: abs(math.log(costs[i]) - target))
        left.remove(best)
        picks.append(best)
    return [dict(points[i]) for i in picks]


def widest_gap(pool_costs: Sequence[float], trained: Sequence[float], *,
               min_ratio: float = 1.5) -> int | None:
    """The pool point that covers the widest stretch of cost where nothing was trained.

    Stretches lie between consecutive distinct trained costs, and between the pool's
    cheapest (dearest) cost and the cheapest (dearest) trained one, all in log scale; the
    widest one whose ends differ by at least ``min_ratio`` and that holds a pool point
    strictly inside is filled with the pool point nearest its log-centre (ties to the
    cheaper). Returns that point's index in ``pool_costs``, or None when every stretch is
    covered. Costs must be positive (others are ignored)."""
    pool = [(math.log(c), i) for i, c in enumerate(pool_costs) if c > 0]
    if not pool:
        return None
    logs = sorted(x for x, _ in pool)
    ends = sorted({logs[0], logs[-1], *(math.log(c) for c in trained if c > 0)})
    stretches = sorted(((hi - lo, lo, hi) for lo, hi in zip(ends, ends[1:], strict=False)
                        if hi - lo >= math.log(min_ratio)), reverse=True)
    for _, lo, hi in stretches:
        inside = [(abs(x - (lo + hi) / 2), x, i) for x, i in pool if lo < x < hi]
        if inside:
            return min(inside)[2]
    return None


def hypervolume_reference(objectives: Sequence[tuple[str, str]],
                          budgets: Sequence[tuple[str, str, float]],
                          worst: Mapping[str, float], largest: Mapping[str, float],
                          *, margin: float = 0.1) -> list[float]:
    """A reference point fixed for a study's whole life, so its hypervolume never decreases.

    Per objective: a budget that bounds its worse side; else for a trained objective its worst
    value (``worst``, e.g. accuracy 0); else the largest value the cost model gave over the
    space's draws (``largest``) widened by ``margin``. A point beyond the reference adds no
    volume, so the curve stays monotone even if a later point exceeds an estimated bound.
    Raises ``ValueError`` when an objective has none of the three.
    """
    from dse.pareto import budget_bound

    ref: list[float] = []
    for name, direction in objectives:
        bound = budget_bound(name, direction, budgets)
        if bound is not None:
            ref.append(bound)
        elif name in worst:
            ref.append(float(worst[name]))
        elif name in largest and math.isfinite(largest[name]):
            value = float(largest[name])
            ref.append(value * (1 + margin) if direction == "minimize"
                       else value * (1 - margin))
        else:
            raise ValueError(f"hypervolume reference: objective {name!r} has no budget, no "
                             "worst trained value and no cost-model bound")
    return ref


def study_reference(cfg: Any, space: Any, accel: AccelConfig | None = None, *,
                    draws: int = 500) -> list[float] | None:
    """The fixed hypervolume reference of a new study (:func:`hypervolume_reference`): its
    budgets, the task's worst value of each trained objective, and the largest cost over
    ``draws`` uniform draws of the space for the rest; None when an objective has none."""
    from dse.tasks import get_task

    task = get_task(cfg.task)
    worst = {o: task.worst(o) for o in cfg.objectives
             if o in task.objectives and task.objectives[o] == "maximize"}
    largest: dict[str, float] = {}
    pending = [o for o in cfg.objectives if o not in worst]
    if pending:
        try:
            costs = draw(space, [], want=draws, seed=cfg.seed, accel=accel,
                         max_draws=draws).costs
        except Exception:  # a space the batch model cannot score: no fixed reference
            return None
        largest = {o: float(costs[o].max()) for o in pending if o in costs.columns}
    budgets = [(b.metric, b.op, b.value) for b in cfg.budgets]
    try:
        return hypervolume_reference(list(zip(cfg.objectives, cfg.directions, strict=True)),
                                     budgets, worst, largest)
    except ValueError:
        return None


#: Key of the fixed reference in a study's stored config (read by dse.store.query).
REFERENCE_KEY = "hypervolume_reference"

__all__ = ["REFERENCE_KEY", "Draws", "draw", "hypervolume_reference", "spread",
           "study_reference", "widest_gap"]
