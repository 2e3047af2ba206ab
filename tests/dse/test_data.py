"""dse.data: the registry, the built-in datasets, the on-disk loaders (tiny real-format files)."""

from __future__ import annotations

import math
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from dse.data import (
    DATASETS,
    DatasetBundle,
    DatasetPathError,
    dataset_params,
    describe_dataset,
    get_dataset,
    register_dataset,
)
from dse.data.gestures import CLASSES, generate_clips
from dse.data.jester import frame_positions
from dse.errors import UserError

ALL = ["cifar-10", "cifar-100", "digits", "image-folder", "jester", "sample-images", "stl-10",
       "synthetic-gestures"]


def _all_xy(ds: object) -> tuple[torch.Tensor, torch.Tensor]:
    items = [ds[i] for i in range(len(ds))]  # type: ignore[index, arg-type]
    return torch.stack([x for x, _ in items]), torch.stack([torch.as_tensor(y) for _, y in items])


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert "\n" not in msg
    return msg


# --------------------------------------------------------------------------- registry
def test_registry_lists_builtins() -> None:
    assert DATASETS.names() == ALL


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError) as err:
        get_dataset("mnist")
    msg = _one_line(err.value)
    assert "'mnist'" in msg
    for name in ALL:
        assert name in msg


def test_unknown_params_are_named() -> None:
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) colour, zoom \(valid: fold, "
                                         r"mode, upsample\)"):
        get_dataset("digits", zoom=2, colour=True)
    with pytest.raises(UserError, match="unknown parameter"):
        describe_dataset("synthetic-gestures", fps=12)


@pytest.mark.parametrize(("name", "params", "field"), [
    ("digits", {"upsample": 0}, "upsample=0"),
    ("digits", {"upsample": 2.0}, "upsample=2.0"),
    ("digits", {"mode": "cubic"}, "mode='cubic'"),
    ("synthetic-gestures", {"frames": 1}, "frames=1"),
    ("synthetic-gestures", {"noise": -0.5}, "noise=-0.5"),
    ("synthetic-gestures", {"val_fraction": 0.5, "test_fraction": 0.5}, "must be < 1"),
    ("cifar-100", {"label_mode": "medium"}, "label_mode='medium'"),
    ("stl-10", {"downsample": 5}, "must divide 96"),
    ("jester", {"channels": 2}, "channels=2"),
])
def test_bad_values_name_the_field(name: str, params: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field.replace("(", r"\(").replace(".", r"\.")):
        describe_dataset(name, **params)


def test_register_custom_dataset_and_params() -> None:
    @register_dataset("tiny-test-set")
    def _tiny(*, root: str | None = None, seed: int = 0, n: int = 4) -> DatasetBundle:
        x = torch.zeros(n, 1, 2, 2)
        y = torch.zeros(n, dtype=torch.long)
        ds = torch.utils.data.TensorDataset(x, y)
        return DatasetBundle("tiny-test-set", ds, ds, ds, (1, 2, 2), 1)

    try:
        assert dataset_params("tiny-test-set") == {"n": 4}
        bundle = get_dataset("tiny-test-set", seed=3, n=6)
        assert len(bundle.train) == 6
        assert bundle.params == {"n": 6, "seed": 3}
        assert describe_dataset("tiny-test-set") == ((1, 2, 2), 1)  # no describe: built
    finally:
        DATASETS.remove("tiny-test-set")


def test_on_disk_datasets_need_root() -> None:
    for name in ("cifar-10", "cifar-100", "stl-10", "jester"):
        with pytest.raises(DatasetPathError, match="needs root=PATH"):
            get_dataset(name)


