"""Datasets, registered by name; none is ever downloaded.

Built in: ``digits`` (scikit-learn's bundled 8x8 digits) and ``synthetic-gestures`` (seeded
procedural video clips). Loaders for files the user already has: ``cifar-10``, ``cifar-100``,
``stl-10`` and ``jester`` (give ``root=PATH``). Every dataset returns a :class:`DatasetBundle`
whose splits yield ``(x, y)`` with ``x`` a float tensor in [0, 1] of shape ``input_shape``
((C, H, W) for images, (C, T, H, W) for video) and ``y`` an int64 class index.

    >>> from dse.data import get_dataset
    >>> bundle = get_dataset("digits", upsample=2)   # doctest: +SKIP
    >>> bundle.input_shape, bundle.num_classes       # doctest: +SKIP
    ((1, 16, 16), 10)

A builder is registered with :func:`register_dataset` into :data:`DATASETS` (the project's one
registry shape, docs/design.md, "The registry"); its keyword-only parameters (other
than ``root`` and ``seed``) are the dataset's parameters, so unknown parameters are rejected
with a message naming them. Torch is imported only when a dataset is built.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from dse.errors import UserError
from search_spaces.registry import Registry, UnknownNameError

if TYPE_CHECKING:
    import torch

Shape = tuple[int, ...]


class SplitDataset(Protocol):
    """What a split must offer: ``len`` and ``ds[i] -> (x, y)`` (a torch ``TensorDataset``,
    :class:`U8Dataset`, or any map-style ``Dataset`` with a length)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int, /) -> Any: ...


class DatasetPathError(UserError):
    """A dataset path that is missing or does not hold the expected files (one line)."""


