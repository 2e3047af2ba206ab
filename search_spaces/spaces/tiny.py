"""``tiny``: a small, fast space for demos and tests (plain/residual 3x3 convs, HEQ weights).

Up to three stages (fewer when the input leaves no room to downsample), each a conv of 8 or 16
channels and zero or one residual (add) block; per stage 1/2/3-bit HEQ weights, 1/2-bit
activations, 1 or 2 groups. On digits (1,8,8) it has 84,708 architectures (see the test for the
count), enough for million-candidate cost sweeps, and every one trains in seconds on a CPU.
"""

from __future__ import annotations

from typing import Any

from search_spaces.spaces.registry import SPACES
from search_spaces.spaces.staged import PresetSpace
from search_spaces.spec import Shape


@SPACES.register("tiny")
class TinySpace(PresetSpace):
    name = "tiny"
    description = "few small convs (8/16 ch), 0-1 add-residual block per stage, HEQ 1-3b weights"
    video = False

    @classmethod
    def preset(cls, input_shape: Shape, downsamples: int) -> dict[str, Any]:
        smax = min(3, downsamples + 1)
        return {
            "stages": {"low": 1, "high": smax},
            "block": "conv",
            "blocks": {"per_stage": True, "choices": [0, 1]},
            "width": {"per_stage": True, "choices": [8, 16]},
            "kernel": 3,
            "groups": {"per_stage": True, "choices": [1, 2]},
            "quantizer": "heq",
            "weight_bits": {"per_stage": True, "choices": [1, 2, 3]},
            "act_bits": {"per_stage": True, "choices": [1, 2]},
            "norm": "bn",
            "residual": True,
            "gate": "add",
            "head": "linear",
            "classifier_weight_bits": 2,
        }
