"""Feasible points drawn with the cost model (dse.feasible) and the warm start of a search."""

from __future__ import annotations

import random
from pathlib import Path

import optuna

from dse.config import Budget, build_config
from dse.feasible import draw, hypervolume_reference, spread, widest_gap
from dse.search import run_search
from dse.store import open_store
from hwmodel.cost import cost_report
from search_spaces.spaces import get_space

QUICK = {"epochs": 1, "schedule": "qat", "max_train_batches": 2, "batch_size": 32,
         "executor": "local", "progress": False, "early_stopping": False,
         "confirm": 0}  # one network per candidate: confirmation is tests/dse/test_confirm.py's


def test_draw_keeps_distinct_points_within_every_budget_by_the_single_spec_model() -> None:
    space = get_space("heq-resnet", input_shape=(1, 8, 8), num_classes=10)
    budget = Budget("memory_bits", "<=", 30000)
    found = draw(space, [budget], want=5, seed=3, chunk=500)
    assert len(found.feasible) == 5 and found.draws >= 500
    specs = [space.from_choices(c) for c in found.feasible]
    assert len({s.hash for s in specs}) == 5
    # the reference implementation (one spec at a time) agrees that each is within budget
    assert all(cost_report(s).to_dict()["totals"]["memory_bits"] <= 30000 for s in specs)
    # and rejection sampling is needed here: most uniform draws are over this budget
    assert (found.costs["memory_bits"] > 30000).mean() > 0.5


def test_draw_is_seeded_and_gives_up_after_max_draws() -> None:
    space = get_space("tiny", input_shape=(1, 8, 8), num_classes=10)
    a = draw(space, [], want=4, seed=1, chunk=50)
    b = draw(space, [], want=4, seed=1, chunk=50)
    assert a.feasible == b.feasible and a.draws == 50
    # the same draws as the space's own uniform sampler
    rng = random.Random(1)
    assert a.feasible[0] == space.random_choices(rng)
    none = draw(space, [Budget("memory_bits", "<=", 10)], want=4, seed=1, max_draws=120,
                chunk=50)
    assert none.feasible == [] and none.draws == 120 and len(none.costs) == 120


def test_spread_takes_the_corners_and_points_evenly_spaced_in_log_cost() -> None:
    points = [{"i": i} for i in range(7)]
    costs = [1000.0, 10.0, 900.0, 20.0, 120.0, 30.0, 80.0]
    # log10 span 1..3, k = 3: targets 10, 100, 1000 -> i = 1 (10), 4 (120: |log 1.2| < |log .8|
    # of 80), 0 (1000)
    assert spread(points, costs, 3) == [{"i": 1}, {"i": 4}, {"i": 0}]
    # k = 4: targets 10, 46.4, 215, 1000 -> 10; 30 (|log 46.4/30| = .19 < .24 of 80); 120 (.25
    # < .62 of 900); 1000
    assert spread(points, costs, 4) == [{"i": 1}, {"i": 5}, {"i": 4}, {"i": 0}]
    assert spread(points, costs, 10) == points
    # a zero cost has no log: even ranks 0, 3, 6 of the sorted costs (i = 0, 1, 3, 5, 6, 4, 2)
    assert spread(points, [0.0, *costs[1:]], 3) == [{"i": 0}, {"i": 5}, {"i": 2}]


def test_widest_gap_fills_the_widest_untrained_stretch_of_log_cost() -> None:
    """Pool costs 1,000 .. 64,000; trained 2,000, 4,000 and 32,000. Stretches in log2:
    1k-2k (1), 2k-4k (1), 4k-32k (3), 32k-64k (1): the widest is 4k-32k, its log-centre
    11,314; of the pool points inside (5k, 7k, 12k, 20k) 12k is nearest in log (0.08)."""
    pool = [64_000.0, 1_000.0, 5_000.0, 7_000.0, 12_000.0, 20_000.0, 2_000.0]
    assert widest_gap(pool, [2_000.0, 4_000.0, 32_000.0]) == 4
    # 12k trained too: 4k-12k (1.58) is now widest, centre 6,928: 7k (0.015) over 5k (0.47)
    assert widest_gap(pool, [2_000.0, 4_000.0, 12_000.0, 32_000.0]) == 3
    # nothing trained below 20k: the stretch from the pool's cheapest (1k) to 20k is widest
    # (log2 20 = 4.32), centre 4,472: 5k is nearest
    assert widest_gap(pool, [20_000.0, 64_000.0]) == 2
    # a widest stretch without a pool point inside gives way to the next one
    assert widest_gap([1_000.0, 1_500.0, 100_000.0], [1_000.0, 2_000.0, 100_000.0]) == 1
    # every stretch under min_ratio: covered
    assert widest_gap([1_000.0, 1_200.0, 1_400.0], [1_000.0, 1_200.0, 1_400.0]) is None
    assert widest_gap([], [1.0]) is None


