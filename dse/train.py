"""Quantization-aware training with multi-stage schedules declared as data.

A schedule is a list of :class:`Stage` s; each names what is quantized while it runs
(weights, activations, LSTM gates) and starts from the weights the previous stage left.
BILLNET trains this way: full precision -> weights quantized -> activations quantized ->
LSTM gates quantized. Named schedules live in the :data:`SCHEDULES` registry
(:func:`get_schedule`), and config files can spell a schedule as a list of dicts
(:func:`parse_schedule`).

    >>> stages = get_schedule("billnet", epochs=8)           # doctest: +SKIP
    >>> result = train(model, get_dataset("synthetic-gestures"), stages)  # doctest: +SKIP
    >>> result.status, result.test_accuracy                  # doctest: +SKIP

Contract of :func:`train`:

* One trainer for every task: the task's :class:`Objective` supplies the loss and the
  evaluation (default :class:`Classification`: cross-entropy, accuracy); the rest below is
  shared. Adam (``lr`` per stage optional, otherwise the run's ``lr``), a fresh optimizer per
  stage, cosine decay of the learning rate over each stage's epochs (per epoch), or with
  ``lr_schedule="warmup-cosine"`` per batch after a linear warm-up (see :func:`_batch_lr`).
  ``weight_decay`` applies to weight tensors only, never to the one-dimensional parameters
  (norm scales and offsets, learned step sizes and thresholds).
* Recipe options, each measured in benchmarks/recipes.py: ``bn_recalibration`` re-estimates
  the batch-norm statistics of the final weights at the end of every stage (one pass over the
  training split without gradients) -- after quantization the running statistics lag the
  codes' distribution; ``distill`` > 0 mixes into the loss of every quantized stage the
  KL divergence to a frozen copy of the model taken at the stage's start and run in float
  (the float version of the same spec as teacher, standard for binary networks; after a float
  first stage that is the float model it trained). A run resumed inside a distilled stage
  takes its teacher at the resumed weights, so it is not bit-identical to an unbroken run.
* At the start of every stage, ``search_spaces.build.set_quantization(model, weights=...,
  activations=..., lstm_gates=...)`` switches the model's quantizers. When a stage turns
  activations on after a stage that had them off, ``search_spaces.build.fold_bsn(model)`` is
  called first (if the builder defines it): bit-shift normalization trains as batch norm in
  float and is folded to shifts before activations are quantized (docs/design.md, "Building
  blocks"). A model with no quantizers (a plain torch model) is trained as is when the builder
  is absent.
* Deterministic on CPU: every epoch reseeds torch's global generator and the shuffling
  generator from ``(seed, epoch)``, batches are drawn in-process (no workers) and
  ``torch.use_deterministic_algorithms`` is on for the run; so the same seed gives the same
  history, and a run resumed from a checkpoint continues exactly as the uninterrupted run.
* ``on_epoch(metrics)`` is called after every epoch (after the checkpoint is written);
  returning ``True`` stops the run with status ``"pruned"`` (ASHA-style early stopping).
* A NaN/inf loss, or a training loss above ``divergence_loss``, ends the run with status
  ``"failed"`` and a reason that says where (stage, epoch, batch); it never raises.
* ``checkpoint_path``: the model, optimizer and position are saved after every epoch
  (atomically); if the file exists when ``train`` starts, the run resumes from it.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from dse.status import TRAINING_OUTCOMES
from search_spaces.registry import Registry

if TYPE_CHECKING:
    import torch
    from torch import nn

    from dse.data import DatasetBundle, SplitDataset

STATUSES = TRAINING_OUTCOMES  # what a training run ends in (dse.status)
LR_SCHEDULES = ("cosine", "constant", "warmup-cosine")


# --------------------------------------------------------------------------- stages
@dataclass(frozen=True)
class Stage:
    """One phase of training: what is quantized, for how many epochs, at which learning rate.

    ``lr=None`` uses the run's ``lr``. ``epochs`` must be >= 1. ``deployed``: the stage trains
    the integer machine itself, in code space (``search_spaces.deploy.set_deployed``; every
    part quantized, whatever the three flags say); see :func:`deployable`.
    """

    name: str
    epochs: int
    weights: bool
    activations: bool
    lstm_gates: bool
    lr: float | None = None
    deployed: bool = False

    def __post_init__(self) -> None:
        where = f"stage {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"stage: name={self.name!r} must be a non-empty string")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"{where}: epochs={self.epochs!r} must be an integer >= 1")
        for flag in ("weights", "activations", "lstm_gates", "deployed"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{where}: {flag}={getattr(self, flag)!r} must be a boolean")
        lr = self.lr
        if lr is not None and (isinstance(lr, bool) or not isinstance(lr, int | float)
                               or not 0 < lr < math.inf):
            raise ValueError(f"{where}: lr={self.lr!r} must be a positive number or null")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "stage") -> Stage:
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: must be a mapping with name, epochs, weights, "
                             f"activations, lstm_gates (got {type(data).__name__})")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
        missing = [k for k in ("name", "epochs") if k not in data]
        if missing:
            raise ValueError(f"{where}: field {missing[0]!r} is required")
        full = {"weights": False, "activations": False, "lstm_gates": False, **data}
        return cls(**full)


#: Schedule name -> ``fn(epochs) -> list[Stage]`` (docs/design.md, "The registry").
SCHEDULES: Registry[Callable[[int], list[Stage]]] = Registry("schedule")


def split_epochs(epochs: int, parts: int) -> list[int]:
    """Split ``epochs`` into ``parts`` near-equal positive counts, the remainder to the last
    parts (the quantized stages, which need the most recovery): 10 over 4 -> [2, 2, 3, 3]."""
    if epochs < parts:
        raise ValueError(f"epochs={epochs} must be >= {parts} for a {parts}-stage schedule")
    base, extra = divmod(epochs, parts)
    return [base + (1 if i >= parts - extra else 0) for i in range(parts)]


@SCHEDULES.register("float")
def _float(epochs: int) -> list[Stage]:
    return [Stage("float", epochs, weights=False, activations=False, lstm_gates=False)]


@SCHEDULES.register("qat")
def _qat(epochs: int) -> list[Stage]:
    return [Stage("qat", epochs, weights=True, activations=True, lstm_gates=True)]


@SCHEDULES.register("two-stage")
def _two_stage(epochs: int) -> list[Stage]:
    fp, q = split_epochs(epochs, 2)
    return [Stage("float", fp, weights=False, activations=False, lstm_gates=False),
            Stage("quantized", q, weights=True, activations=True, lstm_gates=True)]


@SCHEDULES.register("billnet")
def _billnet(epochs: int) -> list[Stage]:
    """BILLNET's staged binarization (our reading of the abstract: four equal-ish stages)."""
    a, b, c, d = split_epochs(epochs, 4)
    return [Stage("fp", a, weights=False, activations=False, lstm_gates=False),
            Stage("weights", b, weights=True, activations=False, lstm_gates=False),
            Stage("activations", c, weights=True, activations=True, lstm_gates=False),
            Stage("gates", d, weights=True, activations=True, lstm_gates=True)]


