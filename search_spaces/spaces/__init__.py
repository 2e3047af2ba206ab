"""Search spaces by name, user spaces from YAML/TOML files, and reference configurations.

* :data:`SPACES` — the registry (``@SPACES.register("name")``, ``SPACES.names()``, defined in
  :mod:`search_spaces.spaces.registry`);
  :func:`get_space` builds a registered space, and ``get_space("my_space.yaml", ...)`` loads a
  user space (see :mod:`search_spaces.spaces.user`).
* :func:`get_reference`, :func:`list_references` — named fixed architectures (ArchSpecs) in the
  spirit of the seed papers, plus CPU-sized ones (see :mod:`search_spaces.spaces.references`).

Nothing here imports torch or optuna.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from search_spaces.spaces.base import SearchSpace
from search_spaces.spaces.registry import BUILTIN_SPACES, SPACES, USER_SPACE_SUFFIXES, SpaceFactory
from search_spaces.spec import ArchSpec


def get_space(name_or_path: str, *, input_shape: Sequence[int], num_classes: int,
              **params: Any) -> SearchSpace:
    """A space by registered name, or from a ``.yaml``/``.yml``/``.toml`` file.

    ``params`` are the space's structural parameters (e.g. ``stem_stride``) or knob overrides
    in the space vocabulary (e.g. ``act_bits=2``); ``accelerator={field: form}`` adds
    accelerator dimensions (:meth:`SearchSpace.with_accelerator`). Unknown name ->
    ``ValueError`` listing the valid names; a bad file -> ``ValueError`` naming the file, line,
    field, rule and value.
    """
    if not isinstance(name_or_path, str):
        raise ValueError(f"space: name={name_or_path!r} must be a string")
    accelerator = params.pop("accelerator", None)
    space: SearchSpace
    if name_or_path.lower().endswith(USER_SPACE_SUFFIXES):
        from search_spaces.spaces.user import load_user_space

        space = load_user_space(name_or_path, input_shape=input_shape,
                                num_classes=num_classes, **params)
    else:
        space = SPACES.get(name_or_path)(tuple(input_shape), num_classes, **params)
    if accelerator is not None:
        space.with_accelerator(accelerator)
    return space


def is_video_space(name_or_path: str) -> bool:
    """Whether the space (a registered name or a file) takes (C,T,H,W) inputs."""
    if name_or_path.lower().endswith(USER_SPACE_SUFFIXES):
        from search_spaces.spaces.user import file_is_video, read_space_file

        return file_is_video(read_space_file(name_or_path))
    return bool(getattr(SPACES.get(name_or_path), "video", False))


def get_reference(name: str) -> ArchSpec:
    """The named reference architecture; ``KeyError`` (listing the names) if unknown."""
    from search_spaces.spaces.references import build_reference

    return build_reference(name)


def list_references() -> list[str]:
    """The reference configuration names, sorted."""
    from search_spaces.spaces.references import REFERENCES

    return sorted(REFERENCES)


__all__ = [
    "BUILTIN_SPACES", "SPACES", "USER_SPACE_SUFFIXES", "SearchSpace", "SpaceFactory",
    "get_reference", "get_space", "is_video_space", "list_references",
]
