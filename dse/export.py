"""Export a trained candidate for a hardware flow: parameter image, manifest, test vectors.

``dse export STUDY CANDIDATE --out DIR`` (and :func:`export_candidate`) writes one folder:

* ``memories/<memory>.bin`` and ``memories/<memory>.hex``: the parameter image of each on-chip
  memory (weights packed at their bit width, CA seeds and rules, shifts, offsets or
  thresholds), as raw bytes and as a Verilog ``$readmemh`` file;
* ``manifest.json``: where each parameter array lives (layer, memory, bit offset, width,
  shape, encoding), the accumulator width of every matrix op, and the test vectors' files;
* ``vectors/*.hex``: N inputs of the test split, the expected output codes of every layer and
  the logits (for a compression candidate: the binary patch codes the off-chip decoder
  receives), one element per line;
* ``accel.yaml``: the accelerator the candidate was costed on (a co-search pair's own), in the
  form ``--accel`` and :meth:`hwmodel.accel.AccelConfig.from_file` read; the manifest's
  ``accelerator`` repeats it (and ``network_hash`` names the trained network of a pair).

The format is documented for testbench writers in ``docs/export.md``; the packing rules are
:func:`pack_bits` (the bit stream) and :func:`readmemh` (its words). The image is the one the
integer reference executor (:mod:`hwmodel.golden`) runs, and the bundle's expected codes are
that executor's, so an RTL simulation that matches them computes what the cost model charges.

The trained network comes from the candidate's ``model`` artifact: a trial that completes
returns its final model as a tinydse checkpoint (:func:`model_checkpoint`), which the search
driver stores with the result, so exporting never retrains. Bad input (an unknown study or
candidate, a candidate that did not complete, a folder that cannot be written) raises
:class:`dse.errors.UserError`; the folder is written in a temporary sibling and renamed, so a
failure leaves nothing half-written.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dse.errors import UserError
from dse.status import Status

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from dse.store import Store
    from dse.train import Stage
    from search_spaces.spec import ArchSpec

#: Name and MIME type of the candidate artifact that holds the trained model.
MODEL_ARTIFACT = "model"
MODEL_MIME = "application/x-tinydse-checkpoint"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "tinydse-export"
MANIFEST_VERSION = 1
#: Default width of one memory word in the ``$readmemh`` files.
DEFAULT_WORD_BITS = 32
#: Default number of test vectors.
DEFAULT_VECTORS = 8
MAX_WORD_BITS = 64


#: How a stored field ``s`` of ``b`` bits decodes to its value (:class:`hwmodel.golden.
#: ParamArray`'s encodings), as the manifest states it for testbench writers.
ENCODING_RULES = {
    "twos": "two's complement: v = s - 2^b if s >= 2^(b-1) else s",
    "odd": "odd integers: v = 2 s - (2^b - 1) (1 bit: 0 -> -1, 1 -> +1)",
    "unsigned": "v = s",
}


class ParamLike(Protocol):
    """What the packer reads of a parameter array (:class:`hwmodel.golden.ParamArray`)."""

    @property
    def bits(self) -> int: ...
    @property
    def signed(self) -> bool: ...
    @property
    def encoding(self) -> str: ...
    @property
    def memory(self) -> str: ...
    @property
    def frac_bits(self) -> int: ...
    def stored(self) -> np.ndarray:
        """The unsigned field values as written to memory."""
        ...


# ---------------------------------------------------------------------- bit packing
def _check_range(values: np.ndarray, width: int, signed: bool, what: str) -> None:
    if values.size == 0:
        return
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    vmin, vmax = int(values.min()), int(values.max())
    if vmin < lo or vmax > hi:
        kind = "signed" if signed else "unsigned"
        raise ValueError(f"{what}: values in [{vmin}, {vmax}] do not fit {width}-bit {kind} "
                         f"[{lo}, {hi}]")


def pack_bits(values: np.ndarray, width: int, signed: bool, what: str = "values") -> np.ndarray:
    """The bit stream of integer ``values`` (C order), ``width`` bits each, least significant
    bit first: element i occupies stream bits ``[i*width, (i+1)*width)``; a signed value is
    stored in two's complement. Returns a uint8 array of 0/1, ``values.size * width`` long.
    Values that do not fit raise ``ValueError`` naming ``what``."""
    import numpy as np

    if not 1 <= width <= MAX_WORD_BITS:
        raise ValueError(f"{what}: width={width} must be in 1..{MAX_WORD_BITS}")
    flat = np.asarray(values).astype(np.int64, copy=False).ravel()
    _check_range(flat, width, signed, what)
    unsigned = flat.view(np.uint64) & np.uint64((1 << width) - 1) if width < 64 \
        else flat.view(np.uint64)
    shifts = np.arange(width, dtype=np.uint64)
    return ((unsigned[:, None] >> shifts) & np.uint64(1)).astype(np.uint8).ravel()


def stream_bytes(bits: np.ndarray) -> bytes:
    """A bit stream as bytes: stream bit j is bit ``j % 8`` of byte ``j // 8`` (the last byte
    zero-padded). This is the ``.bin`` file of a memory."""
    import numpy as np

    return np.packbits(bits.astype(np.uint8), bitorder="little").tobytes()


def readmemh(bits: np.ndarray, word_bits: int, header: str = "") -> str:
    """A bit stream as a ``$readmemh`` file: one ``word_bits``-bit word per line, word 0 first,
    most significant hex digit first; stream bit j is bit ``j % word_bits`` of word
    ``j // word_bits`` (the last word zero-padded). ``header`` becomes ``//`` comment lines."""
    import numpy as np

    if not 1 <= word_bits <= MAX_WORD_BITS:
        raise ValueError(f"word_bits={word_bits} must be in 1..{MAX_WORD_BITS}")
    digits = -(-word_bits // 4)
    words = -(-len(bits) // word_bits)
    padded = np.zeros(words * word_bits, dtype=np.uint8)
    padded[:len(bits)] = bits
    rows = np.zeros((words, digits * 4), dtype=np.uint8)
    rows[:, :word_bits] = padded.reshape(words, word_bits)
    nibbles = rows.reshape(words, digits, 4) @ np.array([1, 2, 4, 8], dtype=np.uint8)
    table = np.array(list("0123456789abcdef"))
    lines = ["".join(r) for r in table[nibbles[:, ::-1]]]
    comments = [f"// {line}" for line in header.splitlines()] if header else []
    return "\n".join(comments + lines) + "\n"


# ---------------------------------------------------------------------- the parameter image
@dataclass(frozen=True)
class ParamEntry:
    """Where one parameter array lives: ``offset`` and ``width`` in bits in ``memory``."""

    layer: str
    name: str
    memory: str
    offset: int
    width: int
    shape: tuple[int, ...]
    signed: bool
    encoding: str
    frac_bits: int = 0

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def bits(self) -> int:
        return self.count * self.width

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "name": self.name, "memory": self.memory,
                "offset": self.offset, "width": self.width, "shape": list(self.shape),
                "count": self.count, "bits": self.bits, "signed": self.signed,
                "encoding": self.encoding, "frac_bits": self.frac_bits}


@dataclass(frozen=True)
class PackedImage:
    """The parameter image as one bit stream per memory, and the entries that address it."""

    entries: tuple[ParamEntry, ...]
    memories: dict[str, np.ndarray]

    @property
    def bits(self) -> int:
        """Stored parameter bits: the sum over entries (no padding)."""
        return sum(e.bits for e in self.entries)


def pack_image(layers: Mapping[str, Mapping[str, ParamLike]]) -> PackedImage:
    """Pack every parameter array of an image (``{layer path: {name: array}}``, in execution
    order) into its memory, back to back in that order, each element's stored field
    (``array.stored()``, C order) at the array's bit width. There is no alignment, so the
    image's bits are the sum of ``count * width``."""
    import numpy as np

    entries: list[ParamEntry] = []
    streams: dict[str, list[np.ndarray]] = {}
    offsets: dict[str, int] = {}
    for path, params in layers.items():
        for name, arr in params.items():
            fields = np.asarray(arr.stored())
            mem = str(arr.memory)
            bits = pack_bits(fields, int(arr.bits), False, f"{path}.{name}")
            entries.append(ParamEntry(path, name, mem, offsets.get(mem, 0), int(arr.bits),
                                      tuple(int(s) for s in fields.shape), bool(arr.signed),
                                      str(arr.encoding), int(arr.frac_bits)))
            streams.setdefault(mem, []).append(bits)
            offsets[mem] = offsets.get(mem, 0) + len(bits)
    memories = {m: np.concatenate(parts) for m, parts in streams.items()}
    return PackedImage(tuple(entries), memories)


def unpack(bits: np.ndarray, entry: ParamEntry) -> np.ndarray:
    """The stored fields of ``entry`` read back from its memory's bit stream (the inverse of
    :func:`pack_image` for one entry), unsigned, in the entry's shape."""
    import numpy as np

    chunk = bits[entry.offset:entry.offset + entry.bits].reshape(entry.count, entry.width)
    weights = (np.uint64(1) << np.arange(entry.width, dtype=np.uint64))
    raw = (chunk.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64).astype(np.int64)
    return raw.reshape(entry.shape)


# ---------------------------------------------------------------------- test vectors
@dataclass(frozen=True)
class Tensor:
    """One test-vector tensor: every vector's ``shape``-element tensor, ``width`` bits each."""

    name: str
    layer: str | None
    values: np.ndarray  # (N, *shape) int64
    width: int
    signed: bool

    def file(self) -> str:
        return f"vectors/{self.name}.hex"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "layer": self.layer, "file": self.file(),
                "shape": list(self.values.shape[1:]), "width": self.width,
                "signed": self.signed, "lines": int(self.values.size)}


