"""The candidate page of a co-searched pair shows its accelerator; a network-only one does not."""

from __future__ import annotations

from pathlib import Path

from dse.cosearch import pair_hash
from dse.store import open_store
from hwmodel.accel import AccelConfig, field_types
from hwmodel.cost import cost_report
from search_spaces.spaces import get_reference
from tests.dashboard.conftest import make_app, page


def test_candidate_page_shows_the_pairs_accelerator(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pair.db'}"
    spec = get_reference("tiny-digits")
    accel = AccelConfig(rows=8, cols=32, dataflow="os")
    metrics = {k: float(v) for k, v in cost_report(spec, accel).totals.items()
               if isinstance(v, int | float) and not isinstance(v, bool)}
    with open_store(url) as store:
        sid = store.create_or_get_study("pairs", space="x", dataset="digits",
                                        objectives=[("accuracy", "maximize"),
                                                    ("cycles", "minimize")]).id
        ids = {}
        for name, key, choices in (
                ("pair", pair_hash(spec.hash, accel), {"accel_rows": 8, "accel_dataflow": "os"}),
                ("net", spec.hash + "-net-only", {})):
            cid, _ = store.add_candidate(sid, spec.to_json(), key, choices,
                                         network_hash=spec.hash if name == "pair" else None)
            store.record_hardware(cid, metrics, [], accel.to_dict())
            eid = store.start_evaluation(cid, len(ids))
            store.finish_evaluation(eid, "complete", metrics={"accuracy": 0.5})
            ids[name] = cid
    make_app(url)
    cand_page = page("candidate")
    layout = cand_page.layout(candidate_id=str(ids["pair"]))
    table = layout["candidate-accel-table"]
    rows = [[td.children for td in tr.children] for tr in table.children[1].children]
    assert rows == [[name, str(getattr(accel, name)),
                     "searched" if name in ("rows", "dataflow") else ""]
                    for name in field_types()]
    plain = cand_page.layout(candidate_id=str(ids["net"]))
    assert "candidate-accel-table" not in str(plain)
