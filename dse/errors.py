"""The one error type for user mistakes, and the boundary that turns them into one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager


class UserError(ValueError):
    """A mistake in what the user gave (a flag, a file, a name): shown as one line, exit 2."""


@contextmanager
def user_input(context: str = "") -> Iterator[None]:
    """Re-raise validation errors from parsing user input as :class:`UserError`.

    ``ValueError`` (``SpecError`` included), ``TypeError``, ``KeyError``, JSON errors and
    file errors raised inside the block become one-line ``UserError`` messages.
    """
    prefix = f"{context}: " if context else ""
    try:
        yield
    except UserError:
        raise
    except json.JSONDecodeError as exc:
        raise UserError(f"{prefix}malformed JSON at line {exc.lineno} column {exc.colno}: "
                        f"{exc.msg}") from None
    except FileNotFoundError as exc:
        raise UserError(f"{prefix}{exc.filename or exc}: no such file") from None
    except (ValueError, TypeError, KeyError, OSError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{prefix}{msg}") from None
