"""What travels between the driver and a worker for one trial: the payload, each epoch's
report and the result, as typed values with one JSON form each (docs/design.md, "Flow of one
trial" and "Who writes").

The driver builds a :class:`TrialPayload`; the worker trains (``dse.tasks.run_trial``),
calls its epoch callback with an :class:`EpochReport` per epoch and returns a
:class:`TrialResult`. In-process the values are passed as they are; through Ray Tune each is
one JSON string (``to_json``/``from_json``), so nothing is flattened: ``None`` stays ``None``,
floats are exact (NaN and infinities included), artifacts are bytes. A worker never opens the
database; the driver stores what it receives.

Torch-, Ray- and Optuna-free: the types are read by the driver, the workers and the tasks.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Self

from dse.status import TRAINING_OUTCOMES

if TYPE_CHECKING:
    from dse.config import SearchConfig

#: Network k of a candidate trains with its seed moved by ``k * REPLICATE_SEED_STRIDE``
#: (after the trial number is added: replicates never share another trial's seed).
REPLICATE_SEED_STRIDE = 1_000_003
#: Recipe options of :func:`dse.train.train` a payload carries (``TrialPayload.recipe``).
RECIPE_KEYS = ("lr_schedule", "bn_recalibration", "distill", "weight_decay")


def _loads(text: str, what: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"{what} JSON must be an object, got {type(value).__name__}")
    return value


class _JsonFields:
    """``to_json``/``from_json`` of a dataclass whose fields are JSON values; ``from_json``
    refuses unknown fields with one line naming them (missing ones: a ``TypeError``)."""

    WHAT: ClassVar[str]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)  # type: ignore[call-overload]

    @classmethod
    def _from_fields(cls, data: dict[str, Any]) -> Self:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})  # type: ignore[arg-type]
        if unknown:
            raise ValueError(f"{cls.WHAT}: unknown field(s) {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> Self:
        return cls._from_fields(_loads(text, cls.WHAT))


@dataclass(frozen=True)
class TrialPayload(_JsonFields):
    """What a worker needs to train one candidate with its study's settings.

    ``bucket`` is the candidate's hardware-cost bucket, read by the early-stopping scheduler;
    ``threads`` and ``gpus`` are the trial's share of its worker. Every field is a JSON value.
    """

    WHAT: ClassVar[str] = "trial payload"

    spec_json: str
    trial_number: int
    bucket: int
    task: str
    dataset: str
    dataset_params: dict[str, Any]
    data_root: str | None
    schedule: str
    epochs: int
    batch_size: int
    lr: float
    seed: int
    max_train_batches: int | None
    lr_schedule: str
    bn_recalibration: bool
    distill: float
    weight_decay: float
    trial_timeout_s: float | None
    threads: int
    gpus: float
    #: the trainer's checkpoint file (``dse train``: the run resumes from it and rewrites it
    #: after every epoch); None: no checkpoint (a search's trial)
    checkpoint_path: str | None = None
    #: which network of the candidate (0: the search's; k > 0: :meth:`training_seed` moved
    #: by ``k * REPLICATE_SEED_STRIDE`` and, where the dataset can, another train/validation
    #: partition with the same test split: :func:`dse.data.resplit_params`)
    replicate: int = 0

    def training_seed(self) -> int:
        """The seed of this network's initialization and batch order (the dataset's is
        ``seed``): the study's seed plus the trial number, moved per replicate."""
        return self.seed + self.trial_number + self.replicate * REPLICATE_SEED_STRIDE

    def data_params(self) -> dict[str, Any]:
        """The dataset parameters this network trains with (:attr:`replicate`'s partition)."""
        from dse.data import resplit_params

        return resplit_params(self.dataset, self.dataset_params, self.replicate)

    @classmethod
    def from_config(cls, cfg: SearchConfig, spec_json: str, trial_number: int,
                    bucket: int = 0) -> TrialPayload:
        """The payload of a spec trained with ``cfg``'s task, data and training settings."""
        return cls(spec_json=spec_json, trial_number=trial_number, bucket=bucket,
                   task=cfg.task, dataset=cfg.dataset,
                   dataset_params=dict(cfg.dataset_params), data_root=cfg.data_root,
                   schedule=cfg.schedule, epochs=cfg.epochs, batch_size=cfg.batch_size,
                   lr=cfg.lr, seed=cfg.seed, max_train_batches=cfg.max_train_batches,
                   lr_schedule=cfg.lr_schedule, bn_recalibration=cfg.bn_recalibration,
                   distill=cfg.distill, weight_decay=cfg.weight_decay,
                   trial_timeout_s=cfg.trial_timeout_s,
                   threads=max(1, int(cfg.cpus_per_trial)), gpus=cfg.gpus_per_trial)

    def recipe(self) -> dict[str, Any]:
        """The training-recipe keyword arguments of :func:`dse.train.train`."""
        return {k: getattr(self, k) for k in RECIPE_KEYS}



