"""Co-search against the sequential recipe, at equal training.

Both methods train the same number of networks (``--trained``) on the same data with the same
settings, and end with a set of (network, accelerator) pairs, each with an accuracy, cycles and
area_um2 for that accelerator (the simulator's numbers, :func:`hwmodel.sim.sweep.point_metrics`).
The figure is the hypervolume of each method's pairs over (accuracy, cycles, area_um2).

* **co-search**: ``dse.search.run_search`` on ``asic-encoder-cosearch`` (the asic-encoder
  networks x the space's accelerator range), objectives accuracy, cycles, area_um2, the
  service's default sampler; it runs until it has trained ``--trained`` networks. Pairs of a
  network already trained cost no training (the service reuses the result).
* **co-search +k** (``--accels-per-network k``, the service's option): the same, and after
  each network trains, k more accelerators for it are proposed; they cost no training.
* **sequential**: first a network search (``run_search`` on ``asic-encoder`` on the default
  accelerator, same objectives, same sampler, same number of trained networks); then, for
  each network on that search's front, an accelerator sweep over the *same* accelerator range
  (:func:`hwmodel.sim.sweep.grid_points` over ``AsicEncoderCosearchSpace.ACCELERATOR``), each
  point checked by the same fit rule and costed by the same function as the co-search
  (:func:`dse.cosearch.pair_hardware`). Its pairs are every fitting sweep point.
* **Equal training, identical accuracies**: ``dse.search.run_trial`` is wrapped by the
  training cache of ``benchmarks/search_efficiency.py`` (one fixed training seed; a network
  trained once in this benchmark is replayed after), so a network has one accuracy whichever
  method proposes it; each method's run stops at ``--trained`` networks it asked to train.
* **Hypervolume**: ``dse.pareto.hypervolume`` (exact, 3 objectives) with one reference point
  for every run and method: accuracy 0, cycles and area_um2 = 1.1 x the largest value among
  all pairs of all runs; reported as a fraction of the reference box. Early stopping is off
  (a pruned accuracy is not a final one).

Key figure: mean hypervolume of each co-search / mean of the sequential recipe, over
``--seeds`` sampler seeds (the methods share a seed).

    .venv/bin/python benchmarks/cosearch.py --write-docs
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._docs import write_section as write_docs_section  # noqa: E402
from benchmarks.search_efficiency import TrainingCache  # noqa: E402
from dse.trial import TrialPayload, TrialResult  # noqa: E402

SECTION = "cosearch"
OBJECTIVES = ("accuracy", "cycles", "area_um2")
DIRECTIONS = ("maximize", "minimize", "minimize")
NETWORK_SPACE = "asic-encoder"
COSEARCH_SPACE = "asic-encoder-cosearch"


HEADER = ("| method | seed | networks trained | pairs with accuracy | pairs costed | "
          "hypervolume |\n| --- | ---: | ---: | ---: | ---: | ---: |")


class _Enough(Exception):
    """Raised from the event callback once a run has trained its networks."""


@dataclass
class Run:
    method: str
    seed: int
    points: np.ndarray  # (pairs, 3): accuracy, cycles, area_um2
    trained: int
    pairs_costed: int
    infeasible: int
    seconds: float


def _search(study: str, space: str, seed: int, args: argparse.Namespace, workdir: str,
            cache: TrainingCache, accels_per_network: int = 0) -> tuple[Any, str, int]:
    """A real search until it has asked for ``args.trained`` trainings; its query frame."""
    from dse.config import build_config
    from dse.search import run_search
    from dse.store import open_store

    db = f"sqlite:///{os.path.join(workdir, study + '.db')}"
    cfg = build_config(study=study, db=db, executor="local", seed=seed, space=space,
                       objectives=list(OBJECTIVES),
                       trials=args.trained * (args.max_proposals + accels_per_network),
                       epochs=args.epochs, max_train_batches=args.max_train_batches,
                       progress=False, early_stopping=False,
                       accels_per_network=accels_per_network,
                       confirm=0)  # the co-search's proposals are measured, not the front
    asked = {"n": 0}
    real_call = cache.__call__

    def on_event(kind: str, info: dict[str, Any]) -> None:
        if kind in ("complete", "pruned", "failed") and not info.get("reused") \
                and asked["n"] >= args.trained:
            raise _Enough

    def counting(payload: TrialPayload, report: Any) -> TrialResult:
        asked["n"] += 1
        return real_call(payload, report)

    import dse.search

    # run_local looks the name up at call time
    dse.search.run_trial = counting  # type: ignore[assignment]
    try:
        with contextlib.suppress(_Enough):
            run_search(cfg, on_event=on_event)
    finally:
        dse.search.run_trial = cache  # type: ignore[assignment]
    with open_store(db, read_only=True) as store:
        return store.query(study), db, asked["n"]


def cosearch_run(seed: int, args: argparse.Namespace, workdir: str, cache: TrainingCache,
                 accels_per_network: int = 0) -> Run:
    t0 = time.perf_counter()
    method = "co-search" + (f" +{accels_per_network}" if accels_per_network else "")
    df, _, trained = _search(f"co{accels_per_network}-s{seed}", COSEARCH_SPACE, seed, args,
                             workdir, cache, accels_per_network)
    done = df[df["status"] == "complete"]
    return Run(method, seed, done[list(OBJECTIVES)].to_numpy(float), trained, len(df),
               int((df["status"] == "infeasible").sum()), time.perf_counter() - t0)


def sequential_run(seed: int, args: argparse.Namespace, workdir: str,
                   cache: TrainingCache) -> Run:
    from dse.cosearch import pair_hardware
    from dse.search import hardware_metrics
    from hwmodel.accel import AccelConfig
    from hwmodel.sim.sweep import grid_points
    from search_spaces.spaces.asic_encoder import AsicEncoderCosearchSpace
    from search_spaces.spec import ArchSpec

    t0 = time.perf_counter()
    df, db, trained = _search(f"seq-s{seed}", NETWORK_SPACE, seed, args, workdir, cache)
    front = df[(df["status"] == "complete") & df["pareto"]]
    grid = grid_points(AsicEncoderCosearchSpace.ACCELERATOR)
    points: list[list[float]] = []
    costed = infeasible = 0
    from dse.store import open_store

    with open_store(db, read_only=True) as store:
        specs = [(float(r["accuracy"]), ArchSpec.from_json(
            store.candidate(int(r["candidate_id"]))["spec"])) for _, r in front.iterrows()]
    for accuracy, spec in specs:
        for point in grid:
            accel = AccelConfig().with_(**point)
            metrics, _ = hardware_metrics(spec, accel, simulate=False)
            costed += 1
            if pair_hardware(spec, accel, metrics):
                infeasible += 1
                continue
            points.append([accuracy, metrics["cycles"], metrics["area_um2"]])
    return Run("sequential", seed, np.array(points).reshape(-1, 3), trained,
               len(df) + costed, infeasible + int((df["status"] == "infeasible").sum()),
               time.perf_counter() - t0)


def normalized_hv(points: np.ndarray, reference: np.ndarray) -> float:
    from dse.pareto import hypervolume

    box = (1.0 - reference[0]) * reference[1] * reference[2]
    return hypervolume(points, DIRECTIONS, reference) / box if len(points) else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trained", type=int, default=10, help="networks trained per run")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--max-train-batches", type=int, default=8)
    ap.add_argument("--max-proposals", type=int, default=8,
                    help="give a run up after this many x --trained proposals")
    ap.add_argument("--train-seed", type=int, default=0)
    ap.add_argument("--accels-per-network", type=int, default=8,
                    help="also run the co-search with this many accelerators per trained "
                         "network (0: skip)")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    if args.seeds < 1 or args.trained < 2:
        ap.error("--seeds must be >= 1 and --trained >= 2")

    import optuna
    import torch

    import dse.search

    torch.set_num_threads(1)
    cache = TrainingCache(dse.search.run_trial, train_seed=args.train_seed)
    dse.search.run_trial = cache  # type: ignore[assignment]
    runs: list[Run] = []
    t_start = time.perf_counter()
    methods: list[Callable[[int, argparse.Namespace, str, TrainingCache], Run]] = [
        cosearch_run, sequential_run]
    if args.accels_per_network:
        methods.insert(1, lambda s, a, w, c: cosearch_run(s, a, w, c, args.accels_per_network))
    with tempfile.TemporaryDirectory(prefix="dse-cosearch-") as workdir:
        for seed in range(args.seeds):
            for make in methods:
                r = make(seed, args, workdir, cache)
                runs.append(r)
                print(f"{r.method:>13} seed {seed}: {r.trained} trained, {len(r.points)} pairs "
                      f"({r.pairs_costed} costed, {r.infeasible} infeasible), "
                      f"{r.seconds:.1f} s; cache {cache.misses} trained / {cache.hits} "
                      "replayed", flush=True)
    wall = time.perf_counter() - t_start
    allpts = np.vstack([r.points for r in runs if len(r.points)])
    reference = np.array([0.0, 1.1 * allpts[:, 1].max(), 1.1 * allpts[:, 2].max()])
    names = list(dict.fromkeys(r.method for r in runs))
    hv = {name: np.array([normalized_hv(r.points, reference) for r in runs
                          if r.method == name]) for name in names}
    seq = hv["sequential"]
    ratios = {name: float(hv[name].mean() / seq.mean()) if seq.mean() > 0 else float("inf")
              for name in names if name != "sequential"}
    rows = []
    for name in names:
        for s_, r in enumerate(r for r in runs if r.method == name):
            rows.append(f"| {name} | {s_} | {r.trained} | {len(r.points)} | {r.pairs_costed} "
                        f"| {hv[name][s_]:.4f} |")
    summary = "; ".join(f"{n} {hv[n].mean():.4f} ± {hv[n].std():.4f}" for n in names)
    ratio_text = ", ".join(f"{n} / sequential = {v:.2f}" for n, v in ratios.items())
    print(f"hypervolume (fraction of the reference box): {summary}; {ratio_text}; "
          f"{wall:.0f} s")
    if args.write_docs:
        cmd = ("PYTHONPATH=. .venv/bin/python benchmarks/cosearch.py --write-docs"
               + "".join(f" --{k.replace('_', '-')} {v}" for k, v in vars(args).items()
                         if k != "write_docs"))
        body = f"""## Co-search vs the sequential recipe (`benchmarks/cosearch.py`)

