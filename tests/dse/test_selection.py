"""Selection never sees the test split: the sampler's values, early stopping's decisions and
the Pareto front are the same whatever the test labels are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest

from dse.config import build_config
from dse.data import DATASETS, DatasetBundle, register_dataset
from dse.search import run_search
from dse.store import open_store

PROBE = "digits-test-probe"


def _probe(*, root: str | None = None, seed: int = 0, test_labels: str = "true"
           ) -> DatasetBundle:
    """``digits`` with the test labels as they are or shifted by one class (all wrong)."""
    from torch.utils.data import TensorDataset

    from dse.data import get_dataset

    bundle = get_dataset("digits")
    x, y = bundle.test.tensors  # type: ignore[attr-defined]
    if test_labels == "shifted":
        y = (y + 1) % 10
    bundle.test = TensorDataset(x, y)
    bundle.name = PROBE
    return bundle


@pytest.fixture
def probe_dataset() -> Any:
    """The probe, registered for this test only (the registry is global: a module-level
    registration would show up in every other test's list of datasets)."""
    register_dataset(PROBE, describe=lambda **params: ((1, 8, 8), 10))(_probe)
    yield PROBE
    DATASETS.remove(PROBE)


def _search(tmp_path: Path, labels: str) -> tuple[list[Any], Any]:
    url = f"sqlite:///{tmp_path / (labels + '.db')}"
    cfg = build_config(study="probe", db=url, dataset=PROBE,
                       dataset_params={"test_labels": labels}, trials=7, seed=3, epochs=3,
                       schedule="two-stage", max_train_batches=3, executor="local",
                       progress=False, early_stopping=True)
    run_search(cfg)
    trials = optuna.load_study(study_name="dse:probe", storage=url).get_trials()
    df = open_store(url).query("probe").sort_values("trial_number")
    return trials, df


def test_sampler_early_stopping_and_front_ignore_the_test_split(tmp_path: Path,
                                                               probe_dataset: str) -> None:
    true_trials, true_df = _search(tmp_path, "true")
    wrong_trials, wrong_df = _search(tmp_path, "shifted")
    # the test split did change what is reported ...
    done = true_df["status"] == "complete"
    assert done.any()
    assert (true_df.loc[done, "test_accuracy"].to_numpy()
            != wrong_df.loc[done, "test_accuracy"].to_numpy()).any()
    assert (wrong_df.loc[done, "test_accuracy"] <= 0.2).all()  # every label is wrong
    # ... and nothing that selects: the sampler saw the same proposals and values,
    assert [(t.params, t.values, t.state) for t in true_trials] == \
        [(t.params, t.values, t.state) for t in wrong_trials]
    # early stopping made the same decisions, and the front is the same candidates
    assert true_df["status"].tolist() == wrong_df["status"].tolist()
    assert true_df["pareto"].tolist() == wrong_df["pareto"].tolist()
    assert true_df["accuracy"].tolist() == wrong_df["accuracy"].tolist()
