"""Weight quantizers with straight-through gradients: the torch side of ``QUANTIZERS``.

Every quantizer maps a real weight tensor ``w`` to ``w_hat = alpha * q`` where ``q`` lies exactly
on the quantizer's code values (:meth:`WeightQuantizer.code_values`) and ``alpha`` is one
per-layer scale (a positive constant that folds into the next normalization or threshold in
hardware). ``alpha`` is not trained by gradient (it is detached) except for LSQ, whose step size
is learned. :meth:`WeightQuantizer.quantize` returns ``(q, alpha)``; ``forward`` returns
``q * alpha``.

Scale (``scaling="lsfit"``, the default): ``alpha = sum(w q) / sum(q^2)``, the least-squares
reconstruction scale (XNOR-Net's ``mean|w|`` for sign, TWN's ``alpha`` for ternary);
``scaling="none"`` gives ``alpha = 1``.

Gradients (tested apart from values, Larq style), ``1{.}`` the indicator:

* ``sign``  (BinaryConnect, Courbariaux 2015): ``q = sign(w)`` (sign(0) = +1),
  ``dq/dw = 1{|w| <= clip_value}`` (Larq ``ste_sign``);
* ``twn``   (Li & Liu 2016): ``delta = 0.7 mean|w|``, ``q = sign(w) 1{|w| > delta}``,
  ``dq/dw = 1{|w| <= clip_value}``;
* ``btq``   (MOGNET's balanced ternary, our reading): threshold ``t`` = the 1/3 quantile of
  ``|w|`` so each of {-1, 0, +1} holds about a third of the weights; same gradient;
* ``heq``   (histogram-equalized quantization, docs/design.md, "Building blocks"):
  ``q = (2/(n-1)) round(clip(w/s, -(n-1)/2, (n-1)/2))`` for odd ``n`` and
  ``q = (2/(n-1)) (floor(clip(w/s, -(n-1)/2, (n-1)/2 - eps)) + 1/2)`` for even ``n`` (sign-style
  levels, no zero); thresholds ``t_k = (k - n/2) s``. ``s`` is refitted (not learned) from the
  weight n-quantiles ``q_k`` by least squares ``s* = sum c_k q_k / sum c_k^2``, ``c_k = k - n/2``
  and smoothed by ``s <- m s + (1 - m) s*``. ``dq/dw = (2/(n-1)) / s * 1{|w/s| <= n/2}`` (the
  clipped STE of the rounding: beyond ``n/2`` steps the rounding itself would leave the levels);
* ``lsq``   (Esser et al. 2020, learned step size): ``w_hat = s clip(round(w/s), -Qn, Qp)``
  with ``Qn = Qp = (n-1)/2`` for odd ``n`` and ``Qn = n/2, Qp = n/2 - 1`` for even ``n``;
  ``dw_hat/dw = 1{-Qn <= w/s <= Qp}``; ``dw_hat/ds`` as in the paper, scaled by
  ``g = 1 / sqrt(numel * max(Qp, 1))``. Here ``q`` is the integer code and ``alpha = s``.

Cost: every quantizer is a handful of vectorized tensor ops; HEQ and BTQ estimate quantiles on
a deterministic strided subsample of at most ``max_samples`` weights (no RNG is consumed), and
HEQ refits only every ``refit_every`` training steps (default 8). HEQ's forward runs as one
autograd node (:class:`HEQScaledSTE`: the same operations as ``heq_quantize``, ``lsfit_scale``
and the product, so the same values and gradients) and keeps its STE mask as float 0/1: on
CPU a bool mask costs several float ops to build and to multiply by.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from search_spaces.quantizers import FLOAT_BITS, QUANTIZERS, QuantizerInfo, add_weight_quantizer

# ----------------------------------------------------------------------------- STE functions


class SignSTE(torch.autograd.Function):
    """``sign(x)`` with sign(0) = +1; gradient ``g * 1{|x| <= clip}`` (Larq ``ste_sign``)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, clip: float) -> Tensor:
        ctx.save_for_backward(x.abs() <= clip)  # the STE mask, kept as bools
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (inside,) = ctx.saved_tensors
        return grad * inside, None


