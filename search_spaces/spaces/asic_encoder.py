"""``asic-encoder``: a reconfigurable mixed-precision conv encoder for a ~1 Mb on-chip budget.

Our reading of the 1 Mb mixed-precision encoder (abstract only): a plain stack of 3x3 conv
layers (here each *stage* is exactly one layer: ``blocks = 0``), each with its own weight
precision, 3b/2b/1b (HEQ quinary/ternary/binary, levels 5/3/2), its own width, and its own group
count — groups are the structural-pruning knob (the stem stays ungrouped). Activations are
2-bit; normalization is layer-shared bit-shift normalization (``norm="bsn"``). The first D
layers after the stem downsample.
"""

from __future__ import annotations

from typing import Any

from search_spaces.spaces.registry import SPACES
from search_spaces.spaces.staged import PresetSpace
from search_spaces.spec import Shape


@SPACES.register("asic-encoder")
class AsicEncoderSpace(PresetSpace):
    name = "asic-encoder"
    description = ("conv encoder, per-layer 3b/2b/1b weights, groups as pruning, 2-bit "
                   "activations, bit-shift norm")
    video = False

    @classmethod
    def preset(cls, input_shape: Shape, downsamples: int) -> dict[str, Any]:
        base = 16 if min(input_shape[-2:]) < 32 else 32
        return {
            "stages": {"low": 3, "high": 6},
            "block": "conv",
            "blocks": 0,
            "width": {"per_stage": [[base, 2 * base]] + [[base, 2 * base, 4 * base]] * 2
                      + [[2 * base, 4 * base, 8 * base]] * 3},
            "kernel": 3,
            "groups": {"per_stage": True, "choices": [1, 2, 4]},
            "quantizer": "heq",
            "weight_bits": {"per_stage": True, "choices": [1, 2, 3]},
            "act_bits": 2,
            "norm": "bsn",
            "residual": False,
            "head": "linear",
            "classifier_weight_bits": [1, 2, 3],
        }


@SPACES.register("asic-encoder-cosearch")
class AsicEncoderCosearchSpace(AsicEncoderSpace):
    """``asic-encoder`` searched together with its accelerator (a co-search).

    The accelerator range is ours: array shapes around the encoder's widths, two dataflows,
    bit-parallel or bit-serial PEs, and SRAM sizes that bracket the networks' weights
    (about 4 to 840 kbits on 8x8 digits) and activation peaks (2.5 to 6 kbits), so that the
    fit check matters. Override it with ``get_space(..., accelerator={...})``.
    """

    name = "asic-encoder-cosearch"
    description = "asic-encoder x accelerator (array shape, dataflow, bit-serial, SRAM sizes)"
    ACCELERATOR: dict[str, Any] = {
        "rows": [8, 16, 32],
        "cols": [8, 16, 32],
        "dataflow": ["ws", "os"],
        "bit_serial": [False, True],
        "weight_sram_kbits": [32.0, 64.0, 128.0, 256.0],
        "act_sram_kbits": [4.0, 8.0, 16.0],
    }

    def __init__(self, input_shape: Shape, num_classes: int, **params: Any) -> None:
        super().__init__(input_shape, num_classes, **params)
        self.with_accelerator(self.ACCELERATOR)