# --------------------------------------------------------------------------- digits
def test_digits_split_sizes_disjoint_stratified() -> None:
    """1,797 images; positions i % 10 in {0, 5} -> test, {3, 8} -> val (per class, file order).

    Per class of n images: test = ceil(n/10) + ceil((n-5)/10), val = ceil((n-3)/10) +
    ceil((n-8)/10); the class counts of sklearn's digits are 178 182 177 183 181 182 181 179
    174 180, which gives 36 37 36 37 37 37 37 36 35 36 = 364 test and 35 36 35 36 36 36 36 36
    35 36 = 357 val; 1,076 train remain.
    """
    from sklearn.datasets import load_digits

    from dse.data.digits import split_digits

    raw = load_digits()
    counts = np.bincount(raw.target)
    exp_test = [math.ceil(n / 10) + math.ceil((n - 5) / 10) for n in counts]
    exp_val = [math.ceil((n - 3) / 10) + math.ceil((n - 8) / 10) for n in counts]
    tr, va, te = split_digits(raw.target)
    assert len(tr) + len(va) + len(te) == 1797
    assert (len(tr), len(va), len(te)) == (1076, 357, 364)
    assert sum(exp_test) == 364 and sum(exp_val) == 357
    assert np.bincount(raw.target[te]).tolist() == exp_test
    assert np.bincount(raw.target[va]).tolist() == exp_val
    assert not set(tr) & set(va) and not set(tr) & set(te) and not set(va) & set(te)

    bundle = get_dataset("digits")
    assert bundle.sizes() == {"train": 1076, "val": 357, "test": 364}
    assert bundle.input_shape == (1, 8, 8) and bundle.num_classes == 10
    # image 0 of the file is class 0 at position 0 -> first test sample, scaled by 1/16
    x0, y0 = bundle.test[0]
    assert int(y0) == 0
    assert torch.equal(x0[0], torch.from_numpy(raw.images[0] / 16.0).float())
    x_all, _ = _all_xy(bundle.train)
    assert float(x_all.min()) == 0.0 and float(x_all.max()) == 1.0
    assert torch.equal(x_all * 16, (x_all * 16).round())  # the 17 original levels


def test_digits_split_is_fixed_across_seeds() -> None:
    a, b = get_dataset("digits", seed=0), get_dataset("digits", seed=7)
    assert torch.equal(a.val.tensors[0], b.val.tensors[0])  # type: ignore[attr-defined]


def test_digits_upsample_nearest_and_bilinear() -> None:
    base = get_dataset("digits")
    up = get_dataset("digits", upsample=3)
    assert up.input_shape == (1, 24, 24) and describe_dataset("digits", upsample=3) == \
        ((1, 24, 24), 10)
    x, _ = up.test[0]
    assert x.shape == (1, 24, 24)
    # nearest: every 3x3 block repeats the original pixel, so 3x3 average pooling gives it back
    pooled = torch.nn.functional.avg_pool2d(x[None], 3)[0]
    assert torch.allclose(pooled, base.test[0][0], atol=1e-6)
    bil, _ = get_dataset("digits", upsample=2, mode="bilinear").test[0]
    assert bil.shape == (1, 16, 16)
    assert float(bil.min()) >= 0.0 and float(bil.max()) <= 1.0
    # align_corners=False at scale 2: output pixel (1, 1) sits at input (0.25, 0.25), so it is
    # 0.75^2 p00 + 0.75*0.25 (p01 + p10) + 0.25^2 p11
    p = base.test[0][0][0]
    expect = 0.5625 * p[0, 0] + 0.1875 * (p[0, 1] + p[1, 0]) + 0.0625 * p[1, 1]
    assert float(bil[0, 1, 1]) == pytest.approx(float(expect), abs=1e-6)


