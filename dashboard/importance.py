"""Which architecture choices matter most: Optuna's importance evaluators on the study's trials.

The search keeps Optuna's RDB storage in the results database (``dse.search``), so the
study's trials, with the sampler's choices as parameters and its objective values, are loaded
from there (read-only: no table is created or migrated) and handed to
:func:`optuna.importance.get_param_importances` — the importance is Optuna's, not ours.

Which trials count: only those whose candidate is a trained (``complete``) row of the store,
optionally narrowed to a selection (the page's brush). Infeasible candidates are told to
Optuna with the task's worst accuracy and duplicates repeat a stored result, so counting them
would credit a choice for breaking a budget; this restriction is our choice (``trials``).
The kept trials are copied into an in-memory study with the same directions.

Targets: one importance per objective (``target=lambda t: t.values[i]``; negated for a
maximized objective under PED-ANOVA, which assumes lower is better), and ``front`` — the
importance of reaching the Pareto front, PED-ANOVA's own multi-objective mode (no target).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
import plotly.graph_objects as go

from dashboard.figures import PALETTE, figure, metric_label

if TYPE_CHECKING:
    import optuna

#: The evaluators offered (Optuna's classes; the first is Optuna's default).
EVALUATORS = ("ped-anova", "fanova", "mean-decrease-impurity")
#: The target of "reaching the Pareto front" (PED-ANOVA only).
FRONT = "front"
#: Fewest trials an importance is computed from (Optuna warns below a handful).
MIN_TRIALS = 4


def evaluator(name: str, seed: int = 0) -> Any:
    """An Optuna importance evaluator by name (:data:`EVALUATORS`)."""
    from optuna import importance

    if name == "ped-anova":
        return importance.PedAnovaImportanceEvaluator()
    if name == "fanova":
        return importance.FanovaImportanceEvaluator(seed=seed)
    if name == "mean-decrease-impurity":
        return importance.MeanDecreaseImpurityImportanceEvaluator(seed=seed)
    raise ValueError(f"importance evaluator: unknown name {name!r} (valid: "
                     f"{', '.join(EVALUATORS)})")


def load_trials(store: Any, study: str) -> tuple[list[str], list[optuna.trial.FrozenTrial]] | None:
    """(directions, complete trials) of ``study``'s Optuna study in ``store``'s database
    (a :class:`dse.store.Store`, possibly read-only), or None when the database holds no
    Optuna study of that name (a store filled without a search)."""
    import optuna
    from sqlalchemy import inspect

    from dse.search import optuna_study_name

    if not inspect(store.engine).has_table("studies"):  # Optuna's tables were never made
        return None
    storage = optuna.storages.RDBStorage(store.sqlalchemy_url, skip_compatibility_check=True,
                                         skip_table_creation=True)
    try:
        try:
            loaded = optuna.load_study(study_name=optuna_study_name(study), storage=storage)
        except KeyError:
            return None
        directions = [d.name.lower() for d in loaded.directions]
        return directions, loaded.get_trials(deepcopy=False,
                                             states=(optuna.trial.TrialState.COMPLETE,))
    finally:
        storage.remove_session()
        storage.engine.dispose()


_CACHE: dict[tuple[str, str], tuple[str, Any]] = {}
_CACHE_LOCK = threading.Lock()


def cached_trials(src: Any, study: str) -> tuple[list[str], list[Any]] | None:
    """:func:`load_trials` through ``src`` (a :class:`dashboard.data.DashboardData`), reloaded
    only when the study's candidates changed (``src.version``)."""
    version = src.version(study)
    key = (src.url, study)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None and hit[0] == version:
        return hit[1]  # type: ignore[no-any-return]
    loaded = load_trials(src.store, study)
    with _CACHE_LOCK:
        _CACHE[key] = (version, loaded)
    return loaded


def choice_importances(directions: Sequence[str], trials: Sequence[optuna.trial.FrozenTrial],
                       objectives: Sequence[str], *, keep: Collection[int] | None = None,
                       method: str = "ped-anova", seed: int = 0) -> pd.DataFrame:
    """Importance of each choice (rows, most important first) per target (columns: the
    objectives, then :data:`FRONT` for PED-ANOVA), each column normalized to sum 1 by Optuna.
    ``keep``: the trial numbers that count (None: all complete trials). Empty when fewer than
    :data:`MIN_TRIALS` trials count."""
    import optuna

    kept = [t for t in trials if keep is None or t.number in keep]
    if len(kept) < MIN_TRIALS or not objectives:
        return pd.DataFrame()
    study = optuna.create_study(directions=list(directions))  # type: ignore[arg-type]
    study.add_trials(kept)
    targets: list[tuple[str, Callable[[Any], float] | None]] = []
    for i, (name, direction) in enumerate(zip(objectives, directions, strict=True)):
        sign = -1.0 if method == "ped-anova" and direction == "maximize" else 1.0
        targets.append((name, _objective(i, sign)))
    if method == "ped-anova" and len(objectives) > 1:
        targets.append((FRONT, None))
    columns: dict[str, dict[str, float]] = {}
    with warnings.catch_warnings():  # PED-ANOVA warns that a target is minimized: it is meant
        warnings.simplefilter("ignore")
        for name, target in targets:
            res = optuna.importance.get_param_importances(
                study, evaluator=evaluator(method, seed), target=target)
            columns[name] = {str(k): float(v) for k, v in res.items()}
    table = pd.DataFrame(columns).fillna(0.0)
    return table.loc[table.mean(axis=1).sort_values(ascending=False, kind="stable").index]


def _objective(index: int, sign: float) -> Callable[[Any], float]:
    def target(trial: Any) -> float:
        return sign * float(trial.values[index])
    return target


def importance_figure(table: pd.DataFrame, *, n_trials: int, method: str) -> go.Figure:
    """Horizontal grouped bars: one group per choice (most important on top), one bar per
    target."""
    choices = list(table.index)[::-1]
    traces = []
    for k, col in enumerate(table.columns):
        label = "reaching the front" if col == FRONT else metric_label(str(col))
        traces.append({"type": "bar", "y": choices,
                       "x": table.loc[choices, col].to_numpy(float), "orientation": "h",
                       "name": label, "marker": {"color": PALETTE[k % len(PALETTE)]},
                       "hovertemplate": "%{y}: %{x:.3f}<extra>" + label + "</extra>"})
    return figure(traces, barmode="group",
                  title={"text": f"choice importance ({method}, {n_trials} trained trials)"},
                  xaxis={"title": {"text": "importance (normalized per target)"}},
                  height=max(260, 90 + len(choices) * (16 + 9 * len(table.columns))),
                  margin={"l": 140, "r": 20, "t": 40, "b": 40},
                  legend={"orientation": "h", "y": -0.15})
