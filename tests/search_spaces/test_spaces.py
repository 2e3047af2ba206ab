"""Every registered space: samples build, train a step, round-trip JSON; sizes; the registry."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest

from search_spaces.spaces import SPACES, get_space
from search_spaces.spaces.base import (
    Categorical,
    Cmp,
    Dim,
    IntRange,
    SearchSpace,
    all_of,
    any_of,
    count_assignments,
)
from search_spaces.spaces.staged import PresetSpace
from search_spaces.spec import ArchSpec, Conv, Factorized, Linear, Pool, Residual

SHIPPED = ["asic-encoder", "billnet", "compact", "heq-resnet", "mognet", "tiny"]
#: Embedded datasets: digits (1,8,8), 10 classes; synthetic-gestures (1,8,32,32), 8 classes.
SMALL = {"image": ((1, 8, 8), 10), "video": ((1, 8, 32, 32), 8)}
PAPER_IMAGE = [((1, 16, 16), 10), ((3, 32, 32), 10), ((3, 32, 32), 100), ((3, 96, 96), 10)]
PAPER_VIDEO = [((3, 16, 96, 128), 27), ((1, 4, 16, 16), 8)]


def small_space(name: str, **params: Any) -> SearchSpace:
    shape, classes = SMALL["video" if get_space_cls_video(name) else "image"]
    return get_space(name, input_shape=shape, num_classes=classes, **params)


def get_space_cls_video(name: str) -> bool:
    from search_spaces.spaces import is_video_space

    return is_video_space(name)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny tensors: one thread avoids oversubscription on a loaded 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_registry_lists_the_shipped_spaces() -> None:
    assert set(SHIPPED) <= set(SPACES.names())
    assert SPACES.names() == sorted(SPACES.names())


@pytest.mark.parametrize("name", SPACES.names())
def test_samples_build_train_a_step_and_round_trip(name: str) -> None:
    """30 seeded samples: valid spec, torch model whose stored weight bits match the spec,
    forward to (N, classes) and a backward that reaches the weights, exact JSON round trip."""
    import torch

    from search_spaces.build import build_model, example_input

    space = small_space(name)
    rng = random.Random(1234)
    for _ in range(30):
        choices = space.random_choices(rng)
        spec = space.from_choices(choices)
        # a codec space's spec takes a (C, P, P) patch and emits M code bits, by its choices
        want_in, want_out = (space.io_of(choices) if hasattr(space, "io_of")
                             else (space.input_shape, space.num_classes))
        assert isinstance(spec, ArchSpec) and spec.input_shape == want_in
        again = ArchSpec.from_json(spec.to_json())
        assert again == spec and again.hash == spec.hash
        torch.manual_seed(0)
        model = build_model(spec)
        assert model.stored_weight_bits() == spec.weight_bits()
        out = model(example_input(spec, batch=2))
        assert out.shape == (2, want_out)
        assert torch.isfinite(out).all()
        labels = torch.arange(2) % want_out
        torch.nn.functional.cross_entropy(out, labels).backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert grads and any(g is not None and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", SPACES.names())
def test_same_seed_same_specs(name: str) -> None:
    space = small_space(name)
    first = [space.from_choices(space.random_choices(random.Random(7))).hash for _ in range(3)]
    seq_a = [space.from_choices(c).hash for c in _draws(space, 11, 10)]
    seq_b = [space.from_choices(c).hash for c in _draws(space, 11, 10)]
    assert len(set(first)) == 1
    assert seq_a == seq_b
    assert len(set(seq_a)) > 1  # and the draws do vary


def _draws(space: SearchSpace, seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [space.random_choices(rng) for _ in range(n)]


@pytest.mark.parametrize("name", SPACES.names())
def test_optuna_trials_give_valid_specs_equal_to_from_choices(name: str) -> None:
    """study.ask() -> space.sample(trial): valid; trial.params rebuilds the same spec."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = small_space(name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    hashes = set()
    for _ in range(12):
        trial = study.ask()
        spec = space.sample(trial)
        assert spec.hash == space.from_choices(trial.params).hash
        # only non-fixed, active dimensions are suggested
        assert set(trial.params) <= {d.name for d in space.dimensions() if not d.fixed}
        study.tell(trial, float(spec.params()))
        hashes.add(spec.hash)
    assert len(hashes) > 1


