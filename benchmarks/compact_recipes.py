"""Epochs and learning rate on the default space: paired test accuracy of `compact` members.

Random members of the default space on ``digits`` (uniform choices, distinct specs, drawn in
memory bands by the cost model), each trained by the search's own trial code
(``dse.tasks.run_trial`` with a payload from ``dse.config.build_config``: schedule, recipe,
batch size and seed are the service's defaults) once per variant, all else equal. Accuracies
are the deployed integer network's (what a search records). Key figure per band: the mean
test accuracy of each variant over the same members, and its difference from the first
variant (paired). Selection never sees the test split (this only reports it).

    .venv/bin/python benchmarks/compact_recipes.py --members 4 --write-docs
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._docs import RunFacts, write_section  # noqa: E402

SECTION = "compact_recipes"
BANDS = ((4_000, 8_200), (8_200, 16_000), (16_000, 24_000), (24_000, 35_000))
VARIANTS: dict[str, dict[str, Any]] = {
    "12 epochs, lr 0.01 (old default)": {"epochs": 12, "lr": 1e-2},
    "24 epochs, lr 0.01": {"epochs": 24, "lr": 1e-2},
    "24 epochs, lr 0.02 (default)": {"epochs": 24, "lr": 2e-2},
    "40 epochs, lr 0.01": {"epochs": 40, "lr": 1e-2},
}


def members(space: Any, band: tuple[int, int], k: int, rng: random.Random,
            seen: set[str]) -> list[tuple[Any, float]]:
    """``k`` distinct random members with ``band[0] < memory_bits <= band[1]``."""
    from dse.search import hardware_metrics
    from hwmodel.accel import AccelConfig

    out: list[tuple[Any, float]] = []
    for _ in range(20_000):
        if len(out) == k:
            break
        spec = space.from_choices(space.random_choices(rng))
        if spec.hash in seen:
            continue
        bits = hardware_metrics(spec, AccelConfig(), simulate=False)[0]["memory_bits"]
        if band[0] < bits <= band[1]:
            seen.add(spec.hash)
            out.append((spec, bits))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=4, help="members per memory band")
    ap.add_argument("--seed", type=int, default=0, help="seed of the member draw")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    facts = RunFacts("compact_recipes.py", argv)

    import torch

    from dse.config import build_config
    from dse.tasks import run_trial
    from dse.trial import TrialPayload
    from search_spaces.spaces import get_space

    torch.set_num_threads(1)
    cfg0 = build_config(progress=False)
    space = get_space(cfg0.space, input_shape=(1, 8, 8), num_classes=10)
    rng, seen = random.Random(args.seed), set[str]()
    results: dict[tuple[int, int], list[dict[str, float]]] = {}
    for band in BANDS:
        rows = []
        for spec, bits in members(space, band, args.members, rng, seen):
            row: dict[str, float] = {"bits": bits}
            for name, over in VARIANTS.items():
                cfg = build_config(progress=False, **over)
                r = run_trial(TrialPayload.from_config(cfg, spec.to_json(), 0, 0))
                row[name] = float(r.metrics.get("test_accuracy", float("nan")))
                row[name + " val"] = float(r.metrics.get("accuracy", float("nan")))
            print(f"{bits:,.0f} bits: " + ", ".join(
                f"{n.split(' (')[0]} {100 * row[n]:.1f}" for n in VARIANTS), flush=True)
            rows.append(row)
        results[band] = rows

    names = list(VARIANTS)
    head = "| memory band (bits) | members | " + " | ".join(names) + " |"
    lines = [head, "|---|---:|" + "---:|" * len(names)]
    for band, rows in results.items():
        if not rows:
            continue
        means = [sum(r[n] for r in rows) / len(rows) for n in names]
        cells = [f"{100 * means[0]:.1f}"] + [
            f"{100 * m:.1f} ({100 * (m - means[0]):+.1f})" for m in means[1:]]
        lines.append(f"| {band[0]:,}-{band[1]:,} | {len(rows)} | " + " | ".join(cells) + " |")
    body = "\n".join([
        f"## Epochs and learning rate on the default space (`{SECTION}`)",
        "",
        *facts.lines(),
        "",
        f"Setup: random `{cfg0.space}` members on `{cfg0.dataset}` ({args.members} per memory "
        f"band, draw seed {args.seed}), each trained by the search's trial code with the "
        f"service's schedule `{cfg0.schedule}`, recipe `{cfg0.lr_schedule}`"
        f"{' + BN recalibration' if cfg0.bn_recalibration else ''}, batch {cfg0.batch_size}, "
        "training seed 0; only epochs and learning rate vary. Mean test accuracy (%) of the "
        "deployed integer networks, in brackets the paired difference from the first column. "
        "One training seed: per member, differences of about 1 point are seed noise.",
        "",
        *lines,
    ])
    print(body)
    if args.write_docs:
        write_section(SECTION, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
