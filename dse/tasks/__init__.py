"""Tasks: what a candidate is trained for, and which metrics the training yields.

A task defines its defaults (dataset, space, objectives), the objectives its training produces
(with their directions), the per-epoch validation metric that early stopping watches
(``monitor``, maximized) and the objective it estimates (``primary``: what a pruned trial is
scored by), metrics known from the spec alone (checked against budgets before training), and
``run(payload, report)``, which trains one candidate and never raises. Every module of this
package is a task that registers itself with :func:`register_task`; ``classification`` is the
default.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: ``run(payload, report) -> result``: ``report`` receives each epoch's metrics (with
#: ``epoch``, ``stage`` and ``monitor``) and returns True to stop early; ``result`` holds
#: ``status`` (complete|failed|pruned), ``reason``, ``metrics`` (objective values and extras),
#: ``monitor`` (best validation value), ``epochs_run``, ``train_seconds``.
RunFn = Callable[[dict[str, Any], Callable[[dict[str, Any]], bool | None]], dict[str, Any]]


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    objectives: dict[str, str]
    monitor: str
    primary: str
    default_objectives: tuple[str, ...]
    default_dataset: str
    default_space: str
    run: RunFn
    spec_metrics: Callable[[Any], dict[str, float]] = field(default=lambda spec: {})
    #: objectives known from the spec alone (``spec_metrics``): budgets may constrain them
    pretrain_metrics: tuple[str, ...] = ()

    def worst(self, metric: str) -> float:
        """The value told to the sampler for a trained metric of an untrained candidate."""
        return 0.0 if self.objectives.get(metric) == "maximize" else 1e30


_TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    if task.name in _TASKS:
        warnings.warn(f"task {task.name!r} registered again: overwriting", stacklevel=2)
    _TASKS[task.name] = task
    return task


def _load_builtins() -> None:
    import importlib
    import pkgutil

    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):  # _trial: shared helpers, not a task
            importlib.import_module(f"{__name__}.{mod.name}")


def list_tasks() -> list[str]:
    _load_builtins()
    return sorted(_TASKS)


def get_task(name: str) -> Task:
    _load_builtins()
    if name not in _TASKS:
        raise ValueError(f"task={name!r} must be one of {sorted(_TASKS)}")
    return _TASKS[name]
