"""Plotly figures of the dashboard as pure functions of DataFrames (no store, no Dash).

Every function takes plain data (candidate frames in the canonical columns of
:mod:`dashboard.data`, epoch frames, a per-layer hardware report) and returns a
``plotly.graph_objects.Figure``; the pages only wire them to inputs, so the figures are tested
by calling them directly.

Canonical candidate columns (see :func:`dashboard.data.canonical_candidates`):
``candidate_id``, ``trial``, ``status``, ``pareto`` (the store's precomputed membership over the
study's objectives), ``created_at``, ``updated_at``, and one numeric column per metric
(``accuracy``, ``memory_bits``, ``cycles``, ``energy_pj``, ``bops``, ``area_um2``, ...).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from dse.catalog import catalogue
from dse.status import Status

Direction = Literal["minimize", "maximize"]

#: Statuses of fully trained candidates: the only ones a front is made of (as in the store).
DONE_STATUSES = (Status.COMPLETE.value,)
#: Statuses shown only on demand: never trained (over a hard budget), broken, stopped early
#: (a pruned candidate's accuracy is from a partial training, not comparable).
INFEASIBLE_STATUSES = (Status.INFEASIBLE.value,)
FAILED_STATUSES = (Status.FAILED.value,)
PRUNED_STATUSES = (Status.PRUNED.value,)
#: Roles shown on demand, with their marker symbol and colour.
ON_DEMAND = {"infeasible": ("x", "#7f7f7f"), "failed": ("x-thin-open", "#000000"),
             "pruned": ("circle-open", "#7f7f7f")}

#: Fields shown when hovering a candidate, in this order, when present.
HOVER_FIELDS = ("accuracy", "memory_bits", "cycles", "energy_pj", "bops", "area_um2")

FADED_OPACITY = 0.4
#: Studies larger than this (candidates, all overlaid studies together) are drawn with WebGL.
WEBGL_ABOVE = 3000
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")
SYMBOLS = ("circle", "diamond", "square", "triangle-up", "star", "hexagon", "pentagon")


# ---------------------------------------------------------------------- building figures
@functools.cache
def theme() -> dict[str, Any]:
    """The dashboard's Plotly template (``plotly_white``) as a plain dict, made once."""
    return pio.templates["plotly_white"].to_plotly_json()  # type: ignore[no-any-return]


def figure(traces: Sequence[Mapping[str, Any]] = (), **layout: Any) -> go.Figure:
    """A figure of trace dicts (each with its ``type``) and layout keys, on :func:`theme`,
    built without plotly.py's validation.

    The figures of the Pareto page are made of values this module produces (numeric arrays,
    known property names), and validating them cost more than everything else the page's
    server side does: on a 10k-candidate study, coercing the arrays and deep-copying the
    template took 1.2 s of the page's 1.5 s layout (``benchmarks/dashboard_load.py``).
    ``_validate=False`` is plotly.py's own switch for that (``BaseFigure.__init__``);
    ``tests/dashboard/test_figures.py`` fails if plotly.py stops honouring it, and the
    browser tests draw every figure (a bad property would show as a console error).
    """
    # everything through the constructor: ``update_layout`` walks a template dict key by key
    return go.Figure(data=[dict(t) for t in traces], layout={"template": theme(), **layout},
                     _validate=False)


# ---------------------------------------------------------------------- metric helpers
def metric_label(metric: str) -> str:
    """Axis label of a metric: the catalogue's label, else the column name."""
    return "trial" if metric == "trial" else catalogue().label(metric)


def default_direction(metric: str) -> Direction:
    """The catalogue's direction of ``metric``; a name outside it (or bookkeeping) is
    treated as a cost."""
    return catalogue().direction(metric) or "minimize"


def is_log_metric(metric: str) -> bool:
    """Whether the catalogue draws ``metric`` on a log axis (bit, cycle and operation counts
    span decades)."""
    return catalogue().log_axis(metric)