@dataclass(frozen=True)
class EpochReport(_JsonFields):
    """One trained epoch, as a trial reports it to the driver.

    ``epoch`` is global over the stages and 1-based; ``monitor`` is the task's monitored
    validation metric (maximized; what early stopping compares); ``row`` is the store's epoch
    row (``train_loss``, ``val_loss``, ``seconds``, ... as :meth:`dse.store.Store.add_epoch`
    takes them; a value may be None).
    """

    WHAT: ClassVar[str] = "epoch report"

    epoch: int
    stage: str
    monitor: float
    row: dict[str, float | None] = field(default_factory=dict)



#: A trial's epoch callback: it receives each epoch and returns True to stop the trial there.
EpochCallback = Callable[[EpochReport], bool | None]


class Artifact(NamedTuple):
    """A file a trial produced for its candidate (the trained model, a preview image)."""

    mime: str
    data: bytes


@dataclass(frozen=True)
class TrialResult(_JsonFields):
    """The outcome of one training run.

    ``status`` is one of ``TRAINING_OUTCOMES`` (complete, failed, pruned) and ``reason`` says
    why a run failed or stopped; ``metrics`` holds the objective values and extras (floats);
    ``monitor`` the final monitored validation value; ``epochs_run`` and ``train_seconds`` are
    None where not known (a run whose worker died); ``artifacts`` the candidate's files by
    name.
    """

    WHAT: ClassVar[str] = "trial result"

    status: str
    reason: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    monitor: float | None = None
    epochs_run: int | None = None
    train_seconds: float | None = None
    artifacts: dict[str, Artifact] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in TRAINING_OUTCOMES:
            raise ValueError(f"trial result: status must be one of "
                             f"{', '.join(TRAINING_OUTCOMES)}, got {self.status!r}")
        # One type per field, so that the JSON form reads back equal (an int metric would
        # come back an int, a tuple artifact a list).
        object.__setattr__(self, "status", str(self.status))
        object.__setattr__(self, "metrics", {str(k): float(v) for k, v in self.metrics.items()})
        object.__setattr__(self, "artifacts", {str(k): Artifact(str(m), bytes(d))
                                               for k, (m, d) in self.artifacts.items()})

    def to_json(self) -> str:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "artifacts"}
        data["artifacts"] = {name: {"mime": a.mime, "base64": base64.b64encode(a.data).decode()}
                             for name, a in self.artifacts.items()}
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Self:
        data = _loads(text, cls.WHAT)
        data["artifacts"] = {name: Artifact(a["mime"], base64.b64decode(a["base64"]))
                             for name, a in (data.get("artifacts") or {}).items()}
        return cls._from_fields(data)


__all__ = ["RECIPE_KEYS", "Artifact", "EpochCallback", "EpochReport", "TrialPayload",
           "TrialResult"]
