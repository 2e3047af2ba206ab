"""Check the building blocks and the trainer on a CUDA GPU (run on a machine with one).

For every reference configuration: build the model, run a forward pass on the same random
batch on CPU and on CUDA (same weights) and compare; run a training step on CUDA. Then train
the digits reference on CUDA with the trainer (the path a `--gpus-per-trial` trial takes) and
on CPU, and compare accuracies. Needs torch, numpy, scikit-learn; not the store or Ray.

    PYTHONPATH=. python3 scripts/gpu_check.py [--out DIR]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dse.data import get_dataset  # noqa: E402
from dse.train import get_schedule, train  # noqa: E402
from search_spaces.build import build_model  # noqa: E402
from search_spaces.spaces import get_reference, list_references  # noqa: E402


def forward_check(name: str) -> dict[str, object]:
    spec = get_reference(name)
    torch.manual_seed(0)
    model = build_model(spec).eval().double()  # float64 on both sides: no threshold flips
    x = torch.rand(2, *spec.input_shape, dtype=torch.float64)
    with torch.no_grad():
        y_cpu = model(x)
        model_gpu = copy.deepcopy(model).cuda()
        y_gpu = model_gpu(x.cuda()).cpu()
    diff = float((y_cpu - y_gpu).abs().max())
    scale = float(y_cpu.abs().max()) or 1.0
    model_gpu.train()
    t0 = time.perf_counter()
    model_gpu.float()
    loss = torch.nn.functional.cross_entropy(model_gpu(x.float().cuda()),
                                             torch.zeros(2, dtype=torch.long, device="cuda"))
    loss.backward()
    torch.cuda.synchronize()
    grads_finite = all(bool(torch.isfinite(p.grad).all()) for p in model_gpu.parameters()
                       if p.grad is not None)
    return {"reference": name, "max_abs_diff": diff, "rel_diff": diff / scale,
            "train_step_s": time.perf_counter() - t0, "grads_finite": grads_finite}


def codec_check() -> dict[str, object]:
    """The compression task's encoder + full-frame decoder trained on CUDA and on CPU."""
    import random

    from dse.codec import build_codec, preview_png, train_codec
    from search_spaces.spaces import get_space

    data = get_dataset("sample-images")
    space = get_space("asic-encoder-codec", input_shape=data.input_shape, num_classes=2)
    spec = space.from_choices({**space.random_choices(random.Random(0)), "patch": 8,
                               "code_bits": 16})
    out: dict[str, object] = {}
    for device in ("cuda", "cpu"):
        torch.manual_seed(0)
        codec = build_codec(spec)
        res = train_codec(codec, data, get_schedule("two-stage", 2), batch_size=32, lr=1e-2,
                          seed=0, max_train_batches=40, device=device)
        png = preview_png(codec, res_image(data))
        out[device] = {"status": res.status, "test_psnr_db": res.test.get("psnr_db"),
                       "seconds": res.seconds, "preview_png_bytes": len(png)}
        print("codec", device, out[device], flush=True)
    return out


def res_image(data: object) -> torch.Tensor:
    from dse.codec import split_images

    return split_images(data.test)[0]  # type: ignore[attr-defined]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=".")
    args = ap.parse_args()
    assert torch.cuda.is_available(), "no CUDA device"
    report: dict[str, object] = {"device": torch.cuda.get_device_name(0),
                                 "torch": torch.__version__}
    rows = [forward_check(name) for name in list_references()]
    report["references"] = rows
    for r in rows:
        print(f"{r['reference']:22s} rel diff {r['rel_diff']:.2e}  step "
              f"{r['train_step_s'] * 1e3:7.1f} ms  grads finite {r['grads_finite']}", flush=True)
    data = get_dataset("digits")
    results = {}
    for device in ("cuda", "cpu"):
        torch.manual_seed(0)
        model = build_model(get_reference("heq-resnet-digits"))
        res = train(model, data, get_schedule("two-stage", 6), batch_size=32, lr=1e-2, seed=0,
                    progress=False, device=device)
        results[device] = {"status": res.status, "test_accuracy": res.test_accuracy,
                           "seconds": res.seconds}
        print(device, results[device], flush=True)
    report["digits_training"] = results
    report["codec_training"] = codec_check()
    ok = (all(r["rel_diff"] < 1e-3 and r["grads_finite"] for r in rows)  # type: ignore[operator]
          and results["cuda"]["status"] == "complete"
          and abs(results["cuda"]["test_accuracy"] - results["cpu"]["test_accuracy"]) < 0.05
          and all(v["status"] == "complete"  # type: ignore[index]
                  for v in report["codec_training"].values()))  # type: ignore[attr-defined]
    report["ok"] = ok
    Path(args.out, "gpu_check.json").write_text(json.dumps(report, indent=2))
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
