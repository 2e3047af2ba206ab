"""Search efficiency: hypervolume against the number of trained candidates, per sampler.

Real searches (``dse.search.run_search``, ``executor="local"``, one SQLite database per run)
with the same space, dataset, objectives (accuracy, memory_bits: the classification default),
budget and training settings for every sampler (``tpe``, the service's default; ``nsga2``;
``random``; all built by ``dse.samplers.create_sampler``) and several sampler seeds.

* **x-axis**: trained candidates (evaluations whose status is ``complete`` or ``pruned``).
  Infeasible proposals (over the budget: rejected by the hardware model, never trained) and
  duplicates (a spec already evaluated in the study: the stored values are told again) cost
  no training and do not advance it. Each run proposes until it has trained ``--trials``
  candidates (or gives up after ``--max-proposals`` x that many proposals).
* **Hypervolume** after each trained candidate: ``dse.pareto.hypervolume`` of the trained
  points so far, one reference point for every run: accuracy 0 and memory_bits = the budget
  (or, with ``--budget none``, 1.1 x the largest memory_bits trained in any run). It is
  reported divided by the reference box (1 x ref memory_bits), i.e. as the fraction of the
  box [0, 1] x [0, ref] that the front dominates.
* **Same settings, cached training**: a candidate's accuracy is a deterministic function of
  its spec within a benchmark run. ``dse.search.run_trial`` is wrapped (monkeypatched) by
  :class:`TrainingCache`: every training uses one fixed training seed (``--train-seed``, the
  data split and the weight initialization; independent of the sampler seed, which Optuna
  alone uses) and its per-epoch curve is cached under the spec hash + training settings. When
  another sampler or seed proposes a spec trained before, the cached curve is replayed (its
  epochs written to that run's store, each reported to the search's early-stopping rule)
  instead of training again. Training is deterministic on CPU, so a replay equals a retrain.
* **Early stopping** is off by default, so that the accuracy told to the sampler is the full
  training's. With ``--early-stopping`` the service's bucketed successive-halving rule sees the
  replayed epochs and may prune (accuracy = best validation accuracy up to the stop); every
  spec is still trained to the end once, for the cache.

Key figure: the fraction of ``--trials`` the default sampler (the service's, read from
``dse.config``) needs to reach random
search's final hypervolume (mean over seeds): per seed, and for the mean curve. Goal (issue 7):
<= 60 %.

    .venv/bin/python benchmarks/search_efficiency.py --write-docs
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from dse.config import build_config
from dse.trial import EpochCallback, EpochReport, TrialPayload, TrialResult

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._docs import RunFacts  # noqa: E402
from benchmarks._docs import write_section as write_docs_section  # noqa: E402

SECTION = "search_efficiency"
DEFAULT_SAMPLER = build_config().sampler_name  # the service's default, whatever it is
BASELINE_SAMPLER = "random"
GOAL_FRACTION = 0.6
CHECKPOINTS = (0.25, 0.5, 0.75, 1.0)
TRAINED = ("complete", "pruned")

RunTrial = Callable[[TrialPayload, EpochCallback], TrialResult]

#: Payload fields that do not shape a training's curve: the spec is the key's other half, the
#: training seed is fixed by the cache, the rest are bookkeeping and resources.
NOT_TRAINING = ("spec_json", "seed", "trial_number", "bucket", "threads", "gpus",
                "trial_timeout_s")


# --------------------------------------------------------------------------- training cache
@dataclass
class CachedTraining:
    """One full training: its result and every epoch's reported metrics."""

    result: TrialResult
    epochs: list[EpochReport]


