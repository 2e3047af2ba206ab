"""The search service: Optuna proposes, the hardware model judges first, Ray Tune trains.

Flow of one proposal (docs/design.md, "Flow of one trial"):

1. Optuna's sampler (multi-objective TPE by default; see ``SearchConfig.sampler_name``) asks;
   the space turns the trial into an :class:`~search_spaces.spec.ArchSpec`.
2. A spec already evaluated in this study (same hash) is not retrained: the sampler is told
   the stored values.
3. The analytical cost model (and the simulator where ``cycles`` is needed) scores it. One
   over a hard budget is recorded ``infeasible`` with the violated budget and told to the
   sampler as such (worst accuracy plus Optuna constraint values > 0); it is never trained.
   A co-search (a space with accelerator dimensions, :mod:`dse.cosearch`) proposes the pair
   (network, accelerator): the pair must fit its accelerator's SRAMs, its cycles, energy and
   area come from the simulator on that accelerator, and a network already trained (or
   training) for another accelerator is not trained again: its result is reused.
4. Feasible candidates train as Ray Tune trials (or in-process with ``executor="local"``),
   reporting per-epoch metrics to the driver, which alone writes them (and every result and
   artifact) to the store: Ray workers need no database access; an early-stopping rule
   stops those that finished candidates of no higher hardware cost already beat
   (:class:`EarlyStopping`).

The state lives in the database: our tables plus Optuna's RDB storage in the same database.
Re-running the same command continues: a trial that was running when the process died is
re-run under the same Optuna trial number, never duplicated or lost. A trial whose Ray worker
(or node) died is re-run the same way by the live driver (``MAX_ATTEMPTS`` in all).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import socket
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from dse.config import STOPPING_CRITERIA, STOPPING_SLACK, SearchConfig
from dse.cosearch import FIT_CONSTRAINT, pair_hardware, pair_hash
from dse.errors import UserError
from dse.optuna_adapter import unfinished_trial
from dse.samplers import create_sampler
from dse.status import TRAINING_OUTCOMES, UNFINISHED_STATUSES
from dse.tasks import run_trial
from dse.trial import EpochReport, TrialPayload, TrialResult

if TYPE_CHECKING:
    import optuna

    from dse.store import Store
    from hwmodel.accel import AccelConfig
    from search_spaces.spec import ArchSpec

#: Default cap on proposals (all kinds) per planned trial: ``--trials 12`` stops after 240
#: proposals even if fewer than 12 of them were new and within the budgets.
PROPOSALS_PER_TRIAL = 20

#: Warm start: feasible points drawn per enqueued one, so the spread's cheapest and dearest
#: picks are near the space's corners (256 draws for 8 points: under a second of batch
#: scoring even with a cold block cache, benchmarks/cost_throughput.py).
WARM_POOL = 32
#: Gap filling (``gap_fill_every``) draws at least this many times WARM_POOL points.
GAP_POOL_POINTS = 8

#: Attempts of one candidate whose worker process (or node) died before it is recorded failed.
MAX_ATTEMPTS = 3


# --------------------------------------------------------------------------- hardware first
def hardware_metrics(spec: ArchSpec, accel: AccelConfig, *, simulate: bool
                     ) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Score a spec before any training: totals (named with units) and per-layer rows.

    ``cycles`` is the simulator's count when ``simulate`` (an objective or budget needs it),
    otherwise the analytical stall-free count.
    """
    from hwmodel.cost import cost_report

    report = cost_report(spec, accel).to_dict()
    metrics = {k: float(v) for k, v in report["totals"].items()
               if isinstance(v, int | float) and not isinstance(v, bool)}
    metrics["cycles"] = metrics["ideal_cycles"]
    layers = [dict(row) for row in report["layers"]]
    if simulate:
        from hwmodel.sim import simulate as run_sim

        sim = run_sim(spec, accel)
        metrics["cycles"] = float(sim.cycles)
        by_path = {row.name: row.cycles for row in sim.layers}
        for row in layers:
            if row.get("path") in by_path:
                row["sim_cycles"] = by_path[row["path"]]
    return metrics, layers