def tensor_formats(spec: ArchSpec) -> dict[str, tuple[int, bool]]:
    """(width, signed) of the input and of each leaf layer's output tensor on the chip, by
    path (``"input"`` first), as :func:`hwmodel.golden.execute` computes them: activation
    codes are unsigned at the layer's bits; a binarized LSTM's ``h`` in {-1, 0, +1} is 2-bit
    two's complement; a tensor the spec leaves unquantized is the signed accumulator at the
    hardware IR's output width of its layer."""
    from hwmodel.ir import lower
    from search_spaces.spec import FLOAT_BITS, LSTM

    ir_bits = {op.path: op.out_bits for op in lower(spec)}  # the last op of a path wins
    out: dict[str, tuple[int, bool]] = {"input": (spec.input_bits, False)}
    for info in spec.iter_layers():
        if isinstance(info.layer, LSTM):
            out[info.path] = (2, True)
        elif info.out_bits < FLOAT_BITS:
            out[info.path] = (info.out_bits, False)
        else:
            out[info.path] = (ir_bits.get(info.path, FLOAT_BITS), True)
    return out


def accumulators(spec: ArchSpec) -> list[dict[str, Any]]:
    """The accumulator width of every matrix op of the hardware IR, in execution order."""
    from hwmodel.ir import lower

    return [{"layer": op.path, "op": op.op, "acc_bits": op.acc_bits}
            for op in lower(spec) if op.is_matrix]


