"""The tinydse results store: SQLAlchemy models, Alembic migrations, writes, DataFrame reads.

    from dse.store import open_store
    store = open_store("sqlite:///dse.db")          # or postgresql+psycopg://user@host/db
    study = store.create_or_get_study("s1", space="mognet", dataset="digits", task="classification",
                                      config={}, objectives=[("accuracy", "maximize"),
                                                             ("memory_bits", "minimize")],
                                      budgets=[("memory_bits", "<=", 1e6)])
    cid, created = store.add_candidate(study.id, spec.to_json(), spec.hash, choices)
    eid = store.start_evaluation(cid, trial.number)
    store.record_hardware(cid, {"memory_bits": ...}, per_layer, accel)
    store.finish_evaluation(eid, "complete", metrics={"accuracy": 0.93})
    store.query("s1", pareto_only=True, where="memory_bits < 5e5", sort=["-accuracy"])

Tables (prefixed ``dse_``) are documented for direct SQL in ``docs/schema.md``.
"""

from __future__ import annotations

from dse.status import FINAL_STATUSES, STATUSES
from dse.store.api import Store, open_store
from dse.store.engine import StoreError, mask_url
from dse.store.records import EvaluationRecord, StudyRecord

__all__ = ["FINAL_STATUSES", "STATUSES", "EvaluationRecord", "Store", "StoreError",
           "StudyRecord", "mask_url", "open_store"]
