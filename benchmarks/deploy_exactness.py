"""The price of deployability, and the integer executor's speed.

1. Accuracy: every digits reference and a front of random ``tiny``-space candidates on digits
   (the non-dominated ones of ``--candidates`` samples by float-scale accuracy and memory),
   trained with the search's recipe (``dse.config.SearchConfig``'s batch size, learning rate
   and schedule, BN recalibration) and the same seeds twice: the float-scale schedule
   (``two-stage``) and the deployable one (the same, its last stage in code space), mean over
   ``--seeds`` training seeds. For the deployable run, the accuracy is the integer
   executor's on the test split, and the number of test predictions where the torch model
   disagrees with it is printed (must be 0). ``--ablation``: the references once more with
   the loss's logit scale frozen at deployment (as the deployed stage trained before).
2. Cost of BN thresholds against BSN: for every reference and front point, the spec as is
   and the same spec with every BN replaced by BSN: normalization memory bits and logic area.
3. Speed: the ``digits`` test split through ``mognet-digits`` (deployed, trained) by
   :func:`hwmodel.golden.execute` against the torch model's forward, one core each, best of
   ``--repeats``; claim: the executor takes < 1 s.

    python benchmarks/deploy_exactness.py --seeds 3 --candidates 4 --ablation --write-docs

Writes the ``deploy_exactness`` section of docs/benchmarks.md with ``--write-docs``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core: set before numpy loads its BLAS

import argparse  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402
from unittest import mock  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from dse.config import SearchConfig  # noqa: E402
from dse.data import get_dataset  # noqa: E402
from dse.pareto import non_dominated  # noqa: E402
from dse.train import deployable, get_schedule, split_tensors, train  # noqa: E402
from hwmodel.cost import cost_report  # noqa: E402
from hwmodel.golden import execute, input_codes  # noqa: E402
from search_spaces.build import TinyNet, build_model  # noqa: E402
from search_spaces.deploy import integer_image, predictions  # noqa: E402
from search_spaces.spaces import get_space  # noqa: E402
from search_spaces.spaces.references import REFERENCES, build_reference  # noqa: E402
from search_spaces.spec import ArchSpec, Conv, Factorized, Layer, Linear, Residual  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._docs import write_section as write_docs_section  # noqa: E402

SECTION = "deploy_exactness"


def with_bsn(spec: ArchSpec) -> ArchSpec:
    """The same network with every BN replaced by BSN."""
    def swap(layer: Layer) -> Layer:
        if isinstance(layer, Conv | Factorized | Linear) and layer.norm == "bn":
            return dataclasses.replace(layer, norm="bsn")
        if isinstance(layer, Residual):
            return dataclasses.replace(layer, body=tuple(swap(b) for b in layer.body))
        return layer
    return ArchSpec(spec.input_shape, spec.num_classes, tuple(swap(x) for x in spec.layers),
                    spec.input_bits, spec.name)


#: the search's training recipe (one place: dse.config.SearchConfig)
_CFG = SearchConfig()
RECIPE: dict[str, Any] = {
    "batch_size": _CFG.batch_size, "lr": _CFG.lr, "lr_schedule": _CFG.lr_schedule,
    "bn_recalibration": _CFG.bn_recalibration, "distill": _CFG.distill,
    "weight_decay": _CFG.weight_decay}


@contextlib.contextmanager
def frozen_logit_scale() -> Iterator[None]:
    """The deployed stage with the loss's logit scale frozen at its value on deployment (the
    ablation: how the deployed stage trained before the scale followed ``alpha``)."""
    real = TinyNet.last_alpha
    first: dict[int, torch.Tensor] = {}

    def frozen(self: TinyNet) -> torch.Tensor:
        return first.setdefault(id(self), real(self))

    with mock.patch.object(TinyNet, "last_alpha", frozen):
        yield


def train_both(spec: ArchSpec, epochs: int, seeds: int, ablation: bool = False
               ) -> dict[str, Any]:
    """Mean test accuracies over ``seeds`` of the float-scale and the deployable training
    (and, with ``ablation``, the deployable one with its logit scale frozen)."""
    data = get_dataset("synthetic-gestures" if spec.is_video else "digits")
    x, y = split_tensors(data.test)
    modes = ["float", "deployed"] + (["frozen_scale"] if ablation else [])
    acc: dict[str, list[float]] = {m: [] for m in modes}
    out: dict[str, Any] = {"mismatches": 0, "float_seconds": 0.0, "deployed_seconds": 0.0}
    for seed in range(seeds):
        for mode in modes:
            torch.manual_seed(seed)
            model = build_model(spec)
            stages = get_schedule("two-stage", epochs)
            if mode != "float":
                stages = deployable(stages)
            t0 = time.perf_counter()
            with frozen_logit_scale() if mode == "frozen_scale" else contextlib.nullcontext():
                res = train(model, data, stages, seed=seed, progress=False, num_threads=1,
                            **RECIPE)
            if mode in ("float", "deployed"):
                out[f"{mode}_seconds"] += time.perf_counter() - t0
            if mode == "float":
                acc[mode].append(res.test_accuracy or 0.0)
                continue
            chip, ours = predictions(model, x)
            acc[mode].append(float((chip == y.numpy()).mean()))
            out["mismatches"] += int((chip != ours).sum())
    out.update({m: float(np.mean(v)) for m, v in acc.items()})
    out.update({f"{m}_runs": v for m, v in acc.items()})
    return out


def norm_cost(spec: ArchSpec) -> dict[str, float]:
    a, b = cost_report(spec), cost_report(with_bsn(spec))
    return {"norm_bits": a.totals["norm_memory_bits"],
            "bsn_norm_bits": b.totals["norm_memory_bits"],
            "logic_um2": a.totals["logic_area_um2"], "bsn_logic_um2": b.totals["logic_area_um2"]}


def front_specs(candidates: int, epochs: int, seed: int) -> list[ArchSpec]:
    """Non-dominated (float-scale accuracy, memory) points among random ``tiny`` candidates."""
    space = get_space("tiny", input_shape=(1, 8, 8), num_classes=10)
    rng = random.Random(seed)
    specs = [space.from_choices(space.random_choices(rng)).with_name(f"tiny-{i}")
             for i in range(candidates)]
    data = get_dataset("digits")
    scores = []
    for spec in specs:
        torch.manual_seed(seed)
        res = train(build_model(spec), data, get_schedule("two-stage", epochs), seed=seed,
                    progress=False, num_threads=1, **RECIPE)
        scores.append((res.test_accuracy or 0.0, cost_report(spec).totals["memory_bits"]))
    keep = non_dominated(np.asarray(scores, dtype=float), ["maximize", "minimize"])
    return [specs[i] for i in np.flatnonzero(keep)]


def speed(repeats: int, epochs: int) -> dict[str, float]:
    torch.set_num_threads(1)
    spec = build_reference("mognet-digits")
    data = get_dataset("digits")
    torch.manual_seed(0)
    model = build_model(spec)
    train(model, data, deployable(get_schedule("two-stage", epochs)), progress=False,
          num_threads=1, **RECIPE)
    x, _ = split_tensors(data.test)
    image = integer_image(model)
    codes = input_codes(spec, x.numpy())
    model.eval()

    def run_exec() -> Any:
        return execute(spec, image, codes).logits

    def run_torch() -> Any:
        with torch.no_grad():
            return model(x)

    best = {}
    for name, fn in (("executor", run_exec), ("torch", run_torch)):
        fn()  # warm
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        best[name] = min(times)
    return {"n": len(x), "executor_s": best["executor"], "torch_s": best["torch"],
            "ratio": best["executor"] / best["torch"]}


def _pct(runs: list[float]) -> str:
    """Mean over seeds, and each seed's value when there are several."""
    mean = f"{np.mean(runs) * 100:.1f} %"
    if len(runs) < 2:
        return mean
    return f"{mean} ({' / '.join(f'{v * 100:.1f}' for v in runs)})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=_CFG.epochs,
                    help="epochs per training (default: the search's)")
    ap.add_argument("--seeds", type=int, default=3, help="training seeds per network")
    ap.add_argument("--candidates", type=int, default=8,
                    help="random tiny candidates whose front is measured (0: none)")
    ap.add_argument("--refs", default="",
                    help="comma-separated digits references (default: all of them)")
    ap.add_argument("--ablation", action="store_true",
                    help="the references also with the deployed logit scale frozen")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0, help="seed of the candidate draw")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t_all = time.perf_counter()
    sp = speed(args.repeats, 2)
    print(f"speed: {sp['n']} digits through mognet-digits: executor {sp['executor_s']:.3f} s, "
          f"torch {sp['torch_s']:.3f} s, ratio {sp['ratio']:.2f}", flush=True)
    rows = []
    cpu_refs = [n for n, r in sorted(REFERENCES.items()) if r.cpu and r.input_shape == (1, 8, 8)]
    chosen = [n.strip() for n in args.refs.split(",") if n.strip()] or cpu_refs
    unknown = sorted(set(chosen) - set(cpu_refs))
    if unknown:
        ap.error(f"--refs: {unknown} are not digits references ({cpu_refs})")
    specs = [(build_reference(n), args.ablation) for n in chosen]
    if args.candidates:
        specs += [(s, False) for s in front_specs(args.candidates, args.epochs, args.seed)]
    for spec, ablation in specs:
        acc = train_both(spec, args.epochs, args.seeds, ablation)
        row = {"name": spec.name, **acc, **norm_cost(spec)}
        rows.append(row)
        print(row, flush=True)
    for name in sorted(set(REFERENCES) - set(cpu_refs)):
        rows.append({"name": name, **norm_cost(build_reference(name))})
    command = (f"python benchmarks/deploy_exactness.py --epochs {args.epochs} --seeds "
               f"{args.seeds} --candidates {args.candidates}"
               + (f" --refs {args.refs}" if args.refs else "")
               + (" --ablation" if args.ablation else "")
               + f" --repeats {args.repeats} --write-docs")
    recipe = ", ".join(f"{k} {v}" for k, v in RECIPE.items())
    lines = [
        f"Command: `{command}` ({platform.machine()}, torch {torch.__version__}, one thread; "
        f"{time.perf_counter() - t_all:.0f} s in all). Schedule `two-stage` ({args.epochs} "
        f"epochs) with the search's recipe ({recipe}), training seeds 0..{args.seeds - 1}: "
        "mean test accuracy (each seed's in brackets); 'deployed' = the same with its last "
        "stage in code space, accuracy of the integer executor on the test split; 'scale "
        "frozen' = deployed with the loss's logit scale frozen at deployment (the deployed "
        "stage before it followed the last layer's alpha). Norm bits / logic: the spec as is "
        "against every BN replaced by BSN (other references: cost only).",
        "",
        f"Speed: the digits test split ({sp['n']} images) through `mognet-digits`: executor "
        f"**{sp['executor_s'] * 1e3:.0f} ms**, torch forward {sp['torch_s'] * 1e3:.0f} ms "
        f"(ratio executor/torch {sp['ratio']:.2f}; claim: < 1 s on one core).",
        "",
        "| network | float-scale test acc | deployed (chip) test acc | deployed, scale frozen "
        "| torch/chip mismatches | norm bits (BN thresholds) | norm bits (all BSN) "
        "| logic um2 | logic um2 (all BSN) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        f = _pct(r["float_runs"]) if "float_runs" in r else "-"
        d = _pct(r["deployed_runs"]) if "deployed_runs" in r else "-"
        g = _pct(r["frozen_scale_runs"]) if "frozen_scale_runs" in r else "-"
        m = str(r["mismatches"]) if "mismatches" in r else "-"
        lines.append(f"| {r['name']} | {f} | {d} | {g} | {m} | {r['norm_bits']:,} | "
                     f"{r['bsn_norm_bits']:,} | {r['logic_um2']:,.0f} | "
                     f"{r['bsn_logic_um2']:,.0f} |")
    body = "\n".join(lines)
    print(body)
    if args.write_docs:
        write_docs_section(SECTION, "## Deployability: accuracy, threshold cost, executor speed\n\n"
                           + body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
