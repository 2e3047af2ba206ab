"""Studies: every study with its space, dataset, objectives, budgets, counts by status, best
value per objective, hypervolume and last update, with links to its pages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dash
from dash import Input, Output, State, callback, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import data
from dashboard.components import interval, study_href
from dashboard.figures import format_value

dash.register_page(__name__, path="/", name="Studies", title="tinydse · studies", order=0)

ARROWS = {"maximize": "↑", "minimize": "↓"}


def _fmt_time(value: Any) -> str:
    if value is None or value != value:  # None or NaN/NaT
        return "–"
    text = str(value)
    return text[:19].replace("T", " ")


def study_row(info: data.StudyInfo, status: Mapping[str, Any]) -> dict[str, str]:
    """The Studies table's cells for one study, as text (tested directly)."""
    counts = status.get("counts") or {}
    best = status.get("best") or {}
    hv = status.get("hypervolume")
    return {
        "study": info.name,
        "space": info.space,
        "dataset": info.dataset,
        "objectives": ", ".join(f"{m} {ARROWS.get(d, d)}" for m, d in info.objectives),
        "budgets": ", ".join(f"{m} {op} {format_value(m, v)}" for m, op, v in info.budgets)
        or "–",
        "candidates": " · ".join(f"{k} {int(v):,}" for k, v in counts.items() if v) or "0",
        "best": ", ".join(f"{m} {format_value(m, best[m])}" for m, _ in info.objectives
                          if m in best and best[m] is not None) or "–",
        "hypervolume": "–" if hv is None else f"{float(hv):.4g}",
        "last update": _fmt_time(status.get("last_update")),
    }


COLUMNS = ("study", "space", "dataset", "objectives", "budgets", "candidates", "best",
           "hypervolume", "last update", "pages")


def studies_table(overview: list[dict[str, Any]]) -> html.Div | html.Table:
    """The table of studies (or a hint when the database holds none)."""
    if not overview:
        return html.Div("No study in this database yet: start one with `dse search`.",
                        id="studies-empty")
    body = []
    for item in overview:
        info: data.StudyInfo = item["info"]
        cells = study_row(info, item["status"])
        tds: list[Any] = [html.Td(dcc.Link(info.name, href=study_href(info.name, "pareto"),
                                           className="studies-name"))]
        tds += [html.Td(cells[c], className=f"studies-{c.replace(' ', '-')}")
                for c in COLUMNS[1:-1]]
        tds.append(html.Td([dcc.Link("Pareto", href=study_href(info.name, "pareto")), " · ",
                            dcc.Link("Progress", href=study_href(info.name, "progress"))]))
        body.append(html.Tr(tds, className="studies-row", title=info.name))
    return html.Table([html.Thead(html.Tr([html.Th(c) for c in COLUMNS])), html.Tbody(body)],
                      id="studies-tbl", className="table")


def layout(**_query: Any) -> html.Div:
    src = data.get_data()
    overview = src.studies_overview()
    return html.Div([
        html.H2("Studies"),
        html.Div(studies_table(overview), id="studies-table"),
        dcc.Store(id="studies-token", data=_token(overview)),
        interval("studies", data.REFRESH_MS),
    ])


def _token(overview: list[dict[str, Any]]) -> str:
    return repr([(o["info"].name, sorted((o["status"].get("counts") or {}).items()),
                  str(o["status"].get("last_update"))) for o in overview])


@callback(Output("studies-table", "children"), Output("studies-token", "data"),
          Input("studies-interval", "n_intervals"), State("studies-token", "data"),
          prevent_initial_call=True)
def refresh_studies(_n: int, token: str) -> tuple[Any, str]:
    """Live: redraw the table only when a study changed."""
    overview = data.get_data().studies_overview()
    new = _token(overview)
    if new == token:
        raise PreventUpdate
    return studies_table(overview), new
