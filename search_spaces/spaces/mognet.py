"""``mognet``: factorized blocks with a CA-generated second pointwise and MUX residuals.

Our reading of MOGNET (abstract only): every block is pointwise -> grouped 3x3 -> pointwise with
no activation between (:class:`~search_spaces.spec.Factorized`); the last pointwise may be
generated on-line by a cellular automaton (per stage: CA or trained, and the CA rule); residuals
are MUX gates whose skip is right-shifted (``shift``) to keep one fixed-point scale; weights are
balanced ternary (BTQ) and activations 3-bit. Searched: depth, widths (doubling per stage),
blocks per stage, group counts, expansion of the mid channels, CA use and rule, the shift, and
BN vs bit-shift normalization per stage.
"""

from __future__ import annotations

from typing import Any

from search_spaces.spaces.registry import SPACES
from search_spaces.spaces.staged import PresetSpace
from search_spaces.spec import CA_RULE_HYBRID, Shape

#: CA rules offered: the 90/150 hybrid (hardware PRNG), and rules 30, 45 and 150.
MOGNET_CA_RULES = (CA_RULE_HYBRID, "30", "45", "150")


@SPACES.register("mognet")
class MognetSpace(PresetSpace):
    name = "mognet"
    description = ("factorized blocks, CA-generated 2nd pointwise, MUX+shift residuals, "
                   "balanced ternary weights, 3-bit activations")
    video = False

    @classmethod
    def preset(cls, input_shape: Shape, downsamples: int) -> dict[str, Any]:
        smax = min(4, downsamples + 1)
        base = 16 if min(input_shape[-2:]) < 32 else 32  # paper-sized inputs get wider stages
        return {
            "stages": {"low": min(2, smax), "high": smax},
            "block": "factorized",
            "blocks": {"per_stage": True, "choices": [1, 2]},
            "width": {"per_stage": [[base << i, base << (i + 1)] for i in range(smax)]},
            "expansion": [1, 2],
            "kernel": 3,
            "groups": {"per_stage": True, "choices": [1, 4, 8]},
            "quantizer": "btq",
            "act_bits": 3,
            "ca": {"per_stage": True, "choices": [True, False]},
            "ca_rule": {"per_stage": True, "choices": list(MOGNET_CA_RULES)},
            "norm": {"per_stage": True, "choices": ["bn", "bsn"]},
            "residual": True,
            "gate": "mux",
            "shift": [0, 1, 2],
            "threshold": 0.5,
            "head": "linear",
        }
