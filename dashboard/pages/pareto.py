"""Pareto: any two metrics on the axes, a third as colour, the front highlighted and linked,
dominated points faded, infeasible/failed on demand, budget sliders that filter the points and
redraw the front, several studies overlaid; a click on a point opens the candidate.

Below it, parallel coordinates over the objectives and the architecture choices
(:mod:`dashboard.parcoords`): brushing an axis narrows the scatter, its front and the front
table to the brushed candidates of the study (compared studies are not brushed: their
choices are other axes); and which choices matter most, by Optuna's importance evaluators
(:mod:`dashboard.importance`), over the trained candidates (the brushed ones when brushed)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import dash
import pandas as pd
import plotly.graph_objects as go
from dash import ALL, MATCH, Input, Output, State, callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import data
from dashboard import importance as imp
from dashboard import parcoords as pc
from dashboard.components import candidate_href, interval, not_found, study_nav, unquote_name
from dashboard.figures import (
    DONE_STATUSES,
    classify,
    default_direction,
    empty_figure,
    format_value,
    is_log_metric,
    metric_label,
    pareto_figure,
)
from dse.catalog import catalogue
from hwmodel.metrics import Known

dash.register_page(__name__, path_template="/study/<study>/pareto", name="Pareto",
                   title="tinydse · Pareto")

#: Slider positions per decade (log metrics) or over the range (linear metrics).
SLIDER_STEPS = 200


#: Rows of the front table drawn with the page (the rest on request: every row is a dozen
#: components for the browser to build, and a 4-objective front of 10k candidates has 115).
FRONT_ROWS = 30

#: What the parallel coordinates show until drawn.
PC_HINT = ("press \u2018draw parallel coordinates\u2019 to draw them (WebGL: without a GPU "
           "drawing takes seconds)")


def default_axes(info: data.StudyInfo, axes: Sequence[str]) -> tuple[str, str]:
    """x: the first minimized objective (else memory_bits); y: the first maximized one
    (else accuracy); each falls back to the first available axis."""
    xs = [m for m, d in info.objectives if d == "minimize" and m in axes]
    ys = [m for m, d in info.objectives if d == "maximize" and m in axes]
    x = xs[0] if xs else ("memory_bits" if "memory_bits" in axes else (axes[0] if axes else ""))
    y = ys[0] if ys else ("accuracy" if "accuracy" in axes else (axes[-1] if axes else ""))
    return x, y


def default_color(info: data.StudyInfo, axes: Sequence[str], shown: Sequence[str]
                  ) -> str | None:
    """Colour by memory_bits when no hardware metric is an objective (a compression study's
    rate-distortion front: PSNR against bits per pixel, coloured by encoder memory)."""
    hardware = {m.name for m in catalogue() if m.known in (Known.COST_MODEL, Known.SIMULATOR)}
    if "memory_bits" in axes and "memory_bits" not in shown and \
            not hardware & set(info.objective_names):
        return "memory_bits"
    return None


def budget_metrics(info: data.StudyInfo, axes: Sequence[str]) -> list[str]:
    """The metrics that get a budget slider: minimized objectives, then the study's budgets,
    then memory_bits and cycles when present."""
    out: list[str] = []
    for m in ([m for m, d in info.objectives if d == "minimize"]
              + [b[0] for b in info.budgets] + ["memory_bits", "cycles"]):
        if m in axes and m not in out and default_direction(m) == "minimize":
            out.append(m)
    return out


def slider_range(metric: str, values: pd.Series) -> tuple[float, float] | None:
    """Slider (min, max) in slider units: log10 of the value for log metrics."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    if is_log_metric(metric):
        v = v[v > 0]
        if v.empty:
            return None
        return math.log10(float(v.min())), math.log10(float(v.max()))
    if v.empty:
        return None
    return float(v.min()), float(v.max())


def slider_to_bound(metric: str, value: float | None, hi: float | None) -> float | None:
    """The budget a slider position means; None (no budget) at the right end."""
    if value is None or hi is None or value >= hi - 1e-9:
        return None
    # counts are integers: flooring keeps `metric <= bound` exact and the label honest
    return float(math.floor(10.0 ** value)) if is_log_metric(metric) else float(value)


