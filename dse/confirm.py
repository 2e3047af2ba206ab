"""Confirmation of the front: after the trials, the candidates on and next to the front train
a second network, on another train/validation partition where the dataset has one, and their
objectives become the means over both (docs/design.md, "Confirmation of the front").

Why. A trained candidate's objective is one network's validation accuracy: the training seed
and the validation images move it by about a point on ``digits``. The best of a dozen
near-equal values is optimistic (the winner's curse): on 2026-12-02 a pick at 13,160 b had
98.3 % validation and 95.9 % test (docs/benchmarks.md, "front_quality"). A second network
with only another seed, measured on the same validation images, scored 96.9 % validation and
96.9 % test: the same images favour the same architecture, so the second network trains on
another partition (digits: validation fold 1, :func:`dse.data.resplit_params`) and is
measured on validation images the first never held out; the test split never moves. The mean
is a two-fold estimate of exactly the values that decide the front. The idea is SMAC's
intensification (incumbents re-run on more seeds and instances before they are trusted) and
cross-validation; our rule, which is an interpretation, is:

    repeat: rank the complete candidates by non-dominated sorting on the study's objectives
    (confirmed ones at their means); train the unconfirmed ones of the first ``CONFIRM_RANKS``
    fronts, best first; until none is left or ``SearchConfig.confirm_count`` are trained.

Two fronts, not one: a candidate just behind a lucky one is the one that takes its place
when the lucky one's mean drops. Each confirmation is a ``dse train`` of the candidate at the
study's own fidelity, network 1 (:attr:`dse.trial.TrialPayload.replicate`), stored in
``dse_trainings`` (``replicate`` 1) and resumable; the candidate's evaluation then holds the
means (:func:`mean_metrics`; its own network's values as ``first_<metric>``, the count as
``replicates``), so the front, the hypervolume, ``dse query`` and the dashboard show them with
no code of their own. Candidates sharing a network (a co-search) share the confirmation. The
exported network stays the search's (network 0); ``dse query --evaluations`` shows each
network's own values.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dse.status import Status
from dse.store.records import FIRST_PREFIX, REPLICATE, REPLICATES_KEY

if TYPE_CHECKING:
    import pandas as pd

    from dse.config import SearchConfig
    from dse.store import Store

COMPLETE, FAILED = Status.COMPLETE.value, Status.FAILED.value
#: Fronts of the non-dominated sorting whose candidates are confirmed (see the module doc).
CONFIRM_RANKS = 2


def replicated_metrics(task: str) -> tuple[str, ...]:
    """The metrics a confirmed candidate averages: its task's trained ones with a direction
    (``accuracy``, ``val_accuracy``, ``test_accuracy``, ``deploy_mismatches``, ...)."""
    from dse.tasks import get_task

    return tuple(m.name for m in get_task(task).metrics
                 if m.direction is not None and not m.known.before_training)


def first_values(metrics: dict[str, Any], names: Sequence[str]) -> dict[str, float]:
    """The evaluation's own network's values (``first_<name>`` once it is confirmed)."""
    out = {}
    for name in names:
        value = metrics.get(FIRST_PREFIX + name, metrics.get(name))
        if value is not None and np.isfinite(float(value)):
            out[name] = float(value)
    return out


def mean_metrics(runs: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, float]:
    """The means over ``runs`` (first the search's network) of the ``names`` every run has,
    with the first run's own values as ``first_<name>`` and ``replicates`` = len(runs)."""
    out: dict[str, float] = {REPLICATES_KEY: float(len(runs))}
    for name in names:
        values = [r.get(name) for r in runs]
        if any(v is None or not np.isfinite(float(v)) for v in values):
            continue
        out[name] = float(np.mean([float(v) for v in values]))  # type: ignore[arg-type]
        out[FIRST_PREFIX + name] = float(values[0])  # type: ignore[arg-type]
    return out


def to_confirm(frame: pd.DataFrame, objectives: Sequence[str], directions: Sequence[str],
               confirmed: set[str]) -> list[int]:
    """Candidate ids to confirm next, best first: of the first :data:`CONFIRM_RANKS` fronts of
    the complete candidates, one per network not in ``confirmed`` (network hashes)."""
    from dse.pareto import nondominated_sort

    done = frame[frame["status"] == COMPLETE].reset_index(drop=True)
    if not len(done):
        return []
    ranks = nondominated_sort(done[list(objectives)].to_numpy(dtype=float), directions)
    sign = 1.0 if directions[0] == "maximize" else -1.0
    order = sorted((int(r), -sign * float(v), int(c), _network(row))
                   for r, v, c, row in zip(ranks, done[objectives[0]], done["candidate_id"],
                                           _records(done), strict=True)
                   if 0 <= r < CONFIRM_RANKS)
    out, seen = [], set(confirmed)
    for _, _, cid, net in order:
        if net not in seen:
            seen.add(net)
            out.append(cid)
    return out


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]


