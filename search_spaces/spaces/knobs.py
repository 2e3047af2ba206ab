"""Knob definitions and the forms a knob's domain is written in.

A :class:`KnobDef` is one word of a space's vocabulary (type, allowed values or bounds);
:func:`parse_domain` reads the forms a user writes for it in a space file or a keyword (a
scalar, a list, ``{choices: [...]}``, ``{low, high, step}``) into a :class:`Domain`, which
becomes a dimension. Errors are :class:`KnobError` with the path of the offending key, so a
file loader can name its line. The staged spaces' vocabulary
(:data:`search_spaces.spaces.staged.VOCABULARY`) and the accelerator dimensions
(:mod:`search_spaces.spaces.accel`) both build on this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from search_spaces.spaces.dims import Categorical, Choice, Condition, Dim, IntRange


class KnobError(ValueError):
    """A bad knob value; ``path`` locates it (e.g. ('width', 'per_stage', 2)) for line lookup."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


@dataclass(frozen=True)
class KnobDef:
    """One word of the vocabulary: its type, allowed values or bounds, and whether per stage."""

    name: str
    type: type
    default: Any
    doc: str
    allowed: tuple[Any, ...] | None = None
    #: the allowed values read from a registry when asked (so later registrations count)
    allowed_from: Callable[[], tuple[Any, ...]] | None = None
    low: int | None = None
    high: int | None = None
    per_stage: bool = False
    odd: bool = False

    def check_value(self, value: Any, path: tuple[str | int, ...]) -> Choice:
        """One concrete value: right type, allowed or within bounds."""
        field = field_path(path)
        tname = self.type.__name__
        if self.type is float:
            ok_type = isinstance(value, int | float) and not isinstance(value, bool)
        elif self.type is int:
            ok_type = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok_type = isinstance(value, self.type)
        if not ok_type:
            raise KnobError(path, f"{field}={value!r} must be of type {tname}")
        if self.type is float:
            value = float(value)
        allowed = self.allowed if self.allowed_from is None else self.allowed_from()
        if allowed is not None and value not in allowed:
            raise KnobError(path, f"{field}={value!r} must be one of {list(allowed)}")
        if self.low is not None and value < self.low or self.high is not None and value > \
                self.high:
            raise KnobError(path, f"{field}={value!r} must be in {self.low}..{self.high}")
        if self.odd and value % 2 == 0:
            raise KnobError(path, f"{field}={value!r} must be odd")
        return value  # type: ignore[no-any-return]


def field_path(path: tuple[str | int, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


@dataclass(frozen=True)
class Domain:
    """A parsed domain: a tuple of choices, or an int range."""

    choices: tuple[Choice, ...] | None = None
    low: int = 0
    high: int = 0
    step: int = 1

    def values(self) -> tuple[Choice, ...]:
        if self.choices is not None:
            return self.choices
        return tuple(range(self.low, self.high + 1, self.step))

    def dim(self, name: str, when: Condition | None, doc: str) -> Dim:
        if self.choices is not None:
            return Categorical(name, when, doc, choices=self.choices)
        return IntRange(name, when, doc, low=self.low, high=self.high, step=self.step)


def parse_domain(kdef: KnobDef, form: Any, path: tuple[str | int, ...]) -> Domain:
    """A scalar, a list, ``{choices: [...]}`` or ``{low, high, step}`` -> Domain."""
    field = field_path(path)
    if isinstance(form, Mapping):
        keys = set(form)
        if "choices" in keys:
            extra = sorted(keys - {"choices"})
            if extra:
                raise KnobError((*path, extra[0]), f"{field}: unknown field {extra[0]!r} beside "
                                "'choices'")
            return parse_domain(kdef, form["choices"], (*path, "choices"))
        if keys & {"low", "high", "step"}:
            extra = sorted(keys - {"low", "high", "step"})
            if extra:
                raise KnobError((*path, extra[0]), f"{field}: unknown field {extra[0]!r} in a "
                                "range (known: low, high, step)")
            if kdef.type is not int:
                raise KnobError(path, f"{field}: a low/high range needs an integer knob; "
                                f"{kdef.name!r} is {kdef.type.__name__}")
            for k in ("low", "high"):
                if k not in form:
                    raise KnobError(path, f"{field}: a range needs both 'low' and 'high'")
            low = kdef.check_value(form["low"], (*path, "low"))
            high = kdef.check_value(form["high"], (*path, "high"))
            step = form.get("step", 1)
            if not isinstance(step, int) or isinstance(step, bool) or step < 1:
                raise KnobError((*path, "step"), f"{field}.step={step!r} must be an integer >= 1")
            if low > high:  # type: ignore[operator]
                raise KnobError(path, f"{field}: low={low!r} must be <= high={high!r}")
            if (high - low) % step:  # type: ignore[operator]
                raise KnobError(path, f"{field}: high-low={high - low} must be a multiple of "  # type: ignore[operator]
                                f"step={step}")
            if kdef.odd and step % 2:
                raise KnobError(path, f"{field}: step={step} must be even for an odd-only knob")
            return Domain(low=int(low), high=int(high), step=step)  # type: ignore[arg-type]
        bad = sorted(keys)[0] if keys else "(empty)"
        raise KnobError((*path, bad) if keys else path,
                        f"{field}: unknown field {bad!r} (a knob is a value, a list, "
                        "{choices: [...]}, {low, high, step} or {per_stage: ...})")
    if isinstance(form, list | tuple):
        if not form:
            raise KnobError(path, f"{field}: the list of choices must not be empty")
        vals = tuple(kdef.check_value(v, (*path, i)) for i, v in enumerate(form))
        seen: set[Any] = set()
        for i, v in enumerate(vals):
            if v in seen:
                raise KnobError((*path, i), f"{field}[{i}]={v!r} repeats a choice")
            seen.add(v)
        return Domain(choices=vals)
    return Domain(choices=(kdef.check_value(form, path),))


__all__ = ["Domain", "KnobDef", "KnobError", "field_path", "parse_domain"]