def format_value(metric: str, value: Any) -> str:
    """One number for hover text and tables: integers with separators, else 4 significant
    digits; fractions (accuracies) as percentages with two decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if catalogue().is_fraction(metric):
        return f"{100.0 * float(value):.2f}%"
    fvalue = float(value)
    if fvalue.is_integer() and abs(fvalue) < 1e15:
        return f"{int(fvalue):,}"
    return f"{fvalue:.4g}"


def hover_fields(df: pd.DataFrame, extra: Sequence[str] = ()) -> list[str]:
    """The metric columns shown on hover: :data:`HOVER_FIELDS` then ``extra``, present ones."""
    fields: list[str] = []
    for col in (*HOVER_FIELDS, *extra):
        if col and col in df.columns and col not in fields:
            fields.append(col)
    return fields


def d3_format(metric: str, values: pd.Series) -> str:
    """The d3-format Plotly uses on hover, matching :func:`format_value`: percentages for
    fractions, thousands separators for integer counts, else 4 significant digits."""
    if catalogue().is_fraction(metric):
        return ".2%"
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(float)
    if v.size and np.all(np.mod(v, 1.0) == 0) and np.all(np.abs(v) < 1e15):
        return ",.0f"
    return ".4g"


def hover_template(df: pd.DataFrame, fields: Sequence[str], *, status: str,
                   study: str | None = None, axes: Sequence[str] = ()) -> str:
    """A Plotly hovertemplate over ``customdata = [candidate_id, trial, *fields]`` and the
    point's own ``axes`` (x, y; read from the point, not shipped twice): the numbers are
    formatted in the browser, so a 10k-point figure ships no hover strings."""
    head = (f"{study} · " if study else "") + "candidate %{customdata[0]:d}"
    lines = [head, "trial %{customdata[1]:d}", f"status {status}"]
    lines += [f"{a}: %{{{'xy'[i]}:{d3_format(a, df[a])}}}" for i, a in enumerate(axes)]
    lines += [f"{f}: %{{customdata[{2 + i}]:{d3_format(f, df[f])}}}"
              for i, f in enumerate(fields)]
    return "<br>".join(lines) + "<extra></extra>"


def hover_customdata(df: pd.DataFrame, fields: Sequence[str]) -> np.ndarray:
    """``[candidate_id, trial, *fields]`` per row, as one float array (shipped as binary):
    float32 (half the bytes) when every column survives it as shown on hover (ids, trials
    and counts below 2^24 exactly; fractions and 4-significant-digit values to their
    shown precision), else float64."""
    cols = [df["candidate_id"], df["trial"] if "trial" in df.columns
            else pd.Series(np.nan, index=df.index), *(df[f] for f in fields)]
    if not len(df):
        return np.empty((0, 2 + len(fields)))
    out = np.column_stack([pd.to_numeric(c, errors="coerce").to_numpy(float, na_value=np.nan)
                           for c in cols])
    exact = [True, True, *(d3_format(f, df[f]) != ",.0f" for f in fields)]
    narrow = out.astype(np.float32)
    same = (narrow.astype(float) == out) | np.isnan(out)
    if all(ok or bool(same[:, j].all()) for j, ok in enumerate(exact)) and bool(
            same[:, :2].all()):
        return narrow
    return out


# ---------------------------------------------------------------------- Pareto front
def front_mask(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``values`` (n x m) under ``directions``.

    Delegates to :func:`dse.pareto.non_dominated` (the store's definition, so the page and
    the stored flag agree). Rows with a NaN never belong to the front.
    """
    from dse.pareto import non_dominated

    values = np.asarray(values, dtype=float)
    mask = np.zeros(len(values), dtype=bool)
    ok = ~np.isnan(values).any(axis=1) if values.size else np.zeros(len(values), dtype=bool)
    if not ok.any():
        return mask
    sub = values[ok]
    result = np.asarray(non_dominated(sub, list(directions)))
    if result.dtype == bool:
        sub_mask = result
    else:
        sub_mask = np.zeros(len(sub), dtype=bool)
        sub_mask[result.astype(int)] = True
    mask[np.flatnonzero(ok)] = sub_mask
    return mask


def apply_budgets(df: pd.DataFrame, budgets: Mapping[str, float | None] | None,
                  directions: Mapping[str, str] | None = None) -> pd.Series:
    """Rows within every budget: ``metric <= bound`` for costs, ``>= bound`` for maximized
    metrics. ``None`` bounds and metrics absent from ``df`` are ignored; a NaN value passes
    (a candidate without that number is not known to break the budget)."""
    keep = pd.Series(True, index=df.index)
    for metric, bound in (budgets or {}).items():
        if bound is None or metric not in df.columns:
            continue
        direction = (directions or {}).get(metric, default_direction(metric))
        col = pd.to_numeric(df[metric], errors="coerce")
        within = col >= bound if direction == "maximize" else col <= bound
        keep &= within | col.isna()
    return keep


