"""Fill a results store with realistic studies for the dashboard's tests, screenshot and
benchmark (never used by the dashboard itself, which only reads).

Candidates are real ArchSpecs (variants of ``examples/digits_ternary_or.json``: channel
widths, weight quantizer and levels, activation bits, residual gate) scored by the real
analytical cost model (:func:`hwmodel.cost.cost_report`); what a fill cannot have without
training is the accuracy, so it is a deterministic, seeded function of the spec (more weight
bits and wider activations score higher, with noise) — the fronts tests assert are computed
from the stored numbers by a brute-force reference, never assumed.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "digits_ternary_or.json"

WIDTHS = (4, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64)
QUANTS = (("sign", 2), ("btq", 3), ("heq", 3), ("heq", 5), ("heq", 7), ("lsq", 4))
ACTS = (1, 2, 3)
GATES = ("or", "add", "mux")
POOLS = ("max", "avg")


@dataclass(frozen=True)
class Filled:
    """What a fill wrote: the study name and the candidate ids by final status."""

    study: str
    ids: dict[str, list[int]]

    @property
    def all_ids(self) -> list[int]:
        return sorted(i for v in self.ids.values() for i in v)


#: The choices of a variant and their values (as a sampler would name them).
CHOICES: dict[str, tuple[Any, ...]] = {
    "width_1": WIDTHS, "width_2": WIDTHS, "weights": tuple(f"{q}{n}" for q, n in QUANTS),
    "act_bits": ACTS, "gate": GATES, "pool": POOLS}


def spec_variants(limit: int, seed: int = 0) -> Iterator[Any]:
    """Up to ``limit`` distinct valid ArchSpecs, in a seeded shuffled order."""
    for spec, _choices in variants(limit, seed):
        yield spec


def variants(limit: int, seed: int = 0) -> Iterator[tuple[Any, dict[str, Any]]]:
    """:func:`spec_variants` with each spec's choices (names and values of :data:`CHOICES`)."""
    from search_spaces.spec import ArchSpec, SpecError

    base = json.loads(EXAMPLE.read_text())
    combos = list(itertools.product(WIDTHS, WIDTHS, QUANTS, ACTS, GATES, POOLS))
    random.Random(seed).shuffle(combos)
    n = 0
    for c1, c2, (quant, levels), act, gate, pool in combos:
        if n >= limit:
            return
        d = json.loads(json.dumps(base))
        conv, res, pool_layer, _gap, lin = d["layers"]
        pool_layer["op"] = pool
        conv.update(out_channels=c1, weight_quant=quant, weight_levels=levels, act_bits=act)
        body = res["body"][0]
        body.update(out_channels=c1, weight_quant=quant, weight_levels=levels, act_bits=act)
        res["gate"] = gate
        lin.update(weight_quant=quant, weight_levels=levels)
        if c2 != c1:  # a second, wider conv before the pooling
            d["layers"].insert(2, {**conv, "out_channels": c2})
        d["name"] = f"v{c1}-{c2}-{quant}{levels}-a{act}-{gate}-{pool}"
        try:
            spec = ArchSpec.from_dict(d)
        except SpecError:
            continue
        n += 1
        yield spec, {"width_1": c1, "width_2": c2, "weights": f"{quant}{levels}",
                     "act_bits": act, "gate": gate, "pool": pool}


def hardware(spec: Any) -> tuple[dict[str, float], list[dict[str, Any]], dict[str, Any]]:
    """Totals (the store's hardware columns plus the logic size, which goes to the JSON
    metrics), per-layer rows, accel."""
    from hwmodel.cost import cost_report

    rep = cost_report(spec).to_dict()
    t = rep["totals"]
    metrics = {k: float(t[k]) for k in ("memory_bits", "weight_memory_bits", "act_buffer_bits",
                                        "macs", "bops", "energy_pj", "area_um2")}
    metrics["cycles"] = float(t["ideal_cycles"])
    metrics["logic_nand2_eq"] = float(t["logic_nand2_eq"])
    return metrics, rep["layers"], rep["accel"]


