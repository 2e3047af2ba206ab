"""dse.pareto against brute-force references (Hypothesis), hand-computed values, and Optuna's
own hypervolume where importable."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dse.pareto import hypervolume, non_dominated, nondominated_sort, reference_point


def brute_non_dominated(points: np.ndarray, directions: list[str]) -> np.ndarray:
    """O(n^2) definition: p is on the front iff no q is >= p everywhere and > p somewhere."""
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    pts = points * signs
    n = len(pts)
    out = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if np.all(pts[j] <= pts[i]) and np.any(pts[j] < pts[i]):
                out[i] = False
                break
    return out


def brute_hypervolume(points: np.ndarray, directions: list[str], ref: np.ndarray) -> float:
    """Count the unit cells of the integer grid dominated by some point (exact for integer
    coordinates): cell [c, c+1)^d is covered iff some point p <= c (minimization form)."""
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    pts, r = points * signs, ref * signs
    lo = np.floor(pts.min(axis=0)) if len(pts) else r
    count = 0
    for cell in itertools.product(*[range(int(a), int(b)) for a, b in zip(lo, r, strict=True)]):
        c = np.array(cell, dtype=float)
        if len(pts) and np.any(np.all(pts <= c, axis=1)):
            count += 1
    return float(count)


dims = st.integers(min_value=1, max_value=4)


@st.composite
def point_sets(draw: st.DrawFn, max_dim: int = 4, max_n: int = 30, hi: int = 6
               ) -> tuple[np.ndarray, list[str]]:
    d = draw(st.integers(min_value=1, max_value=max_dim))
    n = draw(st.integers(min_value=0, max_value=max_n))
    flat = draw(st.lists(st.integers(0, hi), min_size=n * d, max_size=n * d))
    directions = draw(st.lists(st.sampled_from(["maximize", "minimize"]), min_size=d,
                               max_size=d))
    return np.array(flat, dtype=float).reshape(n, d), directions


@settings(max_examples=150, deadline=None)
@given(point_sets())
def test_non_dominated_matches_brute_force(data: tuple[np.ndarray, list[str]]) -> None:
    points, directions = data
    assert non_dominated(points, directions).tolist() == \
        brute_non_dominated(points, directions).tolist()


@settings(max_examples=80, deadline=None)
@given(point_sets(max_n=20))
def test_nondominated_sort_ranks(data: tuple[np.ndarray, list[str]]) -> None:
    """Rank k = the front of what remains after removing ranks < k (definition)."""
    points, directions = data
    ranks = nondominated_sort(points, directions)
    remaining = np.arange(len(points))
    k = 0
    while remaining.size:
        front = brute_non_dominated(points[remaining], directions)
        assert (ranks[remaining[front]] == k).all()
        remaining = remaining[~front]
        k += 1


@settings(max_examples=120, deadline=None)
@given(point_sets(max_dim=4, max_n=8, hi=5))
def test_hypervolume_matches_grid_count(data: tuple[np.ndarray, list[str]]) -> None:
    points, directions = data
    # reference strictly outside the box [0, 5] on the worse side of each objective
    ref = np.array([-1.0 if d == "maximize" else 6.0 for d in directions])
    assert hypervolume(points, directions, ref) == brute_hypervolume(points, directions, ref)


def test_hand_computed_values() -> None:
    """2-D minimization, ref (5, 6): points (1,5), (2,3), (4,1) ((3,4) dominated, (2,3) twice):
    slabs 1*(6-5) + 2*(6-3) + 1*(6-1) = 1 + 6 + 5 = 12.
    3-D: (1,1,1) alone against (2,3,4): 1*2*3 = 6; adding (0,2,3): its box 2*1*1 = 2, the
    overlap [1,2]x[2,3]x[3,4] = 1 → 6 + 2 - 1 = 7.
    Mixed: accuracy 0.9 at 800 bits and 0.5 at 100 bits, ref (0.4, 1000), slabs over accuracy:
    (0.9-0.5)*(1000-800) + (0.5-0.4)*(1000-100) = 80 + 90 = 170."""
    pts = np.array([[1, 5], [2, 3], [3, 4], [4, 1], [2, 3]], dtype=float)
    assert hypervolume(pts, ["minimize"] * 2, [5, 6]) == 12.0
    assert non_dominated(pts, ["minimize"] * 2).tolist() == [True, True, False, True, True]
    assert nondominated_sort(pts, ["minimize"] * 2).tolist() == [0, 0, 1, 0, 0]
    assert hypervolume([[1, 1, 1]], ["minimize"] * 3, [2, 3, 4]) == 6.0
    assert hypervolume([[1, 1, 1], [0, 2, 3]], ["minimize"] * 3, [2, 3, 4]) == 7.0
    assert hypervolume([[0.9, 800], [0.5, 100]], ["maximize", "minimize"], [0.4, 1000]) \
        == pytest.approx(170.0)
    # a point outside the reference contributes nothing; NaN rows are ignored
    assert hypervolume([[6, 0], [np.nan, 1]], ["minimize"] * 2, [5, 6]) == 0.0
    assert non_dominated([[np.nan, 1], [2, 2]], ["minimize"] * 2).tolist() == [False, True]


def test_two_d_is_fast_path_and_exact_on_a_large_front() -> None:
    """A 2-D front of 20,000 points on the line x + y = 1: every point is non-dominated and
    the staircase area to (1, 1) is sum over i of (1/n) * (i/n) = (n-1)/(2n)."""
    n = 20_000
    x = np.arange(n) / n
    pts = np.column_stack([x, 1 - x])
    assert non_dominated(pts, ["minimize"] * 2).all()
    assert hypervolume(pts, ["minimize"] * 2, [1.0, 1.0]) == pytest.approx((n - 1) / (2 * n))


def test_reference_point() -> None:
    objectives = [("accuracy", "maximize"), ("memory_bits", "minimize"), ("energy_pj", "minimize")]
    budgets = [("memory_bits", "<=", 1e6), ("accuracy", ">=", 0.5), ("energy_pj", ">=", 3.0)]
    pts = np.array([[0.9, 10.0, 2.0], [0.7, 20.0, 6.0]])
    ref = reference_point(objectives, budgets, pts)
    # budgets bound accuracy and memory; energy's budget bounds the better side, so the
    # reference is worst + 10% of range = 6 + 0.4
    assert ref.tolist() == pytest.approx([0.5, 1e6, 6.4])
    with pytest.raises(ValueError, match="no budget and no observed value"):
        reference_point([("accuracy", "maximize")], [], None)
    with pytest.raises(ValueError, match="1 to 4 objectives"):
        hypervolume(np.zeros((1, 5)), ["minimize"] * 5, [1] * 5)
    with pytest.raises(ValueError, match="'maximize' or 'minimize'"):
        non_dominated([[1.0]], ["max"])


@settings(max_examples=40, deadline=None)
@given(point_sets(max_dim=4, max_n=12, hi=9))
def test_against_optuna_hypervolume(data: tuple[np.ndarray, list[str]]) -> None:
    """Peer check: Optuna's private ``optuna._hypervolume.compute_hypervolume`` (minimization)."""
    optuna_hv = pytest.importorskip("optuna._hypervolume")
    points, directions = data
    if points.shape[1] < 2 or len(points) == 0:
        return
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    ref = np.array([-1.0 if d == "maximize" else 10.0 for d in directions])
    ours = hypervolume(points, directions, ref)
    theirs = optuna_hv.compute_hypervolume(points * signs, ref * signs)
    assert ours == pytest.approx(theirs)