# ---------------------------------------------------------------------- the bundle
@dataclass(frozen=True)
class Bundle:
    """An export in memory: relative path -> file bytes (``manifest.json`` included)."""

    files: dict[str, bytes]

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads(self.files[MANIFEST])  # type: ignore[no-any-return]

    def zip_bytes(self) -> bytes:
        """The bundle as a zip archive (the dashboard's download), paths as in the folder."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(self.files):
                zf.writestr(name, self.files[name])
        return buf.getvalue()


def build_bundle(spec: ArchSpec, image: Any, x_codes: np.ndarray, *,
                 word_bits: int = DEFAULT_WORD_BITS, output_kind: str = "logits",
                 labels: Sequence[int] | None = None,
                 meta: Mapping[str, Any] | None = None) -> Bundle:
    """The files of an export of ``spec`` with its integer ``image``
    (:class:`hwmodel.golden.IntegerImage`) and the input codes ``x_codes`` (N, *input_shape)
    of the test vectors, whose expected codes the integer reference executor computes.

    ``output_kind`` names the final tensor (``logits``, or ``patch_codes`` for a compression
    encoder); ``labels`` (one per vector) and ``meta`` (e.g. the study and candidate) go to the
    manifest."""
    import numpy as np

    from hwmodel.golden import execute

    if not 1 <= word_bits <= MAX_WORD_BITS:
        raise UserError(f"--word-bits={word_bits} must be an integer in 1..{MAX_WORD_BITS}")
    packed = pack_image(image.layers)
    files: dict[str, bytes] = {}
    memories = []
    for mem, bits in packed.memories.items():
        stem = f"memories/{mem}"
        header = (f"tinydse memory {mem!r}: {len(bits)} bits in {word_bits}-bit words; "
                  f"bit j = word j/{word_bits}, bit j%{word_bits}")
        files[f"{stem}.bin"] = stream_bytes(bits)
        files[f"{stem}.hex"] = readmemh(bits, word_bits, header).encode()
        memories.append({"name": mem, "bits": int(len(bits)),
                         "words": -(-len(bits) // word_bits), "bytes": len(files[f"{stem}.bin"]),
                         "bin": f"{stem}.bin", "hex": f"{stem}.hex"})

    x_codes = np.asarray(x_codes, dtype=np.int64)
    result = execute(spec, image, x_codes, keep_codes=True)
    formats = tensor_formats(spec)
    tensors = []
    for i, (path, codes) in enumerate(result.codes.items()):
        width, signed = formats[path]
        name = "input" if path == "input" else f"layer{i:02d}"
        tensors.append(Tensor(name, None if path == "input" else path,
                              np.asarray(codes, np.int64), width, signed))
    last_path = list(spec.iter_layers())[-1].path
    out_width, out_signed = formats[last_path]
    tensors.append(Tensor(output_kind, last_path, np.asarray(result.logits, np.int64),
                          out_width, out_signed))
    for t in tensors:
        bits = pack_bits(t.values, t.width, t.signed, f"vectors {t.name}")
        header = (f"tinydse vectors {t.name} ({t.layer or 'input codes'}): "
                  f"{len(t.values)} x {list(t.values.shape[1:])}, {t.width}-bit "
                  f"{'signed' if t.signed else 'unsigned'}, one element per line")
        files[t.file()] = readmemh(bits, t.width, header).encode()

    manifest = {
        "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, **dict(meta or {}),
        "spec_hash": spec.hash, "spec": spec.to_dict(),
        "cost_params": asdict(image.params),
        "word_bits": word_bits,
        "image_bits": packed.bits,
        "bit_order": "stream bit j = bit j % 8 of byte j // 8 of the .bin = bit j % word_bits "
                     "of word j // word_bits of the .hex; element i of a param at bits "
                     "offset + i*width .. offset + (i+1)*width - 1, least significant first",
        "encodings": ENCODING_RULES,
        "memories": memories,
        "params": [e.to_dict() for e in packed.entries],
        "accumulators": accumulators(spec),
        "vectors": {
            "count": int(len(x_codes)), "output": output_kind,
            "labels": None if labels is None else [int(v) for v in labels],
            "predictions": [int(v) for v in result.predict()]
            if output_kind == "logits" else None,
            "macs": {k: int(v) for k, v in dict(result.macs).items()},
            "tensors": [t.to_dict() for t in tensors],
        },
    }
    files[MANIFEST] = (json.dumps(manifest, indent=1) + "\n").encode()
    return Bundle(files)


# ---------------------------------------------------------------------- writing
def _check_out(out: str | os.PathLike[str]) -> tuple[Path, Path]:
    """(target, parent) of an ``--out`` folder: a new or empty folder in an existing one."""
    target = Path(out)
    parent = target.absolute().parent
    if not parent.is_dir():
        raise UserError(f"--out={str(out)!r}: the folder {str(parent)!r} does not exist")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UserError(f"--out={str(out)!r} exists and is not an empty folder "
                        "(choose a new folder)")
    return target, parent


@contextmanager
def staged_folder(out: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary sibling of ``out`` to write into, renamed to ``out`` when the block ends
    without error and removed otherwise: nothing half-written is ever left. ``out`` must be
    new or an empty folder in a writable folder (else :class:`UserError`, before the block
    runs)."""
    target, parent = _check_out(out)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise UserError(f"--out={str(out)!r}: cannot write in {str(parent)!r} "
                        f"({exc.strerror or exc})") from None
    try:
        tmp.chmod(0o755)
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_files(bundle: Bundle, folder: Path, out: str | os.PathLike[str]) -> None:
    try:
        for rel, data in bundle.files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    except OSError as exc:
        raise UserError(f"--out={str(out)!r}: cannot write ({exc.strerror or exc})") from None


