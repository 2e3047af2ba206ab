"""``jester``: 20BN-Jester v1 hand-gesture videos from frame folders and CSV label files.

Expected layout (the release as distributed, extracted)::

    ROOT/jester-v1-labels.csv        one class name per line (27 in the release)
    ROOT/jester-v1-train.csv         "id;label" per line
    ROOT/jester-v1-validation.csv    "id;label" per line
    ROOT/<id>/00001.jpg 00002.jpg ...   (or ROOT/20bn-jester-v1/<id>/...; .png accepted)

Each video becomes a (C, T, size, size) clip: ``frames`` frames taken at evenly spaced
positions ``round(linspace(0, n-1, T))`` of its n frames, each resized to size x size
(bilinear, Pillow; the aspect ratio is not kept), RGB (``channels=3``) or luminance
(``channels=1``). The release's test CSV has no labels, so the *validation* CSV is our test
split and the validation split is a fixed random ``val_fraction`` of the training list.
``max_videos`` keeps the first N videos of each CSV (in file order) for quick runs.
Everything is decoded once, up front, and kept as uint8.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from dse.data import (
    DatasetBundle,
    DatasetPathError,
    U8Dataset,
    check_fraction,
    check_int,
    register_dataset,
    split_indices,
)
from dse.errors import UserError

NAME = "jester"
LABELS_CSV = "jester-v1-labels.csv"
TRAIN_CSV = "jester-v1-train.csv"
VAL_CSV = "jester-v1-validation.csv"
FRAMES_DIR = "20bn-jester-v1"
LAYOUT = (f"ROOT/{LABELS_CSV}, ROOT/{TRAIN_CSV} and ROOT/{VAL_CSV} ('id;label' lines) and "
          "frame folders ROOT/<id>/00001.jpg ...")
FRAME_EXTS = (".jpg", ".jpeg", ".png")


def _require_root(root: str | None) -> str:
    if root is None:
        raise DatasetPathError(f"dataset {NAME!r} needs root=PATH holding {LAYOUT}")
    if not os.path.isdir(root):
        raise DatasetPathError(f"dataset {NAME!r}: root {root!r} is not a directory "
                               f"(expected {LAYOUT})")
    missing = [f for f in (LABELS_CSV, TRAIN_CSV, VAL_CSV)
               if not os.path.isfile(os.path.join(root, f))]
    if missing:
        raise DatasetPathError(f"dataset {NAME!r}: {root!r} lacks {', '.join(missing)} "
                               f"(expected {LAYOUT})")
    return root


def read_labels(root: str) -> list[str]:
    """Class names in file order (index = class id); blank lines skipped."""
    path = os.path.join(root, LABELS_CSV)
    with open(path, encoding="utf-8") as fh:
        names = [line.strip() for line in fh if line.strip()]
    if not names:
        raise DatasetPathError(f"{path}: no class names (expected one per line; {LAYOUT})")
    if len(set(names)) != len(names):
        raise DatasetPathError(f"{path}: duplicate class names (expected {LAYOUT})")
    return names


def read_split_csv(path: str, classes: dict[str, int]) -> list[tuple[str, int]]:
    """``[(video_id, class_index), ...]`` from an ``id;label`` CSV."""
    out: list[tuple[str, int]] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            vid, sep, label = line.partition(";")
            if not sep or not vid.strip():
                raise DatasetPathError(f"{path}:{lineno}: {line!r} is not an 'id;label' line "
                                       f"(expected {LAYOUT})")
            label = label.strip()
            if label not in classes:
                raise DatasetPathError(f"{path}:{lineno}: label {label!r} is not in "
                                       f"{LABELS_CSV} (expected {LAYOUT})")
            out.append((vid.strip(), classes[label]))
    return out


def _video_dir(root: str, vid: str) -> str:
    for cand in (os.path.join(root, vid), os.path.join(root, FRAMES_DIR, vid)):
        if os.path.isdir(cand):
            return cand
    raise DatasetPathError(f"dataset {NAME!r}: no frame folder for video {vid!r} under "
                           f"{root!r} (expected {LAYOUT})")


def frame_positions(n: int, frames: int) -> list[int]:
    """Evenly spaced frame indices ``round(linspace(0, n-1, frames))`` (repeats when n < T)."""
    return [int(v) for v in np.rint(np.linspace(0, n - 1, frames))]


def read_video(folder: str, *, frames: int, size: int, channels: int) -> np.ndarray:
    """One clip as uint8 (C, T, size, size)."""
    from PIL import Image, UnidentifiedImageError

    files = sorted(f for f in os.listdir(folder) if f.lower().endswith(FRAME_EXTS))
    if not files:
        raise DatasetPathError(f"{folder}: no frames (expected 00001.jpg ...; {LAYOUT})")
    mode = "RGB" if channels == 3 else "L"
    out = np.empty((frames, size, size, channels), dtype=np.uint8)
    for t, pos in enumerate(frame_positions(len(files), frames)):
        path = os.path.join(folder, files[pos])
        try:
            with Image.open(path) as img:
                im = img.convert(mode)
                if im.size != (size, size):
                    im = im.resize((size, size), Image.Resampling.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except (OSError, UnidentifiedImageError) as exc:
            raise DatasetPathError(f"{path}: not a readable image ({type(exc).__name__}; "
                                   f"expected {LAYOUT})") from None
        out[t] = arr.reshape(size, size, channels)
    return out.transpose(3, 0, 1, 2)


def _check(frames: Any, size: Any, channels: Any, max_videos: Any) -> None:
    check_int("frames", frames, 1, NAME)
    check_int("size", size, 1, NAME)
    if channels not in (1, 3) or isinstance(channels, bool):
        raise UserError(f"dataset {NAME!r}: channels={channels!r} must be 1 or 3")
    if max_videos is not None:
        check_int("max_videos", max_videos, 1, NAME)


def _describe(*, root: str | None = None, frames: int = 8, size: int = 32, channels: int = 3,
              val_fraction: float = 0.1, split_seed: int = 0,
              max_videos: int | None = None) -> tuple[tuple[int, ...], int]:
    _check(frames, size, channels, max_videos)
    classes = 27 if root is None else len(read_labels(_require_root(root)))
    return (channels, frames, size, size), classes


@register_dataset(NAME, describe=_describe, needs_root=True, resplit="split_seed")
def build_jester(*, root: str | None = None, seed: int = 0, frames: int = 8, size: int = 32,
                 channels: int = 3, val_fraction: float = 0.1, split_seed: int = 0,
                 max_videos: int | None = None) -> DatasetBundle:
    """Jester clips from ``root``: train/val from the train CSV, test from the validation CSV."""
    import torch

    _check(frames, size, channels, max_videos)
    check_fraction("val_fraction", val_fraction, NAME)
    root = _require_root(root)
    names = read_labels(root)
    classes = {n: i for i, n in enumerate(names)}

    def load(csv: str) -> tuple[np.ndarray, np.ndarray]:
        rows = read_split_csv(os.path.join(root, csv), classes)[:max_videos]
        if not rows:
            raise DatasetPathError(f"{os.path.join(root, csv)}: no videos listed "
                                   f"(expected {LAYOUT})")
        x = np.stack([read_video(_video_dir(root, vid), frames=frames, size=size,
                                 channels=channels) for vid, _ in rows])
        return x, np.array([lab for _, lab in rows], dtype=np.int64)

    x_tr, y_tr = load(TRAIN_CSV)
    x_te, y_te = load(VAL_CSV)
    tr, va = split_indices(len(y_tr), val_fraction, split_seed)

    def ds(x: np.ndarray, y: np.ndarray) -> U8Dataset:
        return U8Dataset(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y))

    return DatasetBundle(name=NAME, train=ds(x_tr[tr], y_tr[tr]), val=ds(x_tr[va], y_tr[va]),
                         test=ds(x_te, y_te), input_shape=(channels, frames, size, size),
                         num_classes=len(names))
