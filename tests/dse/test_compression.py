"""The compression task: rate accounting, the codec space and networks, a real tiny search
through the store, artifacts on SQLite and PostgreSQL, bad input."""

from __future__ import annotations

import io
import math
import random
import uuid
from pathlib import Path
from typing import Any

import pytest
import torch

from dse.codec import FrameDecoder, PatchDecoder, PatchEncoder, build_codec
from dse.config import build_config
from dse.errors import UserError
from dse.metrics import psnr_from_mse
from dse.search import run_search
from dse.store import StoreError, open_store
from dse.tasks import get_task, list_tasks
from dse.trial import TrialPayload, TrialResult
from search_spaces.build import build_model
from search_spaces.spaces import get_space
from search_spaces.spaces.asic_encoder_codec import AsicEncoderCodecSpace, bits_per_pixel
from search_spaces.spec import ArchSpec, Linear

TINY_DATA = {"n_train": 48, "n_val": 16, "n_test": 8, "crop_size": 32}
QUICK: dict[str, Any] = {"epochs": 1, "schedule": "qat", "max_train_batches": 2,
                         "batch_size": 16, "executor": "local", "progress": False,
                         "early_stopping": False, "dataset_params": TINY_DATA,
         "confirm": 0}  # one network per candidate: confirmation is tests/dse/test_confirm.py's


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Any:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _space(shape: tuple[int, int, int] = (3, 32, 32)) -> AsicEncoderCodecSpace:
    space = get_space("asic-encoder-codec", input_shape=shape, num_classes=2)
    assert isinstance(space, AsicEncoderCodecSpace)
    return space


def _spec(patch: int, bits: int, seed: int = 0) -> ArchSpec:
    space = _space()
    return space.from_choices({**space.random_choices(random.Random(seed)), "patch": patch,
                               "code_bits": bits})


# --------------------------------------------------------------------------- the task
def test_task_is_registered_with_its_defaults() -> None:
    task = get_task("compression")
    assert "compression" in list_tasks()
    assert task.objectives == {"psnr_db": "maximize", "ms_ssim": "maximize",
                               "bits_per_pixel": "minimize"}
    assert (task.monitor, task.primary) == ("val_psnr_db", "psnr_db")
    assert task.default_objectives == ("psnr_db", "bits_per_pixel")
    assert (task.default_dataset, task.default_space) == ("sample-images", "asic-encoder-codec")
    assert task.pretrain_metrics == ("bits_per_pixel",)


@pytest.mark.parametrize(("patch", "bits", "bpp"), [(8, 16, 0.25), (8, 4, 0.0625),
                                                    (16, 4, 4 / 256), (16, 32, 0.125),
                                                    (8, 32, 0.5)])
def test_bits_per_pixel_is_code_bits_over_patch_area(patch: int, bits: int, bpp: float
                                                     ) -> None:
    """M bits per P x P patch: 16 / 64 = 0.25, 4 / 256 = 0.015625, ..."""
    spec = _spec(patch, bits)
    assert spec.input_shape == (3, patch, patch) and spec.num_classes == bits
    assert bits_per_pixel(spec) == bpp
    assert get_task("compression").spec_metrics(spec) == {"bits_per_pixel": bpp}
    # the whole-image bit count: a 32x32 image has (32 / P)^2 patches of M bits
    codec = build_codec(spec)
    codes = codec.encoder(torch.rand(2, 3, 32, 32))
    assert codes[0].numel() == bpp * 32 * 32


def test_budget_on_bits_per_pixel_is_known_before_training() -> None:
    cfg = build_config(task="compression", budgets=["bits_per_pixel<=0.25"])
    assert cfg.objectives == ("psnr_db", "bits_per_pixel")
    assert (cfg.space, cfg.dataset) == ("asic-encoder-codec", "sample-images")
    with pytest.raises(UserError, match="metric 'bits_per_pixel' must be one of"):
        build_config(budgets=["bits_per_pixel<=0.25"])  # classification has no such metric
    with pytest.raises(UserError, match="metric 'psnr_db' must be one of"):
        build_config(task="compression", budgets=["psnr_db>=20"])  # known only after training


