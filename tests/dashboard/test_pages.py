"""Page callbacks and layouts called directly on a store filled through the write API with
real specs and real cost-model numbers; expectations come from the stored rows and a
brute-force Pareto reference (:func:`tests.dashboard.filler.brute_front`)."""

from __future__ import annotations

import json
from contextvars import copy_context
from typing import Any

import dash
import pandas as pd
import pytest
from dash import html
from dash._callback_context import context_value
from dash._utils import AttributeDict
from dash.exceptions import PreventUpdate

from dse.store import open_store
from search_spaces.spec import ArchSpec
from tests.dashboard.conftest import FilledDB, make_app, page
from tests.dashboard.filler import brute_front, fill_study
from tests.dashboard.test_figures import hover_label


def triggered(prop_id: str, func: Any, *args: Any) -> Any:
    """Run a callback function as Dash would when ``prop_id`` changed."""
    def run() -> Any:
        context_value.set(AttributeDict(triggered_inputs=[{"prop_id": prop_id, "value": 1}]))
        return func(*args)
    return copy_context().run(run)


def stored(url: str, study: str) -> pd.DataFrame:
    with open_store(url, read_only=True) as store:
        return store.query(study)


def front_ids(df: pd.DataFrame) -> set[int]:
    done = df[df["status"] == "complete"].reset_index(drop=True)
    pts = done[["accuracy", "memory_bits"]].to_numpy(float)
    return {int(done["candidate_id"].iloc[i]) for i in brute_front(pts, ["maximize", "minimize"])}


def trace(fig: Any, role: str, study: str = "s1") -> Any:
    return next(t for t in fig.data if t.meta == {"study": study, "role": role})


def test_studies_page(app: Any, filled_db: FilledDB) -> None:
    studies = page("studies")
    from dashboard import data

    src = data.get_data()
    info = src.study("s1")
    assert info is not None
    status = src.study_status("s1")
    row = studies.study_row(info, status)
    ids = filled_db.studies["s1"].ids
    assert row["candidates"] == (f"running {len(ids['running'])} · complete "
                                 f"{len(ids['complete'])} · failed {len(ids['failed'])} · "
                                 f"infeasible {len(ids['infeasible'])}")
    df = stored(filled_db.url, "s1")
    done = df[df["status"] == "complete"]
    assert row["best"] == (f"accuracy {100 * done['accuracy'].max():.2f}%, "
                           f"memory_bits {int(done['memory_bits'].min()):,}")
    assert row["objectives"] == "accuracy ↑, memory_bits ↓"
    assert row["budgets"] == "memory_bits <= 60,000"
    assert row["hypervolume"] == f"{status['hypervolume']:.4g}"
    text = str(studies.layout())
    assert "/study/s1/pareto" in text and "/study/s2/progress" in text


def test_pareto_render_matches_the_store(app: Any, filled_db: FilledDB) -> None:
    pareto = page("pareto")
    df = stored(filled_db.url, "s1")
    fig, summary, table = pareto.render("s1", [], "memory_bits", "accuracy", None, [],
                                        "objectives", {})
    front = {int(c[0]) for c in trace(fig, "front").customdata}
    dominated = {int(c[0]) for c in trace(fig, "dominated").customdata}
    assert front == front_ids(df) == set(df.loc[df["pareto"], "candidate_id"])
    assert front | dominated == set(df.loc[df["status"] == "complete", "candidate_id"])
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "linear"
    assert f"{len(front)}" in str(summary) and "pareto-front-link" in str(table)
    best = df[df["pareto"]].sort_values("memory_bits").iloc[0]
    front_trace = trace(fig, "front")
    i = [int(c[0]) for c in front_trace.customdata].index(int(best["candidate_id"]))
    hover = hover_label(front_trace, i)
    assert f"memory_bits: {int(best['memory_bits']):,}" in hover
    assert f"accuracy: {100 * best['accuracy']:.2f}%" in hover