def accuracy_of(spec: Any, rng: random.Random) -> float:
    """A plausible digits accuracy: grows with log2(weight bits) and activation bits."""
    wbits = spec.weight_bits()
    acts = [i.out_bits for i in spec.iter_layers() if i.out_bits < 32]
    act = max(acts) if acts else 1
    x = 0.12 * math.log2(max(wbits, 2)) + 0.05 * act - 0.75
    return round(min(0.99, max(0.1, 0.5 + 0.45 * math.tanh(x) + rng.gauss(0, 0.02))), 4)


def fill_study(url: str, name: str, n: int, *, seed: int = 0,
               objectives: Sequence[tuple[str, str]] = (("accuracy", "maximize"),
                                                        ("memory_bits", "minimize")),
               memory_budget_bits: float | None = 60_000, n_failed: int = 1,
               n_running: int = 1, epochs: int = 3, space: str = "digits-variants",
               dataset: str = "digits", optuna_study: bool = False) -> Filled:
    """Write one study of ``n`` candidates through the store's write API, as a search would:
    candidates over ``memory_budget_bits`` become ``infeasible``; ``n_failed`` trained ones
    fail; the last ``n_running`` stay ``running`` (the study's driver is this process); the
    rest complete with ``epochs`` epochs of learning curve in two stages. With
    ``optuna_study`` the Optuna study a search keeps in the same database is written too (one
    trial per candidate, same numbers, the choices as categorical parameters; complete ones
    with their objective values, the others failed)."""
    from dse.store import open_store

    rng = random.Random(seed)
    budgets = [("memory_bits", "<=", memory_budget_bits)] if memory_budget_bits else []
    ids: dict[str, list[int]] = {"complete": [], "infeasible": [], "failed": [], "running": []}
    with open_store(url) as store:
        study = store.create_or_get_study(name, space=space, dataset=dataset,
                                          task="classification", config={"seed": seed},
                                          objectives=list(objectives), budgets=budgets)
        if n_running:  # as a search would: its driver (this live process) holds the study,
            # so its running candidates are shown running, not interrupted
            from dse.store import drivers

            drivers.acquire(store, study.id, drivers.Driver.me())
        pairs = list(variants(n, seed))
        specs = [spec for spec, _ in pairs]
        hw = [hardware(spec) for spec in specs]
        feasible = [t for t, (m, _, _) in enumerate(hw)
                    if not memory_budget_bits or m["memory_bits"] <= memory_budget_bits]
        running = set(feasible[len(feasible) - n_running:]) if n_running else set()
        for trial, (spec, (metrics, layers, accel)) in enumerate(zip(specs, hw, strict=True)):
            cid, _ = store.add_candidate(study.id, spec.to_json(), spec.hash, pairs[trial][1])
            store.record_hardware(cid, metrics, layers, accel)
            eid = store.start_evaluation(cid, trial)
            if trial not in feasible:
                store.finish_evaluation(eid, "infeasible",
                                        violated=f"memory_bits<={memory_budget_bits:g}")
                ids["infeasible"].append(cid)
                continue
            if trial in running:
                ids["running"].append(cid)
                continue
            if len(ids["failed"]) < n_failed and trial % 5 == 3:
                store.finish_evaluation(eid, "failed", error="RuntimeError: diverged")
                ids["failed"].append(cid)
                continue
            acc = accuracy_of(spec, rng)
            for e in range(epochs):
                stage = "fp" if e < epochs // 2 else "quantized"
                frac = (e + 1) / epochs
                store.add_epoch(eid, stage, e, train_loss=round(2.3 * (1 - 0.7 * frac), 4),
                                train_accuracy=round(acc * (0.8 + 0.2 * frac), 4),
                                val_loss=round(2.3 * (1 - 0.65 * frac), 4),
                                val_accuracy=round(acc * (0.8 + 0.2 * frac), 4))
            store.finish_evaluation(eid, "complete", metrics={"accuracy": acc,
                                                              "val_accuracy": acc})
            ids["complete"].append(cid)
        if optuna_study:
            complete = set(ids["complete"])
            rows: dict[Any, dict[Any, Any]] = store.query(name).set_index(
                "trial_number").to_dict("index")
            write_optuna_study(store.sqlalchemy_url, name, objectives,
                               [(choices, [float(rows[t][o]) for o, _ in objectives]
                                 if int(rows[t]["candidate_id"]) in complete else None)
                                for t, (_spec, choices) in enumerate(pairs)])
    return Filled(name, ids)


