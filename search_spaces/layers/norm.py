"""Bit-shift normalization (BSN): one power-of-two scale per layer, one offset per channel.

Folded form (docs/design.md, "Building blocks"; our reading of the 1 Mb encoder's BSN):
``y_c = (x_c + o_c) * 2^(-k)`` with ``k`` an integer shared by the layer and ``o_c`` a
fixed-point offset with ``offset_frac_bits = f`` fractional bits (``o_c = O_c / 2^f``, ``O_c``
an integer; ``f = 0`` gives plain integer offsets). Hardware: one adder per channel and one
shifter per datapath.

Training: a :class:`BitShiftNorm` runs as an ordinary BatchNorm (affine) until :meth:`fold`
is called; folding turns the trained ``gamma, beta, mean, var`` into ``k`` and ``O_c``:

* ``k = round(-mean_c log2(|gamma_c| / sigma_c))``: the power of two nearest (in log domain,
  the least-squares fit) to the per-channel scales ``gamma_c / sigma_c``;
* the offset keeps BN's output at the channel mean: ``y(mu_c) = beta_c`` gives
  ``o_c = beta_c 2^k - mu_c``, rounded to a multiple of ``2^-f``.

A single positive shift cannot express a negative ``gamma_c``; such channels keep only the
magnitude (our reading: the paper's BSN has no per-channel sign).

:func:`bsn_act_codes_integer` is the hardware-exact integer form of ``BSN`` followed by a
``b``-bit activation: from an integer input it computes the output code with integer adds,
multiplies by ``L = 2^b - 1`` and shifts only; it equals the float form on integer inputs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from search_spaces.layers.activations import act_steps
from search_spaces.layers.deployed import bsn_codes, exact_ste, round_ste


def _channel(t: Tensor, like: Tensor) -> Tensor:
    return t.view(1, -1, *([1] * (like.dim() - 2)))


def fold_shift(gamma: Tensor, var: Tensor, eps: float) -> int:
    """Shared shift ``k = round(-mean_c log2(|gamma_c| / sqrt(var_c + eps)))``."""
    scale = gamma.detach().abs().clamp_min(1e-12) / torch.sqrt(var.detach() + eps)
    return int(torch.round(-torch.log2(scale).mean()).item())


def fold_offsets(gamma: Tensor, beta: Tensor, mean: Tensor, shift: int,
                 frac_bits: int) -> Tensor:
    """Integer offsets ``O_c = round((beta_c 2^k - mu_c) 2^f)`` (see module docstring)."""
    del gamma  # the offset keeps y(mu_c) = beta_c whatever the scale
    o = beta.detach() * (2.0 ** shift) - mean.detach()
    return torch.round(o * (2.0 ** frac_bits))


class BitShiftNorm(nn.Module):
    """BSN over channel axis 1 of (N, C, ...) tensors; BN until :meth:`fold`, then shift+offset.

    Buffers after folding: ``shift`` (k, an integer) and ``offset_int`` (``O_c``, integers).
    """

    running_mean: Tensor
    running_var: Tensor
    shift: Tensor
    offset_int: Tensor
    folded: Tensor
    d_shift: Tensor
    d_frac: Tensor
    d_ready: Tensor

    def __init__(self, channels: int, offset_frac_bits: int = 4, momentum: float = 0.1,
                 eps: float = 1e-5) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels={channels} must be >= 1")
        if offset_frac_bits < 0:
            raise ValueError(f"offset_frac_bits={offset_frac_bits} must be >= 0")
        self.channels = channels
        self.offset_frac_bits = offset_frac_bits
        self.momentum = momentum
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.register_buffer("shift", torch.zeros((), dtype=torch.long))
        self.register_buffer("offset_int", torch.zeros(channels))
        self.register_buffer("folded", torch.zeros((), dtype=torch.bool))
        # the deployed stage (see deployed_codes): shift k, offset binary point f, offsets
        # in code units (trained; stored as round(o 2^f) in offset_bits bits)
        self.register_buffer("d_shift", torch.zeros((), dtype=torch.long))
        self.register_buffer("d_frac", torch.zeros((), dtype=torch.long))
        self.register_buffer("d_ready", torch.zeros((), dtype=torch.bool))
        self.d_offset: nn.Parameter | None = None  # created on deployment (add_offsets)
        self.offset_bits = 8
        self.max_shift = 15

    @property
    def is_folded(self) -> bool:
        return bool(self.folded)

    @torch.no_grad()
    def fold(self) -> None:
        """Turn the trained BN statistics and affine into the shift and integer offsets."""
        k = fold_shift(self.weight, self.running_var, self.eps)
        self.shift.fill_(k)
        self.offset_int.copy_(fold_offsets(self.weight, self.bias, self.running_mean, k,
                                           self.offset_frac_bits))
        self.folded.fill_(True)

    def offsets(self) -> Tensor:
        """The per-channel offsets ``o_c = O_c 2^-f`` in input units."""
        return self.offset_int * (2.0 ** -self.offset_frac_bits)

    def _bcast(self, t: Tensor, x: Tensor) -> Tensor:
        return t.view(1, -1, *([1] * (x.dim() - 2)))

    def forward(self, x: Tensor) -> Tensor:
        if not self.is_folded:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                self.training, self.momentum, self.eps)
        scale = 2.0 ** -int(self.shift)
        return (x + self._bcast(self.offsets().to(x.dtype), x)) * scale

    # ------------------------------------------------------------------ deployed stage
    def add_offsets(self) -> nn.Parameter:
        """The deployed stage's trainable offsets (created once, before its optimizer)."""
        if self.d_offset is None:
            self.d_offset = nn.Parameter(torch.zeros(self.channels,
                                                     device=self.running_mean.device))
        return self.d_offset

    def offset_codes(self) -> Tensor:
        """The stored integer offsets ``O_c = clamp(round(o_c 2^f))`` (STE gradient)."""
        lim = 1 << (self.offset_bits - 1)
        scaled = self.add_offsets() * float(1 << int(self.d_frac))
        return round_ste(scaled).clamp(-lim, lim - 1)

    @torch.no_grad()
    def deploy_init(self, acc: Tensor, bits: int) -> None:
        """Fit the deployed shift and offsets to a batch of accumulators.

        As BN with the trained ``gamma, beta`` would map them onto codes (``z L``,
        ``z = gamma (acc - mu) / sigma + beta``): ``k = round(-mean_c log2(|gamma_c| L /
        sigma_c))`` clamped to ``0..max_shift``, ``o_c = beta_c L - mu_c 2^-k`` (code units);
        the binary point ``f`` is the largest ``<= offset_frac_bits`` at which every offset
        fits ``offset_bits`` bits.
        """
        steps = (1 << bits) - 1
        dims = [d for d in range(acc.dim()) if d != 1]
        mu = acc.double().mean(dim=dims)
        sigma = acc.double().std(dim=dims).clamp_min(1e-6)
        scale = (self.weight.double().abs().clamp_min(1e-12) * steps) / sigma
        k = int(torch.round(-torch.log2(scale).mean()).clamp(0, self.max_shift))
        o = self.bias.double() * steps - mu * 2.0 ** -k
        lim = (1 << (self.offset_bits - 1)) - 1
        frac = self.offset_frac_bits
        while frac > 0 and float(o.abs().max()) * (1 << frac) > lim:
            frac -= 1
        self.d_shift.fill_(k)
        self.d_frac.fill_(frac)
        offsets = self.add_offsets()
        offsets.copy_(o.to(offsets.dtype))
        self.d_ready.fill_(True)

    def deployed_codes(self, acc: Tensor, bits: int) -> Tensor:
        """``clamp(floor(acc 2^-k + O 2^-f + 1/2), 0, L)``, exact (int64), clipped STE."""
        if not bool(self.d_ready):
            self.deploy_init(acc, bits)
        k, f = int(self.d_shift), int(self.d_frac)
        o_int = self.offset_codes()
        y = acc * 2.0 ** -k + _channel(o_int, acc) * 2.0 ** -f
        code = bsn_codes(acc, k, o_int, f, bits)
        steps = float((1 << bits) - 1)
        return exact_ste(y, code, -0.5, steps + 0.5)

    def extra_repr(self) -> str:
        mode = f"folded, shift={int(self.shift)}" if self.is_folded else "bn"
        return f"{self.channels}, {mode}, offset_frac_bits={self.offset_frac_bits}"


