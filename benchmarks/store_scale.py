"""Pareto-front + hypervolume query on a 10k- and 100k-candidate study: store vs naive baseline.

For each size a SQLite study is filled through the documented schema (bulk insert of complete
evaluations: memory_bits log-uniform in [1e3, 1e6], accuracy a saturating function of memory
plus noise, so the front is realistic), the Pareto flags are computed once by
``Store.refresh_pareto`` (timed too), and then we time, median of repeats:

* ours: ``store.query(study, pareto_only=True)`` + ``store.study_status(study)`` (front rows
  read through the precomputed, indexed ``pareto`` flag; hypervolume of the front);
* baseline: what one writes without the store layer: load every complete evaluation as an
  ORM object (row by row), O(n^2) dominance (each point against all, numpy per point), then the
  same hypervolume on the resulting front.

Both must give the same front and hypervolume (checked). With ``--write-docs`` the
``store_scale`` section of docs/benchmarks.md is replaced.

    .venv/bin/python benchmarks/store_scale.py [--sizes 10000 100000] [--write-docs]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from dse.pareto import hypervolume, reference_point  # noqa: E402
from dse.store import Store, open_store  # noqa: E402
from dse.store.schema import Candidate, Evaluation, utcnow  # noqa: E402

OBJECTIVES = [("accuracy", "maximize"), ("memory_bits", "minimize")]
BUDGETS = [("memory_bits", "<=", 1e6), ("accuracy", ">=", 0.1)]


def fill(store: Store, n: int, seed: int = 0) -> int:
    """A study of ``n`` complete candidates, bulk-inserted; its id."""
    rec = store.create_or_get_study(f"scale{n}", space="mognet", dataset="digits", config={},
                                    objectives=OBJECTIVES, budgets=BUDGETS)
    rng = np.random.default_rng(seed)
    mem = np.round(10 ** rng.uniform(3, 6, n))
    acc = 0.95 - 0.85 * np.exp(-mem / 1.5e5) - 0.3 * rng.random(n)
    now = utcnow()
    with store.engine.begin() as conn:
        conn.execute(insert(Candidate), [
            {"study_id": rec.id, "spec": "{}", "spec_hash": f"h{i:08d}", "choices": {},
             "created_at": now} for i in range(n)])
        ids = conn.execute(select(Candidate.id).where(Candidate.study_id == rec.id)
                           .order_by(Candidate.id)).scalars().all()
        conn.execute(insert(Evaluation), [
            {"candidate_id": cid, "study_id": rec.id, "trial_number": i, "status": "complete",
             "memory_bits": float(mem[i]), "accuracy": float(acc[i]), "metrics": {},
             "pareto": False, "attempt": 1, "started_at": now, "finished_at": now}
            for i, cid in enumerate(ids)])
    return rec.id


def ours(store: Store, name: str) -> tuple[list[int], float]:
    front = store.query(name, pareto_only=True)
    status = store.study_status(name)
    return sorted(int(c) for c in front["candidate_id"]), float(status["hypervolume"])


def baseline(store: Store, study_id: int) -> tuple[list[int], float]:
    with Session(store.engine) as session:
        evs = session.execute(select(Evaluation).where(
            Evaluation.study_id == study_id, Evaluation.status == "complete")).scalars().all()
        # metric columns come from the catalogue at import time: not visible to a type checker
        rows = [(ev.candidate_id, ev.accuracy, ev.memory_bits)  # type: ignore[attr-defined]
                for ev in evs]
    cids = np.array([r[0] for r in rows])
    pts = np.array([[r[1], r[2]] for r in rows], dtype=float) * np.array([-1.0, 1.0])
    x, y = pts[:, 0].copy(), pts[:, 1].copy()
    on_front = np.ones(len(pts), dtype=bool)
    for i in range(len(pts)):  # O(n^2): every point against all points
        xi, yi = x[i], y[i]
        on_front[i] = not np.any((x <= xi) & (y <= yi) & ((x < xi) | (y < yi)))
    front = pts[on_front] * np.array([-1.0, 1.0])
    ref = reference_point(OBJECTIVES, BUDGETS, front)
    hv = hypervolume(front, [d for _, d in OBJECTIVES], ref)
    return sorted(int(c) for c in cids[on_front]), hv


def timed(fn: Callable[..., tuple[list[int], float]], repeats: int, *args: Any
          ) -> tuple[float, tuple[list[int], float]]:
    """Median wall time of ``fn(*args)`` over ``repeats`` calls, and its last result."""
    times = []
    out: tuple[list[int], float] = ([], 0.0)
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def run(sizes: list[int], repeats: int) -> list[dict[str, float]]:
    results: list[dict[str, float]] = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            store = open_store(f"sqlite:///{tmp}/scale.db")
            sid = fill(store, n)
            t0 = time.perf_counter()
            front_size = store.refresh_pareto(sid)
            refresh_s = time.perf_counter() - t0
            ours_s, ours_out = timed(ours, repeats, store, f"scale{n}")
            base_s, base_out = timed(baseline, 1, store, sid)
            assert ours_out[0] == base_out[0], "fronts differ"
            assert abs(ours_out[1] - base_out[1]) <= 1e-9 * abs(base_out[1]), "hypervolumes differ"
            store.close()
        row = {"n": n, "front": front_size, "ours_s": ours_s, "baseline_s": base_s,
               "ratio": base_s / ours_s, "refresh_s": refresh_s,
               "hypervolume": ours_out[1]}
        results.append(row)
        print(f"n={n:>7,}  front={front_size:>4}  ours {ours_s * 1e3:8.1f} ms  baseline "
              f"{base_s:8.2f} s  ratio {row['ratio']:8.0f}x  refresh_pareto "
              f"{refresh_s * 1e3:7.1f} ms", flush=True)
    return results


def section(results: list[dict[str, float]], command: str) -> str:
    lines = [
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, SQLite (WAL), one process.",
        "",
        "Query = `store.query(study, pareto_only=True)` + `store.study_status(study)` (front "
        "rows via the precomputed, indexed `pareto` flag; exact 2-D hypervolume of the front). "
        "Baseline = load every complete evaluation as an ORM object, O(n^2) dominance (numpy "
        "per point), same hypervolume. Both give the same front and hypervolume (checked). "
        "`refresh_pareto` = full recomputation of the flags (O(n log n) in 2-D), done once "
        "after the bulk load; during a search the flags are maintained incrementally on each "
        "`finish_evaluation`. Goal: query <= 0.5 s at 100k.",
        "",
        "| candidates | front | query (ours) | baseline | ratio | refresh_pareto |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {int(r['n']):,} | {int(r['front'])} | {r['ours_s'] * 1e3:.1f} ms | "
                     f"{r['baseline_s']:.2f} s | {r['ratio']:,.0f}x | "
                     f"{r['refresh_s'] * 1e3:.0f} ms |")
    return "\n".join(lines) + "\n"


def write_docs(text: str, name: str = "store_scale") -> None:
    """Replace (or append) this benchmark's section of docs/benchmarks.md."""
    from benchmarks._docs import write_section

    write_section(name, f"## Results store at scale (`{name}`)\n\n{text}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--repeats", type=int, default=5, help="repeats of our query (median)")
    ap.add_argument("--write-docs", action="store_true",
                    help="replace the store_scale section of docs/benchmarks.md")
    args = ap.parse_args()
    results = run(args.sizes, args.repeats)
    if args.write_docs:
        cmd = ".venv/bin/python benchmarks/store_scale.py" + \
            ("" if args.sizes == [10_000, 100_000] else
             " --sizes " + " ".join(map(str, args.sizes))) + " --write-docs"
        write_docs(section(results, cmd))
    return 0


if __name__ == "__main__":
    sys.exit(main())
