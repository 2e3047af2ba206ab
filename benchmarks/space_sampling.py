"""Search-space sampling speed: ``random_choices`` (no Optuna) vs Optuna ``ask`` + ``sample``,
``from_choices`` (ArchSpec construction), and the size count by dynamic programming vs a
leaf-by-leaf walk of the conditional tree — each pair measured in the same run (a ratio).

    .venv/bin/python benchmarks/space_sampling.py [--n 20000] [--optuna 300] [--write-docs]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from search_spaces.spaces import get_space
from search_spaces.spaces.base import Dim, count_assignments

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
SECTION = "space_sampling"


def _dfs(dims: Sequence[Dim], env: dict[str, Any], k: int = 0) -> int:
    if k == len(dims):
        return 1
    dim = dims[k]
    if not dim.active(env):
        return _dfs(dims, env, k + 1)
    total = 0
    for v in dim.values():
        env[dim.name] = v
        total += _dfs(dims, env, k + 1)
        del env[dim.name]
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000, help="random_choices draws per space")
    ap.add_argument("--optuna", type=int, default=300, help="optuna ask+sample per space")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    for name, shape in (("tiny", (1, 8, 8)), ("mognet", (3, 32, 32)),
                        ("billnet", (3, 16, 96, 128))):
        space = get_space(name, input_shape=shape, num_classes=10)
        rng = random.Random(0)
        t = time.perf_counter()
        draws = [space.random_choices(rng) for _ in range(args.n)]
        t_draw = (time.perf_counter() - t) / args.n
        t = time.perf_counter()
        for c in draws[:2000]:
            space.from_choices(c)
        t_build = (time.perf_counter() - t) / min(2000, args.n)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        t = time.perf_counter()
        for _ in range(args.optuna):
            trial = study.ask()
            space.sample(trial)
            study.tell(trial, 0.0)
        t_optuna = (time.perf_counter() - t) / args.optuna
        rows.append((name, shape, space.size(), t_draw, t_build, t_optuna))

    tiny = get_space("tiny", input_shape=(1, 8, 8), num_classes=10)
    t = time.perf_counter()
    for _ in range(20):
        dp = count_assignments(tiny.dimensions())
    t_dp = (time.perf_counter() - t) / 20
    t = time.perf_counter()
    dfs = _dfs(tiny.dimensions(), {})
    t_dfs = time.perf_counter() - t
    assert dp == dfs, (dp, dfs)

    lines = [
        f"## Search-space sampling (`{SECTION}`)", "",
        "Command: `.venv/bin/python benchmarks/space_sampling.py --write-docs`  ",
        f"Per candidate; `random_choices` over {args.n:,} draws, `from_choices` over 2,000, "
        f"Optuna (RandomSampler, in-memory study: `ask` + `space.sample` + `tell`) over "
        f"{args.optuna}.", "",
        "| space | input | size | random_choices | from_choices (ArchSpec) | Optuna ask+sample "
        "| Optuna / random_choices |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, shape, size, t_draw, t_build, t_optuna in rows:
        lines.append(f"| {name} | {'x'.join(map(str, shape))} | {size:,} | "
                     f"{t_draw * 1e6:.1f} us | {t_build * 1e6:.0f} us | {t_optuna * 1e3:.2f} ms "
                     f"| **{t_optuna / t_draw:,.0f}x slower** |")
    lines += ["", f"Size of `tiny` on 1x8x8 ({dp:,}): dynamic programming {t_dp * 1e3:.2f} ms, "
              f"leaf-by-leaf walk {t_dfs * 1e3:.0f} ms (**{t_dfs / t_dp:,.0f}x**; the walk "
              "grows with the size, the DP does not: mognet on CIFAR has "
              f"{rows[1][2]:,} architectures and is counted as fast)."]
    text = "\n".join(lines)
    print(text)
    if args.write_docs:
        _write_docs(text)
    return 0


def _write_docs(body: str) -> None:
    sys.path.insert(0, str(DOCS.parents[1]))
    from benchmarks._docs import write_section

    write_section(SECTION, body)


if __name__ == "__main__":
    sys.exit(main())
