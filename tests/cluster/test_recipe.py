"""The README's cluster recipe, verbatim, on three hosts (see ``conftest``)."""

from __future__ import annotations

from tests.cluster.conftest import ClusterRun


def test_readme_recipe_runs_every_trial_once(ray_cluster: ClusterRun) -> None:
    line = ray_cluster.line("dse search")
    assert line.host == "a"
    before = len(ray_cluster.cluster.pg_log())
    out = ray_cluster.cluster.shell("a", line.command, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    rows = ray_cluster.query("cluster-demo")
    # --trials 4 of the README: trials 0..3, each once, each trained to the end
    assert sorted(r["trial_number"] for r in rows) == [0, 1, 2, 3]
    assert {r["status"] for r in rows} == {"complete"}
    assert all(r["attempt"] == 1 and r["epochs_run"] == 2 for r in rows)
    # two nodes of one core each and --max-concurrent 2: both trained, each trial on one
    assert {r["host"] for r in rows} == {"tdse-a", "tdse-b"}
    # only the driver on host a wrote: no trial on host b opened a database connection
    log = ray_cluster.cluster.pg_log()[before:]
    hosts = ray_cluster.cluster.hosts
    assert f"host={hosts['a'].ip}" in log and f"host={hosts['b'].ip}" not in log
    # the driver stored every reported epoch once (the default two-stage schedule)
    epochs = ray_cluster.epochs("cluster-demo")
    assert all(sorted(e for _, e in epochs[n]) == [1, 2] and len(set(epochs[n])) == 2
               for n in range(4)), epochs
    counts = ray_cluster.status("cluster-demo")["counts"]
    assert counts["complete"] == 4 and counts["running"] == 0
