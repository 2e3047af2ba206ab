"""Every use of Optuna beyond its public API, in one place (docs/design.md, "Flow of one trial").

tinydse talks to Optuna through its public API (``create_study``, ``ask``/``tell``,
``Trial.set_constraint``, ``Trial.set_user_attr``, ``RDBStorage``) except for the two things
below, which Optuna offers no public way to do. Each names the private attribute it relies
on and why; ``tests/dse/test_optuna_adapter.py`` fails when an Optuna release changes one of
them (``pyproject.toml`` pins ``optuna>=5,<6``).

1. :func:`unfinished_trial` — a handle on a trial that a previous driver asked and that is
   still RUNNING (the driver died). ``Study.ask`` only creates new trials, so on resume the
   search reaches such a trial through ``optuna.trial.Trial(study, frozen._trial_id)``:
   ``FrozenTrial._trial_id`` (the storage's key of the trial; its public ``number`` is not
   what the storage takes) and the constructor Optuna documents as not meant for direct use.
2. :func:`retrying_rdb` — Optuna's RDB storage with every call retried across lost database
   connections. ``optuna.create_study`` wraps an ``RDBStorage`` in its private
   ``_CachedStorage``, which calls some *private* methods of the backend
   (:data:`CACHED_STORAGE_BACKEND_CALLS`: ``Study.ask`` creates its trial through
   ``_create_new_trial``, trials are read through ``_get_trials``); retrying only the public
   methods would leave ``ask`` and every trial read unprotected.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

#: The private ``RDBStorage`` methods Optuna's ``_CachedStorage`` calls on its backend
#: (``self._backend._name(...)`` in ``optuna/storages/_cached_storage.py``, Optuna 5.0).
CACHED_STORAGE_BACKEND_CALLS = ("_create_new_trial", "_set_trial_param", "_get_trials",
                                "_get_best_trial_id", "_get_stale_trial_ids")


def unfinished_trial(study: optuna.Study, frozen: optuna.trial.FrozenTrial
                     ) -> optuna.trial.Trial:
    """A live handle on ``frozen``, a trial of ``study`` that is not finished (asked by a
    driver that died): its public methods (``set_user_attr``, ``set_constraint``) then work
    as on a trial this process asked. Raises ``ValueError`` for a finished trial."""
    import optuna

    if frozen.state.is_finished():
        raise ValueError(f"trial {frozen.number} is {frozen.state.name}: only an unfinished "
                         "trial takes new attributes")
    return optuna.trial.Trial(study, frozen._trial_id)


def retrying_rdb(url: str, call: Callable[..., Any], **kwargs: Any) -> optuna.storages.RDBStorage:
    """An Optuna ``RDBStorage`` for ``url`` whose every call goes through ``call(method,
    self, *args)`` (:func:`dse.store.retry.call`: retried across lost connections): the public
    ``BaseStorage`` methods and the private ones ``_CachedStorage`` uses."""
    import optuna

    base = optuna.storages.RDBStorage
    names = [n for n in dir(optuna.storages.BaseStorage)
             if not n.startswith("_") and callable(getattr(base, n, None))]
    names += [n for n in CACHED_STORAGE_BACKEND_CALLS if callable(getattr(base, n, None))]

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def retried(self: Any, *args: Any, **kw: Any) -> Any:
            return call(method, self, *args, **kw)

        return retried

    cls = type("RetryingRDBStorage", (base,), {n: wrap(getattr(base, n)) for n in names})
    storage: optuna.storages.RDBStorage = call(cls, url, **kwargs)
    return storage


__all__ = ["CACHED_STORAGE_BACKEND_CALLS", "retrying_rdb", "unfinished_trial"]
