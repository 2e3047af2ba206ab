"""The torch side of deployment: the deployed stage and the integer image of a trained model.

* :func:`set_deployed` switches a built model (:func:`search_spaces.build.build_model`) into its
  deployed form: every tensor in code space, every requantization the chip's integer one
  (:mod:`search_spaces.layers.deployed`). The trainer calls it at the start of a stage with
  ``deployed=True`` (the last stage of a deployable schedule), so the model trained last *is*
  the integer machine.
* :func:`integer_image` reads a deployed model's integer parameters into a
  :class:`hwmodel.golden.IntegerImage` (validated against the layout the cost model charges).
* :func:`torch_codes` runs the torch model and returns every layer's output codes by layer
  path, for comparison with :func:`hwmodel.golden.execute`.

Semantics: docs/design.md, "Integer semantics".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from hwmodel.cost import CostParams
from hwmodel.golden import IntegerImage, ParamArray, ca_param_values, layout
from hwmodel.ir import lower
from search_spaces.build import ConvBlock, TinyNet, set_quantization
from search_spaces.layers.conv import CAPointwise, QuantWeightModule
from search_spaces.layers.deployed import bn_thresholds
from search_spaces.layers.norm import BitShiftNorm
from search_spaces.spec import (
    FLOAT_BITS,
    LSTM,
    ArchSpec,
    Conv,
    Factorized,
    Layer,
    Linear,
    Residual,
)


@dataclass(frozen=True)
class LeafModules:
    """The torch modules behind one leaf layer path: the one whose output is the layer's
    output codes, the one holding its weights (or None), its normalization (or None)."""

    output: nn.Module
    weights: nn.Module | None = None
    norm: nn.Module | None = None


def _walk(path: str, layer: Layer, module: nn.Module) -> Iterator[tuple[str, LeafModules]]:
    if isinstance(layer, Residual):
        body = cast(nn.Sequential, module.body)
        for i, member in enumerate(layer.body):
            yield from _walk(f"{path}.body[{i}]", member, body[i])
        yield path, LeafModules(module)
    elif isinstance(layer, Factorized):
        assert isinstance(module, ConvBlock)
        convs = cast(nn.Sequential, module.conv)
        subs = [sub for sub, _ in layer.expand((0,))]
        for i, sub in enumerate(subs):
            last = i == len(subs) - 1
            yield f"{path}.{sub}", LeafModules(module if last else convs[i], convs[i],
                                               module.norm if last else None)
    elif isinstance(layer, Conv | Linear):
        assert isinstance(module, ConvBlock)
        yield path, LeafModules(module, module.conv, module.norm)
    elif isinstance(layer, LSTM):
        yield path, LeafModules(module, module)
    else:
        yield path, LeafModules(module)


def leaf_modules(model: TinyNet) -> dict[str, LeafModules]:
    """Every leaf layer path of ``model.spec`` (as :meth:`ArchSpec.iter_layers` names them)
    with its torch modules."""
    out: dict[str, LeafModules] = {}
    for info, module in zip(model.spec.top_layers(), model.layers, strict=True):
        out.update(_walk(info.path, info.layer, module))
    return out


def _logit_scale(model: TinyNet) -> float:
    """``1 / (code factor * L_in)`` of the last layer: times its ``alpha``
    (:meth:`TinyNet.last_alpha`) and the integer logits, the float-scale model's logits."""
    infos = model.spec.top_layers()
    conv = getattr(model.layers[-1], "conv", None)
    if not isinstance(conv, QuantWeightModule):
        return 1.0
    in_bits = infos[-1].in_bits
    lstm_input = len(infos) > 1 and isinstance(infos[-2].layer, LSTM)
    steps = 1 if lstm_input or in_bits >= FLOAT_BITS else (1 << in_bits) - 1
    return 1.0 / (conv.quantizer.code_factor * steps)