# --------------------------------------------------------------------------- gestures
def test_gestures_shapes_splits_and_determinism() -> None:
    a = get_dataset("synthetic-gestures", clips=160, seed=3)
    assert a.input_shape == (1, 8, 32, 32) and a.num_classes == 8 == len(CLASSES)
    assert describe_dataset("synthetic-gestures") == ((1, 8, 32, 32), 8)
    # 160 * 0.15 = 24 to val and to test
    assert a.sizes() == {"train": 112, "val": 24, "test": 24}
    b = get_dataset("synthetic-gestures", clips=160, seed=3)
    c = get_dataset("synthetic-gestures", clips=160, seed=4)
    for split in ("train", "val", "test"):
        xa, ya = getattr(a, split).tensors
        xb, yb = getattr(b, split).tensors
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(a.train.tensors[0], c.train.tensors[0])  # type: ignore[attr-defined]
    x = a.train.tensors[0]  # type: ignore[attr-defined]
    assert x.dtype == torch.float32 and float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    y_all = torch.cat([getattr(a, s).tensors[1] for s in ("train", "val", "test")])
    assert torch.bincount(y_all).tolist() == [20] * 8  # clip i has class i % 8


def test_gestures_parameters_change_the_shape() -> None:
    b = get_dataset("synthetic-gestures", clips=48, channels=3, frames=5, size=16)
    assert b.input_shape == (3, 5, 16, 16)
    assert b.train[0][0].shape == (3, 5, 16, 16)