def test_optuna_fixed_trial_and_tpe() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = small_space("tiny")
    choices = space.random_choices(random.Random(5))
    assert space.sample(optuna.trial.FixedTrial(choices)).hash == space.from_choices(choices).hash
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0,
                                                                       n_startup_trials=3))
        study.optimize(lambda t: float(space.sample(t).weight_bits()), n_trials=8)
    assert len(study.trials) == 8


# ---------------------------------------------------------------------------------- shapes


def _halvings(spec: ArchSpec) -> int:
    """How many times the spatial side was halved (stem stride included) up to the head."""
    side0 = min(spec.input_shape[-2:])
    convs = [i for i in spec.top_layers() if len(i.out_shape) >= 3]
    last = min(convs[-1].out_shape[-2:])
    n = 0
    while side0 > last:
        side0 = (side0 + 1) // 2
        n += 1
    return n


#: The codec space's specs encode (C, P, P) patches into M bits rather than classify the space's
#: input; its adaptation to input sizes is tested in tests/dse/test_compression.py.
CLASSIFIER_SPACES = [n for n in SPACES.names() if n != "asic-encoder-codec"]


@pytest.mark.parametrize("name", CLASSIFIER_SPACES)
def test_spaces_adapt_to_paper_sized_inputs(name: str) -> None:
    """On every paper/embedded shape: 30 samples are valid and the feature maps before the head
    never shrink below the space's min_spatial (depth and downsampling adapt to the input)."""
    space0 = small_space(name)
    shapes = PAPER_VIDEO if space0.video else PAPER_IMAGE
    for shape, classes in [(space0.input_shape, space0.num_classes), *shapes]:
        space = get_space(name, input_shape=shape, num_classes=classes)
        assert isinstance(space, PresetSpace)
        rng = random.Random(0)
        for _ in range(30):
            spec = space.from_choices(space.random_choices(rng))
            assert spec.output_shape == (classes,)
            maps = [i.out_shape for i in spec.top_layers() if len(i.out_shape) >= 3]
            assert min(maps[-1][-2:]) >= space.min_spatial or \
                isinstance(spec.layers[-1], Linear) and spec.is_video
            if spec.is_video:
                assert maps[-1][1] == shape[1]  # T is kept for the LSTM by default


def test_downsampling_budget_by_input_size() -> None:
    """digits 8x8: 8->4->2 (2 halvings, min side 2); 16x16: 3; CIFAR 32x32 (min side 4):
    32->16->8->4 (3); STL-10 96x96: stride-2 stem to 48, then 48->24->12->6 (3)."""
    def mognet(shape: tuple[int, ...]) -> PresetSpace:
        space = get_space("mognet", input_shape=shape, num_classes=10)
        assert isinstance(space, PresetSpace)
        return space

    budgets = {shape: mognet(shape).downsamples
               for shape in [(1, 8, 8), (1, 16, 16), (3, 32, 32), (3, 96, 96)]}
    assert budgets == {(1, 8, 8): 2, (1, 16, 16): 3, (3, 32, 32): 3, (3, 96, 96): 3}
    stl = mognet((3, 96, 96))
    assert stl.stem_stride == 2
    four = next(c for c in _draws(stl, 0, 200) if c["stages"] == 4)
    spec = stl.from_choices(four)
    assert spec.top_layers()[0].out_shape[-2:] == (48, 48)
    assert _halvings(spec) == 4  # stem + 3 stages


# ---------------------------------------------------------------------------------- sizes


def _dfs_count(dims: Sequence[Dim], env: dict[str, Any] | None = None, k: int = 0) -> int:
    """Reference count: walk the conditional tree leaf by leaf (no dynamic programming)."""
    env = {} if env is None else env
    if k == len(dims):
        return 1
    dim = dims[k]
    if not dim.active(env):
        return _dfs_count(dims, env, k + 1)
    total = 0
    for v in dim.values():
        env[dim.name] = v
        total += _dfs_count(dims, env, k + 1)
        del env[dim.name]
    return total


def test_tiny_size_is_the_hand_count() -> None:
    """tiny on digits (1,8,8): up to 3 stages (8->4->2). Stage 0: width 2 x weight bits 3 x act
    bits 2 x (blocks 0: stem ungrouped, 1 way | blocks 1: groups 2 ways) = 12 x 3 = 36.
    Stage i>0 (the transition conv is grouped): width 2 x w-bits 3 x a-bits 2 x blocks 2 x
    groups 2 = 48. Size = 36 + 36*48 + 36*48**2 = 84,708. On (1,4,4) (one halving): 36 + 1728."""
    space = get_space("tiny", input_shape=(1, 8, 8), num_classes=10)
    assert space.size_is_exact
    assert space.size() == 36 + 36 * 48 + 36 * 48**2 == 84_708
    assert _dfs_count(space.dimensions()) == 84_708
    assert get_space("tiny", input_shape=(1, 4, 4), num_classes=10).size() == 36 + 36 * 48


