"""Classification: cross-entropy training of the built network; accuracy is the objective."""

from __future__ import annotations

import math
import time
from functools import lru_cache
from typing import Any

from dse.tasks import RunFn, Task, register_task


@lru_cache(maxsize=4)
def cached_dataset(name: str, params_items: tuple[tuple[str, Any], ...], root: str | None,
                   seed: int) -> Any:
    """A dataset bundle, built once per worker process and reused by its trials."""
    from dse.data import get_dataset

    return get_dataset(name, root=root, seed=seed, **dict(params_items))


def failure(exc: BaseException, started: float) -> dict[str, Any]:
    """The result of a trial that raised: its reason names the exception and where."""
    import traceback

    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
    return {"status": "failed", "reason": f"{type(exc).__name__}: {exc}{where}", "metrics": {},
            "monitor": None, "epochs_run": 0, "train_seconds": time.monotonic() - started}


def run(payload: dict[str, Any], report: Any) -> dict[str, Any]:
    """Train one classifier candidate with the QAT trainer; never raises."""
    started = time.monotonic()
    timeout = payload.get("trial_timeout_s")
    timed_out: dict[str, str] = {}
    try:
        import torch

        import search_spaces.build as build
        from dse.store import open_store
        from dse.train import get_schedule, train
        from search_spaces.spec import ArchSpec

        torch.set_num_threads(max(1, int(payload.get("threads", 1))))
        store = open_store(payload["db"])
        spec = ArchSpec.from_json(payload["spec_json"])
        data = cached_dataset(payload["dataset"],
                              tuple(sorted(payload["dataset_params"].items())),
                              payload.get("data_root"), payload["seed"])
        torch.manual_seed(payload["seed"] + payload["trial_number"])
        model = build.build_model(spec)
        stages = get_schedule(payload["schedule"], payload["epochs"])

        def on_epoch(m: Any) -> bool:
            row = {"train_loss": m.train_loss, "train_accuracy": m.train_accuracy,
                   "val_loss": m.val_loss, "val_accuracy": m.val_accuracy, "seconds": m.seconds}
            store.add_epoch(payload["eval_id"], m.stage, m.epoch, **row)
            stop = bool(report({"epoch": m.epoch, "stage": m.stage, "monitor": m.val_accuracy,
                                **row}))
            if timeout is not None and time.monotonic() - started > timeout:
                timed_out["reason"] = (f"exceeded --trial-timeout {timeout:g} s after epoch "
                                       f"{m.epoch}")
                return True
            return stop

        result = train(model, data, stages, batch_size=payload["batch_size"], lr=payload["lr"],
                       seed=payload["seed"] + payload["trial_number"], on_epoch=on_epoch,
                       max_train_batches=payload.get("max_train_batches"), progress=False)
        status, reason = result.status, result.reason
        if timed_out:
            status, reason = "failed", timed_out["reason"]
        # The objective is the validation accuracy of the model as trained to the end (fully
        # quantized after the last stage), the one the test accuracy is measured on, not the
        # best epoch overall (which may be a full-precision stage).
        accuracy = result.history[-1].val_accuracy if result.history else None
        if status == "complete" and (accuracy is None or not math.isfinite(accuracy)):
            status, reason = "failed", f"validation accuracy is {accuracy}"
        metrics: dict[str, float] = {}
        if accuracy is not None:
            metrics.update(accuracy=accuracy, val_accuracy=accuracy)
        if result.test_accuracy is not None:
            metrics["test_accuracy"] = result.test_accuracy
        return {"status": status, "reason": reason, "metrics": metrics, "monitor": accuracy,
                "epochs_run": result.epochs_run, "train_seconds": time.monotonic() - started}
    except Exception as exc:  # a trial that raises is recorded failed; the search goes on
        return failure(exc, started)


_run: RunFn = run
CLASSIFICATION = register_task(Task(
    name="classification",
    description="image or video classification; objective: validation accuracy",
    objectives={"accuracy": "maximize"},
    monitor="val_accuracy",
    primary="accuracy",
    default_objectives=("accuracy", "memory_bits"),
    default_dataset="digits",
    default_space="tiny",
    run=_run,
))
