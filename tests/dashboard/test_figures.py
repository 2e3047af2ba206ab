"""The pure figure functions on a hand-built frame whose fronts are worked out by hand.

The frame (objectives: accuracy maximize, memory_bits minimize)::

    id status      accuracy memory_bits cycles
    1  complete    0.90     1000        500
    2  complete    0.80      500        800
    3  complete    0.85     2000        100   dominated by 1 (better accuracy, less memory)
    4  complete    0.70      400        300
    5  complete    0.60      450        200   dominated by 4
    6  infeasible  –        5000         50
    7  failed      –           –          –
    8  running     –         600          –

Front over (accuracy, memory_bits) = {1, 2, 4}. With memory_bits <= 900: 1 and 3 are over
budget, 5 is still dominated by 4, front = {2, 4}. Over the axes (cycles, accuracy): 3 (100,
0.85) dominates 2, 4 and 5; 1 has the best accuracy; front = {1, 3}.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dashboard import figures as F

OBJ = ["accuracy", "memory_bits"]
DIRS = {"accuracy": "maximize", "memory_bits": "minimize"}


@pytest.fixture
def frame() -> pd.DataFrame:
    nan = math.nan
    df = pd.DataFrame({
        "candidate_id": [1, 2, 3, 4, 5, 6, 7, 8],
        "trial": [0, 1, 2, 3, 4, 5, 6, 7],
        "status": ["complete"] * 5 + ["infeasible", "failed", "running"],
        "accuracy": [0.90, 0.80, 0.85, 0.70, 0.60, nan, nan, nan],
        "memory_bits": [1000, 500, 2000, 400, 450, 5000, nan, 600],
        "cycles": [500, 800, 100, 300, 200, 50, nan, nan],
        "pareto": [True, True, False, True, False, False, False, False],
    })
    df["updated_at"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(df["trial"], unit="min")
    return df.set_index("candidate_id", drop=False)


def ids(df: pd.DataFrame, role: pd.Series, which: str) -> set[int]:
    return set(df.loc[role == which, "candidate_id"].astype(int))


def test_classify_uses_the_stored_front_without_budgets(frame: pd.DataFrame) -> None:
    role = F.classify(frame, objectives=OBJ, directions=DIRS)
    assert ids(frame, role, "front") == {1, 2, 4}
    assert ids(frame, role, "dominated") == {3, 5}
    assert ids(frame, role, "infeasible") == {6}
    assert ids(frame, role, "failed") == {7}
    assert ids(frame, role, "pending") == {8}
    # the precomputed flag is what is shown: drop 4 from it and 4 shows as dominated
    stale = frame.assign(pareto=[True, True, False, False, False, False, False, False])
    assert ids(stale, F.classify(stale, objectives=OBJ, directions=DIRS), "front") == {1, 2}


def test_budget_filters_and_redraws_the_front(frame: pd.DataFrame) -> None:
    role = F.classify(frame, objectives=OBJ, directions=DIRS, budgets={"memory_bits": 900})
    assert ids(frame, role, "over_budget") == {1, 3}
    assert ids(frame, role, "front") == {2, 4}
    assert ids(frame, role, "dominated") == {5}
    role = F.classify(frame, objectives=OBJ, directions=DIRS, budgets={"memory_bits": 450})
    assert ids(frame, role, "front") == {4}
    # a minimum accuracy is a budget on a maximized metric: accuracy >= 0.82 keeps 1 and 3
    role = F.classify(frame, objectives=OBJ, directions=DIRS, budgets={"accuracy": 0.82})
    assert ids(frame, role, "front") == {1}
    assert ids(frame, role, "dominated") == {3}


def test_front_over_the_plotted_axes(frame: pd.DataFrame) -> None:
    role = F.classify(frame, objectives=OBJ, directions=DIRS, front_over="axes",
                      axes=("cycles", "accuracy"))
    assert ids(frame, role, "front") == {1, 3}


def hover_label(tr: Any, i: int) -> str:
    """What Plotly shows on hover for point ``i``: the template with its d3 formats applied
    (``:d``, ``:,.0f``, ``:.2%``, ``:.4g``), as a reference for the formats used."""
    def fmt(m: re.Match[str]) -> str:
        v = float(tr.x[i] if m.group(1) == "x" else tr.y[i] if m.group(1) == "y"
                  else tr.customdata[i][int(m.group(1))])
        spec = m.group(2)
        if spec == ".2%":
            return f"{100 * v:.2f}%"
        if spec in ("d", ",.0f"):
            return f"{int(v):,}" if spec == ",.0f" else str(int(v))
        return f"{v:.4g}"
    return re.sub(r"%\{(?:customdata\[(\d+)\]|(x|y)):([^}]*)\}",
                  lambda m: fmt(re.match(r"(.*)\|(.*)", f"{m.group(1) or m.group(2)}|"
                                                         f"{m.group(3)}")),  # type: ignore[arg-type]
                  tr.hovertemplate.replace("<extra></extra>", ""))


def trace(fig, role: str, study: str = "s"):  # type: ignore[no-untyped-def]
    found = [t for t in fig.data if t.meta == {"study": study, "role": role}]
    assert len(found) == 1, [t.meta for t in fig.data]
    return found[0]


def test_pareto_figure_points_axes_and_hover(frame: pd.DataFrame) -> None:
    fig = F.pareto_figure({"s": frame}, "memory_bits", "accuracy", objectives={"s": OBJ},
                          directions=DIRS)
    front, dominated = trace(fig, "front"), trace(fig, "dominated")
    assert sorted(int(c[0]) for c in front.customdata) == [1, 2, 4]
    assert list(front.ids) == [str(int(c[0])) for c in front.customdata]  # for clicks
    assert list(front.x) == [400.0, 500.0, 1000.0]  # joined in x order
    assert front.mode == "lines+markers"
    assert sorted(int(c[0]) for c in dominated.customdata) == [3, 5]
    assert dominated.opacity == F.FADED_OPACITY and front.opacity == 1.0
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "linear"
    assert len(fig.data) == 2  # infeasible/failed only on demand
    hover = {int(c[0]): hover_label(front, i) for i, c in enumerate(front.customdata)}
    assert hover[1].startswith("candidate 1<br>trial 0<br>status complete")
    assert "accuracy: 90.00%" in hover[1]
    assert "memory_bits: 1,000" in hover[1] and "cycles: 500" in hover[1]
    assert "trial 3" in hover[4] and "memory_bits: 400" in hover[4]


def test_pareto_figure_shows_infeasible_where_plottable(frame: pd.DataFrame) -> None:
    fig = F.pareto_figure({"s": frame}, "memory_bits", "cycles", objectives={"s": OBJ},
                          directions=DIRS, show=("infeasible", "failed"))
    inf = trace(fig, "infeasible")
    assert [int(c[0]) for c in inf.customdata] == [6]
    assert (inf.x[0], inf.y[0]) == (5000.0, 50.0)
    assert len(trace(fig, "failed").x) == 0  # the failed one has no numbers
    assert fig.layout.yaxis.type == "log"  # cycles
    # accuracy on an axis: the untrained infeasible candidate cannot be placed
    fig = F.pareto_figure({"s": frame}, "memory_bits", "accuracy", objectives={"s": OBJ},
                          directions=DIRS, show=("infeasible",))
    assert len(trace(fig, "infeasible").x) == 0


def test_pareto_figure_budget_and_colour(frame: pd.DataFrame) -> None:
    fig = F.pareto_figure({"s": frame}, "memory_bits", "accuracy", color="cycles",
                          objectives={"s": OBJ}, directions=DIRS,
                          budgets={"memory_bits": 900})
    assert sorted(int(c[0]) for c in trace(fig, "front").customdata) == [2, 4]
    assert [int(c[0]) for c in trace(fig, "dominated").customdata] == [5]
    marker = trace(fig, "front").marker
    # cycles is a log metric: colours are log10(cycles) on one scale over all points
    assert np.allclose(sorted(marker.color), sorted([math.log10(800), math.log10(300)]))
    assert marker.cmin == pytest.approx(math.log10(50))
    assert marker.cmax == pytest.approx(math.log10(800))


def test_pareto_figure_overlays_studies(frame: pd.DataFrame) -> None:
    other = frame.iloc[:2].assign(candidate_id=[11, 12], accuracy=[0.95, 0.5])
    other = other.set_index("candidate_id", drop=False)
    fig = F.pareto_figure({"a": frame, "b": other}, "memory_bits", "accuracy",
                          objectives={"a": OBJ, "b": OBJ}, directions=DIRS)
    assert sorted(int(c[0]) for c in trace(fig, "front", "b").customdata) == [11, 12]
    assert trace(fig, "front", "a").name == "a · front"
    front_b = trace(fig, "front", "b")
    assert [int(c[0]) for c in front_b.customdata] == [12, 11]  # x order: 500 then 1000 bits
    assert hover_label(front_b, 1).startswith("b · candidate 11<br>")


def test_best_so_far(frame: pd.DataFrame) -> None:
    acc = F.best_so_far(frame, "accuracy", "maximize")
    assert list(acc["best"]) == [0.9] * 5
    mem = F.best_so_far(frame, "memory_bits", "minimize")
    assert list(mem["x"]) == [0, 1, 2, 3, 4]  # trained candidates only
    assert list(mem["best"]) == [1000, 500, 500, 400, 400]
    fig = F.best_so_far_figure(frame, [("accuracy", "maximize"), ("memory_bits", "minimize")])
    assert len(fig.data) == 2
    assert fig.layout.yaxis2.type == "log"


def test_status_counts_and_figure(frame: pd.DataFrame) -> None:
    counts = F.status_counts(frame)
    assert counts == {"complete": 5, "infeasible": 1, "failed": 1, "running": 1}
    fig = F.status_figure(counts)
    assert list(fig.data[0].y) == [5, 1, 1, 1]


def test_hypervolume_figure() -> None:
    hist = pd.DataFrame({"trial": [0, 1, 2], "hypervolume": [0.1, 0.3, 0.35]})
    fig = F.hypervolume_figure(hist)
    assert list(fig.data[0].y) == [0.1, 0.3, 0.35]
    assert fig.data[0].line.shape == "hv"


def test_layer_bars_and_learning_curve() -> None:
    layers = pd.DataFrame({"layer": ["layers[0]", "layers[1]"],
                           "weight_memory_bits": [288, 1152], "norm_memory_bits": [32, 0],
                           "gate_ops": [10, 20], "ideal_cycles": [64, 128],
                           "sim_cycles": [70, 140]})
    assert F.layer_panels(layers) == [
        ("memory (bits)", ["weight_memory_bits", "norm_memory_bits"]),
        ("logic ops per inference", ["gate_ops"]), ("latency (cycles)", ["sim_cycles"])]
    fig = F.layer_bars_figure(layers)
    assert [list(t.y) for t in fig.data] == [[288, 1152], [32, 0], [10, 20], [70, 140]]
    assert fig.layout.barmode == "stack"
    assert "weight_memory_bits: 1,152" in fig.data[0].hovertext[1]
    epochs = pd.DataFrame({"stage": ["fp", "fp", "quant", "quant"], "epoch": [0, 1, 0, 1],
                           "train_loss": [2.0, 1.5, 1.2, 1.0], "val_accuracy": [.3, .5, .6, .7],
                           "train_accuracy": [.2, .4, .55, .65], "val_loss": [2.1, 1.6, 1.3, 1.1]})
    fig = F.learning_curve_figure(epochs)
    by_name = {(t.name, t.yaxis): list(t.x) for t in fig.data}
    assert by_name[("quant val", "y")] == [3, 4]  # stages laid end to end
    assert by_name[("fp train", "y2")] == [1, 2]
    assert len(fig.data) == 8  # 2 stages x {train, val} x {accuracy, loss}


def test_format_and_axis_rules() -> None:
    assert F.format_value("memory_bits", 1234567.0) == "1,234,567"
    assert F.format_value("accuracy", 0.9123) == "91.23%"
    assert F.format_value("energy_pj", 12.34567) == "12.35"
    assert F.format_value("energy_pj", None) == "–"
    assert F.is_log_metric("weight_memory_bits") and F.is_log_metric("cycles")
    assert not F.is_log_metric("accuracy") and not F.is_log_metric("energy_pj")
    assert F.default_direction("val_accuracy") == "maximize"
    assert F.default_direction("area_um2") == "minimize"


def test_hover_formats_follow_the_values(frame: pd.DataFrame) -> None:
    assert F.d3_format("memory_bits", frame["memory_bits"]) == ",.0f"
    assert F.d3_format("accuracy", frame["accuracy"]) == ".2%"
    assert F.d3_format("energy_pj", pd.Series([1.5, 2.25])) == ".4g"
    data = F.hover_customdata(frame.iloc[:2], ["accuracy", "memory_bits"])
    # float32 keeps ids, trials and these counts exact and the fractions to their 2 decimals
    assert data.dtype == np.float32
    assert np.allclose(data, [[1, 0, 0.9, 1000], [2, 1, 0.8, 500]], rtol=1e-7, atol=0)
    assert data[:, [0, 1, 3]].tolist() == [[1, 0, 1000], [2, 1, 500]]
    big = frame.iloc[:2].assign(cycles=[2**24 + 1, 3])  # a count float32 cannot hold
    wide = F.hover_customdata(big, ["accuracy", "cycles"])
    assert wide.dtype == np.float64 and wide[0, 3] == 2**24 + 1


def test_figure_skips_plotly_validation_and_keeps_the_theme() -> None:
    """:func:`figures.figure` relies on plotly.py's ``_validate=False``: values are not
    coerced (an out-of-range one passes through; validated, it raises), arrays stay as
    given, property names are still checked, and the dashboard's template is the figure's."""
    import plotly.graph_objects as go

    xs = np.arange(5, dtype=float)
    fig = F.figure([{"type": "scattergl", "x": xs, "y": xs, "opacity": 7}],
                   xaxis={"type": "log"})
    assert isinstance(fig.data[0].x, np.ndarray) and fig.layout.xaxis.type == "log"
    assert fig.to_plotly_json()["data"][0]["opacity"] == 7
    with pytest.raises(ValueError):
        go.Figure(data=[{"type": "scattergl", "x": xs, "opacity": 7}])
    with pytest.raises(ValueError):
        F.figure([{"type": "scattergl", "not_a_property": 1}])
    assert fig.to_plotly_json()["layout"]["template"] == F.theme()
    assert F.theme()["layout"]["plot_bgcolor"] == "white"  # plotly_white