Command: `{cmd}`
({dt.date.today().isoformat()}, {platform.machine()}, Python {platform.python_version()},
torch {torch.__version__}, optuna {optuna.__version__}; {wall:.0f} s wall on a shared 2-core
machine, one torch thread.)

Every method trains {args.trained} networks per seed (`asic-encoder` networks on `digits`,
{args.epochs} epochs x {args.max_train_batches} batches, the same cached training for a
network whichever method proposes it) and end with (network, accelerator) pairs over the same
accelerator range (`asic-encoder-cosearch`: {len(_grid())} accelerators). Co-search:
`dse search --space asic-encoder-cosearch --objectives accuracy,cycles,area_um2`. Sequential:
`dse search --space asic-encoder` on the default accelerator, then an accelerator sweep of
every front network over the range (fit-checked, simulator-costed like the co-search).
Hypervolume over (accuracy, cycles, area_um2), reference accuracy 0 and 1.1 x the largest
cycles ({reference[1]:,.0f}) and area ({reference[2]:,.0f} um2) of any pair, as a fraction
of the reference box.

{HEADER}
{chr(10).join(rows)}

**Mean hypervolume: {summary}. Ratio at equal training: {ratio_text}.**
`co-search +{args.accels_per_network}` is `--accels-per-network {args.accels_per_network}`:
after each network trains, {args.accels_per_network} more accelerators for it are proposed
(no training).
"""
        write_docs_section(SECTION, body)
    return 0


def _grid() -> list[dict[str, Any]]:
    from hwmodel.sim.sweep import grid_points
    from search_spaces.spaces.asic_encoder import AsicEncoderCosearchSpace

    return grid_points(AsicEncoderCosearchSpace.ACCELERATOR)


if __name__ == "__main__":
    raise SystemExit(main())
