"""``cifar-10`` / ``cifar-100``: the python-pickle releases, read from a local path.

Expected layout (the archives from cs.toronto.edu/~kriz/cifar.html, extracted):

* CIFAR-10: ``ROOT/cifar-10-batches-py/{data_batch_1..5, test_batch}`` (or ``ROOT`` itself
  being that folder); each a pickle of a dict with ``b"data"`` (N x 3072 uint8: 1024 red,
  1024 green, 1024 blue values, rows in order) and ``b"labels"``.
* CIFAR-100: ``ROOT/cifar-100-python/{train, test}`` with ``b"data"`` and
  ``b"fine_labels"`` / ``b"coarse_labels"`` (``label_mode="fine"`` gives 100 classes,
  ``"coarse"`` 20).

The validation split is a fixed random ``val_fraction`` of the training files
(``split_seed``); the test split is the official test file. Images stay uint8 in memory and
are scaled to [0, 1] on access.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np

from dse.data import (
    DatasetBundle,
    DatasetPathError,
    U8Dataset,
    check_fraction,
    find_data_dir,
    register_dataset,
    split_indices,
)
from dse.errors import UserError

CIFAR10_DIR = "cifar-10-batches-py"
CIFAR100_DIR = "cifar-100-python"
CIFAR10_LAYOUT = (f"ROOT/{CIFAR10_DIR}/data_batch_1..data_batch_5 and test_batch "
                  "(python pickles from cifar-10-python.tar.gz)")
CIFAR100_LAYOUT = (f"ROOT/{CIFAR100_DIR}/train and test "
                   "(python pickles from cifar-100-python.tar.gz)")
IMAGE_SHAPE = (3, 32, 32)


def read_batch(path: str, label_key: str, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickle file -> (uint8 images (N, 3, 32, 32), int64 labels (N,))."""
    try:
        with open(path, "rb") as fh:
            raw = pickle.load(fh, encoding="bytes")
        data = np.asarray(raw[b"data"], dtype=np.uint8)
        labels = np.asarray(raw[label_key.encode()], dtype=np.int64)
        images = data.reshape(-1, *IMAGE_SHAPE)
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError,
            AttributeError, IndexError) as exc:
        kind = type(exc).__name__
        raise DatasetPathError(f"{path}: not a readable CIFAR pickle with data and "
                               f"{label_key} ({kind}; expected {layout})") from None
    if len(images) != len(labels):
        raise DatasetPathError(f"{path}: {len(images)} images but {len(labels)} labels "
                               f"(expected {layout})")
    return images, labels


def _bundle(name: str, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
            num_classes: int, val_fraction: float, split_seed: int) -> DatasetBundle:
    import torch

    for split, (_, y) in (("train", train), ("test", test)):
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise DatasetPathError(f"dataset {name!r}: {split} labels outside 0..{num_classes - 1}")
    tr, va = split_indices(len(train[1]), val_fraction, split_seed)

    def ds(x: np.ndarray, y: np.ndarray) -> U8Dataset:
        return U8Dataset(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y))

    return DatasetBundle(name=name, train=ds(train[0][tr], train[1][tr]),
                         val=ds(train[0][va], train[1][va]), test=ds(*test),
                         input_shape=IMAGE_SHAPE, num_classes=num_classes)


def _describe10(*, root: str | None = None, val_fraction: float = 0.1,
                split_seed: int = 0) -> tuple[tuple[int, ...], int]:
    return IMAGE_SHAPE, 10


@register_dataset("cifar-10", describe=_describe10, needs_root=True, resplit="split_seed")
def build_cifar10(*, root: str | None = None, seed: int = 0, val_fraction: float = 0.1,
                  split_seed: int = 0) -> DatasetBundle:
    """CIFAR-10 from ``ROOT/cifar-10-batches-py``."""
    check_fraction("val_fraction", val_fraction, "cifar-10", hi=1.0)
    files = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
    folder = find_data_dir(root, CIFAR10_DIR, files, CIFAR10_LAYOUT, "cifar-10")
    parts = [read_batch(os.path.join(folder, f), "labels", CIFAR10_LAYOUT) for f in files[:5]]
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    test = read_batch(os.path.join(folder, "test_batch"), "labels", CIFAR10_LAYOUT)
    return _bundle("cifar-10", train, test, 10, val_fraction, split_seed)


def _classes100(label_mode: Any) -> int:
    if label_mode not in ("fine", "coarse"):
        raise UserError(f"dataset 'cifar-100': label_mode={label_mode!r} must be 'fine' or "
                        "'coarse'")
    return 100 if label_mode == "fine" else 20


def _describe100(*, root: str | None = None, label_mode: str = "fine", val_fraction: float = 0.1,
                 split_seed: int = 0) -> tuple[tuple[int, ...], int]:
    return IMAGE_SHAPE, _classes100(label_mode)


@register_dataset("cifar-100", describe=_describe100, needs_root=True, resplit="split_seed")
def build_cifar100(*, root: str | None = None, seed: int = 0, label_mode: str = "fine",
                   val_fraction: float = 0.1, split_seed: int = 0) -> DatasetBundle:
    """CIFAR-100 from ``ROOT/cifar-100-python`` (fine or coarse labels)."""
    num_classes = _classes100(label_mode)
    check_fraction("val_fraction", val_fraction, "cifar-100", hi=1.0)
    folder = find_data_dir(root, CIFAR100_DIR, ("train", "test"), CIFAR100_LAYOUT, "cifar-100")
    key = f"{label_mode}_labels"
    train = read_batch(os.path.join(folder, "train"), key, CIFAR100_LAYOUT)
    test = read_batch(os.path.join(folder, "test"), key, CIFAR100_LAYOUT)
    return _bundle("cifar-100", train, test, num_classes, val_fraction, split_seed)
