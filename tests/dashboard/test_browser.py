"""The dashboard in a real headless Chromium (Dash's ``dash_duo``): every page of a real
study, changing the axes, moving a budget slider, clicking a front point through to the
candidate page, the not-found page and live refresh — checking what is shown against the
store, with no error in the browser console or the server log."""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from dse.store import open_store
from tests.dashboard.conftest import FilledDB, make_app
from tests.dashboard.filler import brute_front, fill_study

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("need_browser"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning:selenium")]
TIMEOUT = 60  # the parallel coordinates (WebGL without a GPU) can block a busy page for seconds


@pytest.fixture(autouse=True)
def _server_log(caplog: pytest.LogCaptureFixture) -> Any:
    """No error logged by the server (Flask logs callback exceptions) during a test."""
    caplog.set_level(logging.WARNING)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def no_console_errors(dash_duo: Any) -> None:
    logs = dash_duo.get_logs()
    assert logs == [], logs


def stored(url: str, study: str) -> pd.DataFrame:
    with open_store(url, read_only=True) as store:
        return store.query(study)


def expected_front(df: pd.DataFrame, x: str = "accuracy", y: str = "memory_bits",
                   bound: float | None = None) -> set[int]:
    done = df[df["status"] == "complete"]
    if bound is not None:
        done = done[done["memory_bits"] <= bound]
    done = done.reset_index(drop=True)
    dirs = ["maximize" if m == "accuracy" else "minimize" for m in (x, y)]
    idx = brute_front(done[[x, y]].to_numpy(float), dirs)
    return {int(done["candidate_id"].iloc[i]) for i in idx}


def plotted(dash_duo: Any) -> list[dict[str, Any]]:
    """The traces Plotly drew in the Pareto graph: name, role and candidate ids."""
    script = """
        const gd = document.querySelector('#pareto-graph .js-plotly-plot');
        if (!gd || !gd.data || !gd._fullLayout) { return null; }
        return gd._fullData.map(t => ({name: t.name, role: t.meta.role, study: t.meta.study,
                                  ids: Array.from(t.customdata || []).map(c => c[0]),
                                  xtype: gd._fullLayout.xaxis.type,
                                  ytype: gd._fullLayout.yaxis.type}));"""
    return WebDriverWait(dash_duo.driver, TIMEOUT).until(
        lambda d: d.execute_script(script), "the Pareto graph was not drawn")


def choose(dash_duo: Any, dropdown_id: str, value_label: str) -> None:
    """Pick an option of a Dash 4 dropdown by its visible label."""
    dash_duo.find_element(f"#{dropdown_id}").click()
    WebDriverWait(dash_duo.driver, TIMEOUT).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "[role=option]"))
    for opt in dash_duo.driver.find_elements(By.CSS_SELECTOR, "[role=option]"):
        if opt.text.strip() == value_label:
            dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", opt)
            ActionChains(dash_duo.driver).move_to_element(opt).click().perform()
            break
    else:
        raise AssertionError(f"{value_label!r} not among the options of #{dropdown_id}")
    dash_duo.wait_for_contains_text(f"#{dropdown_id}", value_label, timeout=TIMEOUT)


def wait_for(dash_duo: Any, condition: Any, message: str) -> Any:
    return WebDriverWait(dash_duo.driver, TIMEOUT).until(lambda _d: condition(), message)


