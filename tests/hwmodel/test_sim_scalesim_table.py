"""Our stall-free compute cycles = SCALE-Sim 3.0.0's, on a table captured from the peer.

The numbers below are SCALE-Sim's own "Total Cycles" (COMPUTE_REPORT.csv), captured by
``benchmarks/scalesim_crosscheck.py`` (see docs/benchmarks.md, section scalesim_crosscheck);
SCALE-Sim itself is never run by the tests. Each layer goes through the whole pipeline here:
an ArchSpec, ``hwmodel.ir.lower``, the fast engine and the stepping engine. SCALE-Sim's ifmap
includes the padding, so each layer is a padding-0 convolution on the padded input; grouped
layers were run in SCALE-Sim as g layers and summed. SCALE-Sim's output size
``ceil((H - F + S) / S)`` counts a last, partial window when ``H - F`` is not a multiple of S
(stem7x7s2: 9 outputs per axis where ``floor((H - F) / S) + 1`` gives 8), so such a layer's
spec gets one more input row and column to have the same number of outputs.
"""

from __future__ import annotations

import pytest

from hwmodel.accel import STALL_FREE
from hwmodel.sim import simulate
from search_spaces.spec import ArchSpec, Conv, Layer, Linear, Pool

KEYS = ("8x8-ws", "8x8-os", "8x8-is", "4x16-ws", "4x16-os", "4x16-is", "16x4-ws", "16x4-os",
        "16x4-is")
#: name: (ifmap H=W incl. padding, filter, channels, filters, stride, groups)
LAYERS = {
    "res3x3": (10, 3, 16, 16, 1, 1),
    "res3x3s2odd": (11, 3, 8, 16, 2, 1),
    "stem7x7s2": (22, 7, 3, 16, 2, 1),
    "pw1x1": (8, 1, 32, 24, 1, 1),
    "pw1x1s2": (9, 1, 16, 32, 2, 1),
    "k5s3": (14, 5, 3, 8, 3, 1),
    "depthwise3x3": (10, 3, 8, 8, 1, 8),
    "grouped3x3g2": (10, 3, 8, 8, 1, 2),
    "fc64to10": (1, 1, 64, 10, 1, 1),
}
#: SCALE-Sim 3.0.0 compute cycles per layer, in the order of KEYS (captured 2026-11-26).
SCALESIM_CYCLES = {
    "res3x3": (3095, 2527, 5471, 3095, 2591, 5471, 3527, 2591, 7199),
    "res3x3s2odd": (845, 687, 1367, 845, 629, 1367, 1179, 719, 1749),
    "stem7x7s2": (3913, 3541, 7941, 3810, 3464, 8435, 4599, 3959, 10499),
    "pw1x1": (1031, 1103, 1471, 1375, 1599, 1471, 1175, 1199, 1855),
    "pw1x1s2": (375, 479, 431, 375, 475, 431, 471, 543, 461),
    "k5s3": (379, 177, 599, 721, 371, 569, 499, 185, 839),
    "depthwise3x3": (1368, 1464, 2936, 2056, 3448, 2200, 776, 856, 4472),
    "grouped3x3g2": (858, 798, 2078, 1546, 1726, 1870, 586, 430, 3646),
    "fc64to10": (367, 155, 255, 367, 81, 511, 419, 245, 175),
}


def layer_spec(name: str) -> ArchSpec:
    size, k, c, m, s, g = LAYERS[name]
    if name.startswith("fc"):
        return ArchSpec((c, 1, 1), m, (Linear(m),))
    layers: tuple[Layer, ...] = (Conv(m, kernel=k, stride=s, padding=0, groups=g, norm="none"),
                                 Pool("global_avg"), Linear(2))
    size += (-(size - k)) % s  # SCALE-Sim's partial last window (see the module docstring)
    return ArchSpec((c, size, size), 2, layers)


def test_partial_window_convention() -> None:
    """stem7x7s2: SCALE-Sim ceil((22 - 7 + 2) / 2) = 9 outputs per axis; the spec on 23x23
    gives floor((23 - 7) / 2) + 1 = 9 as well."""
    from hwmodel.ir import lower

    assert lower(layer_spec("stem7x7s2"))[0].ofmap_px == 81


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_matches_scalesim(name: str) -> None:
    spec = layer_spec(name)
    for key, expect in zip(KEYS, SCALESIM_CYCLES[name], strict=True):
        shape, df = key.split("-")
        rows, cols = (int(v) for v in shape.split("x"))
        accel = STALL_FREE.with_(rows=rows, cols=cols, dataflow=df)
        assert simulate(spec, accel).layers[0].cycles == expect, key
        if rows * cols <= 64 and name in ("pw1x1s2", "fc64to10", "grouped3x3g2"):
            assert simulate(spec, accel, engine="step").layers[0].cycles == expect, key
