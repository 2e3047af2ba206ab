"""How a search runs: CLI, configuration, datasets, training, search, results store."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tinydse")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"
