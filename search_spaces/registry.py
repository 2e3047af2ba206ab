"""One small generic registry: names -> implementations (docs/design.md, "The registry").

Every named, pluggable thing in tinydse (weight quantizers, residual gates, spaces, datasets,
training schedules, tasks, samplers) lives in a :class:`Registry`. The shape follows timm's
model registry: register by decorator, ``get`` with an error that lists the valid names,
``names`` to list, built-ins imported lazily on first lookup, and one overwrite policy for all
(a second registration under a name warns and replaces the first, so a user module can override
a built-in deliberately).

Torch-free: ``spec.py`` and ``hwmodel`` read registries of descriptors without importing torch.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(ValueError):
    """A name that is not registered; the message lists the valid names."""


class Registry(Generic[T]):
    """Names -> objects of one kind.

    ``kind`` names the thing in error messages (``"weight quantizer"``); ``field`` names the
    configuration field a user sets (``"weight_quant"``), so the error reads
    ``weight_quant='foo' is not a registered weight quantizer (known: btq, heq, ...)``.
    ``builtins`` are module names imported once, on the first lookup, so that registering a
    built-in costs nothing until something asks for one. ``hint`` ends the unknown-name message
    (e.g. what else the field accepts). Names are non-empty and hold no white space: every one
    is a configuration value or a command-line word.
    """

    def __init__(self, kind: str, *, field: str | None = None,
                 builtins: tuple[str, ...] = (), hint: str = "") -> None:
        self.kind = kind
        self.field = field or kind.replace(" ", "_")
        self.hint = hint
        self._builtins = builtins
        self._loaded = not builtins
        self._entries: dict[str, T] = {}

    # -- writing -------------------------------------------------------------------------
    def add(self, name: str, obj: T) -> T:
        """Register ``obj`` under ``name``; a second registration warns and replaces."""
        self._check_name(name)
        if name in self._entries and self._entries[name] is not obj:
            warnings.warn(f"{self.kind} {name!r} registered again: overwriting", stacklevel=3)
        self._entries[name] = obj
        return obj

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`: ``@SPACES.register("tiny")``."""
        self._check_name(name)

        def deco(obj: T) -> T:
            return self.add(name, obj)

        return deco

    def _check_name(self, name: object) -> None:
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise ValueError(f"{self.kind} name must be a non-empty string without white "
                             f"space, got {name!r}")

    def remove(self, name: str) -> None:
        """Forget ``name`` (tests that register a temporary entry clean up with this)."""
        self._entries.pop(name, None)

    # -- reading -------------------------------------------------------------------------
    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True  # set first: a built-in module may look itself up while loading
            for module in self._builtins:
                importlib.import_module(module)

    def get(self, name: str) -> T:
        """The object registered under ``name``, or :class:`UnknownNameError` listing them."""
        self._load()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownNameError(
                f"{self.field}={name!r} is not a registered {self.kind} "
                f"(known: {', '.join(sorted(self._entries)) or 'none'}"
                f"{'; ' + self.hint if self.hint else ''})") from None

    def find(self, name: str) -> T | None:
        """The object registered under ``name``, or None (for validation with its own message)."""
        self._load()
        return self._entries.get(name)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load()
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        self._load()
        return sorted(self._entries.items())

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"


__all__ = ["Registry", "UnknownNameError"]
