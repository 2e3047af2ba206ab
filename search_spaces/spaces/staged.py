"""The staged network template and its knob vocabulary, shared by every shipped and user space.

A network is ``stages`` stages, then a head. Stage ``i`` is one *transition* block (it sets the
stage's width; the first one is the stem) followed by ``blocks_i`` blocks at that width, plain or
residual (gated skip). Stages 1..D downsample (stride 2, or a 2x2 max-pool, before the
transition), where D is the most halvings that keep the smaller spatial side >= ``min_spatial``;
so depth and downsampling adapt to the input size. The head is global average pooling and a
linear classifier, or (video) spatial pooling to a ``head_grid`` x ``head_grid`` map per frame
(C, T, g, g), a binarized LSTM over T that sees the C*g*g features of each frame, and a linear
classifier.

Every knob of :data:`VOCABULARY` takes one of these forms (in Python or in a YAML/TOML file):

* a scalar                          fixed;
* a list ``[a, b]`` or ``{choices: [a, b]}``   categorical;
* ``{low: 1, high: 4, step: 1}``    integer range (ints only);
* ``{per_stage: true, ...form...}``  one independent dimension per stage with the same domain;
* ``{per_stage: [form0, form1, ...]}`` one dimension per stage, each with its own domain.

A per-stage knob named ``width`` gives dimensions ``width_0``, ``width_1``, ...; stage ``i``'s
dimensions exist only when ``stages > i``. Conditions keep every dimension meaningful:

==================  ====================================================================
``expansion``       only when ``block == 'factorized'`` (mid channels = width x expansion)
``groups``          only where a grouped conv uses it (a plain conv stem is ungrouped)
``weight_bits``     only for quantizers with a choice of levels (heq, lsq): 1/2/3 bits ->
                    2/3/5 levels; sign is binary, btq and twn are ternary
``act_bits``        only when no OR-type gate (or, mux_or) is possible: such a gate needs
                    1-bit activations, so it forces 1-bit activations in the whole network
``ca``              only for factorized blocks (the second pointwise is CA-generated)
``ca_rule``         only where ``ca`` is true
``gate``            only when ``residual``; ``shift`` only when ``gate == 'mux'``;
                    ``threshold`` only for MUX-type gates
==================  ====================================================================

Repair rules (documented, the only two):

* a group count that does not divide the channels of the conv it applies to is reduced to
  ``gcd(groups, channels)``;
* a MUX skip shift is capped at ``act_bits - 1`` of its stage (shifting a b-bit code right by b
  or more gives a skip that is always zero).

A space where a repair can happen, or where a residual knob has a choice but every stage can
have zero blocks, reports ``size_is_exact = False`` (two assignments may give one spec).

This module never imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from search_spaces.quantizers import QUANTIZERS, multi_level_quantizers, searchable_quantizers
from search_spaces.spaces.base import (
    Cmp,
    Condition,
    Dim,
    SearchSpace,
    all_of,
    any_of,
    check_input_shape,
)
from search_spaces.spaces.knobs import Domain, KnobDef, KnobError, field_path, parse_domain
from search_spaces.spec import (
    CA_RULE_HYBRID,
    GATES,
    LSTM,
    ArchSpec,
    CAGen,
    Conv,
    Factorized,
    Layer,
    Linear,
    Pool,
    Residual,
    Shape,
)

#: 1/2/3-bit weights -> binary/ternary/quinary levels (HEQ, LSQ).
LEVELS_OF_BITS = {1: 2, 2: 3, 3: 5}
OR_GATES = ("or", "mux_or")
MUX_GATES = ("mux", "mux_or")


VOCABULARY: dict[str, KnobDef] = {k.name: k for k in (
    KnobDef("stages", int, 2, "number of stages (each: transition + blocks)", low=1, high=8),
    KnobDef("block", str, "conv", "block type", allowed=("conv", "factorized")),
    KnobDef("quantizer", str, "heq", "weight quantizer", allowed_from=searchable_quantizers),
    KnobDef("residual", bool, True, "blocks after the transition have a gated skip"),
    KnobDef("gate", str, "add", "residual gate", allowed=GATES),
    KnobDef("shift", int, 0, "MUX skip right-shift (bits)", low=0, high=7),
    KnobDef("threshold", float, 0.5, "MUX select threshold on the GAP of the skip", low=0,
            high=1),
    KnobDef("downsample", str, "stride", "how stages 1..D halve H and W",
            allowed=("stride", "pool")),
    KnobDef("width", int, 16, "channels of the stage", low=1, high=2048, per_stage=True),
    KnobDef("blocks", int, 1, "blocks after the transition", low=0, high=8, per_stage=True),
    KnobDef("kernel", int, 3, "spatial kernel (odd)", low=1, high=7, odd=True, per_stage=True),
    KnobDef("expansion", int, 1, "factorized mid channels = width x expansion", low=1, high=8,
            per_stage=True),
    KnobDef("groups", int, 1, "groups of the grouped conv (structural pruning)", low=1,
            high=1024, per_stage=True),
    KnobDef("weight_bits", int, 2, "weight bits (heq/lsq): 1/2/3 -> 2/3/5 levels",
            allowed=(1, 2, 3), per_stage=True),
    KnobDef("act_bits", int, 2, "activation bits", low=1, high=8, per_stage=True),
    KnobDef("norm", str, "bn", "normalization", allowed=("bn", "bsn"), per_stage=True),
    KnobDef("ca", bool, False, "second pointwise of factorized blocks is CA-generated",
            per_stage=True),
    KnobDef("ca_rule", str, CA_RULE_HYBRID, "CA rule: '90/150' hybrid or '0'..'255'",
            allowed=(CA_RULE_HYBRID, *(str(r) for r in range(256))), per_stage=True),
    KnobDef("head", str, "linear", "classifier head (lstm: video only)",
            allowed=("linear", "lstm")),
    KnobDef("lstm_hidden", int, 64, "LSTM hidden units", low=1, high=4096),
    KnobDef("head_pool", str, "avg", "spatial pooling before the LSTM", allowed=("avg", "max")),
    KnobDef("head_grid", int, 1, "side of the pooled map the LSTM sees per frame (pool kernel "
            "= side // head_grid)", low=1, high=64),
    KnobDef("lstm_weight_bits", int, 1, "LSTM weight bits (heq/lsq)", allowed=(1, 2, 3)),
    KnobDef("classifier_weight_bits", int, 2, "classifier weight bits (heq/lsq)",
            allowed=(1, 2, 3)),
)}
STAGE_KNOBS = tuple(k for k, d in VOCABULARY.items() if d.per_stage)
GLOBAL_KNOBS = tuple(k for k, d in VOCABULARY.items() if not d.per_stage)


# ---------------------------------------------------------------------------------- knob forms


@dataclass(frozen=True)
class Knob:
    """A knob's parsed form: one global domain, or one domain per stage."""

    name: str
    domain: Domain | None = None
    per_stage: tuple[Domain, ...] | None = None
    #: ``per_stage: true``: the same domain for each stage (expanded once stages are known).
    each: bool = False

    def stage_domain(self, i: int) -> Domain:
        if self.per_stage is None:
            assert self.domain is not None
            return self.domain
        return self.per_stage[i]

    def all_values(self) -> set[Any]:
        doms = self.per_stage if self.per_stage is not None else (self.domain,)
        return {v for d in doms if d is not None for v in d.values()}