# --------------------------------------------------------------------------- space and nets
def test_encoder_ends_in_a_binary_bottleneck() -> None:
    spec = _spec(8, 16)
    last = spec.layers[-1]
    assert isinstance(last, Linear) and last.out_features == 16 and last.act_bits == 1
    assert last.norm == "bsn"
    out = build_model(spec)(torch.rand(5, 3, 8, 8))
    assert out.shape == (5, 16)
    assert set(out.unique().tolist()) <= {0.0, 1.0}


def test_codec_space_dimensions_and_sizes() -> None:
    space = _space((3, 96, 96))
    names = [d.name for d in space.dimensions()]
    assert names[:2] == ["patch", "code_bits"]
    assert space.patches == (8, 16) and space.code_bits == (4, 8, 16, 32)
    assert _space((1, 8, 8)).patches == (8,)
    assert _space((3, 24, 40)).patches == (8,)  # 16 divides neither 24 nor 40
    with pytest.raises(ValueError, match="no patch size in \\[8, 16\\] divides"):
        _space((3, 20, 20))
    # the asic-encoder body is the same vocabulary: per-layer 1/2/3-bit weights, bsn, 2-bit
    rng = random.Random(0)
    for _ in range(20):
        choices = space.random_choices(rng)
        spec = space.from_choices(choices)
        assert spec.input_shape, spec.num_classes == space.io_of(choices)
        body = space.bodies[spec.input_shape[-1]]
        maps = [i.out_shape for i in spec.top_layers() if len(i.out_shape) == 3]
        assert min(maps[-1][-2:]) >= body.min_spatial  # depth adapts to the patch size
        convs = [i for i in spec.iter_layers() if i.layer.kind == "conv"]
        assert all(i.out_bits == 2 and getattr(i.layer, "norm", "") == "bsn" for i in convs)


def test_patch_encoder_codes_depend_only_on_their_patch() -> None:
    """Changing pixels of one patch changes that patch's code only (activations as their
    float proxy, so an untrained net's codes are not all saturated)."""
    from search_spaces.build import set_quantization

    torch.manual_seed(0)
    enc = PatchEncoder(build_model(_spec(8, 32)), 8).eval()
    set_quantization(enc, activations=False)
    x = torch.rand(1, 3, 32, 32)
    y = x.clone()
    y[:, :, 8:16, 16:24] = torch.rand(3, 8, 8)  # patch (1, 2)
    diff = (enc(x) != enc(y)).any(dim=1)[0]
    assert diff.shape == (4, 4)
    assert diff[1, 2] and diff.sum() == 1


def test_full_frame_decoder_reads_neighbour_codes_the_patch_decoder_does_not() -> None:
    torch.manual_seed(0)
    codes = (torch.rand(1, 8, 4, 4) > 0.5).float()
    other = codes.clone()
    other[0, :, 1, 1] = 1 - other[0, :, 1, 1]  # flip the code of patch (1, 1)
    for cls, spreads in ((FrameDecoder, True), (PatchDecoder, False)):
        dec = cls(8, 8, 3).eval()
        with torch.no_grad():
            changed = (dec(codes) - dec(other)).abs().amax(dim=1)[0] > 0  # (32, 32)
        assert changed.shape == (32, 32)
        assert changed[8:16, 8:16].all()
        outside = changed.clone()
        outside[8:16, 8:16] = False
        assert bool(outside.any()) is spreads


def test_codec_space_costs_like_torch() -> None:
    from hwmodel.cost import cost_report

    spec = _spec(16, 8, seed=3)
    report = cost_report(spec)
    assert report.totals["weight_memory_bits"] == build_model(spec).stored_weight_bits()


# --------------------------------------------------------------------------- a real search
@pytest.fixture(scope="module")
def codec_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    url = f"sqlite:///{tmp_path_factory.mktemp('codec') / 'c.db'}"
    cfg = build_config(task="compression", study="codec", db=url, trials=4, seed=2, **QUICK)
    outcome = run_search(cfg)
    return url, outcome