def budget_slider(metric: str, values: pd.Series) -> html.Div | None:
    rng = slider_range(metric, values)
    if rng is None:
        return None
    lo, hi = rng
    if hi <= lo:
        hi = lo + 1e-6
    step = (hi - lo) / SLIDER_STEPS

    def label(pos: float) -> str:  # compact (1.06M): long end labels overlapped the next slider
        return pc.si_format(round(10 ** pos) if is_log_metric(metric) else pos)

    return html.Div([
        html.Label(metric_label(metric), className="pareto-budget-name"),
        dcc.Slider(id={"type": "pareto-budget", "metric": metric}, min=lo, max=hi, step=step,
                   value=hi, marks={lo: label(lo), hi: label(hi)}, allow_direct_input=False,
                   updatemode="mouseup"),
        html.Div("no budget", id={"type": "pareto-budget-label", "metric": metric},
                 className="pareto-budget-label"),
    ], className="pareto-budget", title=metric)


def layout(study: str | None = None, compare: str | None = None, x: str | None = None,
           y: str | None = None, color: str | None = None, **_query: Any) -> html.Div:
    name = unquote_name(study)
    src = data.get_data()
    info = src.study(name)
    if info is None:
        return not_found(f"No study named {name!r} in this database.",
                         "Pick one from the list of studies.")
    frame = src.candidates(name)
    axes = data.numeric_axes(frame, info.objective_names)
    dx, dy = default_axes(info, axes)
    x = x if x in axes else dx
    y = y if y in axes else dy
    color = color if color in axes else default_color(info, axes, (x, y))
    others = [s for s in src.study_names() if s != name]
    compare_list = [c for c in (compare or "").split(",") if c in others]
    options = [{"label": metric_label(a) + ("" if metric_label(a) == a else f" [{a}]"),
                "value": a} for a in axes]
    sliders = [s for m in budget_metrics(info, axes) if (s := budget_slider(m, frame[m]))]
    # the first drawing ships with the page (one round trip less than an initial callback)
    fig, summary, table = render(name, compare_list, x, y, color, [], "objectives", {})
    token = "|".join(src.version(n) for n in [name, *compare_list])
    pc_axes = pc.default_axes(frame, info.objective_names)
    pc_color = info.objective_names[0] if info.objective_names else None
    return html.Div([
        html.H2(["Pareto · ", html.Span(name, id="pareto-study-name")]),
        study_nav(name, "pareto"),
        dcc.Store(id="pareto-study", data=name),
        dcc.Store(id="pareto-token", data=token),
        dcc.Location(id="pareto-nav", refresh="callback-nav"),
        html.Div([
            html.Div([html.Label("x axis"), dcc.Dropdown(id="pareto-x", options=options,
                                                         value=x, clearable=False)],
                     className="control"),
            html.Div([html.Label("y axis"), dcc.Dropdown(id="pareto-y", options=options,
                                                         value=y, clearable=False)],
                     className="control"),
            html.Div([html.Label("colour"), dcc.Dropdown(id="pareto-color", options=options,
                                                         value=color, clearable=True,
                                                         placeholder="by study")],
                     className="control"),
            html.Div([html.Label("compare with"),
                      dcc.Dropdown(id="pareto-compare", options=others, value=compare_list,
                                   multi=True, placeholder="other studies")],
                     className="control"),
        ], className="controls"),
        html.Div([
            dcc.Checklist(id="pareto-show", options=[
                {"label": " show infeasible", "value": "infeasible"},
                {"label": " show failed", "value": "failed"},
                {"label": " show pruned", "value": "pruned"}], value=[], inline=True),
            dcc.RadioItems(id="pareto-front-over", options=[
                {"label": " front over the study's objectives", "value": "objectives"},
                {"label": " front over the two axes", "value": "axes"}],
                value="objectives", inline=True),
        ], className="controls"),
        html.Div(sliders, id="pareto-budgets", className="budgets"),
        html.Div(summary, id="pareto-summary", className="summary"),
        dcc.Graph(id="pareto-graph", figure=fig,
                  config={"displaylogo": False}, style={"height": "560px"}),
        html.H3("Front"),
        dcc.Checklist(id="pareto-front-all", options=[
            {"label": " list the whole front", "value": "all"}], value=[], inline=True),
        html.Div(table, id="pareto-front-table"),
        html.H3("Objectives and choices"),
        html.P("Drag along an axis to brush it (several ranges per axis; click a range to "
               "drop it): the scatter, its front and the front table follow.",
               className="hint"),
        html.Div([
            html.Div([html.Label("axes"), dcc.Dropdown(
                id="pareto-pc-axes", options=pc.axis_options(frame, axes), value=pc_axes,
                multi=True, clearable=False)], className="control wide"),
            html.Div([html.Label("line colour"), dcc.Dropdown(
                id="pareto-pc-color", options=options, value=pc_color, clearable=True,
                placeholder="one colour")], className="control"),
            html.Button("draw parallel coordinates", id="pareto-pc-draw", n_clicks=0),
            html.Button("clear brush", id="pareto-pc-clear", n_clicks=0),
        ], className="controls"),
        dcc.Store(id="pareto-brush", data={}),
        html.Div(brush_status(frame, {}), id="pareto-brush-summary", className="summary"),
        # drawn on request: a WebGL parcoords takes seconds where the browser has no GPU
        # (software rendering blocks the page), and the scatter and the front must not wait;
        # the graph itself is made then (an empty one would still cost a Plotly drawing)
        html.Div(html.P(PC_HINT, className="hint"), id="pareto-parcoords-box"),
        html.H3("Which choices matter"),
        html.Div([
            dcc.RadioItems(id="pareto-imp-method", options=[
                {"label": f" {m}", "value": m} for m in imp.EVALUATORS],
                value=imp.EVALUATORS[0], inline=True),
        ], className="controls"),
        dcc.Loading(html.Div([
            html.Div(id="pareto-imp-note", className="summary"),
            html.Div(html.P("computing…", className="hint"), id="pareto-importance-box"),
        ])),
        interval("pareto", data.REFRESH_MS),
    ])