def deployable(stages: Sequence[Stage]) -> list[Stage]:
    """The schedule with its last stage deployed: it trains the integer machine the cost model
    charges, so the accuracy measured after it is the chip's (docs/design.md, "Integer
    semantics")."""
    stages = list(stages)
    return [*stages[:-1], replace(stages[-1], deployed=True)] if stages else stages


def get_schedule(name: str, epochs: int) -> list[Stage]:
    """The named schedule with ``epochs`` epochs in total; unknown names list the valid ones."""
    fn = SCHEDULES.get(name)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"schedule {name!r}: epochs={epochs!r} must be an integer >= 1")
    return fn(epochs)


def parse_schedule(spec: str | Sequence[Mapping[str, Any]],
                   epochs: int | None = None) -> list[Stage]:
    """A schedule from a config value: a registered name (needs ``epochs``) or a list of
    stage dicts (``{"name": "fp", "epochs": 3, "weights": false, ...}``; missing flags are
    false). Stage names must be unique."""
    if isinstance(spec, str):
        if epochs is None:
            raise ValueError(f"schedule {spec!r}: epochs is required for a named schedule")
        return get_schedule(spec, epochs)
    if not isinstance(spec, Sequence) or not spec:
        raise ValueError(f"schedule={spec!r} must be a schedule name or a non-empty list of "
                         "stages")
    items: list[Any] = list(spec)
    stages = [Stage.from_dict(d, f"schedule[{i}]") for i, d in enumerate(items)]
    names = [s.name for s in stages]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"schedule: stage names must be unique, {dup[0]!r} repeats")
    return stages


