"""``stl-10``: the binary release (``stl10_binary``), read from a local path.

Expected layout (stl10_binary.tar.gz from cs.stanford.edu/~acoates/stl10, extracted):
``ROOT/stl10_binary/{train_X.bin, train_y.bin, test_X.bin, test_y.bin}`` (or ``ROOT`` itself
being that folder). ``*_X.bin`` holds N images of 3 x 96 x 96 uint8 with no header, each
channel stored *column-major* (the first 96 bytes are column 0, top to bottom), as in the
reference reader (``reshape(-1, 3, 96, 96)`` then swap the last two axes). ``*_y.bin`` holds
N uint8 labels 1..10. The unlabeled split is not used.

``downsample=f`` averages f x f blocks (f must divide 96) and rounds back to uint8.
The validation split is a fixed random ``val_fraction`` of the training images.
"""

from __future__ import annotations

import os

import numpy as np

from dse.data import (
    DatasetBundle,
    DatasetPathError,
    U8Dataset,
    check_fraction,
    check_int,
    find_data_dir,
    register_dataset,
    split_indices,
)
from dse.errors import UserError

NAME = "stl-10"
FOLDER = "stl10_binary"
SIDE = 96
NUM_CLASSES = 10
LAYOUT = (f"ROOT/{FOLDER}/train_X.bin, train_y.bin, test_X.bin, test_y.bin "
          "(from stl10_binary.tar.gz)")
FILES = ("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin")


def read_split(folder: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, 3, 96, 96) uint8 in CHW, labels (N,) int64 in 0..9)`` of one split."""
    x_path = os.path.join(folder, f"{split}_X.bin")
    y_path = os.path.join(folder, f"{split}_y.bin")
    raw = np.fromfile(x_path, dtype=np.uint8)
    labels = np.fromfile(y_path, dtype=np.uint8).astype(np.int64)
    per_image = 3 * SIDE * SIDE
    if raw.size % per_image:
        raise DatasetPathError(f"{x_path}: {raw.size} bytes is not a multiple of "
                               f"3*96*96={per_image} (expected {LAYOUT})")
    images = raw.reshape(-1, 3, SIDE, SIDE).transpose(0, 1, 3, 2)
    if len(images) != len(labels):
        raise DatasetPathError(f"{y_path}: {len(labels)} labels for {len(images)} images "
                               f"(expected {LAYOUT})")
    if len(labels) and (labels.min() < 1 or labels.max() > NUM_CLASSES):
        raise DatasetPathError(f"{y_path}: labels must be 1..10, found {labels.min()}.."
                               f"{labels.max()} (expected {LAYOUT})")
    return images, labels - 1


def _downsample(images: np.ndarray, f: int) -> np.ndarray:
    if f == 1:
        return np.ascontiguousarray(images)
    n, c, h, w = images.shape
    blocks = images.reshape(n, c, h // f, f, w // f, f).astype(np.float32)
    return np.rint(blocks.mean(axis=(3, 5))).astype(np.uint8)


def _side(downsample: object) -> int:
    f = check_int("downsample", downsample, 1, NAME)
    if SIDE % f:
        raise UserError(f"dataset {NAME!r}: downsample={f} must divide 96")
    return SIDE // f


def _describe(*, root: str | None = None, downsample: int = 1, val_fraction: float = 0.1,
              split_seed: int = 0) -> tuple[tuple[int, ...], int]:
    s = _side(downsample)
    return (3, s, s), NUM_CLASSES


@register_dataset(NAME, describe=_describe, needs_root=True, resplit="split_seed")
def build_stl10(*, root: str | None = None, seed: int = 0, downsample: int = 1,
                val_fraction: float = 0.1, split_seed: int = 0) -> DatasetBundle:
    """STL-10 train/test from ``ROOT/stl10_binary``; val carved from train."""
    import torch

    side = _side(downsample)
    check_fraction("val_fraction", val_fraction, NAME)
    folder = find_data_dir(root, FOLDER, FILES, LAYOUT, NAME)
    x_tr, y_tr = read_split(folder, "train")
    x_te, y_te = read_split(folder, "test")
    x_tr, x_te = _downsample(x_tr, SIDE // side), _downsample(x_te, SIDE // side)
    tr, va = split_indices(len(y_tr), val_fraction, split_seed)

    def ds(x: np.ndarray, y: np.ndarray) -> U8Dataset:
        return U8Dataset(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y))

    return DatasetBundle(name=NAME, train=ds(x_tr[tr], y_tr[tr]), val=ds(x_tr[va], y_tr[va]),
                         test=ds(x_te, y_te), input_shape=(3, side, side),
                         num_classes=NUM_CLASSES)