def trained(df: pd.DataFrame) -> pd.DataFrame:
    """The rows the parallel coordinates draw and the brush selects among: trained ones."""
    return df[df["status"].astype(str).str.lower().isin(DONE_STATUSES)]


def parcoords(frame: pd.DataFrame, axes: Sequence[str], color: str | None,
              brush: pc.Brush) -> go.Figure:
    return pc.parcoords_figure(trained(frame), axes, color=color, brush=brush)


def brush_status(frame: pd.DataFrame, brush: pc.Brush) -> list[Any]:
    """"N of M trained candidates brushed", and what the brush keeps, axis by axis."""
    done = trained(frame)
    n = int(pc.brushed(done, brush).sum())
    lines = pc.brush_summary(done, brush)
    return [html.Span(f"{n:,}", id="pareto-count-selected"),
            f" of {len(done):,} trained candidates selected",
            *([" · brushed: ", "; ".join(lines)] if lines else [" (no brush)"])]


def _budgets(values: Sequence[float | None], ids: Sequence[Mapping[str, str]],
             maxima: Sequence[float | None]) -> dict[str, float | None]:
    return {i["metric"]: slider_to_bound(i["metric"], v, hi)
            for v, i, hi in zip(values, ids, maxima, strict=True)}


def front_table(frames: Mapping[str, pd.DataFrame], roles: Mapping[str, pd.Series], x: str,
                y: str, objectives: Sequence[str] = (), limit: int | None = FRONT_ROWS
                ) -> html.Table | html.Div:
    """The front's candidates with links to their pages, in ``x`` order: the study (when
    several are shown), the two axes, the other objectives, then the architecture choices in
    one cell (``name value · ...``); the first ``limit`` (None: all), with a line saying how
    many more there are.

    Every cell is a component the browser builds (the 10k-candidate page's 30 rows were
    two-fifths of its components, with a column per choice), hence one cell for the choices,
    however many the space has, and no study column on a page of one study."""
    metrics = list(dict.fromkeys([x, y, *objectives]))
    choices = list(dict.fromkeys(c for df in frames.values() for c in pc.choice_columns(df)))
    fronts = []
    for study, df in frames.items():
        front = df[roles[study] == "front"]
        if x in front.columns:
            front = front.sort_values([x, y] if y in front.columns else [x])
        fronts.append((study, front))
    total = sum(len(f) for _, f in fronts)
    if not total:
        return html.Div("no candidate on the front yet")
    several = len(frames) > 1
    rows: list[html.Tr] = []
    for study, front in fronts:
        left = None if limit is None else limit - len(rows)
        for r in (front if left is None else front.iloc[:max(left, 0)]).to_dict("records"):
            cid = int(r["candidate_id"])
            rows.append(html.Tr([
                *([html.Td(study)] if several else []),
                html.Td(dcc.Link(f"#{cid}", href=candidate_href(cid),
                                 className="pareto-front-link")),
                html.Td(format_value("trial", r.get("trial"))),
                *(html.Td(format_value(m, r.get(m))) for m in metrics),
                *([html.Td(" \u00b7 ".join(f"{pc.axis_label(c)} {_choice_text(r.get(c))}"
                                           for c in choices), className="pareto-front-choices")]
                  if choices else [])],
                className="pareto-front-row"))
    head = html.Thead(html.Tr([html.Th(h) for h in (
        *(["study"] if several else []), "candidate", "trial", *map(metric_label, metrics),
        *(["choices"] if choices else []))]))
    table = html.Table([head, html.Tbody(rows)], className="table")
    if len(rows) == total:
        return table
    return html.Div([html.P([html.Span(f"{len(rows):,}", id="pareto-front-listed"),
                             f" of {total:,} front candidates listed (in {x} order; "
                             "\u2018list the whole front\u2019 lists all)"], className="hint"),
                     table])