@dataclass
class TrainingCache:
    """A ``run_trial`` replacement: train each spec once (fixed training seed), replay after.

    The key is the spec hash plus everything that shapes the training (dataset and its
    parameters, schedule, epochs, batch size, learning rate, batch limit, training seed); the
    sampler seed is not part of it. Each call reports the (trained or cached) epochs to the
    search's ``report`` in order and stops, as ``pruned``, at the first epoch it answers True.
    """

    train: RunTrial
    train_seed: int = 0
    entries: dict[str, CachedTraining] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0
    train_seconds: float = 0.0

    def key(self, payload: TrialPayload) -> str:
        from search_spaces.spec import ArchSpec

        settings = {k: v for k, v in asdict(payload).items() if k not in NOT_TRAINING}
        settings["train_seed"] = self.train_seed
        return ArchSpec.from_json(payload.spec_json).hash + json.dumps(settings,
                                                                       sort_keys=True)

    def __call__(self, payload: TrialPayload, report: EpochCallback | None = None
                 ) -> TrialResult:
        key = self.key(payload)
        entry = self.entries.get(key)
        if entry is None:
            epochs: list[EpochReport] = []

            def record(m: EpochReport) -> bool:
                epochs.append(m)
                return False  # train to the end once; pruning is decided on the replay

            # trial_number 0: the task seeds torch with seed + trial_number
            fixed = replace(payload, seed=self.train_seed, trial_number=0)
            result = self.train(fixed, record)
            entry = CachedTraining(result, epochs)
            self.entries[key] = entry
            self.misses += 1
            self.train_seconds += float(result.train_seconds or 0.0)
        else:
            self.hits += 1
        # the replayed epochs reach the driver's report, which stores them as it does a
        # training's
        return replay(entry, report or (lambda m: False))


def replay(entry: CachedTraining, report: EpochCallback) -> TrialResult:
    """Report the cached epochs in order; the first True makes a ``pruned`` result whose
    accuracy is that epoch's validation accuracy (the classification task's rule: the model as
    trained so far, not the best epoch, which may be a full-precision one; the learning-rate
    schedule depends on the planned epochs only, so a stopped run is a prefix of a full one)."""
    for m in entry.epochs:
        if report(m):
            return TrialResult(status="pruned", reason=f"stopped by on_epoch after epoch "
                               f"{m.epoch}", metrics={"accuracy": m.monitor,
                                                      "val_accuracy": m.monitor},
                               monitor=m.monitor, epochs_run=m.epoch,
                               train_seconds=float(m.row.get("seconds") or 0.0))
    return entry.result


# --------------------------------------------------------------------------- one search
class _EnoughTrained(Exception):
    """Raised from the event callback once the run has trained the planned candidates."""


@dataclass
class RunResult:
    sampler: str
    seed: int
    points: np.ndarray  # (trained, 2): accuracy, memory_bits, in training order
    events: Counter[str]
    proposals: int
    seconds: float
    #: dimensions the sampler models jointly at the end (Optuna's relative search space)
    relative_dims: list[str]
    #: every dimension suggested in the study at least once
    suggested_dims: list[str]
    #: the training settings the search used (from its validated config)
    training: dict[str, Any]


def run_one(sampler: str, seed: int, args: argparse.Namespace, workdir: str) -> RunResult:
    """One real search until ``args.trials`` candidates are trained (local executor)."""
    from dse.config import build_config
    from dse.search import run_search
    from dse.store import open_store

    study = f"{sampler}-s{seed}"
    db = f"sqlite:///{os.path.join(workdir, study + '.db')}"
    budgets = () if args.budget == "none" else (args.budget,)
    cfg = build_config(study=study, db=db, executor="local", sampler=sampler, seed=seed,
                       space=args.space, dataset=args.dataset, budgets=budgets,
                       trials=args.trials * args.max_proposals, epochs=args.epochs,
                       max_train_batches=args.max_train_batches, progress=False,
                       early_stopping=args.early_stopping, lr_schedule=args.lr_schedule,
                       bn_recalibration=(None if args.bn_recalibration is None
                                         else args.bn_recalibration == "on"),
                       confirm=0)  # the sampler's hypervolume is measured, not the front's
    events: Counter[str] = Counter()

    def on_event(kind: str, info: dict[str, Any]) -> None:
        events[kind] += 1
        if kind in TRAINED and events["complete"] + events["pruned"] >= args.trials:
            raise _EnoughTrained

    t0 = time.perf_counter()
    with contextlib.suppress(_EnoughTrained):
        run_search(cfg, on_event=on_event)
    seconds = time.perf_counter() - t0
    store = open_store(db, read_only=True)
    try:
        df = store.query(study)
    finally:
        store.close()
    done = df[df["status"].isin(TRAINED)].sort_values(["finished_at", "evaluation_id"])
    points = done[["accuracy", "memory_bits"]].to_numpy(dtype=float)
    if len(points) != events["complete"] + events["pruned"]:
        raise RuntimeError(f"{study}: the store holds {len(points)} trained evaluations, the "
                           f"events say {events['complete'] + events['pruned']}")
    proposals = int(df["trial_number"].notna().sum()) + events["duplicate"]
    relative, suggested = sampler_dims(sampler, seed, study, db)
    training = {k: getattr(cfg, k) for k in ("schedule", "epochs", "batch_size", "lr",
                                             "max_train_batches", "early_stopping",
                                             "lr_schedule", "bn_recalibration")}
    return RunResult(sampler, seed, points, events, proposals, seconds, relative, suggested,
                     training)


