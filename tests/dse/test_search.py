"""The search service end to end, in-process (`executor="local"`) and through Ray Tune.

Each test runs a real (small) search on the embedded `digits` data and checks the store and
the Optuna study it leaves.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
import pytest

from dse.cli import main
from dse.config import build_config
from dse.search import run_search
from dse.store import open_store
from dse.trial import Artifact, EpochReport, TrialPayload, TrialResult

QUICK = {"epochs": 1, "schedule": "qat", "max_train_batches": 3, "batch_size": 32,
         "executor": "local", "progress": False, "early_stopping": False,
         "confirm": 0}  # one network per candidate: confirmation is tests/dse/test_confirm.py's

TWO_ARCH_SPACE = """
name: two-arch
description: two architectures only, to provoke duplicates
dimensions:
  stages: 1
  blocks: 0
  width: [8, 16]
"""


def db_url(tmp_path: Path, name: str = "s.db") -> str:
    return f"sqlite:///{tmp_path / name}"


def optuna_trials(url: str, study: str) -> list[optuna.trial.FrozenTrial]:
    storage = optuna.storages.RDBStorage(url)
    return optuna.load_study(study_name=f"dse:{study}", storage=storage).get_trials()


def counted(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    return [t for t in trials if not t.user_attrs.get("abandoned")]


def trained(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The proposals that count toward --trials: not abandoned, duplicate or over budget."""
    return [t for t in counted(trials) if not t.user_attrs.get("duplicate_of")
            and not t.user_attrs.get("infeasible")]


def test_search_runs_and_fills_store(tmp_path: Path) -> None:
    url = db_url(tmp_path)
    cfg = build_config(study="t1", db=url, trials=4, seed=1, **QUICK)
    run_search(cfg)
    store = open_store(url)
    df = store.query("t1")
    # one candidate per proposal, except proposals of a spec already in the study
    proposals = counted(optuna_trials(url, "t1"))
    duplicates = [t for t in proposals if "duplicate_of" in t.user_attrs]
    assert len(df) == len(proposals) - len(duplicates)
    assert df["spec_hash"].is_unique
    assert set(df["status"]) <= {"complete", "infeasible", "pruned", "failed"}
    done = df[df["status"] == "complete"]
    assert len(done) >= 1
    assert ((done["accuracy"] >= 0) & (done["accuracy"] <= 1)).all()
    assert (done["memory_bits"] > 0).all()
    trials = trained(optuna_trials(url, "t1"))
    assert len(trials) == 4
    assert all(t.state.is_finished() for t in trials)
    # per-epoch metrics were streamed: one row per trained epoch
    cid = int(done.iloc[0]["candidate_id"])
    assert len(store.epochs(cid)) == 1


def test_infeasible_candidates_are_never_trained(tmp_path: Path, monkeypatch: Any) -> None:
    """A budget below every candidate: all are recorded infeasible, none reaches training, and
    the search stops at the proposal cap with a one-line reason (none counts toward
    --trials)."""
    import dse.search as search

    def boom(*args: Any, **kwargs: Any) -> TrialResult:
        raise AssertionError("an infeasible candidate was trained")

    monkeypatch.setattr(search, "run_trial", boom)
    url = db_url(tmp_path)
    cfg = build_config(study="t2", db=url, trials=5, budgets=["memory_bits<=10"],
                       max_proposals=7, **QUICK)
    outcome = run_search(cfg)
    df = open_store(url).query("t2")
    assert len(df) >= 1 and set(df["status"]) == {"infeasible"}
    assert all("memory_bits<=10" in str(v) for v in df["violated"])
    trials = counted(optuna_trials(url, "t2"))
    assert len(trials) == 7 and trained(trials) == []
    assert outcome.stopped_reason is not None and "\n" not in outcome.stopped_reason
    assert outcome.stopped_reason.startswith("the space holds no more feasible new candidates")
    assert all(t.values is not None and t.values[0] == 0.0 for t in trials)


