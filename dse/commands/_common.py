"""Helpers shared by subcommands: resolve a spec argument, print tables, write an output
file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
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


def check_out_file(out: str, option: str = "--out") -> Path:
    """``out`` as a path to write a file to, checked before any work is done: its folder must
    exist and take a new file (tried, so a read-only file system counts too), and ``out``
    must not be a folder. Else :class:`UserError` naming the option, the rule and the value."""
    path = Path(out).expanduser()
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserError(f"{option}={out!r}: is a folder (give a file name)")
    if not parent.is_dir():
        raise UserError(f"{option}={out!r}: folder {str(parent)!r} does not exist")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise UserError(f"{option}={out!r}: cannot write in folder {str(parent)!r} "
                        f"({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)
    return path


@contextlib.contextmanager
def staged_file(out: str, option: str = "--out") -> Iterator[Path]:
    """A temporary file next to ``out`` to write; renamed to ``out`` when the block ends
    without error, removed otherwise (nothing half-written is left). Failures to write are
    :class:`UserError` naming the option and the value."""
    path = check_out_file(out, option)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # as open() would have made it, not mkstemp's 0600
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"{option}={out!r}: cannot write ({exc.strerror or exc})") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