def test_pareto_budget_redraws_the_front(app: Any, filled_db: FilledDB) -> None:
    pareto = page("pareto")
    df = stored(filled_db.url, "s1")
    done = df[df["status"] == "complete"]
    bound = float(done["memory_bits"].median())
    fig, *_ = pareto.render("s1", [], "memory_bits", "accuracy", None, [], "objectives",
                            {"memory_bits": bound})
    shown = {int(c[0]) for t in fig.data for c in t.customdata}
    within = df[df["memory_bits"] <= bound]
    assert shown == set(within.loc[within["status"] == "complete", "candidate_id"])
    assert {int(c[0]) for c in trace(fig, "front").customdata} == front_ids(within)
    # the slider maps log10 positions to integer bounds; its right end means no budget
    assert pareto.slider_to_bound("memory_bits", 4.0, 5.0) == 10_000
    assert pareto.slider_to_bound("memory_bits", 5.0, 5.0) is None
    assert triggered("x.value", pareto.budget_label, 4.0, 5.0,
                     {"type": "pareto-budget", "metric": "memory_bits"}) == \
        "memory_bits ≤ 10,000"


def test_update_pareto_callback_and_live_tick(app: Any, filled_db: FilledDB) -> None:
    pareto = page("pareto")
    args = ("cycles", "accuracy", "energy_pj", ["s2"], ["infeasible"], "axes",
            [None], 0, {}, [], [{"type": "pareto-budget", "metric": "memory_bits"}], [5.0], "s1",
            None)
    fig, _summary, table, token = triggered("pareto-x.value", pareto.update_pareto, *args)
    assert fig.layout.yaxis.type == "linear" and fig.layout.xaxis.type == "log"
    assert {t.meta["study"] for t in fig.data} == {"s1", "s2"}
    # two studies: the front table names each row's, s1's front first
    tbl = table if isinstance(table, html.Table) else table.children[1]
    assert tbl.children[0].children.children[0].children == "study"
    studies = [tr.children[0].children for tr in tbl.children[1].children]
    assert studies[0] == "s1" and set(studies) == {"s1", "s2"}
    inf = trace(fig, "infeasible")  # accuracy unknown: none can be placed
    assert len(inf.x) == 0
    df = stored(filled_db.url, "s1")
    done = df[df["status"] == "complete"].reset_index(drop=True)
    ref = brute_front(done[["cycles", "accuracy"]].to_numpy(float), ["minimize", "maximize"])
    assert {int(c[0]) for c in trace(fig, "front").customdata} == {
        int(done["candidate_id"].iloc[i]) for i in ref}
    # a live tick with nothing new changes nothing
    with pytest.raises(PreventUpdate):
        triggered("pareto-interval.n_intervals", pareto.update_pareto,
                  *args[:-1], token)


def test_click_opens_the_candidate(app: Any) -> None:
    pareto = page("pareto")
    click = {"points": [{"x": 1, "y": 2, "customdata": [17, "s1"]}]}
    assert triggered("pareto-graph.clickData", pareto.open_candidate, click) == "/candidate/17"
    typed = {"points": [{"id": "23", "customdata": {"0": 23.0, "1": 4.0}}]}  # binary row
    assert triggered("pareto-graph.clickData", pareto.open_candidate, typed) == "/candidate/23"
    with pytest.raises(PreventUpdate):
        triggered("pareto-graph.clickData", pareto.open_candidate, {"points": []})


def test_progress_page(app: Any, filled_db: FilledDB) -> None:
    progress = page("progress")
    from dashboard import data

    status = data.get_data().study_status("s1")
    hv, best, counts_fig, line = progress.render("s1", "trial")
    assert hv.data[0].y[-1] == pytest.approx(status["hypervolume"])
    assert list(hv.data[0].x) == sorted(hv.data[0].x)
    assert best.data[0].y[-1] == pytest.approx(status["best"]["accuracy"])
    assert best.data[1].y[-1] == pytest.approx(status["best"]["memory_bits"])
    counts = {k: v for k, v in status["counts"].items() if v}
    assert dict(zip(counts_fig.data[0].x, counts_fig.data[0].y, strict=True)) == counts
    assert f"complete {counts['complete']}" in str(line)
    hv_t, *_ = progress.render("s1", "time")
    assert len(hv_t.data[0].x) == len(hv.data[0].x)