@dataclass
class EarlyStopping:
    """Early stopping at rungs (epochs ``grace * eta**k``), against peers of no higher
    hardware cost (their cost bucket, :func:`cost_bucket`, 19 % wide, or cheaper ones): a
    cheap model is never stopped for losing to an expensive one. Two criteria:

    * ``"dominated"`` (the default): a trial stops at a rung only if a *finished* peer of no
      higher cost already beats the best it could still reach: its value at the rung plus
      ``slack`` times the largest gain any finished trial made from that rung to its end. So
      a trial stops only when it would have to improve far more than any curve seen so far
      to reach the front (a costly one that cheaper finished models beat, a network that
      collapsed). With ``slack`` 1 a new trial out-gaining every finished one (chance about
      1 in n + 1 among n like trials) was stopped while it would have ended on the front;
      2 is our choice. Decides after ``min_peers`` finished trials were seen at the rung.
      Our interpretation of ASHA for a Pareto front, measured against ``"halving"`` in
      benchmarks/early_stopping.py.
    * ``"halving"``: asynchronous successive halving (ASHA-style): a trial continues only if
      its value is in the top ``1/eta`` of the values seen at that rung by its peers (after
      ``min_peers`` of them).

    Like with like: with ``stage_start`` (stage name -> epochs before it, see
    :meth:`for_stages`) rungs lie only in the named stages, their epochs are counted from the
    stage's start and results are compared only within one stage, so a full-precision
    accuracy never competes with a quantized one (nor decides a quantized candidate's fate).
    Without it, epochs are global and every epoch may be a rung.
    """

    eta: int = 3
    grace_epochs: int = 1
    min_peers: int = 3
    stage_start: dict[str, int] | None = None
    criterion: str = "dominated"
    #: dominated: how many times the largest gain seen from a rung a trial is granted
    slack: float = STOPPING_SLACK
    #: halving: (stage, rung) -> the (bucket, value) results seen there
    _seen: dict[tuple[str, int], list[tuple[int, float]]] = field(
        default_factory=lambda: defaultdict(list))
    #: dominated: (stage, trial) -> {rung: value}; stage -> {trial: (bucket, final value)}
    _curves: dict[tuple[str, Any], dict[int, float]] = field(
        default_factory=lambda: defaultdict(dict))
    _finished: dict[str, dict[Any, tuple[int, float]]] = field(
        default_factory=lambda: defaultdict(dict))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.criterion not in STOPPING_CRITERIA:
            raise ValueError(f"criterion={self.criterion!r} must be one of "
                             f"{', '.join(STOPPING_CRITERIA)}")

    @classmethod
    def for_stages(cls, stages: list[Any], **kwargs: Any) -> EarlyStopping:
        """Rungs in the last stage only (the fully quantized one, whose accuracy is the
        objective), counted from its first epoch."""
        before = sum(s.epochs for s in stages[:-1])
        return cls(stage_start={stages[-1].name: before}, **kwargs)

    def is_rung(self, epoch: int) -> bool:
        if epoch < self.grace_epochs:
            return False
        k = math.log(epoch / self.grace_epochs, self.eta)
        return abs(k - round(k)) < 1e-9

    def should_stop(self, bucket: int, epoch: int, value: float,
                    final_epoch: int | None = None, stage: str | None = None,
                    trial: Any = None) -> bool:
        """Record ``value`` at a rung; True if the trial should stop there. A trial at its
        ``final_epoch`` has finished: its value counts for its peers, it is never stopped.
        ``epoch`` is global (1-based); ``stage`` names the stage it belongs to; ``trial``
        identifies the trial (the ``dominated`` criterion follows each trial's curve)."""
        local, key = epoch, ""
        if self.stage_start is not None:
            if stage not in self.stage_start:
                return False
            local, key = epoch - self.stage_start[stage], str(stage)
        if not math.isfinite(value):
            return False
        finished = final_epoch is not None and epoch >= final_epoch
        if self.criterion == "dominated":
            return self._dominated(key, trial, bucket, local, value, finished)
        if not self.is_rung(local):
            return False
        with self._lock:
            seen = self._seen[(key, local)]
            seen.append((bucket, value))
            peers = [v for b, v in seen if b <= bucket]
            if len(peers) < self.min_peers or finished:
                return False
            ranked = sorted(peers, reverse=True)
            cutoff = ranked[max(0, math.ceil(len(ranked) / self.eta) - 1)]
            return value < cutoff

    def _dominated(self, key: str, trial: Any, bucket: int, local: int, value: float,
                   finished: bool) -> bool:
        if trial is None:
            raise ValueError("the 'dominated' criterion needs the trial of each report")
        with self._lock:
            curve = self._curves[(key, trial)]
            if finished:
                self._finished[key][trial] = (bucket, value)
                return False
            if not self.is_rung(local):
                return False
            curve[local] = value
            done = self._finished[key]
            gains = [final - self._curves[(key, t)][local] for t, (_, final) in done.items()
                     if local in self._curves[(key, t)]]
            if len(gains) < self.min_peers:
                return False
            reach = value + self.slack * max(0.0, *gains)
            return any(b <= bucket and final > reach for b, final in done.values())


#: Cost buckets per doubling of the cost (early stopping's peers: see EarlyStopping).
BUCKETS_PER_OCTAVE = 4


def cost_bucket(metrics: dict[str, float], objectives: tuple[str, ...]) -> int:
    """Bucket by the first objective known before training (memory_bits by default; e.g.
    bits_per_pixel for compression): ``floor(4 log2(value))``, one bucket per factor of
    2^(1/4) (19 %), so "no higher cost" is nearly exact."""
    key = next((o for o in objectives if o in metrics), "memory_bits")
    value = metrics.get(key, metrics.get("memory_bits", 1.0))
    return math.floor(BUCKETS_PER_OCTAVE * math.log2(max(value, 1e-300)))


# --------------------------------------------------------------------------- one trial
@dataclass
class Candidate:
    """A feasible proposal on its way to training."""

    trial_number: int
    candidate_id: int
    eval_id: int
    spec_json: str
    metrics: dict[str, float]
    bucket: int
    #: the network's ArchSpec.hash (training depends on it only)
    network_hash: str = ""
    #: attempts of this candidate started by this driver (a dead worker starts another)
    attempts: int = 1
    host: str | None = None


def trial_payload(cfg: SearchConfig, cand: Candidate) -> TrialPayload:
    """What a worker needs to train ``cand`` with the study's settings (``run_trial``)."""
    return TrialPayload.from_config(cfg, cand.spec_json, cand.trial_number, cand.bucket)


