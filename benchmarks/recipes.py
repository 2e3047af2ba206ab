"""Training recipes: the test accuracy each recipe option gives the hand designs, in one run.

Every CPU-sized reference on ``digits`` (the ``*-digits`` entries of
``search_spaces.spaces.references``) is trained with ``dse.train.train`` through the service's
default stage schedule, once per recipe and training seed, all else equal (batch size,
learning rate, epochs, data). Recipes, each one option changed from the baseline (the trainer's
behaviour before issue 14) or from the new default:

* ``baseline``: per-epoch cosine within each stage, no recalibration;
* ``+warmup-cosine``: per-batch cosine after a one-epoch linear warm-up;
* ``+bn-recal``: batch-norm statistics re-estimated at the end of every stage;
* ``default`` (``dse search``'s): both of the above;
* ``default+distill``: plus distillation (weight 0.5) from the float version of the spec;
* ``default+wd``: plus weight decay 1e-4 on weight tensors (none on scales/offsets/thresholds);
* ``default+float-1/4``: the float warm-up shortened to a quarter of the epochs (the
  ``two-stage`` schedule gives it half).

Key figure per recipe: mean test accuracy over references and seeds, and its ratio to the
baseline's. Selection never sees the test split (this only reports it).

    .venv/bin/python benchmarks/recipes.py --epochs 12 --seeds 2 --write-docs
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._docs import RunFacts, write_section  # noqa: E402

SECTION = "recipes"
DEFAULT = {"lr_schedule": "warmup-cosine", "bn_recalibration": True}
RECIPES: dict[str, dict[str, Any]] = {
    "baseline": {"lr_schedule": "cosine", "bn_recalibration": False},
    "+warmup-cosine": {"lr_schedule": "warmup-cosine", "bn_recalibration": False},
    "+bn-recal": {"lr_schedule": "cosine", "bn_recalibration": True},
    "default": DEFAULT,
    "default+distill": {**DEFAULT, "distill": 0.5},
    "default+wd": {**DEFAULT, "weight_decay": 1e-4},
    "default+float-1/4": {**DEFAULT, "float_fraction": 0.25},
}


def stages_for(epochs: int, schedule: str, float_fraction: float | None) -> list[Any]:
    from dse.train import Stage, get_schedule

    stages = get_schedule(schedule, epochs)
    if float_fraction is None or len(stages) != 2:
        return stages
    fp = max(1, round(epochs * float_fraction))
    return [Stage(stages[0].name, fp, stages[0].weights, stages[0].activations,
                  stages[0].lstm_gates),
            Stage(stages[1].name, epochs - fp, stages[1].weights, stages[1].activations,
                  stages[1].lstm_gates)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=None, help="default: the service's")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    facts = RunFacts("recipes.py", argv)

    import torch

    from dse.config import build_config
    from dse.data import get_dataset
    from dse.train import train
    from hwmodel.cost import cost_report
    from search_spaces.build import build_model
    from search_spaces.spaces.references import REFERENCES, build_reference

    cfg = build_config()
    epochs = args.epochs or cfg.epochs
    names = sorted(n for n, r in REFERENCES.items() if r.cpu and n.endswith("-digits"))
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    data = get_dataset("digits")
    torch.set_num_threads(1)
    acc: dict[tuple[str, str], list[float]] = {}
    secs: dict[str, float] = {r: 0.0 for r in recipes}
    for name in names:
        spec = build_reference(name)
        for rec in recipes:
            opts = dict(RECIPES[rec])
            stages = stages_for(epochs, cfg.schedule, opts.pop("float_fraction", None))
            for seed in range(args.seeds):
                torch.manual_seed(seed)
                model = build_model(spec)
                res = train(model, data, stages, batch_size=cfg.batch_size, lr=cfg.lr,
                            seed=seed, progress=False, **opts)
                acc.setdefault((name, rec), []).append(float(res.test_accuracy or 0.0))
                secs[rec] += res.seconds
            mean = sum(acc[(name, rec)]) / len(acc[(name, rec)])
            print(f"{name:>22} {rec:>20}: test {mean:.3f}", flush=True)

    def mean_of(rec: str) -> float:
        vals = [v for n in names for v in acc[(n, rec)]]
        return sum(vals) / len(vals)

    base = mean_of("baseline") if "baseline" in recipes else None
    mem = {n: int(cost_report(build_reference(n)).to_dict()["totals"]["memory_bits"])
           for n in names}
    header = "| recipe | " + " | ".join(f"`{n}` ({mem[n]:,} b)" for n in names) + \
        " | mean | ratio to baseline | train s |"
    lines = [header, "|---|" + "---:|" * (len(names) + 3)]
    for rec in recipes:
        cells = [f"{100 * sum(acc[(n, rec)]) / len(acc[(n, rec)]):.1f}" for n in names]
        m = mean_of(rec)
        ratio = f"{m / base:.3f}" if base else "-"
        lines.append(f"| {rec} | " + " | ".join(cells) + f" | {100 * m:.1f} | {ratio} | "
                     f"{secs[rec]:.0f} |")
    body = "\n".join([
        f"## Training recipes on the hand designs (`{SECTION}`)",
        "",
        *facts.lines(),
        "",
        f"Setup: every `*-digits` reference, schedule `{cfg.schedule}` over {epochs} epochs, "
        f"batch {cfg.batch_size}, lr {cfg.lr:g}, training seeds 0..{args.seeds - 1}; test "
        "accuracy (%) on the fixed test split, mean over seeds; memory_bits from the cost "
        "model.",
        "",
        *lines,
    ])
    print()
    print(body)
    if args.write_docs:
        write_section(SECTION, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
