"""Compression: a patch encoder on the chip, a full-frame decoder off it; PSNR against rate.

Our reading of the 1 Mb mixed-precision encoder's second use (abstract only): the encoder
emits a few binary measurements per image patch and a decoder elsewhere rebuilds the frame.
A candidate is the patch encoder (an ``asic-encoder-codec`` spec: costed and simulated like
any candidate, its hardware metrics are *per patch*); the decoder (:mod:`dse.codec`) is float
and free of the budget, trained jointly with it on the MSE.

Objectives: ``psnr_db`` and ``ms_ssim`` (maximize) of the final model on the validation
crops, and ``bits_per_pixel = M / P^2`` (minimize), known from the spec before training (so
``--budget bits_per_pixel<=0.25`` filters candidates before they train). Defaults:
``(psnr_db, bits_per_pixel)``, the rate-distortion front; the hardware cost enters as a
budget (``memory_bits<=1e6``), as a third objective (``--objectives
psnr_db,bits_per_pixel,memory_bits``) or as the colour of the dashboard's front. Early
stopping watches ``val_psnr_db``. Also stored: ``test_psnr_db``, ``test_ms_ssim`` and
``test_blockiness`` on the held-out test crops, and (for complete trials) a small PNG of the
original / reconstruction / |error| x 4 of a held-out region, as the candidate's
``reconstruction`` artifact.

Each epoch goes to the store like a classification epoch: ``train_loss`` and ``val_loss`` hold
the MSE, ``val_psnr_db`` and ``val_ms_ssim`` the epoch's extra metrics.
"""

from __future__ import annotations

import math
import time
from typing import Any

from dse.tasks import RunFn, Task, register_task
from dse.tasks._trial import TrialContext, failure
from dse.trial import Artifact, EpochCallback, TrialPayload, TrialResult
from hwmodel.metrics import Known, Metric

#: The name of the candidate artifact holding the original / reconstruction / error PNG.
PREVIEW_ARTIFACT = "reconstruction"


def spec_metrics(spec: Any) -> dict[str, float]:
    """``bits_per_pixel`` of a patch encoder spec: M output bits per (C, P, P) patch."""
    from search_spaces.spaces.asic_encoder_codec import bits_per_pixel

    return {"bits_per_pixel": float(bits_per_pixel(spec))}


def spec_problem(spec: Any, input_shape: tuple[int, ...], num_classes: int) -> str | None:
    """Why a patch encoder ``spec`` cannot code the images of a dataset, or None: the images
    must be (C, H, W) with the patch's channels and at least the patch's size."""
    patch = tuple(spec.input_shape)
    if len(input_shape) != 3 or len(patch) != 3 or patch[0] != input_shape[0] \
            or any(p > s for p, s in zip(patch[1:], input_shape[1:], strict=True)):
        return (f"the spec's patch {list(patch)} does not fit the dataset's images "
                f"{list(input_shape)} (same channels, patch no larger than the image)")
    return None


def run(payload: TrialPayload, report: EpochCallback) -> TrialResult:
    """Train one patch encoder with its full-frame decoder; never raises."""
    started = time.monotonic()
    try:
        from dse.codec import CodecEpoch, build_codec, preview_png, train_codec

        ctx = TrialContext(payload, report)
        spec, data = ctx.spec, ctx.data
        if len(data.input_shape) != 3:
            raise ValueError(f"dataset {payload.dataset!r} gives {data.input_shape}: the "
                             "compression task needs (C, H, W) images")
        codec = build_codec(spec)

        def on_epoch(m: CodecEpoch) -> bool:
            row: dict[str, float | None] = {"train_loss": m.train_loss, "val_loss": m.val_loss,
                                   "seconds": m.seconds, "val_psnr_db": m.val_psnr_db,
                                   "lr": m.lr}
            if m.val_ms_ssim is not None:
                row["val_ms_ssim"] = m.val_ms_ssim
            return ctx.epoch(m.stage, m.epoch, m.val_psnr_db, row)

        result = train_codec(codec, data, ctx.stages, batch_size=payload.batch_size,
                             lr=payload.lr, seed=ctx.seed, on_epoch=on_epoch,
                             max_train_batches=payload.max_train_batches, device=ctx.device,
                             checkpoint_path=payload.checkpoint_path)
        status, reason = ctx.outcome(result.status, result.reason)
        psnr = result.val.get("psnr_db")
        if status == "complete" and (psnr is None or not math.isfinite(psnr)):
            status, reason = "failed", f"validation PSNR is {psnr}"
        metrics: dict[str, float] = dict(spec_metrics(spec))
        if psnr is not None:
            metrics.update(psnr_db=psnr, val_psnr_db=psnr)
        if "ms_ssim" in result.val:
            metrics["ms_ssim"] = result.val["ms_ssim"]
        for key in ("psnr_db", "ms_ssim", "blockiness"):
            if key in result.test:
                metrics[f"test_{key}"] = result.test[key]
        if status == "complete":
            ctx.artifacts[PREVIEW_ARTIFACT] = Artifact("image/png",
                                                       _preview(codec, data, preview_png))
            ctx.keep_model(codec.encoder.net)  # the chip: the patch encoder
        return TrialResult(status=status, reason=reason, metrics=metrics, monitor=psnr,
                           epochs_run=len(result.history), train_seconds=ctx.seconds(),
                           artifacts=ctx.artifacts)
    except Exception as exc:  # a trial that raises is recorded failed; the search goes on
        return failure(exc, started)


def _preview(codec: Any, data: Any, render: Any) -> bytes:
    """The original / reconstruction / error PNG of the held-out preview region (or the first
    test crop): the candidate's ``reconstruction`` artifact."""
    from dse.codec import split_images

    preview = getattr(data.test, "preview", None)
    image = preview.float() / 255.0 if preview is not None else split_images(data.test)[0]
    return bytes(render(codec, image))


_run: RunFn = run
COMPRESSION = register_task(Task(
    name="compression",
    description=("patch-based image compression: M binary bits per PxP patch on chip, "
                 "full-frame decoder off chip; objectives PSNR / MS-SSIM against bits per pixel"),
    metrics=(
        Metric("psnr_db", "dB", "maximize", Known.TRAINING, "PSNR (dB)"),
        Metric("ms_ssim", "1", "maximize", Known.TRAINING, "MS-SSIM"),
        Metric("bits_per_pixel", "bits/pixel", "minimize", Known.SPEC, "bits per pixel"),
        Metric("val_psnr_db", "dB", "maximize", Known.TRAINING, "validation PSNR (dB)",
               objective=False),
        Metric("val_ms_ssim", "1", "maximize", Known.TRAINING, "validation MS-SSIM",
               objective=False),
        Metric("test_psnr_db", "dB", "maximize", Known.TRAINING, "test PSNR (dB)",
               objective=False),
        Metric("test_ms_ssim", "1", "maximize", Known.TRAINING, "test MS-SSIM",
               objective=False),
        Metric("test_blockiness", "1", "minimize", Known.TRAINING,
               "test blockiness", objective=False),
    ),
    monitor="val_psnr_db",
    primary="psnr_db",
    default_objectives=("psnr_db", "bits_per_pixel"),
    default_dataset="sample-images",
    default_space="asic-encoder-codec",
    run=_run,
    spec_metrics=spec_metrics,
    spec_problem=spec_problem,
))