def test_compact_size_is_the_hand_count() -> None:
    """compact on digits (1,8,8): two halvings (8->4->2), so 3 or 4 stages. Stage 0: width 2
    (8/16; weight bits fixed at 3, the stem ungrouped) = 2. Stage 1: width 2 (16/32) x groups 2
    x weight bits 3 = 12; stage 2: width 3 (16/32/64) x 2 x 3 = 18; stage 3: width 2 (32/64)
    x 2 x 3 = 12; classifier bits 2. Size = 2*12*18*2 * (1 + 12) = 864 * 13 = 11,232."""
    space = get_space("compact", input_shape=(1, 8, 8), num_classes=10)
    assert space.size_is_exact
    assert space.size() == 2 * 12 * 18 * 2 * (1 + 12) == 11_232
    assert _dfs_count(space.dimensions()) == 11_232
    # every member: plain 3x3 convs, 2-bit activations, bit-shift norm, a 3-bit (quinary) stem
    spec = space.from_choices(space.random_choices(random.Random(0)))
    convs = [layer for layer in spec.layers if isinstance(layer, Conv)]
    assert len(convs) in (3, 4) and convs[0].weight_levels == 5
    assert all(c.act_bits == 2 and c.norm == "bsn" and c.kernel in (3, (3, 3)) for c in convs)
    assert not any(isinstance(layer, Residual) for layer in spec.layers)
    # on a 32x32 input the widths double (16..128) and there is one more halving
    big = get_space("compact", input_shape=(3, 32, 32), num_classes=10)
    assert {d.name: d.values() for d in big.dimensions()}["width_0"] == (16, 32)


def test_exact_size_counts_distinct_architectures() -> None:
    """tiny on (1,4,4): enumerate every assignment; all 1,764 specs are distinct."""
    space = get_space("tiny", input_shape=(1, 4, 4), num_classes=10)
    hashes = {space.from_choices(c).hash for c in _all_assignments(space.dimensions())}
    assert len(hashes) == space.size() == 1764


def _all_assignments(dims: Sequence[Dim], env: dict[str, Any] | None = None,
                     k: int = 0) -> Iterator[dict[str, Any]]:
    env = {} if env is None else env
    if k == len(dims):
        yield dict(env)
        return
    dim = dims[k]
    if not dim.active(env):
        yield from _all_assignments(dims, env, k + 1)
        return
    for v in dim.values():
        env[dim.name] = v
        yield from _all_assignments(dims, env, k + 1)
        del env[dim.name]


def test_count_assignments_matches_brute_force_on_random_conditional_spaces() -> None:
    """Random small spaces with nested, OR-ed and AND-ed conditions: DP count == DFS count ==
    the number of distinct active projections of the full Cartesian product."""
    rng = random.Random(0)
    for _ in range(40):
        dims: list[Dim] = []
        for k in range(rng.randint(2, 6)):
            name = f"d{k}"
            if rng.random() < 0.5:
                dim: Dim = IntRange(name, low=0, high=rng.randint(0, 3))
            else:
                dim = Categorical(name, choices=tuple(rng.sample(["a", "b", "c", True, 2],
                                                                 rng.randint(1, 3))))
            if dims and rng.random() < 0.7:
                refs = rng.sample(dims, min(len(dims), rng.randint(1, 2)))
                clauses = [Cmp(r.name, "==", rng.choice(r.values())) for r in refs]
                cond = all_of(*clauses) if rng.random() < 0.5 else any_of(*clauses)
                dim = type(dim)(**{**dim.__dict__, "when": cond})
            dims.append(dim)
        projections = set()
        for combo in itertools.product(*(d.values() for d in dims)):
            env: dict[str, Any] = {}
            for d, v in zip(dims, combo, strict=True):
                if d.active(env):
                    env[d.name] = v
            projections.add(tuple(sorted((k, repr(v)) for k, v in env.items())))
        assert count_assignments(dims) == _dfs_count(dims) == len(projections)


