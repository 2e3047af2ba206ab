"""Early stopping at equal training time: hypervolume with the service's rule vs without.

Real searches (``dse.search.run_search``, ``executor="local"``, default sampler, one SQLite
database per run), per sampler seed: early stopping off, and on with each criterion of
``--rules`` (``dse.search.EarlyStopping``: ``dominated``, the default, and ``halving``;
rungs only in the last, quantized, stage).

* **Equal time**: every run is charged the training seconds of the epochs it actually ran
  (the per-epoch seconds measured when the spec was first trained; a pruned trial pays only
  its epochs). The run without early stopping trains ``--trials`` candidates; its charge ``T``
  is the budget; the run with early stopping goes on until its charge reaches ``T``.
* **Same training**: trainings are cached by spec + settings (``search_efficiency``'s
  ``TrainingCache``: one training seed, curves replayed), so both runs see identical curves
  and charges, and a pruned trial is exactly a prefix of the full one.
* **Hypervolume**: of the candidates complete by ``T`` (accuracy, memory_bits), one reference
  for all runs (accuracy 0, memory_bits = the budget or 1.1 x the largest), as a fraction of
  the reference box. Key figure: the ratio with/without per seed and its mean (goal >= 1).

    .venv/bin/python benchmarks/early_stopping.py --seeds 5 --trials 30 --write-docs
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._docs import RunFacts, write_section  # noqa: E402
from benchmarks.search_efficiency import TrainingCache, hv_curve  # noqa: E402
from dse.config import STOPPING_CRITERIA, SearchConfig  # noqa: E402
from dse.trial import EpochCallback, EpochReport, TrialPayload, TrialResult  # noqa: E402

SECTION = "early_stopping"


class _Spent(Exception):
    """The run's training-time budget is spent."""


class Charged:
    """Wraps the cache: adds the seconds of every epoch a trial reports (all of them for a
    complete trial, up to the stop for a pruned one) to ``seconds``."""

    def __init__(self, cache: TrainingCache) -> None:
        self.cache, self.seconds = cache, 0.0

    def __call__(self, payload: TrialPayload, report: EpochCallback) -> TrialResult:
        def charged(m: EpochReport) -> bool | None:
            self.seconds += float(m.row.get("seconds") or 0.0)
            return report(m)

        return self.cache(payload, charged)


