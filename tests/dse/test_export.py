"""``dse export``: bit packing, the $readmemh writer, the atomic folder writer, the stored
trained model, bad input at the CLI, and (with the integer reference executor) a bundle that
re-reads to the codes it claims."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dse.errors import UserError
from dse.export import (
    ACCEL_FILE,
    MODEL_ARTIFACT,
    MODEL_MIME,
    Bundle,
    load_trained_model,
    model_checkpoint,
    pack_bits,
    pack_image,
    readmemh,
    stream_bytes,
    unpack,
    write_bundle,
)
from hwmodel.accel import AccelConfig


# --------------------------------------------------------------------------- bit packing
def test_pack_bits_is_lsb_first_twos_complement() -> None:
    # 1 = 001, -1 = 111, 2 = 010 (3-bit two's complement), least significant bit first
    bits = pack_bits(np.array([1, -1, 2]), 3, signed=True)
    assert bits.tolist() == [1, 0, 0, 1, 1, 1, 0, 1, 0]
    # byte 0 holds stream bits 0..7 = 1,0,0,1,1,1,0,1 -> 0b10111001; byte 1 bit 0 = 0
    assert stream_bytes(bits) == bytes([0b10111001, 0])


def test_readmemh_words_and_padding() -> None:
    bits = pack_bits(np.array([1, -1, 2]), 3, signed=True)  # 1,0,0,1, 1,1,0,1, 0
    assert readmemh(bits, 4).split() == ["9", "b", "0"]
    assert readmemh(bits, 8).split() == ["b9", "00"]
    # 5-bit words: bits 0..4 = 1,0,0,1,1 -> 0x19; bits 5..9 = 1,0,1,0,(pad) -> 0x05
    assert readmemh(bits, 5).split() == ["19", "05"]
    text = readmemh(bits, 8, header="memory w\nsecond line")
    assert text.splitlines()[:2] == ["// memory w", "// second line"]


@pytest.mark.parametrize("values,width,signed", [([4], 3, True), ([-5], 3, True),
                                                 ([8], 3, False), ([-1], 3, False)])
def test_values_that_do_not_fit_are_refused(values: list[int], width: int,
                                            signed: bool) -> None:
    with pytest.raises(ValueError, match=r"layers\[0\]\.w: values in .* do not fit 3-bit"):
        pack_bits(np.array(values), width, signed, "layers[0].w")


@dataclass(frozen=True)
class _Array:
    """Stands in for a parameter array of the integer image (what the packer reads)."""

    values: np.ndarray
    bits: int
    signed: bool
    encoding: str
    memory: str
    frac_bits: int = 0

    def stored(self) -> np.ndarray:
        return self.values & ((1 << self.bits) - 1)  # two's complement, or plain unsigned


def _read_field(data: bytes, offset: int, width: int, signed: bool) -> int:
    """One value read from a .bin with plain integer arithmetic (independent of the packer)."""
    word = int.from_bytes(data, "little")
    raw = (word >> offset) & ((1 << width) - 1)
    return raw - (1 << width) if signed and raw >> (width - 1) else raw


def test_pack_image_puts_arrays_back_to_back_per_memory() -> None:
    rng = np.random.default_rng(0)
    layers = {
        "layers[0]": {"weight": _Array(rng.integers(-1, 2, (4, 1, 3, 3)), 2, True, "ternary",
                                       "weights"),
                      "offset": _Array(rng.integers(-128, 128, 4), 8, True, "int", "norm"),
                      "shift": _Array(np.array(3), 4, False, "uint", "norm")},
        "layers[1]": {"weight": _Array(rng.integers(0, 2, (10, 36)), 1, False, "sign",
                                       "weights")},
    }
    packed = pack_image(layers)
    weights = [e for e in packed.entries if e.memory == "weights"]
    assert [(e.layer, e.offset, e.bits) for e in weights] == [("layers[0]", 0, 72),
                                                              ("layers[1]", 72, 360)]
    norm = [e for e in packed.entries if e.memory == "norm"]
    assert [(e.name, e.offset, e.bits) for e in norm] == [("offset", 0, 32), ("shift", 32, 4)]
    assert packed.bits == 72 + 360 + 32 + 4
    assert {m: len(b) for m, b in packed.memories.items()} == {"weights": 432, "norm": 36}
    for e in packed.entries:
        arr = layers[e.layer][e.name]
        data = stream_bytes(packed.memories[e.memory])
        flat = [_read_field(data, e.offset + i * e.width, e.width, e.signed)
                for i in range(e.count)]
        assert flat == arr.values.ravel().tolist()
        assert np.array_equal(unpack(packed.memories[e.memory], e), arr.stored())


# --------------------------------------------------------------------------- the folder
def _bundle() -> Bundle:
    return Bundle({"manifest.json": b"{}\n", "memories/w.bin": b"\x01\x02",
                   "vectors/input.hex": b"00\n"})


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def test_write_bundle_writes_the_folder_and_leaves_no_temporary(tmp_path: Path) -> None:
    out = write_bundle(_bundle(), tmp_path / "exp")
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "manifest.json", "memories/w.bin", "vectors/input.hex"]
    assert (out / "memories/w.bin").read_bytes() == b"\x01\x02"
    assert _siblings(out) == ["exp"]
    (tmp_path / "empty").mkdir()  # an empty folder is replaced
    write_bundle(_bundle(), tmp_path / "empty")
    assert (tmp_path / "empty" / "manifest.json").exists()


def test_write_bundle_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    out = tmp_path / "exp"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="exists and is not an empty folder"):
        write_bundle(_bundle(), out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert _siblings(out) == ["exp"]


def test_write_bundle_refuses_a_missing_parent(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        write_bundle(_bundle(), tmp_path / "no" / "exp")
    assert list(tmp_path.iterdir()) == []


def test_write_bundle_in_an_unwritable_folder() -> None:
    with pytest.raises(UserError, match="cannot write in '/proc'"):
        write_bundle(_bundle(), "/proc/tinydse-export")
    assert not os.path.exists("/proc/tinydse-export")


def test_write_bundle_failing_midway_leaves_nothing(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    real = Path.write_bytes
    calls = {"n": 0}

    def flaky(self: Path, data: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", flaky)
    with pytest.raises(UserError, match="cannot write .*No space left on device"):
        write_bundle(_bundle(), tmp_path / "exp")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- a real study
@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    """A real search on digits: two trained candidates, with their models kept."""
    import torch

    from dse.config import build_config
    from dse.search import run_search
    from dse.store import open_store

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        url = f"sqlite:///{tmp_path_factory.mktemp('export') / 'e.db'}"
        run_search(build_config(study="exp", db=url, trials=2, seed=3, epochs=2, confirm=0,
                                schedule="qat", max_train_batches=4, batch_size=32,
                                executor="local", progress=False, early_stopping=False))
    finally:
        torch.set_num_threads(threads)
    return url, open_store(url)


def _complete(store: Any) -> list[int]:
    df = store.query("exp")
    return [int(c) for c in df[df["status"] == "complete"]["candidate_id"]]


def test_a_completed_trial_keeps_its_trained_model(study: tuple[str, Any]) -> None:
    from dse.data import get_dataset
    from dse.train import evaluate
    from search_spaces.spec import ArchSpec

    _url, store = study
    done = _complete(store)
    assert done
    data = get_dataset("digits", seed=0)
    for cid in done:
        cand = store.candidate(cid)
        assert MODEL_ARTIFACT in cand["artifacts"]
        _mime, blob = store.artifact(cid, MODEL_ARTIFACT)
        model = load_trained_model(ArchSpec.from_json(cand["spec"]), blob)
        # the stored model is the one the trial measured: same test accuracy, to the sample
        # (one sample of the test split is 1/364; the store may hold a float32 mean)
        _loss, acc = evaluate(model, data.test)
        assert acc == pytest.approx(cand["evaluation"]["metrics"]["test_accuracy"], abs=1e-6)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """(exit code, stderr) of ``dse ARGV``, in-process."""
    from dse.cli import main

    capsys.readouterr()
    code = main(list(argv))
    return code, capsys.readouterr().err


def _store_model(store: Any, candidate_id: int, model: Any, stages: Any) -> None:
    """Keep ``model`` as the candidate's ``model`` artifact, as the search driver stores a
    completed trial's (dse.search: the trial's artifacts, ``store.add_artifact``)."""
    store.add_artifact(candidate_id, MODEL_ARTIFACT, MODEL_MIME, model_checkpoint(model, stages))


def _add_candidate(store: Any, status: str) -> int:
    """A candidate of study ``exp`` (a random spec it never trained) whose evaluation is
    ``status``; a ``complete`` one has no stored model."""
    import random

    from hwmodel.randspec import random_spec

    spec = random_spec(random.Random(len(status) + 11), n_layers=3)
    rec = store.get_study("exp")
    cid, _ = store.add_candidate(rec.id, spec.to_json(), spec.hash)
    ev = store.start_evaluation(cid, None)
    if status != "running":
        store.finish_evaluation(ev, status)
    return cid


@pytest.mark.parametrize("case", ["unknown-study", "unknown-candidate", "other-study",
                                  "pruned", "running", "no-model", "unwritable",
                                  "not-empty", "bad-vectors"])
def test_cli_bad_input_is_one_line_exit_2_nothing_written(
        study: tuple[str, Any], case: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    url, store = study
    out = tmp_path / "exp-out"
    good = str(_complete(store)[0])
    argv = {"unknown-study": ["nope", good],
            "unknown-candidate": ["exp", "999999"],
            "other-study": None, "pruned": None, "running": None, "no-model": None,
            "unwritable": ["exp", good],
            "not-empty": ["exp", good],
            "bad-vectors": ["exp", good, "--vectors", "0"]}[case]
    expect = {"unknown-study": "unknown study 'nope'",
              "unknown-candidate": "unknown candidate id 999999",
              "other-study": "belongs to study 'other', not 'exp'",
              "pruned": "is 'pruned': only a complete candidate",
              "running": "is 'running': only a complete candidate",
              "no-model": "has no stored model",
              "unwritable": "cannot write in '/proc'",
              "not-empty": "exists and is not an empty folder",
              "bad-vectors": "--vectors=0 must be an integer >= 1"}[case]
    if case == "other-study":
        other = store.create_or_get_study("other", space="tiny", dataset="digits",
                                          objectives=[("accuracy", "maximize")])
        cid, _ = store.add_candidate(other.id, store.candidate(int(good))["spec"], "h-other")
        argv = ["exp", str(cid)]
    elif case in ("pruned", "running"):
        argv = ["exp", str(_add_candidate(store, case))]
    elif case == "no-model":
        argv = ["exp", str(_add_candidate(store, "complete"))]
    if case == "unwritable":
        out = Path("/proc/tinydse-export-test")
    if case == "not-empty":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    before = sorted(p.name for p in out.parent.iterdir() if out.name in p.name)
    code, err = _cli(capsys, "export", *argv, "--out", str(out), "--db", url)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], err
    assert sorted(p.name for p in out.parent.iterdir() if out.name in p.name) == before
    if case == "not-empty":
        assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_cli_candidate_must_be_an_integer(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _cli(capsys, "export", "exp", "seven", "--out", str(tmp_path / "x"), "--db",
                     f"sqlite:///{tmp_path / 'none.db'}")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "'seven'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- image = cost
def _deployable_specs() -> list[Any]:
    """Every reference configuration and random specs (2-D and video) of hwmodel.randspec."""
    import random

    from hwmodel.randspec import random_spec
    from search_spaces.spaces import get_reference, list_references

    refs = [get_reference(r) for r in list_references()]
    rand = [random_spec(random.Random(s), n_layers=4 + s % 9, video=s % 4 == 0)
            for s in range(40)]
    return refs + rand


def test_image_bits_equal_the_cost_models_stored_parameter_bits() -> None:
    from hwmodel.cost import cost_report
    from hwmodel.golden import random_image

    for i, spec in enumerate(_deployable_specs()):
        packed = pack_image(random_image(spec, np.random.default_rng(i)).layers)
        totals = cost_report(spec).totals
        stored = totals["weight_memory_bits"] + totals["norm_memory_bits"]
        assert packed.bits == stored, spec.name or i
        assert sum(len(b) for b in packed.memories.values()) == stored
        # and per kind: weights and CA seeds/rules vs normalization (offsets or thresholds)
        mem = {m: len(b) for m, b in packed.memories.items()}
        assert mem.get("weights", 0) + mem.get("ca_seed", 0) == totals["weight_memory_bits"]
        assert mem.get("norm", 0) + mem.get("thresholds", 0) == totals["norm_memory_bits"]


# --------------------------------------------------------------------------- re-read a bundle
def _hex_words(text: str) -> list[int]:
    return [int(line, 16) for line in text.splitlines() if line and not line.startswith("//")]


def _signed(raw: int, width: int) -> int:
    return raw - (1 << width) if raw >> (width - 1) else raw


def _decode(raw: int, width: int, encoding: str) -> int:
    """A stored field to its value, as docs/export.md tells a testbench writer."""
    if encoding == "twos":
        return _signed(raw, width)
    if encoding == "odd":
        return 2 * raw - ((1 << width) - 1)
    assert encoding == "unsigned"
    return raw


def reread(folder: Path) -> tuple[dict[str, Any], Any, dict[str, np.ndarray]]:
    """(manifest, the integer image, the test-vector tensors by name) read back from an
    export folder with plain integer arithmetic, from the .bin and the .hex files alike."""
    from hwmodel.cost import CostParams
    from hwmodel.golden import IntegerImage, ParamArray
    from search_spaces.spec import ArchSpec

    manifest = json.loads((folder / "manifest.json").read_text())
    word_bits = manifest["word_bits"]
    streams: dict[str, int] = {}
    for mem in manifest["memories"]:
        from_bin = int.from_bytes((folder / mem["bin"]).read_bytes(), "little")
        words = _hex_words((folder / mem["hex"]).read_text())
        assert len(words) == mem["words"] == -(-mem["bits"] // word_bits)
        from_hex = sum(w << (k * word_bits) for k, w in enumerate(words))
        assert from_bin == from_hex and from_bin >> mem["bits"] == 0  # zero padding
        streams[mem["name"]] = from_bin
    layers: dict[str, dict[str, Any]] = {}
    for p in manifest["params"]:
        stream, w = streams[p["memory"]], p["width"]
        values = [_decode((stream >> (p["offset"] + i * w)) & ((1 << w) - 1), w, p["encoding"])
                  for i in range(p["count"])]
        layers.setdefault(p["layer"], {})[p["name"]] = ParamArray(
            p["name"], np.array(values, dtype=np.int64).reshape(p["shape"]), w, p["signed"],
            p["encoding"], p["memory"], p["frac_bits"])
    spec = ArchSpec.from_dict(manifest["spec"])
    assert spec.hash == manifest["spec_hash"]
    image = IntegerImage(spec, layers, CostParams(**manifest["cost_params"]))
    image.validate()
    tensors: dict[str, np.ndarray] = {}
    n = manifest["vectors"]["count"]
    for t in manifest["vectors"]["tensors"]:
        raw = _hex_words((folder / t["file"]).read_text())
        assert len(raw) == t["lines"] == n * int(np.prod(t["shape"], dtype=np.int64))
        vals = [_signed(v, t["width"]) if t["signed"] else v for v in raw]
        tensors[t["name"]] = np.array(vals, dtype=np.int64).reshape(n, *t["shape"])
    return manifest, image, tensors


def assert_self_consistent(folder: Path) -> dict[str, Any]:
    """Re-read an export folder (:func:`reread`), run the integer executor with the image read
    back on the vectors' inputs, and check that it gives every layer's codes and the final
    tensor the files claim; the manifest."""
    from hwmodel.golden import execute
    from search_spaces.spec import ArchSpec

    manifest, image, tensors = reread(folder)
    spec = ArchSpec.from_dict(manifest["spec"])
    result = execute(spec, image, tensors["input"], keep_codes=True)
    layers = manifest["vectors"]["tensors"][1:-1]
    assert [t["layer"] for t in layers] == [i.path for i in spec.iter_layers()]
    for t in layers:
        assert np.array_equal(tensors[t["name"]], result.codes[t["layer"]]), t["layer"]
    assert np.array_equal(tensors[manifest["vectors"]["output"]], result.logits)
    if manifest["vectors"]["output"] == "logits":
        assert manifest["vectors"]["predictions"] == result.predict().tolist()
    assert manifest["vectors"]["macs"] == result.macs
    assert [a["layer"] for a in manifest["accumulators"]] == list(result.macs)
    return manifest


def _codec_spec() -> Any:
    """A patch encoder of the compression task (RGB 8x8 patches, 8 code bits)."""
    import random

    from search_spaces.spaces import get_space

    space = get_space("asic-encoder-codec", input_shape=(3, 32, 32), num_classes=10)
    return space.from_choices({**space.random_choices(random.Random(2)), "patch": 8,
                               "code_bits": 8})


@pytest.mark.parametrize("which", ["mognet-digits", "billnet-gestures", "asic-encoder-digits",
                                   "heq-resnet-digits", "codec", "random-0", "random-5",
                                   "random-8"])
def test_a_bundle_rereads_to_the_codes_it_claims(which: str, tmp_path: Path) -> None:
    import random

    from dse.export import build_bundle
    from hwmodel.golden import execute, input_codes, random_image
    from hwmodel.randspec import random_spec
    from search_spaces.spaces import get_reference

    seed = int(which.split("-")[1]) if which.startswith("random") else 1
    if which.startswith("random"):
        spec = random_spec(random.Random(seed), n_layers=7, video=seed % 4 == 0)
    else:
        spec = _codec_spec() if which == "codec" else get_reference(which)
    rng = np.random.default_rng(seed)
    image = random_image(spec, rng)
    x = input_codes(spec, rng.random((3, *spec.input_shape)))
    output = "patch_codes" if which == "codec" else "logits"
    bundle = build_bundle(spec, image, x, word_bits=24 if seed % 2 else 32, output_kind=output)
    folder = write_bundle(bundle, tmp_path / "exp")
    manifest, back, tensors = reread(folder)
    assert_self_consistent(folder)
    # the image read back is the exported one, array by array
    for path, arrays in image.layers.items():
        for name, arr in arrays.items():
            assert np.array_equal(back.layers[path][name].values, arr.values), (path, name)
    assert manifest["image_bits"] == image.bits() == sum(p["bits"] for p in manifest["params"])
    # and the codes are the original image's
    assert np.array_equal(tensors["input"], x)
    assert np.array_equal(tensors[output], execute(spec, image, x).logits)
    last = manifest["vectors"]["tensors"][-1]
    if which == "codec":  # the encoder's vectors end in the M binary codes of each patch
        assert (last["name"], last["shape"], last["width"], last["signed"]) == (
            "patch_codes", [8], 1, False)
        assert manifest["vectors"]["predictions"] is None
    else:
        assert (last["name"], last["signed"]) == ("logits", True)
# --------------------------------------------------------------------------- a trained candidate
def test_export_of_a_trained_candidate_is_the_trained_network(
        study: tuple[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``dse export`` of a real trained candidate: the folder re-reads to its codes, and they
    are the trained torch model's (deployed form), layer by layer, on the same test inputs."""
    import torch

    from dse.data import get_dataset
    from search_spaces.deploy import torch_codes
    from search_spaces.spec import ArchSpec

    url, store = study
    cid = _complete(store)[0]
    code, err = _cli(capsys, "export", "exp", str(cid), "--out", str(tmp_path / "b"),
                     "--vectors", "12", "--db", url)
    assert code == 0, err
    manifest = assert_self_consistent(tmp_path / "b")
    _manifest, _image, tensors = reread(tmp_path / "b")
    assert manifest["candidate_id"] == cid and manifest["vectors"]["count"] == 12
    test = get_dataset("digits", seed=0).test
    assert manifest["vectors"]["labels"] == [int(test[i][1]) for i in range(12)]
    cand = store.candidate(cid)
    _mime, blob = store.artifact(cid, MODEL_ARTIFACT)
    model = load_trained_model(ArchSpec.from_json(cand["spec"]), blob)
    logits, codes = torch_codes(model, torch.stack([test[i][0] for i in range(12)]))
    assert np.array_equal(tensors["logits"], logits)
    for t in manifest["vectors"]["tensors"][1:-1]:
        assert np.array_equal(tensors[t["name"]], codes[t["layer"]]), t["layer"]