def set_deployed(model: nn.Module, on: bool = True, params: CostParams | None = None) -> None:
    """Switch ``model`` into (``on``) or out of its deployed, integer form.

    ``model`` is a built :class:`TinyNet` or a module holding them (a codec's on-chip encoder
    beside its off-chip decoder: only the TinyNets deploy).

    Raises :class:`hwmodel.golden.NotDeployable` when the spec has no integer form. Switching
    on quantizes everything, restarts the BN running statistics (they move to accumulator
    units), lets each BSN fit its shift and offsets to the first batch it sees, and has the
    loss see the integer logits at the float-scale model's scale, the last layer's current
    ``alpha`` over its input's code scale (a temperature of the loss, not of the chip: the
    float-scale model's logits sharpen as that ``alpha`` grows with the weights; with the
    scale frozen at deployment, training slowed). The BSN offset width and the largest shift
    are the cost model's (:class:`CostParams`).
    """
    nets = [m for m in model.modules() if isinstance(m, TinyNet)]
    if not nets:
        raise TypeError(f"model must be or hold a TinyNet (build_model), got "
                        f"{type(model).__name__}")
    for net in nets:
        _set_deployed(net, on, params if params is not None else CostParams())


def _set_deployed(model: TinyNet, on: bool, params: CostParams) -> None:
    if on:
        layout(model.spec, params)  # NotDeployable names the part
        set_quantization(model, weights=True, activations=True, lstm_gates=True)
    fresh = on and not model.deployed
    for module in model.modules():
        fn: Any = getattr(module, "set_deployed", None)
        if fn is not None:
            fn(on)
        if not fresh:
            continue
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module._deploy_momentum = module.momentum  # type: ignore[assignment]
        elif isinstance(module, BitShiftNorm):
            module.offset_bits = params.bsn_offset_bits
            module.max_shift = params.bsn_max_shift
            module.d_ready.fill_(False)
            module.add_offsets()
    if fresh:
        model.logit_scale.fill_(_logit_scale(model))


def _require_deployed(model: TinyNet) -> None:
    if not model.deployed:
        raise ValueError("model: not deployed (train it through a stage with deployed=True, "
                         "or call set_deployed and run a batch)")
    for m in model.modules():
        if isinstance(m, BitShiftNorm) and not bool(m.d_ready):
            raise ValueError("model: a BSN layer has not seen a batch in deployed mode yet")


