"""Budget-aware proposals: how many proposals a tight budget wastes, with and without the
cost-model warm start.

Real searches (``dse.search.run_search``, ``executor="local"``) of ``heq-resnet`` on ``digits``
under ``memory_bits<=60000`` and ``<=30000``, per sampler (``tpe``, the default; ``random``)
and seed, with ``--warm-start 8`` (the default: eight feasible points drawn by rejection
sampling against the budget with the batch cost model, ``dse.feasible``) and ``--warm-start 0``.
Each run trains ``--trials`` candidates (duplicates and infeasible proposals do not count,
the service's rule) or stops at the proposal cap. Training is cheap and cached
(``search_efficiency.TrainingCache``; low fidelity, ``--epochs``/``--max-train-batches``): the
figure here is proposals, not accuracy.

Key figures per budget and sampler: proposals needed for the trials (mean over seeds), the
infeasible share of them, and the ratio cold/warm of proposals per trained candidate.

    .venv/bin/python benchmarks/budget_proposals.py --seeds 3 --trials 12 --write-docs
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._docs import RunFacts, write_section  # noqa: E402
from benchmarks.search_efficiency import TrainingCache  # noqa: E402

SECTION = "budget_proposals"


def run(budget: str, sampler: str, seed: int, warm: int, args: argparse.Namespace,
        workdir: str) -> dict[str, Any]:
    from dse.config import build_config
    from dse.search import run_search

    study = f"b{abs(hash(budget)) % 1000}-{sampler}-w{warm}-s{seed}"
    db = f"sqlite:///{os.path.join(workdir, study + '.db')}"
    cfg = build_config(study=study, db=db, executor="local", seed=seed, space="heq-resnet",
                       budgets=(budget,), trials=args.trials, sampler=sampler, warm_start=warm,
                       epochs=args.epochs, schedule="qat",
                       max_train_batches=args.max_train_batches, progress=False,
                       early_stopping=False, max_proposals=args.max_proposals,
                       confirm=0)  # proposals and trials are measured, not the front
    t0 = time.perf_counter()
    out = run_search(cfg)
    c = out.counts
    trained = sum(c.get(k, 0) for k in ("complete", "pruned", "failed"))
    proposals = trained + c.get("infeasible", 0) + c.get("duplicate", 0)
    import optuna

    n_trials = len(optuna.load_study(study_name=f"dse:{study}", storage=db).get_trials())
    return {"trained": trained, "infeasible": c.get("infeasible", 0), "proposals": n_trials,
            "stored": proposals, "seconds": time.perf_counter() - t0,
            "stopped": out.stopped_reason}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budgets", default="memory_bits<=60000;memory_bits<=30000")
    ap.add_argument("--samplers", default="tpe,random")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-train-batches", type=int, default=2)
    ap.add_argument("--max-proposals", type=int, default=150)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    facts = RunFacts("budget_proposals.py", argv)


    import dse.search

    cache = TrainingCache(dse.search.run_trial)
    dse.search.run_trial = cache  # type: ignore[assignment]
    results: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    budgets = [b.strip() for b in args.budgets.split(";") if b.strip()]
    samplers = [s.strip() for s in args.samplers.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="dse-budget-") as workdir:
        for budget in budgets:
            for sampler in samplers:
                for warm in (0, 8):
                    for seed in range(args.seeds):
                        r = run(budget, sampler, seed, warm, args, workdir)
                        results.setdefault((budget, sampler, warm), []).append(r)
                        print(f"{budget} {sampler} warm {warm} seed {seed}: {r['trained']} "
                              f"trained in {r['proposals']} proposals ({r['infeasible']} "
                              f"infeasible) {r['seconds']:.0f} s", flush=True)
    lines = ["| budget | sampler | warm start | trained (of " + str(args.trials) + ") | "
             "proposals | infeasible share | proposals per trained | ratio cold/warm | "
             "runs stopped at the cap |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for budget in budgets:
        for sampler in samplers:
            per: dict[int, float] = {}
            for warm in (0, 8):
                rs = results[(budget, sampler, warm)]
                tr = np.mean([r["trained"] for r in rs])
                pr = np.mean([r["proposals"] for r in rs])
                inf = np.mean([r["infeasible"] / max(1, r["proposals"]) for r in rs])
                per[warm] = float(np.mean([r["proposals"] / max(1, r["trained"]) for r in rs]))
                capped = sum(r["stopped"] is not None for r in rs)
                ratio = f"{per[0] / per[8]:.2f}" if warm == 8 else "-"
                lines.append(f"| `{budget}` | {sampler} | {warm} | {tr:.1f} | {pr:.1f} | "
                             f"{100 * inf:.0f} % | {per[warm]:.2f} | {ratio} | {capped} |")
    body = "\n".join([
        f"## Budget-aware proposals under a tight budget (`{SECTION}`)",
        "",
        *facts.lines(),
        "",
        f"Setup: `heq-resnet` on `digits`, {args.trials} planned trials (infeasible and "
        f"duplicate proposals do not count), proposal cap {args.max_proposals}, seeds "
        f"0..{args.seeds - 1}, low-fidelity cached training ({args.epochs} epoch(s) of "
        f"{args.max_train_batches} batches: proposals are the figure here). Means over seeds.",
        "",
        *lines,
    ])
    print(body)
    if args.write_docs:
        write_section(SECTION, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