# --------------------------------------------------------------------------- the proposer
class Proposer:
    """The hardware-first ask/tell side of the search (runs in the driver process)."""

    def __init__(self, cfg: SearchConfig, store: Store, study_id: int,
                 study: optuna.Study, space: Any, accel: AccelConfig,
                 on_event: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.cfg, self.store, self.study_id, self.study = cfg, store, study_id, study
        self.space, self.accel = space, accel
        from dse.tasks import get_task

        self.task = get_task(cfg.task)
        self.on_event = on_event or (lambda kind, info: None)
        from dse.catalog import catalogue

        self.catalogue = catalogue()
        self.simulate = self.catalogue.needs_simulator(
            [*cfg.objectives, *(b.metric for b in cfg.budgets)])
        #: co-search: the accelerator fields are searched (dse.cosearch)
        self.cosearch = bool(getattr(space, "accel_fields", ()))
        self.pending: list[Candidate] = []
        #: co-search: networks training now, and the pairs waiting for each one's result
        self.training: set[str] = set()
        self.waiting: dict[str, list[Candidate]] = defaultdict(list)
        self.failures = 0
        self.stopped_reason: str | None = None
        self._lock = threading.Lock()
        #: proposals asked in this study (all kinds) and the cap on them
        self.asked = 0
        self.max_proposals = cfg.max_proposals or PROPOSALS_PER_TRIAL * cfg.trials
        self._check_space_unchanged()
        #: the cost model's feasible points (_pool) and the trained counts gaps were filled at
        self._pool_cache: tuple[list[dict[str, Any]], list[float]] | None = None
        self._pool_key, self._pool_draws = "memory_bits", 0
        self._pool_error: str | None = None
        self._gap_filled: set[int] = set()
        #: proposals that went to training (duplicates and infeasible ones do not count)
        self.proposed = self._reconcile()
        if not self.study.trials and cfg.warm_start:
            self._warm_start()

    def _pool(self) -> tuple[list[dict[str, Any]], list[float]]:
        """Feasible points drawn by the cost model (:mod:`dse.feasible`) and their costs on
        the first hardware objective the batch model reports; drawn once per driver (the
        same draws each time: the study's seed). Empty when the space cannot be scored."""
        if self._pool_cache is None:
            from dse.feasible import draw
            from hwmodel.batch import score_choices

            k = max(min(self.cfg.warm_start, self.cfg.trials), GAP_POOL_POINTS)
            points: list[dict[str, Any]] = []
            costs: list[float] = []
            try:
                found = draw(self.space, self.cfg.budgets, want=WARM_POOL * k,
                             seed=self.cfg.seed, accel=self.accel)
                self._pool_draws = found.draws
                key = next((o for o in self.cfg.objectives if o in found.costs.columns),
                           "memory_bits")
                if found.feasible and key in found.costs.columns:
                    self._pool_key = key
                    points = found.feasible
                    costs = [float(c) for c in
                             score_choices(self.space, points, self.accel)[key].tolist()]
            except Exception as exc:  # e.g. a user space the batch model cannot score
                self._pool_error = str(exc)
            self._pool_cache = (points, costs)
        return self._pool_cache

    def _warm_start(self) -> None:
        """Enqueue up to ``cfg.warm_start`` feasible points drawn by the cost model (see
        :mod:`dse.feasible`), spread over the first hardware objective, as the sampler's first
        trials: under a tight budget its random start-up trials would mostly be infeasible."""
        from dse.feasible import spread

        points, costs = self._pool()
        if self._pool_error is not None:
            self.on_event("warm_start", {"points": 0, "reason": self._pool_error})
            return
        picks = spread(points, costs, min(self.cfg.warm_start, self.cfg.trials)) \
            if points else []
        for params in picks:
            self.study.enqueue_trial(params, skip_if_exists=True)
        self.on_event("warm_start", {"points": len(picks), "draws": self._pool_draws})

    def _fill_gap(self) -> None:
        """Every ``cfg.gap_fill_every``-th trained candidate, once the enqueued trials are
        out: enqueue the pool point in the widest stretch of cost where nothing was trained
        (:func:`dse.feasible.widest_gap`), so the next ask trains it."""
        import optuna

        every = self.cfg.gap_fill_every
        if not every or (self.proposed + 1) % every or self.proposed in self._gap_filled:
            return
        if self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)):
            return  # the warm start (or a user's enqueued trials) first
        self._gap_filled.add(self.proposed)
        points, costs = self._pool()
        if not points:
            return
        from dse.feasible import widest_gap

        df = self.store.query(self.cfg.study, columns=[self._pool_key, "status"])
        tried = df[df["status"] != "infeasible"][self._pool_key].dropna().tolist() \
            if len(df) else []
        i = widest_gap(costs, [float(c) for c in tried])
        if i is None:
            return
        self.study.enqueue_trial(points[i], user_attrs={"gap_fill": True},
                                 skip_if_exists=True)
        self.on_event("gap_fill", {"cost": costs[i], "metric": self._pool_key})

    # -- resume ------------------------------------------------------------------------
    def _check_space_unchanged(self) -> None:
        """A resumed study's space must draw each dimension as its trials did: Optuna refuses a
        changed categorical (``dynamic value space``) in the middle of a search, after the
        driver has started. Refused here, before anything is written, as one line naming the
        dimension, both domains and what to do."""
        from optuna.distributions import check_distribution_compatibility

        from search_spaces.spaces.dims import distribution_domain_str

        seen: dict[str, Any] = {}
        for t in self.study.get_trials(deepcopy=False):
            for name, dist in t.distributions.items():
                seen.setdefault(name, dist)
        if not seen:
            return
        dims = self.space.dimensions() if hasattr(self.space, "dimensions") else []
        for dim in dims:
            old = seen.get(dim.name)
            if old is None or dim.fixed:
                continue
            try:
                check_distribution_compatibility(old, dim.distribution())
            except ValueError:
                was = distribution_domain_str(old)
                raise UserError(
                    f"study {self.cfg.study!r}: dimension {dim.name!r} of space "
                    f"{self.cfg.space!r} is now {dim.domain_str()}, but the study's trials drew "
                    f"it from {was} (the space changed since the study began, e.g. by an "
                    "upgrade): Optuna cannot continue it under the new domain; start a new study "
                    "(--study NAME), or resume with the version that began it") from None

    def _reconcile(self) -> int:
        """Make Optuna and the store agree after a crash; return the trials already proposed.

        Optuna trials still RUNNING: re-queued if the store has their evaluation running,
        told the stored result if the store finished them, abandoned (FAIL, not counted)
        if the process died before the store heard of them.
        """
        import optuna

        self.store.requeue_running(self.study_id)
        df = self.store.query(self.cfg.study)
        by_trial = {int(r["trial_number"]): r for _, r in df.iterrows()
                    if r.get("trial_number") is not None and not _isnan(r["trial_number"])}
        counted = 0
        waiting = optuna.trial.TrialState.WAITING  # enqueued (warm start), not asked yet
        for t in self.study.get_trials(deepcopy=False):
            if t.state == waiting or t.user_attrs.get("abandoned"):
                continue
            self.asked += 1
            if t.state != optuna.trial.TrialState.RUNNING:
                counted += 0 if _wasted(t.user_attrs) else 1
                continue
            row = by_trial.get(t.number)
            if row is None:
                # Marked before it is failed, so a crash between the two steps is repaired
                # on the next start (a finished trial's attributes cannot change).
                self.asked -= 1
                unfinished_trial(self.study, t).set_user_attr("abandoned", True)
                self.study.tell(t.number, state=optuna.trial.TrialState.FAIL)
                continue
            missing = [n for n in self._constraint_names() if n not in t.constraints]
            if missing:
                # asked by a driver that set constraints only with the result (tinydse
                # before they were set at proposal time): set them from the stored metrics
                self._set_constraints(unfinished_trial(self.study, t), dict(row), only=missing)
            if _wasted(t.user_attrs) or row["status"] == "infeasible":
                self._tell_stored(t.number, str(row["status"]), dict(row))
                continue
            counted += 1
            if row["status"] in UNFINISHED_STATUSES:
                metrics = {m.name: float(row[m.name])
                           for m in self.catalogue.for_task(self.cfg.task)
                           if m.known.before_training and m.name in row
                           and not _isnan(row[m.name])}
                spec = self.store.candidate(int(row["candidate_id"]))["spec"]
                spec_json = spec if isinstance(spec, str) else json.dumps(spec, sort_keys=True)
                # a new attempt under the same Optuna trial number (clears partial results)
                eval_id = self.store.start_evaluation(int(row["candidate_id"]), t.number)
                self.pending.append(Candidate(t.number, int(row["candidate_id"]), eval_id,
                                              spec_json, metrics,
                                              cost_bucket(metrics, self.cfg.objectives),
                                              str(row.get("network_hash") or "")))
            else:
                self._tell_stored(t.number, str(row["status"]), dict(row))
        return counted

    def _tell_stored(self, number: int, status: str, metrics: dict[str, Any]) -> None:
        """Tell Optuna a result the store already holds (resume, duplicates)."""
        import optuna

        if status in ("failed", "pruned"):
            state = optuna.trial.TrialState.FAIL if status == "failed" else \
                optuna.trial.TrialState.PRUNED
            self.study.tell(number, state=state)
            return
        values = {k: float(v) for k, v in metrics.items()
                  if isinstance(v, int | float) and not _isnan(v)}
        self._tell_values(number, values)

    # -- ask ---------------------------------------------------------------------------
    def next(self) -> Candidate | None:
        """The next feasible candidate to train, or None when the planned trials are out."""
        import optuna

        with self._lock:
            while self.pending:
                cand = self.pending.pop(0)
                if self._needs_training(cand):
                    return cand
            while self.stopped_reason is None and self.proposed < self.cfg.trials:
                if self.asked >= self.max_proposals:
                    self.stopped_reason = (
                        f"the space holds no more feasible new candidates: {self.asked} "
                        f"proposals gave {self.proposed} to train (cap --max-proposals "
                        f"{self.max_proposals})")
                    self.on_event("exhausted", {"reason": self.stopped_reason})
                    return None
                self._fill_gap()
                trial = self.study.ask()
                self.asked += 1
                spec, fields = self.space.sample_design(trial)
                accel: AccelConfig = self.accel.with_(**fields) if self.cosearch else self.accel
                spec_hash = pair_hash(spec.hash, accel if self.cosearch else None)
                prior = self.store.evaluation_for_hash(self.study_id, spec_hash)
                if prior is not None:
                    trial.set_user_attr("duplicate_of", spec_hash)
                    if prior.status in UNFINISHED_STATUSES:  # the same spec is training now
                        self.study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
                    else:
                        self._set_constraints(trial, prior.metrics)
                        self._tell_stored(trial.number, prior.status, prior.metrics)
                    self.on_event("duplicate", {"trial": trial.number})
                    continue
                # a pair is simulated only once it fits (pair_hardware)
                metrics, layers = hardware_metrics(spec, accel, simulate=self.simulate
                                                   and not self.cosearch)
                misfit = pair_hardware(spec, accel, metrics) if self.cosearch else []
                metrics.update(self.task.spec_metrics(spec))
                # known now, before any training, and before the store hears of the candidate
                # (a crash in between leaves a trial that the next start abandons)
                self._set_constraints(trial, metrics)
                choices = dict(trial.params)
                cand_id, _ = self.store.add_candidate(self.study_id, spec.to_json(), spec_hash,
                                                      choices, network_hash=spec.hash)
                self.store.record_hardware(cand_id, metrics, layers, accel.to_dict())
                eval_id = self.store.start_evaluation(cand_id, trial.number)
                violated = [str(b) for b in self.cfg.budgets
                            if b.violated_by(metrics.get(b.metric, math.inf))]
                if violated or misfit:
                    trial.set_user_attr("infeasible", True)
                    self.store.finish_evaluation(eval_id, "infeasible",
                                                 violated=", ".join([*violated, *misfit]))
                    self._tell_values(trial.number, metrics)
                    self.on_event("infeasible", {"trial": trial.number, **metrics})
                    continue
                self.proposed += 1
                cand = Candidate(trial.number, cand_id, eval_id, spec.to_json(), metrics,
                                 cost_bucket(metrics, self.cfg.objectives), spec.hash)
                if self._needs_training(cand):
                    return cand
            return None

    def _needs_training(self, cand: Candidate) -> bool:
        """Co-search: False when the pair's network was trained for another pair (the result
        is reused now) or is training in this search (the pair waits for it); True, and the
        network counts as training, otherwise."""
        if not self.cosearch or not cand.network_hash:
            return True
        if cand.network_hash in self.training:
            self.waiting[cand.network_hash].append(cand)
            return False
        trained = self.store.trained_evaluation_for_network(self.study_id, cand.network_hash)
        if trained is not None:
            self._finish_reused(cand, trained.status, trained.metrics)
            return False
        self.training.add(cand.network_hash)
        return True

    def _finish_reused(self, cand: Candidate, status: str, trained: dict[str, Any]) -> None:
        """Give a pair the training result of its network (trained for another pair): the
        trained metrics, this pair's own hardware metrics, no training time of its own."""
        metrics = {k: float(v) for k, v in {**trained, **cand.metrics}.items()
                   if v is not None}
        epochs = trained.get("epochs_run")
        result = TrialResult(status=status, metrics=metrics, train_seconds=0.0,
                             epochs_run=int(epochs) if epochs is not None and not _isnan(epochs)
                             else None)
        self._record(cand, result, reused=True)

    def replay_into(self, rule: EarlyStopping) -> int:
        """Feed ``rule`` the stored curves of the trials this study already trained (a
        resumed search), in trial order, so its decisions go on as if the search had never
        stopped: the rule's own state is not saved. Returns the trials replayed."""
        monitor = self.task.monitor
        df = self.store.query(self.cfg.study)
        done = df[df["status"].isin(TRAINING_OUTCOMES) & df["trial_number"].notna()] \
            if len(df) else df
        replayed = 0
        for _, row in done.sort_values("trial_number").iterrows():
            curve = self.store.epochs(int(row["candidate_id"]))
            if monitor not in curve.columns:
                continue
            bucket = cost_bucket({str(k): float(v) for k, v in row.items()
                                  if isinstance(v, int | float) and not _isnan(v)},
                                 self.cfg.objectives)
            for _, ep in curve.sort_values("epoch").iterrows():
                if not _isnan(ep[monitor]):
                    rule.should_stop(bucket, int(ep["epoch"]), float(ep[monitor]),
                                     self.cfg.epochs, str(ep["stage"]),
                                     int(row["trial_number"]))
            replayed += 1
        return replayed

    def payload(self, cand: Candidate) -> TrialPayload:
        return trial_payload(self.cfg, cand)

    # -- what trials report ------------------------------------------------------------
    def note_host(self, cand: Candidate, host: str | None) -> None:
        """Record the host ``cand`` trains on (once per attempt)."""
        if host and cand.host != host:
            self.store.set_host(cand.eval_id, host)
            cand.host = host

    def record_epoch(self, cand: Candidate, report: EpochReport, host: str | None) -> None:
        """Store one reported epoch of ``cand`` (and the host it trains on)."""
        self.note_host(cand, host)
        # the monitored value is stored under the task's name (early stopping replays it)
        row = {self.task.monitor: report.monitor, **report.row}
        self.store.add_epoch(cand.eval_id, report.stage, report.epoch, **row)

    def worker_lost(self, cand: Candidate, reason: str) -> None:
        """The process training ``cand`` died (its node failed, it was killed): start the
        candidate again (a new attempt, its partial epochs cleared) for the next free worker,
        or record it failed after ``MAX_ATTEMPTS``."""
        if cand.attempts >= MAX_ATTEMPTS:
            self.complete(cand, TrialResult(status="failed",
                                            reason=f"{reason} ({cand.attempts} attempts)"))
            return
        with self._lock:
            eval_id = self.store.start_evaluation(cand.candidate_id, cand.trial_number)
            self.pending.insert(0, dataclasses.replace(cand, eval_id=eval_id, host=None,
                                                       attempts=cand.attempts + 1))
        self.on_event("retry", {"trial": cand.trial_number, "reason": reason})

    # -- tell --------------------------------------------------------------------------
    def _constraints(self, metrics: Mapping[str, Any]) -> list[float]:
        out = [b.excess(metrics.get(b.metric, math.inf)) for b in self.cfg.budgets]
        if self.cosearch:
            out.append(metrics.get("fit_excess", math.inf))
        return out

    def _constraint_names(self) -> list[str]:
        return [str(b) for b in self.cfg.budgets] + ([FIT_CONSTRAINT] if self.cosearch else [])

    def _set_constraints(self, trial: optuna.trial.Trial, metrics: Mapping[str, Any],
                         only: Collection[str] | None = None) -> None:
        """Give the live ``trial`` one constraint value per budget (and the co-search fit):
        <= 0 within. They follow from the hardware metrics, so a trial gets them when it is
        proposed, before it trains (Optuna's ``Trial.set_constraint``, which the samplers
        read); ``only``: just these names."""
        for name, excess in zip(self._constraint_names(), self._constraints(metrics),
                                strict=True):
            if only is None or name in only:
                trial.set_constraint(name, excess if math.isfinite(excess) else 1e9)

    def _tell_values(self, number: int, metrics: dict[str, float]) -> None:
        """Tell Optuna the objective values (the trial has its constraints since it was
        proposed)."""
        values = [metrics[o] if o in metrics and not _isnan(metrics[o]) else self.task.worst(o)
                  for o in self.cfg.objectives]
        self.study.tell(number, values)

    def complete(self, cand: Candidate, result: TrialResult) -> None:
        """Record a finished training (store first, then Optuna: a crash between the two is
        repaired by :meth:`_reconcile`); co-search: then the pairs waiting for the network,
        and ``accels_per_network`` more pairs of it queued for the sampler."""
        with self._lock:
            self._record(cand, result)
            if self.cosearch and result.status == "complete":
                self._enqueue_accels(cand)
            self.training.discard(cand.network_hash)
            waiting = self.waiting.pop(cand.network_hash, []) if cand.network_hash else []
            if waiting:
                trained = dict(self.store.evaluation(cand.eval_id).metrics)
                for other in waiting:
                    self._finish_reused(other, result.status, trained)

    def _enqueue_accels(self, cand: Candidate) -> None:
        """Queue the trained network on ``accels_per_network`` more accelerators of the space
        that it fits and that differ from each other and from its own (Optuna's enqueued
        trials: the next proposals). Our choice: uniform draws, seeded by the study seed and
        the trial number, keeping those that pass the fit check (at most 20 draws per
        accelerator wanted)."""
        import random

        from search_spaces.spaces.accel import ACCEL_PREFIX

        k = self.cfg.accels_per_network
        if k <= 0:
            return
        choices = self.store.candidate(cand.candidate_id)["choices"]
        network = {n: v for n, v in choices.items() if not n.startswith(ACCEL_PREFIX)}
        weights = cand.metrics["weight_memory_bits"] + cand.metrics.get("norm_memory_bits", 0)
        rng = random.Random(self.cfg.seed * 1_000_003 + cand.trial_number)
        seen = {tuple(sorted((n, v) for n, v in choices.items() if n.startswith(ACCEL_PREFIX)))}
        queued = 0
        for _ in range(20 * k):
            draw = self.space.random_accel_choices(rng)
            key = tuple(sorted(draw.items()))
            if key in seen:
                continue
            seen.add(key)
            accel = self.accel.with_(**self.space.design_from_choices({**network, **draw})[1])
            if accel.fit_problems(weights, cand.metrics["act_buffer_bits"]):
                continue
            self.study.enqueue_trial({**network, **draw})
            queued += 1
            if queued == k:
                return

    def _record(self, cand: Candidate, result: TrialResult, reused: bool = False) -> None:
        import optuna

        status = result.status
        # what is known before training was stored with the candidate (record_hardware): the
        # result stores only what training yielded
        trained = {k: v for k, v in result.metrics.items()
                   if not ((m := self.catalogue.get(k)) is not None and m.known.before_training)}
        for key, value in (("train_seconds", result.train_seconds),
                           ("epochs_run", result.epochs_run)):
            if value is not None:
                trained[key] = float(value)
        metrics = {**cand.metrics, **trained}
        for name, (mime, data) in result.artifacts.items():
            self.store.add_artifact(cand.candidate_id, name, mime, data)
        self.store.finish_evaluation(cand.eval_id, status, metrics=trained,
                                     error=result.reason if status == "failed" else None)
        if status == "failed":
            self.study.tell(cand.trial_number, state=optuna.trial.TrialState.FAIL)
            if not reused:
                self.failures += 1
            if self.cfg.max_failures is not None and self.failures >= self.cfg.max_failures:
                self.stopped_reason = (f"stopped after {self.failures} failed trials "
                                       f"(--max-failures {self.cfg.max_failures})")
        elif status == "pruned":
            # Stopped early: its partial accuracy (maybe from a full-precision stage) is not
            # comparable with finished trials', so the sampler learns nothing from it.
            self.study.tell(cand.trial_number, state=optuna.trial.TrialState.PRUNED)
        else:
            self._tell_values(cand.trial_number, metrics)
        self.on_event(status, {"trial": cand.trial_number, **metrics, "reused": reused,
                               "reason": result.reason})