def _network(row: dict[str, Any]) -> str:
    return str(row.get("network_hash") or row.get("spec_hash"))


def _command(cfg: SearchConfig, candidate_id: int) -> list[str]:
    """The ``dse train`` of network :data:`REPLICATE` of the candidate at the study's
    fidelity (the database URL goes by the environment: it may hold a password)."""
    cmd = [sys.executable, "-m", "dse.cli", "train", cfg.study, str(candidate_id),
           "--replicate", str(REPLICATE), "--epochs", str(cfg.epochs),
           "--schedule", cfg.schedule, "--quiet"]
    if cfg.max_train_batches is not None:
        cmd += ["--max-train-batches", str(cfg.max_train_batches)]
    return cmd


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, be killed when the search's process dies (a
    ``kill -9`` of the search leaves no training behind; the next run resumes it)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _replicates(store: Store, cfg: SearchConfig) -> dict[int, tuple[str, dict[str, Any]]]:
    """The study's finished confirmations at its fidelity: candidate id -> (status, metrics)."""
    ev = store.evaluations(cfg.study)
    if not len(ev):
        return {}
    mine = ev[(ev["source"] == "train") & (ev["replicate"] == REPLICATE)
              & (ev["epochs"] == cfg.epochs) & (ev["schedule"] == cfg.schedule)
              & (ev["status"].isin([COMPLETE, FAILED]))]
    batches = mine["max_train_batches"]
    mine = mine[batches.isna()] if cfg.max_train_batches is None else \
        mine[batches == cfg.max_train_batches]
    return {int(r["candidate_id"]): (str(r["status"]), r) for r in _records(mine)}


def _apply(store: Store, cfg: SearchConfig, frame: pd.DataFrame,
           replicates: dict[int, tuple[str, dict[str, Any]]]) -> None:
    """Write the means of every complete confirmation onto the evaluations of its network's
    complete candidates; one already holding them is left alone (idempotent)."""
    names = replicated_metrics(cfg.task)
    done = _records(frame[frame["status"] == COMPLETE])
    net_of = {int(r["candidate_id"]): _network(r) for r in done}
    for cid, (status, metrics) in replicates.items():
        if status != COMPLETE or cid not in net_of:
            continue
        for row in done:
            if _network(row) != net_of[cid]:
                continue
            ev = store.candidate(int(row["candidate_id"]))["evaluation"] or {}
            own = dict(ev.get("metrics") or {})
            if own.get(REPLICATES_KEY) == float(REPLICATE + 1):  # holds the means already
                continue
            means = mean_metrics([first_values(own, names), metrics], names)
            store.set_replicated(int(row["evaluation_id"]), means)


def confirm_front(cfg: SearchConfig, store: Store,
                  on_event: Callable[[str, dict[str, Any]], None] | None = None) -> int:
    """Confirm the study's front (see the module doc); the number of networks trained now.
    Each is a ``dse train`` in its own process (the study's trial settings, resumable),
    ``cfg.max_concurrent`` at once on this host; one whose process fails is not retried
    in this call (the next run of the search continues it)."""
    limit = cfg.confirm_count
    if limit <= 0:
        return 0
    trained, tried = 0, set()
    env = {**os.environ, "TINYDSE_DB": cfg.db}
    while True:
        frame = store.query(cfg.study)
        replicates = _replicates(store, cfg)
        _apply(store, cfg, frame, replicates)
        frame = store.query(cfg.study)
        nets = {_network(r) for r in _records(frame)
                if int(r["candidate_id"]) in replicates}
        todo = [c for c in to_confirm(frame, cfg.objectives, cfg.directions, nets)
                if c not in tried][:max(0, limit - len(replicates))]
        if not todo:
            return trained
        tried.update(todo)
        if on_event is not None:
            on_event("confirming", {"candidates": todo, "confirmed": len(replicates),
                                    "limit": limit})
        running: list[tuple[int, subprocess.Popen[str]]] = []
        queue = list(todo)
        while queue or running:
            while queue and len(running) < cfg.max_concurrent:
                cid = queue.pop(0)
                running.append((cid, subprocess.Popen(
                    _command(cfg, cid), env=env, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE, text=True, preexec_fn=_die_with_parent)))
            cid, proc = running.pop(0)
            _, err = proc.communicate()
            trained += proc.returncode == 0
            if on_event is not None:
                done = _replicates(store, cfg).get(cid)
                status, metrics = done if done is not None else (
                    FAILED, {"reason": ((err or "").strip().splitlines() or ["?"])[-1]})
                names = replicated_metrics(cfg.task)
                on_event("confirmed", {"candidate_id": cid, "status": status,
                                       **{k: v for k, v in dict(metrics).items()
                                          if k in names or k == "reason"}})