# --------------------------------------------------------------------------- results
@dataclass
class EpochMetrics:
    """Metrics of one epoch; ``epoch`` is global and 1-based, accuracies are fractions.

    ``train_accuracy``/``val_accuracy`` are None for an objective without accuracy (the codec);
    ``extra`` holds the objective's other validation metrics (e.g. ``psnr_db``).
    """

    stage: str
    stage_index: int
    epoch: int
    train_loss: float
    train_accuracy: float | None
    val_loss: float
    val_accuracy: float | None
    seconds: float
    lr: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    """Outcome of :func:`train`. ``test_accuracy`` is None when the run failed (or the
    objective has no accuracy); ``test`` is the objective's whole evaluation of the test split
    (empty when the run failed)."""

    status: str
    reason: str | None
    history: list[EpochMetrics]
    best_val_accuracy: float | None
    test_accuracy: float | None
    epochs_run: int
    seconds: float
    test_loss: float | None = None
    stages: list[Stage] = field(default_factory=list)
    test: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["history"] = [m.to_dict() for m in self.history]
        return out


class _Stop(Exception):
    """Internal: a run ended with a failure reason."""


# --------------------------------------------------------------------------- batching
def _batches(ds: SplitDataset, batch_size: int, *, shuffle: bool,
             generator: torch.Generator | None = None, limit: int | None = None,
             ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of ``ds`` drawn in-process: tensors indexed directly when the dataset allows
    (``TensorDataset``, :class:`dse.data.U8Dataset`), else items stacked one by one.

    When shuffling (training), a last batch of a single sample is dropped: batch norm cannot
    take a batch statistic from one sample."""
    import torch
    from torch.utils.data import TensorDataset

    n = len(ds)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for b, lo in enumerate(range(0, n, batch_size)):
        if limit is not None and b >= limit:
            return
        idx = order[lo:lo + batch_size]
        if shuffle and len(idx) == 1 and n > 1:
            return
        if isinstance(ds, TensorDataset):
            x, y = ds.tensors[0][idx], ds.tensors[1][idx]
        elif hasattr(ds, "get_batch"):
            x, y = ds.get_batch(idx)
        else:
            items = [ds[int(i)] for i in idx]
            x = torch.stack([torch.as_tensor(it[0]) for it in items])
            y = torch.as_tensor([int(it[1]) for it in items])
        yield x, y


def split_tensors(ds: SplitDataset) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole split as one (inputs, labels) pair of tensors."""
    import torch

    if len(ds) == 0:
        raise ValueError("split_tensors: the split is empty")
    x, y = next(_batches(ds, len(ds), shuffle=False))
    return x, torch.as_tensor(y)


def evaluate(model: nn.Module, ds: SplitDataset, *, batch_size: int = 512,
             device: str = "cpu") -> tuple[float, float]:
    """``(mean cross-entropy, accuracy)`` of ``model`` on ``ds`` in eval mode."""
    import torch
    import torch.nn.functional as F

    was_training = model.training
    model.eval()
    loss_sum, correct, n = 0.0, 0, 0
    with torch.no_grad():
        for x, y in _batches(ds, batch_size, shuffle=False):
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(dim=1) == y).sum())
            n += len(y)
    model.train(was_training)
    if n == 0:
        return math.nan, math.nan
    return loss_sum / n, correct / n