def write_bundle(bundle: Bundle, out: str | os.PathLike[str]) -> Path:
    """Write ``bundle`` as the new folder ``out``, atomically (:func:`staged_folder`)."""
    with staged_folder(out) as tmp:
        _write_files(bundle, tmp, out)
    return Path(out)


# ---------------------------------------------------------------------- the trained model
def model_checkpoint(model: nn.Module, stages: Sequence[Stage], seed: int = 0) -> bytes:
    """The trained ``model`` as tinydse checkpoint bytes (:func:`dse.train.save_checkpoint`
    after the last of ``stages``), loadable by :func:`load_trained_model`."""
    from dse.train import Checkpoint, save_checkpoint

    stages = list(stages)
    epochs = sum(s.epochs for s in stages)
    with tempfile.TemporaryDirectory(prefix="tinydse-model-") as folder:
        path = os.path.join(folder, "model.pt")
        save_checkpoint(path, model, None, Checkpoint(stages, len(stages) - 1,
                                                      stages[-1].epochs, epochs, [], seed))
        with open(path, "rb") as fh:
            return fh.read()


def load_trained_model(spec: ArchSpec, blob: bytes) -> nn.Module:
    """The model of ``spec`` with the trained state of a ``model`` artifact, its stage
    switches replayed (so BSN folding and the quantizers are as at the end of training), in
    eval mode."""
    from dse.train import load_checkpoint
    from search_spaces.build import build_model

    model = build_model(spec)
    with tempfile.TemporaryDirectory(prefix="tinydse-model-") as folder:
        path = os.path.join(folder, "model.pt")
        with open(path, "wb") as fh:
            fh.write(blob)
        load_checkpoint(path, model)
    return model.eval()


