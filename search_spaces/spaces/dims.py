"""Dimensions and conditions: the vocabulary every search space is declared in.

A space is an ordered tuple of *dimensions* (:class:`Categorical` or :class:`IntRange`), each
optionally guarded by a *condition* on dimensions declared before it (:class:`Cmp`,
:class:`AllOf`, :class:`AnyOf`). A dimension whose condition is false is *inactive*: it is never
suggested, never drawn and never needed. A clause on an inactive dimension is false.
:func:`count_assignments` counts the distinct assignments exactly.

This module is the bottom of the spaces package: it imports nothing of the project, so the
knob parser (:mod:`search_spaces.spaces.knobs`), the accelerator dimensions
(:mod:`search_spaces.spaces.accel`) and :class:`~search_spaces.spaces.base.SearchSpace` all
build on it without importing each other in a circle. Optuna is imported lazily.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.trial import BaseTrial

Choice = bool | int | float | str

# ---------------------------------------------------------------------------------- conditions

_OPS = ("==", "!=", "in", "not in", ">", ">=", "<", "<=")


@dataclass(frozen=True)
class Cmp:
    """``choices[dim] OP value``; false when ``dim`` is inactive (absent)."""

    dim: str
    op: str
    value: Any

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"condition on {self.dim!r}: op={self.op!r} must be one of {_OPS}")

    def holds(self, env: Mapping[str, Any]) -> bool:
        if self.dim not in env:
            return False
        v = env[self.dim]
        op = self.op
        if op == "==":
            return bool(v == self.value)
        if op == "!=":
            return bool(v != self.value)
        if op == "in":
            return v in self.value
        if op == "not in":
            return v not in self.value
        if op == ">":
            return bool(v > self.value)
        if op == ">=":
            return bool(v >= self.value)
        if op == "<":
            return bool(v < self.value)
        return bool(v <= self.value)

    def refs(self) -> frozenset[str]:
        return frozenset((self.dim,))

    def __str__(self) -> str:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return f"{self.dim} {self.op} {value!r}"


@dataclass(frozen=True)
class AllOf:
    """All clauses hold (an empty AllOf holds)."""

    conds: tuple[Condition, ...]

    def holds(self, env: Mapping[str, Any]) -> bool:
        return all(c.holds(env) for c in self.conds)

    def refs(self) -> frozenset[str]:
        return frozenset().union(*(c.refs() for c in self.conds))

    def __str__(self) -> str:
        return " and ".join(f"({c})" if isinstance(c, AnyOf) else str(c) for c in self.conds)


@dataclass(frozen=True)
class AnyOf:
    """At least one clause holds (an empty AnyOf does not)."""

    conds: tuple[Condition, ...]

    def holds(self, env: Mapping[str, Any]) -> bool:
        return any(c.holds(env) for c in self.conds)

    def refs(self) -> frozenset[str]:
        return frozenset().union(*(c.refs() for c in self.conds))

    def __str__(self) -> str:
        return " or ".join(f"({c})" if isinstance(c, AllOf) else str(c) for c in self.conds)


Condition = Cmp | AllOf | AnyOf


def all_of(*conds: Condition | None) -> Condition | None:
    """AND of the non-None conditions (None when there are none), flattening nested ANDs."""
    flat: list[Condition] = []
    for c in conds:
        if c is None:
            continue
        flat.extend(c.conds if isinstance(c, AllOf) else (c,))
    if not flat:
        return None
    return flat[0] if len(flat) == 1 else AllOf(tuple(flat))


def any_of(*conds: Condition) -> Condition:
    """OR of the conditions, flattening nested ORs."""
    flat: list[Condition] = []
    for c in conds:
        flat.extend(c.conds if isinstance(c, AnyOf) else (c,))
    return flat[0] if len(flat) == 1 else AnyOf(tuple(flat))


# ---------------------------------------------------------------------------------- dimensions


@dataclass(frozen=True)
class Dim:
    """Base of the dimension kinds: a name, an optional guard, a one-line doc."""

    name: str
    when: Condition | None = None
    doc: str = ""

    def values(self) -> tuple[Choice, ...]:
        raise NotImplementedError

    def draw(self, rng: random.Random) -> Choice:
        raise NotImplementedError

    def suggest(self, trial: BaseTrial) -> Choice:
        raise NotImplementedError

    def distribution(self) -> BaseDistribution:
        """The Optuna distribution :meth:`suggest` draws from."""
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        raise NotImplementedError

    def domain_str(self) -> str:
        raise NotImplementedError

    @property
    def fixed(self) -> bool:
        """True when the dimension has a single value (never suggested; filled in)."""
        return len(self.values()) == 1

    def active(self, env: Mapping[str, Any]) -> bool:
        return self.when is None or self.when.holds(env)


@dataclass(frozen=True)
class Categorical(Dim):
    """One of a finite tuple of values (bool, int, float or str)."""

    choices: tuple[Choice, ...] = ()

    def __post_init__(self) -> None:
        if not self.choices:
            raise ValueError(f"dimension {self.name!r}: choices must not be empty")
        if len(set(map(_key, self.choices))) != len(self.choices):
            raise ValueError(f"dimension {self.name!r}: choices={list(self.choices)!r} "
                             "must not repeat a value")

    def values(self) -> tuple[Choice, ...]:
        return self.choices

    def draw(self, rng: random.Random) -> Choice:
        return self.choices[rng.randrange(len(self.choices))]

    def suggest(self, trial: BaseTrial) -> Choice:
        return trial.suggest_categorical(self.name, self.choices)  # type: ignore[arg-type,return-value]

    def distribution(self) -> BaseDistribution:
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(self.choices)

    def contains(self, value: Any) -> bool:
        return any(_key(value) == _key(c) for c in self.choices)

    def domain_str(self) -> str:
        return "{" + ", ".join(_fmt(c) for c in self.choices) + "}"


@dataclass(frozen=True)
class IntRange(Dim):
    """An integer in ``low..high`` (inclusive) on a grid of ``step``."""

    low: int = 0
    high: int = 0
    step: int = 1

    def __post_init__(self) -> None:
        for fname in ("low", "high", "step"):
            v = getattr(self, fname)
            if not isinstance(v, int) or isinstance(v, bool):
                raise ValueError(f"dimension {self.name!r}: {fname}={v!r} must be an integer")
        if self.step < 1:
            raise ValueError(f"dimension {self.name!r}: step={self.step} must be >= 1")
        if self.low > self.high:
            raise ValueError(f"dimension {self.name!r}: low={self.low} must be <= "
                             f"high={self.high}")
        if (self.high - self.low) % self.step:
            raise ValueError(f"dimension {self.name!r}: high-low={self.high - self.low} must be "
                             f"a multiple of step={self.step}")

    def values(self) -> tuple[Choice, ...]:
        return tuple(range(self.low, self.high + 1, self.step))

    def draw(self, rng: random.Random) -> Choice:
        return rng.randrange(self.low, self.high + 1, self.step)

    def suggest(self, trial: BaseTrial) -> Choice:
        return trial.suggest_int(self.name, self.low, self.high, step=self.step)

    def distribution(self) -> BaseDistribution:
        from optuna.distributions import IntDistribution

        return IntDistribution(self.low, self.high, step=self.step)

    def contains(self, value: Any) -> bool:
        return (isinstance(value, int) and not isinstance(value, bool)
                and self.low <= value <= self.high and (value - self.low) % self.step == 0)

    def domain_str(self) -> str:
        step = f" step {self.step}" if self.step != 1 else ""
        return f"{self.low}..{self.high}{step}"


def distribution_domain_str(dist: Any) -> str:
    """An Optuna distribution's domain in :meth:`Dim.domain_str`'s format (a study's trials
    record distributions, not dimensions)."""
    if hasattr(dist, "choices"):
        return "{" + ", ".join(_fmt(c) for c in dist.choices) + "}"
    step = getattr(dist, "step", None)
    return f"{dist.low}..{dist.high}" + (f" step {step}" if step not in (None, 1) else "")


def _key(value: Any) -> tuple[str, Any]:
    """Compare choices by type and value, so ``True`` never matches ``1``."""
    return (type(value).__name__, value)


def _fmt(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


# ---------------------------------------------------------------------------------- counting


def count_assignments(dims: Sequence[Dim]) -> int:
    """Exact number of distinct assignments of the active dimensions.

    Dynamic programming in declaration order: the state holds only the values of dimensions that
    a *later* condition still reads, so a space of 10^30 assignments is counted in milliseconds.
    """
    later_refs: list[frozenset[str]] = [frozenset()] * (len(dims) + 1)
    for k in range(len(dims) - 1, -1, -1):
        when = dims[k].when
        later_refs[k] = later_refs[k + 1] | (when.refs() if when is not None else frozenset())
    states: dict[tuple[tuple[str, Any], ...], int] = {(): 1}
    for k, dim in enumerate(dims):
        keep = later_refs[k + 1]
        new: dict[tuple[tuple[str, Any], ...], int] = defaultdict(int)
        values = dim.values()
        for key, count in states.items():
            env = dict(key)
            kept = tuple((n, v) for n, v in key if n in keep)
            if not dim.active(env):
                new[kept] += count
            elif dim.name in keep:
                for v in values:
                    new[tuple(sorted((*kept, (dim.name, v)), key=lambda nv: nv[0]))] += count
            else:
                new[kept] += count * len(values)
        states = new
    return sum(states.values())


__all__ = [
    "AllOf", "AnyOf", "Categorical", "Choice", "Cmp", "Condition", "Dim", "IntRange", "all_of",
    "distribution_domain_str",
    "any_of", "count_assignments",
]
