"""The metric catalogue: one entry per metric, and every consumer reads it (docs/design.md,
"Metric catalogue").

Entries come from three places and nowhere else: the hardware model declares its totals
(:data:`hwmodel.metrics.HARDWARE_METRICS`, the simulator's ``SIMULATOR_METRICS``, a
co-search's :data:`dse.cosearch.COSEARCH_METRICS`), each task of :data:`dse.tasks.TASKS`
declares the metrics its training yields (``Task.metrics``), and :data:`TRIAL_METRICS` holds
what every trial records (training time, epochs run). :func:`register_metric` adds one more (a
plug-in, a test). From the catalogue alone follow:

* the objectives a study of a task may use (:meth:`Catalogue.objectives`, with directions);
* the metrics a hard budget may constrain: every directed metric known before training
  (:meth:`Catalogue.budgets`);
* the real metric columns of the store (:meth:`Catalogue.columns`: a hardware one on
  ``dse_hardware_reports``, a trained one on ``dse_evaluations``);
* the dashboard's axes, labels, log axes, number formats and directions.

Torch-free: the configuration, the store and the dashboard import it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from hwmodel.metrics import HARDWARE_METRICS, SIMULATOR_METRICS, Direction, Known, Metric
from search_spaces.registry import Registry, UnknownNameError

#: Comparison operators of a hard budget (``memory_bits<=1e6``).
BUDGET_OPS = ("<=", "<", ">=", ">")

#: What every trial records besides its task's metrics (bookkeeping: no direction).
TRIAL_METRICS: tuple[Metric, ...] = (
    Metric("train_seconds", "s", None, Known.TRAINING, "training time (s)", column=True),
    Metric("epochs_run", "epochs", None, Known.TRAINING, "epochs run"),
)

#: Metrics added with :func:`register_metric` (available to every task).
EXTRA_METRICS: Registry[Metric] = Registry("metric")


def register_metric(metric: Metric) -> Metric:
    """Add ``metric`` to the catalogue for every task: it becomes an objective (if it has a
    direction), a budget (if known before training), a store column (if ``column``) and a
    dashboard axis, with no other edit."""
    return EXTRA_METRICS.add(metric.name, metric)


class Catalogue:
    """The metrics of tinydse by name; ``owners`` maps a task's metric to its task (absent:
    a metric of every task)."""

    def __init__(self, common: Iterable[Metric], by_task: Iterable[tuple[str, Metric]] = ()
                 ) -> None:
        self._metrics: dict[str, Metric] = {}
        self._owners: dict[str, set[str]] = {}
        for metric in common:
            self._add(metric, None)
        for task, metric in by_task:
            self._add(metric, task)

    def _add(self, metric: Metric, task: str | None) -> None:
        old = self._metrics.get(metric.name)
        if old is not None and old != metric:
            raise ValueError(f"metric {metric.name!r} is declared twice with different "
                             f"entries: {old} and {metric}")
        common = old is not None and metric.name not in self._owners
        self._metrics[metric.name] = metric
        if task is None:
            self._owners.pop(metric.name, None)
        elif not common:
            self._owners.setdefault(metric.name, set()).add(task)

    # -- lookup --------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Metric]:
        return iter(self._metrics.values())

    def __contains__(self, name: object) -> bool:
        return name in self._metrics

    def __len__(self) -> int:
        return len(self._metrics)

    def names(self) -> list[str]:
        return list(self._metrics)

    def get(self, name: str) -> Metric | None:
        return self._metrics.get(name)

    def metric(self, name: str) -> Metric:
        """The entry ``name``; unknown -> UnknownNameError listing the catalogue."""
        try:
            return self._metrics[name]
        except KeyError:
            raise UnknownNameError(f"metric={name!r} is not in the metric catalogue "
                                   f"(known: {', '.join(sorted(self._metrics))})") from None

    def for_task(self, task: str) -> list[Metric]:
        """The metrics a study of ``task`` has: every common one plus the task's own."""
        return [m for m in self if m.name not in self._owners or task in self._owners[m.name]]

    # -- what follows from it ---------------------------------------------------------
    def objectives(self, task: str) -> dict[str, Direction]:
        """Every objective a study of ``task`` may use, with its Optuna direction."""
        return {m.name: m.direction for m in self.ordered()
                if m in self.for_task(task) and m.is_objective and m.direction is not None}

    def budgets(self, task: str) -> tuple[str, ...]:
        """Every metric a hard budget of a ``task`` study may constrain (known before
        training)."""
        return tuple(m.name for m in self.for_task(task) if m.is_budget)

    def ordered(self) -> list[Metric]:
        """Display order: trained metrics, then those known before training, then
        bookkeeping (each in declaration order)."""
        def rank(m: Metric) -> int:
            return 2 if m.direction is None else (1 if m.known.before_training else 0)

        return sorted(self, key=rank)

    def columns(self) -> tuple[str, ...]:
        """The real metric columns of the store (of every task), in display order."""
        return tuple(m.name for m in self.ordered() if m.column)

    def axes(self) -> tuple[str, ...]:
        """The metrics offered as plot axes (every directed metric), in display order."""
        return tuple(m.name for m in self.ordered() if m.is_axis)

    def direction(self, name: str) -> Direction | None:
        """Which way ``name`` is better; None for bookkeeping or an unknown name."""
        metric = self._metrics.get(name)
        return None if metric is None else metric.direction

    def label(self, name: str) -> str:
        """Display label (the name itself for a name outside the catalogue)."""
        metric = self._metrics.get(name)
        return name if metric is None else metric.label

    def log_axis(self, name: str) -> bool:
        metric = self._metrics.get(name)
        return metric is not None and metric.log_axis

    def is_fraction(self, name: str) -> bool:
        """A number in [0, 1] shown as a percentage (accuracies)."""
        metric = self._metrics.get(name)
        return metric is not None and metric.unit == "fraction"

    def needs_simulator(self, names: Sequence[str]) -> bool:
        """Whether any of ``names`` is known only from the cycle simulator."""
        return any((m := self._metrics.get(n)) is not None and m.known is Known.SIMULATOR
                   for n in names)


_CACHE: dict[tuple[int, ...], Catalogue] = {}


def catalogue() -> Catalogue:
    """The catalogue as registered now: hardware totals, trial bookkeeping, registered
    extras, then each task's metrics (rebuilt when a task or a metric is registered)."""
    from dse.tasks import TASKS

    tasks, extras = TASKS.items(), EXTRA_METRICS.items()
    key = tuple(id(obj) for _, obj in (*tasks, *extras))
    cached = _CACHE.get(key)
    if cached is None:
        from dse.cosearch import COSEARCH_METRICS

        common = (*HARDWARE_METRICS, *SIMULATOR_METRICS, *COSEARCH_METRICS, *TRIAL_METRICS,
                  *(m for _, m in extras))
        cached = Catalogue(common, ((name, m) for name, task in tasks for m in task.metrics))
        _CACHE.clear()
        _CACHE[key] = cached
    return cached


__all__ = ["BUDGET_OPS", "EXTRA_METRICS", "TRIAL_METRICS", "Catalogue", "catalogue",
           "register_metric"]
