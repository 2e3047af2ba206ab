"""Tasks: what a candidate is trained for, and which metrics the training yields.

A task defines its defaults (dataset, space, objectives), the metrics its training yields
(:class:`hwmodel.metrics.Metric` entries: they join the metric catalogue, see
:mod:`dse.catalog`), the per-epoch validation metric that early stopping watches (``monitor``,
maximized) and the objective it estimates (``primary``: what a pruned trial is scored by),
metrics known from the spec alone (``spec_metrics``, checked against budgets before training),
why a spec cannot be trained on a dataset (``spec_problem``: by default its input shape and
class count must be the dataset's), and ``run(payload, on_epoch)``, which trains one candidate
and never raises. Tasks are entries of the generic registry :data:`TASKS` (built-ins:
``classification``, the default, and ``compression``). :func:`run_trial` trains one payload
with its task: the one entry point of the search's executors (in-process and Ray Tune) and of
anything else that trains a candidate (``dse train``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dse.trial import EpochCallback, EpochReport, TrialPayload, TrialResult
from hwmodel.metrics import Direction, Known, Metric
from search_spaces.registry import Registry

#: ``run(payload, on_epoch) -> result``: ``on_epoch`` receives each epoch's
#: :class:`~dse.trial.EpochReport` and returns True to stop early; the
#: :class:`~dse.trial.TrialResult` holds the outcome, metrics and artifacts. A trial writes
#: nothing itself: the driver stores the reported epochs and the result.
RunFn = Callable[[TrialPayload, EpochCallback], TrialResult]


def same_shape_and_classes(spec: Any, input_shape: tuple[int, ...], num_classes: int
                           ) -> str | None:
    """Why ``spec`` cannot be trained on a dataset of ``input_shape`` and ``num_classes``
    (the default rule: both must be the spec's), or None."""
    if tuple(spec.input_shape) != tuple(input_shape):
        return (f"the spec's input_shape {list(spec.input_shape)} is not the dataset's "
                f"{list(input_shape)}")
    if int(spec.num_classes) != int(num_classes):
        return (f"the spec's num_classes={spec.num_classes} is not the dataset's "
                f"{num_classes}")
    return None


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    #: the metrics this task's training (or its spec) yields, as catalogue entries
    metrics: tuple[Metric, ...]
    monitor: str
    primary: str
    default_objectives: tuple[str, ...]
    default_dataset: str
    default_space: str
    run: RunFn
    #: the learning rate a study of this task gets when none is given (None: the config's)
    default_lr: float | None = None
    spec_metrics: Callable[[Any], dict[str, float]] = field(default=lambda spec: {})
    #: ``(spec, input_shape, num_classes) -> reason or None``: can the spec train on the data
    spec_problem: Callable[[Any, tuple[int, ...], int], str | None] = same_shape_and_classes

    @property
    def objectives(self) -> dict[str, Direction]:
        """The task's own objectives with their directions (hardware ones come on top)."""
        return {m.name: m.direction for m in self.metrics
                if m.is_objective and m.direction is not None}

    @property
    def pretrain_metrics(self) -> tuple[str, ...]:
        """The task's metrics known from the spec alone (``spec_metrics``)."""
        return tuple(m.name for m in self.metrics if m.known is Known.SPEC)

    def worst(self, metric: str) -> float:
        """The value told to the sampler for a trained metric of an untrained candidate."""
        return 0.0 if self.objectives.get(metric) == "maximize" else 1e30


TASKS: Registry[Task] = Registry("task", builtins=("dse.tasks.classification",
                                                   "dse.tasks.compression"))


def register_task(task: Task) -> Task:
    """Add ``task`` to :data:`TASKS` under its name (a second registration warns, replaces)."""
    return TASKS.add(task.name, task)


def list_tasks() -> list[str]:
    return TASKS.names()


def get_task(name: str) -> Task:
    """The task ``name``; unknown -> ``UnknownNameError`` (a ValueError) listing the tasks."""
    return TASKS.get(name)


def _keep_going(report: EpochReport) -> bool:
    return False


def run_trial(payload: TrialPayload, on_epoch: EpochCallback | None = None) -> TrialResult:
    """Train one candidate with its payload's task; never raises (a run that raises is a
    ``failed`` result with the reason). ``on_epoch`` gets each epoch and returns True to stop
    the run there (``pruned``); without it the run trains to the end."""
    return get_task(payload.task).run(payload, on_epoch or _keep_going)
