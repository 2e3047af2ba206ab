"""``dse train``: one spec, or a stored study's candidate, trained at a fidelity and stored as
a further evaluation of that candidate (docs/design.md, "Further training").

A candidate of a study trains with the study's settings (task, dataset, seed, recipe, batch
size, learning rate: its stored configuration) at the fidelity asked (epochs, schedule,
batches per epoch), through the search's own trial path (:class:`dse.trial.TrialPayload`,
:func:`dse.tasks.run_trial`: the task's ``run`` and the one trainer) under the candidate's
trial number, so the same fidelity as the search reproduces the search's result. A bare spec
(a JSON file or a reference name) becomes a candidate of a *train study* (``Study.space`` is
:data:`TRAIN_SPACE`), created by the first ``dse train`` with its settings.

The result is a row of ``dse_trainings`` keyed by (candidate, fidelity): the search's live
evaluation is never touched. Resumable: the trainer's checkpoint of the last epoch is stored
with the row (and its curve) after every epoch, so the same command after a kill continues at
the next epoch, exactly (the trainer's deterministic resume); a finished training is not
trained again unless ``retrain``. Everything the user gave is checked before anything is
written (:class:`dse.errors.UserError`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from dse.errors import UserError

if TYPE_CHECKING:
    from dse.config import SearchConfig
    from dse.store import EvaluationRecord, Store, StudyRecord
    from dse.store.records import TrainingRecord
    from dse.trial import EpochReport, TrialPayload
    from search_spaces.spec import ArchSpec

#: ``Study.space`` of a study made by ``dse train`` for bare specs (it searches no space).
TRAIN_SPACE = "(dse train)"
#: The train study a bare spec goes to when no ``--study`` is given.
DEFAULT_TRAIN_STUDY = "train"
#: A candidate trains, by default, for this many times its study's epochs: the next fidelity
#: in the search's rungs (``EarlyStopping.eta``).
LONGER = 3
#: Settings a train study fixes at creation (a later ``dse train`` into it must agree).
STUDY_SETTINGS = ("task", "dataset", "data_root", "seed", "lr", "batch_size")


@dataclass(frozen=True)
class TrainPlan:
    """One training, checked and ready: the study, the candidate, its spec, the settings (the
    study's, at the fidelity asked) and the seed offset (the candidate's trial number)."""

    study: StudyRecord
    candidate_id: int
    spec: ArchSpec
    cfg: SearchConfig
    trial_number: int
    #: the candidate's live evaluation (None for a train study's spec)
    search: EvaluationRecord | None
    #: which network of the candidate at this fidelity: 0 the first, k > 0 a further seed
    replicate: int = 0

    @property
    def total_epochs(self) -> int:
        from dse.train import get_schedule

        return sum(s.epochs for s in get_schedule(self.cfg.schedule, self.cfg.epochs))


@dataclass(frozen=True)
class TrainOutcome:
    plan: TrainPlan
    record: TrainingRecord
    #: new | resumed | restarted | done (see dse.store.api.TrainingStart)
    action: str


def replicate_payload(payload: TrialPayload, replicate: int) -> TrialPayload:
    """``payload`` for the candidate's network number ``replicate`` (0: itself): the same
    settings, another training seed and, where the dataset has one, another train/validation
    partition (:attr:`dse.trial.TrialPayload.replicate`)."""
    return replace(payload, replicate=int(replicate)) if replicate else payload


def check_replicate(replicate: Any) -> int:
    if isinstance(replicate, bool) or not isinstance(replicate, int) or replicate < 0:
        raise UserError(f"--replicate={replicate!r} must be an integer >= 0")
    return replicate


def is_train_study(study: StudyRecord) -> bool:
    return study.space == TRAIN_SPACE


def _study(store: Store, name: str) -> StudyRecord:
    from dse.store import StoreError

    try:
        return store.get_study(name)
    except StoreError as exc:
        raise UserError(str(exc)) from None


def _fidelity(cfg: SearchConfig, epochs: int | None, schedule: str | None,
              max_train_batches: int | None, default_epochs: int) -> SearchConfig:
    """``cfg`` at the fidelity asked, checked: epochs >= 1 that fit the schedule, a known
    schedule, batches >= 1."""
    from dse.train import SCHEDULES, get_schedule

    epochs = default_epochs if epochs is None else epochs
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise UserError(f"--epochs={epochs!r} must be an integer >= 1")
    schedule = cfg.schedule if schedule is None else schedule
    if schedule not in SCHEDULES:
        raise UserError(f"--schedule={schedule!r} must be one of {SCHEDULES.names()}")
    if max_train_batches is not None and max_train_batches < 1:
        raise UserError(f"--max-train-batches={max_train_batches!r} must be an integer >= 1")
    try:
        get_schedule(schedule, epochs)
    except ValueError as exc:
        raise UserError(f"--epochs={epochs} does not fit --schedule={schedule!r}: "
                        f"{str(exc).splitlines()[0]}") from None
    return replace(cfg, epochs=epochs, schedule=schedule,
                   max_train_batches=max_train_batches if max_train_batches is not None
                   else cfg.max_train_batches)


def check_dataset(spec: ArchSpec, cfg: SearchConfig) -> None:
    """The spec must fit the dataset by its task's rule (``Task.spec_problem``), else
    :class:`UserError` naming both."""
    from dse.data import describe_dataset
    from dse.tasks import get_task

    try:
        shape, classes = describe_dataset(cfg.dataset, root=cfg.data_root,
                                          **cfg.dataset_params)
    except (ValueError, TypeError, KeyError, OSError) as exc:
        raise UserError(f"dataset={cfg.dataset!r}: {str(exc).splitlines()[0]}") from None
    problem = get_task(cfg.task).spec_problem(spec, tuple(shape), int(classes))
    if problem:
        raise UserError(f"dataset={cfg.dataset!r}: {problem}")


def plan_candidate(store: Store, study: str, candidate_id: int, *, epochs: int | None = None,
                   schedule: str | None = None, max_train_batches: int | None = None,
                   replicate: int = 0) -> TrainPlan:
    """A candidate of a stored study, to train with the study's settings at this fidelity
    (default: :data:`LONGER` times the study's epochs, its schedule and batch cap); network
    ``replicate`` (0: the first, k > 0: trained with a further seed, :func:`replicate_payload`)."""
    replicate = check_replicate(replicate)
    from dse.config import SearchConfig
    from dse.store import StoreError
    from dse.store.records import EvaluationRecord
    from search_spaces.spec import ArchSpec

    rec = _study(store, study)
    try:
        cand = store.candidate(int(candidate_id))
    except StoreError:
        cand = None
    if cand is None or cand["study_id"] != rec.id:
        ids = store.query(rec.name, columns=["candidate_id"])["candidate_id"]
        known = f"its {len(ids)} candidates have ids {int(ids.min())}..{int(ids.max())}" \
            if len(ids) else "it has no candidates"
        raise UserError(f"study {rec.name!r} has no candidate {candidate_id} ({known}; "
                        f"`dse query {rec.name}` lists them)")
    ev = cand["evaluation"]
    search = EvaluationRecord(**ev) if ev else None
    if search is not None and search.status == "infeasible":
        raise UserError(f"candidate {candidate_id} of study {rec.name!r} is infeasible "
                        f"({search.violated}): over the study's budget, it is never trained")
    cfg = SearchConfig.from_dict(rec.config)
    cfg = _fidelity(cfg, epochs, schedule, max_train_batches,
                    LONGER * cfg.epochs if not is_train_study(rec) else cfg.epochs)
    spec = ArchSpec.from_json(cand["spec"])
    check_dataset(spec, cfg)
    trial = search.trial_number if search is not None and search.trial_number is not None \
        else 0
    return TrainPlan(rec, int(candidate_id), spec, cfg, int(trial), search, replicate)


def plan_spec(store: Store, spec: ArchSpec, *, study: str = DEFAULT_TRAIN_STUDY,
              epochs: int | None = None, schedule: str | None = None,
              max_train_batches: int | None = None, **settings: Any) -> TrainPlan:
    """A bare spec, to train in the train study ``study`` (created with ``settings``, any of
    :data:`STUDY_SETTINGS`, else the defaults; an existing one must agree with those given).
    Checks everything, then writes the study (if new), the candidate and its hardware
    report."""
    from dse.catalog import catalogue
    from dse.config import SearchConfig, build_config
    from dse.search import hardware_metrics
    from dse.store import StoreError
    from dse.tasks import get_task
    from hwmodel.accel import AccelConfig
    from hwmodel.metrics import COST_MODEL_VERSION

    given = {k: v for k, v in settings.items() if v is not None}
    unknown = set(given) - set(STUDY_SETTINGS)
    if unknown:
        raise TypeError(f"plan_spec: unknown settings {sorted(unknown)}")
    try:
        rec: StudyRecord | None = store.get_study(study)
    except StoreError:
        rec = None
    if rec is not None:
        if not is_train_study(rec):
            raise UserError(f"study {study!r} is a search study (space {rec.space!r}): train "
                            f"its candidates with `dse train {study} CANDIDATE`, or give "
                            "another --study for a spec")
        cfg = SearchConfig.from_dict(rec.config)
        for key, value in given.items():
            if getattr(cfg, key) != value:
                raise UserError(f"--{key.replace('_', '-')}={value!r}: train study {study!r} "
                                f"was created with {key}={getattr(cfg, key)!r} (use another "
                                "--study)")
    else:
        cfg = build_config(study=study, **given)
        cfg = replace(cfg, space="", objectives=tuple(get_task(cfg.task).default_objectives))
    cfg = _fidelity(cfg, epochs, schedule, max_train_batches, cfg.epochs)
    check_dataset(spec, cfg)
    task = get_task(cfg.task)
    simulate = catalogue().needs_simulator(list(cfg.objectives))
    accel = AccelConfig()
    metrics, layers = hardware_metrics(spec, accel, simulate=simulate)
    metrics.update(task.spec_metrics(spec))
    # the checks are done: the writes
    try:
        if rec is None:
            config = {**cfg.to_dict(), "db": None}  # the URL (maybe with a password) stays out
            rec = store.create_or_get_study(
                study, space=TRAIN_SPACE, dataset=cfg.dataset, task=cfg.task, config=config,
                objectives=list(zip(cfg.objectives, cfg.directions, strict=True)),
                cost_model_version=COST_MODEL_VERSION)
        cid, _ = store.add_candidate(rec.id, spec.to_json(), spec.hash, {}, network_hash=None)
        store.record_hardware(cid, metrics, layers, accel.to_dict())
    except StoreError as exc:
        raise UserError(str(exc)) from None
    return TrainPlan(rec, cid, spec, cfg, 0, None)


def run_training(store: Store, plan: TrainPlan, *, retrain: bool = False,
                 on_epoch: Callable[[EpochReport], None] | None = None,
                 on_start: Callable[[str, int], None] | None = None) -> TrainOutcome:
    """Train ``plan`` (or continue its unfinished run; a finished one only with ``retrain``)
    and store the result. ``on_start(action, epochs_done)`` is called once the run is
    claimed, ``on_epoch(report)`` after each epoch is stored. A run stopped by an exception
    (Ctrl-C) is stored ``interrupted`` and continues on the next call."""
    import dataclasses
    import socket

    from dse.store import StoreError
    from dse.tasks import run_trial
    from dse.trial import TrialPayload

    host, pid = socket.gethostname(), os.getpid()
    cfg = plan.cfg
    # the study's trial settings, under the candidate's trial number; no trial timeout
    payload = dataclasses.replace(replicate_payload(
        TrialPayload.from_config(cfg, plan.spec.to_json(), plan.trial_number), plan.replicate),
        trial_timeout_s=None)
    settings = {k: v for k, v in dataclasses.asdict(payload).items()
                if k not in ("spec_json", "bucket", "threads", "gpus", "checkpoint_path")}
    try:
        start = store.start_training(plan.candidate_id, epochs=cfg.epochs,
                                     schedule=cfg.schedule,
                                     max_train_batches=cfg.max_train_batches,
                                     settings=settings, host=host, pid=pid, retrain=retrain,
                                     replicate=plan.replicate)
    except StoreError as exc:
        raise UserError(str(exc)) from None
    if start.action == "done":
        return TrainOutcome(plan, start.record, "done")
    tid = start.record.id
    if on_start is not None:
        on_start(start.action, len(start.record.curve))
    with _checkpoint_file(start.checkpoint) as path, _heartbeat(store, tid, host, pid):

        def report(m: EpochReport) -> bool:
            with open(path, "rb") as fh:  # the trainer wrote it before calling back
                blob = fh.read()
            store.training_epoch(tid, {"stage": m.stage, "epoch": m.epoch, **m.row}, blob)
            if on_epoch is not None:
                on_epoch(m)
            return False

        try:
            result = run_trial(dataclasses.replace(payload, checkpoint_path=path), report)
        except BaseException:
            with contextlib.suppress(Exception):
                store.interrupt_training(tid, host, pid)
            raise
    metrics = dict(result.metrics)
    for key in ("train_seconds", "epochs_run"):
        value = getattr(result, key)
        if value is not None:
            metrics[key] = float(value)
    from dse.export import training_artifact

    for name, (mime, data) in result.artifacts.items():
        store.add_artifact(plan.candidate_id, training_artifact(tid, name), mime, data)
    complete = result.status == "complete"
    store.finish_training(tid, "complete" if complete else "failed", metrics=metrics,
                          error=None if complete else result.reason)
    return TrainOutcome(plan, store.training(tid), start.action)


@contextlib.contextmanager
def _checkpoint_file(blob: bytes | None) -> Iterator[str]:
    """A private temporary checkpoint path (holding ``blob`` when resuming), removed after."""
    folder = tempfile.mkdtemp(prefix="dse-train-")
    path = os.path.join(folder, "checkpoint.pt")
    try:
        if blob is not None:
            with open(path, "wb") as fh:
                fh.write(blob)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        with contextlib.suppress(OSError):
            os.rmdir(folder)


@contextlib.contextmanager
def _heartbeat(store: Store, training_id: int, host: str, pid: int) -> Iterator[None]:
    """Renew the training's heartbeat while it runs, so another host sees it alive
    (dse.store.drivers: a beat older than the stale time means gone)."""
    from dse.store import drivers

    stop = threading.Event()
    every = min(5.0, drivers.stale_seconds() / 4)

    def loop() -> None:
        while not stop.wait(every):
            with contextlib.suppress(Exception):  # a missed beat is retried
                store.beat_training(training_id, host, pid)

    thread = threading.Thread(target=loop, name="dse-train-beat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


__all__ = ["DEFAULT_TRAIN_STUDY", "LONGER", "STUDY_SETTINGS", "TRAIN_SPACE", "TrainOutcome",
           "TrainPlan", "check_dataset", "is_train_study", "plan_candidate",
           "plan_spec", "run_training"]