def write_optuna_study(url: str, name: str, objectives: Sequence[tuple[str, str]],
                       trials: Sequence[tuple[dict[str, Any], list[float] | None]]) -> None:
    """The Optuna study of ``name`` as a search leaves it: trial ``i`` has the choices of
    ``trials[i]`` as categorical parameters and its values (None: a failed trial)."""
    import optuna

    from dse.search import optuna_study_name

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {k: optuna.distributions.CategoricalDistribution(list(v))
             for k, v in CHOICES.items()}
    study = optuna.create_study(study_name=optuna_study_name(name), storage=url,
                                directions=[d for _, d in objectives],  # type: ignore[misc]
                                load_if_exists=True)
    study.add_trials([optuna.trial.create_trial(
        params=choices, distributions={k: dists[k] for k in choices}, values=values,
        state=optuna.trial.TrialState.COMPLETE if values is not None
        else optuna.trial.TrialState.FAIL) for choices, values in trials])


def bulk_fill(url: str, name: str, n: int, *, seed: int = 0,
              objectives: Sequence[tuple[str, str]] = (("accuracy", "maximize"),
                                                       ("memory_bits", "minimize"))) -> Filled:
    """``n`` complete candidates written in one transaction with the store's models (for the
    10k-candidate benchmark: the write API's per-candidate transactions are too slow there),
    then the Pareto flags recomputed by the store (:meth:`Store.refresh_pareto`)."""
    from sqlalchemy import insert, select

    from dse.store import open_store
    from dse.store.schema import Candidate, Evaluation, HardwareReport, hardware_columns

    rng = random.Random(seed)
    columns = set(hardware_columns())
    with open_store(url) as store:
        study = store.create_or_get_study(name, space="digits-variants", dataset="digits",
                                          task="classification", config={"seed": seed},
                                          objectives=list(objectives), budgets=[])
        pairs = list(variants(n, seed))
        choices = {spec.hash: c for spec, c in pairs}
        rows = [(spec, *hardware(spec), accuracy_of(spec, rng)) for spec, _ in pairs]
        with store.db.write() as session:
            session.execute(insert(Candidate), [
                {"study_id": study.id, "spec": s.to_json(), "spec_hash": s.hash,
                 "choices": choices[s.hash]} for s, *_ in rows])
            cids = dict(session.execute(select(Candidate.spec_hash, Candidate.id).where(
                Candidate.study_id == study.id)).all())
            # the hardware numbers are the report's, as record_hardware writes them: the
            # catalogue's columns, the rest in its JSON
            session.execute(insert(HardwareReport), [
                {"candidate_id": cids[s.hash], "per_layer": layers, "accel": accel,
                 **{k: v for k, v in m.items() if k in columns},
                 "metrics": {k: v for k, v in m.items() if k not in columns}}
                for s, m, layers, accel, _ in rows])
            session.execute(insert(Evaluation), [
                {"candidate_id": cids[s.hash], "study_id": study.id, "trial_number": t,
                 "status": "complete", "accuracy": acc, "val_accuracy": acc,
                 "pareto": False, "attempt": 1}
                for t, (s, _m, _layers, _accel, acc) in enumerate(rows)])
        store.refresh_pareto(name)
        return Filled(name, {"complete": sorted(cids.values())})


def brute_front(points: Any, directions: Sequence[str]) -> list[int]:
    """Indices of the non-dominated rows of ``points`` (n x m, a sequence or an array) by the
    O(n²) definition (the tests' reference)."""
    signs = [-1.0 if d == "maximize" else 1.0 for d in directions]
    pts = [[s * v for s, v in zip(signs, p, strict=True)] for p in points]
    out = []
    for i, p in enumerate(pts):
        dominated = any(all(a <= b for a, b in zip(q, p, strict=True))
                        and any(a < b for a, b in zip(q, p, strict=True))
                        for j, q in enumerate(pts) if j != i)
        if not dominated:
            out.append(i)
    return out