def classify(df: pd.DataFrame, *, objectives: Sequence[str], directions: Mapping[str, str],
             budgets: Mapping[str, float | None] | None = None,
             front_over: Literal["objectives", "axes"] = "objectives",
             axes: tuple[str, str] | None = None,
             selected: pd.Series | None = None) -> pd.Series:
    """Role of each candidate on the Pareto page: ``front``, ``dominated``, ``infeasible``,
    ``failed``, ``pruned``, ``pending`` (not finished), ``over_budget`` (filtered by a slider)
    or ``unselected`` (a trained candidate outside ``selected``, the parallel coordinates'
    brush).

    The front is the store's precomputed ``pareto`` flag when no budget or brush narrows the
    set and it is taken over the study's objectives; otherwise it is recomputed on the
    remaining trained candidates (over the objectives, or over the two plotted axes with
    ``front_over="axes"``).
    """
    status = df["status"].astype(str).str.lower() if "status" in df.columns else pd.Series(
        "complete", index=df.index)
    role = pd.Series("pending", index=df.index, dtype=object)
    done = status.isin(DONE_STATUSES)
    role[status.isin(INFEASIBLE_STATUSES)] = "infeasible"
    role[status.isin(FAILED_STATUSES)] = "failed"
    role[status.isin(PRUNED_STATUSES)] = "pruned"
    within = apply_budgets(df, budgets, directions)
    role[done & ~within] = "over_budget"
    chosen = pd.Series(True, index=df.index) if selected is None else \
        selected.reindex(df.index, fill_value=False).astype(bool)
    role[done & within & ~chosen] = "unselected"
    eligible = done & within & chosen
    role[eligible] = "dominated"
    narrowed = bool((done & ~(within & chosen)).any())
    if front_over == "axes":
        if axes is None:
            raise ValueError("front_over='axes' needs axes=(x, y)")
        cols = list(dict.fromkeys(axes))
    else:
        cols = [c for c in objectives if c in df.columns]
    if not cols:
        return role
    if front_over == "objectives" and not narrowed and "pareto" in df.columns:
        on_front = eligible & df["pareto"].fillna(False).astype(bool)
    else:
        values = df.loc[eligible, cols].apply(pd.to_numeric, errors="coerce").to_numpy(float)
        dirs = [directions.get(c, default_direction(c)) for c in cols]
        on_front = pd.Series(False, index=df.index)
        on_front[eligible] = front_mask(values, dirs)
    role[on_front] = "front"
    return role


def _color_range(frames: Mapping[str, pd.DataFrame], color: str) -> tuple[float, float] | None:
    vals = [pd.to_numeric(f[color], errors="coerce") for f in frames.values() if color in f]
    if not vals:
        return None
    allv = pd.concat(vals).dropna()
    if allv.empty:
        return None
    lo, hi = float(allv.min()), float(allv.max())
    if is_log_metric(color) and lo > 0:
        return math.log10(lo), math.log10(hi)
    return lo, hi


