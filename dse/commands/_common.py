"""Helpers shared by subcommands: resolve a spec argument, print tables."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from dse.errors import UserError

if TYPE_CHECKING:
    from search_spaces.spec import ArchSpec


def resolve_spec(ref: str) -> ArchSpec:
    """A JSON file path or, when no such file exists, a registered reference name."""
    from search_spaces.spec import SpecError, load_spec

    if os.path.exists(ref) or ref.endswith(".json"):
        try:
            return load_spec(ref)
        except SpecError as exc:
            raise UserError(str(exc)) from None
    try:
        from search_spaces.spaces import (  # type: ignore[attr-defined,unused-ignore]
            get_reference,
            list_references,
        )
    except ImportError:  # the spaces registry is not installed in this build
        raise UserError(f"{ref}: no such file") from None
    try:
        return get_reference(ref)
    except KeyError:
        names = ", ".join(list_references())
        raise UserError(f"{ref}: no such file or reference configuration (references: {names})"
                        ) from None


def fmt_int(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)