def test_studies_then_pareto_axes_budget_click_candidate(dash_duo: Any, filled_db: FilledDB,
                                                         tmp_path: Path) -> None:
    df = stored(filled_db.url, "s1")
    app = make_app(filled_db.url)
    dash_duo.start_server(app)

    # --- Studies: one row per study with its counts, links to its pages
    dash_duo.wait_for_element("#studies-tbl", timeout=TIMEOUT)
    rows = dash_duo.find_elements(".studies-row")
    assert [r.get_attribute("title") for r in rows] == ["s1", "s2"]
    n_done = int((df["status"] == "complete").sum())
    assert f"complete {n_done}" in rows[0].text
    dash_duo.find_element(".studies-row .studies-name").click()  # -> s1 Pareto

    # --- Pareto: default axes memory_bits (log) x accuracy, front = the store's
    front = expected_front(df)
    dash_duo.wait_for_text_to_equal("#pareto-count-front", str(len(front)), timeout=TIMEOUT)
    dash_duo.wait_for_text_to_equal("#pareto-count-shown", str(n_done), timeout=TIMEOUT)
    traces = plotted(dash_duo)
    assert {t["role"] for t in traces} == {"front", "dominated"}
    assert set(next(t for t in traces if t["role"] == "front")["ids"]) == front
    assert traces[0]["xtype"] == "log" and traces[0]["ytype"] == "linear"
    drawn = dash_duo.find_elements("#pareto-graph .scatterlayer .trace .points path")
    assert len(drawn) == n_done  # SVG points actually rendered
    # drawn once: the default axes fit the figure's margins, so Plotly's auto-margin does not
    # redraw it (a redraw leaves this counter set, at 0, once done)
    assert dash_duo.driver.execute_script(
        "return document.querySelector('#pareto-graph .js-plotly-plot')._fullLayout"
        "._redrawFromAutoMarginCount") is None
    links = dash_duo.find_elements(".pareto-front-link")
    assert {int(a.text.lstrip("#")) for a in links} == front

    # --- hover a front point: its key numbers, formatted
    point = dash_duo.find_elements("#pareto-graph .scatterlayer .trace")[0].find_elements(
        By.CSS_SELECTOR, ".points path")[-1]
    ActionChains(dash_duo.driver).move_to_element(point).pause(0.3).perform()
    hover = wait_for(dash_duo, lambda: " ".join(
        e.text for e in dash_duo.find_elements("#pareto-graph .hoverlayer .hovertext")),
        "no hover label")
    match = re.search(r"candidate (\d+)", hover)
    assert match is not None, hover
    row: dict[Any, Any] = df.set_index("candidate_id").loc[int(match.group(1))].to_dict()
    assert int(match.group(1)) in front
    assert f"memory_bits: {int(row['memory_bits']):,}" in hover
    assert f"accuracy: {100 * row['accuracy']:.2f}%" in hover
    assert f"cycles: {int(row['cycles']):,}" in hover

    # --- change the axes: cycles on x, front over the two axes
    choose(dash_duo, "pareto-x", "latency (cycles) [cycles]")
    dash_duo.find_elements("#pareto-front-over input")[1].click()
    axes_front = expected_front(df, "accuracy", "cycles")
    dash_duo.wait_for_text_to_equal("#pareto-count-front", str(len(axes_front)),
                                    timeout=TIMEOUT)
    traces = plotted(dash_duo)
    assert set(next(t for t in traces if t["role"] == "front")["ids"]) == axes_front
    assert traces[0]["xtype"] == "log"
    # back to memory and the study's objectives
    choose(dash_duo, "pareto-x", "memory (bits) [memory_bits]")
    dash_duo.find_elements("#pareto-front-over input")[0].click()
    dash_duo.wait_for_text_to_equal("#pareto-count-front", str(len(front)), timeout=TIMEOUT)

    # --- move the memory budget slider down: points over it drop, the front is redrawn
    thumb = dash_duo.find_element(".pareto-budget [role=slider]")
    thumb.click()
    for _ in range(10):  # 10 x 10 steps of 1/200 of the log10 range: half way down
        thumb.send_keys(Keys.PAGE_DOWN)
    position = float(thumb.get_attribute("aria-valuenow"))
    bound = float(math.floor(10 ** position))  # the page's slider_to_bound for a bit count
    dash_duo.wait_for_text_to_equal(".pareto-budget-label", f"memory_bits ≤ {int(bound):,}",
                                    timeout=TIMEOUT)
    within = df[(df["status"] == "complete") & (df["memory_bits"] <= bound)]
    budget_front = expected_front(df, bound=bound)
    assert 0 < len(within) < n_done
    dash_duo.wait_for_text_to_equal("#pareto-count-shown", str(len(within)), timeout=TIMEOUT)
    dash_duo.wait_for_text_to_equal("#pareto-count-front", str(len(budget_front)),
                                    timeout=TIMEOUT)
    dash_duo.wait_for_text_to_equal("#pareto-count-over", str(n_done - len(within)),
                                    timeout=TIMEOUT)
    traces = plotted(dash_duo)
    assert set(next(t for t in traces if t["role"] == "front")["ids"]) == budget_front

    # --- click a front point: the candidate page opens (no full reload)
    dash_duo.driver.execute_script("window.__still_here = true;")
    front_trace = dash_duo.find_elements("#pareto-graph .scatterlayer .trace")[0]
    point = front_trace.find_elements(By.CSS_SELECTOR, ".points path")[0]
    ActionChains(dash_duo.driver).move_to_element(point).pause(0.3).click().perform()
    dash_duo.wait_for_element("#candidate-title", timeout=TIMEOUT)
    match = re.search(r"/candidate/(\d+)", dash_duo.driver.current_url)
    assert match is not None
    cid = int(match.group(1))
    assert cid in budget_front
    assert dash_duo.find_element("#candidate-title").text == f"Candidate #{cid}"
    assert dash_duo.driver.execute_script("return window.__still_here === true;")

    # --- Candidate: facts, layer table, per-layer bars, learning curve, download
    with open_store(filled_db.url, read_only=True) as store:
        raw = store.candidate(cid)
        epochs = store.epochs(cid)
    facts = {td.get_attribute("title"): td.text for td in dash_duo.find_elements(
        ".candidate-fact")}
    assert facts["accuracy"] == f"{100 * raw['evaluation']['metrics']['accuracy']:.2f}%"
    assert facts["memory (bits)"] == f"{int(raw['hardware']['metrics']['memory_bits']):,}"
    from search_spaces.spec import ArchSpec

    spec = ArchSpec.from_json(raw["spec"])
    assert len(dash_duo.find_elements(".candidate-layer-row")) == len(spec.layer_table())
    n_bars = dash_duo.driver.execute_script(
        "return document.querySelector('#candidate-layer-bars .js-plotly-plot').data.length")
    assert n_bars >= 3
    wait_for(dash_duo, lambda: dash_duo.driver.execute_script(
        "const g = document.querySelector('#candidate-curve .js-plotly-plot');"
        "return g && g.data ? g.data.length : 0") > 0, "learning curve not drawn")
    val = dash_duo.driver.execute_script(
        "return document.querySelector('#candidate-curve .js-plotly-plot')._fullData"
        ".filter(t => t.name.endsWith(' val') && t.yaxis === 'y')"
        ".flatMap(t => Array.from(t.y))")
    assert val == pytest.approx(list(epochs["val_accuracy"]))
    dash_duo.find_element("#candidate-download-btn").click()
    target = Path(dash_duo.download_path) / f"candidate-{cid}.json"
    wait_for(dash_duo, target.exists, "spec JSON not downloaded")
    wait_for(dash_duo, lambda: target.stat().st_size > 0, "empty download")
    assert ArchSpec.from_json(target.read_text()).hash == spec.hash

    # --- back to the study through its link, then its Progress page
    dash_duo.find_element("#candidate-study-link").click()
    dash_duo.wait_for_element("#pareto-link-progress", timeout=TIMEOUT).click()
    dash_duo.wait_for_text_to_equal("#progress-count-total", str(len(df)), timeout=TIMEOUT)
    assert dash_duo.find_element("#progress-count-complete").text == f"complete {n_done}"
    hv_points = dash_duo.driver.execute_script(
        "return document.querySelector('#progress-hv .js-plotly-plot')._fullData[0]._length")
    assert hv_points == n_done
    no_console_errors(dash_duo)


