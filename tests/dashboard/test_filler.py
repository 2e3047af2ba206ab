"""The benchmark's bulk filler (``tests/dashboard/filler.py``, ``bulk_fill``) writes what the
store's write API would: each candidate's cost-model numbers readable from the store, and
the stored front the brute-force one."""

from __future__ import annotations

from pathlib import Path

from tests.dashboard.filler import brute_front, bulk_fill, hardware


def test_bulk_fill_stores_the_cost_model_numbers_and_the_front(tmp_path: Path) -> None:
    from dse.store import open_store
    from search_spaces.spec import ArchSpec

    url = f"sqlite:///{tmp_path / 'bulk.db'}"
    objectives = (("accuracy", "maximize"), ("memory_bits", "minimize"), ("cycles", "minimize"))
    bulk_fill(url, "b", 25, seed=3, objectives=objectives)
    with open_store(url, read_only=True) as store:
        df = store.query("b", columns=["candidate_id", "accuracy", "memory_bits", "cycles",
                                       "energy_pj", "logic_nand2_eq", "pareto"])
        specs = {int(i): ArchSpec.from_json(store.candidate(int(i))["spec"])
                 for i in df["candidate_id"]}
    assert len(df) == 25
    for row in df.itertuples():
        metrics, _layers, _accel = hardware(specs[row.candidate_id])
        assert (row.memory_bits, row.cycles, row.energy_pj, row.logic_nand2_eq) == (
            metrics["memory_bits"], metrics["cycles"], metrics["energy_pj"],
            metrics["logic_nand2_eq"])
    points = df[["accuracy", "memory_bits", "cycles"]].to_numpy()
    front = {int(df["candidate_id"].iloc[i])
             for i in brute_front(points, [d for _, d in objectives])}
    assert set(df.loc[df["pareto"].astype(bool), "candidate_id"].astype(int)) == front
    assert front