def _wasted(user_attrs: dict[str, Any]) -> bool:
    """A proposal that trained nothing (a duplicate or over budget): not one of --trials."""
    return bool(user_attrs.get("duplicate_of") or user_attrs.get("infeasible"))


def _isnan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# --------------------------------------------------------------------------- executors
def run_local(proposer: Proposer, rule: EarlyStopping | None) -> None:
    """Train candidates one after another in this process (no Ray)."""
    while (cand := proposer.next()) is not None:
        proposer.on_event("running", {"trial": cand.trial_number})

        def report(m: EpochReport, cand: Candidate = cand) -> bool:
            proposer.record_epoch(cand, m, socket.gethostname())
            return bool(rule and rule.should_stop(cand.bucket, m.epoch, m.monitor,
                                                  proposer.cfg.epochs, m.stage,
                                                  cand.trial_number))

        result = run_trial(proposer.payload(cand), report)
        proposer.complete(cand, result)


# Through Ray Tune, the payload is the trial's config and every report of the trial carries
# one JSON value (docs/design.md, "Who writes"): the payload under PAYLOAD_KEY, an epoch under
# EPOCH_KEY, the result under RESULT_KEY; a report with neither is the trial's first, sent
# before the (slow) set-up, saying which host it runs on. ``monitor`` rides along as a plain
# number because Tune requires the searcher's metric in every report.
PAYLOAD_KEY = "payload_json"
EPOCH_KEY = "epoch_json"
RESULT_KEY = "result_json"


