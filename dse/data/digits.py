"""``digits``: scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes).

The file ships inside scikit-learn, so nothing is downloaded. Pixels are integers 0..16,
scaled to [0, 1] by dividing by 16.

Fixed split (independent of the seed, the same on every machine and library version): within
each class, in file order, sample number i goes to *test* if ``i % 10`` is 0 or 5, to *val* if
``i % 10`` is 3 or 8, to *train* otherwise. That is stratified by construction and gives
1,076 / 357 / 364 images (train / val / test). The interleaving spreads the 43 writers (who
appear in blocks in the file) across all three splits. Validation is as large as test
(it was 180 images, position 3 only, until 2026-12-02): with 180 images one image was 0.56
points, and the search's best-validation pick at a memory often was not its best network
(docs/benchmarks.md, front_quality).

``upsample=f`` (integer >= 1) enlarges each image to (1, 8f, 8f): ``mode="nearest"`` repeats
each pixel f x f times (exact, values stay in the 17 original levels), ``mode="bilinear"``
interpolates (torch ``interpolate``, ``align_corners=False``); both stay within [0, 1].

``fold=f`` moves validation to the positions ``FOLDS[f % 4]`` ((3, 8), (1, 6), (2, 7),
(4, 9)): the same test split and a disjoint validation set (the search's confirmation trains
a candidate's second network on fold 1: dse.confirm).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dse.data import DatasetBundle, check_int, register_dataset
from dse.errors import UserError

NAME = "digits"
NUM_CLASSES = 10
TEST_POSITIONS = (0, 5)
#: validation positions per fold (fold 0 is the default split); the test positions never move
FOLDS = ((3, 8), (1, 6), (2, 7), (4, 9))
_MODES = ("nearest", "bilinear")


def split_digits(y: np.ndarray, fold: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (train, val, test) of the fixed stratified split described in the module doc,
    validation at fold ``fold``'s positions."""
    pos = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        pos[members] = np.arange(len(members)) % 10
    test = np.isin(pos, TEST_POSITIONS)
    val = np.isin(pos, FOLDS[fold % len(FOLDS)])
    train = ~(test | val)
    return np.flatnonzero(train), np.flatnonzero(val), np.flatnonzero(test)


def _check(upsample: Any, mode: Any, fold: Any = 0) -> tuple[int, str]:
    check_int("fold", fold, 0, NAME)
    f = check_int("upsample", upsample, 1, NAME)
    if mode not in _MODES:
        raise UserError(f"dataset {NAME!r}: mode={mode!r} must be one of {list(_MODES)}")
    return f, str(mode)


def _describe(*, root: str | None = None, upsample: int = 1,
              mode: str = "nearest", fold: int = 0) -> tuple[tuple[int, ...], int]:
    f, _ = _check(upsample, mode, fold)
    return (1, 8 * f, 8 * f), NUM_CLASSES


@register_dataset(NAME, describe=_describe, resplit="fold")
def build_digits(*, root: str | None = None, seed: int = 0, upsample: int = 1,
                 mode: str = "nearest", fold: int = 0) -> DatasetBundle:
    """The digits dataset; ``root`` and ``seed`` are accepted for uniformity and unused."""
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits
    from torch.utils.data import TensorDataset

    f, mode = _check(upsample, mode, fold)
    raw = load_digits()
    x = torch.from_numpy(raw.data.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = torch.from_numpy(raw.target.astype(np.int64))
    if f > 1:
        if mode == "nearest":
            x = x.repeat_interleave(f, dim=2).repeat_interleave(f, dim=3)
        else:
            x = F.interpolate(x, scale_factor=f, mode="bilinear", align_corners=False)
            x = x.clamp_(0.0, 1.0)
    tr, va, te = (torch.from_numpy(i) for i in split_digits(raw.target, fold))
    return DatasetBundle(
        name=NAME,
        train=TensorDataset(x[tr], y[tr]),
        val=TensorDataset(x[va], y[va]),
        test=TensorDataset(x[te], y[te]),
        input_shape=(1, 8 * f, 8 * f),
        num_classes=NUM_CLASSES,
    )