class TernarySTE(torch.autograd.Function):
    """``sign(x) 1{|x| > t}``; gradient ``g * 1{|x| <= clip}``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, threshold: Tensor, clip: float) -> Tensor:
        mag = x.abs()
        ctx.save_for_backward(mag <= clip)  # the STE mask, kept as bools
        return torch.sign(x) * (mag > threshold).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None


class HEQSTE(torch.autograd.Function):
    """HEQ's n-level rounding of ``x / s`` to ``[-1, 1]``; clipped STE (see module docstring)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, s: Tensor, n: int) -> Tensor:
        half = (n - 1) / 2
        u = x / s
        if n % 2:
            code = torch.round(u.clamp(-half, half))
        else:  # sign-style: half-integer codes, thresholds on the integers
            code = torch.floor(u).clamp(-n // 2, n // 2 - 1) + 0.5
        # the STE mask (bools) and the constant slope (2/(n-1))/s
        ctx.save_for_backward(u.abs() <= n / 2, (2.0 / (n - 1)) / s)
        return code * (2.0 / (n - 1))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        inside, slope = ctx.saved_tensors
        return grad * inside * slope, None, None


class HEQScaledSTE(torch.autograd.Function):
    """``alpha * Q(w; s)`` in one node: :class:`HEQSTE`, :func:`lsfit_scale` and the product.

    Same operations in the same order as ``q = heq_quantize(w, s, n)``,
    ``alpha = lsfit_scale(w, q)`` (``lsfit=False``: 1) and ``q * alpha``, so values and
    gradients are identical; one autograd node instead of two and the mask kept as floats.
    """

    @staticmethod
    def forward(ctx: Any, w: Tensor, s: Tensor, n: int, lsfit: bool) -> Tensor:
        half = (n - 1) / 2
        u = w / s
        if n % 2:
            code = torch.round(u.clamp(-half, half))
        else:
            code = torch.floor(u).clamp_(-n // 2, n // 2 - 1).add_(0.5)
        q = code.mul_(2.0 / (n - 1))
        slope = (2.0 / (n - 1)) / s
        inside = u.abs_().le_(n / 2)  # in place: the STE mask 1{|w/s| <= n/2} as floats
        if not lsfit:
            ctx.save_for_backward(inside, slope)
            return q
        alpha = ((w * q).sum() / (q * q).sum().clamp_min(1e-12)).clamp_min(1e-12)
        ctx.save_for_backward(inside, slope, alpha)
        return q.mul_(alpha)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None]:
        saved = ctx.saved_tensors
        inside, slope = saved[0], saved[1]
        # (grad * alpha) * mask * slope: the order of q * alpha's and HEQSTE's backward
        g = (grad * saved[2]).mul_(inside) if len(saved) == 3 else grad * inside
        return g.mul_(slope), None, None, None


def ste_sign(x: Tensor, clip_value: float = 1.0) -> Tensor:
    """Functional form of :class:`SignSTE`."""
    out: Tensor = SignSTE.apply(x, clip_value)
    return out


def ste_ternary(x: Tensor, threshold: Tensor | float, clip_value: float = 1.0) -> Tensor:
    """Functional form of :class:`TernarySTE`."""
    t = threshold if isinstance(threshold, Tensor) else torch.tensor(threshold, dtype=x.dtype)
    out: Tensor = TernarySTE.apply(x, t, clip_value)
    return out


def heq_quantize(w: Tensor, s: Tensor | float, n: int) -> Tensor:
    """``Q(w; s)`` of docs/design.md, "Building blocks", with its clipped STE; values in [-1, 1]."""
    st = s if isinstance(s, Tensor) else torch.tensor(s, dtype=w.dtype)
    out: Tensor = HEQSTE.apply(w, st, n)
    return out


def heq_code_values(n: int) -> tuple[float, ...]:
    """The n HEQ levels in [-1, 1]: ``(k - (n-1)/2) * 2/(n-1)``, k = 0..n-1.

    Computed in float32 exactly as :class:`HEQSTE` computes them, so equality tests are exact.
    """
    codes = torch.arange(n, dtype=torch.float32) - (n - 1) / 2
    return tuple(float(v) for v in codes * (2.0 / (n - 1)))


def heq_fit_step(w: Tensor, n: int, max_samples: int = 8192) -> Tensor:
    """Least-squares step size whose thresholds ``(k - n/2) s`` match the weight n-quantiles.

    docs/design.md, "Building blocks": ``s* = sum c_k q_k / sum c_k^2`` with
    ``c_k = k - n/2``, k = 1..n-1.
    For n = 2 (one threshold at 0) the fit is undefined; we return ``2 mean|w|`` so the STE's
    clip window ``|w| <= s`` covers most weights (our choice).
    """
    flat = subsample(w.detach().flatten(), max_samples)
    if n == 2:
        return (2.0 * flat.abs().mean()).clamp_min(1e-12)
    return torch.tensor(_heq_lsq_step(flat, n), dtype=w.dtype, device=w.device)


def _heq_lsq_step(flat: Tensor, n: int) -> float:
    """``max(sum c_k q_k / sum c_k^2, 1e-12)`` for n >= 3, as a Python float."""
    if flat.device.type == "cpu" and flat.dtype in (torch.float32, torch.float64):
        return _heq_lsq_step_numpy(flat.detach().numpy(), n)
    return _heq_lsq_from_quantiles(quantiles(flat, list(_heq_plan(n)[0])).tolist(), n)


def _heq_lsq_step_numpy(arr: Any, n: int) -> float:
    """:func:`_heq_lsq_step` of a float32/float64 numpy array: :func:`quantiles`' arithmetic."""
    values = np.sort(arr)
    lo, hi, frac = _quantile_plan(values.size, _heq_plan(n)[0])
    qk = np.asarray(values[lo] + frac * (values[hi] - values[lo]), dtype=values.dtype)
    return _heq_lsq_from_quantiles(qk.tolist(), n)


def _heq_lsq_from_quantiles(qk: list[float], n: int) -> float:
    _, ck, den = _heq_plan(n)
    num = sum(c * q for c, q in zip(ck, qk, strict=True))
    return max(num / den, 1e-12)


@functools.lru_cache(maxsize=16)
def _heq_plan(n: int) -> tuple[tuple[float, ...], tuple[float, ...], float]:
    """Quantile probabilities ``k/n``, coefficients ``c_k = k - n/2`` and ``sum c_k^2``."""
    ck = tuple(k - n / 2 for k in range(1, n))
    return tuple(k / n for k in range(1, n)), ck, sum(c * c for c in ck)


@functools.lru_cache(maxsize=256)
def _quantile_plan(size: int, probs: tuple[float, ...]) -> tuple[Any, Any, Any]:
    """Indices ``lo``, ``hi`` and weights ``frac`` of linear-interpolation quantiles."""
    pos = np.asarray(probs) * (size - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, size - 1)
    return lo, hi, pos - lo


def quantiles(flat: Tensor, probs: list[float]) -> Tensor:
    """``torch.quantile(flat, probs)`` (linear interpolation), computed with numpy on CPU.

    torch 2.x's CPU sort is about 100x slower than numpy's above ~2k elements, and this runs
    every training step; on other devices torch.quantile is used.
    """
    if flat.device.type != "cpu":
        return torch.quantile(flat, torch.tensor(probs, dtype=flat.dtype, device=flat.device))
    arr = flat.detach()
    if arr.dtype not in (torch.float32, torch.float64):
        arr = arr.float()
    values = np.sort(arr.numpy())
    lo, hi, frac = _quantile_plan(values.size, tuple(probs))
    out = values[lo] + frac * (values[hi] - values[lo])
    return torch.from_numpy(np.asarray(out, dtype=values.dtype)).to(flat.dtype)


def subsample(flat: Tensor, max_samples: int) -> Tensor:
    """A deterministic strided subsample of at most ``max_samples`` elements (no RNG used)."""
    if max_samples <= 0 or flat.numel() <= max_samples:
        return flat
    step = math.ceil(flat.numel() / max_samples)
    return flat[::step]


def lsfit_scale(w: Tensor, q: Tensor) -> Tensor:
    """``alpha = sum(w q) / sum(q^2)`` (detached): the least-squares reconstruction scale."""
    wd, qd = w.detach(), q.detach()
    # no host sync: an all-zero q gives alpha = 1e-12, and w_hat = 0 either way
    return ((wd * qd).sum() / (qd * qd).sum().clamp_min(1e-12)).clamp_min(1e-12)


class _GradScale(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return grad * ctx.scale, None


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return torch.round(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad


def lsq_quantize(w: Tensor, s: Tensor, qn: int, qp: int, grad_scale: float) -> Tensor:
    """LSQ (Esser et al. 2020): ``s * clip(round(w/s), -Qn, Qp)``, gradient of s scaled."""
    sg: Tensor = _GradScale.apply(s, grad_scale)
    code: Tensor = _RoundSTE.apply((w / sg).clamp(-qn, qp))
    return code * sg


# ----------------------------------------------------------------------------- registry

def register_weight_quantizer(name: str, *, levels: Iterable[int] | None = None
                              ) -> Callable[[type[WeightQuantizer]], type[WeightQuantizer]]:
    """Class decorator: the torch implementation of the weight quantizer ``name``.

    With ``levels`` it registers a new quantizer (its torch-free descriptor in
    :data:`search_spaces.quantizers.QUANTIZERS` and this class) in one place; without, it
    attaches the class to the built-in descriptor of that name. Replacing warns (the registry's
    one overwrite policy).
    """

    def deco(cls: type[WeightQuantizer]) -> type[WeightQuantizer]:
        cls.name = name
        if levels is not None:
            add_weight_quantizer(name, levels, impl=cls)
            return cls
        info = QUANTIZERS.get(name)
        if info.impl is not None and info.impl is not cls:
            warnings.warn(f"weight quantizer {name!r} implemented again: overwriting",
                          stacklevel=2)
        info.impl = cls
        return cls

    return deco


# ----------------------------------------------------------------------------- modules


class WeightQuantizer(nn.Module):
    """Base class: ``forward(w) = q * alpha``; ``quantize(w) -> (q, alpha)``.

    ``levels`` is the number of levels, ``bits`` (= ``precision``, Larq's name) the bits to store
    one weight, :meth:`code_values` the values ``q`` can take.
    """

    name: ClassVar[str] = ""

    def __init__(self, levels: int, scaling: str = "lsfit") -> None:
        super().__init__()
        if scaling not in ("lsfit", "none"):
            raise ValueError(f"scaling={scaling!r} must be 'lsfit' or 'none'")
        self.levels = levels
        self.scaling = scaling

    @property
    def info(self) -> QuantizerInfo:
        """The registered descriptor (levels, bits per weight)."""
        return QUANTIZERS.get(self.name)

    @property
    def bits(self) -> int:
        return self.info.bits(self.levels)

    @property
    def precision(self) -> int:
        return self.bits

    def code_values(self) -> tuple[float, ...]:
        raise NotImplementedError

    def codes(self, w: Tensor) -> Tensor:
        """The normalized codes ``q`` (values on :meth:`code_values`)."""
        raise NotImplementedError

    @property
    def code_factor(self) -> float:
        """``q * code_factor`` is the small signed integer the chip stores (1: ``q`` is one)."""
        return 1.0

    def int_codes(self, w: Tensor) -> Tensor:
        """The integer weight codes ``round(q * code_factor)`` with the STE of ``q`` (the
        deployed stage's weights: no ``alpha``, see :mod:`search_spaces.layers.deployed`)."""
        return _RoundSTE.apply(self.codes(w) * self.code_factor)  # type: ignore[no-any-return]

    def quantize(self, w: Tensor) -> tuple[Tensor, Tensor]:
        q = self.codes(w)
        if self.scaling == "none":
            return q, torch.ones((), dtype=w.dtype, device=w.device)
        return q, lsfit_scale(w, q)

    def forward(self, w: Tensor) -> Tensor:
        q, alpha = self.quantize(w)
        return q * alpha

    def extra_repr(self) -> str:
        return f"levels={self.levels}, bits={self.bits}"


@register_weight_quantizer("float")
class FloatWeights(WeightQuantizer):
    """Identity: full-precision weights (32 bits each)."""

    def __init__(self, levels: int = 0, **kwargs: Any) -> None:
        super().__init__(levels, scaling="none")

    @property
    def bits(self) -> int:
        return FLOAT_BITS

    def code_values(self) -> tuple[float, ...]:
        return ()

    def codes(self, w: Tensor) -> Tensor:
        return w

    def forward(self, w: Tensor) -> Tensor:
        return w


@register_weight_quantizer("sign")
class SignQuantizer(WeightQuantizer):
    """Binary {-1, +1} (BinaryConnect); STE clipped at ``clip_value``."""

    def __init__(self, levels: int = 2, clip_value: float = 1.0, scaling: str = "lsfit") -> None:
        super().__init__(levels, scaling)
        self.clip_value = clip_value

    def code_values(self) -> tuple[float, ...]:
        return (-1.0, 1.0)

    def codes(self, w: Tensor) -> Tensor:
        return ste_sign(w, self.clip_value)


@register_weight_quantizer("twn")
class TWNQuantizer(WeightQuantizer):
    """Ternary weight networks: ``delta = ratio * mean|w|`` (ratio 0.7, Li & Liu 2016)."""

    def __init__(self, levels: int = 3, ratio: float = 0.7, clip_value: float = 1.0,
                 scaling: str = "lsfit") -> None:
        super().__init__(levels, scaling)
        self.ratio = ratio
        self.clip_value = clip_value

    def code_values(self) -> tuple[float, ...]:
        return (-1.0, 0.0, 1.0)

    def threshold(self, w: Tensor) -> Tensor:
        return self.ratio * w.detach().abs().mean()

    def codes(self, w: Tensor) -> Tensor:
        return ste_ternary(w, self.threshold(w), self.clip_value)


@register_weight_quantizer("btq")
class BalancedTernaryQuantizer(WeightQuantizer):
    """MOGNET's balanced ternary (our reading): zero below the ``zero_fraction`` quantile of |w|.

    With ``zero_fraction = 1/3`` and a symmetric weight distribution each level holds a third.
    """

    def __init__(self, levels: int = 3, zero_fraction: float = 1.0 / 3.0,
                 clip_value: float = 1.0, max_samples: int = 8192,
                 scaling: str = "lsfit") -> None:
        super().__init__(levels, scaling)
        if not 0.0 < zero_fraction < 1.0:
            raise ValueError(f"zero_fraction={zero_fraction} must be in (0, 1)")
        self.zero_fraction = zero_fraction
        self.clip_value = clip_value
        self.max_samples = max_samples

    def code_values(self) -> tuple[float, ...]:
        return (-1.0, 0.0, 1.0)

    def threshold(self, w: Tensor) -> Tensor:
        flat = subsample(w.detach().abs().flatten(), self.max_samples)
        return quantiles(flat, [self.zero_fraction])[0]

    def codes(self, w: Tensor) -> Tensor:
        return ste_ternary(w, self.threshold(w), self.clip_value)


@register_weight_quantizer("heq")
class HEQQuantizer(WeightQuantizer):
    """Histogram-equalized n-level quantizer (HEQ); step size refitted to weight quantiles.

    ``refit_every``: refit ``s`` on training-mode calls 0, N, 2N, ... (the first call always
    fits; between refits ``s`` is held, while ``alpha`` is refitted on every call);
    ``momentum``: ``s <- m s + (1 - m) s*``; ``max_samples``: quantiles are estimated on a
    strided subsample of at most that many weights. In eval mode ``s`` is frozen.

    Default ``refit_every = 8`` (our choice; docs/design.md, "Building blocks" says only
    "refitted"): a refit costs a sort of the weights in numpy, about as much as the rest of
    the quantizer, while an SGD step moves the weight quantiles little; 8 keeps ``s`` at most
    7 optimizer steps old. Measured (benchmarks/qat_accuracy.py's digits network, 12 epochs,
    3 seeds): test accuracy 96.6 % refitting every step, 96.4 % every 8, 96.3 % every 16,
    within seed noise; ``refit_every=1`` restores the every-step fit.
    """

    step_size: Tensor
    num_calls: Tensor

    def __init__(self, levels: int = 3, momentum: float = 0.0, refit_every: int = 8,
                 max_samples: int = 8192, scaling: str = "lsfit") -> None:
        super().__init__(levels, scaling)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum={momentum} must be in [0, 1)")
        if refit_every < 1:
            raise ValueError(f"refit_every={refit_every} must be >= 1")
        self.momentum = momentum
        self.refit_every = refit_every
        self.max_samples = max_samples
        self.register_buffer("step_size", torch.zeros(()))
        self.register_buffer("num_calls", torch.zeros((), dtype=torch.long))
        # Python-side mirrors of the buffers, so a call reads no tensor (the buffers persist)
        self._fitted = False
        self._calls = 0

    def code_values(self) -> tuple[float, ...]:
        return heq_code_values(self.levels)

    @property
    def code_factor(self) -> float:
        """Odd n: ``(n-1)/2`` (codes ``-(n-1)/2..(n-1)/2``); even n: ``n-1`` (odd codes)."""
        n = self.levels
        return (n - 1) / 2 if n % 2 else float(n - 1)

    @torch.no_grad()
    def refit(self, w: Tensor) -> Tensor:
        """Refit ``s`` now (momentum-smoothed unless this is the first fit); returns it."""
        return self._refit(w)

    def _refit(self, w: Tensor) -> Tensor:
        first = not self._is_fitted()
        self._fitted = True
        if (self.levels > 2 and w.device.type == "cpu" and w.dtype == self.step_size.dtype
                and w.dtype in (torch.float32, torch.float64)
                and (first or self.momentum == 0.0)):
            # fast path, same value: s* from numpy as a Python float, rounded once to the
            # buffer's dtype as torch.tensor(s*) would (m s + (1 - m) s* with m = 0 is s*)
            arr = w.detach().numpy().reshape(-1)
            if 0 < self.max_samples < arr.size:
                arr = arr[::math.ceil(arr.size / self.max_samples)]  # as subsample()
            self.step_size.fill_(_heq_lsq_step_numpy(arr, self.levels))
            return self.step_size
        with torch.no_grad():
            target = heq_fit_step(w, self.levels, self.max_samples).to(self.step_size)
            if first:
                self.step_size.copy_(target)
            else:
                self.step_size.mul_(self.momentum).add_((1.0 - self.momentum) * target)
        return self.step_size

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        # The mirrors follow the loaded buffers: a quantizer called before the load (a
        # checkpoint's stages replayed on a fresh model) would keep its own call count, and a
        # resumed run would refit on other steps than the unbroken one.
        self._fitted, self._calls = False, 0

    def _is_fitted(self) -> bool:
        if not self._fitted and float(self.step_size) != 0.0:  # e.g. loaded from a state dict
            self._fitted = True
            self._calls = int(self.num_calls)
        return self._fitted

    def _step(self, w: Tensor) -> Tensor:
        """Count the call and refit on schedule; returns the step size to use."""
        if not self._is_fitted() or (self.training and self._calls % self.refit_every == 0):
            self._refit(w)
        if self.training:
            self._calls += 1
            self.num_calls.fill_(self._calls)
        return self.step_size

    def codes(self, w: Tensor) -> Tensor:
        return heq_quantize(w, self._step(w), self.levels)

    def forward(self, w: Tensor) -> Tensor:
        """``q * alpha`` as :meth:`quantize` gives it, computed in one autograd node."""
        out: Tensor = HEQScaledSTE.apply(w, self._step(w), self.levels,
                                         self.scaling == "lsfit")
        return out


@register_weight_quantizer("lsq")
class LSQQuantizer(WeightQuantizer):
    """Learned step size quantization (Esser et al. 2020); ``q`` = integer code, alpha = s.

    ``s`` is initialized on the first call to ``2 mean|w| / sqrt(max(Qp, 1))`` (the paper's).
    """

    def __init__(self, levels: int = 3, scaling: str = "lsfit") -> None:
        super().__init__(levels, scaling)
        n = levels
        self.qn, self.qp = ((n - 1) // 2, (n - 1) // 2) if n % 2 else (n // 2, n // 2 - 1)
        self.step_size = nn.Parameter(torch.zeros(()))
        self._initialized = False  # Python-side flag: no tensor read per call

    def code_values(self) -> tuple[float, ...]:
        return tuple(float(k) for k in range(-self.qn, self.qp + 1))

    @torch.no_grad()
    def _init_step(self, w: Tensor) -> None:
        init = 2.0 * w.detach().abs().mean() / math.sqrt(max(self.qp, 1))
        self.step_size.copy_(init.clamp_min(1e-8))

    def quantize(self, w: Tensor) -> tuple[Tensor, Tensor]:
        if not self._initialized:
            if float(self.step_size.detach()) == 0.0:  # not loaded from a state dict
                self._init_step(w)
            self._initialized = True
        g = 1.0 / math.sqrt(w.numel() * max(self.qp, 1))
        sg: Tensor = _GradScale.apply(self.step_size, g)
        code: Tensor = _RoundSTE.apply((w / sg).clamp(-self.qn, self.qp))
        return code, sg

    def codes(self, w: Tensor) -> Tensor:
        return self.quantize(w)[0]

    def forward(self, w: Tensor) -> Tensor:
        code, sg = self.quantize(w)
        return code * sg


__all__ = [
    "BalancedTernaryQuantizer", "FloatWeights", "HEQQuantizer", "HEQSTE", "HEQScaledSTE",
    "LSQQuantizer",
    "SignQuantizer", "SignSTE", "TWNQuantizer", "TernarySTE", "WeightQuantizer",
    "heq_code_values", "heq_fit_step", "heq_quantize",
    "lsfit_scale", "lsq_quantize", "quantiles",
    "register_weight_quantizer", "ste_sign", "ste_ternary", "subsample",
]
