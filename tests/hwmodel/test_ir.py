"""hwmodel.ir: op kinds, mappings, bit-widths and liveness; and that hwmodel never imports torch."""

from __future__ import annotations

import subprocess
import sys

from hwmodel.ir import MATRIX_OPS, HwOp, accumulator_bits, lower
from search_spaces.spec import ArchSpec, CAGen, Conv, Factorized, Linear, Pool, Residual


def _spec() -> ArchSpec:
    ca = CAGen(cells=32, seed=3)
    return ArchSpec((3, 8, 8), 10, (
        Conv(16, kernel=3, act_bits=2, norm="bsn"),
        Residual((Factorized(16, 32, groups=4, act_bits=2, ca=ca),), gate="mux", shift=1),
        Pool("max", 2),
        Pool("global_avg"),
        Linear(10),
    ))


def test_ops_in_order_with_kinds() -> None:
    ops = lower(_spec())
    assert [o.op for o in ops] == ["conv", "norm", "tgap", "pointwise", "grouped_conv",
                                   "ca_pointwise", "norm", "gate", "pool", "pool", "linear"]
    assert all(isinstance(o, HwOp) for o in ops)
    assert {o.op for o in ops if o.is_matrix} <= set(MATRIX_OPS)


def test_macs_and_weights_match_spec() -> None:
    """MACs = groups*ofmap_px*filters*window for every matrix op; stored weight bits sum to
    spec.weight_bits(), parameters to spec.params()."""
    spec = _spec()
    ops = lower(spec)
    for o in ops:
        if o.is_matrix:
            assert o.macs == o.products * o.ofmap_px * o.filters * o.window
    assert sum(o.weight_bits_stored for o in ops) == spec.weight_bits()
    assert sum(o.params for o in ops) == spec.params()


def test_intermediate_bits_are_accumulator_width_or_float() -> None:
    """pw1 of the factorized block reads 2-bit x with 2-bit weights over 16 inputs:
    2 + 2 + 4 = 8 bits; with float_intermediates the spec's 32 bits are kept."""
    pw1 = lower(_spec())[3]
    assert pw1.out_bits == accumulator_bits(2, 2, 16) == 8
    assert lower(_spec(), float_intermediates=True)[3].out_bits == 32


def test_hwmodel_never_imports_torch() -> None:
    code = ("import sys, hwmodel, hwmodel.ir, hwmodel.tech, hwmodel.cost, hwmodel.batch, "
            "hwmodel.accel\n"
            "from hwmodel.cost import cost_report\n"
            "from search_spaces.spec import load_spec\n"
            "cost_report(load_spec('examples/factorized_ca_mux.json'))\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=_root())
    assert out.stdout.strip() == "False"


def _root() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[2])
