"""Parallel coordinates, the brush and the N-objective front on a hand-built frame.

Four objectives (accuracy maximize; memory_bits, cycles, energy_pj minimize)::

    id acc   mem   cyc  energy  width  gate
    1  0.90  1000  500  30      8      or
    2  0.80   500  800  20      4      or
    3  0.85  2000  100  40      16     mux
    4  0.70   400  300  10      4      add
    5  0.65   450  350  15      4      add    dominated by 4 (worse or equal everywhere)
    6  0.90  1000  500  35      8      mux    dominated by 1 (same but more energy)
    7  0.88  1200   90  45      16     –      (gate absent: a conditional choice)
    8  0.80   500  800  20      4      or     equal to 2: neither dominates the other
    9  –      300   50   5      4      or     infeasible (never trained)

Front over the four objectives: {1, 2, 3, 4, 7, 8}. Brushing accuracy to [0.8, 0.9] keeps
{1, 2, 3, 6, 7, 8}, whose front is {1, 2, 3, 7, 8}. Over the axes (memory_bits, accuracy):
4 (400, .70), 2 and 8 (500, .80), 1 and 6 (1000, .90); 3 and 7 lose to 1, 5 to 4.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from dashboard import figures as F
from dashboard import parcoords as P
from dse.pareto import non_dominated, nondominated_sort
from tests.dashboard.filler import brute_front

OBJ = ["accuracy", "memory_bits", "cycles", "energy_pj"]
DIRS = {"accuracy": "maximize", "memory_bits": "minimize", "cycles": "minimize",
        "energy_pj": "minimize"}


@pytest.fixture
def frame() -> pd.DataFrame:
    nan = math.nan
    choices = [{"width": 8, "gate": "or"}, {"width": 4, "gate": "or"},
               {"width": 16, "gate": "mux"}, {"width": 4, "gate": "add"},
               {"width": 4, "gate": "add"}, {"width": 8, "gate": "mux"}, {"width": 16},
               {"width": 4, "gate": "or"}, {"width": 4, "gate": "or"}]
    df = pd.DataFrame({
        "candidate_id": list(range(1, 10)), "trial": list(range(9)),
        "status": ["complete"] * 8 + ["infeasible"],
        "accuracy": [0.90, 0.80, 0.85, 0.70, 0.65, 0.90, 0.88, 0.80, nan],
        "memory_bits": [1000, 500, 2000, 400, 450, 1000, 1200, 500, 300],
        "cycles": [500, 800, 100, 300, 350, 500, 90, 800, 50],
        "energy_pj": [30, 20, 40, 10, 15, 35, 45, 20, 5],
        "choices": [json.dumps(c) for c in choices],
    })
    df["pareto"] = df["candidate_id"].isin([1, 2, 3, 4, 7, 8])
    df = pd.concat([df, P.expand_choices(df)], axis=1)
    return df.set_index("candidate_id", drop=False)


def ids(df: pd.DataFrame, mask: pd.Series) -> set[int]:
    return set(df.loc[mask, "candidate_id"].astype(int))


def test_expand_choices_one_column_per_choice_absent_is_none(frame: pd.DataFrame) -> None:
    assert P.choice_columns(frame) == ["choice:width", "choice:gate"]
    assert frame.loc[7, "choice:gate"] is None and frame.loc[7, "choice:width"] == 16
    assert P.axis_label("choice:gate") == "gate"
    assert P.axis_label("memory_bits") == F.metric_label("memory_bits")


def test_encode_categories_in_numeric_order_with_absent_last(frame: pd.DataFrame) -> None:
    width = P.encode(frame, "choice:width")
    assert width.ticktext == ("4", "8", "16")  # numerically, not as strings ("16" < "4")
    assert list(width.values) == [1, 0, 2, 0, 0, 1, 2, 0, 0]
    gate = P.encode(frame, "choice:gate")
    assert gate.ticktext == ("add", "mux", "or", P.ABSENT)
    assert list(gate.values) == [2, 2, 1, 0, 0, 1, 3, 2, 2]


def test_encode_log_metric_as_log10_with_decade_ticks(frame: pd.DataFrame) -> None:
    mem = P.encode(frame, "memory_bits")
    assert mem.log and mem.values == pytest.approx(np.log10(frame["memory_bits"]))
    # 300..2000 bits hold one decade: the 2x and 5x steps are ticked too
    assert mem.tickvals == pytest.approx(np.log10([500, 1000, 2000]))
    assert mem.ticktext == ("500", "1k", "2k")
    assert P.log_ticks(0.5, 4.2) == (1.0, 2.0, 3.0, 4.0)
    energy = P.encode(frame, "energy_pj")
    assert not energy.log and list(energy.values) == list(frame["energy_pj"])


def test_si_format() -> None:
    assert P.si_format(1_064_636) == "1.06M"  # the Pareto page's memory slider end
    assert P.si_format(999_960) == "1M"  # rounding carries into the next prefix
    assert [P.si_format(v) for v in (24_300, 599, 2500, 0.0092, 0)] == [
        "24.3k", "599", "2.5k", "0.0092", "0"]


def test_brush_intervals_accepts_plotly_forms() -> None:
    assert P.brush_intervals(None) == []
    assert P.brush_intervals([0.9, 0.8]) == [(0.8, 0.9)]
    assert P.brush_intervals([[0, 1], [3, 3.5]]) == [(0, 1), (3, 3.5)]


def test_brushed_masks(frame: pd.DataFrame) -> None:
    done = frame[frame["status"] == "complete"]
    assert ids(done, P.brushed(done, {"accuracy": [0.8, 0.9]})) == {1, 2, 3, 6, 7, 8}
    # categorical axis: codes 0 (add) and 3 (absent), two intervals on one axis
    assert ids(done, P.brushed(done, {"choice:gate": [[-0.2, 0.3], [2.6, 3.4]]})) == {4, 5, 7}
    # log axis: 10^2.9 = 794 .. 10^3.05 = 1122 bits; axes combine with AND
    both = {"memory_bits": [2.9, 3.05], "choice:width": [0.5, 1.5]}
    assert ids(done, P.brushed(done, both)) == {1, 6}
    # unknown value on a brushed axis: outside; an axis the frame lacks: ignored
    assert ids(frame, P.brushed(frame, {"accuracy": [0, 1], "nope": [0, 1]})) == set(
        range(1, 9))
    assert P.brush_summary(done, both) == ["memory (bits) in [794, 1.12k]", "width in {8}"]


def test_four_objective_front_matches_dse_pareto(frame: pd.DataFrame) -> None:
    done = frame[frame["status"] == "complete"]
    pts = done[OBJ].to_numpy(float)
    dirs = [DIRS[o] for o in OBJ]
    expected = {1, 2, 3, 4, 7, 8}
    assert ids(done, pd.Series(non_dominated(pts, dirs), index=done.index)) == expected
    assert ids(done, pd.Series(nondominated_sort(pts, dirs) == 0, index=done.index)) == expected
    assert {int(done["candidate_id"].iloc[i]) for i in brute_front(pts, dirs)} == expected
    # the page recomputes the front of a brushed set over all four objectives
    sel = P.brushed(done, {"accuracy": [0.8, 0.9]})
    role = F.classify(frame, objectives=OBJ, directions=DIRS, selected=sel)
    assert ids(frame, role == "front") == {1, 2, 3, 7, 8}
    assert ids(frame, role == "dominated") == {6}
    assert ids(frame, role == "unselected") == {4, 5}
    assert ids(frame, role == "infeasible") == {9}
    # unbrushed: the stored flag; over the two plotted axes: the 2-D front
    assert ids(frame, F.classify(frame, objectives=OBJ, directions=DIRS) == "front") == expected
    axes = F.classify(frame, objectives=OBJ, directions=DIRS, front_over="axes",
                      axes=("memory_bits", "accuracy"))
    assert ids(frame, axes == "front") == {1, 2, 4, 6, 8}


def test_parcoords_figure(frame: pd.DataFrame) -> None:
    done = frame[frame["status"] == "complete"]
    axes = P.default_axes(done, OBJ)
    assert axes == [*OBJ, "choice:width", "choice:gate"]
    brush = {"accuracy": [0.8, 0.9], "choice:gate": [[-0.2, 0.3], [2.6, 3.4]]}
    fig = P.parcoords_figure(done, axes, color="memory_bits", brush=brush)
    (trace,) = fig.data
    dims = {d.name: d for d in trace.dimensions}
    assert list(dims) == axes
    assert list(dims["accuracy"].values) == pytest.approx(list(done["accuracy"]))  # float32
    assert dims["accuracy"].constraintrange == (0.8, 0.9)
    assert dims["choice:gate"].constraintrange == ((-0.2, 0.3), (2.6, 3.4))
    assert dims["choice:gate"].ticktext == ("add", "mux", "or", P.ABSENT)
    assert dims["choice:gate"].range == (-0.5, 3.5)
    assert dims["memory_bits"].label == "memory (bits) (log10)"
    assert dims["cycles"].constraintrange is None
    assert list(trace.line.color) == pytest.approx(np.log10(done["memory_bits"]))
    assert fig.layout.meta == {"axes": axes}
    # no row: a message, not an empty trace
    empty = P.parcoords_figure(done.iloc[:0], axes)
    assert empty.layout.annotations[0].text.startswith("no candidate")
