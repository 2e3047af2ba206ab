"""The candidate page's table of evaluations by fidelity: the search's and each `dse train`
run, with their epochs, status and trained metrics."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from dse.store import open_store
from hwmodel.cost import cost_report
from search_spaces.spaces import get_reference
from tests.dashboard.conftest import make_app, page


def test_candidate_page_lists_its_evaluations_by_fidelity(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fid.db'}"
    spec = get_reference("tiny-digits")
    metrics = {k: float(v) for k, v in cost_report(spec).totals.items()
               if isinstance(v, int | float) and not isinstance(v, bool)}
    host, pid = socket.gethostname(), os.getpid()
    with open_store(url) as store:
        sid = store.create_or_get_study(
            "fid", space="tiny", dataset="digits", config={"epochs": 4, "schedule": "qat"},
            objectives=[("accuracy", "maximize"), ("memory_bits", "minimize")]).id
        cid, _ = store.add_candidate(sid, spec.to_json(), spec.hash, {})
        store.record_hardware(cid, metrics, [], {})
        eid = store.start_evaluation(cid, 0)
        store.finish_evaluation(eid, "complete", metrics={"accuracy": 0.9125,
                                                          "test_accuracy": 0.9,
                                                          "train_seconds": 3.0})
        longer = store.start_training(cid, epochs=12, schedule="qat", max_train_batches=None,
                                      settings={}, host=host, pid=pid).record.id
        store.finish_training(longer, "complete", metrics={
            "accuracy": 0.955, "test_accuracy": 0.94375, "train_seconds": 9.5})
        store.start_training(cid, epochs=36, schedule="qat", max_train_batches=None,
                             settings={}, host=host, pid=pid)  # still running (this process)
    make_app(url)
    layout = page("candidate").layout(candidate_id=str(cid))
    table = layout["candidate-evaluations-table"]
    header = [th.children for th in table.children[0].children.children]
    rows = [[td.children for td in tr.children] for tr in table.children[1].children]
    assert header[:4] == ["source", "epochs", "schedule", "status"]
    # the trained metrics some evaluation has (no validation accuracy stored here)
    assert header[4:] == ["accuracy", "test accuracy", "train seconds", "finished at"]
    assert [r[:4] for r in rows] == [["search", "4", "qat", "complete"],
                                     ["train", "12", "qat", "complete"],
                                     ["train", "36", "qat", "running"]]
    assert [r[4] for r in rows] == ["91.25%", "95.50%", "–"]
    assert [r[5] for r in rows] == ["90.00%", "94.38%", "–"]
    assert [r[-2] for r in rows] == ["3", "9.5", "–"]
    assert rows[2][-1] == "" and rows[0][-1] != ""
    assert f"dse train fid {cid} --epochs N" in str(layout)