@pytest.mark.parametrize("name", SPACES.names())
def test_sizes_are_exact_and_sampling_is_injective(name: str) -> None:
    """Shipped spaces are exact (no repair collisions): distinct draws give distinct specs."""
    space = small_space(name)
    assert space.size_is_exact
    assert space.size() >= 10_000
    seen: dict[str, tuple[Any, ...]] = {}
    for choices in _draws(space, 99, 300):
        key = tuple(sorted(space.resolve(choices).items()))
        h = space.from_choices(choices).hash
        assert seen.setdefault(h, key) == key


def test_size_of_paper_sized_spaces_is_large_and_fast() -> None:
    sizes = {n: get_space(n, input_shape=(3, 16, 96, 128) if n == "billnet" else (3, 32, 32),
                          num_classes=10).size() for n in SHIPPED}
    assert sizes["mognet"] > 10**8 and sizes["asic-encoder"] > 10**8
    assert all(s >= 10**4 for s in sizes.values())


# ---------------------------------------------------------------------------------- contracts


def test_or_gates_force_one_bit_activations() -> None:
    space = small_space("heq-resnet")
    choices = {**space.random_choices(random.Random(2)), "gate": "or"}
    spec = space.from_choices(choices)
    acts = [i.out_bits for i in spec.iter_layers() if isinstance(i.layer, Conv | Residual)]
    assert set(acts) == {1}
    assert not any(d.startswith("act_bits") for d in space.resolve(choices))


def test_conditional_dimensions_appear_only_when_used() -> None:
    space = small_space("mognet")
    for choices in _draws(space, 4, 50):
        full = space.resolve(choices)
        for i in range(4):
            assert (f"ca_rule_{i}" in full) == bool(full.get(f"ca_{i}")), full
            assert (f"width_{i}" in full) == (i < full["stages"])
    spec = space.from_choices({**space.random_choices(random.Random(1)), "stages": 2,
                               "ca_0": True, "ca_rule_0": "30", "ca_1": False})
    blocks = [i.layer for i in spec.top_layers()]
    facts = [b for b in blocks if isinstance(b, Factorized)] + \
        [b.body[0] for b in blocks if isinstance(b, Residual) and isinstance(b.body[0],
                                                                              Factorized)]
    assert {f.ca.rule for f in facts if f.ca is not None} == {"30"}
    assert any(f.ca is None for f in facts)


def test_from_choices_rejects_bad_input() -> None:
    space = small_space("tiny")
    good = space.random_choices(random.Random(0))
    with pytest.raises(ValueError, match=r"unknown dimension 'colour'"):
        space.from_choices({**good, "colour": 1})
    with pytest.raises(ValueError, match=r"width_0=12 must be in \{8, 16\}"):
        space.from_choices({**good, "width_0": 12})
    with pytest.raises(ValueError, match=r"stages=True must be in 1\.\.3"):
        space.from_choices({**good, "stages": True})
    missing = dict(good)
    missing.pop("width_0")
    with pytest.raises(ValueError, match=r"dimension 'width_0' is required"):
        space.from_choices(missing)
    # values for inactive dimensions are ignored
    assert space.from_choices({**good, "stages": 1, "width_2": 8}).hash == \
        space.from_choices({**good, "stages": 1}).hash


def test_get_space_errors_and_overrides() -> None:
    with pytest.raises(ValueError, match=r"space='nope' is not a registered search space "
                                         r"\(known: asic-encoder, asic-encoder-codec, "
                                         r"asic-encoder-cosearch, billnet"):
        get_space("nope", input_shape=(1, 8, 8), num_classes=10)
    with pytest.raises(ValueError, match=r"input_shape=\(1, 8, 8\) must be 4 positive"):
        get_space("billnet", input_shape=(1, 8, 8), num_classes=10)
    with pytest.raises(ValueError, match=r"must be 3 positive integers \(C,H,W\)"):
        get_space("mognet", input_shape=(1, 8, 32, 32), num_classes=10)
    with pytest.raises(ValueError, match=r"unknown parameter 'depth'"):
        get_space("tiny", input_shape=(1, 8, 8), num_classes=10, depth=3)
    with pytest.raises(ValueError, match=r"num_classes=1 must be an integer >= 2"):
        get_space("tiny", input_shape=(1, 8, 8), num_classes=1)
    # a knob override in the space vocabulary: 1-bit activations everywhere
    space = get_space("tiny", input_shape=(1, 8, 8), num_classes=10, act_bits=1)
    # as in test_tiny_size_is_the_hand_count without the act-bits factor 2 per stage:
    # stage 0: 2 x 3 x (1 + 2) = 18; stage i > 0: 2 x 3 x 2 x 2 = 24
    assert space.size() == 18 + 18 * 24 + 18 * 24**2 == 10_818
    for choices in _draws(space, 0, 20):
        spec = space.from_choices(choices)
        assert {i.out_bits for i in spec.iter_layers() if isinstance(i.layer, Conv)} == {1}
    with pytest.raises(ValueError, match=r"act_bits=9 must be in 1\.\.8"):
        get_space("tiny", input_shape=(1, 8, 8), num_classes=10, act_bits=9)
    # structural parameter: no stem stride on STL-10 -> a 96x96 first feature map
    stl = get_space("heq-resnet", input_shape=(3, 96, 96), num_classes=10, stem_stride=1)
    spec = stl.from_choices(stl.random_choices(random.Random(0)))
    assert spec.top_layers()[0].out_shape[-2:] == (96, 96)


