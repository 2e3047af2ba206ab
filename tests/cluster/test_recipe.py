"""The README's cluster recipe, verbatim, on three hosts (see ``conftest``)."""

from __future__ import annotations

from tests.cluster.conftest import ClusterRun, Reference


def test_readme_recipe_runs_every_trial_once_on_both_nodes(ray_cluster: ClusterRun,
                                                           reference: Reference) -> None:
    rows = reference.rows
    # --trials 4 of the README: trials 0..3, each once, each trained to the end
    assert sorted(rows) == [0, 1, 2, 3]
    assert {r["status"] for r in rows.values()} == {"complete"}
    assert all(r["attempt"] == 1 and r["epochs_run"] == 2 for r in rows.values())
    # two nodes of one core each and --max-concurrent 2: both trained
    assert {r["host"] for r in rows.values()} == {"tdse-a", "tdse-b"}
    # only the driver on host a wrote: no trial on host b opened a database connection
    hosts = ray_cluster.cluster.hosts
    assert f"host={hosts['a'].ip}" in reference.pg_log
    assert f"host={hosts['b'].ip}" not in reference.pg_log
    # the driver stored every reported epoch once (the default two-stage schedule)
    assert all(sorted(e for _, e in reference.epochs[n]) == [1, 2]
               and len(set(reference.epochs[n])) == 2 for n in range(4)), reference.epochs
    counts = ray_cluster.status("cluster-demo")["counts"]
    assert counts["complete"] == 4 and counts["running"] == 0
    # dse query shows where each trained
    out = ray_cluster.dse("a", "query", "cluster-demo", "--columns",
                          "trial_number,status,host", "--format", "csv")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "trial_number,status,host"
    assert {line.rsplit(",", 1)[1] for line in out.stdout.splitlines()[1:]} == {"tdse-a",
                                                                                 "tdse-b"}
