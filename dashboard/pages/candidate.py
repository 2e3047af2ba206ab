"""Candidate: the ArchSpec as a layer table, the accelerator of a co-searched pair, its
evaluations by fidelity (the search's and each `dse train` run), per-layer memory/logic/cycle
bars from the stored hardware report, the learning curve per stage, and a download of the spec
JSON."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import data
from dashboard.components import interval, not_found, study_href
from dashboard.figures import (
    HOVER_FIELDS,
    format_value,
    layer_bars_figure,
    learning_curve_figure,
    metric_label,
)
from dse.export import MODEL_ARTIFACT

dash.register_page(__name__, path_template="/candidate/<candidate_id>", name="Candidate",
                   title="tinydse · candidate")

SUMMARY_FIELDS = ("status", "trial", "host", *HOVER_FIELDS, "val_accuracy", "test_accuracy",
                  "psnr_db", "ms_ssim", "bits_per_pixel", "test_psnr_db", "test_ms_ssim",
                  "test_blockiness", "weight_memory_bits", "act_buffer_bits", "macs",
                  "latency_cycles")
#: The compression task's original / reconstruction / |error| PNG (dse.tasks.compression).
RECONSTRUCTION = "reconstruction"


def reconstruction_view(cid: int, names: tuple[str, ...]) -> list[Any]:
    """The held-out original | reconstruction | |error| x 4 image, when the task stored one
    (shown 3x, pixels kept sharp)."""
    if RECONSTRUCTION not in names:
        return []
    found = data.get_data().artifact(cid, RECONSTRUCTION)
    if found is None:
        return []
    import base64

    mime, png = found
    src = f"data:{mime};base64,{base64.b64encode(png).decode('ascii')}"
    return [html.H3("Held-out image: original · reconstruction · |error| × 4"),
            html.Img(id="candidate-reconstruction", src=src, className="reconstruction",
                     style={"imageRendering": "pixelated", "width": "min(100%, 600px)"})]


def export_view(names: tuple[str, ...]) -> list[Any]:
    """The hardware export's download (parameter image, manifest, test vectors: the bundle of
    ``dse export``), offered when the trial kept its trained model."""
    if MODEL_ARTIFACT not in names:
        return []
    return [html.Button("Download hardware export (zip)", id="candidate-export-btn",
                        title="memories (.bin, $readmemh .hex), manifest.json and test "
                              "vectors, as `dse export` writes them"),
            dcc.Download(id="candidate-export-download"),
            html.Span(id="candidate-export-msg", className="error")]


#: The leading columns of the evaluations table (then the trained metrics present).
EVALUATION_FIELDS = ("source", "epochs", "schedule", "status")


_TEXT_FIELDS = ("source", "schedule", "status", "finished_at")


def evaluation_rows(frame: Any) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the candidate's evaluations by fidelity: source, epochs, schedule,
    status, then every directed trained metric of the catalogue present in any row, the
    training time and the finishing time (UTC)."""
    from dse.catalog import catalogue
    from hwmodel.metrics import Known

    metrics = [m.name for m in catalogue().ordered()
               if m.known is Known.TRAINING and m.direction is not None
               and m.name in frame.columns and frame[m.name].notna().any()]
    cols = [*EVALUATION_FIELDS, *metrics, "train_seconds", "finished_at"]
    rows = []
    for rec in frame.to_dict("records"):
        row = []
        for c in cols:
            value = rec.get(c)
            if c in _TEXT_FIELDS[:3]:
                row.append("" if value is None else str(value))
            elif c == "finished_at":
                row.append("" if value is None or value != value else
                           value.strftime("%Y-%m-%d %H:%M:%S"))
            else:
                row.append(format_value(c, value))
        rows.append(row)
    return [metric_label(c) if c in metrics else c.replace("_", " ") for c in cols], rows


def evaluations_table(frame: Any) -> html.Table:
    """The evaluations by fidelity as an HTML table (numbers right-aligned)."""
    header, rows = evaluation_rows(frame)
    numeric = [h not in _TEXT_FIELDS and h != "finished at" for h in header]
    return html.Table([
        html.Thead(html.Tr([html.Th(h) for h in header])),
        html.Tbody([html.Tr([html.Td(v, className="num" if n else None)
                             for v, n in zip(r, numeric, strict=True)],
                            className="candidate-evaluation-row") for r in rows]),
    ], id="candidate-evaluations-table", className="table mono")


