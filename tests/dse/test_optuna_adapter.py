"""What ``dse.optuna_adapter`` relies on in Optuna's private code, checked against the installed
Optuna: each test fails when a release changes what the adapter uses."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import optuna
import pytest
from sqlalchemy.exc import OperationalError

from dse.optuna_adapter import CACHED_STORAGE_BACKEND_CALLS, retrying_rdb, unfinished_trial
from dse.store import retry


def _dead_driver_study(url: str) -> optuna.Study:
    """A study whose trial 0 a driver asked (one parameter) and never finished."""
    first = optuna.create_study(study_name="s", storage=url)
    first.ask().suggest_int("width", 8, 16)
    return optuna.load_study(study_name="s", storage=optuna.storages.RDBStorage(url))


def test_optuna_private_names_the_adapter_uses_exist() -> None:
    """``FrozenTrial._trial_id`` is the storage's key; ``Trial(study, trial_id)``."""
    frozen = optuna.trial.create_trial(value=1.0)
    assert isinstance(frozen._trial_id, int)
    params = list(inspect.signature(optuna.trial.Trial.__init__).parameters)
    assert params == ["self", "study", "trial_id"]
    assert optuna.__version__.split(".")[0] == "5"  # pyproject: optuna>=5,<6


def test_unfinished_trial_takes_attributes_and_constraints_as_a_live_one(tmp_path: Path
                                                                         ) -> None:
    url = f"sqlite:///{tmp_path / 'o.db'}"
    study = _dead_driver_study(url)
    (frozen,) = study.get_trials()
    assert frozen.state == optuna.trial.TrialState.RUNNING
    handle = unfinished_trial(study, frozen)
    assert handle.number == 0 and handle.params == {"width": frozen.params["width"]}
    handle.set_user_attr("abandoned", True)
    handle.set_constraint("memory_bits<=100", 0.25)
    study.tell(0, state=optuna.trial.TrialState.FAIL)
    # what another process reads back
    (back,) = optuna.load_study(study_name="s", storage=url).get_trials()
    assert back.user_attrs == {"abandoned": True}
    assert back.constraints == {"memory_bits<=100": 0.25}
    assert back.params == frozen.params and back.state == optuna.trial.TrialState.FAIL
    with pytest.raises(ValueError, match="^trial 0 is FAIL: only an unfinished trial"):
        unfinished_trial(study, back)


def test_cached_storage_calls_exactly_the_private_backend_methods_the_adapter_retries(
        ) -> None:
    """``create_study`` wraps an RDBStorage in ``_CachedStorage``, which calls these private
    methods of its backend (read from its source); each exists on ``RDBStorage``."""
    from optuna.storages._cached_storage import _CachedStorage

    source = inspect.getsource(_CachedStorage)
    called = set(re.findall(r"self\._backend\.(_[a-z_]+)\(", source))
    assert called == set(CACHED_STORAGE_BACKEND_CALLS)
    for name in CACHED_STORAGE_BACKEND_CALLS:
        assert callable(getattr(optuna.storages.RDBStorage, name))


def test_create_study_wraps_the_retrying_storage(tmp_path: Path) -> None:
    storage = retrying_rdb(f"sqlite:///{tmp_path / 'w.db'}", retry.call)
    study = optuna.create_study(storage=storage)
    assert study._storage._backend is storage  # type: ignore[attr-defined]


def test_ask_and_trial_reads_ride_out_a_lost_connection(tmp_path: Path,
                                                        monkeypatch: Any) -> None:
    """Each storage method the driver reaches, public or private, fails once on the
    connection; ``ask``, ``tell`` and reading the trials still succeed (retried once each)."""
    monkeypatch.setattr(retry, "PAUSE_S", 0.0)
    failed: list[str] = []
    base = optuna.storages.RDBStorage
    for name in ("_create_new_trial", "_get_trials", "_set_trial_param",
                 "set_trial_state_values"):
        real = getattr(base, name)

        def flaky(self: Any, *args: Any, _real: Any = real, _name: str = name,
                  **kwargs: Any) -> Any:
            if _name not in failed:
                failed.append(_name)
                raise OperationalError("SELECT 1", {}, ConnectionError("server closed"))
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(base, name, flaky)
    study = optuna.create_study(storage=retrying_rdb(f"sqlite:///{tmp_path / 'r.db'}",
                                                     retry.call))
    trial = study.ask()
    trial.suggest_int("width", 8, 16)
    study.tell(trial, 1.0)
    assert [t.value for t in study.get_trials()] == [1.0]
    assert sorted(failed) == ["_create_new_trial", "_get_trials", "_set_trial_param",
                              "set_trial_state_values"]