def sampler_dims(sampler: str, seed: int, study: str, db: str) -> tuple[list[str], list[str]]:
    """The dimensions a fresh ``create_sampler(sampler, seed)`` would model jointly for the
    study's next trial (its relative search space: for NSGA-II and multivariate TPE the
    dimensions present in every trial; the others are sampled independently), and every
    dimension the study ever suggested."""
    import optuna

    from dse.samplers import create_sampler

    ostudy = optuna.load_study(study_name=f"dse:{study}", storage=db)
    trials = ostudy.get_trials(deepcopy=False)
    suggested = sorted({name for t in trials for name in t.params})
    relative = create_sampler(sampler, seed).infer_relative_search_space(ostudy, trials[-1])
    return sorted(relative), suggested


# --------------------------------------------------------------------------- analysis
DIRECTIONS = ("maximize", "minimize")


def hv_curve(points: np.ndarray, reference: Sequence[float], length: int) -> np.ndarray:
    """Normalized hypervolume after each of the first ``length`` trained candidates; a run
    that trained fewer keeps its last value (the search gave up proposing)."""
    from dse.pareto import hypervolume

    box = (1.0 - reference[0]) * reference[1]  # accuracy in [ref, 1] x memory in [0, ref]
    out = np.zeros(length)
    for k in range(1, length + 1):
        if k <= len(points):
            out[k - 1] = hypervolume(points[:k], DIRECTIONS, reference) / box
        else:
            out[k - 1] = out[k - 2] if k > 1 else 0.0
    return out


def trials_to_reach(curve: np.ndarray, target: float) -> int | None:
    """The first number of trained candidates at which ``curve`` reaches ``target``."""
    hit = np.flatnonzero(curve >= target - 1e-12)
    return int(hit[0]) + 1 if hit.size else None


def _checkpoint_index(n: int, frac: float) -> int:
    return max(1, round(frac * n)) - 1