def parse_id(candidate_id: str | None) -> int | None:
    """The integer id of a URL segment, or None when it is not one."""
    try:
        value = int(str(candidate_id))
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def summary_rows(row: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs of the candidate's key numbers, present ones only."""
    out = []
    for key in SUMMARY_FIELDS:
        value = row.get(key)
        if value is None or (isinstance(value, float) and value != value):
            continue
        text = str(value) if key in ("status", "host") else format_value(key, value)
        out.append((metric_label(key), text))
    if row.get("pareto"):
        out.append(("front", "on the Pareto front"))
    return out


def layer_table(rows: list[dict[str, Any]]) -> html.Table:
    """The ArchSpec's leaf layers as an HTML table (numbers right-aligned)."""
    cols = list(rows[0]) if rows else []
    numeric = {"params", "weight bits", "act bits", "groups"}
    return html.Table([
        html.Thead(html.Tr([html.Th(c) for c in cols])),
        html.Tbody([html.Tr([html.Td(f"{r[c]:,}" if isinstance(r[c], int) else str(r[c]),
                                     className="num" if c in numeric else None)
                             for c in cols], className="candidate-layer-row") for r in rows]),
    ], id="candidate-layers-table", className="table mono")


def accel_view(accel: dict[str, Any] | None, searched: tuple[str, ...]) -> list[Any]:
    """Co-search: the pair's accelerator as a small field | value table (the searched fields
    marked); nothing for a network-only candidate."""
    if not accel:
        return []
    from dse.cosearch import accel_table

    rows = accel_table(accel, searched)
    return [html.H3("Accelerator"),
            html.Table([
                html.Thead(html.Tr([html.Th("field"), html.Th("value"), html.Th("")])),
                html.Tbody([html.Tr([html.Td(r["field"]), html.Td(str(r["value"]),
                                                                  className="num"),
                                     html.Td("searched" if r["searched"] else "")],
                                    className="candidate-accel-row") for r in rows]),
            ], id="candidate-accel-table", className="table mono")]


def layout(candidate_id: str | None = None, **_query: Any) -> html.Div:
    cid = parse_id(candidate_id)
    src = data.get_data()
    cand = src.candidate(cid) if cid is not None else None
    if cand is None:
        return not_found(f"No candidate with id {candidate_id!r} in this database.",
                         "Candidates are opened from a study's Pareto page.")
    table = data.spec_table(cand.spec_json)
    facts = summary_rows(dict(cand.row))
    return html.Div([
        html.H2([f"Candidate #{cand.candidate_id}"], id="candidate-title"),
        html.Nav([html.Span("study "),
                  dcc.Link(cand.study, href=study_href(cand.study, "pareto"),
                           id="candidate-study-link"), " · ",
                  dcc.Link("progress", href=study_href(cand.study, "progress"))],
                 className="study-nav"),
        dcc.Store(id="candidate-id", data=cand.candidate_id),
        dcc.Store(id="candidate-token"),
        html.Table(html.Tbody([
            html.Tr([html.Th(k), html.Td(v, className="candidate-fact", title=k)])
            for k, v in facts]), id="candidate-facts", className="table"),
        html.Button("Download spec JSON", id="candidate-download-btn"),
        dcc.Download(id="candidate-download"),
        *export_view(cand.artifacts),
        *reconstruction_view(cand.candidate_id, cand.artifacts),
        *accel_view(dict(cand.accel) if cand.accel else None, cand.accel_searched),
        html.H3("Evaluations by fidelity"),
        html.Div(evaluations_table(src.evaluations(cand.study, cand.candidate_id)),
                 id="candidate-evaluations"),
        html.P(["Train it longer: ", html.Code(f"dse train {cand.study} {cand.candidate_id} "
                                               "--epochs N")], className="hint"),
        html.H3("Layers"),
        layer_table(table),
        html.H3("Per-layer cost"),
        dcc.Graph(id="candidate-layer-bars", figure=layer_bars_figure(cand.per_layer),
                  config={"displaylogo": False}),
        html.H3("Learning curve"),
        dcc.Graph(id="candidate-curve", config={"displaylogo": False}),
        interval("candidate", data.REFRESH_MS),
    ])


@callback(Output("candidate-curve", "figure"), Output("candidate-token", "data"),
          Input("candidate-interval", "n_intervals"), State("candidate-id", "data"),
          State("candidate-token", "data"))
def update_curve(_n: int, cid: int, token: str | None) -> tuple[Any, str]:
    """The learning curve, redrawn while the candidate trains."""
    epochs = data.get_data().epochs(cid)
    new_token = f"{len(epochs)}"
    if ctx.triggered_id == "candidate-interval" and new_token == token:
        raise PreventUpdate
    return learning_curve_figure(epochs), new_token


@callback(Output("candidate-evaluations", "children"),
          Input("candidate-interval", "n_intervals"), State("candidate-id", "data"),
          prevent_initial_call=True)
def update_evaluations(_n: int, cid: int) -> Any:
    """The evaluations table, redrawn while a `dse train` of the candidate runs."""
    src = data.get_data()
    cand = src.candidate(cid)
    if cand is None:
        raise PreventUpdate
    return evaluations_table(src.evaluations(cand.study, cid))


@callback(Output("candidate-download", "data"), Input("candidate-download-btn", "n_clicks"),
          State("candidate-id", "data"), prevent_initial_call=True)
def download_spec(n_clicks: int | None, cid: int) -> dict[str, Any]:
    if not n_clicks:
        raise PreventUpdate
    cand = data.get_data().candidate(cid)
    if cand is None:
        raise PreventUpdate
    return {"content": cand.spec_json, "filename": f"candidate-{cid}.json",
            "type": "application/json"}


@callback(Output("candidate-export-download", "data"), Output("candidate-export-msg", "children"),
          Input("candidate-export-btn", "n_clicks"), State("candidate-id", "data"),
          prevent_initial_call=True)
def download_export(n_clicks: int | None, cid: int) -> tuple[Any, str]:
    """The candidate's hardware export as a zip, or (no download, the one-line reason)."""
    import base64

    from dse.errors import UserError

    if not n_clicks:
        raise PreventUpdate
    try:
        name, payload = data.get_data().export_zip(cid)
    except UserError as exc:
        return dash.no_update, str(exc)
    return {"content": base64.b64encode(payload).decode("ascii"), "base64": True,
            "filename": name, "type": "application/zip"}, ""
