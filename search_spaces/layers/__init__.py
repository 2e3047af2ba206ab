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
from search_spaces.layers.quantizers import WeightQuantizer, register_weight_quantizer
from search_spaces.layers.residual import RESIDUAL_GATES, GatedResidual, ResidualGate

__all__ = [
    "RESIDUAL_GATES", "ActQuant", "BinaryLSTM", "BitShiftNorm", "CAPointwise", "FactorizedConv",
    "GatedResidual", "QConv", "QLinear", "QuantWeightModule", "ResidualGate", "WeightQuantizer",
    "act_code_values", "bsn_act_codes_integer", "heaviside", "quantize_act",
    "register_weight_quantizer",
]