def pareto_figure(frames: Mapping[str, pd.DataFrame], x: str, y: str, *,
                  color: str | None = None,
                  objectives: Mapping[str, Sequence[str]] | None = None,
                  directions: Mapping[str, str] | None = None,
                  budgets: Mapping[str, float | None] | None = None,
                  show: Collection[str] = (),
                  front_over: Literal["objectives", "axes"] = "objectives",
                  log_axes: bool = True, webgl_above: int | None = None,
                  roles: Mapping[str, pd.Series] | None = None) -> go.Figure:
    """Scatter of ``y`` against ``x`` for one or more studies (overlaid for comparison).

    Per study: the front (full opacity, joined by a line in ``x`` order), the dominated
    trained candidates (faded), and, when named in ``show`` (``"infeasible"``, ``"failed"``,
    ``"pruned"``),
    those candidates wherever both coordinates are known. Candidates over a ``budgets`` bound
    are dropped and the front is redrawn without them. ``color`` names a metric for a shared
    colour scale; without it each study gets its own colour. Axes are logarithmic for bit,
    cycle and operation counts. Every point carries ``customdata = [candidate_id, trial,
    *hover fields]`` and its candidate id as ``ids`` (click-through), and a hover template
    showing the
    candidate's key numbers. ``roles`` (per study, from :func:`classify`) skips recomputing
    them. Above ``webgl_above``
    candidates in all the traces (default :data:`WEBGL_ABOVE`) are WebGL (``scattergl``),
    else SVG.
    """
    directions = dict(directions or {})
    traces: list[dict[str, Any]] = []
    crange = _color_range(frames, color) if color else None
    counts: dict[str, int] = {}
    limit = WEBGL_ABOVE if webgl_above is None else webgl_above
    scatter = "scattergl" if sum(len(f) for f in frames.values()) > limit else "scatter"
    status_of = {"front": "complete", "dominated": "complete", **{k: k for k in ON_DEMAND}}
    for i, (study, df) in enumerate(frames.items()):
        objs = list((objectives or {}).get(study, [])) or [c for c in (y, x)]
        if roles is not None and study in roles:
            role = roles[study]
        else:
            role = classify(df, objectives=objs, directions=directions, budgets=budgets,
                            front_over=front_over, axes=(x, y)) if len(df) else pd.Series(
                                [], dtype=object)
        base = PALETTE[i % len(PALETTE)]
        symbol = SYMBOLS[i % len(SYMBOLS)] if color else "circle"
        groups: list[tuple[str, str]] = [("front", "front"), ("dominated", "dominated")]
        groups += [(s, s) for s in ON_DEMAND if s in show]
        for key, label in groups:
            part = df[role == key] if len(df) else df
            if x not in part.columns or y not in part.columns:
                continue
            xs = pd.to_numeric(part[x], errors="coerce")
            ys = pd.to_numeric(part[y], errors="coerce")
            part = part[xs.notna() & ys.notna()]
            counts[f"{study}:{key}"] = len(part)
            if key == "front":
                part = part.sort_values([x, y])
            # the front hovers with every key number; a faded point with what places it
            # (its axes, colour and the objectives): the 10k-point figure ships smaller
            fields = [f for f in (hover_fields(df, [c for c in (color,) if c])
                                  if key == "front" else
                                  dict.fromkeys([*([color] if color else []), *objs]))
                      if f in df.columns and f not in (x, y)]
            marker: dict[str, Any] = {"size": 9 if key == "front" else 7, "symbol": symbol,
                                      "line": {"width": 1, "color": "#333"} if key == "front"
                                      else {"width": 0}}
            if key in ON_DEMAND:
                sym, col = ON_DEMAND[key]
                marker.update(symbol=sym, color=col, line={"width": 1, "color": col})
            elif color and color in part.columns:
                cvals = pd.to_numeric(part[color], errors="coerce")
                if is_log_metric(color) and crange is not None and (cvals > 0).all():
                    cvals = np.log10(cvals)
                marker.update(color=cvals.to_numpy(float), colorscale="Viridis",
                              showscale=(i == 0 and key == "front"),
                              colorbar={"title": {"text": ("log10 " if is_log_metric(color)
                                                           else "") + metric_label(color)}})
                if crange is not None:
                    marker.update(cmin=crange[0], cmax=crange[1])
            else:
                marker["color"] = base
            mode = "lines+markers" if key == "front" and front_over == "axes" else "markers"
            if key == "front" and front_over == "objectives" and len(objs) == 2 and set(
                    objs) == {x, y}:
                mode = "lines+markers"
            name = f"{study} · {label}" if len(frames) > 1 else label
            trace: dict[str, Any] = dict(
                type=scatter,
                x=part[x].to_numpy(float), y=part[y].to_numpy(float), mode=mode, name=name,
                marker=marker,
                opacity=FADED_OPACITY if key == "dominated" else 1.0,
                # binary (typed-array) customdata keeps a 10k-point figure small and fast to
                # serialize; dcc.Graph cannot index it into clickData, so the click-through
                # reads the point's ``id`` (trace ``ids``) instead
                customdata=hover_customdata(part, fields),
                ids=part["candidate_id"].astype("int64").astype(str).tolist(),
                hovertemplate=hover_template(part, fields, status=status_of[key],
                                             study=study if len(frames) > 1 else None,
                                             axes=(x, y)),
                meta={"study": study, "role": key},
            )
            if "lines" in mode:
                trace["line"] = {"color": base, "width": 1.5, "shape": "hv"}
            traces.append(trace)
    return figure(
        traces,
        xaxis={"title": {"text": metric_label(x)}, "ticklabeloverflow": "allow",
               "type": "log" if log_axes and is_log_metric(x) else "linear"},
        yaxis={"title": {"text": metric_label(y)}, "ticklabeloverflow": "allow",
               "type": "log" if log_axes and is_log_metric(y) else "linear"},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        # margins that already hold the default axes' labels and a one-row legend: where they
        # are too small Plotly's auto-margin draws the whole figure a second time (10k WebGL
        # points twice); ticklabeloverflow "allow" skips re-measuring every tick label per
        # label (plotly.js's default hides labels past the div, and these margins keep them in)
        margin={"l": 70, "r": 20, "t": 50, "b": 60},
        clickmode="event", hovermode="closest", uirevision=f"{x}|{y}",
        meta={"counts": counts},
    )


