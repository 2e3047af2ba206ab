"""Reference configurations: named fixed architectures, one point of each shipped space.

Paper-sized ones follow the seed papers' settings as far as their abstracts say (dataset, weight
precision, gates, the memory regime); the layer choices are ours. CPU-sized ones run on the
embedded datasets (digits (1,8,8), synthetic-gestures (1,8,32,32)) in seconds.

Memory units: "Mb" in a name means mebibits, 2**20 bits (``MIB_BITS``).

Each reference is a space name, an input shape, a class count, parameters and a choices dict:
the spec is ``get_space(...).from_choices(choices)``, so a reference is always a member of its
space and stays valid when the space evolves (or fails loudly in the tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from search_spaces.spec import ArchSpec, Shape

MIB_BITS = 2**20

DIGITS: Shape = (1, 8, 8)
GESTURES: Shape = (1, 8, 32, 32)
CIFAR: Shape = (3, 32, 32)
STL10: Shape = (3, 96, 96)
JESTER: Shape = (3, 16, 96, 128)


@dataclass(frozen=True)
class Reference:
    """A named point of a space."""

    name: str
    space: str
    input_shape: Shape
    num_classes: int
    choices: dict[str, Any]
    description: str
    params: dict[str, Any] = field(default_factory=dict)
    #: True for the CPU-sized ones (fast to build and train on the embedded datasets).
    cpu: bool = False


def _per_stage(name: str, values: list[Any]) -> dict[str, Any]:
    return {f"{name}_{i}": v for i, v in enumerate(values)}


_MOGNET_C10 = {
    "stages": 4, "expansion": 1, "shift": 1,
    **_per_stage("width", [32, 64, 128, 256]),
    **_per_stage("blocks", [1, 1, 2, 2]),
    **_per_stage("groups", [1, 4, 8, 8]),
    **_per_stage("norm", ["bn", "bsn", "bsn", "bsn"]),
    **_per_stage("ca", [False, True, True, True]),
    **_per_stage("ca_rule", ["90/150"] * 4),
}

REFERENCES: dict[str, Reference] = {r.name: r for r in (
    Reference("mognet-c10", "mognet", CIFAR, 10, _MOGNET_C10,
              "MOGNET-style CIFAR-10 net: 4 stages of factorized blocks, CA-generated 2nd "
              "pointwise in stages 1-3, MUX+shift residuals, ternary weights, 3-bit acts"),
    Reference("mognet-c100", "mognet", CIFAR, 100,
              {**_MOGNET_C10, **_per_stage("blocks", [1, 2, 2, 2])},
              "as mognet-c10 with one more block in stage 1 and a 100-way classifier "
              "(CIFAR-100)"),
    Reference("asic-encoder-1mb", "asic-encoder", CIFAR, 10, {
        "stages": 6, "classifier_weight_bits": 2,
        **_per_stage("width", [64, 128, 128, 256, 256, 256]),
        **_per_stage("weight_bits", [3, 3, 2, 2, 1, 1]),
        **{f"groups_{i}": g for i, g in enumerate([1, 1, 2, 4, 2, 4]) if i > 0},
    }, "mixed-precision encoder within 1 Mib of weights: 3b/3b/2b/2b/1b/1b layers, "
       "pruned by groups, 2-bit acts, bit-shift norm (CIFAR-10)"),
    Reference("heq-resnet-stl10", "heq-resnet", STL10, 10, {
        "stages": 4, "gate": "mux", "shift": 1, "downsample": "stride",
        **_per_stage("width", [32, 64, 128, 256]),
        **_per_stage("blocks", [1, 2, 2, 1]),
        **_per_stage("weight_bits", [3, 2, 2, 2]),
        **_per_stage("act_bits", [2, 2, 2, 2]),
        **_per_stage("norm", ["bn"] * 4),
    }, "HEQ residual net for STL-10 (96x96): MUX gates with shift, 3b stem then ternary "
       "HEQ weights, 2-bit acts"),
    Reference("billnet-jester", "billnet", JESTER, 27, {
        "stages": 3, "expansion": 2, "lstm_hidden": 128, "head_pool": "avg", "head_grid": 4,
        **_per_stage("width", [16, 64, 128]),
        **_per_stage("blocks", [1, 2, 2]),
        **_per_stage("groups", [1, 4, 4]),
    }, "BILLNET-style Jester net (27 classes, 16 frames 96x128): binary Conv3D factorized "
       "blocks, MUX-OR residuals, binarized LSTM"),
    # ---- CPU-sized
    Reference("tiny-digits", "tiny", DIGITS, 10, {
        "stages": 2,
        **_per_stage("width", [8, 16]),
        **_per_stage("blocks", [1, 1]),
        **_per_stage("groups", [1, 2]),
        **_per_stage("weight_bits", [2, 2]),
        **_per_stage("act_bits", [2, 2]),
    }, "two tiny stages with add-residual blocks, ternary HEQ weights, 2-bit acts", cpu=True),
    Reference("mognet-digits", "mognet", DIGITS, 10, {
        "stages": 2, "expansion": 1, "shift": 1,
        **_per_stage("width", [16, 32]),
        **_per_stage("blocks", [1, 1]),
        **_per_stage("groups", [4, 8]),
        **_per_stage("norm", ["bn", "bsn"]),
        **_per_stage("ca", [True, True]),
        **_per_stage("ca_rule", ["90/150", "90/150"]),
    }, "small MOGNET-style net for digits", cpu=True),
    Reference("asic-encoder-digits", "asic-encoder", DIGITS, 10, {
        "stages": 3, "classifier_weight_bits": 2,
        **_per_stage("width", [16, 32, 32]),
        **_per_stage("weight_bits", [3, 2, 1]),
        "groups_1": 1, "groups_2": 2,
    }, "three-layer mixed-precision encoder for digits", cpu=True),
    Reference("heq-resnet-digits", "heq-resnet", DIGITS, 10, {
        "stages": 2, "gate": "or", "downsample": "pool",
        **_per_stage("width", [16, 32]),
        **_per_stage("blocks", [1, 1]),
        **_per_stage("weight_bits", [2, 2]),
        **_per_stage("norm", ["bn", "bn"]),
    }, "OR-gated HEQ residual net for digits (1-bit activations)", cpu=True),
    Reference("billnet-gestures", "billnet", GESTURES, 8, {
        "stages": 2, "expansion": 1, "lstm_hidden": 32, "head_pool": "avg", "head_grid": 4,
        **_per_stage("width", [8, 16]),
        **_per_stage("blocks", [1, 1]),
        **_per_stage("groups", [1, 2]),
    }, "small BILLNET-style net for synthetic-gestures", cpu=True),
)}


def build_reference(name: str) -> ArchSpec:
    """The reference's spec, named after it. Unknown name -> ``KeyError`` listing the names."""
    if name not in REFERENCES:
        raise KeyError(f"unknown reference configuration {name!r} (references: "
                       f"{', '.join(sorted(REFERENCES))})")
    from search_spaces.spaces.registry import SPACES

    ref = REFERENCES[name]
    space = SPACES.get(ref.space)(tuple(ref.input_shape), ref.num_classes, **ref.params)
    return space.from_choices(ref.choices).with_name(name)


__all__ = ["MIB_BITS", "REFERENCES", "Reference", "build_reference"]