def test_candidate_page(app: Any, filled_db: FilledDB) -> None:
    cand_page = page("candidate")
    cid = filled_db.studies["s1"].ids["complete"][0]
    with open_store(filled_db.url, read_only=True) as store:
        raw = store.candidate(cid)
        epochs = store.epochs(cid)
    spec = ArchSpec.from_json(raw["spec"])
    layout = cand_page.layout(candidate_id=str(cid))
    rows = layout["candidate-layers-table"].children[1].children
    heads = [th.children for th in layout["candidate-layers-table"].children[0].children.children]
    assert len(rows) == len(spec.layer_table())
    col = heads.index("weight bits")
    assert sum(int(r.children[col].children.replace(",", "")) for r in rows) == \
        spec.weight_bits()
    assert [r.children[0].children for r in rows] == [r["path"] for r in spec.layer_table()]
    bars = layout["candidate-layer-bars"].figure
    per_layer = raw["hardware"]["per_layer"]
    weights = next(t for t in bars.data if t.name == "weight_memory_bits")
    assert sum(weights.y) == sum(r["weight_memory_bits"] for r in per_layer)
    assert list(weights.x) == [r["path"] for r in per_layer]
    facts = {td.title: td.children for td in
             (tr.children[1] for tr in layout["candidate-facts"].children.children)}
    acc = raw["evaluation"]["metrics"]["accuracy"]
    assert facts["accuracy"] == f"{100 * acc:.2f}%"
    assert facts["memory (bits)"] == f"{int(raw['hardware']['metrics']['memory_bits']):,}"
    curve, token = triggered("candidate-interval.n_intervals", cand_page.update_curve, 0, cid,
                             None)
    assert token == str(len(epochs))
    val = [t for t in curve.data if t.name.endswith(" val") and t.yaxis == "y"]
    assert [y for t in val for y in t.y] == list(epochs["val_accuracy"])
    download = triggered("candidate-download-btn.n_clicks", cand_page.download_spec, 1, cid)
    assert ArchSpec.from_json(download["content"]).hash == spec.hash
    assert download["filename"] == f"candidate-{cid}.json"
    assert json.loads(download["content"]) == json.loads(raw["spec"])


@pytest.mark.parametrize("make", [
    lambda: page("pareto").layout(study="no-such-study"),
    lambda: page("progress").layout(study="no-such-study"),
    lambda: page("candidate").layout(candidate_id="999999"),
    lambda: page("candidate").layout(candidate_id="abc"),
    lambda: page("not_found_404").layout(),
])
def test_unknown_ids_give_the_not_found_page(app: Any, make: Any) -> None:
    layout = make()
    assert layout["not-found-title"].children == "Not found"


def test_live_refresh_reads_only_what_changed(tmp_path: Any) -> None:
    """A study written while the dashboard reads it: new candidates, a running candidate that
    completes and a front that moves are all seen, through ``since_id`` and the stored flags."""
    from dashboard import data

    url = f"sqlite:///{tmp_path / 'live.db'}"
    first = fill_study(url, "live", 12, seed=3, n_running=1)
    make_app(url)
    src = data.get_data()
    before = src.candidates("live")
    token = src.version("live")
    running = first.ids["running"][0]
    assert before.loc[running, "status"] == "running"
    calls: list[Any] = []
    real_query = src.store.query

    def spy(study: str, **kw: Any) -> pd.DataFrame:
        calls.append(kw)
        return real_query(study, **kw)

    src.store.query = spy  # type: ignore[method-assign,assignment]
    with open_store(url) as store:  # the search goes on: finish the running one, add more
        ev = store.evaluation_for_hash(store.get_study("live").id,
                                       str(before.loc[running, "spec_hash"]))
        assert ev is not None
        store.finish_evaluation(ev.id, "complete", metrics={"accuracy": 0.999})
    fill_study(url, "live", 20, seed=3, n_running=0)  # same order: 8 new specs
    after = src.candidates("live", max_age_s=0)
    assert len(after) == 20 and after.loc[running, "status"] == "complete"
    assert after.loc[running, "pareto"]  # 0.999 is the best accuracy: on the front
    assert src.version("live") != token
    full = stored(url, "live")
    assert set(after.index[after["pareto"]]) == set(full.loc[full["pareto"], "candidate_id"])
    # one incremental read from just below the running candidate, one read of the front
    assert calls[0] == {"since_id": running - 1}
    assert calls[1] == {"pareto_only": True, "columns": ["candidate_id"]}