def _fmt_frac(k: int | None, n: int) -> str:
    return "not reached" if k is None else f"{k}/{n} = {100 * k / n:.0f} %"


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=40, help="trained candidates per run")
    ap.add_argument("--seeds", type=int, default=5, help="sampler seeds 0..N-1 per sampler")
    ap.add_argument("--epochs", type=int, default=None,
                    help="training epochs (default: the service's default)")
    ap.add_argument("--max-train-batches", type=int, default=None)
    ap.add_argument("--lr-schedule", default=None,
                    help="learning-rate schedule (default: the service's default)")
    ap.add_argument("--bn-recalibration", choices=("on", "off"), default=None,
                    help="BN recalibration after each stage (default: the service's default)")
    ap.add_argument("--space", default="tiny")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--budget", default="memory_bits<=8000",
                    help="one hard budget, or 'none'")
    ap.add_argument("--samplers", default="nsga2,tpe,random")
    ap.add_argument("--max-proposals", type=int, default=5,
                    help="give a run up after this many x --trials proposals")
    ap.add_argument("--train-seed", type=int, default=0)
    ap.add_argument("--early-stopping", action="store_true",
                    help="let the service's successive-halving rule prune (replayed)")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    facts = RunFacts("search_efficiency.py", argv)
    samplers = [s.strip() for s in args.samplers.split(",") if s.strip()]
    for needed in (DEFAULT_SAMPLER, BASELINE_SAMPLER):
        if needed not in samplers:
            ap.error(f"--samplers must include {needed!r}")
    if args.trials < 4 or args.seeds < 1:
        ap.error("--trials must be >= 4 and --seeds >= 1")


    import dse.search

    cache = TrainingCache(dse.search.run_trial, train_seed=args.train_seed)
    # run_local looks the name up at call time
    dse.search.run_trial = cache  # type: ignore[assignment]
    runs: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="dse-search-eff-") as workdir:
        for seed in range(args.seeds):
            for sampler in samplers:
                r = run_one(sampler, seed, args, workdir)
                runs.append(r)
                print(f"{sampler:>7} seed {seed}: {len(r.points)} trained in {r.proposals} "
                      f"proposals ({r.events['infeasible']} infeasible, "
                      f"{r.events['duplicate']} duplicates), best acc "
                      f"{r.points[:, 0].max():.3f}, {r.seconds:.1f} s; cache "
                      f"{cache.misses} trained / {cache.hits} replayed", flush=True)

    n = args.trials
    if args.budget == "none":
        ref_mem = 1.1 * max(float(r.points[:, 1].max()) for r in runs)
        ref_note = "accuracy 0, memory_bits = 1.1 x the largest trained in any run"
    else:
        ref_mem = float(re.split(r"[<>=]+", args.budget)[1])
        ref_note = "accuracy 0, memory_bits = the budget"
    reference = (0.0, ref_mem)
    curves: dict[str, list[np.ndarray]] = {s: [] for s in samplers}
    for r in runs:
        curves[r.sampler].append(hv_curve(r.points, reference, n))
    mean_curve = {s: np.mean(curves[s], axis=0) for s in samplers}
    target = float(mean_curve[BASELINE_SAMPLER][-1])

    # ---- table
    cp_idx = [_checkpoint_index(n, f) for f in CHECKPOINTS]
    header = ("| sampler | " + " | ".join(f"HV @ {c + 1} ({100 * f:.0f} %)" for c, f in
                                          zip(cp_idx, CHECKPOINTS, strict=True))
              + " | proposals | infeasible | duplicates | pruned"
              + " | trials to random's final HV |")
    lines = [header, "|---|" + "---:|" * (len(CHECKPOINTS) + 5)]
    reach: dict[str, list[int | None]] = {}
    for s in samplers:
        arr = np.array(curves[s])
        cells = [f"{arr[:, i].mean():.4f} ± {arr[:, i].std(ddof=1) if len(arr) > 1 else 0:.4f}"
                 for i in cp_idx]
        rs = [r for r in runs if r.sampler == s]
        reach[s] = [trials_to_reach(c, target) for c in curves[s]]
        mean_k = trials_to_reach(mean_curve[s], target)
        per_seed = ", ".join("-" if k is None else str(k) for k in reach[s])
        lines.append(f"| {s}{' (default)' if s == DEFAULT_SAMPLER else ''} | "
                     + " | ".join(cells)
                     + f" | {np.mean([r.proposals for r in rs]):.1f}"
                     f" | {np.mean([r.events['infeasible'] for r in rs]):.1f}"
                     f" | {np.mean([r.events['duplicate'] for r in rs]):.1f}"
                     f" | {np.mean([r.events['pruned'] for r in rs]):.1f}"
                     f" | mean curve {_fmt_frac(mean_k, n)}; per seed {per_seed} |")
    table = "\n".join(lines)
    dims_lines = []
    for s in samplers:
        r = next(r for r in runs if r.sampler == s)
        joint = ", ".join(r.relative_dims) or "none"
        dims_lines.append(f"`{s}` {len(r.relative_dims)} of {len(r.suggested_dims)} ({joint})")
    dims_note = ("Dimensions each sampler models jointly at the end of its seed-0 run "
                 "(Optuna's relative search space, i.e. the dimensions present in every trial; "
                 "the others, here the conditional ones, are sampled independently: at random "
                 "by NSGA-II, by univariate TPE by TPE): " + "; ".join(dims_lines) + ".")

    default_reach = reach[DEFAULT_SAMPLER]
    mean_k = trials_to_reach(mean_curve[DEFAULT_SAMPLER], target)
    reached = [k for k in default_reach if k is not None]
    per_seed_txt = ", ".join(f"seed {i}: {_fmt_frac(k, n)}" for i, k in
                             enumerate(default_reach))
    mean_of_seeds = (f"{100 * np.mean(reached) / n:.0f} %" if len(reached) == len(default_reach)
                     else f"n/a ({len(default_reach) - len(reached)} seed(s) never reach it)")
    met = mean_k is not None and mean_k / n <= GOAL_FRACTION
    verdict = ("**met**" if met else "**not met**")
    key = (f"Random search's final hypervolume (mean of {args.seeds} seeds, {n} trained): "
           f"**{target:.4f}**. The default ({DEFAULT_SAMPLER}) reaches it after: {per_seed_txt}; "
           f"mean of the per-seed fractions {mean_of_seeds}; the mean {DEFAULT_SAMPLER} curve "
           f"reaches it at **{_fmt_frac(mean_k, n)}**. "
           f"Goal <= {100 * GOAL_FRACTION:.0f} % of the trials: {verdict}.")

    tr = runs[0].training
    if any(r.training != tr for r in runs):
        raise RuntimeError("the runs used different training settings")
    budget_txt = ("no budget" if args.budget == "none" else
                  f"budget `{args.budget}` (the hardware-first filter rejects proposals over "
                  "it before training)")
    body = "\n".join([
        f"## Search efficiency: hypervolume vs trained candidates (`{SECTION}`)",
        "",
        *facts.lines(packages=('torch', 'optuna')),
        "",
        f"Setup: space `{args.space}` on `{args.dataset}`, objectives accuracy (max) and "
        f"memory_bits (min), {budget_txt}; samplers from `dse.samplers.create_sampler` "
        f"({', '.join(samplers)}), sampler seeds 0..{args.seeds - 1}; each run is a real "
        f"`run_search` (`executor=\"local\"`, own SQLite DB) that proposes until it has trained "
        f"{n} candidates (infeasible and duplicate proposals train nothing); training (the "
        f"service's defaults unless a flag says otherwise): schedule `{tr['schedule']}`, "
        f"{tr['epochs']} epochs"
        + (f", at most {tr['max_train_batches']} batches/epoch" if tr["max_train_batches"]
           else ", full epochs")
        + f", batch {tr['batch_size']}, lr {tr['lr']:g} ({tr['lr_schedule']}), BN "
        f"recalibration {'on' if tr['bn_recalibration'] else 'off'}, early stopping "
        f"{'on (replayed)' if tr['early_stopping'] else 'off'}, one training seed "
        f"({args.train_seed}) for every run. Training is cached by spec hash + training "
        f"settings (a spec proposed again by another sampler or seed replays its curve): "
        f"{cache.misses} specs trained, {cache.hits} replays, {cache.train_seconds:.0f} s "
        "of training.",
        "",
        f"Hypervolume: `dse.pareto.hypervolume` of the trained points after each trained "
        f"candidate, reference point ({ref_note}: {ref_mem:g}), divided by the reference box "
        f"(1 x {ref_mem:g}); mean ± sample std over seeds at 25/50/75/100 % of the {n} "
        "trained candidates.",
        "",
        table,
        "",
        key,
        "",
        dims_note,
    ])
    print()
    print(body)
    if args.write_docs:
        write_docs_section(SECTION, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
