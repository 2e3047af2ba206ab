"""Per-trial overhead of a two-host Ray cluster against a local Ray, for the same study, in one
run; and what it costs that the driver alone writes to the database.

Needs root: it builds the three hosts of ``tests/cluster/harness.py`` (network namespaces;
host a: Ray head + driver, host b: Ray worker node, host c: PostgreSQL). The same study
(``tiny`` on digits, same seed, so the same proposals) runs twice from host a, both writing to
the PostgreSQL on host c:

* **local**: ``dse search`` with its own local Ray on host a (``--max-concurrent 2``);
* **cluster**: the same command with ``--ray-address`` of the README's two-node cluster
  (``ray start`` lines of the README: one core on each node, ``--max-concurrent 2``).

Per-trial overhead is, per evaluation, the time from the driver starting it to the driver
recording its result, minus the trainer's own ``train_seconds``: scheduling on a node, actor
start, reports crossing the network, the driver's writes. Its mean over the trials is compared
(cluster / local); Ray's start-up is outside it. Training is cut to two batches so the
machinery dominates.

The writer choice: every epoch and result is written by the driver, so the driver pays one
``add_epoch`` round trip to the database per reported epoch. Its latency from host a to host c
is timed and set against an epoch of the fastest trials here (the ``seconds`` column).

    sudo python benchmarks/cluster_overhead.py [--trials 8] [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._docs import write_section  # noqa: E402
from tests.cluster.conftest import readme_recipe  # noqa: E402
from tests.cluster.harness import Cluster, missing_requirements, wait_for  # noqa: E402

STUDY_ARGS = ["--trials", "8", "--epochs", "1", "--schedule", "qat", "--max-train-batches",
              "2", "--batch-size", "32", "--max-concurrent", "2", "--no-early-stopping",
              "--seed", "7", "--quiet"]

OVERHEAD_SQL = """
import json, sys
from dse.store import open_store
s = open_store(sys.argv[1], read_only=True)
df = s.query(sys.argv[2])
rows = [((r.finished_at - r.started_at).total_seconds(), float(r.train_seconds), r.host)
        for r in df.itertuples() if r.status == "complete"]
print(json.dumps(rows))
"""

WRITE_PROBE = """
import json, sys, time
from dse.store import open_store
s = open_store(sys.argv[1])
rec = s.create_or_get_study("write-probe", space="tiny", dataset="digits",
                            objectives=[("accuracy", "maximize")])
cid, _ = s.add_candidate(rec.id, "{}", "probe", {})
eid = s.start_evaluation(cid, 0)
n = int(sys.argv[2])
t0 = time.perf_counter()
for i in range(n):
    s.add_epoch(eid, "qat", i + 1, train_loss=0.5, train_accuracy=0.5, val_loss=0.5,
                val_accuracy=0.5, seconds=0.1)
print(json.dumps((time.perf_counter() - t0) / n))
"""


def run_search(cluster: Cluster, study: str, extra: list[str]) -> tuple[float, list]:
    argv = ["dse", "search", "--study", study, "--db", cluster.db_url, *STUDY_ARGS, *extra]
    t0 = time.perf_counter()
    out = cluster.run("a", argv, timeout=900)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)}: {out.stderr[-2000:]}")
    rows = cluster.run("a", ["python", "-c", OVERHEAD_SQL, cluster.db_url, study], timeout=120)
    return wall, json.loads(rows.stdout.strip().splitlines()[-1])


def epoch_seconds(cluster: Cluster, study: str) -> float:
    rows = cluster.sql("select avg(p.seconds) from dse_epochs p join dse_evaluations e on "
                       "e.id = p.evaluation_id join dse_studies s on s.id = e.study_id "
                       f"where s.name = '{study}'")
    return float(rows[0][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--writes", type=int, default=200, help="add_epoch calls timed")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    why = missing_requirements()
    if why:
        raise SystemExit(f"cluster_overhead: {why}")
    STUDY_ARGS[1] = str(args.trials)
    recipe = readme_recipe()
    with Cluster(python_path=str(ROOT)) as cluster:
        fill = {"HEAD_IP": cluster.hosts["a"].ip, "USER@": "tester@"}
        for line in recipe:
            if line.command.startswith("ray start"):
                command = line.command
                for key, value in fill.items():
                    command = command.replace(key, value)
                cluster.shell(line.host, command, check=True, timeout=180)
        code = (f"import ray; ray.init(address={cluster.ray_address!r}); "
                "print(sum(n['Alive'] for n in ray.nodes()))")
        wait_for(lambda: cluster.run("a", ["python", "-c", code], timeout=120).stdout.strip()
                 .endswith("2"), 90, "two Ray nodes")
        local_wall, local = run_search(cluster, "bench-local", [])
        cluster_wall, remote = run_search(cluster, "bench-cluster",
                                          ["--ray-address", cluster.ray_address])
        probe = cluster.run("a", ["python", "-c", WRITE_PROBE, cluster.db_url,
                                  str(args.writes)], timeout=300)
        write_s = float(json.loads(probe.stdout.strip().splitlines()[-1]))
        epoch_s = epoch_seconds(cluster, "bench-cluster")
    over_local = statistics.mean(span - train for span, train, _ in local)
    over_cluster = statistics.mean(span - train for span, train, _ in remote)
    hosts = sorted({h for _, _, h in remote})
    ratio = over_cluster / over_local
    lines = [
        "## Cluster overhead (two hosts against a local Ray)",
        "",
        f"Measured {date.today().isoformat()} on this machine ({len(local)} + {len(remote)} "
        "complete trials; tiny space on digits, 1 epoch of 2 batches, 2 trials at once; "
        "PostgreSQL on a third host for both):",
        "",
        "| run | search wall s | per-trial overhead s | trained on |",
        "|---|---|---|---|",
        f"| local Ray (host a) | {local_wall:.1f} | {over_local:.3f} | "
        f"{', '.join(sorted({h for _, _, h in local}))} |",
        f"| two-host cluster | {cluster_wall:.1f} | {over_cluster:.3f} | {', '.join(hosts)} |",
        "",
        f"Per-trial overhead of the cluster: **{ratio:.2f}x** the local Ray's "
        f"({over_cluster - over_local:+.3f} s per trial).",
        "",
        f"Who writes: the driver writes every epoch; one `add_epoch` from host a to the "
        f"database on host c takes {write_s * 1000:.1f} ms, "
        f"{write_s / epoch_s:.1%} of one epoch of these (two-batch) trials "
        f"({epoch_s * 1000:.0f} ms), so one driver keeps up with about "
        f"{epoch_s / write_s:.0f} such trials reporting at once.",
        "",
        "```bash",
        "sudo python benchmarks/cluster_overhead.py --trials "
        f"{args.trials}{' --write-docs' if args.write_docs else ''}",
        "```",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write_docs:
        write_section("cluster_overhead", text)


if __name__ == "__main__":
    main()