def bsn_act_codes_integer(x_int: Tensor, shift: int, offset_int: Tensor, frac_bits: int,
                          act_bits: int) -> Tensor:
    """Hardware-exact BSN + ``act_bits`` activation: integer input -> integer output code.

    ``code = clamp(floor(((x 2^f + O_c) L + 2^(k+f-1)) / 2^(k+f)), 0, L)`` for ``k + f >= 1``
    (an arithmetic right shift with rounding), and ``clamp((x 2^f + O_c) L 2^-(k+f), 0, L)``
    otherwise (a left shift); ``L = 2^b - 1``. Equal to
    ``floor(clip((x + o_c) 2^-k, 0, 1) L + 1/2)``, the float form's code.
    """
    if x_int.dtype.is_floating_point:
        raise ValueError("x_int must be an integer tensor")
    steps = act_steps(act_bits)
    o = offset_int.to(torch.long).view(1, -1, *([1] * (x_int.dim() - 2)))
    acc = (x_int.to(torch.long) * (1 << frac_bits) + o) * steps
    total = shift + frac_bits
    if total >= 1:
        code = (acc + (1 << (total - 1))) >> total  # >> on int64 is floor division
    else:
        code = acc << (-total)
    return code.clamp(0, steps)


def bsn_act_codes_float(x: Tensor, norm: BitShiftNorm, act_bits: int) -> Tensor:
    """The float form's output code: ``round_half_up(clip(BSN(x), 0, 1) L)``."""
    steps = act_steps(act_bits)
    y = norm(x)
    return torch.floor(y.clamp(0.0, 1.0) * steps + 0.5).to(torch.long)


__all__ = ["BitShiftNorm", "bsn_act_codes_float", "bsn_act_codes_integer", "fold_offsets",
           "fold_shift"]
