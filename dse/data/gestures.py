"""``synthetic-gestures``: seeded procedural video clips with Jester-like motion classes.

Each clip is (C, T, H, W) (default (1, 8, 32, 32)) and shows one textured sprite -- a random
4x4 binary pattern, so it has no rotational symmetry in general -- moving in one of eight ways:

    0 swipe-left   1 swipe-right   2 swipe-up    3 swipe-down
    4 zoom-in      5 zoom-out      6 rotate-cw   7 rotate-ccw

What makes it learnable but not trivial (our design; the seed papers use Jester itself):
* the sprite's pattern, size, start angle, brightness and position are random per clip;
* every class has nuisance motion: swipes wobble in angle (+-0.15 rad) and zoom/rotate clips
  drift by up to 8 % of the frame;
* a static distractor sprite (dimmer, its own pattern) sits somewhere in every frame
  (``distractor=False`` leaves it out);
* the background level is random and Gaussian pixel noise (``noise``, std) is added, then
  values are clipped to [0, 1];
* rotate-cw vs rotate-ccw and zoom-in vs zoom-out differ only in the order of the frames, so
  a model must use time, not the appearance of single frames.

Screen convention: x to the right, y *down*; "cw" is clockwise as seen on screen (the angle
grows in image coordinates), "swipe-up" moves towards row 0.

Generation is vectorized numpy driven by ``numpy.random.default_rng(seed)``: the same seed
and parameters give bit-identical clips. Labels are balanced (clip i has class ``i % 8``);
the splits are fixed chunks of a seeded permutation (``val_fraction``, ``test_fraction``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dse.data import DatasetBundle, check_fraction, check_int, register_dataset
from dse.errors import UserError

NAME = "synthetic-gestures"
CLASSES = ("swipe-left", "swipe-right", "swipe-up", "swipe-down",
           "zoom-in", "zoom-out", "rotate-cw", "rotate-ccw")
PATTERN_CELLS = 4
_CHUNK = 256


def _validate(channels: Any, frames: Any, size: Any, clips: Any, noise: Any,
              val_fraction: Any, test_fraction: Any, distractor: Any, fold: Any) -> None:
    check_int("fold", fold, 0, NAME)
    if not isinstance(distractor, bool):
        raise UserError(f"dataset {NAME!r}: distractor={distractor!r} must be a boolean")
    check_int("channels", channels, 1, NAME)
    check_int("frames", frames, 2, NAME)
    check_int("size", size, 8, NAME)
    check_int("clips", clips, 3 * len(CLASSES), NAME)
    if isinstance(noise, bool) or not isinstance(noise, int | float) or not 0 <= noise <= 1:
        raise UserError(f"dataset {NAME!r}: noise={noise!r} must be a number in [0, 1]")
    v = check_fraction("val_fraction", val_fraction, NAME)
    t = check_fraction("test_fraction", test_fraction, NAME)
    if v + t >= 1:
        raise UserError(f"dataset {NAME!r}: val_fraction + test_fraction = {v + t} must be < 1")


def _patterns(rng: np.random.Generator, n: int) -> np.ndarray:
    """n random 4x4 binary patterns with 6..12 cells on (never blank, never solid)."""
    out = np.zeros((n, PATTERN_CELLS * PATTERN_CELLS), dtype=bool)
    counts = rng.integers(6, 13, size=n)
    keys = rng.random((n, PATTERN_CELLS * PATTERN_CELLS))
    ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
    out[:] = ranks < counts[:, None]
    return out.reshape(n, PATTERN_CELLS, PATTERN_CELLS)


def _render(pattern: np.ndarray, cx: np.ndarray, cy: np.ndarray, half: np.ndarray,
            angle: np.ndarray, size: int) -> np.ndarray:
    """Coverage in {0,1} of sprites, shape (n, T, size, size).

    pattern (n, 4, 4); cx, cy, half, angle (n, T): centre in pixels, half side in pixels,
    rotation in radians (clockwise on screen). Each pixel centre is mapped back into the
    sprite's frame, u = R(-angle) (p - c) / half in [-1, 1]^2, and looks up its cell.
    """
    coords = np.arange(size, dtype=np.float64) + 0.5
    px = coords[None, None, None, :]
    py = coords[None, None, :, None]
    dx = px - cx[..., None, None]
    dy = py - cy[..., None, None]
    cos = np.cos(angle)[..., None, None]
    sin = np.sin(angle)[..., None, None]
    h = half[..., None, None]
    u = (cos * dx + sin * dy) / h
    v = (-sin * dx + cos * dy) / h
    inside = (np.abs(u) < 1.0) & (np.abs(v) < 1.0)
    col = np.clip(((u + 1.0) * 0.5 * PATTERN_CELLS).astype(np.int64), 0, PATTERN_CELLS - 1)
    row = np.clip(((v + 1.0) * 0.5 * PATTERN_CELLS).astype(np.int64), 0, PATTERN_CELLS - 1)
    n_idx = np.arange(pattern.shape[0])[:, None, None, None]
    return (inside & pattern[n_idx, row, col]).astype(np.float32)


def motion_paths(labels: np.ndarray, rng: np.random.Generator, frames: int,
                 size: int) -> dict[str, np.ndarray]:
    """Per-clip trajectories (n, T): centre x/y and half side in pixels, angle in radians."""
    n = len(labels)
    t = np.linspace(0.0, 1.0, frames)[None, :] - 0.5          # (1, T), centred time
    base_half = size * rng.uniform(0.09, 0.2, n)[:, None]
    angle0 = rng.uniform(0, 2 * math.pi, n)[:, None]
    mid_x = size * (0.5 + rng.uniform(-0.22, 0.22, n))[:, None]
    mid_y = size * (0.5 + rng.uniform(-0.22, 0.22, n))[:, None]
    travel = size * rng.uniform(0.3, 0.5, n)[:, None]
    drift = size * rng.uniform(-0.08, 0.08, (n, 2))
    wobble = rng.uniform(-0.15, 0.15, n)[:, None]
    zoom = rng.uniform(1.8, 2.5, n)[:, None]
    spin = rng.uniform(0.5 * math.pi, 0.9 * math.pi, n)[:, None]

    lab = labels[:, None]
    swipe_dx = np.select([lab == 0, lab == 1], [-1.0, 1.0], 0.0)
    swipe_dy = np.select([lab == 2, lab == 3], [-1.0, 1.0], 0.0)
    is_swipe = lab < 4
    cx = mid_x + np.where(is_swipe, swipe_dx * travel, drift[:, :1]) * t
    cy = mid_y + np.where(is_swipe, swipe_dy * travel, drift[:, 1:]) * t
    # zoom: geometric growth by `zoom` over the clip, from 1/sqrt(zoom) to sqrt(zoom) times
    # the base size (in) or the reverse (out); other classes keep the base size
    log_scale = np.select([lab == 4, lab == 5], [np.log(zoom) * t, -np.log(zoom) * t], 0.0)
    half = base_half * np.exp(log_scale)
    turn = np.select([lab == 6, lab == 7], [spin, -spin], wobble)
    angle = angle0 + turn * t
    return {"cx": cx, "cy": cy, "half": half, "angle": angle}


def generate_clips(n: int, *, seed: int = 0, channels: int = 1, frames: int = 8,
                   size: int = 32, noise: float = 0.1,
                   distractor: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: x float32 (n, C, T, size, size) in [0, 1], y int64 (n,) with y[i] = i % 8."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n, dtype=np.int64) % len(CLASSES)
    paths = motion_paths(labels, rng, frames, size)
    sprite = _patterns(rng, n)
    clutter = _patterns(rng, n)
    brightness = rng.uniform(0.6, 1.0, n).astype(np.float32)
    clutter_level = rng.uniform(0.25, 0.5, n).astype(np.float32)
    clutter_xy = size * rng.uniform(0.15, 0.85, (n, 2))
    clutter_half = size * rng.uniform(0.08, 0.12, n)
    clutter_angle = rng.uniform(0, 2 * math.pi, n)
    background = rng.uniform(0.0, 0.2, n).astype(np.float32)
    tint = rng.uniform(0.5, 1.0, (n, channels)).astype(np.float32)
    tint[:, 0] = 1.0

    x = np.empty((n, channels, frames, size, size), dtype=np.float32)
    ones = np.ones((1, frames))
    for lo in range(0, n, _CHUNK):
        s = slice(lo, min(n, lo + _CHUNK))
        fg = _render(sprite[s], paths["cx"][s], paths["cy"][s], paths["half"][s],
                     paths["angle"][s], size)
        bg = _render(clutter[s], clutter_xy[s, :1] * ones, clutter_xy[s, 1:] * ones,
                     clutter_half[s, None] * ones, clutter_angle[s, None] * ones, size)
        frame = background[s, None, None, None] + clutter_level[s, None, None, None] * bg \
            * distractor
        # the moving sprite is opaque: it hides the distractor where they overlap
        frame = np.where(fg > 0, brightness[s, None, None, None], frame)
        x[s] = frame[:, None] * tint[s, :, None, None, None]
    if noise > 0:
        x += rng.normal(0.0, noise, x.shape).astype(np.float32)
    np.clip(x, 0.0, 1.0, out=x)
    return x, labels


def _describe(*, root: str | None = None, channels: int = 1, frames: int = 8, size: int = 32,
              clips: int = 1600, noise: float = 0.1, val_fraction: float = 0.15,
              test_fraction: float = 0.15, distractor: bool = True,
              fold: int = 0) -> tuple[tuple[int, ...], int]:
    _validate(channels, frames, size, clips, noise, val_fraction, test_fraction, distractor,
              fold)
    return (channels, frames, size, size), len(CLASSES)


@register_dataset(NAME, describe=_describe, resplit="fold")
def build_gestures(*, root: str | None = None, seed: int = 0, channels: int = 1,
                   frames: int = 8, size: int = 32, clips: int = 1600, noise: float = 0.1,
                   val_fraction: float = 0.15, test_fraction: float = 0.15,
                   distractor: bool = True, fold: int = 0) -> DatasetBundle:
    """Generate ``clips`` clips with ``seed`` and split them into train / val / test. The
    test clips depend on ``seed`` only; ``fold=f`` takes validation from the f-th (modulo
    their number) block of ``val_fraction`` of the other clips (fold 0: the first)."""
    import torch
    from torch.utils.data import TensorDataset

    _validate(channels, frames, size, clips, noise, val_fraction, test_fraction, distractor,
              fold)
    x_np, y_np = generate_clips(clips, seed=seed, channels=channels, frames=frames, size=size,
                                noise=float(noise), distractor=distractor)
    order = np.random.default_rng([seed, 1]).permutation(clips)
    n_val = int(round(clips * val_fraction))
    n_test = int(round(clips * test_fraction))
    rest = np.concatenate([order[:n_val], order[n_val + n_test:]])
    j = fold % max(1, len(rest) // max(1, n_val))
    in_val = np.zeros(len(rest), dtype=bool)
    in_val[j * n_val:(j + 1) * n_val] = True
    parts = (rest[~in_val], rest[in_val], order[n_val:n_val + n_test])
    x = torch.from_numpy(x_np)
    y = torch.from_numpy(y_np)
    train, val, test = (TensorDataset(x[torch.from_numpy(np.sort(p))],
                                      y[torch.from_numpy(np.sort(p))]) for p in parts)
    return DatasetBundle(name=NAME, train=train, val=val, test=test,
                         input_shape=(channels, frames, size, size), num_classes=len(CLASSES))