def _tune_trainable(config: dict[str, Any]) -> None:
    from ray import tune

    host = socket.gethostname()

    def report(m: EpochReport) -> bool:
        tune.report({"monitor": m.monitor, "host": host, EPOCH_KEY: m.to_json()})
        return False  # the driver's scheduler stops a trial between reports

    tune.report({"monitor": 0.0, "host": host})
    result = run_trial(TrialPayload.from_json(config[PAYLOAD_KEY]), report)
    tune.report({"monitor": result.monitor if result.monitor is not None else 0.0,
                 "host": host, RESULT_KEY: result.to_json()})


def _tune_classes() -> tuple[type, type]:
    """Tune's searcher and scheduler adapters. Tune pickles them for its own checkpoints,
    so the live proposer and rule are kept out of their pickled state."""
    from ray.tune.schedulers import FIFOScheduler, TrialScheduler
    from ray.tune.search import Searcher

    class HardwareFirstSearcher(Searcher):  # type: ignore[misc]
        def __init__(self, proposer: Proposer, stopped: set[str]) -> None:
            super().__init__(metric="monitor", mode="max")
            self.proposer: Proposer | None = proposer
            self.live: dict[str, Candidate] = {}
            #: trials the scheduler stopped (pruned); any other stop is an interruption
            self.stopped = stopped

        def __getstate__(self) -> dict[str, Any]:
            return {k: v for k, v in self.__dict__.items() if k != "proposer"}

        def save(self, checkpoint_path: str) -> None:
            """Nothing to save: the search state lives in the database."""

        def restore(self, checkpoint_path: str) -> None:
            """Nothing to restore: the search state lives in the database."""

        def suggest(self, trial_id: str) -> dict[str, Any] | None:
            proposer = self.proposer
            cand = proposer.next() if proposer is not None else None
            if proposer is None or cand is None:
                # while trials run, one may yet come back (its worker died): ask again later
                return None if self.live else Searcher.FINISHED  # type: ignore[return-value]
            self.live[trial_id] = cand
            proposer.on_event("running", {"trial": cand.trial_number})
            return {PAYLOAD_KEY: proposer.payload(cand).to_json()}

        def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
            cand = self.live.get(trial_id)
            if cand is None or self.proposer is None or RESULT_KEY in result:
                return
            if EPOCH_KEY not in result:  # the start report: where it runs
                self.proposer.note_host(cand, result.get("host"))
                return
            self.proposer.record_epoch(cand, EpochReport.from_json(result[EPOCH_KEY]),
                                       result.get("host"))

        def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                              error: bool = False) -> None:
            cand = self.live.get(trial_id)
            if cand is None or self.proposer is None:
                return
            if trial_id in self.stopped and result and RESULT_KEY not in result:
                self.on_trial_result(trial_id, result)  # Tune skips the stopping epoch's
            del self.live[trial_id]
            if error or result is None:  # run_trial never raises: its worker died
                self.proposer.worker_lost(cand, "the trial's worker process died")
                return
            if RESULT_KEY in result:
                final = TrialResult.from_json(result[RESULT_KEY])
            elif trial_id in self.stopped and EPOCH_KEY in result:
                # stopped by the scheduler after this epoch
                last = EpochReport.from_json(result[EPOCH_KEY])
                final = TrialResult(status="pruned", epochs_run=last.epoch,
                                    metrics={self.proposer.task.primary: last.monitor})
            else:  # stopped by Tune itself (Ctrl-C): the driver's exit marks it interrupted
                return
            self.proposer.complete(cand, final)

    class BucketedScheduler(FIFOScheduler):  # type: ignore[misc]
        def __init__(self, rule: EarlyStopping | None, stopped: set[str]) -> None:
            super().__init__()
            self.rule = rule
            self.stopped = stopped

        def __getstate__(self) -> dict[str, Any]:
            return {k: v for k, v in self.__dict__.items() if k != "rule"}

        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]
                            ) -> str:
            if RESULT_KEY in result:
                # the trial's result is in: end it here rather than wait for the trainable's
                # closing report (a takeover driver was seen never to fetch that one, the
                # trainable blocked in tune.report); the searcher completes it from this
                # result in on_trial_complete
                return str(TrialScheduler.STOP)
            rule = getattr(self, "rule", None)
            if rule is None or EPOCH_KEY not in result:
                return str(TrialScheduler.CONTINUE)
            payload = TrialPayload.from_json(trial.config[PAYLOAD_KEY])
            epoch = EpochReport.from_json(result[EPOCH_KEY])
            stop = rule.should_stop(payload.bucket, epoch.epoch, epoch.monitor,
                                    payload.epochs, epoch.stage, payload.trial_number)
            if stop:
                self.stopped.add(trial.trial_id)
            return str(TrialScheduler.STOP if stop else TrialScheduler.CONTINUE)

    return HardwareFirstSearcher, BucketedScheduler


