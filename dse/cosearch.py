"""Co-search: a candidate is the pair (network, accelerator) when the space searches both.

(docs/design.md, "Co-search".) Three rules, each in one function here:

* **identity** (:func:`pair_hash`): a pair's key is the network's ``ArchSpec.hash`` joined
  with the whole accelerator (every field, searched or from the base accelerator), so two
  accelerators for one network are two candidates and the same pair proposed twice is one;
  a network-only study keeps the network hash as the key;
* **fit before training** (:func:`pair_hardware`): the network's stored weights (CA layers:
  seeds, not matrices) and normalization parameters must fit the weight SRAM, its activation
  peak the activation SRAM (:meth:`hwmodel.accel.AccelConfig.fit_problems`), else the pair is
  infeasible with that reason and never simulated or trained;
* **the hardware metrics of the pair** come from the simulator on that accelerator
  (:func:`hwmodel.sim.sweep.point_metrics`, the same numbers as ``dse simulate --sweep``):
  ``cycles``, ``energy_pj`` (SRAM accesses + MACs and units) and ``area_um2`` (the
  accelerator's array, units and configured SRAMs). The analytical model still gives the
  network's own totals (``memory_bits``, ``macs``, ``bops``, ...).

Training depends on the network only: the search trains a network once and gives its result
to every pair that shares it (``dse.search.Proposer``).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from hwmodel.metrics import Known, Metric

if TYPE_CHECKING:
    from hwmodel.accel import AccelConfig
    from search_spaces.spec import ArchSpec

#: What a co-search records per pair beside the hardware totals (the simulator's numbers are
#: in hwmodel.metrics).
COSEARCH_METRICS: tuple[Metric, ...] = (
    Metric("fit_excess", "fraction", "minimize", Known.COST_MODEL,
           "SRAM overflow (relative; <= 0 fits)", objective=False),
)

#: The name of the fit constraint told to Optuna beside the budgets (<= 0: the pair fits).
FIT_CONSTRAINT = "fits the accelerator's SRAMs"
#: The simulator's per-pair numbers that replace the analytical model's.
SIMULATED = ("cycles", "energy_pj", "area_um2", "latency_us", "utilization")


def pair_hash(spec_hash: str, accel: AccelConfig | None) -> str:
    """The candidate key: ``spec_hash`` alone without an accelerator, else SHA-256 of the
    network hash and the accelerator's canonical JSON."""
    if accel is None:
        return spec_hash
    canon = json.dumps({"network": spec_hash, "accel": accel.to_dict()}, sort_keys=True,
                       separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def fit_excess(metrics: dict[str, float], accel: AccelConfig) -> float:
    """How far the network overflows its SRAMs, relative to their sizes (<= 0: it fits)."""
    weights = metrics["weight_memory_bits"] + metrics.get("norm_memory_bits", 0.0)
    return max(weights / accel.weight_sram_bits, metrics["act_buffer_bits"]
               / accel.act_sram_bits) - 1.0


def pair_hardware(spec: ArchSpec, accel: AccelConfig, metrics: dict[str, float]
                  ) -> list[str]:
    """Complete ``metrics`` (the analytical totals of ``spec`` on ``accel``) with the
    simulator's numbers for the pair, in place; return why it does not fit (empty: fits).

    A pair that does not fit keeps the analytical numbers and is not simulated. A fold the
    simulator cannot map (an SRAM too small for one tile) is a reason too.
    """
    from hwmodel.sim.sweep import point_metrics

    problems = accel.fit_problems(
        metrics["weight_memory_bits"] + metrics.get("norm_memory_bits", 0.0),
        metrics["act_buffer_bits"])
    metrics["fit_excess"] = fit_excess(metrics, accel)
    if problems:
        return problems
    try:
        sim = point_metrics(spec, accel)
    except ValueError as exc:
        return [str(exc).removeprefix("accel: ")]
    metrics.update({k: float(sim[k]) for k in SIMULATED})
    return []


def accel_table(accel: dict[str, Any], searched: tuple[str, ...] | list[str] = ()
                ) -> list[dict[str, Any]]:
    """Rows ``{field, value, searched}`` of an accelerator for display (candidate page,
    ``dse query``), in the template's field order."""
    from hwmodel.accel import field_types

    return [{"field": name, "value": accel[name], "searched": name in searched}
            for name in field_types() if name in accel]


__all__ = ["COSEARCH_METRICS", "FIT_CONSTRAINT", "SIMULATED", "accel_table", "fit_excess",
           "pair_hardware", "pair_hash"]