def run(seed: int, rule: str | None, budget_s: float | None, args: argparse.Namespace,
        workdir: str, cache: TrainingCache) -> dict[str, Any]:
    """One search: early stopping off (``rule`` None) or with the criterion ``rule``."""
    import dse.search
    from dse.config import build_config
    from dse.store import open_store

    charged = Charged(cache)
    # run_local looks the name up at call time
    dse.search.run_trial = charged  # type: ignore[assignment]
    study = f"{rule or 'full'}-s{seed}"
    db = f"sqlite:///{os.path.join(workdir, study + '.db')}"
    budgets = () if args.budget == "none" else (args.budget,)
    cfg = build_config(study=study, db=db, executor="local", seed=seed, space=args.space,
                       dataset=args.dataset, budgets=budgets,
                       trials=args.trials if budget_s is None else 50 * args.trials,
                       epochs=args.epochs, max_train_batches=args.max_train_batches,
                       progress=False, early_stopping=rule is not None,
                       early_stopping_rule=rule or STOPPING_CRITERIA[0],
                       # the same warm start as the run without (whose trials cap it)
                       warm_start=min(SearchConfig.warm_start, args.trials),
                       confirm=0)  # the trials' hypervolume is measured, not the front's
    done = {"n": 0}
    timeline: list[tuple[float, float, float]] = []  # (charge when done, accuracy, memory)

    def on_event(kind: str, info: dict[str, Any]) -> None:
        if kind in ("complete", "pruned"):
            done["n"] += 1
            if kind == "complete":
                timeline.append((charged.seconds, float(info["accuracy"]),
                                 float(info["memory_bits"])))
            if budget_s is not None and charged.seconds >= budget_s:
                raise _Spent

    with contextlib.suppress(_Spent):
        dse.search.run_search(cfg, on_event=on_event)
    store = open_store(db, read_only=True)
    try:
        df = store.query(study)
    finally:
        store.close()
    # only what was complete within the budget counts (the last trial may end past it)
    within = [(a, m) for t, a, m in timeline if budget_s is None or t <= budget_s + 1e-9]
    return {"points": np.array(within, dtype=float).reshape(-1, 2),
            "seconds": min(charged.seconds, budget_s or charged.seconds),
            "trained": done["n"],
            "pruned": int((df["status"] == "pruned").sum()), "epochs": cfg.epochs,
            "space": cfg.space, "dataset": cfg.dataset}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=None, help="default: the service's")
    ap.add_argument("--max-train-batches", type=int, default=None)
    ap.add_argument("--space", default=None, help="default: the service's")
    ap.add_argument("--dataset", default=None, help="default: the service's")
    ap.add_argument("--budget", default="none", help="one hard budget, or 'none'")
    ap.add_argument("--rules", default=",".join(STOPPING_CRITERIA),
                    help="early-stopping criteria to compare (SearchConfig."
                         "early_stopping_rule), comma-separated; the first is the default")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    facts = RunFacts("early_stopping.py", argv)

    import dse.search

    rules = [r.strip() for r in args.rules.split(",") if r.strip()]
    for rule in rules:
        if rule not in STOPPING_CRITERIA:
            ap.error(f"--rules: {rule!r} must be one of {', '.join(STOPPING_CRITERIA)}")
    cache = TrainingCache(dse.search.run_trial)
    rows: list[tuple[int, dict[str, Any], dict[str, dict[str, Any]]]] = []
    with tempfile.TemporaryDirectory(prefix="dse-es-") as workdir:
        for seed in range(args.seeds):
            full = run(seed, None, None, args, workdir, cache)
            with_rule = {rule: run(seed, rule, full["seconds"], args, workdir, cache)
                         for rule in rules}
            rows.append((seed, full, with_rule))
            print(f"seed {seed}: without {full['trained']} trained in {full['seconds']:.0f} s; "
                  + "; ".join(f"{rule} {es['trained']} trained ({es['pruned']} pruned)"
                              for rule, es in with_rule.items()), flush=True)
    runs = [res for _, full, with_rule in rows for res in (full, *with_rule.values())]
    if args.budget == "none":
        ref_mem = 1.1 * max(float(res["points"][:, 1].max()) for res in runs
                            if len(res["points"]))
    else:
        ref_mem = float(re.split(r"[<>=]+", args.budget)[1])
    ref = (0.0, ref_mem)

    def hv(points: np.ndarray) -> float:
        return float(hv_curve(points, ref, max(1, len(points)))[-1]) if len(points) else 0.0

    lines = ["| seed | budget T (s) | without: trained | HV | "
             + " | ".join(f"`{r}`: trained (pruned) | HV | ratio" for r in rules) + " |",
             "|---:|---:|---:|---:|" + "---:|---:|---:|" * len(rules)]
    ratios: dict[str, list[float]] = {r: [] for r in rules}
    for seed, full, with_rule in rows:
        a = hv(full["points"])
        cells = []
        for rule, es in with_rule.items():
            b = hv(es["points"])
            ratio = b / a if a > 0 else float("nan")
            ratios[rule].append(ratio)
            cells.append(f"{es['trained']} ({es['pruned']}) | {b:.5f} | {ratio:.5f}")
        lines.append(f"| {seed} | {full['seconds']:.0f} | {full['trained']} | {a:.5f} | "
                     + " | ".join(cells) + " |")
    summary = []
    for rule in rules:
        rs = ratios[rule]
        verdict = "met" if all(r >= 1 - 1e-12 for r in rs) else "not met on every seed"
        summary.append(f"`{rule}`: mean ratio **{float(np.nanmean(rs)):.5f}**, lowest "
                       f"{min(rs):.5f}, {sum(r >= 1 - 1e-12 for r in rs)} of {len(rs)} seeds "
                       f">= 1 (goal >= 1 on every seed: {verdict})")
    first = rows[0][1]
    body = "\n".join([
        f"## Early stopping at equal training time (`{SECTION}`)",
        "",
        *facts.lines("The figures are ratios of runs charged the same cached epoch times."),
        "",
        f"Setup: space `{first['space']}` on `{first['dataset']}`, "
        f"{'no budget' if args.budget == 'none' else 'budget `' + args.budget + '`'}, default "
        f"sampler and recipe, {first['epochs']} epochs"
        + (f" of at most {args.max_train_batches} batches" if args.max_train_batches else "")
        + f"; {cache.misses} specs trained, {cache.hits} replays. Reference (0, {ref_mem:g}). "
        "Ratio = hypervolume with early stopping / without, at the same training time T.",
        "",
        *lines,
        "",
        "Hypervolume with / without early stopping at equal training time: "
        + "; ".join(summary) + ".",
    ])
    print(body)
    if args.write_docs:
        write_section(SECTION, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