@torch.no_grad()
def torch_codes(model: nn.Module, x: Tensor, batch_size: int = 1024
                ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The deployed torch model's integer logits and every leaf layer's output codes (and
    ``"input"``) on ``x`` (N, *input_shape) in [0, 1], in eval mode, as int64 arrays."""
    if not isinstance(model, TinyNet):
        raise TypeError(f"model must be a TinyNet (build_model), got {type(model).__name__}")
    _require_deployed(model)
    leaves = leaf_modules(model)
    was = model.training
    model.eval()
    chunks: dict[str, list[np.ndarray]] = {p: [] for p in ["input", *leaves]}
    hooks = []
    current: dict[str, Tensor] = {}

    def hook(path: str) -> Any:
        def fn(_m: nn.Module, _i: Any, out: Tensor) -> None:
            current[path] = out
        return fn

    for path, mods in leaves.items():
        hooks.append(mods.output.register_forward_hook(hook(path)))
    device = next(model.buffers()).device
    try:
        for lo in range(0, len(x), batch_size):
            xb = x[lo:lo + batch_size].to(device)
            current.clear()
            model(xb)
            steps = (1 << model.spec.input_bits) - 1
            current["input"] = xb.clamp(0.0, 1.0).mul(steps).add_(0.5).floor_()
            for path, out in current.items():
                chunks[path].append(_as_int(path, out))
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    codes = {p: np.concatenate(v) for p, v in chunks.items()}
    last = next(reversed(leaves))
    return codes[last], codes


def _as_int(path: str, t: Tensor) -> np.ndarray:
    t = t.detach()
    if t.is_floating_point() and not bool(torch.equal(t, torch.round(t))):
        raise ValueError(f"{path}: the deployed model produced non-integer values")
    return t.to(torch.int64).cpu().numpy()  # type: ignore[no-any-return]


def _weight_codes(module: nn.Module) -> np.ndarray:
    assert isinstance(module, QuantWeightModule)
    q = module.quantizer
    was = q.training
    q.eval()
    with torch.no_grad():
        codes = q.int_codes(module.weight)
    q.train(was)
    return codes.detach().cpu().round().to(torch.long).numpy()


@torch.no_grad()
def integer_image(model: nn.Module, spec: ArchSpec | None = None,
                  params: CostParams | None = None) -> IntegerImage:
    """The integer parameter image of a deployed model (see the module docstring).

    Thresholds are stored at the accumulator width the cost model charges; one that lies
    beyond the accumulator's range is stored at the range's end, which changes no code unless
    an accumulator can reach that end (then ``ValueError``: the layer needs one more bit).
    """
    if not isinstance(model, TinyNet):
        raise TypeError(f"model must be a TinyNet (build_model), got {type(model).__name__}")
    spec = spec if spec is not None else model.spec
    if spec.hash != model.spec.hash:
        raise ValueError("integer_image: spec differs from the model's")
    params = params if params is not None else CostParams()
    _require_deployed(model)
    leaves = leaf_modules(model)
    infos = {i.path: i for i in spec.iter_layers()}
    a_bits = {op.path: op.a_bits for op in lower(spec) if op.is_matrix}
    layers: dict[str, dict[str, ParamArray]] = {}
    for path, specs in layout(spec, params).items():
        mods, info = leaves[path], infos[path]
        arrays: dict[str, ParamArray] = {}
        w_codes: np.ndarray | None = None
        for name, s in specs.items():
            frac = 0
            if name in ("ca_seed", "ca_rule"):
                assert isinstance(info.layer, Conv) and info.layer.ca is not None
                assert isinstance(mods.weights, CAPointwise)
                values = ca_param_values(info.layer.ca)[name]
            elif name == "weight":
                assert mods.weights is not None
                values = w_codes = _weight_codes(mods.weights)
            elif name in ("bsn_shift", "bsn_offset"):
                norm = mods.norm
                assert isinstance(norm, BitShiftNorm)
                if name == "bsn_shift":
                    values = np.array([int(norm.d_shift)], dtype=np.int64)
                else:
                    values = norm.offset_codes().detach().cpu().to(torch.long).numpy()
                    frac = int(norm.d_frac)
            else:
                norm = mods.norm
                assert isinstance(norm, nn.modules.batchnorm._BatchNorm)
                thr, rev = bn_thresholds(norm, info.out_bits)
                if name == "direction":
                    values = rev.cpu().to(torch.long).numpy()
                else:
                    lo, hi = s.value_range()
                    bound = _reach(info.in_bits, a_bits[path], info.in_shape[0], w_codes)
                    t = thr.cpu().numpy()
                    if bound >= hi and np.any((t > hi) | (t < lo)):
                        raise ValueError(f"{path}: an accumulator can reach {bound}, the end "
                                         f"of its {s.bits}-bit range; a threshold beyond it "
                                         "needs one more bit")
                    values = np.clip(t, lo, hi).astype(np.int64)
            arrays[name] = ParamArray(name, np.asarray(values, dtype=np.int64), s.bits,
                                      s.signed, s.encoding, s.memory, frac)
        layers[path] = arrays
    image = IntegerImage(spec, layers, params)
    image.validate()
    return image


def _reach(spec_in_bits: int, hw_in_bits: int, channels: int,
           w_codes: np.ndarray | None) -> int:
    """The largest |accumulator| a layer can produce: its input is unsigned codes, or (the
    spec leaves it unquantized) a signed accumulator of the hardware width."""
    signed = spec_in_bits >= FLOAT_BITS
    x_max = (1 << (hw_in_bits - 1)) if signed else (1 << hw_in_bits) - 1
    if w_codes is None:  # a CA layer: rows of +-1 or ternary weights
        return channels * x_max
    per_out = np.abs(w_codes.reshape(w_codes.shape[0], -1)).sum(axis=1)
    return int(per_out.max() * x_max)


def predictions(model: nn.Module, x: Tensor, image: IntegerImage | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(the chip's classes, the torch model's classes) on ``x`` (N, *input_shape) in [0, 1]:
    argmax of :func:`hwmodel.golden.execute`'s integer logits and of the deployed torch
    model's logits (eval mode). Equal, unless the torch forward left the integers."""
    from hwmodel.golden import execute, input_codes

    if not isinstance(model, TinyNet):
        raise TypeError(f"model must be a TinyNet (build_model), got {type(model).__name__}")
    image = image if image is not None else integer_image(model)
    chip = execute(model.spec, image, input_codes(model.spec, x.numpy())).predict()
    was = model.training
    model.eval()
    device = next(model.buffers()).device
    with torch.no_grad():
        ours = np.concatenate([model(x[lo:lo + 1024].to(device)).argmax(dim=1).cpu().numpy()
                               for lo in range(0, len(x), 1024)])
    model.train(was)
    return chip, ours


__all__ = ["LeafModules", "integer_image", "leaf_modules", "predictions", "set_deployed",
           "torch_codes"]
