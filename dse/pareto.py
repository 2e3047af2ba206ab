"""Pareto fronts and hypervolume for mixed maximize/minimize objectives.

All functions take points in the objectives' own orientation (accuracy as accuracy, bits as
bits) plus one direction per column (``"maximize"`` or ``"minimize"``) and flip maximized
columns internally. Dominance: ``q`` dominates ``p`` when ``q`` is at least as good in every
objective and strictly better in one; equal points do not dominate each other, so duplicates
on the front are all non-dominated. Rows holding NaN are never on a front.

* :func:`non_dominated` — the front mask; 2-D in O(n log n) (sort + running minimum), higher
  dimensions by one pass in lexicographic order (a dominator always sorts first, so a point is
  on the front iff no front point found so far dominates it): O(n * front).
* :func:`nondominated_sort` — front ranks (0 = Pareto front), by peeling fronts.
* :func:`hypervolume` — exact dominated volume w.r.t. a reference point, for 1–4 objectives:
  2-D by a sorted sweep in O(n log n); 3-D/4-D by slicing along the last objective
  (Hypervolume by Slicing Objectives, While et al., IEEE TEC 2006) over the front only.
* :func:`reference_point` — from the study's budgets where a budget bounds the worse side of
  an objective, else the worst observed value worsened by ``margin`` times the range.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DIRECTIONS = ("maximize", "minimize")


def _signs(directions: Sequence[str], ndim: int) -> np.ndarray:
    if len(directions) != ndim:
        raise ValueError(f"directions: need one per objective ({ndim}), got {len(directions)}")
    bad = [d for d in directions if d not in DIRECTIONS]
    if bad:
        raise ValueError(f"directions: must be 'maximize' or 'minimize', got {bad[0]!r}")
    return np.array([-1.0 if d == "maximize" else 1.0 for d in directions])


def _as_min(points: np.ndarray | Sequence[Sequence[float]], directions: Sequence[str]
            ) -> np.ndarray:
    """Points as a float (n, d) array in minimization form."""
    pts = np.asarray(points, dtype=float)
    if pts.ndim == 1:
        pts = pts.reshape(-1, len(directions)) if pts.size else pts.reshape(0, len(directions))
    if pts.ndim != 2:
        raise ValueError(f"points: must be a 2-D array (n, objectives), got shape {pts.shape}")
    return pts * _signs(directions, pts.shape[1])


def _nd_min(pts: np.ndarray) -> np.ndarray:
    """Non-dominated mask of finite points already in minimization form."""
    n, d = pts.shape
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    if d == 1:
        mask[:] = pts[:, 0] == pts[:, 0].min()
        return mask
    if d == 2:
        order = np.lexsort((pts[:, 1], pts[:, 0]))  # by x, then y
        x, y = pts[order, 0], pts[order, 1]
        new_group = np.empty(n, dtype=bool)
        new_group[0] = True
        new_group[1:] = x[1:] != x[:-1]
        group_id = np.cumsum(new_group) - 1
        group_min = y[new_group]  # sorted by y within x: the first row holds the group minimum
        prev_best = np.empty_like(group_min)
        prev_best[0] = np.inf
        prev_best[1:] = np.minimum.accumulate(group_min)[:-1]
        gm, pb = group_min[group_id], prev_best[group_id]
        mask[order] = (y == gm) & (gm < pb)
        return mask
    order = np.lexsort(pts.T[::-1])  # lexicographic: first column most significant
    front = np.empty((0, d))
    for i in order:
        p = pts[i]
        if front.shape[0]:
            le = np.all(front <= p, axis=1)
            if np.any(le & np.any(front < p, axis=1)):
                continue
        mask[i] = True
        front = np.vstack([front, p])
    return mask


def non_dominated(points: np.ndarray | Sequence[Sequence[float]], directions: Sequence[str]
                  ) -> np.ndarray:
    """Boolean mask of the points on the Pareto front (NaN rows: False)."""
    pts = _as_min(points, directions)
    finite = np.all(np.isfinite(pts), axis=1)
    mask = np.zeros(pts.shape[0], dtype=bool)
    idx = np.flatnonzero(finite)
    mask[idx] = _nd_min(pts[idx])
    return mask


def nondominated_sort(points: np.ndarray | Sequence[Sequence[float]],
                      directions: Sequence[str]) -> np.ndarray:
    """Front rank of every point: 0 = Pareto front, 1 = front once rank 0 is removed, ...;
    rows holding NaN get -1."""
    pts = _as_min(points, directions)
    ranks = np.full(pts.shape[0], -1, dtype=int)
    remaining = np.flatnonzero(np.all(np.isfinite(pts), axis=1))
    rank = 0
    while remaining.size:
        front = _nd_min(pts[remaining])
        ranks[remaining[front]] = rank
        remaining = remaining[~front]
        rank += 1
    return ranks


def _hv2(pts: np.ndarray, ref: np.ndarray) -> float:
    """2-D hypervolume (minimization, all points strictly better than ref) by a sweep."""
    if pts.shape[0] == 0:
        return 0.0
    front = pts[_nd_min(pts)]
    front = front[np.lexsort((front[:, 1], front[:, 0]))]
    # on a 2-D front sorted by x ascending, y is strictly decreasing (duplicates aside)
    x_next = np.append(front[1:, 0], ref[0])
    return float(np.sum((x_next - front[:, 0]) * (ref[1] - front[:, 1])))


def _hv(pts: np.ndarray, ref: np.ndarray) -> float:
    d = pts.shape[1]
    if pts.shape[0] == 0:
        return 0.0
    if d == 1:
        return float(ref[0] - pts[:, 0].min())
    if d == 2:
        return _hv2(pts, ref)
    pts = pts[_nd_min(pts)]
    pts = pts[np.argsort(pts[:, -1], kind="stable")]
    z = np.append(pts[:, -1], ref[-1])
    total = 0.0
    for i in range(pts.shape[0]):
        depth = z[i + 1] - z[i]
        if depth > 0:
            total += depth * _hv(pts[: i + 1, :-1], ref[:-1])
    return total


def hypervolume(points: np.ndarray | Sequence[Sequence[float]], directions: Sequence[str],
                reference: Sequence[float] | np.ndarray) -> float:
    """Exact volume dominated by ``points`` and bounded by ``reference`` (1–4 objectives).

    Points not strictly better than the reference in every objective contribute nothing;
    NaN rows are ignored.
    """
    pts = _as_min(points, directions)
    d = pts.shape[1]
    if not 1 <= d <= 4:
        raise ValueError(f"hypervolume: supports 1 to 4 objectives, got {d}")
    ref = np.asarray(reference, dtype=float).reshape(-1) * _signs(directions, d)
    if ref.shape[0] != d or not np.all(np.isfinite(ref)):
        raise ValueError(f"reference: must be {d} finite numbers, got {list(reference)}")
    keep = np.all(np.isfinite(pts), axis=1) & np.all(pts < ref, axis=1)
    return _hv(pts[keep], ref)


def budget_bound(name: str, direction: str, budgets: Sequence[tuple[str, str, float]]
                 ) -> float | None:
    """The tightest budget that bounds objective ``name`` on its worse side (``<=`` for a
    minimized one, ``>=`` for a maximized one), or None."""
    worse_ops = ("<=", "<") if direction == "minimize" else (">=", ">")
    bounds = [float(v) for m, op, v in budgets if m == name and op in worse_ops]
    if not bounds:
        return None
    return min(bounds) if direction == "minimize" else max(bounds)


def reference_point(objectives: Sequence[tuple[str, str]],
                    budgets: Sequence[tuple[str, str, float]],
                    points: np.ndarray | Sequence[Sequence[float]] | None = None,
                    *, margin: float = 0.1) -> np.ndarray:
    """A hypervolume reference point in the objectives' own orientation.

    Per objective: the value of a budget that bounds its worse side (``memory_bits <= 1e6``
    for a minimized objective, ``accuracy >= 0.5`` for a maximized one) — the natural "worst
    acceptable" point; otherwise the worst finite observed value worsened by ``margin`` times
    the observed range (by ``margin * |worst|``, or 1, when the range is zero). Raises
    ``ValueError`` when an objective has neither a budget nor an observed value.
    """
    pts = None if points is None else np.asarray(points, dtype=float)
    ref = np.empty(len(objectives))
    for j, (name, direction) in enumerate(objectives):
        if direction not in DIRECTIONS:
            raise ValueError(f"objective {name!r}: direction must be 'maximize' or 'minimize', "
                             f"got {direction!r}")
        bound = budget_bound(name, direction, budgets)
        if bound is not None:
            ref[j] = bound
            continue
        col = pts[:, j] if pts is not None and pts.size else np.empty(0)
        col = col[np.isfinite(col)]
        if col.size == 0:
            raise ValueError(f"reference_point: objective {name!r} has no budget and no "
                             "observed value")
        worst = col.max() if direction == "minimize" else col.min()
        span = float(col.max() - col.min())
        pad = margin * span if span > 0 else (margin * abs(worst) or 1.0)
        ref[j] = worst + pad if direction == "minimize" else worst - pad
    return ref