def _sprite_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per clip and frame: sprite mask centroid (cx, cy), area, and second-moment orientation.

    Without noise and distractor a frame is ``background`` plus the sprite at a brightness
    >= 0.6 above... the background is the frame's minimum, so the mask is ``x > min + 0.3``.
    """
    f = x[:, 0]                                   # (n, T, H, W)
    mask = f > f.min(axis=(2, 3), keepdims=True) + 0.3
    h, w = f.shape[2:]
    yy, xx = np.mgrid[0:h, 0:w]
    area = mask.sum(axis=(2, 3)).astype(float)
    cx = (mask * xx).sum(axis=(2, 3)) / area
    cy = (mask * yy).sum(axis=(2, 3)) / area
    dx = xx - cx[..., None, None]
    dy = yy - cy[..., None, None]
    mxx = (mask * dx * dx).sum(axis=(2, 3))
    myy = (mask * dy * dy).sum(axis=(2, 3))
    mxy = (mask * dx * dy).sum(axis=(2, 3))
    theta = 0.5 * np.arctan2(2 * mxy, mxx - myy)  # orientation, modulo pi
    return cx, cy, area, theta


def test_gestures_classes_differ_measurably() -> None:
    """Measured on the pixels (noise 0, no distractor), class means over 40 clips each.

    Swipes move the centroid >= 4 px the right way; zoom-in grows the sprite's area (last /
    first > 1.5) and zoom-out shrinks it (< 0.67); rotate-cw turns the principal axis
    clockwise on screen (angle grows with y pointing down) by > 0.5 rad in total, ccw the
    other way; per-frame steps are < pi/2 so the unwrapping modulo pi is unambiguous.
    """
    x, y = generate_clips(320, seed=11, noise=0.0, distractor=False)
    cx, cy, area, theta = _sprite_stats(x)
    step = np.diff(theta, axis=1)
    step = (step + np.pi / 2) % np.pi - np.pi / 2
    turn = step.sum(axis=1)
    shift_x = cx[:, -1] - cx[:, 0]
    shift_y = cy[:, -1] - cy[:, 0]
    growth = area[:, -1] / area[:, 0]

    def mean(v: np.ndarray, cls: str) -> float:
        return float(v[y == CLASSES.index(cls)].mean())

    assert mean(shift_x, "swipe-left") < -4 and mean(shift_x, "swipe-right") > 4
    assert mean(shift_y, "swipe-up") < -4 and mean(shift_y, "swipe-down") > 4
    assert abs(mean(shift_x, "swipe-up")) < 1.5 and abs(mean(shift_y, "swipe-left")) < 1.5
    assert mean(growth, "zoom-in") > 1.5 and mean(growth, "zoom-out") < 0.67
    assert 0.8 < mean(growth, "swipe-left") < 1.25
    assert mean(turn, "rotate-cw") > 0.5 and mean(turn, "rotate-ccw") < -0.5
    assert abs(mean(turn, "zoom-in")) < 0.3


def test_gestures_single_frame_does_not_give_the_class() -> None:
    """Not trivial: a linear classifier on the *first frame* alone stays far from solving it
    (where a clip starts says a little about where it goes: < 40 %, chance 12.5 %), while the
    same classifier on the last-minus-first frame difference does clearly better (the motion
    carries the class)."""
    from sklearn.linear_model import LogisticRegression

    b = get_dataset("synthetic-gestures", clips=800, size=16, seed=1)
    xtr, ytr = b.train.tensors  # type: ignore[attr-defined]
    xte, yte = b.test.tensors  # type: ignore[attr-defined]

    def fit(feat_tr: torch.Tensor, feat_te: torch.Tensor) -> float:
        clf = LogisticRegression(max_iter=300, C=0.1)
        clf.fit(feat_tr.flatten(1).numpy(), ytr.numpy())
        return float(clf.score(feat_te.flatten(1).numpy(), yte.numpy()))

    first = fit(xtr[:, :, 0], xte[:, :, 0])
    motion = fit(xtr[:, :, -1] - xtr[:, :, 0], xte[:, :, -1] - xte[:, :, 0])
    assert first < 0.4
    assert motion > first + 0.15


# --------------------------------------------------------------------------- CIFAR
def _cifar_batch(rng: np.random.Generator, n: int, label_keys: dict[str, int]) -> dict:
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    out: dict[bytes, object] = {b"data": data, b"batch_label": b"tiny"}
    for key, classes in label_keys.items():
        out[key.encode()] = [int(v) for v in rng.integers(0, classes, size=n)]
    return out


def _write_pickle(path: Path, obj: object) -> None:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)


def _check_cifar_pixels(x: torch.Tensor, row: np.ndarray) -> None:
    """CIFAR rows: 1024 red then 1024 green then 1024 blue, each 32 rows of 32 values."""
    img = (x * 255).round().to(torch.uint8).numpy()
    for ch, r, c in ((0, 0, 0), (1, 5, 7), (2, 31, 31), (0, 17, 3)):
        assert img[ch, r, c] == row[1024 * ch + 32 * r + c]
    assert np.array_equal(img.reshape(-1), row)


@pytest.fixture()
def cifar10_root(tmp_path: Path) -> tuple[Path, list[dict]]:
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = [_cifar_batch(rng, 4, {"labels": 10}) for _ in range(6)]
    for i, batch in enumerate(batches[:5], 1):
        _write_pickle(folder / f"data_batch_{i}", batch)
    _write_pickle(folder / "test_batch", batches[5])
    return tmp_path, batches


def test_cifar10_reads_pixels_and_labels(cifar10_root: tuple[Path, list[dict]]) -> None:
    root, batches = cifar10_root
    bundle = get_dataset("cifar-10", root=str(root), val_fraction=0.25)
    assert bundle.input_shape == (3, 32, 32) and bundle.num_classes == 10
    assert bundle.sizes() == {"train": 15, "val": 5, "test": 4}
    # the test split is test_batch, in order, exactly
    for i in range(4):
        x, y = bundle.test[i]
        assert x.dtype == torch.float32 and int(y) == batches[5][b"labels"][i]
        _check_cifar_pixels(x, batches[5][b"data"][i])
    # train + val together are the 20 training images with their labels
    rows = np.concatenate([b[b"data"] for b in batches[:5]])
    labels: list[int] = sum((b[b"labels"] for b in batches[:5]), [])
    seen = []
    for split in (bundle.train, bundle.val):
        for i in range(len(split)):
            x, y = split[i]
            flat = (x * 255).round().to(torch.uint8).numpy().reshape(-1)
            idx = int(np.flatnonzero((rows == flat).all(axis=1))[0])
            assert labels[idx] == int(y)
            seen.append(idx)
    assert sorted(seen) == list(range(20))
    # ROOT may also be the batches folder itself
    again = get_dataset("cifar-10", root=str(root / "cifar-10-batches-py"), val_fraction=0.25)
    assert torch.equal(again.test[3][0], bundle.test[3][0])


def test_cifar100_fine_and_coarse(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    train = _cifar_batch(rng, 10, {"fine_labels": 100, "coarse_labels": 20})
    test = _cifar_batch(rng, 3, {"fine_labels": 100, "coarse_labels": 20})
    _write_pickle(folder / "train", train)
    _write_pickle(folder / "test", test)
    fine = get_dataset("cifar-100", root=str(tmp_path), val_fraction=0.2)
    coarse = get_dataset("cifar-100", root=str(tmp_path), label_mode="coarse", val_fraction=0.2)
    assert fine.num_classes == 100 and coarse.num_classes == 20
    assert fine.sizes() == {"train": 8, "val": 2, "test": 3}
    for i in range(3):
        assert int(fine.test[i][1]) == test[b"fine_labels"][i]
        assert int(coarse.test[i][1]) == test[b"coarse_labels"][i]
        _check_cifar_pixels(fine.test[i][0], test[b"data"][i])


def test_cifar_missing_and_malformed(tmp_path: Path, cifar10_root: tuple[Path, list[dict]]
                                     ) -> None:
    with pytest.raises(DatasetPathError) as err:
        get_dataset("cifar-10", root=str(tmp_path / "nowhere"))
    msg = _one_line(err.value)
    assert "does not exist" in msg and "cifar-10-batches-py/data_batch_1" in msg
    root, _ = cifar10_root
    os.remove(root / "cifar-10-batches-py" / "data_batch_3")
    with pytest.raises(DatasetPathError, match="lacks data_batch_3 .expected ROOT/cifar-10"):
        get_dataset("cifar-10", root=str(root))
    (root / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle at all")
    with pytest.raises(DatasetPathError) as err:
        get_dataset("cifar-10", root=str(root))
    msg = _one_line(err.value)
    assert "data_batch_3: not a readable CIFAR pickle" in msg and "cifar-10-batches-py" in msg
    # a pickle without the label key
    _write_pickle(root / "cifar-10-batches-py" / "data_batch_3",
                  {b"data": np.zeros((1, 3072), np.uint8)})
    with pytest.raises(DatasetPathError, match="with data and labels"):
        get_dataset("cifar-10", root=str(root))
    with pytest.raises(DatasetPathError, match="cifar-100-python/train and test"):
        get_dataset("cifar-100", root=str(root))


# --------------------------------------------------------------------------- STL-10
def _write_stl(folder: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    """The binary format: each channel column-major, so write CHW with H and W swapped."""
    (folder / f"{split}_X.bin").write_bytes(images.transpose(0, 1, 3, 2).tobytes())
    (folder / f"{split}_y.bin").write_bytes(labels.astype(np.uint8).tobytes())


@pytest.fixture()
def stl_root(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    xtr = rng.integers(0, 256, size=(4, 3, 96, 96), dtype=np.uint8)
    ytr = np.array([1, 10, 3, 7])
    xte = rng.integers(0, 256, size=(2, 3, 96, 96), dtype=np.uint8)
    yte = np.array([2, 9])
    _write_stl(folder, "train", xtr, ytr)
    _write_stl(folder, "test", xte, yte)
    return tmp_path, xtr, ytr, xte, yte


def test_stl10_reads_pixels_and_labels(stl_root: tuple) -> None:
    root, xtr, ytr, xte, yte = stl_root
    bundle = get_dataset("stl-10", root=str(root), val_fraction=0.25)
    assert bundle.input_shape == (3, 96, 96) and bundle.num_classes == 10
    assert bundle.sizes() == {"train": 3, "val": 1, "test": 2}
    for i in range(2):
        x, y = bundle.test[i]
        assert int(y) == yte[i] - 1                    # labels 1..10 on disk -> 0..9
        assert np.array_equal((x * 255).round().to(torch.uint8).numpy(), xte[i])
    # a pixel written at byte offset c*9216 + col*96 + row is image[c, row, col]
    raw = (root / "stl10_binary" / "test_X.bin").read_bytes()
    x0 = (bundle.test[0][0] * 255).round().to(torch.uint8)
    assert raw[1 * 9216 + 5 * 96 + 2] == int(x0[1, 2, 5])
    got = sorted(int(bundle.train[i][1]) for i in range(3)) + [int(bundle.val[0][1])]
    assert sorted(got) == sorted((ytr - 1).tolist())


def test_stl10_downsample_averages_blocks(stl_root: tuple) -> None:
    root, _, _, xte, _ = stl_root
    b = get_dataset("stl-10", root=str(root), downsample=4)
    assert b.input_shape == (3, 24, 24)
    x = (b.test[1][0] * 255).round()
    block = xte[1, 2, 4:8, 8:12].astype(float).mean()
    assert float(x[2, 1, 2]) == np.rint(block)


def test_stl10_missing_and_malformed(stl_root: tuple) -> None:
    root = stl_root[0]
    with pytest.raises(DatasetPathError) as err:
        get_dataset("stl-10", root=str(root / "elsewhere"))
    assert "stl10_binary/train_X.bin" in _one_line(err.value)
    (root / "stl10_binary" / "test_X.bin").write_bytes(b"\x00" * 1000)
    with pytest.raises(DatasetPathError, match="1000 bytes is not a multiple of 3.96.96=27648"):
        get_dataset("stl-10", root=str(root))
    folder = root / "stl10_binary"
    _write_stl(folder, "test", np.zeros((2, 3, 96, 96), np.uint8), np.array([0, 4]))
    with pytest.raises(DatasetPathError, match="labels must be 1..10, found 0..4"):
        get_dataset("stl-10", root=str(root))
    os.remove(folder / "train_y.bin")
    with pytest.raises(DatasetPathError, match="lacks train_y.bin"):
        get_dataset("stl-10", root=str(root))


# --------------------------------------------------------------------------- Jester
def _write_video(folder: Path, frames: list[np.ndarray], ext: str = ".png") -> None:
    from PIL import Image

    folder.mkdir(parents=True)
    for i, arr in enumerate(frames, 1):
        Image.fromarray(arr).save(folder / f"{i:05d}{ext}")


def _jester(tmp_path: Path, *, nested: bool = False) -> tuple[Path, dict[str, list[np.ndarray]]]:
    """Two training videos (5 and 3 frames of 8x8 RGB) and one validation video."""
    rng = np.random.default_rng(5)
    videos = {
        "101": [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(5)],
        "202": [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(3)],
        "303": [np.full((8, 8, 3), 17 * k, np.uint8) for k in range(1, 5)],  # gray levels
    }
    frames_root = tmp_path / "20bn-jester-v1" if nested else tmp_path
    for vid, frames in videos.items():
        _write_video(frames_root / vid, frames)
    (tmp_path / "jester-v1-labels.csv").write_text("Swiping Left\nSwiping Right\nNo gesture\n")
    (tmp_path / "jester-v1-train.csv").write_text("101;Swiping Right\n202;No gesture\n")
    (tmp_path / "jester-v1-validation.csv").write_text("303;Swiping Left\n")
    return tmp_path, videos


def test_frame_positions() -> None:
    """round(linspace(0, n-1, T)) with numpy's half-to-even: 5 frames -> [0, 1, 3, 4],
    3 frames -> [0, 1, 1, 2] (0.667 -> 1, 1.333 -> 1)."""
    assert frame_positions(5, 4) == [0, 1, 3, 4]
    assert frame_positions(3, 4) == [0, 1, 1, 2]
    assert frame_positions(36, 1) == [0]


@pytest.mark.parametrize("nested", [False, True])
def test_jester_reads_frames_and_labels(tmp_path: Path, nested: bool) -> None:
    root, videos = _jester(tmp_path, nested=nested)
    b = get_dataset("jester", root=str(root), frames=4, size=8, val_fraction=0.5)
    assert b.input_shape == (3, 4, 8, 8) and b.num_classes == 3
    assert b.sizes() == {"train": 1, "val": 1, "test": 1}
    assert describe_dataset("jester", root=str(root), frames=4, size=8) == ((3, 4, 8, 8), 3)
    clips = {int(b.train[0][1]): b.train[0][0], int(b.val[0][1]): b.val[0][0]}
    assert set(clips) == {1, 2}  # "Swiping Right" = 1 (video 101), "No gesture" = 2 (202)
    for label, vid, pos in ((1, "101", [0, 1, 3, 4]), (2, "202", [0, 1, 1, 2])):
        clip = (clips[label] * 255).round().to(torch.uint8).numpy()   # (C, T, H, W)
        for t, p in enumerate(pos):
            assert np.array_equal(clip[:, t].transpose(1, 2, 0), videos[vid][p])
    x, y = b.test[0]
    assert int(y) == 0
    # channels=1: PIL's luminance of a gray pixel (r = g = b) is the same value
    gray = get_dataset("jester", root=str(root), frames=4, size=8, channels=1,
                       val_fraction=0.5)
    g = (gray.test[0][0] * 255).round()
    assert gray.input_shape == (1, 4, 8, 8)
    assert [float(g[0, t, 3, 3]) for t in range(4)] == [17.0, 34.0, 51.0, 68.0]


def test_jester_jpeg_and_resize(tmp_path: Path) -> None:
    root, _ = _jester(tmp_path)
    flat = np.full((16, 24, 3), (200, 40, 90), np.uint8)
    _write_video(root / "404", [flat, flat], ext=".jpg")
    (root / "jester-v1-validation.csv").write_text("404;No gesture\n")
    b = get_dataset("jester", root=str(root), frames=2, size=8, val_fraction=0.5)
    x, y = b.test[0]
    assert int(y) == 2 and x.shape == (3, 2, 8, 8)
    expect = torch.tensor([200, 40, 90], dtype=torch.float32)[:, None, None, None] / 255
    assert float((x - expect).abs().max()) < 6 / 255  # JPEG is lossy on flat colour, barely


def test_jester_missing_and_malformed(tmp_path: Path) -> None:
    with pytest.raises(DatasetPathError) as err:
        get_dataset("jester", root=str(tmp_path / "none"))
    msg = _one_line(err.value)
    assert "jester-v1-labels.csv" in msg and "ROOT/<id>/00001.jpg" in msg
    root, _ = _jester(tmp_path)
    (root / "jester-v1-train.csv").write_text("101;Swiping Right\n202 No gesture\n")
    with pytest.raises(DatasetPathError) as err:
        get_dataset("jester", root=str(root))
    msg = _one_line(err.value)
    assert "jester-v1-train.csv:2: '202 No gesture' is not an 'id;label' line" in msg
    (root / "jester-v1-train.csv").write_text("101;Thumb Up\n")
    with pytest.raises(DatasetPathError, match="label 'Thumb Up' is not in jester-v1-labels"):
        get_dataset("jester", root=str(root))
    (root / "jester-v1-train.csv").write_text("999;Swiping Left\n")
    with pytest.raises(DatasetPathError, match="no frame folder for video '999'"):
        get_dataset("jester", root=str(root))
    (root / "jester-v1-train.csv").write_text("101;Swiping Left\n")
    (root / "101" / "00002.png").write_bytes(b"garbage")
    with pytest.raises(DatasetPathError, match="00002.png: not a readable image"):
        get_dataset("jester", root=str(root))
    os.remove(root / "jester-v1-validation.csv")
    with pytest.raises(DatasetPathError, match="lacks jester-v1-validation.csv"):
        get_dataset("jester", root=str(root))