# ---------------------------------------------------------------------- progress
def _time_axis(df: pd.DataFrame, by: Literal["trial", "time"]) -> tuple[pd.Series, str]:
    if by == "time":
        col = "updated_at" if "updated_at" in df.columns else "created_at"
        return pd.to_datetime(df[col]), "time"
    return pd.to_numeric(df["trial"], errors="coerce"), "trial"


def best_so_far(df: pd.DataFrame, metric: str, direction: str,
                by: Literal["trial", "time"] = "trial") -> pd.DataFrame:
    """Running best of ``metric`` over the trained candidates ordered by trial (or time):
    columns ``x`` and ``best``; one row per trained candidate."""
    if df.empty or metric not in df.columns:
        return pd.DataFrame({"x": [], "best": []})
    done = df[df["status"].astype(str).str.lower().isin(DONE_STATUSES)] if (
        "status" in df.columns) else df
    xs, _ = _time_axis(done, by)
    vals = pd.to_numeric(done[metric], errors="coerce")
    part = pd.DataFrame({"x": xs, "v": vals}).dropna().sort_values("x", kind="stable")
    best = part["v"].cummax() if direction == "maximize" else part["v"].cummin()
    return pd.DataFrame({"x": part["x"].to_numpy(), "best": best.to_numpy()})


def hypervolume_figure(history: pd.DataFrame, by: Literal["trial", "time"] = "trial"
                       ) -> go.Figure:
    """Hypervolume of the study's front after each trial (or over time): a step line."""
    fig = go.Figure()
    xcol = "trial" if by == "trial" else ("time" if "time" in history.columns else "updated_at")
    if not history.empty and xcol in history.columns:
        history = history.sort_values(xcol, kind="stable")
        fig.add_trace(go.Scatter(x=history[xcol], y=history["hypervolume"], mode="lines+markers",
                                 line={"shape": "hv"}, name="hypervolume"))
    fig.update_layout(title={"text": "hypervolume"}, xaxis_title=xcol, yaxis_title="hypervolume",
                      template="plotly_white", margin={"l": 60, "r": 20, "t": 40, "b": 40})
    return fig


def best_so_far_figure(df: pd.DataFrame, objectives: Sequence[tuple[str, str]],
                       by: Literal["trial", "time"] = "trial") -> go.Figure:
    """One panel per objective: the best value found so far, against trial or time."""
    n = max(1, len(objectives))
    fig = make_subplots(rows=n, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=[f"best {metric_label(m)} ({d})" for m, d in objectives])
    for i, (metric, direction) in enumerate(objectives, start=1):
        series = best_so_far(df, metric, direction, by)
        fig.add_trace(go.Scatter(x=series["x"], y=series["best"], mode="lines",
                                 line={"shape": "hv", "color": PALETTE[(i - 1) % len(PALETTE)]},
                                 name=metric), row=i, col=1)
        if is_log_metric(metric):
            fig.update_yaxes(type="log", row=i, col=1)
    fig.update_xaxes(title_text="trial" if by == "trial" else "time", row=n, col=1)
    fig.update_layout(template="plotly_white", showlegend=False, height=max(300, 220 * n),
                      margin={"l": 60, "r": 20, "t": 40, "b": 40})
    return fig


def status_counts(df: pd.DataFrame) -> dict[str, int]:
    """Candidates per status, largest first."""
    if df.empty or "status" not in df.columns:
        return {}
    counts = df["status"].astype(str).value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def status_figure(counts: Mapping[str, int]) -> go.Figure:
    """Bar chart of candidates per status."""
    fig = go.Figure(go.Bar(x=list(counts), y=list(counts.values()),
                           text=[f"{v:,}" for v in counts.values()], textposition="auto"))
    fig.update_layout(title={"text": "candidates by status"}, template="plotly_white",
                      yaxis_title="candidates", margin={"l": 60, "r": 20, "t": 40, "b": 40})
    return fig


