"""``asic-encoder-codec``: the 1 Mb mixed-precision encoder as a patch-wise image encoder.

Our reading of the seed paper's second use (abstract only): the same reconfigurable encoder
(per-layer 3b/2b/1b HEQ weights, groups as structural pruning, 2-bit activations, bit-shift
normalization: the ``asic-encoder`` vocabulary and preset, reused here) runs on one (C, P, P)
patch of an image at a time and emits ``M`` binary measurements per patch; a decoder off chip
(not costed, see :mod:`dse.codec`) rebuilds the whole image from the map of patch codes.

Each spec is the encoder for one patch: input (C, P, P), the staged conv body, then the
binary bottleneck ``Linear(M, act_bits=1, norm="bsn")`` on the *flattened* last feature map
(not on a global average: a code must keep where in the patch things are), so
``spec.num_classes == M`` and the built model outputs M Heaviside bits in {0, 1}. The rate
is ``M / P^2`` bits per pixel (:func:`bits_per_pixel`).

Dimensions, before the ``asic-encoder`` ones:

* ``patch`` (P): patch side, from ``patch_sizes`` (default 8 and 16), those that divide the
  input's H and W. P is the encoder's input size, so it is a dimension here rather than a
  space parameter: one study then spans rates from ``4/256`` to ``32/64`` bits per pixel.
  Both patch sizes get the same staged dimensions (the ``asic-encoder`` preset only depends
  on sides below/above 32 px), with the downsampling depth fitted to each P.
* ``code_bits`` (M): bits per patch, from ``code_bits`` (default 4, 8, 16, 32).

The space's own ``input_shape`` is the image (or crop) shape (C, H, W) the codec is trained
on, and ``num_classes`` is unused: unlike a classification space, a spec's input is
(C, P, P) and its output M, both given by the choices (:meth:`AsicEncoderCodecSpace.io_of`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from search_spaces.spaces.asic_encoder import AsicEncoderSpace
from search_spaces.spaces.base import Categorical, Dim, SearchSpace, check_input_shape
from search_spaces.spaces.registry import SPACES
from search_spaces.spaces.staged import PresetSpace, weight_quant
from search_spaces.spec import ArchSpec, Linear, Pool, Shape

PATCH_SIZES = (8, 16)
CODE_BITS = (4, 8, 16, 32)
#: The bottleneck's activation: 1 bit (Heaviside {0, 1}) -> one transmitted bit per output.
CODE_ACT_BITS = 1


def bits_per_pixel(spec: ArchSpec) -> float:
    """Rate of a patch encoder spec: ``M / P^2`` (M output bits per (C, P, P) patch)."""
    h, w = spec.input_shape[-2:]
    return spec.num_classes / (h * w)


class _CodecBody(PresetSpace):
    """The ``asic-encoder`` staged body for one patch size (its head is replaced)."""

    name = "asic-encoder-codec"
    video = False

    @classmethod
    def preset(cls, input_shape: Shape, downsamples: int) -> dict[str, Any]:
        return AsicEncoderSpace.preset(input_shape, downsamples)


@SPACES.register("asic-encoder-codec")
class AsicEncoderCodecSpace(SearchSpace):
    name = "asic-encoder-codec"
    description = ("patch encoder for image compression: asic-encoder body, binary "
                   "M-bit code per PxP patch")
    video = False
    accepted_params = ("patch_sizes", "code_bits")

    def __init__(self, input_shape: Sequence[int], num_classes: int, *,
                 patch_sizes: Sequence[int] = PATCH_SIZES,
                 code_bits: Sequence[int] = CODE_BITS, **knobs: Any) -> None:
        shape = tuple(input_shape)
        check_input_shape(self.name, shape, False)
        for pname, values in (("patch_sizes", patch_sizes), ("code_bits", code_bits)):
            if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                     for v in values):
                raise ValueError(f"space {self.name!r}: {pname}={list(values)!r} must be a "
                                 "non-empty list of positive integers")
        c, h, w = shape
        patches = tuple(p for p in patch_sizes if h % p == 0 and w % p == 0)
        if not patches:
            raise ValueError(f"space {self.name!r}: no patch size in {list(patch_sizes)} "
                             f"divides the input's H x W = {h}x{w}")
        super().__init__(shape, max(2, int(num_classes)))  # num_classes is unused
        self.patches = patches
        self.code_bits = tuple(code_bits)
        self.bodies = {p: _CodecBody((c, p, p), 2, **knobs) for p in patches}
        first = self.bodies[patches[0]].describe_dimensions()
        for p, body in self.bodies.items():
            if body.describe_dimensions() != first:
                raise ValueError(f"space {self.name!r}: patch {p} gives other dimensions than "
                                 f"patch {patches[0]} (override knobs that depend on the size)")
        self.size_is_exact = all(b.size_is_exact for b in self.bodies.values())

    def io_of(self, choices: Mapping[str, Any]) -> tuple[Shape, int]:
        """(spec input shape (C, P, P), spec output size M) of an assignment."""
        full = self.resolve(choices)
        p = int(full["patch"])
        return (self.input_shape[0], p, p), int(full["code_bits"])

    def _dimensions(self) -> list[Dim]:
        dims: list[Dim] = [
            Categorical("patch", None, "patch side P (the encoder's input is C x P x P)",
                        choices=self.patches),
            Categorical("code_bits", None, "binary code bits M per patch (rate M/P^2 bpp)",
                        choices=self.code_bits),
        ]
        return dims + list(self.bodies[self.patches[0]].dimensions())

    def _build(self, c: Mapping[str, Any]) -> ArchSpec:
        p, m = int(c["patch"]), int(c["code_bits"])
        body = self.bodies[p]
        inner = body._build({k: v for k, v in c.items() if k not in ("patch", "code_bits")})
        layers = inner.layers
        assert isinstance(layers[-2], Pool) and isinstance(layers[-1], Linear)
        quant, levels = weight_quant(c["quantizer"], c.get("classifier_weight_bits"))
        code = Linear(m, weight_quant=quant, weight_levels=levels, act_bits=CODE_ACT_BITS,
                      norm="bsn")
        return ArchSpec(body.input_shape, m, (*layers[:-2], code), name=self.name)
