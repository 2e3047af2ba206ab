"""Search spaces by name, user spaces from YAML/TOML files, and reference configurations.

* :func:`register_space` (decorator), :func:`list_spaces`, :func:`get_space` — the registry;
  ``get_space("my_space.yaml", ...)`` loads a user space (see :mod:`search_spaces.spaces.user`).
* :func:`get_reference`, :func:`list_references` — named fixed architectures (ArchSpecs) in the
  spirit of the seed papers, plus CPU-sized ones (see :mod:`search_spaces.spaces.references`).

Nothing here imports torch or optuna.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from search_spaces.spaces.base import SearchSpace
from search_spaces.spec import ArchSpec

SpaceFactory = Callable[..., SearchSpace]
F = TypeVar("F", bound=SpaceFactory)

_SPACES: dict[str, SpaceFactory] = {}
USER_SPACE_SUFFIXES = (".yaml", ".yml", ".toml")


def register_space(name: str) -> Callable[[F], F]:
    """Register a space class (or factory) ``(input_shape, num_classes, **params) -> SearchSpace``.

    Re-registering a name replaces it with a warning (like timm's registry).
    """
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise ValueError(f"register_space: name={name!r} must be a non-empty string without "
                         "spaces")

    def deco(factory: F) -> F:
        if name in _SPACES and _SPACES[name] is not factory:
            warnings.warn(f"search space {name!r} is already registered; replacing it",
                          stacklevel=2)
        _SPACES[name] = factory
        return factory

    return deco


def list_spaces() -> list[str]:
    """The registered space names, sorted."""
    return sorted(_SPACES)


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
    elif name_or_path not in _SPACES:
        raise ValueError(f"space: unknown name {name_or_path!r} (valid: "
                         f"{', '.join(list_spaces())}; or a path ending "
                         f"{'/'.join(USER_SPACE_SUFFIXES)})")
    else:
        space = _SPACES[name_or_path](tuple(input_shape), num_classes, **params)
    if accelerator is not None:
        space.with_accelerator(accelerator)
    return space


def is_video_space(name_or_path: str) -> bool:
    """Whether the space (a registered name or a file) takes (C,T,H,W) inputs."""
    if name_or_path.lower().endswith(USER_SPACE_SUFFIXES):
        from search_spaces.spaces.user import file_is_video, read_space_file

        return file_is_video(read_space_file(name_or_path))
    if name_or_path not in _SPACES:
        get_space(name_or_path, input_shape=(1, 1, 1), num_classes=2)  # raises the listing
    return bool(getattr(_SPACES[name_or_path], "video", False))


def get_reference(name: str) -> ArchSpec:
    """The named reference architecture; ``KeyError`` (listing the names) if unknown."""
    from search_spaces.spaces.references import build_reference

    return build_reference(name)


def list_references() -> list[str]:
    """The reference configuration names, sorted."""
    from search_spaces.spaces.references import REFERENCES

    return sorted(REFERENCES)


# The built-in spaces register themselves on import (they are light: no torch, no optuna).
from search_spaces.spaces import (  # noqa: E402
    asic_encoder,  # noqa: F401
    asic_encoder_codec,  # noqa: F401
    billnet,  # noqa: F401
    heq_resnet,  # noqa: F401
    mognet,  # noqa: F401
    tiny,  # noqa: F401
)

__all__ = [
    "SearchSpace", "get_reference", "get_space", "is_video_space", "list_references",
    "list_spaces", "register_space",
]
