"""Quantization-aware training overhead: forward+backward time, quantized vs float, one run.

For each network (the reference specs of ``search_spaces.spaces.references``, 2-D and 3-D) it
builds: the spec as is with the builder's defaults (``build_model(spec)``: every quantizer on,
HEQ refitting its step size every 8 training steps); the same with HEQ refitting every step
(``quant_options={"heq": {"refit_every": 1}}``, for reference); and its float twin: the same
layers with ``float`` weights, 32-bit activations, BN for BSN, trainable convolutions for CA
layers, ``add`` for OR/MUX-OR gates and float LSTM gates. Each runs forward + backward + an
SGD step in training mode on the same batch; the timings are interleaved (q, e, f, q, e, f,
...) so load on the machine hits all alike, at least ``--repeat`` times each and for at least
``--min-seconds``, and the best of each is kept. The claim is the ratio quantized / float with
the defaults (goal <= 1.5x on CPU). ``--write-docs`` replaces the ``qat_overhead`` section of
docs/benchmarks.md.

    .venv/bin/python benchmarks/qat_overhead.py [--repeat 30] [--threads 1] [--write-docs]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from search_spaces.build import build_model, example_input, set_quantization  # noqa: E402
from search_spaces.spaces.references import build_reference  # noqa: E402
from search_spaces.spec import (  # noqa: E402
    LSTM,
    ArchSpec,
    Conv,
    Factorized,
    Layer,
    Linear,
    Pool,
    Residual,
)

#: (reference name, batch size): the digits/gestures scale our CPU searches train at, plus
#: one CIFAR-size network.
NETWORKS: list[tuple[str, int]] = [
    ("mognet-digits", 64), ("heq-resnet-digits", 64), ("asic-encoder-digits", 64),
    ("tiny-digits", 64), ("billnet-gestures", 8), ("mognet-c10", 16),
]


def float_twin(layer: Layer) -> Layer:
    """The same layer in full precision (see the module docstring)."""
    if isinstance(layer, Conv | Factorized):
        return dataclasses.replace(layer, weight_quant="float", weight_levels=0, act_bits=32,
                                   norm="bn" if layer.norm == "bsn" else layer.norm, ca=None)
    if isinstance(layer, Linear):
        return dataclasses.replace(layer, weight_quant="float", weight_levels=0, act_bits=32,
                                   norm="bn" if layer.norm == "bsn" else layer.norm)
    if isinstance(layer, LSTM):
        return dataclasses.replace(layer, weight_quant="float", weight_levels=0,
                                   binary_gates=False)
    if isinstance(layer, Pool):
        return dataclasses.replace(layer, act_bits=None)
    if isinstance(layer, Residual):
        gate = "add" if layer.gate in ("or", "mux_or") else layer.gate
        return dataclasses.replace(layer, body=tuple(float_twin(b) for b in layer.body),
                                   gate=gate)
    raise TypeError(type(layer).__name__)


def float_spec(spec: ArchSpec) -> ArchSpec:
    return ArchSpec(spec.input_shape, spec.num_classes,
                    tuple(float_twin(layer) for layer in spec.layers), 32, spec.name + "-float")


def step_fn(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> Any:
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), target).backward()
        opt.step()

    return step


def measure(name: str, batch: int, repeat: int, min_s: float = 3.0) -> dict[str, Any]:
    spec = build_reference(name)
    torch.manual_seed(0)
    q_model = build_model(spec)  # the builder's defaults
    set_quantization(q_model, weights=True, activations=True, lstm_gates=True)
    torch.manual_seed(0)
    e_model = build_model(spec, quant_options={"heq": {"refit_every": 1}})
    torch.manual_seed(0)
    f_model = build_model(float_spec(spec))
    x = example_input(spec, batch)
    target = torch.arange(batch) % spec.num_classes
    steps = {"q": step_fn(q_model.train(), x, target), "e": step_fn(e_model.train(), x, target),
             "f": step_fn(f_model.train(), x, target)}
    times: dict[str, list[float]] = {key: [] for key in steps}
    for _ in range(3):  # warm-up: allocator, HEQ first fit, LSQ init
        for key in steps:
            steps[key]()
    start = time.perf_counter()
    while len(times["q"]) < repeat or (time.perf_counter() - start < min_s
                                       and len(times["q"]) < 50 * repeat):
        for key in steps:
            t0 = time.perf_counter()
            steps[key]()
            times[key].append(time.perf_counter() - t0)
    # best of: on a shared machine the minimum is the least disturbed run of each
    q_ms, e_ms, f_ms = (min(times[k]) * 1e3 for k in ("q", "e", "f"))
    heq = any(getattr(i.layer, "weight_quant", "") == "heq" for i in spec.iter_layers())
    return {"name": name, "dims": "3-D" if spec.is_video else "2-D", "batch": batch,
            "params": spec.params(), "q_ms": q_ms, "f_ms": f_ms, "ratio": q_ms / f_ms,
            "e_ms": e_ms, "e_ratio": e_ms / f_ms, "heq": heq, "runs": len(times["q"])}


def docs_body(rows: list[dict[str, Any]], command: str, threads: int) -> str:
    worst = max(r["ratio"] for r in rows)
    geo = statistics.geometric_mean([r["ratio"] for r in rows])
    met = [r["name"] for r in rows if r["ratio"] <= 1.5]
    missed = [f"{r['name']} ({r['ratio']:.2f}x)" for r in rows if r["ratio"] > 1.5]
    verdict = ("all networks meet it" if not missed
               else f"met by {len(met)} of {len(rows)}; missed by {', '.join(missed)}")
    # networks without HEQ build the same model twice: their spread is the timing noise
    twins = [abs(r["q_ms"] / r["e_ms"] - 1.0) for r in rows if not r["heq"]]
    noise = (f" Timing noise in this run: the two identical quantized models of the networks "
             f"without HEQ differ by up to {100 * max(twins):.0f} %." if twins else "")
    lines = [
        "## QAT overhead (`qat_overhead`)",
        "",
        f"Command: `{command}`  ",
        f"torch {torch.__version__}, {platform.machine()} CPU ({os.cpu_count()} cores, load "
        f"average {os.getloadavg()[0]:.1f} when the run ended), {threads} thread(s); forward + "
        "backward + SGD step in training mode, best of interleaved runs (at least "
        f"{min(r['runs'] for r in rows)} each). Quantized = `build_model(spec)` with its "
        "defaults: every quantizer on, HEQ refitting its step size every 8 steps (alpha every "
        "step); float = the same layers with float weights, 32-bit activations, BN, trainable "
        "pointwise instead of CA, add instead of OR gates.",
        "",
        f"**Ratio quantized / float (defaults): worst {worst:.2f}x, geometric mean "
        f"{geo:.2f}x** (goal <= 1.5x: {verdict}).{noise}",
        "",
        "Last columns, for reference: HEQ refitting every step "
        "(`build_model(spec, quant_options={'heq': {'refit_every': 1}})`; only networks with "
        "HEQ layers differ).",
        "",
        "| network | dims | batch | params | quantized ms | float ms | ratio | "
        "HEQ refit/1 ms | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        every = f"{r['e_ms']:.2f} | {r['e_ratio']:.2f}x" if r["heq"] else "– | –"
        lines.append(f"| {r['name']} | {r['dims']} | {r['batch']} | {r['params']:,} | "
                     f"{r['q_ms']:.2f} | {r['f_ms']:.2f} | {r['ratio']:.2f}x | {every} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--min-seconds", type=float, default=3.0,
                    help="keep interleaving runs of each network for at least this long")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--networks", nargs="*", default=[n for n, _ in NETWORKS])
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    batches = dict(NETWORKS)
    rows = []
    for name in args.networks:
        row = measure(name, batches.get(name, 16), args.repeat, args.min_seconds)
        rows.append(row)
        print(f"{row['name']:22s} {row['dims']} batch {row['batch']:3d}  quantized "
              f"{row['q_ms']:8.2f} ms  float {row['f_ms']:8.2f} ms  ratio {row['ratio']:.2f}x"
              f"  (HEQ refit/1: {row['e_ratio']:.2f}x)", flush=True)
    if args.write_docs:
        from benchmarks._docs import write_section

        subset = ("" if args.networks == [n for n, _ in NETWORKS]
                  else " --networks " + " ".join(args.networks))
        cmd = (f".venv/bin/python benchmarks/qat_overhead.py --repeat {args.repeat} "
               f"--min-seconds {args.min_seconds:g} --threads {args.threads}{subset} "
               "--write-docs")
        write_section("qat_overhead", docs_body(rows, cmd, args.threads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
