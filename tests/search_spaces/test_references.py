"""Reference configurations: valid, members of their space, buildable, in the paper's regime."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dse.cli import main
from search_spaces.spaces import get_reference, get_space, list_references
from search_spaces.spaces.references import MIB_BITS, REFERENCES
from search_spaces.spec import ArchSpec, Conv, Factorized, Residual

PAPER = ["asic-encoder-1mb", "billnet-jester", "heq-resnet-stl10", "mognet-c10", "mognet-c100"]
CPU = ["asic-encoder-digits", "billnet-gestures", "heq-resnet-digits", "mognet-digits",
       "tiny-digits"]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_the_names() -> None:
    assert list_references() == sorted(PAPER + CPU)
    assert all(REFERENCES[n].cpu for n in CPU) and not any(REFERENCES[n].cpu for n in PAPER)


def test_unknown_reference_is_a_key_error_listing_names() -> None:
    with pytest.raises(KeyError, match=r"unknown reference configuration 'nope' \(references: "
                       r"asic-encoder-1mb, asic-encoder-digits"):
        get_reference("nope")


@pytest.mark.parametrize("name", PAPER + CPU)
def test_reference_is_a_valid_member_of_its_space(name: str) -> None:
    ref = REFERENCES[name]
    spec = get_reference(name)
    assert spec.name == name
    assert spec.input_shape == ref.input_shape and spec.num_classes == ref.num_classes
    assert ArchSpec.from_json(spec.to_json()) == spec
    space = get_space(ref.space, input_shape=ref.input_shape, num_classes=ref.num_classes)
    assert space.from_choices(ref.choices).hash == spec.hash  # the name does not enter the hash


@pytest.mark.parametrize("name", PAPER + CPU)
def test_reference_builds_and_runs_on_its_input(name: str) -> None:
    """Paper-sized: eval forward of one sample (all run in about a second on one CPU thread).
    CPU-sized: a training step (forward + backward) on a batch of 2."""
    import torch

    from search_spaces.build import build_model, example_input

    spec = get_reference(name)
    torch.manual_seed(0)
    model = build_model(spec)
    assert model.stored_weight_bits() == spec.weight_bits()
    if REFERENCES[name].cpu:
        out = model(example_input(spec, batch=2))
        torch.nn.functional.cross_entropy(out, torch.tensor([0, 1])).backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    else:
        model.eval()
        with torch.no_grad():
            out = model(example_input(spec, batch=1))
    assert out.shape[1:] == (spec.num_classes,) and torch.isfinite(out).all()


def test_weight_memory_in_the_papers_regime() -> None:
    """Mb = Mib = 2**20 bits. The 1 Mb encoder stores at most 2**20 weight bits; the MOGNET
    CIFAR-10 net stays under 2 Mib; the CPU-sized ones under 64 Kib."""
    assert get_reference("asic-encoder-1mb").weight_bits() <= MIB_BITS
    assert get_reference("asic-encoder-1mb").weight_bits() >= MIB_BITS // 2  # uses the budget
    assert get_reference("mognet-c10").weight_bits() < 2 * MIB_BITS
    for name in CPU:
        assert get_reference(name).weight_bits() < 64 * 1024


def test_tiny_digits_hand_computed() -> None:
    """tiny-digits on (1,8,8), ternary HEQ weights (2 bits each), 2-bit acts:
    stem conv 1->8 3x3: 72 | residual conv 8->8: 576 | stride-2 conv 8->16 g=2: 16*4*9 = 576 |
    residual conv 16->16 g=2: 16*8*9 = 1152 | GAP + linear 16->10: 160. Params 2,536; weight
    bits 2 x 2,536 = 5,072."""
    spec = get_reference("tiny-digits")
    assert [r["params"] for r in spec.layer_table() if r["params"]] == [72, 576, 576, 1152, 160]
    assert spec.params() == 2536 and spec.weight_bits() == 5072
    assert spec.top_layers()[2].out_shape == (16, 4, 4)


def test_mognet_c10_has_ca_generated_pointwise_in_stages_1_to_3() -> None:
    """Stages 1-3 have CA on: their transitions (3) and blocks (1 + 2 + 2) -> 8 CA layers, each
    storing seed + 90/150 mask = 2 x cells bits, cells = mid channels x 2 bits (ternary rows)."""
    spec = get_reference("mognet-c10")
    facts: list[Factorized] = []  # in execution order
    for layer in (i.layer for i in spec.top_layers()):
        body = layer.body[0] if isinstance(layer, Residual) else layer
        if isinstance(body, Factorized):
            facts.append(body)
    cas = [f for f in facts if f.ca is not None]
    assert len(cas) == 8 and len(facts) == 10
    assert all(f.ca is not None and f.ca.cells == 2 * f.mid_channels
               and f.ca.stored_bits == 2 * f.ca.cells for f in cas)
    rows = [r for r in spec.layer_table() if r["kind"] == "conv+ca"]
    assert [r["weight_bits"] for r in rows] == [4 * f.mid_channels for f in cas]
    # MUX skips with a 1-bit shift on 3-bit activations; ternary (BTQ) weights
    gates = {(i.layer.gate, i.layer.shift) for i in spec.top_layers()
             if isinstance(i.layer, Residual)}
    assert gates == {("mux", 1)}
    assert {i.layer.weight_levels for i in spec.iter_layers() if isinstance(i.layer, Conv)} == {3}


def test_asic_encoder_1mb_is_mixed_precision_with_bsn() -> None:
    spec = get_reference("asic-encoder-1mb")
    convs = [i.layer for i in spec.top_layers() if isinstance(i.layer, Conv)]
    assert [c.weight_levels for c in convs] == [5, 5, 3, 3, 2, 2]
    assert {c.norm for c in convs} == {"bsn"} and {c.act_bits for c in convs} == {2}
    assert [c.groups for c in convs] == [1, 1, 2, 4, 2, 4]


def test_billnet_jester_is_binary_with_mux_or_and_lstm() -> None:
    spec = get_reference("billnet-jester")
    kinds = [i.layer.kind for i in spec.top_layers()]
    assert kinds[-3:] == ["pool", "lstm", "linear"]
    # all 16 frames reach the LSTM, each as a 4 x 4 map (head_grid 4) of the 12 x 16 feature
    # map: kernel (1, 12 // 4, 16 // 4) = (1, 3, 4)
    pool = spec.top_layers()[-3]
    assert pool.in_shape == (128, 16, 12, 16) and pool.kernel == (1, 3, 4)
    assert pool.out_shape == (128, 16, 4, 4)
    assert spec.top_layers()[-2].layer.features(pool.out_shape) == 128 * 4 * 4
    assert {i.layer.gate for i in spec.top_layers() if isinstance(i.layer, Residual)} == \
        {"mux_or"}
    assert spec.params() == spec.weight_bits()  # every weight is one bit


@pytest.mark.parametrize(("side", "grid", "kernel"), [
    ((8, 8), 1, (8, 8)), ((8, 8), 4, (2, 2)), ((12, 16), 2, (6, 8)),
    ((6, 6), 4, (1, 1)),   # 4 does not divide 6: kernel 1, the LSTM sees the whole 6 x 6
    ((3, 5), 8, (1, 1)),   # a grid finer than the map: no pooling
])
def test_head_kernel_pools_each_frame_to_the_grid(side: tuple[int, int], grid: int,
                                                  kernel: tuple[int, int]) -> None:
    from search_spaces.spaces.staged import head_kernel

    assert head_kernel(side, grid) == kernel


def test_billnet_head_grid_is_a_dimension_that_sets_the_lstm_input() -> None:
    """billnet on synthetic-gestures: 32 px, stem stride 2, two stages -> an 8 x 8 map; the LSTM
    of hidden h on a grid g sees 16 g^2 features (width 16): 4 h (16 g^2 + h) sign weights."""
    from search_spaces.spaces import get_space

    space = get_space("billnet", input_shape=(1, 8, 32, 32), num_classes=8)
    dims = {d.name: d for d in space.dimensions()}
    assert list(dims["head_grid"].values()) == [4, 8]  # 1 and 2 did not train at 1 bit
    for grid in (4, 8):
        spec = space.from_choices({
            "stages": 2, "expansion": 1, "width_0": 8, "width_1": 16,
            "blocks_0": 1, "blocks_1": 1, "groups_0": 1, "groups_1": 1, "lstm_hidden": 32,
            "head_pool": "avg", "head_grid": grid})
        lstm = spec.top_layers()[-2]
        assert lstm.in_shape == (16, 8, grid, grid)
        assert lstm.layer.params(lstm.in_shape) == 4 * 32 * (16 * grid * grid + 32)


def test_dse_describe_takes_a_reference_name(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["describe", "mognet-c10"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "mognet-c10" in out and f"{get_reference('mognet-c10').weight_bits():,}" in out
    code = main(["describe", "no-such-reference"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "references: asic-encoder-1mb" in err


def test_readme_reference_table_matches_the_specs() -> None:
    """The README's table of references is derived from the specs: every row, and no other."""
    import pathlib
    import re

    from search_spaces.spaces.references import REFERENCES, build_reference

    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z0-9-]+)` \| \d[\dx]* \| \d+ \| ([\d,]+ \| [\d,]+) \|$",
                           readme, flags=re.M))
    want = {}
    for name in REFERENCES:
        spec = build_reference(name)
        want[name] = f"{spec.params():,} | {spec.weight_bits():,}"
    assert rows == want