# ---------------------------------------------------------------------- from the store
def _test_inputs(study: Any, spec: ArchSpec, n: int) -> tuple[np.ndarray, list[int] | None,
                                                               str]:
    """(the first ``n`` float inputs of the study's test split, their labels or None, the
    output kind). A compression encoder's inputs are the patches of the test images in the
    order the codec cuts them (image by image, raster order)."""
    import torch

    from dse.data import get_dataset

    cfg = study.config or {}
    data = get_dataset(study.dataset, root=cfg.get("data_root"), seed=int(cfg.get("seed", 0)),
                       **dict(cfg.get("dataset_params") or {}))
    test = data.test
    if study.task == "compression":
        from dse.codec import patches, split_images

        x = patches(split_images(test), spec.input_shape[-1])
        labels, kind = None, "patch_codes"
    else:
        count = min(n, len(test))
        items = [test[i] for i in range(count)]
        x = torch.stack([torch.as_tensor(it[0]).float() for it in items]) if items else \
            torch.zeros((0, *spec.input_shape))
        labels, kind = [int(it[1]) for it in items], "logits"
    if n > len(x):
        raise UserError(f"--vectors={n} must be <= {len(x)}, the inputs of the test split "
                        f"of {study.dataset!r}")
    return x[:n].numpy(), labels, kind


ACCEL_FILE = "accel.yaml"


def candidate_bundle(store: Store, study: str, candidate_id: int, *,
                     vectors: int = DEFAULT_VECTORS,
                     word_bits: int = DEFAULT_WORD_BITS,
                     training: int | None = None) -> Bundle:
    """The export bundle of a complete candidate of ``study`` (by candidate id), built from
    its stored trained model: the search's, or with ``training`` the model that complete
    ``dse train`` run of the candidate left. Unknown study or candidate, a candidate of
    another study, one that did not complete or has no stored model, an unknown or unfinished
    training, or bad ``vectors``/``word_bits``: :class:`UserError`."""
    from search_spaces.spec import ArchSpec

    if not isinstance(vectors, int) or isinstance(vectors, bool) or vectors < 1:
        raise UserError(f"--vectors={vectors!r} must be an integer >= 1")
    if not isinstance(word_bits, int) or not 1 <= word_bits <= MAX_WORD_BITS:
        raise UserError(f"--word-bits={word_bits!r} must be an integer in 1..{MAX_WORD_BITS}")
    rec = store.get_study(study)
    cand = store.candidate(int(candidate_id))
    if cand["study_id"] != rec.id:
        raise UserError(f"candidate {candidate_id} belongs to study {cand['study']!r}, "
                        f"not {rec.name!r}")
    spec = ArchSpec.from_json(cand["spec"])
    if training is not None:
        source, name = int(candidate_id), _training_model(store, rec.name, cand, training)
    else:
        status = (cand["evaluation"] or {}).get("status", "not evaluated")
        if status != Status.COMPLETE:
            raise UserError(f"candidate {candidate_id} of study {rec.name!r} is {status!r}: "
                            "only a complete candidate has a trained model to export")
        found = _model_source(store, rec.id, int(candidate_id), spec.hash, cand["artifacts"])
        if found is None:
            raise UserError(f"candidate {candidate_id} of study {rec.name!r} has no stored "
                            "model (it was trained by a tinydse that did not keep trained "
                            "models; train it again in a new study)")
        source, name = found, MODEL_ARTIFACT
    _mime, blob = store.artifact(source, name)
    return _bundle_of(rec, cand, spec, blob, vectors=vectors, word_bits=word_bits)


