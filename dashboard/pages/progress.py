"""Progress: hypervolume and best-so-far per objective against trial number or time, and the
candidates by status."""

from __future__ import annotations

from typing import Any

import dash
import plotly.graph_objects as go
from dash import Input, Output, State, callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import data
from dashboard.components import interval, not_found, study_nav, unquote_name
from dashboard.figures import (
    best_so_far_figure,
    hypervolume_figure,
    status_counts,
    status_figure,
)

dash.register_page(__name__, path_template="/study/<study>/progress", name="Progress",
                   title="tinydse · progress")


def layout(study: str | None = None, **_query: Any) -> html.Div:
    name = unquote_name(study)
    src = data.get_data()
    if src.study(name) is None:
        return not_found(f"No study named {name!r} in this database.",
                         "Pick one from the list of studies.")
    return html.Div([
        html.H2(["Progress · ", html.Span(name, id="progress-study-name")]),
        study_nav(name, "progress"),
        dcc.Store(id="progress-study", data=name),
        dcc.Store(id="progress-token"),
        dcc.RadioItems(id="progress-by", options=[
            {"label": " against trial number", "value": "trial"},
            {"label": " against time", "value": "time"}], value="trial", inline=True),
        html.Div(id="progress-counts", className="summary"),
        html.Div([
            dcc.Graph(id="progress-hv", config={"displaylogo": False}),
            dcc.Graph(id="progress-status", config={"displaylogo": False}),
        ], className="row"),
        dcc.Graph(id="progress-best", config={"displaylogo": False}),
        interval("progress", data.REFRESH_MS),
    ])


def render(study: str, by: str) -> tuple[go.Figure, go.Figure, go.Figure, Any]:
    """Hypervolume, best-so-far and status figures plus the counts line (the callback body)."""
    src = data.get_data()
    info = src.study(study)
    if info is None:
        raise PreventUpdate
    frame = src.candidates(study)
    axis = "time" if by == "time" else "trial"
    hv = hypervolume_figure(src.hypervolume_history(study), by=axis)  # type: ignore[arg-type]
    best = best_so_far_figure(frame, [o for o in info.objectives if o[0] in frame.columns],
                              by=axis)  # type: ignore[arg-type]
    counts = status_counts(frame)
    line = [html.Span(f"{len(frame):,}", id="progress-count-total"), " candidates: "]
    line += [html.Span(f"{k} {v:,}", className="progress-count", id=f"progress-count-{k}")
             for k, v in counts.items()]
    for i in range(len(line) - 1, 2, -1):
        line.insert(i, " · ")
    return hv, best, status_figure(counts), line


@callback(Output("progress-hv", "figure"), Output("progress-best", "figure"),
          Output("progress-status", "figure"), Output("progress-counts", "children"),
          Output("progress-token", "data"),
          Input("progress-by", "value"), Input("progress-interval", "n_intervals"),
          State("progress-study", "data"), State("progress-token", "data"))
def update_progress(by: str, _n: int, study: str, token: str | None
                    ) -> tuple[Any, Any, Any, Any, str]:
    new_token = data.get_data().version(study)
    if ctx.triggered_id == "progress-interval" and new_token == token:
        raise PreventUpdate
    return (*render(study, by), new_token)