# --------------------------------------------------------------------------- objectives
class Objective:
    """What a task supplies to :func:`train`: its loss on a batch and its evaluation of a split
    (docs/design.md, "Training"). Everything else (stages, optimizer, learning-rate schedule,
    seeds, determinism, threads, the divergence rule, checkpoints, early stopping) is the
    trainer's and the same for every task.

    ``divergence_loss`` is the default limit of the divergence rule, on this loss's scale.
    """

    divergence_loss: float = 1e4

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor
             ) -> tuple[torch.Tensor, int | None]:
        """The mean loss of the batch and its number of correct predictions (None if the task
        has no accuracy)."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module, ds: SplitDataset, device: str) -> dict[str, float]:
        """Metrics of ``model`` on ``ds`` in eval mode: ``loss`` always, ``accuracy`` if the
        task has one, any others by name."""
        raise NotImplementedError


class Classification(Objective):
    """Cross-entropy on class logits; evaluation: mean cross-entropy and accuracy."""

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor
             ) -> tuple[torch.Tensor, int | None]:
        import torch.nn.functional as F

        logits = model(x)
        return F.cross_entropy(logits, y), int((logits.detach().argmax(dim=1) == y).sum())

    def evaluate(self, model: nn.Module, ds: SplitDataset, device: str) -> dict[str, float]:
        loss, acc = evaluate(model, ds, device=device)
        return {"loss": loss, "accuracy": acc}


# --------------------------------------------------------------------------- quantization
def _has_quantizers(model: nn.Module) -> bool:
    return any(type(m).__module__.startswith("search_spaces.") for m in model.modules())


def _builder_hooks() -> tuple[Callable[..., Any] | None, Callable[..., Any] | None]:
    try:
        from search_spaces import build
    except ImportError:
        return None, None
    return getattr(build, "set_quantization", None), getattr(build, "fold_bsn", None)


def apply_stage(model: nn.Module, stage: Stage, previous: Stage | None) -> None:
    """Switch the model's quantizers to ``stage`` (folding BSN first where activations turn
    on after a stage without them). See the module docstring."""
    set_quantization, fold_bsn = _builder_hooks()
    if (fold_bsn is not None and previous is not None and stage.activations
            and not previous.activations):
        fold_bsn(model)
    if stage.deployed or (previous is not None and previous.deployed):
        from search_spaces.deploy import set_deployed

        set_deployed(model, stage.deployed)
        if stage.deployed:
            return
    if set_quantization is None:
        if _has_quantizers(model):
            raise RuntimeError("search_spaces.build.set_quantization is not available but the "
                               "model has quantized layers")
        return
    set_quantization(model, weights=stage.weights, activations=stage.activations,
                     lstm_gates=stage.lstm_gates)


# --------------------------------------------------------------------------- checkpoints
@dataclass
class Checkpoint:
    """Where a run stood after an epoch: ``stage_index`` and the epochs done in it
    (``stage_epoch``), the global ``epoch`` count, the history so far."""

    stages: list[Stage]
    stage_index: int
    stage_epoch: int
    epoch: int
    history: list[EpochMetrics]
    seed: int
    optimizer_state: dict[str, Any] | None = None


def save_checkpoint(path: str, model: nn.Module, optimizer: torch.optim.Optimizer | None,
                    ckpt: Checkpoint) -> None:
    """Write model + optimizer + position to ``path`` atomically (temp file, then rename)."""
    import torch

    payload = {
        "format": 1,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "stages": [s.to_dict() for s in ckpt.stages],
        "stage_index": ckpt.stage_index,
        "stage_epoch": ckpt.stage_epoch,
        "epoch": ckpt.epoch,
        "history": [m.to_dict() for m in ckpt.history],
        "seed": ckpt.seed,
    }
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str, model: nn.Module, *, replay_stages: bool = True) -> Checkpoint:
    """Load a checkpoint into ``model`` and return the position (optimizer state included).

    With ``replay_stages`` the stage switches up to the saved stage are applied first, so a
    model whose structure changes at a switch (BSN folding) matches the saved state.
    Raises ``ValueError`` naming the file when it is missing or not a tinydse checkpoint.
    """
    import torch

    if not os.path.isfile(path):
        raise ValueError(f"checkpoint {path!r}: no such file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        stages = [Stage.from_dict(d) for d in payload["stages"]]
        ckpt = Checkpoint(
            stages=stages, stage_index=int(payload["stage_index"]),
            stage_epoch=int(payload["stage_epoch"]), epoch=int(payload["epoch"]),
            history=[EpochMetrics(**m) for m in payload["history"]], seed=int(payload["seed"]),
            optimizer_state=payload["optimizer"],
        )
        state = payload["model"]
    except (KeyError, TypeError, RuntimeError, EOFError, OSError,
            pickle.UnpicklingError) as exc:
        raise ValueError(f"checkpoint {path!r}: not a readable tinydse checkpoint "
                         f"({type(exc).__name__})") from None
    if replay_stages:
        prev: Stage | None = None
        for s in stages[:ckpt.stage_index + 1]:
            apply_stage(model, s, prev)
            prev = s
    model.load_state_dict(state)
    return ckpt


# --------------------------------------------------------------------------- training
def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch) % (2**63 - 1)


def _batch_lr(base: float, step: int, total: int, warmup: int) -> float:
    """Linear warm-up over the first ``warmup`` of a stage's ``total`` steps, then cosine decay
    to 0 per batch (Goyal et al. 2017's warm-up with SGDR's cosine): ``base * (step+1)/warmup``,
    then ``base * (1 + cos(pi * (step - warmup) / (total - warmup))) / 2``."""
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def recalibrate_bn(model: nn.Module, ds: SplitDataset, *, batch_size: int = 256,
                   device: str = "cpu") -> int:
    """Re-estimate every batch norm's running mean and variance on ``ds`` with the model's
    current (e.g. quantized) weights: statistics reset, then a cumulative average over one
    pass without gradients. Returns the number of batch norms. Other state is untouched."""
    import torch
    from torch.nn.modules.batchnorm import _BatchNorm

    norms = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not norms:
        return 0
    was_training = model.training
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the pass
    model.train()
    with torch.no_grad():
        for x, _ in _batches(ds, batch_size, shuffle=False):
            model(x.to(device))
    for m, mom in zip(norms, momenta, strict=True):
        m.momentum = mom
    model.train(was_training)
    return len(norms)


def _stage_lr(base: float, schedule: str, done: int, total: int) -> float:
    """Cosine decay per epoch within a stage (SGDR without restarts, Loshchilov & Hutter 2017):
    ``base * (1 + cos(pi * done / total)) / 2`` for the epoch after ``done`` finished ones."""
    if schedule == "constant":
        return base
    return base * 0.5 * (1.0 + math.cos(math.pi * done / total))


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    import torch

    was = torch.are_deterministic_algorithms_enabled()
    warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was, warn_only=warn)


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    import torch

    if n is None:
        yield
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"num_threads={n!r} must be an integer >= 1 or None")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool) -> None:
        self.bar: Any = None
        self.task: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(),
                                console=Console(stderr=True), transient=False)

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def start(self, label: str, total: int) -> None:
        if self.bar is not None:
            self.task = self.bar.add_task(label, total=total)

    def advance(self, label: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1, description=label)


def _check_args(stages: Sequence[Stage], batch_size: int, lr: float, lr_schedule: str,
                divergence_loss: float, max_train_batches: int | None) -> None:
    if not stages or not all(isinstance(s, Stage) for s in stages):
        raise ValueError("stages must be a non-empty list of Stage (see get_schedule)")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be an integer >= 1")
    if not 0 < lr < math.inf:
        raise ValueError(f"lr={lr!r} must be a positive number")
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule={lr_schedule!r} must be one of {list(LR_SCHEDULES)}")
    if not divergence_loss > 0:
        raise ValueError(f"divergence_loss={divergence_loss!r} must be > 0")
    if max_train_batches is not None and max_train_batches < 1:
        raise ValueError(f"max_train_batches={max_train_batches!r} must be >= 1 or None")


def train(
    model: nn.Module,
    data: DatasetBundle,
    stages: Sequence[Stage],
    *,
    batch_size: int = 64,
    lr: float = 2e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
    on_epoch: Callable[[EpochMetrics], bool | None] | None = None,
    checkpoint_path: str | None = None,
    max_train_batches: int | None = None,
    progress: bool | None = None,
    divergence_loss: float | None = None,
    lr_schedule: str = "cosine",
    device: str = "cpu",
    num_threads: int | None = None,
    objective: Objective | None = None,
    warmup_epochs: float = 1.0,
    bn_recalibration: bool = False,
    distill: float = 0.0,
    distill_temperature: float = 2.0,
) -> TrainResult:
    """Train ``model`` on ``data`` through ``stages``; see the module docstring for the
    contract. ``max_train_batches`` caps the batches per epoch (quick fidelity levels);
    ``progress=None`` shows a bar only when stderr is a terminal. ``num_threads`` sets torch's
    intra-op threads for the run (restored after): tiny models gain nothing from several
    threads, and on a loaded machine (parallel trials) spinning threads can slow a run by
    orders of magnitude, so trials should pass 1. ``objective`` supplies the loss and the
    evaluation (default :class:`Classification`); ``divergence_loss=None`` takes its limit.
    ``warmup_epochs`` is the warm-up of ``lr_schedule="warmup-cosine"`` in the first stage
    (later stages start from trained weights and decay only)."""
    import torch

    objective = Classification() if objective is None else objective
    if divergence_loss is None:
        divergence_loss = objective.divergence_loss
    stages = list(stages)
    _check_args(stages, batch_size, lr, lr_schedule, divergence_loss, max_train_batches)
    if not 0.0 <= distill <= 1.0:
        raise ValueError(f"distill={distill!r} must be in [0, 1]")
    if not warmup_epochs >= 0:
        raise ValueError(f"warmup_epochs={warmup_epochs!r} must be >= 0")
    start = time.perf_counter()
    model.to(device)
    history: list[EpochMetrics] = []
    first_stage, done_in_stage, epoch = 0, 0, 0
    opt_state: dict[str, Any] | None = None
    if checkpoint_path is not None and os.path.isfile(checkpoint_path):
        ckpt = load_checkpoint(checkpoint_path, model)
        if [s.to_dict() for s in ckpt.stages] != [s.to_dict() for s in stages]:
            raise ValueError(f"checkpoint {checkpoint_path!r} was written for schedule "
                             f"{[s.name for s in ckpt.stages]} with other settings; remove it "
                             "or pass the same stages")
        model.to(device)
        history, epoch = ckpt.history, ckpt.epoch
        first_stage, done_in_stage = ckpt.stage_index, ckpt.stage_epoch
        opt_state = ckpt.optimizer_state
        if done_in_stage >= stages[first_stage].epochs:
            first_stage, done_in_stage, opt_state = first_stage + 1, 0, None

    show = sys.stderr.isatty() if progress is None else progress
    status, reason = "complete", None
    n_train = len(data.train)
    batches_per_epoch = math.ceil(n_train / batch_size)
    if max_train_batches is not None:
        batches_per_epoch = min(batches_per_epoch, max_train_batches)

    with _deterministic(), _threads(num_threads), _Progress(show) as bar:
        try:
            for si in range(first_stage, len(stages)):
                stage = stages[si]
                resumed = si == first_stage and (done_in_stage > 0 or opt_state is not None)
                if not (si == first_stage and resumed):
                    apply_stage(model, stage, stages[si - 1] if si > 0 else None)
                base_lr = stage.lr if stage.lr is not None else lr
                optimizer = torch.optim.Adam(_param_groups(model, weight_decay), lr=base_lr)
                teacher = _teacher(model, stages, si) if distill > 0 else None
                total_steps = stage.epochs * batches_per_epoch
                warmup = round(warmup_epochs * batches_per_epoch) if si == 0 else 0
                if si == first_stage and opt_state is not None:
                    optimizer.load_state_dict(opt_state)
                start_e = done_in_stage if si == first_stage else 0
                bar.start(f"{stage.name}", (stage.epochs - start_e) * batches_per_epoch)
                for e in range(start_e, stage.epochs):
                    t0 = time.perf_counter()
                    epoch += 1
                    cur_lr = _stage_lr(base_lr, lr_schedule, e, stage.epochs)
                    for group in optimizer.param_groups:
                        group["lr"] = cur_lr
                    es = _epoch_seed(seed, epoch)
                    torch.manual_seed(es)
                    gen = torch.Generator().manual_seed(es)
                    model.train()
                    loss_sum, correct, seen = 0.0, 0, 0
                    counts_correct = True
                    for b, (x, y) in enumerate(_batches(data.train, batch_size, shuffle=True,
                                                        generator=gen,
                                                        limit=max_train_batches), 1):
                        x, y = x.to(device), y.to(device)
                        if lr_schedule == "warmup-cosine":
                            cur_lr = _batch_lr(base_lr, e * batches_per_epoch + b - 1,
                                               total_steps, warmup)
                            for group in optimizer.param_groups:
                                group["lr"] = cur_lr
                        loss, n_correct = objective.loss(model, x, y)
                        if teacher is not None:
                            loss = (1 - distill) * loss + distill * _distill_loss(
                                model, teacher, x, distill_temperature)
                        value = float(loss.detach())
                        where = f"at stage {stage.name!r} epoch {epoch} batch {b}"
                        if not math.isfinite(value):
                            kind = "NaN" if math.isnan(value) else "infinite"
                            raise _Stop(f"loss is {kind} {where}")
                        if value > divergence_loss:
                            raise _Stop(f"loss {value:.4g} exceeds divergence_loss="
                                        f"{divergence_loss:g} {where} (diverged)")
                        optimizer.zero_grad(set_to_none=True)
                        loss.backward()
                        optimizer.step()
                        loss_sum += value * len(y)
                        if n_correct is None:
                            counts_correct = False
                        else:
                            correct += n_correct
                        seen += len(y)
                        bar.advance(f"{stage.name} e{epoch} loss {value:.3f}")
                    if bn_recalibration and not stage.deployed and e == stage.epochs - 1:
                        recalibrate_bn(model, data.train, device=device)
                    val = objective.evaluate(model, data.val, device)
                    val_loss = val["loss"]
                    if not math.isfinite(val_loss):
                        raise _Stop(f"validation loss is {val_loss} at stage {stage.name!r} "
                                    f"epoch {epoch}")
                    metrics = EpochMetrics(
                        stage=stage.name, stage_index=si, epoch=epoch,
                        train_loss=loss_sum / max(seen, 1),
                        train_accuracy=correct / max(seen, 1) if counts_correct else None,
                        val_loss=val_loss, val_accuracy=val.get("accuracy"),
                        seconds=time.perf_counter() - t0, lr=cur_lr,
                        extra={k: v for k, v in val.items() if k not in ("loss", "accuracy")})
                    history.append(metrics)
                    if checkpoint_path is not None:
                        save_checkpoint(checkpoint_path, model, optimizer, Checkpoint(
                            stages, si, e + 1, epoch, history, seed))
                    if on_epoch is not None and on_epoch(metrics) is True:
                        status, reason = "pruned", f"stopped by on_epoch after epoch {epoch}"
                        break
                if status == "pruned":
                    break
                done_in_stage, opt_state = 0, None
        except _Stop as stop:
            status, reason = "failed", str(stop)

    test = objective.evaluate(model, data.test, device) if status != "failed" else {}
    best = max((m.val_accuracy for m in history if m.val_accuracy is not None), default=None)
    return TrainResult(status=status, reason=reason, history=history, best_val_accuracy=best,
                       test_accuracy=test.get("accuracy"), epochs_run=len(history),
                       seconds=time.perf_counter() - start, test_loss=test.get("loss"),
                       stages=stages, test=test)


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weight tensors only; none on 1-d parameters (scales, offsets, step
    sizes, thresholds): decaying those shrinks what the quantizers and norms calibrate."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    other = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": other, "weight_decay": 0.0}]


def _teacher(model: nn.Module, stages: Sequence[Stage], si: int) -> nn.Module | None:
    """For a quantized stage after a float first stage: a frozen copy of the model switched to
    the float stage (the same weights, unquantized) -- the float version of the same spec."""
    import copy

    first = stages[0]
    if si == 0 or first.weights or first.activations:
        return None
    teacher = copy.deepcopy(model)
    apply_stage(teacher, first, None)
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def _distill_loss(model: nn.Module, teacher: nn.Module, x: torch.Tensor,
                  temperature: float) -> torch.Tensor:
    """Hinton et al. 2015: ``T^2 KL(softmax(teacher/T) || softmax(student/T))``. The student's
    logits are recomputed here (a second forward; simple, and distillation is opt-in)."""
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        target = F.softmax(teacher(x) / temperature, dim=1)
    logp = F.log_softmax(model(x) / temperature, dim=1)
    return F.kl_div(logp, target, reduction="batchmean") * temperature**2


__all__ = [
    "SCHEDULES", "Checkpoint", "Classification", "EpochMetrics", "Objective", "Stage",
    "TrainResult", "apply_stage", "deployable", "evaluate",
    "split_tensors", "get_schedule", "load_checkpoint",
    "parse_schedule", "recalibrate_bn", "save_checkpoint", "split_epochs", "train",
]