def parse_knob(name: str, form: Any, path: tuple[str | int, ...] | None = None) -> Knob:
    """Parse one knob in any of the module-level forms; errors carry the path."""
    path = (name,) if path is None else path
    if name not in VOCABULARY:
        raise KnobError(path, f"{field_path(path)}: unknown dimension {name!r} (known: "
                        f"{', '.join(VOCABULARY)})")
    kdef = VOCABULARY[name]
    if isinstance(form, Mapping) and "per_stage" in form:
        if not kdef.per_stage:
            raise KnobError((*path, "per_stage"), f"{field_path(path)}: knob {name!r} is global "
                            "and cannot be per_stage")
        ps = form["per_stage"]
        rest = {k: v for k, v in form.items() if k != "per_stage"}
        if ps is True:
            if not rest:
                raise KnobError(path, f"{field_path(path)}: per_stage: true needs a domain beside "
                                "it (choices: [...] or low/high)")
            return Knob(name, domain=parse_domain(kdef, rest, path), each=True)
        if ps is False:
            return Knob(name, domain=parse_domain(kdef, rest, path))
        if isinstance(ps, list | tuple):
            if rest:
                raise KnobError((*path, sorted(rest)[0]), f"{field_path(path)}: unknown field "
                                f"{sorted(rest)[0]!r} beside a per_stage list")
            if not ps:
                raise KnobError((*path, "per_stage"), f"{field_path(path)}.per_stage must not be "
                                "empty")
            doms = tuple(parse_domain(kdef, f, (*path, "per_stage", i)) for i, f in
                         enumerate(ps))
            return Knob(name, per_stage=doms)
        raise KnobError((*path, "per_stage"), f"{field_path(path)}.per_stage={ps!r} must be true, "
                        "false or a list (one entry per stage)")
    return Knob(name, domain=parse_domain(kdef, form, path))


