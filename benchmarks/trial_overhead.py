"""Per-trial overhead of the Ray Tune path against an in-process loop, measured in one run.

The same study (same seed, same sampler, so the same proposals in the same order) runs twice:
once with ``executor="local"`` (train in this process, one after another) and once through
Ray Tune with one trial at a time. Training is cut to a couple of batches so the difference is
the machinery: Ray's trial scheduling, actor reuse, result reporting, the searcher round trips.
Ray's own start and stop (``ray.init`` + ``ray.shutdown``, paid once per search) is measured
separately and subtracted.

    python benchmarks/trial_overhead.py [--trials 12] [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._docs import write_section  # noqa: E402
from dse.config import build_config  # noqa: E402
from dse.search import run_search  # noqa: E402


def timed_search(executor: str, db: str, trials: int, concurrent: int) -> tuple[float, dict]:
    cfg = build_config(study=f"overhead-{executor}-{concurrent}", db=db, trials=trials,
                       epochs=1, schedule="qat", max_train_batches=2, batch_size=32,
                       executor=executor,
                       max_concurrent=concurrent, early_stopping=False, seed=7, progress=False,
                       confirm=0)  # per-trial overhead only
    t0 = time.perf_counter()
    outcome = run_search(cfg)
    return time.perf_counter() - t0, outcome.counts


def ray_start_stop() -> float:
    import ray

    t0 = time.perf_counter()
    ray.init(address="local", include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.shutdown()
    return time.perf_counter() - t0


def verdict(per_trial_s: float) -> str:
    if per_trial_s < -0.5:  # Ray's start-up varied between the two measurements
        return "inconclusive (Ray start-up time varied; rerun on a quieter machine)"
    return "met" if per_trial_s <= 1.0 else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/overhead.db"
        # Warm-up: imports and the dataset cache are paid before either timed run.
        timed_search("local", f"sqlite:///{tmp}/warm.db", 1, 1)
        t_local, c_local = timed_search("local", db, args.trials, 1)
        t_init = ray_start_stop()
        t_ray, c_ray = timed_search("ray", db, args.trials, 1)
        t_ray2, c_ray2 = timed_search("ray", db, args.trials, 2)
    trained = c_local.get("complete", 0) + c_local.get("pruned", 0)
    per_trial = (t_ray - t_init - t_local) / max(trained, 1)
    per_trial2 = (t_ray2 - t_init - t_local) / max(trained, 1)
    rows = [
        ("in-process loop (`executor=local`)", f"{t_local:.1f} s", f"{t_local / trained:.2f} s"),
        ("Ray start + stop (once per search)", f"{t_init:.1f} s", "-"),
        ("Ray Tune, 1 trial at a time", f"{t_ray:.1f} s", f"{(t_ray - t_init) / trained:.2f} s"),
        ("Ray Tune, 2 at a time", f"{t_ray2:.1f} s", f"{(t_ray2 - t_init) / trained:.2f} s"),
    ]
    table = ["| path | wall time | per trained trial (without Ray start) |", "|---|---:|---:|"]
    table += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    summary = (f"Ray per-trial overhead over the in-process loop: **{per_trial:.2f} s** with one "
               f"trial at a time, {per_trial2:.2f} s with two at a time ({trained} trained "
               f"trials, statuses local {c_local}, ray {c_ray}, ray x2 {c_ray2}). "
               f"Goal <= 1 s per trial: {verdict(per_trial)}.")
    text = "\n".join(table) + "\n\n" + summary
    print(text)
    if args.write_docs:
        write_section("trial_overhead", f"""## Trial overhead: Ray Tune path vs in-process loop

Command: `python benchmarks/trial_overhead.py --trials {args.trials} --write-docs`
({date.today().isoformat()}, 2-core CPU VM shared with other jobs; tiny space on digits,
1 epoch of 2 batches per trial so the machinery dominates; same seed, same proposals).

{text}
""")


if __name__ == "__main__":
    main()