def test_duplicates_are_not_retrained(tmp_path: Path, monkeypatch: Any) -> None:
    import dse.search as search

    calls: list[str] = []
    real = search.run_trial

    def counting(payload: TrialPayload, report: Any) -> TrialResult:
        calls.append(payload.spec_json)
        return real(payload, report)

    monkeypatch.setattr(search, "run_trial", counting)
    space = tmp_path / "two.yaml"
    space.write_text(TWO_ARCH_SPACE)
    url = db_url(tmp_path)
    cfg = build_config(study="t3", db=url, trials=6, space=str(space), sampler="random",
                       max_proposals=9, **QUICK)
    outcome = run_search(cfg)
    df = open_store(url).query("t3")
    assert len(df) == len(set(df["spec_hash"])) == 2  # the warm start found both
    assert len(calls) == len(set(calls)) == len(df)
    trials = counted(optuna_trials(url, "t3"))
    assert len(trials) == 9 and len(trained(trials)) == 2
    dups = [t for t in trials if "duplicate_of" in t.user_attrs]
    assert len(dups) == 9 - len(df)
    assert outcome.stopped_reason is not None and "9 proposals gave 2" in outcome.stopped_reason


def test_failing_and_nan_trials_are_recorded_and_search_goes_on(tmp_path: Path,
                                                                 monkeypatch: Any) -> None:
    import torch

    import search_spaces.build as build

    real_build = build.build_model
    made: list[int] = []

    class NaNOut(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x) * float("nan")

    def flaky(spec: Any) -> torch.nn.Module:
        made.append(1)
        if len(made) == 1:
            raise RuntimeError("synthetic failure in the builder")
        if len(made) == 2:
            return NaNOut(real_build(spec))
        return real_build(spec)

    monkeypatch.setattr(build, "build_model", flaky)
    url = db_url(tmp_path)
    cfg = build_config(study="t4", db=url, trials=4, seed=3, **QUICK)
    run_search(cfg)
    df = open_store(url).query("t4")
    failed = df[df["status"] == "failed"]
    errors = " | ".join(str(e) for e in failed["error"])
    assert "RuntimeError: synthetic failure in the builder" in errors
    assert "nan" in errors.lower()
    assert (df["status"] == "complete").sum() >= 1  # the search went on


def test_max_failures_stops_a_broken_search(tmp_path: Path, monkeypatch: Any) -> None:
    import search_spaces.build as build

    def broken(spec: Any) -> Any:
        raise RuntimeError("always broken")

    monkeypatch.setattr(build, "build_model", broken)
    url = db_url(tmp_path)
    cfg = build_config(study="t5", db=url, trials=10, max_failures=2, **QUICK)
    outcome = run_search(cfg)
    assert outcome.stopped_reason is not None and "2 failed" in outcome.stopped_reason
    df = open_store(url).query("t5")
    assert (df["status"] == "failed").sum() == 2


def _cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dse.cli", *argv], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize(("argv", "message"), [
    (["--space", "nope"], "space='nope' must be one of"),
    (["--dataset", "imagenet"], "dataset='imagenet' must be one of"),
    (["--sampler", "annealing"], "sampler='annealing' must be one of"),
    (["--early-stopping-rule", "median"],
     "early_stopping_rule='median' must be one of ['dominated', 'halving']"),
    (["--early-stopping-slack", "-1"], "early_stopping_slack=-1.0 must be a finite number >= 0"),
    (["--early-stopping-slack", "inf"], "early_stopping_slack=inf must be a finite number"),
    (["--gap-fill-every", "-1"], "gap_fill_every=-1 must be an integer >= 0"),
    (["--objectives", "accuracy,speed"], "objectives='speed' has an unknown objective"),
    (["--budget", "memory_bits=1e6"], "must look like METRIC<=NUMBER"),
    (["--db", "postgresql+psycopg://nobody@127.0.0.1:1/none"], "postgresql"),
])
def test_cli_bad_input_one_line_exit_2_nothing_written(tmp_path: Path, argv: list[str],
                                                       message: str) -> None:
    proc = _cli("search", "--trials", "1", "--executor", "local", *argv, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "dse.db").exists()