def test_brush_narrows_the_front_and_the_table(filled_db: FilledDB) -> None:
    make_app(filled_db.url)  # not the module's app: a test above served another database
    pareto = page("pareto")
    df = stored(filled_db.url, "s1")
    done = df[df["status"] == "complete"].reset_index(drop=True)
    gate = done["choices"].map(lambda c: json.loads(c)["gate"])
    code = sorted(set(gate)).index("mux")  # categories in sorted order: add, mux, or
    brush = {"choice:gate": [code - 0.4, code + 0.4]}
    fig, summary, table = pareto.render("s1", [], "memory_bits", "accuracy", None, [],
                                        "objectives", {}, brush)
    kept = done[gate == "mux"].reset_index(drop=True)
    expected = {int(kept["candidate_id"].iloc[i]) for i in brute_front(
        kept[["accuracy", "memory_bits"]].to_numpy(float), ["maximize", "minimize"])}
    assert 0 < len(kept) < len(done)
    assert {int(c[0]) for c in trace(fig, "front").customdata} == expected
    assert {int(c[0]) for c in trace(fig, "dominated").customdata} == set(
        kept["candidate_id"]) - expected
    assert summary[0].children == str(len(kept))  # points shown: only the brushed ones
    head = [th.children for th in table.children[0].children.children]
    # one study: no study column; the choices in one cell, "name value · ..."
    assert head[:4] == ["candidate", "trial", "memory (bits)", "accuracy"]
    assert head[-1] == "choices"
    rows = [[td.children for td in tr.children] for tr in table.children[1].children]
    assert {int(r[0].children.lstrip("#")) for r in rows} == expected
    by_id = done.set_index("candidate_id")
    for r in rows:
        shown = dict(part.split(" ", 1) for part in r[-1].split(" \u00b7 "))
        choices = json.loads(by_id.loc[int(r[0].children.lstrip("#")), "choices"])
        assert shown == {k: str(v) for k, v in choices.items()}
        assert shown["gate"] == "mux"  # the brushed choice


def test_parcoords_callback_keeps_and_clears_the_brush(filled_db: FilledDB) -> None:
    make_app(filled_db.url)
    pareto = page("pareto")
    brush = {"accuracy": [0.5, 0.9], "choice:gate": [0, 1]}
    graph, kept = triggered("pareto-pc-axes.value", pareto.update_parcoords,
                            ["accuracy", "memory_bits"], "accuracy", 0, "t", 1, brush, "s1")
    fig = graph.figure  # the graph is made when first drawn
    # the gate axis is gone: its brush with it
    assert graph.id == "pareto-parcoords" and kept == {"accuracy": [0.5, 0.9]}
    dims = {d.name: d for d in fig.data[0].dimensions}
    assert list(dims) == ["accuracy", "memory_bits"]
    assert list(dims["accuracy"].constraintrange) == [0.5, 0.9]
    graph, kept = triggered("pareto-pc-clear.n_clicks", pareto.update_parcoords,
                            ["accuracy", "memory_bits"], "accuracy", 1, "t", 1, brush, "s1")
    fig = graph.figure
    assert kept == {} and all(d.constraintrange is None for d in fig.data[0].dimensions)
    # until the draw button is pressed nothing is drawn (WebGL without a GPU is slow)
    assert triggered("pareto-pc-axes.value", pareto.update_parcoords,
                     ["accuracy"], None, 0, "t", 0, brush, "s1") == (dash.no_update,
                                                                      dash.no_update)
    note = pareto.update_importance("ped-anova", {}, "s1")[1]
    assert note.startswith("Importances need the Optuna study")  # filled without a search
