"""The candidate page shows where a candidate trains and tells the truth about its status:
``interrupted`` while its study has no live driver, ``running`` once one holds the study."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dse.store import drivers, open_store
from tests.dashboard.conftest import make_app, page
from tests.dashboard.filler import hardware, variants


def _facts(cid: int) -> dict[str, str]:
    layout = page("candidate").layout(candidate_id=str(cid))
    return {td.title: td.children for td in
            (tr.children[1] for tr in layout["candidate-facts"].children.children)}


def test_candidate_page_status_and_host(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    spec, choices = next(variants(1))
    with open_store(url) as store:
        rec = store.create_or_get_study("live", space="tiny", dataset="digits",
                                        objectives=[("accuracy", "maximize"),
                                                    ("memory_bits", "minimize")])
        cid, _ = store.add_candidate(rec.id, spec.to_json(), spec.hash, choices)
        metrics, layers, accel = hardware(spec)
        store.record_hardware(cid, metrics, layers, accel)
        eid = store.start_evaluation(cid, 0)
        store.set_host(eid, "node-7")
        # the driver that started it is gone (a pid that has exited, on this host)
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
        drivers.acquire(store, rec.id, drivers.Driver(drivers.Driver.me().host,
                                                      int(dead.stdout)))
    make_app(url)
    facts = _facts(cid)
    assert facts["status"] == "interrupted" and facts["host"] == "node-7"
    with open_store(url) as store:  # a live driver (this process) resumes the study
        drivers.acquire(store, rec.id, drivers.Driver.me())
    make_app(url)
    assert _facts(cid)["status"] == "running"
