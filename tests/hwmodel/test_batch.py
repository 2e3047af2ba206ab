"""score_many / score_choices give exactly the totals of cost_report, one row per spec."""

from __future__ import annotations

import random

import pytest

from hwmodel.accel import AccelConfig
from hwmodel.batch import Scorer, score_choices, score_many
from hwmodel.cost import CostParams, cost_report
from hwmodel.randspec import random_spec


def _check(df, specs, accel=None, params=None) -> None:  # type: ignore[no-untyped-def]
    assert len(df) == len(specs)
    for i, spec in enumerate(specs):
        assert df["spec_hash"].iloc[i] == spec.hash
        totals = cost_report(spec, accel, params=params).totals
        for key, value in totals.items():
            assert df[key].iloc[i] == pytest.approx(value, rel=1e-9), (i, key)


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_score_many_equals_cost_report(dataflow: str) -> None:
    rng = random.Random(11)
    specs = [random_spec(rng, n_layers=12, video=i % 4 == 3) for i in range(12)]
    accel = AccelConfig(rows=8, cols=4, dataflow=dataflow, mac="multiplier")
    _check(score_many(specs + specs[:3], accel), specs + specs[:3], accel)


def test_scorer_cache_reuse_and_params() -> None:
    rng = random.Random(5)
    specs = [random_spec(rng, n_layers=8) for _ in range(5)]
    params = CostParams(bn_param_bits=8, float_intermediates=True)
    accel = AccelConfig(mac="multiplier")  # float intermediates need a multiplier
    sc = Scorer(accel, params=params)
    first = sc.score(specs)
    blocks = len(sc._blocks)
    second = sc.score(list(reversed(specs)))
    assert len(sc._blocks) == blocks  # everything came from the cache
    assert list(second["spec_hash"]) == list(reversed(list(first["spec_hash"])))
    _check(second, list(reversed(specs)), accel, params=params)
    assert sc.score([], with_hash=False).empty


def test_float_layers_need_a_multiplier() -> None:
    rng = random.Random(5)
    spec = random_spec(rng, n_layers=6)
    with pytest.raises(ValueError, match="mac='xnor_popcount' cannot run float layers"):
        cost_report(spec, params=CostParams(float_intermediates=True))


def test_score_choices_tiny_space() -> None:
    import search_spaces.spaces as spaces

    space = spaces.get_space("tiny", input_shape=(1, 8, 8), num_classes=10)
    rng = random.Random(1)
    choices = [space.random_choices(rng) for _ in range(40)]
    choices += choices[:10]
    df = score_choices(space, choices)
    _check(df, [space.from_choices(c) for c in choices])