# ---------------------------------------------------------------------------------- geometry


def auto_stem_stride(input_shape: Shape) -> int:
    """Stem stride for the spatial axes: 1 below 48 px, 2 below 160 px, else 4 (our choice)."""
    side = min(input_shape[-2:])
    return 1 if side < 48 else 2 if side < 160 else 4


def auto_min_spatial(input_shape: Shape) -> int:
    """Smallest feature-map side after downsampling: 2 for inputs <= 16 px, else 4."""
    return 2 if min(input_shape[-2:]) <= 16 else 4


def downsample_budget(input_shape: Shape, stem_stride: int, min_spatial: int) -> int:
    """Most halvings (stride-2 conv or 2x2 pool, floor) that keep min(H,W) >= min_spatial."""
    side = min((s - 1) // stem_stride + 1 for s in input_shape[-2:])
    d = 0
    while side // 2 >= min_spatial:
        side //= 2
        d += 1
    return d


# ---------------------------------------------------------------------------------- the template


class StagedSpace(SearchSpace):
    """A space defined by knobs of :data:`VOCABULARY` over the staged template.

    ``knobs`` maps knob names to forms; missing knobs take their default. ``params``:

    * ``stem_stride``  spatial stride of the stem (default: :func:`auto_stem_stride`);
    * ``min_spatial``  smallest side after downsampling (default: :func:`auto_min_spatial`);
    * ``max_downsamples`` cap on D (default: no cap beyond ``min_spatial``);
    * ``temporal_downsamples`` video: how many of the downsampling stages also halve T (0).
    """

    accepted_params = ("stem_stride", "min_spatial", "max_downsamples", "temporal_downsamples")

    def __init__(self, input_shape: Sequence[int], num_classes: int, *,
                 knobs: Mapping[str, Any], name: str = "", description: str = "",
                 video: bool | None = None, stem_stride: int | None = None,
                 min_spatial: int | None = None, max_downsamples: int | None = None,
                 temporal_downsamples: int = 0) -> None:
        if name:
            self.name = name
        if description:
            self.description = description
        if video is not None:
            self.video = video
        super().__init__(input_shape, num_classes)
        shape = self.input_shape
        for pname, pval, lo in (("stem_stride", stem_stride, 1), ("min_spatial", min_spatial, 1),
                                ("max_downsamples", max_downsamples, 0),
                                ("temporal_downsamples", temporal_downsamples, 0)):
            if pval is not None and (not isinstance(pval, int) or isinstance(pval, bool)
                                     or pval < lo):
                raise ValueError(f"space {self.name!r}: {pname}={pval!r} must be an integer "
                                 f">= {lo}")
        self.stem_stride = auto_stem_stride(shape) if stem_stride is None else stem_stride
        self.min_spatial = auto_min_spatial(shape) if min_spatial is None else min_spatial
        d = downsample_budget(shape, self.stem_stride, self.min_spatial)
        self.downsamples = d if max_downsamples is None else min(d, max_downsamples)
        self.temporal_downsamples = temporal_downsamples
        self.knobs = self._parse_knobs(knobs)
        self._check_knobs()
        self.size_is_exact = not self._may_collide()

    # -- knobs ------------------------------------------------------------------------------
    def _parse_knobs(self, knobs: Mapping[str, Any]) -> dict[str, Knob]:
        parsed: dict[str, Knob] = {}
        for name in VOCABULARY:
            if name in knobs:
                parsed[name] = parse_knob(name, knobs[name])
            else:
                parsed[name] = Knob(name, domain=Domain(choices=(VOCABULARY[name].default,)))
        unknown = sorted(set(knobs) - set(VOCABULARY))
        if unknown:
            raise KnobError((unknown[0],), f"unknown dimension {unknown[0]!r} (known: "
                            f"{', '.join(VOCABULARY)})")
        smax = self.max_stages_of(parsed["stages"])
        for name, knob in parsed.items():
            if knob.each:
                assert knob.domain is not None
                parsed[name] = Knob(name, per_stage=(knob.domain,) * smax)
            elif knob.per_stage is not None and len(knob.per_stage) < smax:
                raise KnobError((name, "per_stage"), f"{name}.per_stage has "
                                f"{len(knob.per_stage)} entries but stages can be up to {smax}")
        return parsed

    @staticmethod
    def max_stages_of(knob: Knob) -> int:
        assert knob.domain is not None
        return max(int(v) for v in knob.domain.values())

    def _values(self, name: str) -> set[Any]:
        return self.knobs[name].all_values()

    def _check_knobs(self) -> None:
        """Reject knob combinations the template cannot build (not repairable)."""
        if "lstm" in self._values("head") and not self.video:
            raise KnobError(("head",), f"head='lstm' needs a video input (C,T,H,W); space "
                            f"{self.name!r} takes (C,H,W)")
        if self.temporal_downsamples and not self.video:
            raise ValueError(f"space {self.name!r}: temporal_downsamples="
                             f"{self.temporal_downsamples} needs a video input")
        t_left = self.input_shape[1] if self.video else 0
        for _ in range(min(self.temporal_downsamples, self.downsamples)):
            if t_left // 2 < 1:
                raise ValueError(f"space {self.name!r}: temporal_downsamples="
                                 f"{self.temporal_downsamples} halves T={self.input_shape[1]} "
                                 "below 1")
            t_left //= 2

    def _may_collide(self) -> bool:
        """Whether two assignments can give one spec (gcd repair, or unused residual knobs)."""
        widths = self._values("width")
        channels: set[int] = set(widths) if "conv" in self._values("block") else set()
        if "factorized" in self._values("block"):  # groups apply to the mid channels
            channels |= {w * e for w in widths for e in self._values("expansion")}
        if any(c % g for g in self._values("groups") for c in channels):
            return True
        if ("mux" in self._values("gate") and True in self._values("residual")
                and max(self._values("shift")) >= min(self._values("act_bits"))):
            return True  # the shift cap can merge shifts
        residual_knobs_vary = any(len(self._values(k)) > 1 for k in
                                  ("residual", "gate", "shift", "threshold"))
        if residual_knobs_vary:
            blocks = self.knobs["blocks"]
            for s in self.knobs["stages"].domain.values():  # type: ignore[union-attr]
                if all(0 in blocks.stage_domain(i).values() for i in range(int(s))):
                    return True
        return False

    # -- dimensions ---------------------------------------------------------------------------
    def _dimensions(self) -> list[Dim]:
        k = self.knobs
        dims: list[Dim] = []

        def add(name: str, when: Condition | None) -> None:
            dims.append(k[name].domain.dim(name, when, VOCABULARY[name].doc))  # type: ignore[union-attr]

        def stage_dim(name: str, i: int) -> str:
            return f"{name}_{i}" if k[name].per_stage is not None else name

        add("stages", None)
        smax = self.max_stages_of(k["stages"])
        for name in ("block", "quantizer", "residual"):
            add(name, None)
        add("gate", Cmp("residual", "==", True))
        add("shift", all_of(Cmp("residual", "==", True), Cmp("gate", "==", "mux")))
        add("threshold", all_of(Cmp("residual", "==", True), Cmp("gate", "in", MUX_GATES)))
        if self.downsamples >= 1:  # else no stage downsamples and the knob is not a dimension
            add("downsample", Cmp("stages", ">", 1))
        multi = Cmp("quantizer", "in", multi_level_quantizers())
        no_or_gate = any_of(Cmp("residual", "==", False), Cmp("gate", "not in", OR_GATES))
        factorized = Cmp("block", "==", "factorized")

        def used(name: str, i: int) -> Condition | None:
            """When stage i reads knob `name` (besides stages > i)."""
            if name == "expansion":
                return factorized
            if name == "groups":
                if i > 0:
                    return None
                return any_of(factorized, Cmp(stage_dim("blocks", 0), ">=", 1))
            if name == "weight_bits":
                return multi
            if name == "act_bits":
                return no_or_gate
            if name == "ca":
                return factorized
            if name == "ca_rule":
                return all_of(factorized, Cmp(stage_dim("ca", i), "==", True))
            return None

        late: list[str] = []
        for name in STAGE_KNOBS:
            if k[name].per_stage is not None:
                continue
            if name in ("groups", "ca_rule") and any(
                    k[dep].per_stage is not None for dep in ("blocks", "ca")):
                late.append(name)  # its condition reads per-stage dims: declare after them
                continue
            add(name, _any_stage([used(name, i) for i in range(smax)]))
        for i in range(smax):
            for name in STAGE_KNOBS:
                if k[name].per_stage is None:
                    continue
                when = all_of(_stage_on(i), used(name, i))
                dims.append(k[name].per_stage[i].dim(f"{name}_{i}", when,  # type: ignore[index]
                                                     f"{VOCABULARY[name].doc} (stage {i})"))
        for name in late:
            add(name, _any_stage([used(name, i) for i in range(smax)]))
        lstm = Cmp("head", "==", "lstm")
        add("head", None)
        add("lstm_hidden", lstm)
        add("head_pool", lstm)
        add("head_grid", lstm)
        add("lstm_weight_bits", all_of(lstm, multi))
        add("classifier_weight_bits", multi)
        return dims

    # -- build ------------------------------------------------------------------------------
    def _build(self, c: Mapping[str, Any]) -> ArchSpec:
        video = len(self.input_shape) == 4
        or_gate = bool(c["residual"]) and c["gate"] in OR_GATES
        layers: list[Layer] = []
        push = layers.append
        # The spatial (T,)H,W is tracked by arithmetic (ArchSpec validates the chain once):
        # an odd kernel with padding k//2 and stride s gives ceil(size/s); a pool floor(size/2).
        spatial = list(self.input_shape[1:])

        def stride(factor: int, temporal: bool) -> int | tuple[int, ...]:
            return (factor if temporal else 1, factor, factor) if video else factor

        def shrink(factor: int, temporal: bool, pool: bool) -> None:
            for axis in range(len(spatial)):
                if video and axis == 0 and not temporal:
                    continue
                spatial[axis] = spatial[axis] // factor if pool else \
                    (spatial[axis] - 1) // factor + 1

        in_ch = self.input_shape[0]
        ca_count = 0
        for i in range(c["stages"]):
            st = _Stage.of(c, i, or_gate)
            down = 0 < i <= self.downsamples
            temporal = down and i <= self.temporal_downsamples
            s: int | tuple[int, ...] = 1
            if i == 0 and self.stem_stride > 1:
                s = stride(self.stem_stride, False)
                shrink(self.stem_stride, False, pool=False)
            elif down and c.get("downsample") == "pool":
                push(Pool("max", kernel=stride(2, temporal)))
                shrink(2, temporal, pool=True)
            elif down:
                s = stride(2, temporal)
                shrink(2, temporal, pool=False)
            layer, ca_count = st.block(in_ch, s, stem=i == 0, ca_index=ca_count)
            push(layer)
            for _ in range(st.blocks):
                body, ca_count = st.block(st.width, 1, stem=False, ca_index=ca_count)
                if c["residual"]:
                    gate = c["gate"]
                    shift = min(c["shift"], st.act_bits - 1) if gate == "mux" else 0
                    push(Residual((body,), gate=gate, shift=shift,
                                  threshold=c["threshold"] if gate in MUX_GATES else 0.5))
                else:
                    push(body)
            in_ch = st.width

        quant = c["quantizer"]
        cls_quant, cls_levels = weight_quant(quant, c.get("classifier_weight_bits"))
        if c["head"] == "lstm":
            push(Pool(c["head_pool"], kernel=(1, *head_kernel(spatial[1:], c["head_grid"]))))
            lq, ll = weight_quant(quant, c.get("lstm_weight_bits"))
            push(LSTM(c["lstm_hidden"], weight_quant=lq, weight_levels=ll))
        else:
            push(Pool("global_avg"))
        push(Linear(self.num_classes, weight_quant=cls_quant, weight_levels=cls_levels))
        return ArchSpec(self.input_shape, self.num_classes, tuple(layers), name=self.name)


def head_kernel(side: Sequence[int], grid: int) -> tuple[int, ...]:
    """The LSTM head's spatial pool kernel (stride = kernel): ``side // grid`` per axis (at
    least 1), so the LSTM sees a ``grid`` x ``grid`` map of each frame (``floor(side / kernel)``
    per axis where ``grid`` does not divide the side; the side itself when ``grid`` exceeds
    it). ``grid = 1`` pools each frame to one value per channel.

    Why not always 1: with 1-bit activations the pooled value is re-binarized, so a frame
    pooled to 1 x 1 reaches the LSTM as C bits (is each channel on in half the frame?); the
    BILLNET-style ``billnet-gestures`` network trained that way collapses to chance when its
    activations are quantized (8.8 % test on the chip), and reaches 71.7 % with ``grid = 4``
    (docs/benchmarks.md, "front_quality")."""
    return tuple(max(1, int(s) // grid) for s in side)


def weight_quant(quantizer: str, bits: int | None) -> tuple[str, int]:
    """(quantizer, levels): sign -> 2, btq/twn -> 3, heq/lsq -> 2/3/5 for 1/2/3 bits."""
    info = QUANTIZERS.get(quantizer)
    if not info.multi_level:
        return quantizer, info.levels[0]
    if bits is None:
        raise ValueError(f"weight_bits is required for quantizer={quantizer!r}")
    return quantizer, LEVELS_OF_BITS[bits]


@dataclass(frozen=True)
class _Stage:
    """The resolved choices of one stage."""

    index: int
    factorized: bool
    width: int
    mid: int
    blocks: int
    kernel: int
    groups: int
    quant: str
    levels: int
    act_bits: int
    norm: str
    ca: bool
    ca_rule: str

    @classmethod
    def of(cls, c: Mapping[str, Any], i: int, or_gate: bool) -> _Stage:
        def sv(name: str) -> Any:
            return c.get(f"{name}_{i}", c.get(name))

        factorized = c["block"] == "factorized"
        quant, levels = weight_quant(c["quantizer"], sv("weight_bits"))
        width = sv("width")
        return cls(index=i, factorized=factorized, width=width,
                   mid=width * sv("expansion") if factorized else width, blocks=sv("blocks"),
                   kernel=sv("kernel"), groups=sv("groups") or 1, quant=quant, levels=levels,
                   act_bits=1 if or_gate else sv("act_bits"), norm=sv("norm"),
                   ca=bool(factorized and sv("ca")), ca_rule=sv("ca_rule") or CA_RULE_HYBRID)

    def block(self, cin: int, stride: int | tuple[int, ...], *, stem: bool,
              ca_index: int) -> tuple[Layer, int]:
        """One block reading ``cin`` channels; returns it and the next CA layer index."""
        if self.factorized:
            ca = None
            if self.ca:
                bpw = 1 if self.levels == 2 else 2  # the CA emits +-1 or ternary rows
                cells = max(8, self.mid * bpw)
                ca = CAGen(cells=cells, seed=_ca_seed(ca_index, cells), rule=self.ca_rule,
                           bits_per_weight=bpw)
                ca_index += 1
            return Factorized(self.width, self.mid, kernel=self.kernel, stride=stride,
                              groups=math.gcd(self.groups, self.mid), weight_quant=self.quant,
                              weight_levels=self.levels, act_bits=self.act_bits, norm=self.norm,
                              ca=ca), ca_index
        groups = 1 if stem else math.gcd(self.groups, cin, self.width)  # the stem is ungrouped
        return Conv(self.width, kernel=self.kernel, stride=stride, groups=groups,
                    weight_quant=self.quant, weight_levels=self.levels, act_bits=self.act_bits,
                    norm=self.norm), ca_index


class PresetSpace(StagedSpace):
    """A shipped space: a knob preset computed from the input shape, overridable per call.

    ``params`` may hold structural parameters (:attr:`StagedSpace.accepted_params`) and knob
    overrides in the vocabulary (e.g. ``act_bits=2`` or ``width={"per_stage": [...]}``).
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int, **params: Any) -> None:
        shape = tuple(input_shape)
        check_input_shape(self.name, shape, self.video)
        overrides = {k: v for k, v in params.items() if k in VOCABULARY}
        struct = {k: v for k, v in params.items() if k not in VOCABULARY}
        unknown = sorted(set(struct) - set(self.accepted_params))
        if unknown:
            raise ValueError(f"space {self.name!r}: unknown parameter {unknown[0]!r} (parameters: "
                             f"{', '.join(self.accepted_params)}; knobs: {', '.join(VOCABULARY)})")
        struct = {**self.default_params(shape), **struct}
        stem = struct.get("stem_stride") or auto_stem_stride(shape)
        min_sp = struct.get("min_spatial") or auto_min_spatial(shape)
        budget = downsample_budget(shape, stem, min_sp)
        if struct.get("max_downsamples") is not None:
            budget = min(budget, struct["max_downsamples"])
        knobs = {**self.preset(shape, budget), **overrides}
        super().__init__(shape, num_classes, knobs=knobs, **struct)

    @classmethod
    def default_params(cls, input_shape: Shape) -> dict[str, Any]:
        """Structural parameters this family sets for an input shape (overridable)."""
        return {}

    @classmethod
    def preset(cls, input_shape: Shape, downsamples: int) -> dict[str, Any]:
        """The family's knobs for an input shape with room for ``downsamples`` halvings."""
        raise NotImplementedError


def _stage_on(i: int) -> Condition | None:
    """Stage i exists: ``stages > i`` (always for stage 0)."""
    return Cmp("stages", ">", i) if i > 0 else None


def _any_stage(used: list[Condition | None]) -> Condition | None:
    """When a global knob is read: OR over stages i of (stages > i and stage i reads it).

    ``used[i]`` is stage i's own guard (None: always). Stage 0 always exists, so equal guards
    reduce to ``used[0]``.
    """
    if all(u == used[0] for u in used):
        return used[0]
    return any_of(*(c for c in (all_of(_stage_on(i), u) for i, u in enumerate(used))
                    if c is not None))


def _ca_seed(index: int, cells: int) -> int:
    """A deterministic nonzero seed per CA layer: golden-ratio hashing of the layer index."""
    return 1 + ((index + 1) * 0x9E3779B97F4A7C15) % ((1 << cells) - 1)


__all__ = [
    "GLOBAL_KNOBS", "LEVELS_OF_BITS", "STAGE_KNOBS", "VOCABULARY", "Domain", "Knob", "KnobDef",
    "KnobError", "PresetSpace", "StagedSpace", "auto_min_spatial", "auto_stem_stride",
    "downsample_budget", "head_kernel", "parse_domain", "parse_knob", "weight_quant",
]
