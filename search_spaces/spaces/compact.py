"""``compact``: the default classification space, a plain mixed-precision conv stack sized for
small inputs and budgets of a few to a few tens of kilobits.

The ``asic-encoder`` family (each stage exactly one 3x3 conv, ``blocks = 0``; per-layer
1/2/3-bit HEQ weights, i.e. binary/ternary/quinary; groups as structural pruning; 2-bit
activations; layer-shared bit-shift normalization, the cheapest integer requantization) with
narrower layers: widths start at 8 channels on inputs under 32 px (16 above) and double at most
once per stage, 2 to 4 stages, a 2- or 3-bit classifier. Chosen for the README demo on 8x8
``digits`` (docs/benchmarks.md, "front_quality"): its members from about 3 to 60 kbit train in
seconds and reach 92-98 % chip accuracy, where ``tiny``'s BN thresholds and add-residuals spend
memory that these inputs do not need.
"""

from __future__ import annotations

from typing import Any

from search_spaces.spaces.registry import SPACES
from search_spaces.spaces.staged import PresetSpace
from search_spaces.spec import Shape


@SPACES.register("compact")
class CompactSpace(PresetSpace):
    name = "compact"
    description = ("plain conv stack, 8-64 ch (small inputs), per-layer 3b/2b/1b weights, "
                   "groups, 2-bit activations, bit-shift norm")
    video = False

    @classmethod
    def preset(cls, input_shape: Shape, downsamples: int) -> dict[str, Any]:
        b = 8 if min(input_shape[-2:]) < 32 else 16
        return {
            # stages enough to bring the feature map down to its smallest side, and one more
            "stages": {"low": min(3, downsamples + 1), "high": min(4, downsamples + 2)},
            "block": "conv",
            "blocks": 0,
            "width": {"per_stage": [[b, 2 * b], [2 * b, 4 * b], [2 * b, 4 * b, 8 * b],
                                    [4 * b, 8 * b]]},
            "kernel": 3,
            "groups": {"per_stage": True, "choices": [1, 2]},
            "quantizer": "heq",
            # the stem reads the 8-bit input: quinary (its 9 x width weights cost little)
            "weight_bits": {"per_stage": [3] + [[1, 2, 3]] * 3},
            "act_bits": 2,
            "norm": "bsn",
            "residual": False,
            "head": "linear",
            "classifier_weight_bits": [2, 3],
        }