def _choice_text(value: Any) -> str:
    return pc.ABSENT if value is None or (isinstance(value, float) and math.isnan(value)) \
        else str(value)


def render(study: str, compare: Sequence[str] | None, x: str, y: str, color: str | None,
           show: Sequence[str] | None, front_over: str,
           budgets: Mapping[str, float | None],
           brush: pc.Brush | None = None, front_rows: int | None = FRONT_ROWS
           ) -> tuple[go.Figure, Any, Any]:
    """Figure, summary and front table for the current controls (the callback's body);
    ``brush`` narrows the study's (not the compared studies') trained candidates; the table
    lists ``front_rows`` candidates (None: all)."""
    src = data.get_data()
    names = [study] + [c for c in (compare or []) if c != study]
    infos = {n: src.study(n) for n in names}
    frames = {n: src.candidates(n) for n in names if infos[n] is not None}
    main = infos[study]
    if main is None or not x or not y:
        return empty_figure("no such study or axis"), "", ""
    directions = dict(main.directions)
    objectives = {n: infos[n].objective_names for n in frames}  # type: ignore[union-attr]
    fo = "axes" if front_over == "axes" else "objectives"
    selected = {study: pc.brushed(trained(frames[study]), brush)} if brush else {}
    roles = {n: classify(df, objectives=objectives[n] or [y, x], directions=directions,
                         budgets=budgets, front_over=fo, axes=(x, y),  # type: ignore[arg-type]
                         selected=selected.get(n))
             for n, df in frames.items()}
    fig = pareto_figure(frames, x, y, color=color, objectives=objectives,
                        directions=directions, budgets=budgets, show=show or (),
                        front_over=fo, roles=roles)  # type: ignore[arg-type]
    total_front = sum(int((r == "front").sum()) for r in roles.values())
    plotted = sum(len(t.x) for t in fig.data if t.x is not None)  # type: ignore[attr-defined]
    over = sum(int((r == "over_budget").sum()) for r in roles.values())
    infeasible = sum(int(r.isin(["infeasible", "failed", "pruned"]).sum())
                     for r in roles.values())
    summary = [
        html.Span(f"{plotted:,}", id="pareto-count-shown"), " points shown · ",
        html.Span(f"{total_front:,}", id="pareto-count-front"), " on the front · ",
        html.Span(f"{over:,}", id="pareto-count-over"), " over budget · ",
        html.Span(f"{infeasible:,}", id="pareto-count-infeasible"),
        " infeasible, failed or pruned",
    ]
    return fig, summary, front_table(frames, roles, x, y, objectives.get(study, []),
                                     limit=front_rows)