@dataclass
class DatasetBundle:
    """The three splits of a dataset plus what a model and the store need to know about it."""

    name: str
    train: SplitDataset
    val: SplitDataset
    test: SplitDataset
    input_shape: Shape
    num_classes: int
    params: dict[str, Any] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        """Number of samples per split."""
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset: its builder, optional cheap ``describe``, parameter defaults."""

    name: str
    build: Callable[..., DatasetBundle]
    describe: Callable[..., tuple[Shape, int]] | None
    defaults: dict[str, Any]
    needs_root: bool
    #: the integer parameter that draws another train/validation partition of the same pool
    #: with the same test split (``fold``, ``split_seed``); None: the dataset has none
    resplit: str | None = None


#: The dataset modules shipped with tinydse; each registers itself when imported.
BUILTIN_DATASETS = ("digits", "gestures", "cifar", "stl10", "jester", "images")
DATASETS: Registry[DatasetEntry] = Registry(
    "dataset", builtins=tuple(f"dse.data.{m}" for m in BUILTIN_DATASETS))


def register_dataset(
    name: str, *, describe: Callable[..., tuple[Shape, int]] | None = None,
    needs_root: bool = False, resplit: str | None = None,
) -> Callable[[Callable[..., DatasetBundle]], Callable[..., DatasetBundle]]:
    """Register ``build(*, root, seed, **params) -> DatasetBundle`` under ``name``.

    ``describe(**params) -> (input_shape, num_classes)`` is an optional cheap path used by
    :func:`describe_dataset` (it gets the same parameters, ``root`` included, but not ``seed``).
    Re-registering a name warns and replaces the entry (the registry's one policy).
    """

    def deco(fn: Callable[..., DatasetBundle]) -> Callable[..., DatasetBundle]:
        sig = inspect.signature(fn)
        defaults = {
            p.name: p.default for p in sig.parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in ("root", "seed")
        }
        if resplit is not None and not isinstance(defaults.get(resplit), int):
            raise ValueError(f"dataset {name!r}: resplit={resplit!r} must name one of its "
                             "integer parameters")
        DATASETS.add(name, DatasetEntry(name, fn, describe, defaults, needs_root, resplit))
        return fn

    return deco


def dataset_params(name: str) -> dict[str, Any]:
    """The parameters a dataset accepts and their defaults (``root`` and ``seed`` excluded)."""
    return dict(_entry(name).defaults)


def resplit_params(name: str, params: dict[str, Any], replicate: int) -> dict[str, Any]:
    """``params`` for network ``replicate`` of a candidate: the dataset's ``resplit``
    parameter moved by ``replicate`` (another train/validation partition, the same test
    split), so its validation accuracy is measured on other images; unchanged for replicate
    0 or a dataset without one."""
    entry = _entry(name)
    if not replicate or entry.resplit is None:
        return dict(params)
    key = entry.resplit
    return {**params, key: int(params.get(key, entry.defaults[key])) + int(replicate)}


def _entry(name: str) -> DatasetEntry:
    try:
        return DATASETS.get(name)
    except UnknownNameError as exc:  # a name the user typed: one line, exit 2
        raise UserError(str(exc)) from None


def _check_params(entry: DatasetEntry, params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(entry.defaults))
    if unknown:
        valid = ", ".join(sorted(entry.defaults)) or "none"
        raise UserError(f"dataset {entry.name!r}: unknown parameter(s) {', '.join(unknown)} "
                        f"(valid: {valid})")
    return {**entry.defaults, **params}


def get_dataset(name: str, *, root: str | None = None, seed: int = 0,
                **params: Any) -> DatasetBundle:
    """Build the named dataset; ``params`` are checked against the builder's parameters.

    Raises :class:`dse.errors.UserError` (a ``ValueError``) for an unknown name (listing the
    valid ones), unknown parameters (naming them), bad values, or a missing/malformed ``root``.
    """
    entry = _entry(name)
    full = _check_params(entry, params)
    if entry.needs_root and root is None:
        raise DatasetPathError(f"dataset {name!r} needs root=PATH (files are never downloaded)")
    bundle = entry.build(root=root, seed=seed, **params)
    bundle.params = {**full, "seed": seed, **({"root": str(root)} if root is not None else {})}
    return bundle


def describe_dataset(name: str, **params: Any) -> tuple[Shape, int]:
    """``(input_shape, num_classes)`` without building the splits where that is cheap.

    ``root`` may be passed for on-disk datasets whose class count depends on the files.
    """
    entry = _entry(name)
    root = params.pop("root", None)
    params.pop("seed", None)
    full = _check_params(entry, params)
    if entry.describe is not None:
        return entry.describe(root=root, **full)
    bundle = get_dataset(name, root=root, **params)
    return bundle.input_shape, bundle.num_classes


# --------------------------------------------------------------------------- shared helpers
def find_data_dir(root: str | None, sub: str, files: tuple[str, ...], layout: str,
                  dataset: str) -> str:
    """The folder holding ``files``: ``root/sub`` or ``root`` itself; a one-line
    ``DatasetPathError`` naming the expected ``layout`` otherwise."""
    if root is None:
        raise DatasetPathError(f"dataset {dataset!r} needs root=PATH holding {layout}")
    for cand in (os.path.join(root, sub), root):
        if all(os.path.isfile(os.path.join(cand, f)) for f in files):
            return cand
    if not os.path.exists(root):
        raise DatasetPathError(f"dataset {dataset!r}: root {root!r} does not exist "
                               f"(expected {layout})")
    missing = [f for f in files if not os.path.isfile(os.path.join(root, sub, f))]
    raise DatasetPathError(f"dataset {dataset!r}: {os.path.join(root, sub)!r} lacks "
                           f"{', '.join(missing)} (expected {layout})")


def check_int(name: str, value: Any, minimum: int, dataset: str) -> int:
    """Validate an integer parameter (bools rejected) and return it."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise UserError(f"dataset {dataset!r}: {name}={value!r} must be an integer >= {minimum}")
    return value


def check_fraction(name: str, value: Any, dataset: str, *, lo: float = 0.0,
                   hi: float = 1.0) -> float:
    """Validate a number in the open interval (lo, hi) and return it as float."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo < value < hi:
        raise UserError(f"dataset {dataset!r}: {name}={value!r} must be a number in "
                        f"({lo}, {hi})")
    return float(value)


class U8Dataset:
    """A (x, y) dataset stored as uint8 (4x smaller than float), scaled to [0, 1] on access.

    ``get_batch(idx)`` returns a whole batch at once; the trainer uses it instead of a
    per-item DataLoader.
    """

    def __init__(self, x_u8: torch.Tensor, y: torch.Tensor) -> None:
        if len(x_u8) != len(y):
            raise ValueError(f"x has {len(x_u8)} samples but y has {len(y)}")
        self.x_u8 = x_u8
        self.y = y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x_u8[i].float() / 255.0, self.y[i]

    def get_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x_u8[idx].float() / 255.0, self.y[idx]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for i in range(len(self)):
            yield self[i]


def split_indices(n: int, val_fraction: float, split_seed: int) -> tuple[Any, Any]:
    """A fixed random (train, val) split of ``range(n)``: ``round(n * val_fraction)`` to val."""
    import numpy as np

    perm = np.random.default_rng(split_seed).permutation(n)
    n_val = int(round(n * val_fraction))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


__all__ = [
    "BUILTIN_DATASETS", "DATASETS", "DatasetBundle", "DatasetEntry", "DatasetPathError",
    "SplitDataset", "U8Dataset", "dataset_params", "describe_dataset", "get_dataset",
    "register_dataset", "resplit_params",
]
