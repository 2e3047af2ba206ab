"""dse.data.images: sample-images (bundled with scikit-learn) and image-folder crops."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from dse.data import describe_dataset, get_dataset
from dse.data.images import _bands
from dse.errors import UserError

SMALL: dict[str, Any] = {"n_train": 24, "n_val": 8, "n_test": 8}


def _locate(img: np.ndarray, crop: np.ndarray) -> list[tuple[int, int]]:
    """Every (row, col) where the (C, S, S) uint8 crop occurs in the (H, W, C) image:
    candidates from its top-left 4x4 corner (vectorized), then a full comparison."""
    s = crop.shape[-1]
    corner = crop[:, :4, :4].transpose(1, 2, 0)
    win = np.lib.stride_tricks.sliding_window_view(img, (4, 4, img.shape[2]))[..., 0, :, :, :]
    rows, cols = np.nonzero((win == corner).all(axis=(-3, -2, -1)))
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True)
            if r + s <= img.shape[0] and c + s <= img.shape[1]
            and np.array_equal(img[r:r + s, c:c + s].transpose(2, 0, 1), crop)]


def test_sample_images_ship_with_scikit_learn() -> None:
    """The two photos are files inside the installed package: nothing is downloaded."""
    import sklearn
    from sklearn.datasets import load_sample_images

    raw = load_sample_images()
    assert [Path(f).name for f in raw.filenames] == ["china.jpg", "flower.jpg"]
    assert all(Path(f).is_file() and Path(sklearn.__file__).parent in Path(f).parents
               for f in raw.filenames)
    assert [im.shape for im in raw.images] == [(427, 640, 3), (427, 640, 3)]


def test_sample_images_shapes_values_and_seed() -> None:
    b = get_dataset("sample-images", seed=3, crop_size=16, **SMALL)
    assert b.input_shape == (3, 16, 16) and b.num_classes == 2
    assert b.sizes() == {"train": 24, "val": 8, "test": 8}
    x, y = b.train[0]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert [int(b.train[i][1]) for i in range(4)] == [0, 1, 0, 1]  # evenly over the images
    again = get_dataset("sample-images", seed=3, crop_size=16, **SMALL)
    other = get_dataset("sample-images", seed=4, crop_size=16, **SMALL)
    assert torch.equal(b.train.x_u8, again.train.x_u8)  # type: ignore[attr-defined]
    assert not torch.equal(b.train.x_u8, other.train.x_u8)  # type: ignore[attr-defined]
    assert describe_dataset("sample-images", crop_size=64, gray=True) == ((1, 64, 64), 2)


def test_crops_come_from_disjoint_column_bands() -> None:
    """Each crop is found in its source image inside its split's band: train in
    [0, 384), val in [384, 512), test (and the preview) in [512, 640) for W = 640."""
    from sklearn.datasets import load_sample_images

    assert _bands(640, 0.6, 0.2) == [(0, 384), (384, 512), (512, 640)]
    images = load_sample_images().images
    b = get_dataset("sample-images", seed=0, crop_size=16, preview_size=64, **SMALL)
    assert get_dataset("sample-images", crop_size=16, **SMALL).test.preview.shape == \
        (3, 16, 16)  # type: ignore[attr-defined]
    for split, (lo, hi) in zip((b.train, b.val, b.test), _bands(640, 0.6, 0.2), strict=True):
        for i in range(4):
            crop = split.x_u8[i].numpy()  # type: ignore[attr-defined]
            where = _locate(images[int(split.y[i])], crop)  # type: ignore[attr-defined]
            assert where, f"crop {i} not found in its source image"
            assert any(lo <= c and c + 16 <= hi for _, c in where), (where, lo, hi)
    preview = b.test.preview.numpy()  # type: ignore[attr-defined]
    assert preview.shape == (3, 64, 64)
    where = _locate(images[0], preview)
    assert where and all(c >= 512 and c + 64 <= 640 for _, c in where)


def test_gray_is_bt601_luma() -> None:
    from sklearn.datasets import load_sample_images

    img = load_sample_images().images[0].astype(np.float64)
    b = get_dataset("sample-images", seed=0, crop_size=16, gray=True, **SMALL)
    assert b.input_shape == (1, 16, 16)
    luma = np.clip(np.rint(img @ np.array([0.299, 0.587, 0.114])), 0, 255).astype(np.uint8)
    crop = b.train.x_u8[0].numpy()  # type: ignore[attr-defined]
    assert _locate(luma[..., None], crop)


def _write_images(folder: Path, sizes: list[tuple[int, int]]) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for k, (h, w) in enumerate(sizes):
        arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / (f"im{k}.png" if k % 2 == 0 else f"im{k}.JPG"))


def test_image_folder_reads_png_and_jpeg(tmp_path: Path) -> None:
    _write_images(tmp_path / "a", [(40, 100)])
    _write_images(tmp_path / "a" / "sub", [(48, 120), (40, 100)])
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    b = get_dataset("image-folder", root=str(tmp_path / "a"), crop_size=16, **SMALL)
    assert b.input_shape == (3, 16, 16) and b.num_classes == 3
    assert set(b.train.y.tolist()) == {0, 1, 2}  # type: ignore[attr-defined]
    assert describe_dataset("image-folder", root=str(tmp_path / "a"), crop_size=16) == \
        ((3, 16, 16), 3)


@pytest.mark.parametrize(("setup", "match"), [
    ("missing", r"is not a folder; expected ROOT/\*\.png"),
    ("empty", r"no \.png/\.jpg/\.jpeg image in .*; expected ROOT/\*\.png"),
    ("broken", r"cannot read image .*bad\.png"),
    ("small", r"image 0 \(40x30\) is too small for crop_size=16"),
    ("none", r"needs root=PATH"),
])
def test_image_folder_errors_are_one_line(tmp_path: Path, setup: str, match: str) -> None:
    root: str | None = str(tmp_path / "imgs")
    if setup == "empty":
        (tmp_path / "imgs").mkdir()
    elif setup == "broken":
        (tmp_path / "imgs").mkdir()
        (tmp_path / "imgs" / "bad.png").write_bytes(b"not a png")
    elif setup == "small":
        _write_images(tmp_path / "imgs", [(40, 30)])
    elif setup == "none":
        root = None
    with pytest.raises(UserError, match=match) as err:
        get_dataset("image-folder", root=root, crop_size=16, **SMALL)
    assert "\n" not in str(err.value)


def test_bad_parameters_are_named() -> None:
    with pytest.raises(UserError, match=r"crop_size=4 must be an integer >= 8"):
        get_dataset("sample-images", crop_size=4)
    with pytest.raises(UserError, match=r"train_fraction \+ val_fraction = 1.1 must be < 1"):
        get_dataset("sample-images", train_fraction=0.9, val_fraction=0.2)
    with pytest.raises(UserError, match=r"too small for crop_size=160.*narrowest: 128"):
        get_dataset("sample-images", crop_size=160, **SMALL)  # val and test bands: 128 px


def test_cli_missing_image_folder_is_one_line_exit_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dse.cli", "search", "--task", "compression", "--dataset",
         "image-folder", "--data-root", str(tmp_path / "nope"), "--db",
         f"sqlite:///{tmp_path / 'x.db'}", "--executor", "local", "--quiet"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a folder; expected ROOT/*.png" in lines[0]
    assert not (tmp_path / "x.db").exists()
