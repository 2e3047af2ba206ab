"""Natural-image crops for the compression task: ``sample-images`` and ``image-folder``.

``sample-images``: scikit-learn's two bundled 427x640 RGB photos (``china.jpg``,
``flower.jpg``, shipped inside the package: nothing is downloaded). ``image-folder``: every
PNG/JPEG (``.png``, ``.jpg``, ``.jpeg``; any case) directly in ``root`` or one level below,
read with Pillow and converted to RGB (or luma with ``gray=True``).

Held-out regions, not just held-out crops: every image is cut into three vertical bands by
column, ``[0, 0.6 W)`` for *train*, ``[0.6 W, 0.8 W)`` for *val* and ``[0.8 W, W)`` for *test*
(fractions ``train_fraction`` / ``val_fraction`` are parameters). Crops are drawn uniformly at
random inside a band (seeded by ``seed``), so no test pixel is ever seen in training. Each
split draws its crops evenly over the images (image ``i % n_images`` for crop ``i``); ``y`` is
the index of the source image, ``num_classes`` the number of images (a compression search
ignores it; a classification search would learn which photo a crop comes from).

The test split also carries ``preview``: a ``preview_size`` (default: ``crop_size``) uint8
crop from the middle of the first image's test band, for the original / reconstruction /
error view of the dashboard. The decoder is trained on ``crop_size`` crops: with 16-px
patches use ``crop_size=64`` (a 32-px crop holds 2x2 patches, none with neighbours on all
sides, so a full-frame decoder trained on it does poorly on larger images).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dse.data import (
    DatasetBundle,
    DatasetPathError,
    U8Dataset,
    check_fraction,
    check_int,
    register_dataset,
)
from dse.errors import UserError

SAMPLE = "sample-images"
FOLDER = "image-folder"
SUFFIXES = (".png", ".jpg", ".jpeg")
FOLDER_LAYOUT = "ROOT/*.png|*.jpg|*.jpeg or ROOT/SUBDIR/*.png|*.jpg|*.jpeg"


class ImageCrops(U8Dataset):
    """Crops as uint8 (N, C, S, S) with their source image index; ``preview`` may hold a
    larger uint8 (C, P, P) held-out region (test split only)."""

    def __init__(self, x_u8: Any, y: Any, preview: Any = None) -> None:
        super().__init__(x_u8, y)
        self.preview = preview


def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` of an (H, W, 3) uint8 image."""
    y = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)[..., None]


def _check(name: str, crop_size: Any, n_train: Any, n_val: Any, n_test: Any,
           train_fraction: Any, val_fraction: Any, gray: Any, preview_size: Any) -> None:
    check_int("crop_size", crop_size, 8, name)
    for pname, v in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        check_int(pname, v, 1, name)
    if preview_size is not None:
        check_int("preview_size", preview_size, 8, name)
    tf = check_fraction("train_fraction", train_fraction, name)
    vf = check_fraction("val_fraction", val_fraction, name)
    if tf + vf >= 1:
        raise UserError(f"dataset {name!r}: train_fraction + val_fraction = {tf + vf:g} must "
                        "be < 1 (the rest is the test band)")
    if not isinstance(gray, bool):
        raise UserError(f"dataset {name!r}: gray={gray!r} must be true or false")


def _bands(width: int, train_fraction: float, val_fraction: float) -> list[tuple[int, int]]:
    a = int(round(width * train_fraction))
    b = int(round(width * (train_fraction + val_fraction)))
    return [(0, a), (a, b), (b, width)]