def test_compare_studies_and_show_infeasible(dash_duo: Any, filled_db: FilledDB) -> None:
    s1, s2 = stored(filled_db.url, "s1"), stored(filled_db.url, "s2")
    app = make_app(filled_db.url)
    dash_duo.start_server(app)
    dash_duo.driver.get(dash_duo.server_url + "/study/s1/pareto?compare=s2&x=memory_bits"
                        "&y=cycles")
    total = sum(int((d["status"] == "complete").sum()) for d in (s1, s2))
    dash_duo.wait_for_text_to_equal("#pareto-count-shown", str(total), timeout=TIMEOUT)
    assert {t["study"] for t in plotted(dash_duo)} == {"s1", "s2"}
    dash_duo.find_elements("#pareto-show input")[0].click()  # infeasible on demand
    n_inf = sum(int((d["status"] == "infeasible").sum()) for d in (s1, s2))
    dash_duo.wait_for_text_to_equal("#pareto-count-shown", str(total + n_inf),
                                    timeout=TIMEOUT)
    inf = [t for t in plotted(dash_duo) if t["role"] == "infeasible"]
    assert sorted(i for t in inf for i in t["ids"]) == sorted(
        [*s1.loc[s1["status"] == "infeasible", "candidate_id"],
         *s2.loc[s2["status"] == "infeasible", "candidate_id"]])
    no_console_errors(dash_duo)