# ---------------------------------------------------------------------- candidate
#: Per-layer panels of the candidate page: (title, stacked columns, alternative columns).
#: Column names are those of :class:`hwmodel.cost.LayerCost` (plus ``sim_cycles`` when the
#: simulator ran); a panel stacks every present stacked column, else shows the first present
#: alternative.
LAYER_PANELS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("memory (bits)", ("weight_memory_bits", "ca_state_bits", "norm_memory_bits",
                       "live_act_bits"), ("memory_bits", "weight_bits")),
    ("logic ops per inference", ("gate_ops", "shift_ops", "compare_ops"),
     ("logic_gates", "logic_nand2_eq")),
    ("latency (cycles)", (), ("sim_cycles", "ideal_cycles", "cycles", "latency_cycles")),
)


def _has_values(layers: pd.DataFrame, col: str) -> bool:
    return col in layers.columns and bool(pd.to_numeric(layers[col], errors="coerce").notna()
                                          .any())


def layer_panels(layers: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """The panels a per-layer report supports: (title, columns to stack)."""
    out: list[tuple[str, list[str]]] = []
    for title, stacked, alternatives in LAYER_PANELS:
        cols = [c for c in stacked if _has_values(layers, c)]
        if not cols:
            cols = [c for c in alternatives if _has_values(layers, c)][:1]
        if cols:
            out.append((title, cols))
    return out


def layer_bars_figure(layers: pd.DataFrame) -> go.Figure:
    """Per-layer bars of memory bits, logic operations and cycles from a stored hardware
    report (one row per hardware op, with a ``layer`` path column); memory and logic bars
    stack their parts (weights, CA state, normalization, live activations; gate, shift and
    compare operations)."""
    panels = layer_panels(layers)
    n = max(1, len(panels))
    fig = make_subplots(rows=n, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                        subplot_titles=[t for t, _ in panels] or ["no per-layer report"])
    names = layers["layer"].astype(str).tolist() if "layer" in layers.columns else []
    k = 0
    for i, (_title, cols) in enumerate(panels, start=1):
        for col in cols:
            vals = pd.to_numeric(layers[col], errors="coerce").fillna(0)
            fig.add_trace(go.Bar(x=names, y=vals.to_numpy(), name=col,
                                 marker_color=PALETTE[k % len(PALETTE)], legendgroup=str(i),
                                 hovertext=[f"{nm}<br>{col}: {format_value(col, v)}"
                                            for nm, v in zip(names, vals, strict=True)],
                                 hoverinfo="text"), row=i, col=1)
            k += 1
    fig.update_layout(template="plotly_white", barmode="stack", height=max(320, 240 * n),
                      margin={"l": 60, "r": 20, "t": 40, "b": 100})
    return fig


def learning_curve_figure(epochs: pd.DataFrame) -> go.Figure:
    """Accuracy (top) and loss (bottom) per epoch, one line per training stage and split.

    Stages are laid end to end: the x axis counts epochs over the whole run, so a multi-stage
    schedule (BILLNET-style) reads left to right.
    """
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=["accuracy", "loss"])
    if epochs.empty:
        fig.update_layout(template="plotly_white")
        return fig
    df = epochs.copy()
    if "stage" not in df.columns:
        df["stage"] = "train"
    df["stage"] = df["stage"].fillna("train").astype(str)
    order = list(dict.fromkeys(df["stage"]))
    df["_stage_idx"] = df["stage"].map({s: i for i, s in enumerate(order)})
    df = df.sort_values(["_stage_idx", "epoch"], kind="stable").reset_index(drop=True)
    df["global_epoch"] = np.arange(1, len(df) + 1)
    for j, stage in enumerate(order):
        part = df[df["stage"] == stage]
        colour = PALETTE[j % len(PALETTE)]
        for row, metric in ((1, "accuracy"), (2, "loss")):
            for split, dash in (("train", "dot"), ("val", "solid")):
                col = f"{split}_{metric}"
                if col not in part.columns or part[col].isna().all():
                    continue
                fig.add_trace(go.Scatter(
                    x=part["global_epoch"], y=part[col], mode="lines+markers",
                    name=f"{stage} {split}", legendgroup=stage, showlegend=row == 1,
                    line={"color": colour, "dash": dash}), row=row, col=1)
    fig.update_xaxes(title_text="epoch (all stages)", row=2, col=1)
    fig.update_layout(template="plotly_white", height=480,
                      margin={"l": 60, "r": 20, "t": 40, "b": 40})
    return fig


def empty_figure(message: str) -> go.Figure:
    """A blank figure carrying one centred message (no data yet, unknown axis)."""
    return figure(annotations=[{"text": message, "showarrow": False, "x": 0.5, "y": 0.5,
                                "xref": "paper", "yref": "paper", "font": {"size": 16}}],
                  xaxis={"visible": False}, yaxis={"visible": False})
