"""The results store's facade: :func:`open_store` and :class:`Store`.

The store is split so that no module imports another in a circle: :mod:`dse.store.db` (sessions,
the per-study lock, study lookup), :mod:`dse.store.records` (what reads return and the
conversions writes and reads share), :mod:`dse.store.writes` (one transaction each) and
:mod:`dse.store.reads` (records and DataFrames). :class:`Store` only forwards to them, so every
caller keeps one object. Database errors surface as :class:`dse.store.StoreError` (one line,
password masked).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dse.store import reads, writes
from dse.store.db import Database
from dse.store.engine import (
    SessionFactory,
    check_schema,
    create_store_engine,
    heal_metric_columns,
    upgrade_schema,
)
from dse.store.records import EvaluationRecord, StudyRecord, TrainingRecord, TrainingStart

if TYPE_CHECKING:
    import pandas as pd


class Store:
    """A results database. Create with :func:`open_store`; use as a context manager or call
    :meth:`close` to release connections. ``db`` is what the writes and reads run on."""

    def __init__(self, factory: SessionFactory, *, read_only: bool) -> None:
        self.db = Database(factory, read_only=read_only)
        self.read_only = read_only

    # ------------------------------------------------------------------ plumbing
    @property
    def url(self) -> str:
        """The database URL with the password masked."""
        return self.db.url

    @property
    def sqlalchemy_url(self) -> str:
        """The full URL (password included), e.g. for ``optuna.storages.RDBStorage``."""
        return self.db.factory.url.render_as_string(hide_password=False)

    @property
    def engine(self) -> Any:
        return self.db.factory.engine

    @property
    def is_sqlite(self) -> bool:
        return self.db.is_sqlite

    def close(self) -> None:
        self.db.factory.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r}{', read_only=True' if self.read_only else ''})"

    # ------------------------------------------------------------------ writes
    def create_or_get_study(self, name: str, *, space: str, dataset: str,
                            task: str = "classification", config: Mapping[str, Any] | None = None,
                            objectives: Sequence[tuple[str, str]],
                            budgets: Sequence[tuple[str, str, float]] = (),
                            cost_model_version: str | None = None) -> StudyRecord:
        """See :func:`dse.store.writes.create_or_get_study`."""
        return writes.create_or_get_study(
            self.db, name, space=space, dataset=dataset, task=task, config=config,
            objectives=objectives, budgets=budgets, cost_model_version=cost_model_version)

    def add_candidate(self, study_id: int, spec_json: str, spec_hash: str,
                      choices: Mapping[str, Any] | None = None, *,
                      network_hash: str | None = None) -> tuple[int, bool]:
        """See :func:`dse.store.writes.add_candidate`."""
        return writes.add_candidate(self.db, study_id, spec_json, spec_hash, choices,
                                    network_hash=network_hash)

    def start_evaluation(self, candidate_id: int, trial_number: int | None) -> int:
        """See :func:`dse.store.writes.start_evaluation`."""
        return writes.start_evaluation(self.db, candidate_id, trial_number)

    def record_hardware(self, candidate_id: int, metrics: Mapping[str, Any],
                        per_layer: Sequence[Mapping[str, Any]] = (),
                        accel: Mapping[str, Any] | None = None) -> None:
        """See :func:`dse.store.writes.record_hardware`."""
        writes.record_hardware(self.db, candidate_id, metrics, per_layer, accel)

    def finish_evaluation(self, eval_id: int, status: str, *,
                          metrics: Mapping[str, Any] | None = None, error: str | None = None,
                          violated: str | None = None) -> None:
        """See :func:`dse.store.writes.finish_evaluation`."""
        writes.finish_evaluation(self.db, eval_id, status, metrics=metrics, error=error,
                                 violated=violated)

    def add_epoch(self, eval_id: int, stage: str | int, epoch: int, **metrics: Any) -> int:
        """See :func:`dse.store.writes.add_epoch`."""
        return writes.add_epoch(self.db, eval_id, stage, epoch, **metrics)

    def set_host(self, eval_id: int, host: str) -> None:
        """See :func:`dse.store.writes.set_host`."""
        writes.set_host(self.db, eval_id, host)

    def add_artifact(self, candidate_id: int, name: str, mime: str, data: bytes) -> None:
        """See :func:`dse.store.writes.add_artifact`."""
        writes.add_artifact(self.db, candidate_id, name, mime, data)

    def requeue_running(self, study_id: int) -> int:
        """See :func:`dse.store.writes.requeue_running`."""
        return writes.requeue_running(self.db, study_id)

    def start_training(self, candidate_id: int, *, epochs: int, schedule: str,
                       max_train_batches: int | None, settings: Mapping[str, Any],
                       host: str, pid: int, retrain: bool = False,
                       replicate: int = 0) -> TrainingStart:
        """See :func:`dse.store.writes.start_training`."""
        return writes.start_training(self.db, candidate_id, epochs=epochs, schedule=schedule,
                                     max_train_batches=max_train_batches, settings=settings,
                                     host=host, pid=pid, retrain=retrain, replicate=replicate)

    def set_replicated(self, eval_id: int, metrics: Mapping[str, Any]) -> None:
        """See :func:`dse.store.writes.set_replicated`."""
        writes.set_replicated(self.db, eval_id, metrics)

    def training_epoch(self, training_id: int, row: Mapping[str, Any],
                       checkpoint: bytes | None = None) -> None:
        """See :func:`dse.store.writes.training_epoch`."""
        writes.training_epoch(self.db, training_id, row, checkpoint)

    def beat_training(self, training_id: int, host: str, pid: int) -> bool:
        """See :func:`dse.store.writes.beat_training`."""
        return writes.beat_training(self.db, training_id, host, pid)

    def finish_training(self, training_id: int, status: str, *,
                        metrics: Mapping[str, Any] | None = None,
                        error: str | None = None) -> None:
        """See :func:`dse.store.writes.finish_training`."""
        writes.finish_training(self.db, training_id, status, metrics=metrics, error=error)

    def interrupt_training(self, training_id: int, host: str, pid: int) -> None:
        """See :func:`dse.store.writes.interrupt_training`."""
        writes.interrupt_training(self.db, training_id, host, pid)

    def refresh_pareto(self, study: str | int) -> int:
        """See :func:`dse.store.writes.refresh_pareto`."""
        return writes.refresh_pareto(self.db, study)

    # ------------------------------------------------------------------ reads
    def get_study(self, study: str | int) -> StudyRecord:
        """See :func:`dse.store.reads.get_study`."""
        return reads.get_study(self.db, study)

    def evaluation_for_hash(self, study_id: int, spec_hash: str) -> EvaluationRecord | None:
        """See :func:`dse.store.reads.evaluation_for_hash`."""
        return reads.evaluation_for_hash(self.db, study_id, spec_hash)

    def trained_evaluation_for_network(self, study_id: int, network_hash: str
                                       ) -> EvaluationRecord | None:
        """See :func:`dse.store.reads.trained_evaluation_for_network`."""
        return reads.trained_evaluation_for_network(self.db, study_id, network_hash)

    def evaluation(self, eval_id: int) -> EvaluationRecord:
        """See :func:`dse.store.reads.evaluation`."""
        return reads.evaluation(self.db, eval_id)

    def count_candidates(self, study: str | int) -> int:
        """See :func:`dse.store.reads.count_candidates`."""
        return reads.count_candidates(self.db, study)

    def list_studies(self) -> pd.DataFrame:
        """See :func:`dse.store.reads.list_studies`."""
        return reads.list_studies(self.db)

    def study_status(self, study: str | int) -> dict[str, Any]:
        """See :func:`dse.store.reads.study_status`."""
        return reads.study_status(self.db, study)

    def query(self, study: str | int, *, pareto_only: bool = False, where: str | None = None,
              sort: Sequence[str] | None = None, columns: Sequence[str] | None = None,
              since_id: int | None = None) -> pd.DataFrame:
        """See :func:`dse.store.reads.query`."""
        return reads.query(self.db, study, pareto_only=pareto_only, where=where, sort=sort,
                           columns=columns, since_id=since_id)

    def evaluations(self, study: str | int, *, candidate_id: int | None = None,
                    pareto_only: bool = False, highest_fidelity: bool = False,
                    where: str | None = None, sort: Sequence[str] | None = None,
                    columns: Sequence[str] | None = None) -> pd.DataFrame:
        """See :func:`dse.store.reads.evaluations`."""
        return reads.evaluations(self.db, study, candidate_id=candidate_id,
                                 pareto_only=pareto_only, highest_fidelity=highest_fidelity,
                                 where=where, sort=sort, columns=columns)

    def training(self, training_id: int) -> TrainingRecord:
        """See :func:`dse.store.reads.training`."""
        return reads.training(self.db, training_id)

    def epochs(self, candidate_id: int) -> pd.DataFrame:
        """See :func:`dse.store.reads.epochs`."""
        return reads.epochs(self.db, candidate_id)

    def candidate(self, candidate_id: int) -> dict[str, Any]:
        """See :func:`dse.store.reads.candidate`."""
        return reads.candidate(self.db, candidate_id)

    def hypervolume_history(self, study: str | int) -> pd.DataFrame:
        """See :func:`dse.store.reads.hypervolume_history`."""
        return reads.hypervolume_history(self.db, study)

    def artifacts(self, candidate_id: int) -> list[dict[str, Any]]:
        """See :func:`dse.store.reads.artifacts`."""
        return reads.artifacts(self.db, candidate_id)

    def artifact(self, candidate_id: int, name: str) -> tuple[str, bytes]:
        """See :func:`dse.store.reads.artifact`."""
        return reads.artifact(self.db, candidate_id, name)


def open_store(url: str, *, read_only: bool = False) -> Store:
    """Open (and create or upgrade, unless ``read_only``) the results store at ``url``.

    ``sqlite:///path.db`` (a bare path means SQLite) or ``postgresql+psycopg://user@host/db``.
    An unreachable database or a bad URL raises :class:`StoreError` naming the URL (password
    masked). Safe to call from several processes at once.
    """
    engine, parsed = create_store_engine(url, read_only=read_only)
    factory = SessionFactory(engine, parsed)
    try:
        if read_only:
            check_schema(factory)
        else:
            upgrade_schema(factory)
            heal_metric_columns(factory)
    except BaseException:
        engine.dispose()
        raise
    return Store(factory, read_only=read_only)
