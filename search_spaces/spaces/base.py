"""The declarative search-space format: dimensions, conditions, and the ``SearchSpace`` contract.

A space is an ordered tuple of *dimensions* (:class:`Categorical` or :class:`IntRange`), each
optionally guarded by a *condition* on dimensions declared before it (:class:`Cmp`,
:class:`AllOf`, :class:`AnyOf`). A dimension whose condition is false is *inactive*: it is never
suggested, never drawn and never needed. A clause on an inactive dimension is false.

A concrete space adds one method, :meth:`SearchSpace._build`, that turns a complete assignment of
the active dimensions into an :class:`~search_spaces.spec.ArchSpec`. From these two pieces the base
class derives everything else, identically for every space:

* :meth:`SearchSpace.sample`         an Optuna trial -> ArchSpec (define-by-run ``suggest_*``);
* :meth:`SearchSpace.random_choices` a ``random.Random`` -> a dict (no Optuna; cost sweeps);
* :meth:`SearchSpace.from_choices`   a dict -> ArchSpec, validated (unknown name, value not allowed,
  missing active dimension all raise ``ValueError``);
* :meth:`SearchSpace.size`           the number of distinct assignments, counted exactly by dynamic
  programming over the conditional tree (exponential sizes cost nothing). It equals the number of
  distinct architectures when the assignment -> spec map is one-to-one; a space that repairs some
  combinations (and so may map two assignments onto one spec) sets ``size_is_exact = False`` and
  the count is an upper bound.

A space may also search the accelerator (:meth:`SearchSpace.with_accelerator`, see
:mod:`search_spaces.spaces.accel`): its accelerator dimensions follow the network's, and
:meth:`SearchSpace.sample_design` / :meth:`SearchSpace.design_from_choices` return the pair
(ArchSpec, accelerator fields). ``_build`` only ever sees the network's dimensions.

Contract: ``_build`` must return a valid spec for every assignment the dimensions allow (a space
that could produce an invalid combination must exclude it by a condition or repair it by a
documented rule). Optuna is imported lazily; this module never imports torch.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from search_spaces.spaces.dims import (
    AllOf,
    AnyOf,
    Categorical,
    Choice,
    Cmp,
    Condition,
    Dim,
    IntRange,
    all_of,
    any_of,
    count_assignments,
)
from search_spaces.spec import ArchSpec, Shape

if TYPE_CHECKING:
    from optuna.trial import BaseTrial

# ---------------------------------------------------------------------------------- the space


class SearchSpace(ABC):
    """A family of architectures for one input shape and class count.

    Subclasses provide :meth:`dimensions` (ordered; a condition may read only earlier
    dimensions) and :meth:`_build`. ``name`` and ``description`` are class attributes (a
    user space sets them per instance); ``video`` says whether the input is (C,T,H,W).
    """

    name: str = ""
    description: str = ""
    video: bool = False
    #: Whether :meth:`size` is exact (the assignment -> spec map is one-to-one) or a bound.
    size_is_exact: bool = True
    #: Parameters a subclass accepts beyond input_shape/num_classes (for error messages).
    accepted_params: ClassVar[tuple[str, ...]] = ()

    #: Accelerator dimensions (see :meth:`with_accelerator`); none: a network-only space.
    _accel_dims: tuple[Dim, ...] = ()

    def __init__(self, input_shape: Sequence[int], num_classes: int) -> None:
        shape = tuple(input_shape)
        check_input_shape(self.name, shape, self.video)
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
            raise ValueError(f"space {self.name!r}: num_classes={num_classes!r} must be an "
                             "integer >= 2")
        self.input_shape: Shape = shape
        self.num_classes = num_classes
        self._dims: tuple[Dim, ...] | None = None

    # -- what a subclass provides -----------------------------------------------------------
    @abstractmethod
    def _dimensions(self) -> Sequence[Dim]:
        """The ordered dimensions (computed once per instance)."""

    @abstractmethod
    def _build(self, choices: Mapping[str, Any]) -> ArchSpec:
        """A complete assignment of the active dimensions -> a valid ArchSpec."""

    # -- derived, identical for every space -------------------------------------------------
    def with_accelerator(self, forms: Mapping[str, Any]) -> SearchSpace:
        """Add dimensions over accelerator fields (``{field: form}``, see
        :mod:`search_spaces.spaces.accel`) after the network's; returns ``self``.

        Call it before the space is used. Bad fields or values raise
        :class:`~search_spaces.spaces.knobs.KnobError` (a ``ValueError``) with their path.
        """
        from search_spaces.spaces.accel import accel_dimensions

        self._accel_dims = accel_dimensions(forms)
        self._dims = None
        return self

    @property
    def accel_fields(self) -> tuple[str, ...]:
        """The accelerator fields this space searches (empty: a network-only space)."""
        from search_spaces.spaces.accel import ACCEL_PREFIX

        return tuple(d.name.removeprefix(ACCEL_PREFIX) for d in self._accel_dims)

    def random_accel_choices(self, rng: random.Random) -> dict[str, Any]:
        """A uniform draw of the accelerator dimensions (by dimension name; fixed ones
        omitted), e.g. to pair a network with more accelerators."""
        return {d.name: d.draw(rng) for d in self._accel_dims if not d.fixed}

    def dimensions(self) -> tuple[Dim, ...]:
        if self._dims is None:
            dims = (*self._dimensions(), *self._accel_dims)
            _check_order(self.name, dims)
            self._dims = dims
        return self._dims

    def _design(self, env: Mapping[str, Any]) -> tuple[ArchSpec, dict[str, Any]]:
        """Split a complete assignment: the network's part builds the spec, the rest is the
        accelerator's fields."""
        if not self._accel_dims:
            return self._build(env), {}
        from search_spaces.spaces.accel import accel_fields_of

        accel = {d.name for d in self._accel_dims}
        spec = self._build({k: v for k, v in env.items() if k not in accel})
        return spec, accel_fields_of({k: v for k, v in env.items() if k in accel})

    def sample_design(self, trial: BaseTrial) -> tuple[ArchSpec, dict[str, Any]]:
        """Ask ``trial`` for every active dimension (``suggest_*``): the spec and the
        accelerator fields (``{}`` for a network-only space).

        Fixed (single-value) dimensions are not suggested, so they do not clutter the study.
        """
        env: dict[str, Any] = {}
        for dim in self.dimensions():
            if dim.active(env):
                env[dim.name] = dim.values()[0] if dim.fixed else dim.suggest(trial)
        return self._design(env)

    def sample(self, trial: BaseTrial) -> ArchSpec:
        """The spec of :meth:`sample_design`."""
        return self.sample_design(trial)[0]

    def random_choices(self, rng: random.Random) -> dict[str, Any]:
        """Uniform choice per active dimension, drawn in order from ``rng`` (no Optuna).

        Fixed dimensions are omitted (``from_choices`` fills them in), like in ``trial.params``.
        """
        env: dict[str, Any] = {}
        out: dict[str, Any] = {}
        for dim in self.dimensions():
            if dim.active(env):
                if dim.fixed:
                    env[dim.name] = dim.values()[0]
                else:
                    env[dim.name] = out[dim.name] = dim.draw(rng)
        return out

    def resolve(self, choices: Mapping[str, Any]) -> dict[str, Any]:
        """Validate ``choices`` and return the complete assignment of the active dimensions.

        Values for inactive dimensions are ignored; fixed dimensions may be omitted.
        """
        if not isinstance(choices, Mapping):
            raise ValueError(f"space {self.name!r}: choices must be a mapping, got "
                             f"{type(choices).__name__}")
        dims = self.dimensions()
        names = {d.name for d in dims}
        unknown = sorted(set(choices) - names)
        if unknown:
            raise ValueError(f"space {self.name!r}: unknown dimension {unknown[0]!r} "
                             f"(dimensions: {', '.join(d.name for d in dims)})")
        env: dict[str, Any] = {}
        for dim in dims:
            if not dim.active(env):
                continue
            if dim.name in choices:
                value = choices[dim.name]
                if not dim.contains(value):
                    raise ValueError(f"space {self.name!r}: {dim.name}={value!r} must be in "
                                     f"{dim.domain_str()}")
                env[dim.name] = value
            elif dim.fixed:
                env[dim.name] = dim.values()[0]
            else:
                cond = f" (active because {dim.when})" if dim.when is not None else ""
                raise ValueError(f"space {self.name!r}: dimension {dim.name!r} is required"
                                 f"{cond}; allowed {dim.domain_str()}")
        return env

    def from_choices(self, choices: Mapping[str, Any]) -> ArchSpec:
        """A dict of choices (e.g. ``trial.params``) -> ArchSpec; see :meth:`resolve`."""
        return self.design_from_choices(choices)[0]

    def design_from_choices(self, choices: Mapping[str, Any]
                            ) -> tuple[ArchSpec, dict[str, Any]]:
        """A dict of choices -> (ArchSpec, accelerator fields); see :meth:`resolve`."""
        return self._design(self.resolve(choices))

    def size(self) -> int:
        """Number of distinct architectures (exact when ``size_is_exact``, else an upper bound)."""
        return count_assignments(self.dimensions())

    def describe_dimensions(self) -> list[dict[str, str]]:
        """One row per dimension: name, domain, condition, doc (for ``dse spaces --show``)."""
        return [{"name": d.name, "domain": d.domain_str(),
                 "when": str(d.when) if d.when is not None else "", "doc": d.doc}
                for d in self.dimensions()]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, input_shape={self.input_shape}, "
                f"num_classes={self.num_classes})")


def check_input_shape(space: str, shape: tuple[Any, ...], video: bool) -> None:
    """(C,H,W) for an image space, (C,T,H,W) for a video space, positive integers."""
    want = 4 if video else 3
    layout = "(C,T,H,W)" if video else "(C,H,W)"
    if len(shape) != want or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                     for v in shape):
        raise ValueError(f"space {space!r}: input_shape={shape!r} must be {want} positive "
                         f"integers {layout}")


def _check_order(space: str, dims: Iterable[Dim]) -> None:
    """Every condition reads only dimensions declared before it; names are unique."""
    seen: set[str] = set()
    for d in dims:
        if d.name in seen:
            raise ValueError(f"space {space!r}: dimension {d.name!r} is declared twice")
        if d.when is not None:
            bad = sorted(d.when.refs() - seen)
            if bad:
                raise ValueError(f"space {space!r}: the condition of {d.name!r} reads "
                                 f"{bad[0]!r}, which is not declared before it")
        seen.add(d.name)


__all__ = [
    "AllOf", "AnyOf", "Categorical", "Choice", "Cmp", "Condition", "Dim", "IntRange",
    "SearchSpace", "all_of", "any_of", "check_input_shape", "count_assignments",
]