@callback(Output("pareto-graph", "figure"), Output("pareto-summary", "children"),
          Output("pareto-front-table", "children"), Output("pareto-token", "data"),
          Input("pareto-x", "value"), Input("pareto-y", "value"),
          Input("pareto-color", "value"), Input("pareto-compare", "value"),
          Input("pareto-show", "value"), Input("pareto-front-over", "value"),
          Input({"type": "pareto-budget", "metric": ALL}, "value"),
          Input("pareto-interval", "n_intervals"), Input("pareto-brush", "data"),
          Input("pareto-front-all", "value"),
          State({"type": "pareto-budget", "metric": ALL}, "id"),
          State({"type": "pareto-budget", "metric": ALL}, "max"),
          State("pareto-study", "data"), State("pareto-token", "data"),
          prevent_initial_call=True)
def update_pareto(x: str, y: str, color: str | None, compare: list[str] | None,
                  show: list[str] | None, front_over: str, budget_values: list[float | None],
                  _n: int, brush: dict[str, Any] | None, front_all: list[str] | None,
                  budget_ids: list[dict[str, str]],
                  budget_max: list[float | None], study: str, token: str | None
                  ) -> tuple[Any, Any, Any, Any]:
    src = data.get_data()
    names = [study] + list(compare or [])
    new_token = "|".join(src.version(n) for n in names if src.study(n) is not None)
    if ctx.triggered_id == "pareto-interval" and new_token == token:
        raise PreventUpdate  # live tick with nothing new: keep the page as it is
    budgets = _budgets(budget_values, budget_ids, budget_max)
    fig, summary, table = render(study, compare, x, y, color, show, front_over, budgets,
                                 brush or {}, None if front_all else FRONT_ROWS)
    # the token only moves with the data: the parallel coordinates redraw on it
    return fig, summary, table, new_token if new_token != token else dash.no_update


@callback(Output({"type": "pareto-budget-label", "metric": MATCH}, "children"),
          Input({"type": "pareto-budget", "metric": MATCH}, "value"),
          State({"type": "pareto-budget", "metric": MATCH}, "max"),
          State({"type": "pareto-budget", "metric": MATCH}, "id"),
          prevent_initial_call=True)  # the page is drawn with "no budget" (the slider's end)
def budget_label(value: float | None, hi: float | None, ident: dict[str, str]) -> str:
    metric = ident["metric"]
    bound = slider_to_bound(metric, value, hi)
    if bound is None:
        return "no budget"
    return f"{metric} ≤ {format_value(metric, bound)}"


@callback(Output("pareto-nav", "pathname"), Input("pareto-graph", "clickData"),
          prevent_initial_call=True)
