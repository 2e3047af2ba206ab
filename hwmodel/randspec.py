"""Random valid ArchSpecs over every layer kind, for consistency tests and throughput benchmarks.

Not a search space (those live in ``search_spaces/spaces``): a broad generator that mixes 2-D
and 3-D convolutions, grouped and CA-generated layers, every residual gate, BN/BSN, pooling,
linear and LSTM heads, with channel counts drawn from small sets so candidates share layers as
real search-space samples do.
"""

from __future__ import annotations

import random

from search_spaces.spec import (
    LSTM,
    ArchSpec,
    CAGen,
    Conv,
    Factorized,
    Layer,
    Linear,
    Pool,
    Residual,
)

_WQ = (("sign", 2), ("btq", 3), ("twn", 3), ("heq", 3), ("heq", 5), ("lsq", 4))


def _wq(rng: random.Random) -> dict[str, object]:
    q, n = rng.choice(_WQ)
    return {"weight_quant": q, "weight_levels": n}


def _conv(rng: random.Random, cin: int, cout: int, bits: int, kernel: int = 3) -> Conv:
    groups = rng.choice([g for g in (1, 2, 4) if cin % g == 0 and cout % g == 0])
    return Conv(cout, kernel=kernel, groups=groups, act_bits=bits,
                norm=rng.choice(("bn", "bsn", "none")), **_wq(rng))  # type: ignore[arg-type]


def _factorized(rng: random.Random, cin: int, cout: int, bits: int, dims: int) -> Factorized:
    mid = rng.choice((8, 16, 32))
    groups = rng.choice([g for g in (1, 2, 4, 8) if mid % g == 0])
    ca = None
    if rng.random() < 0.5:
        bpw = rng.choice((1, 2))
        cells = max(16, mid * bpw)
        # seeds and masks from small sets, as a search space would offer them
        ca = CAGen(cells=cells, seed=rng.choice((1, 0x5A5A, 0xACE1)),
                   rule=rng.choice(("90/150", "30")), hybrid_mask=rng.choice((0x5, 0xF0F0)),
                   bits_per_weight=bpw)
    return Factorized(cout, mid, kernel=(3,) * dims, groups=groups, act_bits=bits,
                      norm=rng.choice(("bn", "bsn")), ca=ca, **_wq(rng))  # type: ignore[arg-type]


def random_spec(rng: random.Random, n_layers: int = 20, video: bool = False) -> ArchSpec:
    """A valid spec with ``n_layers`` top-level layers (at least 4)."""
    n_layers = max(n_layers, 4)
    dims = 3 if video else 2
    c = rng.choice((8, 16))
    size = 16
    shape = (rng.choice((1, 3)), 4, size, size) if video else (rng.choice((1, 3)), size, size)
    bits = rng.choice((1, 2, 3))
    layers: list[Layer] = [_conv(rng, shape[0], c, bits)]
    pools = 0
    while len(layers) < n_layers - 2:
        r = rng.random()
        if r < 0.25:
            cout = rng.choice((c, 2 * c)) if c < 64 else c
            layers.append(_conv(rng, c, cout, bits, kernel=rng.choice((1, 3))))
            c = cout
        elif r < 0.45:
            cout = rng.choice((c, 2 * c)) if c < 64 else c
            layers.append(_factorized(rng, c, cout, bits, dims))
            c = cout
        elif r < 0.85:
            gate = rng.choice(("add", "mux") + (("or", "mux_or") if bits == 1 else ()))
            body: tuple[Layer, ...] = (rng.choice((
                _conv(rng, c, c, bits), _factorized(rng, c, c, bits, dims))),)
            if rng.random() < 0.4:
                body = (*body, _conv(rng, c, c, bits))
            layers.append(Residual(body, gate=gate, shift=rng.randrange(0, 3) if gate == "mux"
                                   else 0, threshold=rng.choice((0.25, 0.5))))
        elif pools < 2 and size >= 8:
            layers.append(Pool(rng.choice(("max", "avg")), 2))
            size //= 2
            pools += 1
        else:
            layers.append(_conv(rng, c, c, bits, kernel=1))
    num_classes = rng.choice((4, 10))
    if video and rng.random() < 0.5:
        layers.append(Pool("max", (1, size // 2, size // 2) if size >= 4 else 1))
        layers.append(LSTM(rng.choice((8, 16))))
    else:
        layers.append(Pool("global_avg"))
        layers.append(Linear(rng.choice((16, 32))))
    layers.append(Linear(num_classes, act_bits=32, **_wq(rng)))  # type: ignore[arg-type]
    return ArchSpec(shape, num_classes, tuple(layers), input_bits=8)


__all__ = ["random_spec"]
