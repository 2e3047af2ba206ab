"""Speed of the fast engine on the ``mognet-c10`` reference, against the stepping engine.

Both engines give the same report (checked here); the fast one times closed forms per fold
pair, the stepping one walks every cycle. The script also converts the simulated cycle count
to SCALE-Sim's measured rate (``--scalesim-cycles-per-s``, default from the
``scalesim_crosscheck`` run in docs/benchmarks.md) for a second baseline. Single process,
single thread. With ``--write-docs`` it replaces the ``sim_speed`` section of
docs/benchmarks.md.

    .venv/bin/python benchmarks/sim_speed.py [--reference mognet-c10] [--write-docs]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwmodel.accel import AccelConfig  # noqa: E402
from hwmodel.ir import lower  # noqa: E402
from hwmodel.sim import simulate  # noqa: E402
from search_spaces.spaces import get_reference  # noqa: E402

#: SCALE-Sim 3.0.0's simulation rate measured by benchmarks/scalesim_crosscheck.py.
SCALESIM_CYCLES_PER_S = 8758.0


def best_of(fn: object, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", default="mognet-c10")
    ap.add_argument("--scalesim-cycles-per-s", type=float, default=SCALESIM_CYCLES_PER_S)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()

    spec = get_reference(args.reference)
    # a realistic, stalling configuration: finite bandwidths, a slow CA generator
    accel = AccelConfig(rows=16, cols=16, dataflow="ws", weight_sram_bits_per_cycle=64,
                        act_sram_bits_per_cycle=32, ca_rows_per_cycle=1)
    t0 = time.perf_counter()
    fast = simulate(spec, accel)  # first call: lowering and simulation, cold caches
    fast_cold = time.perf_counter() - t0
    ops = lower(spec)
    fast_s = best_of(lambda: simulate(spec, accel), 20)  # lowering included
    t0 = time.perf_counter()
    step = simulate(spec, accel, engine="step", ops=ops)
    step_s = time.perf_counter() - t0
    if step.totals() != fast.totals():
        print("engines disagree!", file=sys.stderr)
        return 1
    cycles = fast.cycles
    scalesim_s = cycles / args.scalesim_cycles_per_s
    lines = [
        f"Command: `python benchmarks/sim_speed.py --reference {args.reference} --write-docs`"
        "  ",
        f"`{args.reference}` ({len(ops)} ops) on a 16x16 ws array, weight SRAM 64 bits/cycle, "
        f"activation SRAM 32 bits/cycle per bank, 1 CA row/cycle: {cycles:,} cycles, "
        f"{sum(fast.stall_cycles.values()):,} of them stalls; both engines give identical "
        "reports.",
        "",
        "| engine | wall time | simulated cycles/s | ratio |",
        "|---|---|---|---|",
        f"| fast (lower + simulate, best of 20) | {fast_s * 1e3:.2f} ms | "
        f"{cycles / fast_s:,.0f} | 1x |",
        f"| fast, first call in the process | {fast_cold * 1e3:.2f} ms | | |",
        f"| stepping engine (same process) | {step_s:.2f} s | {cycles / step_s:,.0f} | "
        f"**{step_s / fast_s:,.0f}x slower** |",
        f"| SCALE-Sim 3.0.0 at its measured {args.scalesim_cycles_per_s:,.0f} cycles/s "
        f"(estimate) | {scalesim_s:.0f} s | {args.scalesim_cycles_per_s:,.0f} | "
        f"**{scalesim_s / fast_s:,.0f}x slower** |",
        "",
        f"Goal: under 1 s on one core -> {'met' if fast_s < 1 else 'NOT met'} "
        f"({fast_s * 1e3:.2f} ms).",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write_docs:
        write_docs(text)
    return 0


def write_docs(section: str, name: str = "sim_speed") -> None:
    """Replace (or append) this benchmark's section of docs/benchmarks.md."""
    from benchmarks._docs import write_section

    write_section(name, f"## Simulator speed (`{name}`)\n\n{section}")


if __name__ == "__main__":
    sys.exit(main())
