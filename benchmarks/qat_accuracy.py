"""QAT accuracy on the embedded datasets, each against its full-precision baseline.

1. ``digits``: a 3-conv-layer ternary HEQ CNN with an OR-gated residual (1-bit activations,
   ternary HEQ classifier), trained with the one-stage ``qat`` schedule; baseline: the same
   network trained with nothing quantized (``float`` schedule), same epochs and seed.
   Claim: >= 90 % test accuracy within a couple of CPU minutes.
2. ``synthetic-gestures``: a small binarized Conv3D + LSTM (sign weights everywhere, 1-bit
   activations, Heaviside/sign LSTM gates) trained through the four BILLNET stages (fp ->
   weights -> activations -> gates); the test accuracy is measured at the end of every
   stage. Baseline: the same network in float for the same number of epochs. Claim: well
   above chance (1/8).

    python benchmarks/qat_accuracy.py --write-docs

Writes the ``qat_accuracy`` section of docs/benchmarks.md with ``--write-docs``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from typing import Any

import torch

from dse.data import DatasetBundle, get_dataset
from dse.train import EpochMetrics, TrainResult, evaluate, get_schedule, train
from search_spaces.build import build_model
from search_spaces.spec import LSTM, ArchSpec, Conv, Linear, Pool, Residual

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._docs import write_section as write_docs_section  # noqa: E402

SECTION = "qat_accuracy"


def digits_spec(width: int = 32) -> ArchSpec:
    """conv3x3 -> OR residual (conv3x3) -> maxpool 2 -> conv3x3 -> linear, all ternary HEQ."""
    tern = {"weight_quant": "heq", "weight_levels": 3}
    return ArchSpec((1, 8, 8), 10, (
        Conv(width, kernel=3, act_bits=1, norm="bn", **tern),  # type: ignore[arg-type]
        Residual((Conv(width, kernel=3, act_bits=1, norm="bn", **tern),),  # type: ignore[arg-type]
                 gate="or"),
        Pool("max", 2),
        Conv(2 * width, kernel=3, act_bits=1, norm="bn", **tern),  # type: ignore[arg-type]
        Linear(10, norm="bn", **tern),  # type: ignore[arg-type]
    ), name="digits-ternary-or-3conv")


def gestures_spec(hidden: int = 64) -> ArchSpec:
    """conv3d 3x3x3 /(1,2,2) -> maxpool (1,2,2) -> conv3d 3x3x3 /(1,2,2) -> LSTM -> linear."""
    sign = {"weight_quant": "sign", "weight_levels": 2}
    return ArchSpec((1, 8, 32, 32), 8, (
        Conv(8, kernel=3, stride=(1, 2, 2), act_bits=1, **sign),  # type: ignore[arg-type]
        Pool("max", kernel=(1, 2, 2)),
        Conv(16, kernel=3, stride=(1, 2, 2), act_bits=1, **sign),  # type: ignore[arg-type]
        LSTM(hidden, binary_gates=True, **sign),  # type: ignore[arg-type]
        Linear(8, norm="bn", **sign),  # type: ignore[arg-type]
    ), name="gestures-binary-conv3d-lstm")


def run(spec: ArchSpec, data: DatasetBundle, schedule: str, epochs: int, *, lr: float,
        seed: int, batch_size: int) -> tuple[TrainResult, list[dict[str, Any]]]:
    """Train; record the test accuracy at the end of every stage."""
    torch.manual_seed(seed)
    model = build_model(spec)
    stages = get_schedule(schedule, epochs)
    ends = {sum(s.epochs for s in stages[:i + 1]): s for i, s in enumerate(stages)}
    per_stage: list[dict[str, Any]] = []

    def on_epoch(m: EpochMetrics) -> None:
        print(f"  [{schedule}] {m.stage:>11} epoch {m.epoch:>2}: train loss {m.train_loss:.3f} "
              f"val acc {m.val_accuracy:.3f} ({m.seconds:.1f} s)", flush=True)
        if m.epoch in ends:
            _, test_acc = evaluate(model, data.test)
            s = ends[m.epoch]
            per_stage.append({"stage": s.name, "epochs": s.epochs,
                              "quantized": _flags(s.weights, s.activations, s.lstm_gates),
                              "val": m.val_accuracy, "test": test_acc})

    res = train(model, data, stages, lr=lr, seed=seed, batch_size=batch_size,
                on_epoch=on_epoch, progress=False, num_threads=torch.get_num_threads())
    if res.status != "complete":
        raise SystemExit(f"{spec.name} {schedule}: {res.status}: {res.reason}")
    return res, per_stage


def _flags(w: bool, a: bool, g: bool) -> str:
    on = [n for n, f in (("weights", w), ("activations", a), ("LSTM gates", g)) if f]
    return ", ".join(on) if on else "nothing (float)"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--digits-epochs", type=int, default=12)
    ap.add_argument("--gesture-epochs", type=int, default=20)
    ap.add_argument("--clips", type=int, default=3200, help="synthetic-gestures clips")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (1: tiny models gain nothing from more)")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    lines: list[str] = []

    # ---- digits
    digits = get_dataset("digits")
    spec = digits_spec()
    print(f"digits: {spec.name}, {spec.params():,} weights, {spec.weight_bits():,} weight bits")
    t0 = time.perf_counter()
    q_res, _ = run(spec, digits, "qat", args.digits_epochs, lr=2e-3, seed=args.seed,
                   batch_size=64)
    q_sec = time.perf_counter() - t0
    t0 = time.perf_counter()
    f_res, _ = run(spec, digits, "float", args.digits_epochs, lr=2e-3, seed=args.seed,
                   batch_size=64)
    f_sec = time.perf_counter() - t0
    assert q_res.test_accuracy is not None and f_res.test_accuracy is not None
    ratio = q_res.test_accuracy / f_res.test_accuracy

    # ---- gestures
    gest = get_dataset("synthetic-gestures", clips=args.clips, seed=args.seed)
    vspec = gestures_spec()
    print(f"gestures: {vspec.name}, {vspec.params():,} weights; splits {gest.sizes()}")
    t0 = time.perf_counter()
    b_res, b_stages = run(vspec, gest, "billnet", args.gesture_epochs, lr=3e-3,
                          seed=args.seed, batch_size=64)
    b_sec = time.perf_counter() - t0
    t0 = time.perf_counter()
    g_res, _ = run(vspec, gest, "float", args.gesture_epochs, lr=3e-3, seed=args.seed,
                   batch_size=64)
    g_sec = time.perf_counter() - t0
    assert b_res.test_accuracy is not None and g_res.test_accuracy is not None

    cmd = " ".join(["python", "benchmarks/qat_accuracy.py",
                    *(sys.argv[1:] if argv is None else argv)])
    lines += [
        f"## QAT accuracy on the embedded datasets (`{SECTION}`)",
        "",
        f"Command: `{cmd}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{args.threads} intra-op thread(s); seed {args.seed}; Adam, cosine decay per stage, "
        "batch 64. Wall times include evaluation.",
        "",
        f"### digits: `{spec.name}` ({spec.params():,} weights, {spec.weight_bits():,} weight "
        "bits)",
        "",
        "conv3x3(32) -> OR residual [conv3x3(32)] -> maxpool 2 -> conv3x3(64) -> linear(10); "
        "ternary HEQ weights everywhere, 1-bit activations, BN. Split 1,076 / 357 / 364.",
        "",
        "| schedule | epochs | best val | test | wall time |",
        "|---|---|---|---|---|",
        f"| `qat` (all quantized) | {args.digits_epochs} | {_pct(q_res.best_val_accuracy)} | "
        f"**{_pct(q_res.test_accuracy)}** | {q_sec:.1f} s |",
        f"| `float` baseline (same net, nothing quantized) | {args.digits_epochs} | "
        f"{_pct(f_res.best_val_accuracy)} | {_pct(f_res.test_accuracy)} | {f_sec:.1f} s |",
        "",
        f"Ternary / float test accuracy: **{ratio:.3f}**. Goal >= 90 % test in a couple of CPU "
        f"minutes: {'met' if q_res.test_accuracy >= 0.9 and q_sec < 180 else 'NOT met'}.",
        "",
        f"### synthetic-gestures: `{vspec.name}` ({vspec.params():,} weights)",
        "",
        f"{args.clips} clips of (1, 8, 32, 32), noise 0.1, distractor on; split "
        f"{gest.sizes()['train']:,} / {gest.sizes()['val']:,} / {gest.sizes()['test']:,}. "
        "conv3d 3x3x3(8) stride (1,2,2) -> maxpool (1,2,2) -> conv3d 3x3x3(16) stride (1,2,2) "
        "-> binarized LSTM(64) -> linear(8); sign weights, 1-bit activations, BN.",
        "",
        "| BILLNET stage | epochs | quantized | val at stage end | test at stage end |",
        "|---|---|---|---|---|",
    ]
    for row in b_stages:
        lines.append(f"| {row['stage']} | {row['epochs']} | {row['quantized']} | "
                     f"{_pct(row['val'])} | {_pct(row['test'])} |")
    lines += [
        "",
        "| run | epochs | best val | final test | wall time |",
        "|---|---|---|---|---|",
        f"| `billnet` (4 stages, ends fully binarized) | {args.gesture_epochs} | "
        f"{_pct(b_res.best_val_accuracy)} | **{_pct(b_res.test_accuracy)}** | {b_sec:.1f} s |",
        f"| `float` baseline (same net) | {args.gesture_epochs} | "
        f"{_pct(g_res.best_val_accuracy)} | {_pct(g_res.test_accuracy)} | {g_sec:.1f} s |",
        "",
        f"Binarized / float test accuracy: **{b_res.test_accuracy / g_res.test_accuracy:.3f}**; "
        f"chance is 12.5 %, the binarized model is at "
        f"**{b_res.test_accuracy / 0.125:.1f}x chance**.",
    ]
    text = "\n".join(lines)
    print()
    print(text)
    if args.write_docs:
        write_docs_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