def test_not_found_pages(dash_duo: Any, filled_db: FilledDB) -> None:
    app = make_app(filled_db.url)
    dash_duo.start_server(app)
    for path in ("/study/no-such-study/pareto", "/study/no-such-study/progress",
                 "/candidate/999999", "/candidate/abc", "/no/such/page"):
        dash_duo.driver.get(dash_duo.server_url + path)
        dash_duo.wait_for_text_to_equal("#not-found-title", "Not found", timeout=TIMEOUT)
    assert "no-such-study" not in dash_duo.find_element("#not-found-message").text
    no_console_errors(dash_duo)


def test_live_refresh_without_reload(dash_duo: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    fill_study(url, "live", 12, seed=5, n_running=0, n_failed=0)
    app = make_app(url, refresh_ms=1000)
    dash_duo.start_server(app)
    dash_duo.driver.get(dash_duo.server_url + "/study/live/pareto")
    before = stored(url, "live")
    n0 = int((before["status"] == "complete").sum())
    dash_duo.wait_for_text_to_equal("#pareto-count-shown", str(n0), timeout=TIMEOUT)
    dash_duo.driver.execute_script("window.__still_here = true;")
    fill_study(url, "live", 30, seed=5, n_running=0, n_failed=0)  # the search goes on
    after = stored(url, "live")
    n1 = int((after["status"] == "complete").sum())
    assert n1 > n0
    dash_duo.wait_for_text_to_equal("#pareto-count-shown", str(n1), timeout=TIMEOUT)
    dash_duo.wait_for_text_to_equal("#pareto-count-front", str(len(expected_front(after))),
                                    timeout=TIMEOUT)
    assert dash_duo.driver.execute_script("return window.__still_here === true;")
    no_console_errors(dash_duo)


OBJ4 = (("accuracy", "maximize"), ("memory_bits", "minimize"), ("cycles", "minimize"),
        ("energy_pj", "minimize"))


def brush_axis(dash_duo: Any, column: str, ranges: Any) -> None:
    """Brush one axis of the parallel coordinates as a drag does: Plotly sets the
    dimension's constraint range and emits ``plotly_restyle``, which the page listens to."""
    dash_duo.driver.execute_script("""
        const gd = document.querySelector('#pareto-parcoords .js-plotly-plot');
        const i = gd.data[0].dimensions.findIndex(d => d.name === arguments[0]);
        if (i < 0) { throw new Error('no axis ' + arguments[0]); }
        Plotly.restyle(gd, {[`dimensions[${i}].constraintrange`]: [arguments[1]]});""",
        column, ranges)


def drag_axis(dash_duo: Any, column: str, top: float, bottom: float) -> list[float]:
    """Brush one axis of the parallel coordinates with the mouse, as a user does: press on
    the axis at ``top`` (a fraction of its height from the top), drag down to ``bottom``,
    release. Returns the range Plotly made of the drag (the axis's constraint range)."""
    driver = dash_duo.driver
    index = driver.execute_script("""
        const gd = document.querySelector('#pareto-parcoords .js-plotly-plot');
        return gd._fullData[0].dimensions.findIndex(d => d.name === arguments[0]);""", column)
    assert index >= 0, f"no axis {column}"
    target = dash_duo.find_elements("#pareto-parcoords .axis-brush .background")[index]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", target)
    left, top_px, width, height = driver.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return [r.left, r.top, r.width, r.height];", target)
    x = round(left + width / 2)
    y0, y1 = round(top_px + top * height), round(top_px + bottom * height)
    actions = ActionBuilder(driver)  # viewport coordinates: the same in every Selenium
    actions.pointer_action.move_to_location(x, y0).pointer_down()
    for k in (1, 2, 3):
        actions.pointer_action.move_to_location(x, y0 + (y1 - y0) * k // 3).pause(0.05)
    actions.pointer_action.pointer_up()
    actions.perform()
    got: list[float] = WebDriverWait(driver, TIMEOUT).until(lambda d: d.execute_script("""
        const gd = document.querySelector('#pareto-parcoords .js-plotly-plot');
        const r = gd.data[0].dimensions[arguments[0]].constraintrange;
        return r && r.length === 2 && typeof r[0] === 'number' ? r : null;""", index),
        f"dragging the {column} axis made no brush")
    return got


def shown_front(dash_duo: Any) -> tuple[set[int], set[int]]:
    """(front points drawn on the scatter, candidates linked in the front table)."""
    traces = plotted(dash_duo)
    drawn = set(next(t for t in traces if t["role"] == "front")["ids"])
    links = {int(a.text.lstrip("#")) for a in dash_duo.find_elements(".pareto-front-link")}
    return drawn, links


def test_brush_parallel_coordinates_filters_front_and_table(dash_duo: Any,
                                                            tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n4.db'}"
    fill_study(url, "n4", 40, seed=3, objectives=OBJ4, memory_budget_bits=None,
               optuna_study=True)
    df = stored(url, "n4")
    done = df[df["status"] == "complete"].reset_index(drop=True)
    dirs = [d for _, d in OBJ4]

    def front_of(rows: pd.DataFrame) -> set[int]:
        rows = rows.reset_index(drop=True)
        idx = brute_front(rows[[m for m, _ in OBJ4]].to_numpy(float), dirs)
        return {int(rows["candidate_id"].iloc[i]) for i in idx}

    dash_duo.start_server(make_app(url))
    dash_duo.driver.get(dash_duo.server_url + "/study/n4/pareto")
    full = front_of(done)
    assert full == set(df.loc[df["pareto"], "candidate_id"])
    dash_duo.wait_for_text_to_equal("#pareto-count-front", str(len(full)), timeout=TIMEOUT)
    dash_duo.wait_for_text_to_equal("#pareto-count-selected", str(len(done)), timeout=TIMEOUT)
    dash_duo.find_element("#pareto-pc-draw").click()
    axes = WebDriverWait(dash_duo.driver, 4 * TIMEOUT).until(lambda d: d.execute_script(
        "const gd = document.querySelector('#pareto-parcoords .js-plotly-plot');"
        "const t = gd && gd._fullData && gd._fullData[0];"
        "return t && t.type === 'parcoords' ? t.dimensions.map(d => d.name) : null"),
        "the parallel coordinates were not drawn")  # WebGL without a GPU: slow
    assert axes[:4] == [m for m, _ in OBJ4] and "choice:gate" in axes

    # --- drag the mouse along accuracy (all but its ends): the 4-objective front of the rest
    lo, hi = sorted(drag_axis(dash_duo, "accuracy", 0.1, 0.9))
    inside = done[(done["accuracy"] >= lo) & (done["accuracy"] <= hi)]
    expected = front_of(inside)
    assert 0 < len(inside) < len(done) and expected != full
    dash_duo.wait_for_text_to_equal("#pareto-count-selected", str(len(inside)),
                                    timeout=TIMEOUT)
    dash_duo.wait_for_text_to_equal("#pareto-count-front", str(len(expected)), timeout=TIMEOUT)
    dash_duo.wait_for_text_to_equal("#pareto-count-shown", str(len(inside)), timeout=TIMEOUT)
    wait_for(dash_duo, lambda: shown_front(dash_duo) == (expected, expected),
             "the scatter's front and the front table do not follow the brush")

    # --- and a choice axis (categories in sorted order: add, mux, or): only 'or' gates
    gates = sorted(set(done["choices"].map(lambda c: json.loads(c)["gate"])))
    code = gates.index("or")
    brush_axis(dash_duo, "choice:gate", [code - 0.3, code + 0.3])
    both = inside[inside["choices"].map(lambda c: json.loads(c)["gate"] == "or")]
    expected = front_of(both)
    dash_duo.wait_for_text_to_equal("#pareto-count-selected", str(len(both)), timeout=TIMEOUT)
    wait_for(dash_duo, lambda: shown_front(dash_duo) == (expected, expected),
             "the front does not follow the second brush")
    assert "gate in {or}" in dash_duo.find_element("#pareto-brush-summary").text
    # the importances are over the brushed trained candidates
    wait_for(dash_duo, lambda: f"over {len(both)} trained candidates, brushed" in
             dash_duo.find_element("#pareto-imp-note").text, "importances not recomputed")
    bars = dash_duo.driver.execute_script(
        "return document.querySelector('#pareto-importance .js-plotly-plot')"
        "._fullData.map(t => Array.from(t.y))")
    from tests.dashboard.filler import CHOICES

    assert bars and all(set(b) <= set(CHOICES) for b in bars)

    # --- clear: everything back
    dash_duo.find_element("#pareto-pc-clear").click()
    dash_duo.wait_for_text_to_equal("#pareto-count-selected", str(len(done)), timeout=TIMEOUT)
    wait_for(dash_duo, lambda: shown_front(dash_duo) == (full, full), "front not restored")
    assert dash_duo.driver.execute_script(
        "return document.querySelector('#pareto-parcoords .js-plotly-plot')"
        "._fullData[0].dimensions.every(d => !d.constraintrange)")
    no_console_errors(dash_duo)


def test_budget_slider_end_labels_do_not_overlap(dash_duo: Any, tmp_path: Path) -> None:
    """Long budgets (memory up to 1,064,636 bits beside a latency slider up to 2.7M cycles)
    get compact end labels that stay clear of the neighbouring slider's."""
    from tests.dashboard.filler import spec_variants

    url = f"sqlite:///{tmp_path / 'long.db'}"
    with open_store(url) as store:
        study = store.create_or_get_study(
            "long", space="digits-variants", dataset="digits", task="classification",
            config={}, objectives=[("accuracy", "maximize"), ("memory_bits", "minimize"),
                                   ("cycles", "minimize")], budgets=[])
        numbers = ((12_345, 1_234, 0.7), (456_789, 99_999, 0.8), (1_064_636, 2_718_281, 0.9))
        for trial, (spec, (mem, cycles, acc)) in enumerate(zip(spec_variants(3), numbers,
                                                               strict=True)):
            cid, _ = store.add_candidate(study.id, spec.to_json(), spec.hash, {})
            store.record_hardware(cid, {"memory_bits": mem, "cycles": cycles}, [], {})
            eid = store.start_evaluation(cid, trial)
            store.finish_evaluation(eid, "complete", metrics={"accuracy": acc})
    dash_duo.start_server(make_app(url))
    dash_duo.driver.set_window_size(900, 900)  # two slider columns, each ~400 px
    dash_duo.driver.get(dash_duo.server_url + "/study/long/pareto")
    dash_duo.wait_for_text_to_equal("#pareto-count-shown", "3", timeout=TIMEOUT)
    marks = dash_duo.driver.execute_script("""
        return Array.from(document.querySelectorAll('#pareto-budgets .pareto-budget'))
            .flatMap(b => Array.from(b.querySelectorAll('*'))
                .filter(e => e.children.length === 0 && /^[0-9.]+[kMG]?$/.test(e.textContent))
                .map(e => { const r = e.getBoundingClientRect();
                            return [e.textContent, r.left, r.right, r.top, r.bottom]; }));""")
    assert [m[0] for m in marks] == ["12.3k", "1.06M", "1.23k", "2.72M"]
    for i, a in enumerate(marks):
        for b in marks[i + 1:]:
            apart = a[2] <= b[1] or b[2] <= a[1] or a[4] <= b[3] or b[4] <= a[3]
            assert apart, f"end labels {a[0]} and {b[0]} overlap: {a} {b}"
    no_console_errors(dash_duo)
