"""What every task's ``run()`` shares: the set-up of one trial in a worker process and the
per-epoch bookkeeping (report to the driver and its early-stopping rule, the trial timeout).

A trial never opens the database: its epochs go to ``report`` and its artifacts into its
result, and the driver persists both (docs/design.md, "Who writes"), so Ray worker nodes
need no database access."""

from __future__ import annotations

import time
import traceback
from functools import lru_cache
from typing import Any

from dse.trial import Artifact, EpochCallback, EpochReport, TrialPayload, TrialResult


@lru_cache(maxsize=4)
def cached_dataset(name: str, params_items: tuple[tuple[str, Any], ...], root: str | None,
                   seed: int) -> Any:
    """A dataset bundle, built once per worker process and reused by its trials."""
    from dse.data import get_dataset

    return get_dataset(name, root=root, seed=seed, **dict(params_items))


def failure(exc: BaseException, started: float) -> TrialResult:
    """The result of a trial that raised: its reason names the exception and where."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
    return TrialResult(status="failed", reason=f"{type(exc).__name__}: {exc}{where}",
                       epochs_run=0, train_seconds=time.monotonic() - started)


class TrialContext:
    """One trial's torch threads, spec, dataset, seed, device and training stages.

    ``epoch()`` reports an epoch (its ``row`` for the store, with the task's ``monitor``
    value) and returns True to stop: when the rule prunes or when the trial ran past its
    timeout, which ``outcome()`` then turns into a failure with its reason.
    """

    def __init__(self, payload: TrialPayload, report: EpochCallback) -> None:
        import torch

        from dse.train import deployable, get_schedule
        from hwmodel.golden import not_deployable_reason
        from search_spaces.spec import ArchSpec

        self.started = time.monotonic()
        self.payload, self.report = payload, report
        self.timeout = payload.trial_timeout_s
        self.timed_out: str | None = None
        torch.set_num_threads(max(1, payload.threads))
        self.spec = ArchSpec.from_json(payload.spec_json)
        self.data = cached_dataset(payload.dataset, tuple(sorted(payload.data_params().items())),
                                   payload.data_root, payload.seed)
        self.seed = payload.training_seed()
        # A trial given GPUs (--gpus-per-trial; Ray sets CUDA_VISIBLE_DEVICES) trains on one.
        self.device = "cuda" if payload.gpus > 0 and torch.cuda.is_available() else "cpu"
        torch.manual_seed(self.seed)
        self.stages = get_schedule(payload.schedule, payload.epochs)
        # A spec with an integer form trains its last stage as that machine (docs/design.md,
        # "Integer semantics"), so the accuracy a trial records is the chip's.
        self.deployable = not_deployable_reason(self.spec) is None
        if self.deployable:
            self.stages = deployable(self.stages)
        #: files for the candidate, by name; the result carries them
        self.artifacts: dict[str, Artifact] = {}

    def epoch(self, stage: str, epoch: int, monitor: float, row: dict[str, float | None]
              ) -> bool:
        stop = bool(self.report(EpochReport(epoch, stage, monitor, dict(row))))
        if self.timeout is not None and time.monotonic() - self.started > self.timeout:
            self.timed_out = f"exceeded --trial-timeout {self.timeout:g} s after epoch {epoch}"
            return True
        return stop

    def outcome(self, status: str, reason: str | None) -> tuple[str, str | None]:
        return ("failed", self.timed_out) if self.timed_out else (status, reason)

    def seconds(self) -> float:
        return time.monotonic() - self.started

    def keep_model(self, model: Any) -> None:
        """Keep a completed trial's trained (on-chip) model as its candidate's ``model``
        artifact (stored by the driver with the result), so ``dse export`` needs no
        retraining."""
        from dse.export import MODEL_ARTIFACT, MODEL_MIME, model_checkpoint

        self.artifacts[MODEL_ARTIFACT] = Artifact(MODEL_MIME, model_checkpoint(
            model, self.stages, self.seed))
