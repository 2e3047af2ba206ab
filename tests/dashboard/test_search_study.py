"""The dashboard on a store filled by a real tiny search (``dse search --space tiny``, six
trials, in-process trainer): figures and callbacks called directly, then the pages in a
headless Chromium."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from dse.store import open_store
from search_spaces.spec import ArchSpec
from tests.dashboard.conftest import make_app, page
from tests.dashboard.filler import brute_front

pytestmark = pytest.mark.slow
STUDY = "tiny"


def stored(url: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    with open_store(url, read_only=True) as store:
        return store.query(STUDY), store.study_status(STUDY)


def reference_front(df: pd.DataFrame, objectives: list[tuple[str, str]]) -> set[int]:
    done = df[df["status"] == "complete"].reset_index(drop=True)
    idx = brute_front(done[[m for m, _ in objectives]].to_numpy(float),
                      [d for _, d in objectives])
    return {int(done["candidate_id"].iloc[i]) for i in idx}


def test_pages_on_a_real_search(search_db: str) -> None:
    df, status = stored(search_db)
    objectives = list(status["objectives"])
    make_app(search_db)
    pareto, progress, candidate = page("pareto"), page("progress"), page("candidate")
    x = next(m for m, d in objectives if d == "minimize")
    fig, summary, _ = pareto.render(STUDY, [], x, "accuracy", None, [], "objectives", {})
    front = {int(c[0]) for t in fig.data if t.meta["role"] == "front" for c in t.customdata}
    assert front == reference_front(df, objectives) == set(df.loc[df["pareto"],
                                                                  "candidate_id"])
    n_done = int((df["status"] == "complete").sum())
    assert f"{n_done}" in str(summary)
    hv, best, _counts, _line = progress.render(STUDY, "trial")
    if status["hypervolume"] is not None:
        assert hv.data[0].y[-1] == pytest.approx(status["hypervolume"])
    assert best.data[0].y[-1] == pytest.approx(status["best"][objectives[0][0]])
    cid = min(front)
    with open_store(search_db, read_only=True) as store:
        raw = store.candidate(cid)
        epochs = store.epochs(cid)
    layout = candidate.layout(candidate_id=str(cid))
    bars = layout["candidate-layer-bars"].figure
    weights = next(t for t in bars.data if t.name == "weight_memory_bits")
    assert sum(weights.y) == sum(r["weight_memory_bits"] for r in raw["hardware"]["per_layer"])
    rows = layout["candidate-layers-table"].children[1].children
    assert len(rows) == len(ArchSpec.from_json(raw["spec"]).layer_table())
    from dashboard.figures import learning_curve_figure

    curve = learning_curve_figure(epochs)
    assert sum(len(t.y) for t in curve.data if t.name.endswith(" val") and t.yaxis == "y") == \
        int(epochs["val_accuracy"].notna().sum())


@pytest.mark.browser
@pytest.mark.usefixtures("need_browser")
@pytest.mark.filterwarnings("ignore::DeprecationWarning:selenium")
def test_browse_a_real_search(dash_duo: Any, search_db: str) -> None:
    df, status = stored(search_db)
    front = set(df.loc[df["pareto"], "candidate_id"].astype(int))
    dash_duo.start_server(make_app(search_db))
    dash_duo.wait_for_element(".studies-row .studies-name", timeout=20).click()
    dash_duo.wait_for_text_to_equal("#pareto-count-front", str(len(front)), timeout=20)
    front_trace = dash_duo.find_elements("#pareto-graph .scatterlayer .trace")[0]
    point = front_trace.find_elements(By.CSS_SELECTOR, ".points path")[0]
    ActionChains(dash_duo.driver).move_to_element(point).pause(0.3).click().perform()
    dash_duo.wait_for_element("#candidate-title", timeout=20)
    match = re.search(r"/candidate/(\d+)", dash_duo.driver.current_url)
    assert match is not None
    cid = int(match.group(1))
    assert cid in front
    with open_store(search_db, read_only=True) as store:
        raw = store.candidate(cid)
    spec = ArchSpec.from_json(raw["spec"])
    assert len(dash_duo.find_elements(".candidate-layer-row")) == len(spec.layer_table())
    dash_duo.find_element("#candidate-study-link").click()
    dash_duo.wait_for_element("#pareto-link-progress", timeout=20).click()
    dash_duo.wait_for_text_to_equal("#progress-count-total", str(len(df)), timeout=20)
    assert dash_duo.get_logs() == []


def test_choice_importance_on_a_real_search(search_db: str) -> None:
    """The Optuna study the search kept: its trials' parameters are the store's choices, and
    the page's importances are over those names."""
    import json

    from dashboard import importance as imp

    df, status = stored(search_db)
    with open_store(search_db, read_only=True) as store:
        loaded = imp.load_trials(store, STUDY)
    assert loaded is not None
    directions, trials = loaded
    assert directions == [d for _, d in status["objectives"]]
    params = {t.number: t.params for t in trials}
    done = df[df["status"] == "complete"]
    assert len(done) > 0
    for _, row in done.iterrows():
        assert json.loads(row["choices"]) == params[int(row["trial_number"])]
    make_app(search_db)
    shown, note = page("pareto").update_importance("ped-anova", {}, STUDY)
    names = {k for p in params.values() for k in p}
    if len(done) >= imp.MIN_TRIALS:
        assert note.startswith("most important: ")
        assert shown.id == "pareto-importance"
        assert all(set(t.y) <= names for t in shown.figure.data)
    else:
        assert "importances need at least" in note