def test_register_space_custom_and_overwrite_warns() -> None:
    @SPACES.register("test-one-conv")
    class OneConv(SearchSpace):
        name = "test-one-conv"
        description = "one conv, width 4 or 8"

        def _dimensions(self) -> list[Dim]:
            return [Categorical("width", choices=(4, 8))]

        def _build(self, c: Mapping[str, Any]) -> ArchSpec:
            return ArchSpec(self.input_shape, self.num_classes,
                            (Conv(c["width"]), Pool("global_avg"), Linear(self.num_classes)))

    try:
        assert "test-one-conv" in SPACES.names()
        space = get_space("test-one-conv", input_shape=(1, 8, 8), num_classes=3)
        assert space.size() == 2
        assert space.from_choices({"width": 8}).params() == 8 * 9 + 8 * 3
        with pytest.warns(UserWarning, match="registered again: overwriting"):
            SPACES.register("test-one-conv")(lambda *a, **k: space)
    finally:
        SPACES.remove("test-one-conv")
    with pytest.raises(ValueError, match="must be a non-empty string without white space"):
        SPACES.register("has space")


def test_conditions_must_read_earlier_dimensions() -> None:
    class Bad(SearchSpace):
        name = "bad"

        def _dimensions(self) -> list[Dim]:
            return [Categorical("a", Cmp("b", "==", 1), choices=(1,)),
                    Categorical("b", choices=(1, 2))]

        def _build(self, c: Mapping[str, Any]) -> ArchSpec:
            raise AssertionError

    with pytest.raises(ValueError, match=r"the condition of 'a' reads 'b', which is not"):
        Bad((1, 8, 8), 10).dimensions()


@pytest.mark.parametrize("name", SPACES.names())
def test_spaces_pickle(name: str) -> None:
    """Spaces travel to Ray workers: a pickled copy samples the same specs."""
    import pickle

    space = small_space(name)
    copy = pickle.loads(pickle.dumps(space))
    for choices in _draws(space, 8, 5):
        assert copy.from_choices(choices).hash == space.from_choices(choices).hash
    assert copy.size() == space.size()


def test_spaces_import_neither_torch_nor_optuna() -> None:
    code = (
        "import random, sys\n"
        "from search_spaces.spaces import SPACES, get_space, get_reference, "
        "list_references\n"
        "for n in SPACES.names():\n"
        "    s = get_space(n, input_shape=(1,8,32,32) if n == 'billnet' else (1,8,8), "
        "num_classes=10)\n"
        "    s.from_choices(s.random_choices(random.Random(0))); s.size()\n"
        "[get_reference(r) for r in list_references()]\n"
        "bad = [m for m in ('torch', 'optuna') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dim_distribution_round_trips_to_the_same_domain_text() -> None:
    """What a study's trials recorded reads like the dimension that suggested it."""
    from search_spaces.spaces.dims import Categorical, IntRange, distribution_domain_str

    for dim in (Categorical("pool", choices=("avg", "max")), Categorical("g", choices=(4, 8)),
                IntRange("w", low=8, high=64, step=8), IntRange("d", low=1, high=3)):
        assert distribution_domain_str(dim.distribution()) == dim.domain_str()
    assert distribution_domain_str(Categorical("pool", choices=("avg", "max")).distribution()) \
        == "{'avg', 'max'}"
    assert distribution_domain_str(IntRange("w", low=8, high=64, step=8).distribution()) \
        == "8..64 step 8"
