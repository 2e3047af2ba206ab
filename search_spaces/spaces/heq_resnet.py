"""``heq-resnet``: a residual network of 3x3 convs with OR or MUX gated skips and HEQ weights.

Per stage: widths, 1-2 residual blocks, 1/2/3-bit HEQ weights (levels 2/3/5) and BN or bit-shift
normalization. The gate is OR (which forces 1-bit activations in the whole network, so the
activation bits are a dimension only under MUX) or MUX with a skip right-shifted by 0 or 1 bit
on 2- or 3-bit activations (so the shifted skip is never all-zero). Stages 1..D downsample by a
stride-2 conv or a 2x2 max-pool (a dimension).
"""

from __future__ import annotations

from typing import Any

from search_spaces.spaces.registry import SPACES
from search_spaces.spaces.staged import PresetSpace
from search_spaces.spec import Shape


@SPACES.register("heq-resnet")
class HeqResnetSpace(PresetSpace):
    name = "heq-resnet"
    description = "residual 3x3 convs, OR or MUX gated skips, HEQ 1-3b weights per stage"
    video = False

    @classmethod
    def preset(cls, input_shape: Shape, downsamples: int) -> dict[str, Any]:
        smax = min(4, downsamples + 1)
        base = 16 if min(input_shape[-2:]) < 32 else 32
        return {
            "stages": {"low": min(2, smax), "high": smax},
            "block": "conv",
            "blocks": {"per_stage": True, "choices": [1, 2]},
            "width": {"per_stage": [[base << i, base << (i + 1)] for i in range(smax)]},
            "kernel": 3,
            "groups": 1,
            "quantizer": "heq",
            "weight_bits": {"per_stage": True, "choices": [1, 2, 3]},
            "act_bits": {"per_stage": True, "choices": [2, 3]},
            "norm": {"per_stage": True, "choices": ["bn", "bsn"]},
            "residual": True,
            "gate": ["or", "mux"],
            "shift": [0, 1],
            "threshold": 0.5,
            "downsample": ["stride", "pool"],
            "head": "linear",
            "classifier_weight_bits": 2,
        }