def test_study_name_reused_with_other_space_is_refused(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    url = db_url(tmp_path)
    run_search(build_config(study="same", db=url, trials=1, **QUICK))
    before = open_store(url).query("same")
    code = main(["search", "--study", "same", "--db", url, "--space", "mognet", "--trials", "1",
                 "--executor", "local", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "space" in err and "compact" in err and "mognet" in err
    assert err.count("\n") == 1
    after = open_store(url).query("same")
    assert len(after) == len(before)


def test_resume_after_the_space_changed_is_refused_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A categorical domain that changed since the study began (an upgrade, an edited space
    file) is refused before anything is written; Optuna would raise 'dynamic value space'
    in the middle of the search."""
    space = tmp_path / "two.yaml"
    space.write_text(TWO_ARCH_SPACE)
    url = db_url(tmp_path)
    run_search(build_config(study="moved", db=url, trials=2, space=str(space), **QUICK))
    before = optuna_trials(url, "moved")
    assert {t.params["width"] for t in before} == {8, 16}
    space.write_text(TWO_ARCH_SPACE.replace("width: [8, 16]", "width: [8, 24]"))
    code = main(["search", "--study", "moved", "--db", url, "--space", str(space),
                 "--trials", "3", "--executor", "local", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "dimension 'width'" in err and "{8, 24}" in err and "{8, 16}" in err
    assert len(optuna_trials(url, "moved")) == len(before)
    assert len(open_store(url).query("moved")) == 2


def _evaluations(db_path: Path) -> list[tuple[Any, ...]]:
    if not db_path.exists():
        return []
    con = sqlite3.connect(db_path, timeout=30)
    try:
        return con.execute("select status from dse_evaluations").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


@pytest.mark.slow
def test_sigkill_at_several_points_then_resume_runs_each_trial_once(tmp_path: Path) -> None:
    """Kill the search with SIGKILL at several moments (start-up, mid-training, later), re-run
    the same command each time; in the end every planned trial ran exactly once."""
    trials = 6
    argv = ["search", "--study", "crash", "--db", f"sqlite:///{tmp_path / 'dse.db'}",
            "--trials", str(trials), "--epochs", "2", "--max-train-batches", "15",
            "--executor", "local", "--quiet", "--no-early-stopping", "--seed", "5"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # (evaluations seen, then seconds before the kill): at start-up, mid-proposal, mid-training
    for kill_after_evals, delay in ((0, 0.3), (1, 0.0), (2, 0.05), (3, 0.3), (4, 0.15)):
        proc = subprocess.Popen([sys.executable, "-m", "dse.cli", *argv], cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if len(_evaluations(tmp_path / "dse.db")) > kill_after_evals:
                time.sleep(delay)
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    final = _cli(*argv, cwd=tmp_path)
    assert final.returncode == 0, final.stderr
    url = f"sqlite:///{tmp_path / 'dse.db'}"
    df = open_store(url).query("crash")
    assert set(df["status"]) <= {"complete", "infeasible", "failed", "pruned"}
    assert len(df) == len(set(df["spec_hash"]))
    trials_done = counted(optuna_trials(url, "crash"))
    assert len(trained(trials_done)) == trials
    assert all(t.state.is_finished() for t in trials_done)
    numbers = [int(n) for n in df["trial_number"]]
    assert len(numbers) == len(set(numbers))
    non_dup = [t for t in trials_done if "duplicate_of" not in t.user_attrs]
    assert len(non_dup) == len(df)


@pytest.mark.slow
def test_ray_tune_path_with_ray_address(tmp_path: Path) -> None:
    """A Ray head started by the test on 127.0.0.1; `--ray-address` connects to it."""
    ray_bin = Path(sys.executable).parent / "ray"
    port = 26379
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # the head and the driver on loopback
    start = subprocess.run([str(ray_bin), "start", "--head", f"--port={port}",
                            "--node-ip-address=127.0.0.1", "--num-cpus=2",
                            "--include-dashboard=false", "--disable-usage-stats"],
                           capture_output=True, text=True, env=env, timeout=180)
    assert start.returncode == 0, start.stderr[-2000:]
    try:
        url = f"sqlite:///{tmp_path / 'ray.db'}"
        proc = subprocess.run(
            [sys.executable, "-m", "dse.cli", "search", "--study", "ray", "--db", url,
             "--trials", "3", "--epochs", "2", "--max-train-batches", "3", "--quiet",
             "--ray-address", f"127.0.0.1:{port}"],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        df = open_store(url).query("ray")
        assert len(df) >= 1
        assert set(df["status"]) <= {"complete", "infeasible", "pruned", "failed"}
        assert (df["status"] == "complete").sum() >= 1, df[["status", "error"]]
        done = df[df["status"] == "complete"]
        cid = int(done.iloc[0]["candidate_id"])
        assert len(open_store(url).epochs(cid)) >= 1
        assert not math.isnan(float(done.iloc[0]["accuracy"]))
        # the trained model came back through Tune's reports as bytes: it loads
        from dse.export import MODEL_ARTIFACT, MODEL_MIME, load_trained_model
        from search_spaces.spec import ArchSpec

        mime, blob = open_store(url).artifact(cid, MODEL_ARTIFACT)
        spec = open_store(url).candidate(cid)["spec"]
        spec = ArchSpec.from_json(spec if isinstance(spec, str) else json.dumps(spec))
        assert mime == MODEL_MIME and load_trained_model(spec, blob) is not None
    finally:
        _stop_ray_head(port)


def _stop_ray_head(port: int) -> None:
    """Stop only the Ray processes of the head this test started (``ray stop`` would stop
    every Ray on the machine): those whose command line names its port, and their children."""
    import contextlib

    parents: dict[int, int] = {}
    targets: set[int] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (proc / "stat").read_text()
            parents[int(proc.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "ray" in cmd and str(port) in cmd:
                targets.add(int(proc.name))
    changed = True
    while changed:  # add the descendants of the targets
        new = {pid for pid, ppid in parents.items() if ppid in targets} - targets
        targets |= new
        changed = bool(new)
    for pid in targets:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
    with contextlib.suppress(OSError):
        if f":{port}" in current.read_text():
            current.unlink()  # what `ray stop` does: later ray.init() calls start afresh


def test_search_on_postgresql_then_resume(pg_database: str) -> None:
    """The cluster configuration's database: the study, our tables and Optuna's in PostgreSQL;
    re-running the same study with more trials continues it."""
    cfg = build_config(study="pg", db=pg_database, trials=3, seed=2, **QUICK)
    run_search(cfg)
    run_search(build_config(study="pg", db=pg_database, trials=5, seed=2, **QUICK))
    store = open_store(pg_database)
    df = store.query("pg")
    assert set(df["status"]) <= {"complete", "infeasible", "pruned", "failed"}
    trials = counted(optuna_trials(pg_database, "pg"))
    assert len(trained(trials)) == 5 and all(t.state.is_finished() for t in trials)
    assert len(df) == len([t for t in trials if "duplicate_of" not in t.user_attrs])
    assert store.study_status("pg")["counts"]["complete"] >= 1


def test_progress_view_counts_best_and_hypervolume() -> None:
    from dse.commands.search import ProgressView

    cfg = build_config(study="v", trials=4)
    view = ProgressView(cfg, enabled=False)
    view.event("running", {"trial": 0})
    view.event("complete", {"trial": 0, "accuracy": 0.5, "memory_bits": 1000.0})
    view.event("running", {"trial": 1})
    view.event("complete", {"trial": 1, "accuracy": 0.8, "memory_bits": 3000.0})
    view.event("infeasible", {"trial": 2, "memory_bits": 1e9})
    view.event("failed", {"trial": 3, "reason": "boom"})
    assert view.counts == {"running": 0, "complete": 2, "infeasible": 1, "failed": 1}
    assert view.best == {"accuracy": 0.8, "memory_bits": 1000.0}
    hv = view._hypervolume()
    assert hv is not None and hv > 0
    table = view._render()
    assert "3/4 trials" in str(table.title)  # the infeasible proposal is not a trial


@pytest.mark.parametrize("where", ["after_ask", "after_store_finish", "after_start_eval"])
def test_crash_windows_are_repaired_on_resume(tmp_path: Path, monkeypatch: Any,
                                              where: str) -> None:
    """Die (KeyboardInterrupt, uncaught) in the windows between the two databases' writes:
    after Optuna's ask but before the store knows the candidate; after the store recorded
    a result but before Optuna was told; after the evaluation started. The next run repairs
    Optuna and the store, and every planned trial is counted exactly once."""
    import dse.search as search
    from dse.store.api import Store

    url = db_url(tmp_path)
    calls = {"n": 0}

    def crash_on_second(real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt(f"simulated crash {where}")
            return real(*args, **kwargs)
        return wrapper

    with monkeypatch.context() as m:
        if where == "after_ask":
            m.setattr(Store, "add_candidate", crash_on_second(Store.add_candidate))
        elif where == "after_start_eval":
            real_start = Store.start_evaluation

            def start_then_crash(self: Any, *args: Any, **kwargs: Any) -> Any:
                out = real_start(self, *args, **kwargs)
                calls["n"] += 1
                if calls["n"] == 2:
                    raise KeyboardInterrupt("simulated crash after_start_eval")
                return out
            m.setattr(Store, "start_evaluation", start_then_crash)
        else:
            m.setattr(search.Proposer, "_tell_values",
                      crash_on_second(search.Proposer._tell_values))
        with pytest.raises(KeyboardInterrupt):
            run_search(build_config(study="w", db=url, trials=4, seed=4, **QUICK))
    run_search(build_config(study="w", db=url, trials=4, seed=4, **QUICK))
    df = open_store(url).query("w")
    trials = optuna_trials(url, "w")
    live = counted(trials)
    assert len(trained(trials)) == 4 and all(t.state.is_finished() for t in trials)
    assert set(df["status"]) <= {"complete", "infeasible", "pruned", "failed"}
    non_dup = [t for t in live if "duplicate_of" not in t.user_attrs]
    assert sorted(int(n) for n in df["trial_number"]) == sorted(t.number for t in non_dup)
    if where == "after_ask":
        assert [t.user_attrs.get("abandoned") for t in trials].count(True) == 1


def test_trial_timeout_is_recorded_failed_with_reason(tmp_path: Path) -> None:
    """A timeout far below one epoch: every trained trial stops after its first epoch and is
    recorded failed with the timeout as its reason; the search still runs all its trials."""
    url = db_url(tmp_path)
    cfg = build_config(study="slow", db=url, trials=2, trial_timeout_s=1e-3,
                       **{**QUICK, "epochs": 3})
    run_search(cfg)
    store = open_store(url)
    df = store.query("slow")
    done = df[df["status"] != "infeasible"]
    assert len(done) >= 1 and set(done["status"]) == {"failed"}
    assert all("exceeded --trial-timeout 0.001 s after epoch 1" in e for e in done["error"])
    assert all(len(store.epochs(int(c))) == 1 for c in done["candidate_id"])
    assert len(trained(optuna_trials(url, "slow"))) == 2


def test_early_stopping_prunes_within_cost_buckets(tmp_path: Path) -> None:
    """With early stopping on, some trials stop at a rung: recorded `pruned` with the epochs
    they ran (fewer than planned) and told to Optuna as PRUNED; finished trials keep all.
    The `halving` criterion, which prunes in a search this short (the default `dominated`
    one rarely does: tests/dse/test_config.py checks its decisions)."""
    url = db_url(tmp_path)
    cfg = build_config(study="asha", db=url, trials=12, seed=1,  # seed 1 prunes (deterministic)
                       **{**QUICK, "epochs": 3, "early_stopping": True, "warm_start": 0,
                          "early_stopping_rule": "halving"})
    run_search(cfg)
    store = open_store(url)
    df = store.query("asha")
    pruned, done = df[df["status"] == "pruned"], df[df["status"] == "complete"]
    assert len(pruned) >= 1 and len(done) >= 1
    assert all(len(store.epochs(int(c))) < 3 for c in pruned["candidate_id"])
    assert all(len(store.epochs(int(c))) == 3 for c in done["candidate_id"])
    states = {t.number: t.state for t in optuna_trials(url, "asha")}
    assert all(states[int(n)] == optuna.trial.TrialState.PRUNED for n in pruned["trial_number"])


@pytest.mark.parametrize(("resume_at", "slack"), [(None, 2.0), (4, 2.0), (None, 1.0)])
def test_dominated_early_stopping_in_a_search(tmp_path: Path, monkeypatch: Any,
                                              resume_at: int | None, slack: float) -> None:
    """The default criterion through run_local: training is replaced by curves that fall
    with the cost bucket (final 1 - 0.02 per bucket above 48, the quantized stage's first
    epoch 0.05 below it, so every finished trial gained 0.05 from that rung). A trial stops at
    its first quantized epoch exactly when a complete trial of no higher bucket beats its
    value + slack x 0.05 (the config's ``early_stopping_slack``), once 3 trials have finished;
    it is stored `pruned` with the epochs it ran and that epoch's accuracy. With ``resume_at``
    the search stops after that many trials and the same command goes on: the rule is
    replayed the stored curves, so the resumed trials are judged against the first run's
    too."""
    import dse.search as search

    def fake_run(payload: TrialPayload, on_epoch: Any) -> TrialResult:
        final = max(0.1, 1.0 - 0.02 * (payload.bucket - 48))
        curve = [(1, "float", 0.99), (2, "float", 0.99), (3, "quantized", final - 0.05),
                 (4, "quantized", final)]
        for epoch, stage, value in curve:
            if on_epoch(EpochReport(epoch, stage, value, {"seconds": 0.01})):
                return TrialResult(status="pruned", metrics={"accuracy": value},
                                   monitor=value, epochs_run=epoch)
        return TrialResult(status="complete", metrics={"accuracy": final, "test_accuracy": final},
                           monitor=final, epochs_run=4)

    monkeypatch.setattr(search, "run_trial", fake_run)
    url = db_url(tmp_path)
    over: dict[str, Any] = {"study": "dom", "db": url, "seed": 0, "executor": "local",
                            "epochs": 4, "schedule": "two-stage", "progress": False,
                            "confirm": 0, "early_stopping_slack": slack}
    cfg = build_config(trials=8, **over)
    assert cfg.early_stopping and cfg.early_stopping_rule == "dominated"
    if resume_at is not None:
        run_search(build_config(trials=resume_at, **over))
    run_search(cfg)
    df = open_store(url).query("dom").sort_values("trial_number")
    df["bucket"] = [search.cost_bucket({"memory_bits": m}, cfg.objectives)
                    for m in df["memory_bits"]]
    done = df[df["status"] == "complete"]
    pruned = df[df["status"] == "pruned"]
    assert len(done) >= 3 and len(pruned) >= 1 and len(done) + len(pruned) == 8
    for _, row in df.iterrows():
        before = done[done["trial_number"] < row["trial_number"]]
        rung = row["accuracy"] - (0.05 if row["status"] == "complete" else 0.0)
        beaten = ((before["bucket"] <= row["bucket"])
                  & (before["accuracy"] > rung + slack * 0.05 + 1e-9)).any()
        assert (row["status"] == "pruned") == (len(before) >= 3 and beaten), row.to_dict()
        assert row["epochs_run"] == (3 if row["status"] == "pruned" else 4)
    if resume_at is not None:  # the resumed run stopped a trial (its peers: the first run's)
        assert (pruned["trial_number"] >= resume_at).any()


def test_second_driver_on_a_live_study_is_refused(tmp_path: Path) -> None:
    """While one `dse search` runs a study, a second one on the same study exits 2 with one
    line (it would re-queue and retrain the first one's running trials); once the first is
    killed, the same command takes over at once (same host, its pid is gone)."""
    argv = ["search", "--study", "busy", "--db", f"sqlite:///{tmp_path / 'dse.db'}",
            "--trials", "40", "--epochs", "2", "--executor", "local", "--quiet"]
    first = subprocess.Popen([sys.executable, "-m", "dse.cli", *argv], cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not _evaluations(tmp_path / "dse.db"):
            time.sleep(0.1)
        assert first.poll() is None, "the first search ended too soon"
        second = _cli(*argv, cwd=tmp_path)
        assert second.returncode == 2, second.stderr
        assert "is being searched by another process" in second.stderr
        assert second.stderr.count("\n") == 1
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    third = _cli(*[a if a != "40" else "3" for a in argv], cwd=tmp_path)
    assert third.returncode == 0, third.stderr


def test_constraints_are_on_the_trial_from_its_proposal(tmp_path: Path, monkeypatch: Any
                                                        ) -> None:
    """A budget's constraint value is known from the cost model, so the Optuna trial has it
    while it trains (read by another process, as the samplers would), and after: the budget's
    relative excess of the stored memory bits, for trained and infeasible proposals alike."""
    import dse.search as search

    url = db_url(tmp_path)
    budget = "memory_bits<=6000"
    during: dict[int, tuple[optuna.trial.TrialState, dict[str, float]]] = {}
    real = search.run_trial

    def checking(payload: TrialPayload, report: Any) -> TrialResult:
        (t,) = [t for t in optuna_trials(url, "c") if t.number == payload.trial_number]
        during[t.number] = (t.state, dict(t.constraints))
        return real(payload, report)

    monkeypatch.setattr(search, "run_trial", checking)
    # the budgets of these two tests are set for `tiny`'s sizes (the default space is larger)
    run_search(build_config(study="c", db=url, trials=3, seed=2, budgets=[budget],
                            sampler="random", warm_start=0, space="tiny", **QUICK))
    df = open_store(url).query("c")
    trials = {t.number: t for t in optuna_trials(url, "c")}
    assert len(during) == 3 and {s for s, _ in during.values()} == \
        {optuna.trial.TrialState.RUNNING}
    assert set(df["status"]) >= {"complete", "infeasible"}
    for _, row in df.iterrows():
        number = int(row["trial_number"])
        expected = {budget: (float(row["memory_bits"]) - 6000.0) / 6000.0}
        assert trials[number].constraints == expected
        assert (expected[budget] > 0) == (row["status"] == "infeasible")
        if number in during:
            assert during[number][1] == expected


def test_resume_sets_constraints_a_driver_left_unset(tmp_path: Path, monkeypatch: Any) -> None:
    """A trial left running by a driver that set constraints only with the result (as
    tinydse did before they were set at proposal time) gets them on resume, from the stored
    hardware metrics, before it is told its stored result."""
    import dse.search as search

    url = db_url(tmp_path)
    budget = "memory_bits<=100000"
    crashed: list[int] = []
    real_tell = search.Proposer._tell_values

    def crash_on_second(self: Any, number: int, metrics: dict[str, float]) -> None:
        if len(crashed) == 1:
            crashed.append(number)
            raise KeyboardInterrupt("simulated crash after the store finished a trial")
        crashed.append(-1)
        real_tell(self, number, metrics)

    with monkeypatch.context() as m:
        m.setattr(search.Proposer, "_set_constraints", lambda self, *a, **k: None)
        m.setattr(search.Proposer, "_tell_values", crash_on_second)
        with pytest.raises(KeyboardInterrupt):
            run_search(build_config(study="l", db=url, trials=3, seed=4, budgets=[budget],
                                    **QUICK))
    left = crashed[-1]
    assert left >= 0 and optuna_trials(url, "l")[left].constraints == {}
    run_search(build_config(study="l", db=url, trials=3, seed=4, budgets=[budget], **QUICK))
    row = open_store(url).query("l").set_index("trial_number").loc[left]
    trial = optuna_trials(url, "l")[left]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert trial.constraints == {budget: (float(row["memory_bits"]) - 1e5) / 1e5}


class _RecordingProposer:
    """What the Tune searcher hands the driver's proposer, recorded."""

    def __init__(self, cand: Any, payload: TrialPayload) -> None:
        from dse.tasks import get_task

        self.cand, self._payload, self.task = cand, payload, get_task("classification")
        self.calls: list[tuple[str, Any]] = []

    def next(self) -> Any:
        return self.cand

    def payload(self, cand: Any) -> TrialPayload:
        return self._payload

    def on_event(self, kind: str, info: dict[str, Any]) -> None:
        pass

    def note_host(self, cand: Any, host: str | None) -> None:
        self.calls.append(("host", host))

    def record_epoch(self, cand: Any, report: EpochReport, host: str | None) -> None:
        self.calls.append(("epoch", report))

    def complete(self, cand: Any, result: TrialResult) -> None:
        self.calls.append(("complete", result))


@pytest.mark.parametrize("prune_after", [None, 1])
def test_ray_reports_carry_epochs_and_result_exactly(monkeypatch: Any,
                                                     prune_after: int | None) -> None:
    """The Tune trainable's reports, read by the driver's searcher and scheduler (Tune's own
    loop left out): the proposer gets the host, every epoch and the result exactly as the
    trial produced them (None stays None, floats exact, artifact bytes); the scheduler sees
    each epoch with the payload's bucket and planned epochs; a trial it stops after epoch 1
    is completed ``pruned`` with that epoch's monitored value as the primary objective."""
    import socket

    from ray import tune

    import dse.search as search
    from dse.search import Candidate

    epochs = [EpochReport(1, "float", 0.25, {"train_loss": 1 / 7, "train_accuracy": None}),
              EpochReport(2, "quantized", 1 / 3, {"train_loss": 0.1 + 0.2, "seconds": 5e-324})]
    result = TrialResult(status="complete", metrics={"accuracy": 1 / 3, "test_accuracy": 0.3},
                         monitor=1 / 3, epochs_run=2, train_seconds=None,
                         artifacts={"model": Artifact("application/x-torch",
                                                      bytes(range(256)) * 2)})

    def fake_run(payload: TrialPayload, on_epoch: Any) -> TrialResult:
        assert payload == sent
        for e in epochs:
            on_epoch(e)
        return result

    reports: list[dict[str, Any]] = []
    monkeypatch.setattr(search, "run_trial", fake_run)
    monkeypatch.setattr(tune, "report", lambda d: reports.append(dict(d)))
    cfg = build_config(epochs=2)
    sent = TrialPayload.from_config(cfg, '{"layers": []}', 5, bucket=2)
    cand = Candidate(5, 1, 1, sent.spec_json, {"memory_bits": 10.0}, 2)
    proposer = _RecordingProposer(cand, sent)

    searcher_cls, scheduler_cls = search._tune_classes()
    stopped: set[str] = set()
    seen: list[tuple[Any, ...]] = []

    class Rule:
        def should_stop(self, *args: Any) -> bool:
            seen.append(args)
            return prune_after is not None and args[1] == prune_after

    searcher = searcher_cls(proposer, stopped)
    scheduler = scheduler_cls(Rule(), stopped)
    config = searcher.suggest("t0")
    search._tune_trainable(config)  # what the worker reports
    assert len(reports) == 4 and all(isinstance(v, str | float) for r in reports
                                     for v in r.values())

    class Trial:
        trial_id = "t0"

    Trial.config = config  # type: ignore[attr-defined]
    last = reports[-1]
    for report in reports[:-1]:
        decision = scheduler.on_trial_result(None, Trial(), report)
        if decision == "STOP":
            last = report
            break
        searcher.on_trial_result("t0", report)
    searcher.on_trial_complete("t0", last)

    host = socket.gethostname()
    if prune_after is None:
        assert proposer.calls == [("host", host), ("epoch", epochs[0]), ("epoch", epochs[1]),
                                  ("complete", result)]
        assert seen == [(2, 1, 0.25, 2, "float", 5), (2, 2, 1 / 3, 2, "quantized", 5)]
    else:
        assert proposer.calls == [("host", host), ("epoch", epochs[0]),
                                  ("complete", TrialResult(status="pruned", epochs_run=1,
                                                           metrics={"accuracy": 0.25}))]
        assert seen == [(2, 1, 0.25, 2, "float", 5)]


def test_hardware_metrics_are_written_once_per_candidate(tmp_path: Path, monkeypatch: Any
                                                         ) -> None:
    """Each metric known before training reaches the store in one write per candidate
    (``record_hardware``); the outcome of training, feasible or not, carries only trained
    ones, and the reads still show every hardware number."""
    from dse.catalog import catalogue
    from dse.store.api import Store

    writes: list[tuple[str, int, set[str]]] = []
    for name in ("record_hardware", "finish_evaluation"):
        real = getattr(Store, name)

        def spy(self: Any, key: int, *args: Any, _real: Any = real, _name: str = name,
                **kwargs: Any) -> Any:
            metrics = args[0] if args else kwargs.get("metrics")
            writes.append((_name, key, set(metrics or {})))
            return _real(self, key, *args, **kwargs)

        monkeypatch.setattr(Store, name, spy)
    url = db_url(tmp_path)
    cfg = build_config(study="once", db=url, trials=3, seed=2, warm_start=0, space="tiny",
                       budgets=["memory_bits<=4000"], **QUICK)
    run_search(cfg)
    cat = catalogue()
    hardware = {m.name for m in cat if m.known.before_training}
    reports = [w for w in writes if w[0] == "record_hardware"]
    finishes = [w for w in writes if w[0] == "finish_evaluation"]
    assert len(reports) == len({key for _, key, _ in reports}) >= 3  # one per candidate
    assert all({"memory_bits", "energy_pj", "ideal_cycles"} <= m for _, _, m in reports)
    assert finishes and all(not (m & hardware) for _, _, m in finishes)
    df = open_store(url).query("once")
    assert (df["memory_bits"] > 0).all() and df["ideal_cycles"].notna().all()
    statuses = set(df["status"])
    assert "complete" in statuses and "infeasible" in statuses