def run_ray(proposer: Proposer, rule: EarlyStopping | None, cfg: SearchConfig) -> None:
    """Train candidates as Ray Tune trials; the proposer is Tune's searcher."""
    if not cfg.ray_address:
        # A Ray of our own on this machine: keep it on the loopback interface (Ray otherwise
        # advertises the machine's network address) and without cluster tokens.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter

    searcher_cls, scheduler_cls = _tune_classes()
    started_here = not ray.is_initialized()
    if started_here:
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "configure_logging": False}
        # "local" starts a Ray of our own even when `ray start` left a cluster address behind
        ray.init(address=cfg.ray_address or "local", **kwargs)
    storage = tempfile.mkdtemp(prefix="dse-tune-")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    try:
        stopped: set[str] = set()
        searcher = ConcurrencyLimiter(searcher_cls(proposer, stopped),
                                      max_concurrent=cfg.max_concurrent)
        trainable = tune.with_resources(_tune_trainable, {"cpu": cfg.cpus_per_trial,
                                                          "gpu": cfg.gpus_per_trial})
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(search_alg=searcher,
                                        scheduler=scheduler_cls(rule, stopped),
                                        # a fresh actor per trial: no state carried
                                        # from one trial's training into the next
                                        # (the hang once blamed on reuse was the
                                        # closing report; the scheduler ends a trial
                                        # at its result, BucketedScheduler)
                                        num_samples=-1, reuse_actors=False),
            run_config=tune.RunConfig(storage_path=storage, name=cfg.study, verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=0)),
        )
        tuner.fit()
    finally:
        shutil.rmtree(storage, ignore_errors=True)
        if started_here:
            ray.shutdown()


