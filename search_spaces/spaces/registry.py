"""The registry of search spaces: :data:`SPACES` (``@SPACES.register("name")``).

Space modules (the shipped ones and any plug-in) register themselves here; the package
(:mod:`search_spaces.spaces`) builds a space by name or from a file with
:func:`~search_spaces.spaces.get_space`. This module imports no space, so a space module, the
user-space loader and the references can all read it without importing the package that
calls them.
"""

from __future__ import annotations

from collections.abc import Callable

from search_spaces.registry import Registry
from search_spaces.spaces.base import SearchSpace

SpaceFactory = Callable[..., SearchSpace]

#: The space modules shipped with tinydse; each registers itself when imported.
BUILTIN_SPACES = ("asic_encoder", "asic_encoder_codec", "billnet", "compact", "heq_resnet",
                  "mognet", "tiny")
#: A space given by one of these suffixes is a user space file, not a registered name.
USER_SPACE_SUFFIXES = (".yaml", ".yml", ".toml")
#: Space name -> class or factory ``(input_shape, num_classes, **params) -> SearchSpace``.
SPACES: Registry[SpaceFactory] = Registry(
    "search space", field="space",
    builtins=tuple(f"search_spaces.spaces.{m}" for m in BUILTIN_SPACES),
    hint=f"or a path ending {'/'.join(USER_SPACE_SUFFIXES)}")


__all__ = ["BUILTIN_SPACES", "SPACES", "USER_SPACE_SUFFIXES", "SpaceFactory"]