def _crops(images: list[np.ndarray], split: int, n: int, size: int, rng: np.random.Generator,
           train_fraction: float, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random size x size crops inside band ``split`` of the images, (N, C, S, S)."""
    xs = np.empty((n, images[0].shape[2], size, size), dtype=np.uint8)
    ys = np.empty(n, dtype=np.int64)
    for i in range(n):
        k = i % len(images)
        img = images[k]
        lo, hi = _bands(img.shape[1], train_fraction, val_fraction)[split]
        r = int(rng.integers(0, img.shape[0] - size + 1))
        c = int(rng.integers(lo, hi - size + 1))
        xs[i] = img[r:r + size, c:c + size].transpose(2, 0, 1)
        ys[i] = k
    return xs, ys


def _preview(img: np.ndarray, size: int, train_fraction: float, val_fraction: float,
             crop_size: int) -> np.ndarray:
    lo, hi = _bands(img.shape[1], train_fraction, val_fraction)[2]
    size = min(size, hi - lo, img.shape[0])
    size -= size % crop_size if size >= crop_size else 0
    r = (img.shape[0] - size) // 2
    c = lo + (hi - lo - size) // 2
    return img[r:r + size, c:c + size].transpose(2, 0, 1).copy()


def _bundle(name: str, images: list[np.ndarray], *, seed: int, crop_size: int, n_train: int,
            n_val: int, n_test: int, train_fraction: float, val_fraction: float,
            preview_size: int | None) -> DatasetBundle:
    import torch

    for k, img in enumerate(images):
        bands = _bands(img.shape[1], train_fraction, val_fraction)
        narrow = min(hi - lo for lo, hi in bands)
        if img.shape[0] < crop_size or narrow < crop_size:
            raise UserError(f"dataset {name!r}: image {k} ({img.shape[0]}x{img.shape[1]}) is "
                            f"too small for crop_size={crop_size}: each of its train/val/test "
                            f"column bands must be >= {crop_size} px wide (narrowest: {narrow})")
    rng = np.random.default_rng(seed)
    splits = []
    for split, n in enumerate((n_train, n_val, n_test)):
        x, y = _crops(images, split, n, crop_size, rng, train_fraction, val_fraction)
        splits.append((torch.from_numpy(x), torch.from_numpy(y)))
    preview = torch.from_numpy(_preview(images[0], preview_size or crop_size, train_fraction,
                                        val_fraction, crop_size))
    return DatasetBundle(
        name=name,
        train=ImageCrops(*splits[0]), val=ImageCrops(*splits[1]),
        test=ImageCrops(*splits[2], preview=preview),
        input_shape=(images[0].shape[2], crop_size, crop_size),
        num_classes=len(images),
    )


# --------------------------------------------------------------------------- sample-images
def _sample_arrays(gray: bool) -> list[np.ndarray]:
    from sklearn.datasets import load_sample_images

    images = [np.asarray(im, dtype=np.uint8) for im in load_sample_images().images]
    return [_luma(im) for im in images] if gray else images


def _describe_sample(*, root: str | None = None, crop_size: int = 32, n_train: int = 4096,
                     n_val: int = 128, n_test: int = 128, train_fraction: float = 0.6,
                     val_fraction: float = 0.2, gray: bool = False,
                     preview_size: int | None = None) -> tuple[tuple[int, ...], int]:
    _check(SAMPLE, crop_size, n_train, n_val, n_test, train_fraction, val_fraction, gray,
           preview_size)
    return (1 if gray else 3, crop_size, crop_size), 2


@register_dataset(SAMPLE, describe=_describe_sample)
def build_sample_images(*, root: str | None = None, seed: int = 0, crop_size: int = 32,
                        n_train: int = 4096, n_val: int = 128, n_test: int = 128,
                        train_fraction: float = 0.6, val_fraction: float = 0.2,
                        gray: bool = False, preview_size: int | None = None) -> DatasetBundle:
    """Random crops of scikit-learn's two sample photos from disjoint column bands."""
    _check(SAMPLE, crop_size, n_train, n_val, n_test, train_fraction, val_fraction, gray,
           preview_size)
    return _bundle(SAMPLE, _sample_arrays(gray), seed=seed, crop_size=crop_size,
                   n_train=n_train, n_val=n_val, n_test=n_test, train_fraction=train_fraction,
                   val_fraction=val_fraction, preview_size=preview_size)


# --------------------------------------------------------------------------- image-folder
def folder_files(root: str | None) -> list[Path]:
    """The image files of an ``image-folder`` root, sorted; a one-line error naming the
    expected layout when the folder is missing or holds no image."""
    if root is None:
        raise DatasetPathError(f"dataset {FOLDER!r} needs root=PATH with {FOLDER_LAYOUT}")
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DatasetPathError(f"dataset {FOLDER!r}: {str(base)!r} is not a folder; expected "
                               f"{FOLDER_LAYOUT}")
    files = sorted(p for p in [*base.iterdir(), *(q for d in base.iterdir() if d.is_dir()
                                                  for q in d.iterdir())]
                   if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise DatasetPathError(f"dataset {FOLDER!r}: no .png/.jpg/.jpeg image in {str(base)!r}; "
                               f"expected {FOLDER_LAYOUT}")
    return files


def _read(path: Path, gray: bool) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as exc:
        raise DatasetPathError(f"dataset {FOLDER!r}: cannot read image {str(path)!r} "
                               f"({type(exc).__name__})") from None
    return _luma(arr) if gray else arr


def _describe_folder(*, root: str | None = None, crop_size: int = 32, n_train: int = 4096,
                     n_val: int = 128, n_test: int = 128, train_fraction: float = 0.6,
                     val_fraction: float = 0.2, gray: bool = False,
                     preview_size: int | None = None) -> tuple[tuple[int, ...], int]:
    _check(FOLDER, crop_size, n_train, n_val, n_test, train_fraction, val_fraction, gray,
           preview_size)
    files = folder_files(root)
    return (1 if gray else 3, crop_size, crop_size), max(2, len(files))


@register_dataset(FOLDER, describe=_describe_folder, needs_root=True)
def build_image_folder(*, root: str | None = None, seed: int = 0, crop_size: int = 32,
                       n_train: int = 4096, n_val: int = 128, n_test: int = 128,
                       train_fraction: float = 0.6, val_fraction: float = 0.2,
                       gray: bool = False, preview_size: int | None = None) -> DatasetBundle:
    """Random crops of the PNG/JPEG images in ``root`` from disjoint column bands."""
    _check(FOLDER, crop_size, n_train, n_val, n_test, train_fraction, val_fraction, gray,
           preview_size)
    images = [_read(p, gray) for p in folder_files(root)]
    bundle = _bundle(FOLDER, images, seed=seed, crop_size=crop_size, n_train=n_train,
                     n_val=n_val, n_test=n_test, train_fraction=train_fraction,
                     val_fraction=val_fraction, preview_size=preview_size)
    bundle.num_classes = max(2, bundle.num_classes)
    return bundle
