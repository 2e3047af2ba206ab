"""Choice importance: an Optuna study written where a search keeps it (same database, name
``dse:<study>``) with two objectives that each depend on one choice only, read back through a
read-only store, and the result checked against Optuna's own ``get_param_importances``."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest

from dashboard import importance as imp
from dse.search import optuna_study_name
from dse.store import open_store

OBJECTIVES = ["accuracy", "memory_bits"]
DIRECTIONS = ["maximize", "minimize"]
DISTS = {"a": optuna.distributions.CategoricalDistribution([0, 1, 2, 3]),
         "b": optuna.distributions.CategoricalDistribution(["x", "y", "z"]),
         "c": optuna.distributions.CategoricalDistribution([4, 8])}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """60 trials: accuracy grows with ``a`` only, memory with ``b`` only; ``c`` is noise-free
    and irrelevant. Trial 7 failed (not complete: never counted)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('imp') / 'imp.db'}"
    open_store(url).close()  # the store's tables, as a search makes them
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=optuna_study_name("s"), storage=url,
                                directions=DIRECTIONS)
    rng = random.Random(0)
    trials = []
    for n in range(60):
        p = {"a": rng.choice([0, 1, 2, 3]), "b": rng.choice("xyz"), "c": rng.choice([4, 8])}
        state = optuna.trial.TrialState.FAIL if n == 7 else optuna.trial.TrialState.COMPLETE
        values = None if n == 7 else [0.5 + 0.1 * p["a"], 1000.0 * (1 + "xyz".index(p["b"]))]
        trials.append(optuna.trial.create_trial(params=p, distributions=DISTS, values=values,
                                                state=state))
    study.add_trials(trials)
    return url


def loaded(url: str) -> tuple[list[str], list[Any]]:
    with open_store(url, read_only=True) as store:
        out = imp.load_trials(store, "s")
    assert out is not None
    return out


def test_load_trials_read_only(db: str) -> None:
    directions, trials = loaded(db)
    assert directions == DIRECTIONS
    assert [t.number for t in trials] == [n for n in range(60) if n != 7]
    with open_store(db, read_only=True) as store:
        assert imp.load_trials(store, "other") is None


def test_no_optuna_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bare.db'}"
    open_store(url).close()
    with open_store(url, read_only=True) as store:
        assert imp.load_trials(store, "s") is None


@pytest.mark.parametrize("method", imp.EVALUATORS)
def test_each_objective_is_driven_by_its_choice(db: str, method: str) -> None:
    directions, trials = loaded(db)
    table = imp.choice_importances(directions, trials, OBJECTIVES, method=method)
    assert table["accuracy"].idxmax() == "a"
    assert table["memory_bits"].idxmax() == "b"
    assert table[OBJECTIVES].sum().to_numpy() == pytest.approx([1.0, 1.0])
    assert list(table.columns) == OBJECTIVES + ([imp.FRONT] if method == "ped-anova" else [])


def test_same_numbers_as_optuna(db: str) -> None:
    """The table is Optuna's get_param_importances on the kept trials, nothing of ours."""
    directions, trials = loaded(db)
    keep = {t.number for t in trials if t.number % 3}
    table = imp.choice_importances(directions, trials, OBJECTIVES, keep=keep, method="fanova")
    ref = optuna.create_study(directions=DIRECTIONS)  # type: ignore[arg-type]
    ref.add_trials([t for t in trials if t.number in keep])
    for i, objective in enumerate(OBJECTIVES):
        expected = optuna.importance.get_param_importances(
            ref, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
            target=lambda t, i=i: t.values[i])
        assert table[objective].to_dict() == pytest.approx(expected)


def test_keep_narrows_the_trials(db: str) -> None:
    directions, trials = loaded(db)
    fixed_a = {t.number for t in trials if t.params["a"] == 2}
    table = imp.choice_importances(directions, trials, OBJECTIVES, keep=fixed_a,
                                   method="fanova")
    assert table.loc["a", "accuracy"] == pytest.approx(0.0, abs=1e-12)  # a no longer varies
    assert table.loc["b", "memory_bits"] > 0.9
    few = imp.choice_importances(directions, trials, OBJECTIVES, keep={0, 1, 2})
    assert few.empty  # under MIN_TRIALS


def test_importance_figure() -> None:
    table = pd.DataFrame({"accuracy": [0.7, 0.2, 0.1], imp.FRONT: [0.5, 0.3, 0.2]},
                         index=["a", "b", "c"])
    fig = imp.importance_figure(table, n_trials=59, method="ped-anova")
    assert [t.name for t in fig.data] == ["accuracy", "reaching the front"]
    assert list(fig.data[0].y) == ["c", "b", "a"]  # most important on top
    assert list(fig.data[0].x) == [0.1, 0.2, 0.7]
    assert "59 trained trials" in fig.layout.title.text


def test_unknown_evaluator() -> None:
    with pytest.raises(ValueError, match="unknown name 'shap'.*ped-anova"):
        imp.evaluator("shap")