def test_compression_study_round_trips_through_the_store(codec_study: tuple[str, Any]) -> None:
    from hwmodel.cost import cost_report

    url, outcome = codec_study
    store = open_store(url)
    status = store.study_status("codec")
    assert status["task"] == "compression" and status["space"] == "asic-encoder-codec"
    df = store.query("codec")
    done = df[df["status"] == "complete"]
    assert len(done) >= 2, df[["status", "error"]]
    for _, row in done.iterrows():
        spec = ArchSpec.from_json(store.candidate(int(row["candidate_id"]))["spec"])
        # the stored hardware metrics are the cost model's for the same spec
        assert row["memory_bits"] == cost_report(spec).totals["memory_bits"]
        assert row["bits_per_pixel"] == bits_per_pixel(spec)
        assert 5.0 < row["psnr_db"] < 60.0 and row["psnr_db"] == row["val_psnr_db"]
        assert 0.0 <= row["ms_ssim"] <= 1.0 and math.isfinite(row["test_psnr_db"])
        curve = store.epochs(int(row["candidate_id"]))
        assert len(curve) == 1 and curve["val_accuracy"].isna().all()
        # mean of per-crop PSNRs >= PSNR of the mean MSE (Jensen: -log is convex)
        assert curve["val_psnr_db"].iloc[0] >= psnr_from_mse(curve["val_loss"].iloc[0]) - 1e-6
        assert curve["val_psnr_db"].iloc[0] == pytest.approx(row["psnr_db"])


def test_pareto_flags_and_hypervolume_use_json_objectives(codec_study: tuple[str, Any]
                                                          ) -> None:
    """psnr_db and bits_per_pixel live in the JSON metrics column: the flags must equal a
    brute-force non-dominated filter, and the study has a hypervolume."""
    url, _ = codec_study
    store = open_store(url)
    df = store.query("codec")
    done = df[df["status"] == "complete"]
    pts = done[["psnr_db", "bits_per_pixel"]].to_numpy()
    front = []
    for i, (q, r) in enumerate(pts):
        dominated = any(q2 >= q and r2 <= r and (q2 > q or r2 < r) for q2, r2 in pts)
        front.append(not dominated)
        assert bool(done["pareto"].iloc[i]) == (not dominated)
    assert store.refresh_pareto("codec") == sum(front)
    status = store.study_status("codec")
    assert status["pareto_size"] == sum(front)
    assert status["hypervolume"] is not None and status["hypervolume"] > 0
    assert len(store.hypervolume_history("codec")) == len(done)
    assert len(store.query("codec", pareto_only=True, where="bits_per_pixel <= 1")) == sum(front)