def open_candidate(click: dict[str, Any] | None) -> str:
    """A click on a point opens that candidate's page."""
    if not click or not click.get("points"):
        raise PreventUpdate
    point = click["points"][0]
    ident = point.get("id")  # the trace's ``ids``: the candidate id
    if ident is None:  # a figure without ids: the first customdata column
        custom = point.get("customdata")
        ident = custom[0] if isinstance(custom, list) and custom else None
    try:
        return candidate_href(int(float(ident)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise PreventUpdate from None


# A brush lives in the browser (Plotly writes it into the trace's dimensions); this collects
# every axis's constraint range by the dimension's name (its column), so reordered axes keep
# their brushes.
dash.clientside_callback(
    """
    function(restyle) {
        const gd = document.querySelector('#pareto-parcoords .js-plotly-plot');
        const nu = window.dash_clientside.no_update;
        if (!restyle || !gd || !gd.data || !gd.data[0] || !gd.data[0].dimensions) { return nu; }
        const out = {};
        for (const d of gd.data[0].dimensions) {
            if (d.constraintrange && d.constraintrange.length) { out[d.name] = d.constraintrange; }
        }
        return out;
    }
    """,
    Output("pareto-brush", "data"), Input("pareto-parcoords", "restyleData"),
    prevent_initial_call=True)


@callback(Output("pareto-parcoords-box", "children"),
          Output("pareto-brush", "data", allow_duplicate=True),
          Input("pareto-pc-axes", "value"), Input("pareto-pc-color", "value"),
          Input("pareto-pc-clear", "n_clicks"), Input("pareto-token", "data"),
          Input("pareto-pc-draw", "n_clicks"),
          State("pareto-brush", "data"), State("pareto-study", "data"),
          prevent_initial_call=True)  # drawn on request, then on change
def update_parcoords(axes: list[str] | None, color: str | None, _clear: int, _token: str,
                     drawn: int | None, brush: dict[str, Any] | None, study: str
                     ) -> tuple[Any, Any]:
    """Draw the parallel coordinates once asked (the draw button), then for new axes, colour
    or data, keeping the brush on the axes still shown; the clear button drops it."""
    if not drawn:
        return dash.no_update, dash.no_update
    frame = data.get_data().candidates(study)
    axes = list(axes or [])
    if ctx.triggered_id == "pareto-pc-clear":
        brush = {}
    kept = {k: v for k, v in (brush or {}).items() if k in axes}
    graph = dcc.Graph(id="pareto-parcoords", figure=parcoords(frame, axes, color, kept),
                      config={"displaylogo": False}, style={"height": "460px"})
    return graph, (kept if kept != (brush or {}) or
                                                 ctx.triggered_id == "pareto-pc-clear"
                                                 else dash.no_update)


@callback(Output("pareto-brush-summary", "children"), Input("pareto-brush", "data"),
          Input("pareto-token", "data"), State("pareto-study", "data"),
          prevent_initial_call=True)  # the page is drawn with the unbrushed summary
def update_brush_summary(brush: dict[str, Any] | None, _token: str, study: str) -> list[Any]:
    return brush_status(data.get_data().candidates(study), brush or {})


def importance_graph(fig: go.Figure) -> dcc.Graph:
    return dcc.Graph(id="pareto-importance", figure=fig, config={"displaylogo": False})


@callback(Output("pareto-importance-box", "children"), Output("pareto-imp-note", "children"),
          Input("pareto-imp-method", "value"), Input("pareto-brush", "data"),
          State("pareto-study", "data"))
def update_importance(method: str, brush: dict[str, Any] | None, study: str
                      ) -> tuple[Any, str]:
    """Optuna's importances of the choices over the trained (brushed) candidates."""
    src = data.get_data()
    info = src.study(study)
    if info is None:
        raise PreventUpdate
    done = trained(src.candidates(study))
    done = done[pc.brushed(done, brush or {})]
    keep = {int(t) for t in done["trial"].dropna()}
    loaded = imp.cached_trials(src, study)
    if loaded is None:
        return (html.P("no Optuna study in this database", className="hint"),
                "Importances need the Optuna study a search keeps in the database.")
    directions, trials = loaded
    table = imp.choice_importances(directions, trials, info.objective_names, keep=keep,
                                   method=method)
    if table.empty:
        return (html.P("too few trained candidates", className="hint"),
                f"{len(keep)} trained candidates selected; importances need at least "
                f"{imp.MIN_TRIALS}.")
    n = sum(1 for t in trials if t.number in keep)
    return (importance_graph(imp.importance_figure(table, n_trials=n, method=method)),
            f"most important: {table.index[0]} (over {n:,} trained candidates"
            + (", brushed)" if brush else ")"))
