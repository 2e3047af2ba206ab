"""``billnet``: binarized factorized Conv3D blocks with MUX-OR residuals, a binarized LSTM, a
linear classifier (video, (C,T,H,W) input).

Our reading of BILLNET (abstract only): 3x3x3 factorized blocks with sign (binary) weights and
1-bit Heaviside activations, joined by MUX-OR gated skips (``y = S ? (x OR F(x)) : x``); the
feature maps are pooled spatially (avg or max, a dimension) to (C, T, 1, 1) and a binarized
LSTM (sign weights, Heaviside/sign gates) runs over T; a binary linear layer classifies. Only
H and W are downsampled by default (``temporal_downsamples=0``) so the LSTM sees every frame.
Inputs of 32 px or more get a stride-2 stem (keeps Conv3D affordable on a CPU).
"""

from __future__ import annotations

from typing import Any

from search_spaces.spaces.registry import SPACES
from search_spaces.spaces.staged import PresetSpace
from search_spaces.spec import Shape


@SPACES.register("billnet")
class BillnetSpace(PresetSpace):
    name = "billnet"
    description = ("binarized factorized Conv3D blocks, MUX-OR residuals, 1-bit activations, "
                   "binarized LSTM + linear")
    video = True

    @classmethod
    def default_params(cls, input_shape: Shape) -> dict[str, Any]:
        side = min(input_shape[-2:])
        return {"stem_stride": 1 if side < 32 else 2 if side < 160 else 4}

    @classmethod
    def preset(cls, input_shape: Shape, downsamples: int) -> dict[str, Any]:
        smax = min(3, downsamples + 1)
        base = 8 if min(input_shape[-2:]) < 64 else 16
        return {
            "stages": {"low": min(2, smax), "high": smax},
            "block": "factorized",
            "blocks": {"per_stage": True, "choices": [1, 2]},
            "width": {"per_stage": [[base << i, base << (i + 1)] for i in range(smax)]},
            "expansion": [1, 2],
            "kernel": 3,
            "groups": {"per_stage": True, "choices": [1, 2, 4]},
            "quantizer": "sign",
            "ca": False,
            "norm": "bn",
            "residual": True,
            "gate": "mux_or",
            "threshold": 0.5,
            "head": "lstm",
            "lstm_hidden": [32, 64, 128],
            "head_pool": ["avg", "max"],
            # the LSTM's input per frame is C g^2 bits once activations are 1-bit: g = 1 never
            # trained on synthetic-gestures and g = 2 barely (docs/benchmarks.md,
            # front_quality), so 4 and 8 (no pooling of an 8 x 8 map) are offered
            # (staged.head_kernel); a space config may still ask for 1 or 2
            "head_grid": [4, 8],
        }