def test_export_refuses_too_many_vectors_and_an_undeployed_model(
        study: tuple[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dse.data import get_dataset
    from dse.train import get_schedule
    from search_spaces.build import build_model
    from search_spaces.spec import ArchSpec

    url, store = study
    good = _complete(store)[0]
    out = tmp_path / "b"
    code, err = _cli(capsys, "export", "exp", str(good), "--out", str(out), "--vectors",
                     "100000", "--db", url)
    assert code == 2 and err.strip().count("\n") == 0
    n_test = len(get_dataset("digits", seed=0).test)
    assert f"--vectors=100000 must be <= {n_test}, the inputs of the test split of 'digits'" \
        in err
    assert list(tmp_path.iterdir()) == []
    # a model trained without the deployed stage has no integer image
    cid = _add_candidate(store, "complete")
    spec = ArchSpec.from_json(store.candidate(cid)["spec"])
    _store_model(store, cid, build_model(spec), get_schedule("qat", 2))
    code, err = _cli(capsys, "export", "exp", str(cid), "--out", str(out), "--db", url)
    assert code == 2 and err.strip().count("\n") == 0
    assert f"candidate {cid} of study 'exp' cannot be exported: model: not deployed" in err
    assert list(tmp_path.iterdir()) == []


def test_export_of_a_patch_encoder_ends_in_the_decoders_patch_codes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A compression candidate exports its on-chip encoder: the inputs are the test images'
    patches in the codec's order and the vectors end in the M bits per patch the torch
    encoder sends to the decoder."""
    import torch

    from dse.codec import PatchEncoder, split_images
    from dse.data import get_dataset
    from dse.store import open_store
    from dse.train import deployable, get_schedule
    from search_spaces.build import build_model
    from search_spaces.deploy import set_deployed

    url = f"sqlite:///{tmp_path / 'c.db'}"
    params = {"n_train": 16, "n_val": 8, "n_test": 2, "crop_size": 16}
    store = open_store(url)
    rec = store.create_or_get_study("codec", space="asic-encoder-codec", dataset="sample-images",
                                    task="compression", config={"dataset_params": params,
                                                                "seed": 0},
                                    objectives=[("psnr_db", "maximize")])
    spec = _codec_spec()
    cid, _ = store.add_candidate(rec.id, spec.to_json(), spec.hash)
    store.finish_evaluation(store.start_evaluation(cid, 0), "complete", metrics={"psnr_db": 9.0})
    images = split_images(get_dataset("sample-images", seed=0, **params).test)
    torch.manual_seed(0)
    model = build_model(spec)
    set_deployed(model)
    model.train()
    with torch.no_grad():  # the deployed BSN layers fit their shifts and offsets to a batch
        model(torch.rand(64, *spec.input_shape))
    model.eval()
    _store_model(store, cid, model, deployable(get_schedule("qat", 2)))
    code, err = _cli(capsys, "export", "codec", str(cid), "--out", str(tmp_path / "b"),
                     "--vectors", "5", "--db", url)
    assert code == 0, err
    manifest = assert_self_consistent(tmp_path / "b")
    _m, _image, tensors = reread(tmp_path / "b")
    assert manifest["vectors"]["output"] == "patch_codes" and manifest["vectors"]["labels"] is None
    # (N, M, H/P, W/P) codes of the torch encoder -> patches in raster order, image by image
    with torch.no_grad():
        sent = PatchEncoder(model, 8)(images).permute(0, 2, 3, 1).reshape(-1, 8)
    assert np.array_equal(tensors["patch_codes"], sent[:5].numpy().astype(np.int64))
    assert set(np.unique(tensors["patch_codes"]).tolist()) <= {0, 1}


def test_a_cosearch_pair_exports_the_network_its_sibling_trained(
        study: tuple[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Co-search trains a network once for all its accelerators: a pair that reused the
    training exports the model its sibling kept."""
    from search_spaces.spec import ArchSpec

    url, store = study
    trained = _complete(store)[0]
    cand = store.candidate(trained)
    rec = store.get_study("exp")
    network = ArchSpec.from_json(cand["spec"]).hash
    pair, _ = store.add_candidate(rec.id, cand["spec"], f"{network}+accel", network_hash=network)
    hw = cand["hardware"]
    store.finish_evaluation(store.start_evaluation(pair, None), "complete",
                            metrics={k: v for k, v in cand["evaluation"]["metrics"].items()
                                     if k not in hw["metrics"]})
    own = AccelConfig.from_dict(hw["accel"]).with_(rows=hw["accel"]["rows"] * 2)
    store.record_hardware(pair, hw["metrics"], hw["per_layer"], own.to_dict())
    assert MODEL_ARTIFACT not in store.candidate(pair)["artifacts"]
    for cid, out in ((pair, "a"), (trained, "b")):
        code, err = _cli(capsys, "export", "exp", str(cid), "--out", str(tmp_path / out),
                         "--db", url)
        assert code == 0, err
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*"))
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.*"))
    assert Path(ACCEL_FILE) in files
    for rel in files:
        if rel.name not in ("manifest.json", ACCEL_FILE):
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    # The hardware half is each pair's own accelerator, loadable as --accel.
    assert AccelConfig.from_file(tmp_path / "a" / ACCEL_FILE) == own
    assert AccelConfig.from_file(tmp_path / "b" / ACCEL_FILE) == AccelConfig.from_dict(hw["accel"])
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["network_hash"] == network
    assert manifest["accelerator"] == {"file": ACCEL_FILE, **own.to_dict()}
