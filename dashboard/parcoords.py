"""Parallel coordinates over a study's objectives and architecture choices, and the brush.

Pure functions of candidate frames (canonical columns of :mod:`dashboard.data`, whose
``choice:<name>`` columns hold the sampler's choices, see :func:`expand_choices`); the Pareto
page wires them to its inputs.

Every axis is drawn on an *encoded* scale, and a brush (Plotly's ``constraintrange``) is a
set of intervals on that scale, so one function (:func:`encode`) serves the figure and the
mask the brush selects (:func:`brushed`):

* metrics are numbers; bit, cycle and operation counts (:func:`dashboard.figures.is_log_metric`)
  are drawn as ``log10`` with decade ticks, as on the scatter's log axes;
* choices are categories (widths, quantizers, gates...: a sampler's categorical values), coded
  0..k-1 in sorted order, with the absent value of a conditional choice (``width_2`` when the
  network has two stages) as its own category ``–`` so that no line is dropped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.figures import empty_figure, figure, format_value, is_log_metric, metric_label

#: Prefix of the columns holding one architecture choice each.
CHOICE_PREFIX = "choice:"
#: Tick label of a conditional choice's absent value.
ABSENT = "–"
#: Default number of axes (objectives first, then choices) when the user picks none.
DEFAULT_AXES = 10
#: Brush intervals per axis: ``{column: [[lo, hi], ...]}`` on the encoded scale.
Brush = Mapping[str, Sequence[Sequence[float]]]


def choice_column(name: str) -> str:
    return f"{CHOICE_PREFIX}{name}"


def is_choice(column: str) -> bool:
    return column.startswith(CHOICE_PREFIX)


def axis_label(column: str) -> str:
    """A choice's name, else the metric's label."""
    return column[len(CHOICE_PREFIX):] if is_choice(column) else metric_label(column)


def expand_choices(df: pd.DataFrame) -> pd.DataFrame:
    """The ``choices`` JSON of each row (the store's query column) as one ``choice:<name>``
    column per name, in first-seen order; rows without the choice hold ``None``. Returns the
    new columns only (index of ``df``)."""
    if "choices" not in df.columns:
        return pd.DataFrame(index=df.index)
    parsed = [json.loads(c) if isinstance(c, str) else (c if isinstance(c, Mapping) else {})
              for c in df["choices"]]
    names: dict[str, None] = {}
    for p in parsed:
        names.update(dict.fromkeys(p))
    return pd.DataFrame({choice_column(n): pd.Series([p.get(n) for p in parsed],
                                                     index=df.index, dtype=object)
                         for n in names}, index=df.index)


def choice_columns(df: pd.DataFrame) -> list[str]:
    return [str(c) for c in df.columns if is_choice(str(c))]


@dataclass(frozen=True)
class Encoded:
    """One axis on its drawing scale: values (NaN: unknown), ticks, and for a categorical
    axis its categories in code order."""

    column: str
    values: np.ndarray
    tickvals: tuple[float, ...] | None = None
    ticktext: tuple[str, ...] | None = None
    categories: tuple[Any, ...] | None = None
    log: bool = False


def _category_key(v: Any) -> tuple[int, float, str]:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return (2, 0.0, "")
    if isinstance(v, int | float) and not isinstance(v, bool):
        return (0, float(v), "")
    return (1, 0.0, str(v))


def encode(df: pd.DataFrame, column: str) -> Encoded:
    """``column`` of ``df`` on its axis scale (see the module docstring)."""
    if is_choice(column):
        raw = df[column].tolist()
        cats = sorted({_category_key(v): v for v in raw}.items())
        categories = tuple(None if k[0] == 2 else v for k, v in cats)
        code = {k: float(i) for i, (k, _) in enumerate(cats)}
        values = np.array([code[_category_key(v)] for v in raw], dtype=float)
        text = tuple(ABSENT if c is None else str(c) for c in categories)
        return Encoded(column, values, tuple(float(i) for i in range(len(categories))), text,
                       categories)
    vals = pd.to_numeric(df[column], errors="coerce").to_numpy(float, na_value=np.nan)
    if is_log_metric(column) and np.nanmin(vals, initial=np.inf) > 0:
        logs = np.log10(vals)
        ticks = log_ticks(float(np.nanmin(logs)), float(np.nanmax(logs)))
        return Encoded(column, logs, ticks or None,
                       tuple(si_format(10.0 ** t) for t in ticks) or None, log=True)
    return Encoded(column, vals)


def log_ticks(lo: float, hi: float) -> tuple[float, ...]:
    """Tick positions (log10) for an axis over [lo, hi] (log10): the decades inside, with
    the 2x and 5x steps too when fewer than three decades fall inside."""
    first, last = math.floor(lo), math.ceil(hi)
    for steps in ((1.0,), (1.0, 2.0, 5.0)):
        ticks = tuple(math.log10(m) + d for d in range(first, last + 1) for m in steps
                      if lo - 1e-9 <= math.log10(m) + d <= hi + 1e-9)
        if len(ticks) >= 3:
            break
    return ticks


def si_format(value: float, digits: int = 3) -> str:
    """A compact label: ``1064636`` -> ``1.06M``, ``2500`` -> ``2.5k``, ``999960`` -> ``1M``,
    ``0.93`` -> ``0.93`` (``digits`` significant digits, SI prefixes k to P)."""
    if not math.isfinite(value):
        return str(value)
    rounded = float(f"{value:.{digits}g}")  # round first, so 999,960 carries to 1M
    for power, prefix in ((15, "P"), (12, "T"), (9, "G"), (6, "M"), (3, "k")):
        if abs(rounded) >= 10.0 ** power:
            return f"{rounded / 10.0 ** power:.{digits}g}{prefix}"
    return f"{rounded:.{digits}g}"


def brush_intervals(value: Any) -> list[tuple[float, float]]:
    """A Plotly ``constraintrange`` (``[lo, hi]``, ``[[lo, hi], ...]`` or None) as a list of
    ``(lo, hi)`` intervals."""
    if value is None or (isinstance(value, list | tuple) and not value):
        return []
    if isinstance(value[0], int | float):
        value = [value]
    out = []
    for pair in value:
        lo, hi = float(pair[0]), float(pair[1])
        out.append((min(lo, hi), max(lo, hi)))
    return out


def brushed(df: pd.DataFrame, brush: Brush | None) -> pd.Series:
    """Rows inside every brushed axis (in any of an axis's intervals, ends included); a row
    with an unknown value on a brushed axis is outside. Axes ``df`` lacks are ignored."""
    keep = pd.Series(True, index=df.index)
    for column, ranges in (brush or {}).items():
        intervals = brush_intervals(ranges)
        if not intervals or column not in df.columns:
            continue
        v = encode(df, column).values
        inside = np.zeros(len(df), dtype=bool)
        for lo, hi in intervals:
            inside |= (v >= lo) & (v <= hi)
        keep &= inside
    return keep


def default_axes(df: pd.DataFrame, objectives: Sequence[str], limit: int = DEFAULT_AXES
                 ) -> list[str]:
    """The objectives, then the choices that vary, up to ``limit`` axes."""
    out = [o for o in objectives if o in df.columns]
    for c in choice_columns(df):
        if len(out) >= limit:
            break
        if df[c].astype(str).nunique() > 1:
            out.append(c)
    return out


def axis_options(df: pd.DataFrame, metrics: Sequence[str]) -> list[dict[str, str]]:
    """Dropdown options: the metrics, then every choice."""
    cols = [*metrics, *choice_columns(df)]
    return [{"label": axis_label(c) + (" (choice)" if is_choice(c) else ""), "value": c}
            for c in cols]


def parcoords_figure(df: pd.DataFrame, axes: Sequence[str], *, color: str | None = None,
                     brush: Brush | None = None) -> go.Figure:
    """One line per row of ``df`` across ``axes`` (metric or ``choice:`` columns), coloured
    by ``color`` (a metric, on its axis scale), with ``brush`` drawn as the axes'
    constraint ranges. Each dimension's ``name`` is its column, which the page's brush
    collector reads back (robust to the user reordering axes)."""
    axes = [a for a in axes if a in df.columns]
    if not axes or df.empty:
        return empty_figure("no candidate with values on these axes yet")
    dims = []
    for col in axes:
        enc = encode(df, col)
        label = axis_label(col) + (" (log10)" if enc.log else "")
        # compact binary arrays for the browser (a 10k-line figure ships with the page):
        # category codes as bytes, metrics as float32 (drawing precision; the brush's mask is
        # computed here on float64 by :func:`brushed`)
        small = enc.categories is not None and len(enc.categories) <= 255
        shipped = enc.values.astype(np.uint8 if small else np.float32)
        dim: dict[str, Any] = {"label": label, "name": col, "values": shipped}
        if enc.tickvals is not None:
            dim.update(tickvals=list(enc.tickvals), ticktext=list(enc.ticktext or ()))
        finite = enc.values[np.isfinite(enc.values)]
        if finite.size:
            lo, hi = float(finite.min()), float(finite.max())
            pad = 0.5 if enc.categories is not None else 0.0
            dim["range"] = [lo - pad, hi + pad] if hi > lo or pad else [lo - 0.5, hi + 0.5]
        ranges = brush_intervals((brush or {}).get(col))
        if ranges:
            dim["constraintrange"] = [list(r) for r in ranges] if len(ranges) > 1 \
                else list(ranges[0])
        dims.append(dim)
    line: dict[str, Any] = {"color": "#1f77b4"}
    if color and color in df.columns:
        enc = encode(df, color)
        cvals = np.nan_to_num(enc.values, nan=float(np.nanmin(enc.values, initial=0.0)))
        line = {"color": cvals, "colorscale": "Viridis", "showscale": True,
                "colorbar": {"title": {"text": axis_label(color)
                                       + (" (log10)" if enc.log else "")}}}
    return figure([{"type": "parcoords", "dimensions": dims, "line": line, "labelangle": -20,
                    "labelside": "top", "unselected": {"line": {"opacity": 0.05}}}],
                  margin={"l": 60, "r": 60, "t": 80, "b": 30}, uirevision="|".join(axes),
                  meta={"axes": list(axes)})


def brush_summary(df: pd.DataFrame, brush: Brush | None) -> list[str]:
    """One readable line per brushed axis: ``memory (bits) in [1.2k, 5k]``, ``gate in {or,
    mux}`` (values back on the column's own scale)."""
    out = []
    for column, ranges in (brush or {}).items():
        intervals = brush_intervals(ranges)
        if not intervals or column not in df.columns:
            continue
        enc = encode(df, column)
        if enc.categories is not None:
            picked = [ABSENT if c is None else str(c) for i, c in enumerate(enc.categories)
                      if any(lo <= i <= hi for lo, hi in intervals)]
            out.append(f"{axis_label(column)} in {{{', '.join(picked)}}}")
            continue
        parts = []
        for lo, hi in intervals:
            a, b = (10.0 ** lo, 10.0 ** hi) if enc.log else (lo, hi)
            parts.append(f"[{format_value(column, a) if not enc.log else si_format(a)}, "
                         f"{format_value(column, b) if not enc.log else si_format(b)}]")
        out.append(f"{axis_label(column)} in {' or '.join(parts)}")
    return out