def test_hypervolume_reference_from_budget_worst_and_bound() -> None:
    objectives = [("accuracy", "maximize"), ("memory_bits", "minimize"), ("cycles", "minimize")]
    ref = hypervolume_reference(objectives, [("memory_bits", "<=", 6e4)],
                                worst={"accuracy": 0.0}, largest={"cycles": 1000.0,
                                                                  "memory_bits": 1e9})
    assert ref == [0.0, 6e4, 1100.0]


def test_warm_start_trains_feasible_points_first(tmp_path: Path) -> None:
    """Under a budget that most uniform draws violate, the warm-started search's first trials
    are the enqueued feasible points: all of them are trained, none is infeasible."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    cfg = build_config(study="warm", db=url, trials=3, sampler="random", seed=0,
                       space="heq-resnet", budgets=["memory_bits<=30000"], warm_start=3,
                       **QUICK)
    outcome = run_search(cfg)
    df = open_store(url).query("warm")
    assert outcome.counts.get("infeasible", 0) == 0
    assert len(df) == 3 and (df["memory_bits"] <= 30000).all()
    study = optuna.load_study(study_name="dse:warm", storage=url)
    first = study.get_trials()[:3]
    assert all(t.system_attrs.get("fixed_params") for t in first)  # enqueued by the warm start


def test_study_stores_a_fixed_reference_and_its_hypervolume_never_decreases(
        tmp_path: Path) -> None:
    """A new study stores its reference (accuracy 0, memory 1.1 x the largest of 500 uniform
    draws of the study's space); status and the hypervolume history use it, and the history
    is monotone."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    cfg = build_config(study="ref", db=url, trials=4, seed=2, warm_start=0, **QUICK)
    run_search(cfg)
    store = open_store(url)
    space = get_space(cfg.space, input_shape=(1, 8, 8), num_classes=10)  # the default
    largest = float(draw(space, [], want=500, seed=2, max_draws=500).costs["memory_bits"].max())
    expected = [0.0, largest * 1.1]
    assert store.get_study("ref").config["hypervolume_reference"] == expected
    assert store.study_status("ref")["reference"] == expected
    hv = store.hypervolume_history("ref")["hypervolume"].tolist()
    assert len(hv) >= 1 and all(b >= a for a, b in zip(hv, hv[1:], strict=False))
    # resuming does not move it, whatever the new points are
    run_search(build_config(study="ref", db=url, trials=5, seed=2, warm_start=0, **QUICK))
    assert store.study_status("ref")["reference"] == expected


def test_gap_fill_trains_the_widest_untrained_stretch(tmp_path: Path) -> None:
    """With ``gap_fill_every=2`` (and 2 warm-start points) the 4th and 6th trained candidates
    are enqueued gap fills: each is the pool point :func:`widest_gap` picks from the costs
    of the candidates trained before it (the pool: the study's seeded draws)."""
    from dse.search import GAP_POOL_POINTS, WARM_POOL
    from hwmodel.batch import score_choices

    url = f"sqlite:///{tmp_path / 'g.db'}"
    cfg = build_config(study="gap", db=url, trials=6, seed=1, warm_start=2, gap_fill_every=2,
                       **QUICK)
    run_search(cfg)
    df = open_store(url).query("gap").sort_values("trial_number")
    study = optuna.load_study(study_name="dse:gap", storage=url)
    filled = [t.number for t in study.get_trials() if t.user_attrs.get("gap_fill")]
    assert filled == [int(df["trial_number"].iloc[3]), int(df["trial_number"].iloc[5])]
    space = get_space(cfg.space, input_shape=(1, 8, 8), num_classes=10)
    pool = draw(space, [], want=WARM_POOL * GAP_POOL_POINTS, seed=1).feasible
    costs = score_choices(space, pool, None)["memory_bits"].tolist()
    for k in (3, 5):
        before = df["memory_bits"].iloc[:k].tolist()
        i = widest_gap(costs, before)
        assert i is not None and df["memory_bits"].iloc[k] == costs[i]