def test_reconstruction_artifact_is_a_three_panel_png(codec_study: tuple[str, Any]) -> None:
    from PIL import Image

    url, _ = codec_study
    store = open_store(url)
    df = store.query("codec")
    cid = int(df[df["status"] == "complete"]["candidate_id"].iloc[0])
    assert store.candidate(cid)["artifacts"] == ["model", "reconstruction"]  # model: dse.export
    mime, data = store.artifact(cid, "reconstruction")
    assert mime == "image/png" and data[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(io.BytesIO(data))
    assert img.size == (3 * 32 + 2 * 2, 32) and img.mode == "RGB"  # crop-sized, 2-px gaps
    assert len(data) < 60_000


def test_query_cli_shows_the_front(codec_study: tuple[str, Any], capsys: Any) -> None:
    from dse.cli import main

    url, _ = codec_study
    assert main(["query", "codec", "--db", url, "--pareto", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split(",")
    assert "psnr_db" in header and "bits_per_pixel" in header


def test_bits_per_pixel_budget_filters_before_training(tmp_path: Path, monkeypatch: Any
                                                       ) -> None:
    import dse.search as search

    trained: list[float] = []
    real = search.run_trial

    def counting(payload: TrialPayload, report: Any) -> TrialResult:
        trained.append(bits_per_pixel(ArchSpec.from_json(payload.spec_json)))
        return real(payload, report)

    monkeypatch.setattr(search, "run_trial", counting)
    url = f"sqlite:///{tmp_path / 'b.db'}"
    cfg = build_config(task="compression", study="b", db=url, trials=5, seed=0,
                       budgets=["bits_per_pixel<=0.07"], **{**QUICK, "max_train_batches": 1})
    run_search(cfg)
    df = open_store(url).query("b")
    assert all(t <= 0.07 for t in trained)
    over = df[df["bits_per_pixel"] > 0.07]
    assert (over["status"] == "infeasible").all()
    assert over["violated"].str.contains("bits_per_pixel<=0.07").all()


def test_run_never_raises() -> None:
    """A trial that raises is a failed result whose reason names the exception and where."""
    task = get_task("compression")
    payload = TrialPayload.from_config(build_config(task="compression"), "{not json", 0)
    out = task.run(payload, lambda m: False)
    assert out.status == "failed" and out.metrics == {} and out.epochs_run == 0
    assert out.reason is not None
    assert out.reason.startswith("SpecError: spec: malformed JSON at line 1 column 2")
    assert out.reason.endswith(")") and "(spec.py:" in out.reason


# --------------------------------------------------------------------------- artifacts
def _artifact_roundtrip(url: str) -> None:
    store = open_store(url)
    study = store.create_or_get_study(f"art-{uuid.uuid4().hex}",
                                      space="s", dataset="d", task="compression",
                                      objectives=[("psnr_db", "maximize")])
    cid, _ = store.add_candidate(study.id, "{}", "h")
    payload = bytes(range(256)) * 4  # every byte value, as bytea / blob must keep them
    store.add_artifact(cid, "reconstruction", "image/png", payload)
    assert store.artifact(cid, "reconstruction") == ("image/png", payload)
    store.add_artifact(cid, "reconstruction", "image/png", b"v2")  # replaced, not duplicated
    assert [(a["name"], a["size_bytes"]) for a in store.artifacts(cid)] == [("reconstruction",
                                                                            2)]
    with pytest.raises(StoreError, match="no artifact 'nope' \\(artifacts: reconstruction\\)"):
        store.artifact(cid, "nope")
    with pytest.raises(StoreError, match="unknown candidate id"):
        store.add_artifact(10**9, "x", "image/png", b"")
    with pytest.raises(ValueError, match="name=''"):
        store.add_artifact(cid, "", "image/png", b"")
    store.close()


def test_artifacts_on_sqlite(tmp_path: Path) -> None:
    _artifact_roundtrip(f"sqlite:///{tmp_path / 'a.db'}")


@pytest.mark.postgres
def test_artifacts_on_postgresql(pg_database: str) -> None:
    _artifact_roundtrip(pg_database)


# --------------------------------------------------------------------------- dashboard
def _find(component: Any, cid: str) -> Any:
    """The component with id ``cid`` in a Dash layout tree, or None."""
    if getattr(component, "id", None) == cid:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            found = _find(child, cid)
            if found is not None:
                return found
    return None


def test_dashboard_shows_the_rate_distortion_front_and_the_reconstruction(
        codec_study: tuple[str, Any]) -> None:
    """Pareto page: bits per pixel on x, PSNR on y, coloured by encoder memory; candidate
    page: the stored original / reconstruction / error PNG inline."""
    import base64
    import sys

    from dashboard.app import create_app

    url, _ = codec_study
    app = create_app(url, refresh_ms=0)
    assert app.server.test_client().get("/").status_code == 200  # binds the page modules
    pareto, candidate = sys.modules["pages.pareto"], sys.modules["pages.candidate"]
    layout = pareto.layout(study="codec")
    assert _find(layout, "pareto-x").value == "bits_per_pixel"
    assert _find(layout, "pareto-y").value == "psnr_db"
    assert _find(layout, "pareto-color").value == "memory_bits"
    fig = _find(layout, "pareto-graph").figure
    assert fig.layout.xaxis.title.text == "bits per pixel"
    assert fig.layout.yaxis.title.text == "PSNR (dB)"
    store = open_store(url)
    df = store.query("codec")
    cid = int(df[df["status"] == "complete"]["candidate_id"].iloc[0])
    page = candidate.layout(candidate_id=str(cid))
    img = _find(page, "candidate-reconstruction")
    prefix = "data:image/png;base64,"
    assert img is not None and img.src.startswith(prefix)
    assert base64.b64decode(img.src[len(prefix):]) == store.artifact(cid, "reconstruction")[1]
