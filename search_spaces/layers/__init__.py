"""PyTorch building blocks for tiny quantized networks (imported lazily by the rest of tinydse).

quantizers (weights, with STE) · activations (n-bit on [0,1]) · norm (bit-shift normalization)
· residual (add / OR / MUX / MUX-OR gates) · conv (quantized conv/linear, factorized conv,
CA-generated pointwise) · lstm (binarized LSTM).
"""

from __future__ import annotations

from search_spaces.layers.activations import ActQuant, act_code_values, heaviside, quantize_act
from search_spaces.layers.conv import CAPointwise, FactorizedConv, QConv, QLinear, QuantWeightModule
from search_spaces.layers.lstm import BinaryLSTM
from search_spaces.layers.norm import BitShiftNorm, bsn_act_codes_integer
from search_spaces.layers.quantizers import (
    WeightQuantizer,
    create_weight_quantizer,
    list_weight_quantizers,
    register_weight_quantizer,
)
from search_spaces.layers.residual import (
    GatedResidual,
    ResidualGate,
    create_gate,
    list_gates,
    register_gate,
)

__all__ = [
    "ActQuant", "BinaryLSTM", "BitShiftNorm", "CAPointwise", "FactorizedConv", "GatedResidual",
    "QConv", "QLinear", "QuantWeightModule", "ResidualGate", "WeightQuantizer", "act_code_values",
    "bsn_act_codes_integer", "create_gate", "create_weight_quantizer", "heaviside", "list_gates",
    "list_weight_quantizers", "quantize_act", "register_gate", "register_weight_quantizer",
]
