"""The README's cluster recipe, verbatim, on three hosts (see ``conftest``)."""

from __future__ import annotations

from tests.cluster.conftest import ClusterRun


def test_readme_recipe_runs_every_trial_once(ray_cluster: ClusterRun) -> None:
    line = ray_cluster.line("dse search")
    assert line.host == "a"
    out = ray_cluster.cluster.shell("a", line.command, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    rows = ray_cluster.query("cluster-demo")
    # --trials 4 of the README: trials 0..3, each once, each trained to the end
    assert sorted(r["trial_number"] for r in rows) == [0, 1, 2, 3]
    assert {r["status"] for r in rows} == {"complete"}
    assert all(r["attempt"] == 1 and r["epochs_run"] == 2 for r in rows)
    counts = ray_cluster.status("cluster-demo")["counts"]
    assert counts["complete"] == 4 and counts["running"] == 0