# --------------------------------------------------------------------------- entry point
class DriverLease:
    """One search process (driver) per study at a time (see :mod:`dse.store.drivers`).

    Resuming re-queues the evaluations a dead driver left running, so a second live driver
    would retrain the first one's candidates. The driver records itself (host, pid) on the
    study with a heartbeat every ``heartbeat_s``; another start is refused while that driver
    lives. On the way out the lease is given back and evaluations still running are stored
    ``interrupted``.
    """

    def __init__(self, store: Store, study_id: int, *, heartbeat_s: float | None = None
                 ) -> None:
        from dse.store import drivers

        self.store, self.study_id = store, study_id
        self.heartbeat_s = heartbeat_s if heartbeat_s is not None else \
            min(5.0, drivers.stale_seconds() / 4)
        self.me = drivers.Driver.me()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> DriverLease:
        from dse.store import drivers, retry

        retry.call(drivers.acquire, self.store, self.study_id, self.me)

        def loop() -> None:
            while not self._stop.wait(self.heartbeat_s):
                with contextlib.suppress(Exception):  # a missed beat is retried
                    drivers.beat(self.store, self.study_id, self.me)

        self._thread = threading.Thread(target=loop, name="dse-driver-lease", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        from dse.store import drivers

        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        from dse.store import retry

        with contextlib.suppress(Exception):
            retry.call(drivers.release, self.store, self.study_id, self.me, interrupted=True)


@dataclass
class SearchOutcome:
    study: str
    counts: dict[str, int]
    stopped_reason: str | None
    seconds: float


def run_search(cfg: SearchConfig, *, on_event: Callable[[str, dict[str, Any]], None] | None
               = None) -> SearchOutcome:
    """Run (or continue) the study described by ``cfg`` to its planned number of trials."""
    import optuna

    from dse.optuna_adapter import retrying_rdb
    from dse.store import StoreError, open_store, retry
    from hwmodel.accel import AccelConfig
    from hwmodel.metrics import COST_MODEL_VERSION
    from search_spaces.spaces import get_space

    t0 = time.monotonic()
    # Everything that can be wrong with the input is checked before anything is written.
    try:
        from dse.data import describe_dataset

        input_shape, num_classes = describe_dataset(cfg.dataset, root=cfg.data_root,
                                                    **cfg.dataset_params)
        space = get_space(cfg.space, input_shape=tuple(input_shape), num_classes=num_classes)
        accel = AccelConfig.from_file(cfg.accel) if cfg.accel else AccelConfig()
    except (ValueError, TypeError, KeyError) as exc:
        raise UserError(str(exc).splitlines()[0]) from None
    from dse.feasible import REFERENCE_KEY, study_reference

    try:
        # the driver's database calls ride out a restarted or briefly unreachable server
        store = cast("Store", retry.RetryingStore(open_store(cfg.db)))
        config = cfg.to_dict()
        try:
            store.get_study(cfg.study)
        except StoreError:  # a new study: its reference is stored with it, fixed for life
            config[REFERENCE_KEY] = study_reference(cfg, space, accel)
        record = store.create_or_get_study(
            cfg.study, space=cfg.space, dataset=cfg.dataset, task=cfg.task,
            config=config,
            objectives=list(zip(cfg.objectives, cfg.directions, strict=True)),
            budgets=[(b.metric, b.op, b.value) for b in cfg.budgets],
            cost_model_version=COST_MODEL_VERSION)
    except StoreError as exc:
        raise UserError(str(exc)) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = retrying_rdb(cfg.db, retry.call, engine_kwargs=_engine_kwargs(cfg.db))
    study = optuna.create_study(
        study_name=optuna_study_name(cfg.study), storage=storage,
        directions=cfg.directions,  # type: ignore[arg-type]
        sampler=create_sampler(cfg.sampler_name, cfg.seed),
        load_if_exists=True)
    reference = record.config.get(REFERENCE_KEY)
    if reference is not None and on_event is not None:
        on_event("reference", {"reference": reference})
    with DriverLease(store, record.id):
        proposer = Proposer(cfg, store, record.id, study, space, accel, on_event)
        from dse.train import get_schedule

        rule = EarlyStopping.for_stages(get_schedule(cfg.schedule, cfg.epochs),
                                        criterion=cfg.early_stopping_rule,
                                        slack=cfg.early_stopping_slack) \
            if cfg.early_stopping else None
        if rule is not None and proposer.proposed:
            proposer.replay_into(rule)
        if cfg.executor == "local":
            run_local(proposer, rule)
        else:
            run_ray(proposer, rule, cfg)
        from dse.confirm import confirm_front

        confirm_front(cfg, store, on_event)
    status = store.study_status(cfg.study)
    return SearchOutcome(cfg.study, dict(status.get("counts", {})), proposer.stopped_reason,
                         time.monotonic() - t0)


def optuna_study_name(study: str) -> str:
    """The name of a study's Optuna study in the same database (the dashboard reads it)."""
    return f"dse:{study}"


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60}}
    return {"pool_pre_ping": True}
