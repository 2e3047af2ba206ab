"""Optuna samplers by name: entries of the generic registry with their arguments as data.

Budgets reach the constrained samplers (NSGA-II/III, TPE, GP) as ``Trial.set_constraint``
values: infeasible trials rank behind feasible ones. The default is TPE (see
``SearchConfig.sampler_name``). A new sampler is one :func:`register_sampler` call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from search_spaces.registry import Registry

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class SamplerEntry:
    """An Optuna sampler class (by its name in ``optuna.samplers``) and the constructor
    arguments tinydse gives it besides ``seed``."""

    name: str
    optuna_class: str
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def create(self, seed: int, **overrides: Any) -> optuna.samplers.BaseSampler:
        import optuna

        cls = getattr(optuna.samplers, self.optuna_class)
        return cls(seed=seed, **{**self.params, **overrides})  # type: ignore[no-any-return]


SAMPLERS: Registry[SamplerEntry] = Registry("sampler")


def register_sampler(entry: SamplerEntry) -> SamplerEntry:
    return SAMPLERS.add(entry.name, entry)


for _entry in (
    SamplerEntry("tpe", "TPESampler", {"multivariate": True, "n_startup_trials": 8},
                 "multi-objective, multivariate TPE (the default)"),
    SamplerEntry("nsga2", "NSGAIISampler", {"population_size": 10}, "NSGA-II"),
    SamplerEntry("nsga3", "NSGAIIISampler", {"population_size": 10}, "NSGA-III"),
    SamplerEntry("random", "RandomSampler", {}, "uniform random search"),
    SamplerEntry("qmc", "QMCSampler", {}, "quasi-Monte Carlo (Sobol)"),
    SamplerEntry("gp", "GPSampler", {}, "Gaussian-process Bayesian optimization"),
):
    register_sampler(_entry)


def create_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """The sampler registered as ``name``, seeded."""
    return SAMPLERS.get(name).create(seed)


__all__ = ["SAMPLERS", "SamplerEntry", "create_sampler", "register_sampler"]