def training_artifact(training_id: int, name: str = MODEL_ARTIFACT) -> str:
    """The candidate artifact holding file ``name`` of its ``dse train`` run ``training_id``
    (e.g. ``training-3/model``); the search's own ``model`` stays the candidate's."""
    return f"training-{int(training_id)}/{name}"


def _training_model(store: Store, study: str, cand: dict[str, Any], training: int) -> str:
    """The candidate artifact holding the model of its complete ``dse train`` run
    ``training``; else :class:`UserError`."""
    runs = store.evaluations(study, candidate_id=int(cand["id"]))
    run = runs[runs["training_id"] == int(training)]
    if run.empty:
        raise UserError(f"--training={training}: not a training of candidate {cand['id']} "
                        f"(`dse query {study} --evaluations` lists them)")
    status = str(run["status"].iloc[0])
    name = training_artifact(training)
    if status != Status.COMPLETE or name not in cand["artifacts"]:
        raise UserError(f"--training={training}: it is {status!r}; only a complete "
                        "training has a trained model to export")
    return name


def _bundle_of(rec: Any, cand: dict[str, Any], spec: ArchSpec, blob: bytes, *, vectors: int,
               word_bits: int) -> Bundle:
    """The bundle of a trained model ``blob`` of candidate ``cand`` (a store candidate dict) of
    study ``rec``."""
    from hwmodel.golden import input_codes
    from search_spaces.deploy import integer_image

    candidate_id = int(cand["id"])
    model = load_trained_model(spec, blob)
    try:
        image = integer_image(model, spec)
    except ValueError as exc:  # NotDeployable included: a spec or model with no integer form
        raise UserError(f"candidate {candidate_id} of study {rec.name!r} cannot be exported: "
                        f"{exc}") from None
    x, labels, kind = _test_inputs(rec, spec, vectors)
    codes = input_codes(spec, x)
    meta: dict[str, Any] = {"study": rec.name, "task": rec.task, "dataset": rec.dataset,
                            "candidate_id": int(candidate_id), "split": "test"}
    accel = (cand["hardware"] or {}).get("accel") or None
    if cand.get("network_hash"):
        meta["network_hash"] = cand["network_hash"]
    if accel:
        # The accelerator the candidate was costed on (a co-search pair's own): the hardware
        # half of the front point; ``accel.yaml`` loads with ``--accel`` / AccelConfig.from_file.
        meta["accelerator"] = {"file": ACCEL_FILE, **dict(accel)}
    bundle = build_bundle(spec, image, codes, word_bits=word_bits, output_kind=kind,
                          labels=labels, meta=meta)
    if accel:
        import yaml

        bundle.files[ACCEL_FILE] = yaml.safe_dump(dict(accel), sort_keys=False).encode()
    return bundle


def _model_source(store: Store, study_id: int, candidate_id: int, network_hash: str,
                  artifacts: Sequence[str]) -> int | None:
    """The candidate whose ``model`` artifact holds this candidate's trained network: itself,
    or (co-search: one training per network) the pair that trained the same network."""
    if MODEL_ARTIFACT in artifacts:
        return candidate_id
    trained = store.trained_evaluation_for_network(study_id, network_hash)
    if trained is None or trained.status != Status.COMPLETE:
        return None
    other = trained.candidate_id
    return other if MODEL_ARTIFACT in store.candidate(other)["artifacts"] else None


def export_candidate(store: Store, study: str, candidate_id: int,
                     out: str | os.PathLike[str], *, vectors: int = DEFAULT_VECTORS,
                     word_bits: int = DEFAULT_WORD_BITS, training: int | None = None) -> Path:
    """Write the export bundle of a candidate to the new folder ``out`` (see the module
    docstring). The folder is made (as a temporary sibling) before anything is computed, so
    an unwritable ``out`` fails fast; any failure leaves nothing behind."""
    with staged_folder(out) as tmp:
        bundle = candidate_bundle(store, study, candidate_id, vectors=vectors,
                                  word_bits=word_bits, training=training)
        _write_files(bundle, tmp, out)
    return Path(out)


__all__ = [
    "ACCEL_FILE", "Bundle", "DEFAULT_VECTORS", "DEFAULT_WORD_BITS", "MODEL_ARTIFACT", "PackedImage",
    "ParamEntry", "build_bundle", "candidate_bundle", "export_candidate", "load_trained_model",
    "model_checkpoint", "pack_bits", "pack_image", "readmemh", "staged_folder",
    "stream_bytes", "tensor_formats", "training_artifact", "unpack", "write_bundle",
]
