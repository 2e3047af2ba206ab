"""Budget-aware proposals: how many proposals a tight budget wastes, with and without the
cost-model warm start and gap filling.

Real searches (``dse.search.run_search``, ``executor="local"``) of ``heq-resnet`` on ``digits``
under ``memory_bits<=60000`` and ``<=30000``, per sampler (``tpe``, the default; ``random``)
and seed, in three settings (``CONFIGS``): cold (``--warm-start 0 --gap-fill-every 0``); warm
(``--warm-start 8``: eight feasible points drawn by rejection sampling against the budget with
the batch cost model, ``dse.feasible``); and the service's default, warm plus gap filling
(``--gap-fill-every 4``: every 4th trained candidate after the warm start is a feasible pool
point in the widest untrained stretch of memory).
Each run trains ``--trials`` candidates (duplicates and infeasible proposals do not count,
the service's rule) or stops at the proposal cap. Training is cheap and cached
(``search_efficiency.TrainingCache``; low fidelity, ``--epochs``/``--max-train-batches``): the
figure here is proposals, not accuracy.

Key figures per budget and sampler: proposals needed for the trials (mean over seeds), the
infeasible share of them, and the ratio cold / setting of proposals per trained candidate.

    .venv/bin/python benchmarks/budget_proposals.py --seeds 3 --trials 20 --write-docs
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
#: (label, warm_start, gap_fill_every); the first is the baseline of the ratios
CONFIGS = (("cold", 0, 0), ("warm", 8, 0), ("warm + gap fill (default)", 8, 4))


def run(budget: str, sampler: str, seed: int, warm: int, gap: int, args: argparse.Namespace,
        workdir: str) -> dict[str, Any]:
    from dse.config import build_config
    from dse.search import run_search

    study = f"b{abs(hash(budget)) % 1000}-{sampler}-w{warm}-g{gap}-s{seed}"
    db = f"sqlite:///{os.path.join(workdir, study + '.db')}"
    cfg = build_config(study=study, db=db, executor="local", seed=seed, space="heq-resnet",
                       budgets=(budget,), trials=args.trials, sampler=sampler, warm_start=warm,
                       gap_fill_every=gap,
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
    results: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    budgets = [b.strip() for b in args.budgets.split(";") if b.strip()]
    samplers = [s.strip() for s in args.samplers.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="dse-budget-") as workdir:
        for budget in budgets:
            for sampler in samplers:
                for label, warm, gap in CONFIGS:
                    for seed in range(args.seeds):
                        r = run(budget, sampler, seed, warm, gap, args, workdir)
                        results.setdefault((budget, sampler, label), []).append(r)
                        print(f"{budget} {sampler} {label} seed {seed}: {r['trained']} "
                              f"trained in {r['proposals']} proposals ({r['infeasible']} "
                              f"infeasible) {r['seconds']:.0f} s", flush=True)
    lines = ["| budget | sampler | setting | warm start | gap fill every | trained (of "
             + str(args.trials) + ") | proposals | infeasible share | proposals per trained | "
             "ratio cold / setting | runs stopped at the cap |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for budget in budgets:
        for sampler in samplers:
            per: dict[str, float] = {}
            for label, warm, gap in CONFIGS:
                rs = results[(budget, sampler, label)]
                tr = np.mean([r["trained"] for r in rs])
                pr = np.mean([r["proposals"] for r in rs])
                inf = np.mean([r["infeasible"] / max(1, r["proposals"]) for r in rs])
                per[label] = float(np.mean([r["proposals"] / max(1, r["trained"]) for r in rs]))
                capped = sum(r["stopped"] is not None for r in rs)
                base = CONFIGS[0][0]
                ratio = f"{per[base] / per[label]:.2f}" if label != base else "-"
                lines.append(f"| `{budget}` | {sampler} | {label} | {warm} | {gap or '-'} | "
                             f"{tr:.1f} | {pr:.1f} | {100 * inf:.0f} % | {per[label]:.2f} | "
                             f"{ratio} | {capped} |")
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
