"""User-defined spaces from YAML/TOML files: semantics, `dse spaces`, one-line errors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from dse.cli import main
from search_spaces.spaces import get_space
from search_spaces.spaces.user import read_space_file
from search_spaces.spec import ArchSpec, Conv, Residual

ROOT = Path(__file__).resolve().parents[2]
YAML = str(ROOT / "examples" / "my_space.yaml")
TOML = str(ROOT / "examples" / "my_space.toml")
VARIANT = str(ROOT / "examples" / "my_mognet_variant.yaml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, text: str, name: str = "space.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_yaml_and_toml_examples_describe_the_same_space() -> None:
    a = get_space(YAML, input_shape=(1, 8, 8), num_classes=10)
    b = get_space(TOML, input_shape=(1, 8, 8), num_classes=10)
    assert a.name == b.name == "my-space"
    assert a.describe_dimensions() == b.describe_dimensions()
    assert a.size() == b.size() > 10**6
    rng = random.Random(0)
    for _ in range(30):
        choices = a.random_choices(rng)
        spec = a.from_choices(choices)
        assert spec.hash == b.from_choices(choices).hash
        assert ArchSpec.from_json(spec.to_json()) == spec


def test_example_space_builds_and_trains_a_step() -> None:
    import torch

    from search_spaces.build import build_model, example_input

    torch.set_num_threads(1)
    space = get_space(YAML, input_shape=(1, 8, 8), num_classes=10)
    rng = random.Random(1)
    for _ in range(8):
        spec = space.from_choices(space.random_choices(rng))
        model = build_model(spec)
        out = model(example_input(spec, batch=2))
        torch.nn.functional.cross_entropy(out, torch.tensor([3, 4])).backward()
        assert out.shape == (2, 10)


def test_example_size_is_an_upper_bound() -> None:
    """my_space.yaml lets every stage have 0 blocks while gate/shift vary, so two assignments
    can give one spec: the size is reported as a bound."""
    space = get_space(YAML, input_shape=(1, 8, 8), num_classes=10)
    assert not space.size_is_exact
    base = {"stages": 1, "block": "conv", "quantizer": "btq", "norm": "bn", "width_0": 8,
            "blocks_0": 0, "act_bits_0": 2}
    assert space.from_choices({**base, "gate": "add"}).hash == \
        space.from_choices({**base, "gate": "mux", "shift": 2}).hash


def test_hand_computed_size(tmp_path: Path) -> None:
    """2 stages, widths {8,16} then 16, weight bits {1,2,3} shared, gate add or mux, mux shift
    0..2 (capped below the 3-bit activations, so never merged): 2 x 3 x (1 + 3) = 24."""
    path = write(tmp_path, """
dimensions:
  stages: 2
  width: {per_stage: [[8, 16], 16]}
  weight_bits: [1, 2, 3]
  act_bits: 3
  gate: [add, mux]
  shift: {low: 0, high: 2}
""")
    space = get_space(path, input_shape=(1, 8, 8), num_classes=4)
    assert space.name == "space" and space.size_is_exact
    assert space.size() == 24
    specs = {space.from_choices(c).hash for c in (
        {"width_0": w, "weight_bits": b, "gate": "add"} for w in (8, 16) for b in (1, 2, 3))}
    specs |= {space.from_choices({"width_0": w, "weight_bits": b, "gate": "mux", "shift": s}).hash
              for w in (8, 16) for b in (1, 2, 3) for s in (0, 1, 2)}
    assert len(specs) == 24


def test_base_extends_a_shipped_space(tmp_path: Path) -> None:
    only_base = get_space(write(tmp_path, "base: tiny\n"), input_shape=(1, 8, 8),
                          num_classes=10)
    assert only_base.size() == get_space("tiny", input_shape=(1, 8, 8), num_classes=10).size()
    variant = get_space(VARIANT, input_shape=(3, 32, 32), num_classes=10)
    assert variant.name == "mognet-heq" and not variant.video
    rng = random.Random(0)
    for _ in range(20):
        spec = variant.from_choices(variant.random_choices(rng))
        convs = [i.layer for i in spec.iter_layers() if isinstance(i.layer, Conv)]
        assert {c.weight_quant for c in convs} == {"heq"}
        assert {c.act_bits for c in convs if c.norm != "none"} == {2}
        assert {i.layer.gate for i in spec.top_layers() if isinstance(i.layer, Residual)} <= \
            {"add", "mux"}


def test_video_user_space(tmp_path: Path) -> None:
    path = write(tmp_path, """
name: my-video
dimensions:
  stages: {low: 1, high: 2}
  block: factorized
  quantizer: sign
  gate: mux_or
  head: lstm
  lstm_hidden: [16, 32]
""")
    space = get_space(path, input_shape=(1, 8, 32, 32), num_classes=8)
    assert space.video
    spec = space.from_choices(space.random_choices(random.Random(0)))
    assert spec.layers[-2].kind == "lstm"
    with pytest.raises(ValueError, match=r"input_shape=\(1, 8, 8\) must be 4 positive"):
        get_space(path, input_shape=(1, 8, 8), num_classes=8)


def test_dse_spaces_lists_spaces_and_references(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "spaces")
    assert code == 0, err
    for name in ("tiny", "mognet", "asic-encoder", "heq-resnet", "billnet", "mognet-c10",
                 "billnet-gestures", "84,708"):
        assert name in out
    code, out, _ = run(capsys, "spaces", "--json")
    data = json.loads(out)
    tiny = next(s for s in data["spaces"] if s["name"] == "tiny")
    assert tiny["size"] == 84_708 and tiny["size_is_exact"] and tiny["input_shape"] == [1, 8, 8]
    ref = next(r for r in data["references"] if r["name"] == "tiny-digits")
    assert ref["params"] == 2536 and ref["weight_bits"] == 5072


def test_dse_spaces_show_a_user_space(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "spaces", "--show", YAML)
    assert code == 0, err
    size = get_space(YAML, input_shape=(1, 8, 8), num_classes=10).size()
    assert f"<= {size:,}" in out
    assert "width_0" in out and "ca_rule" in out and "layers[0]" in out and "weight memory" in out
    code, out, _ = run(capsys, "spaces", "--show", TOML, "--json", "--seed", "3",
                       "--input-shape", "1,16,16", "--num-classes", "5")
    data = json.loads(out)
    assert data["input_shape"] == [1, 16, 16] and data["num_classes"] == 5
    spec = ArchSpec.from_dict(data["sample"]["spec"])
    space = get_space(TOML, input_shape=(1, 16, 16), num_classes=5)
    assert spec.hash == space.from_choices(data["sample"]["choices"]).hash
    code, out, _ = run(capsys, "spaces", "--show", "billnet")
    assert code == 0 and "1, 8, 32, 32" in out


BAD_CASES = [
    # (file text, expected line, fragments of the message)
    ("dimensions:\n  stages: 2\n  colour: red\n", 3,
     ["dimensions.colour: unknown dimension 'colour'"]),
    ("dimensions:\n  stages: 2\n  width: wide\n", 3,
     ["dimensions.width='wide' must be of type int"]),
    ("dimensions:\n  stages: {low: 3, high: 1}\n", 2,
     ["dimensions.stages: low=3 must be <= high=1"]),
    ("dimensions:\n  gate:\n    - add\n    - xor\n", 4,
     ["dimensions.gate[1]='xor' must be one of ['add', 'or', 'mux', 'mux_or']"]),
    ("dimensions:\n  gate: [add, mux\n  stages: 2\n", 3, ["invalid YAML"]),
    ("dimension:\n  stages: 2\n", 1, ["unknown field 'dimension'"]),
    ("dimensions:\n  act_bits: 9\n", 2, ["dimensions.act_bits=9 must be in 1..8"]),
    ("dimensions:\n  stages: 3\n  width: {per_stage: [8, 16]}\n", 3,
     ["dimensions.width.per_stage has 2 entries but stages can be up to 3"]),
    ("params:\n  stem_stride: 0\ndimensions:\n  stages: 2\n", 2,
     ["params.stem_stride=0 must be an integer >= 1"]),
    ("base: resnet50\n", 1, ["base='resnet50' must be one of"]),
    ("video: false\ndimensions:\n  head: lstm\n", 3, ["head='lstm' needs a video input"]),
]


@pytest.mark.parametrize(("text", "line", "fragments"), BAD_CASES)
def test_malformed_yaml_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        text: str, line: int | None,
                                        fragments: list[str]) -> None:
    path = write(tmp_path, text)
    code, out, err = run(capsys, "spaces", "--show", path)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("dse: error: ")
    if line is not None:
        assert f"{path}:{line}: " in err
    for fragment in fragments:
        assert fragment in err, err


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ('[dimensions]\nstages = 2\ncolour = "red"\n', 3, "unknown dimension 'colour'"),
    ('[dimensions]\ngate = ["add", "xor"]\n', 2, "gate[1]='xor' must be one of"),
    ('[dimensions]\nstages = { low = 3, high = 1 }\n', 2, "low=3 must be <= high=1"),
    ('[dimensions]\nwidth = "wide"\n', 2, "width='wide' must be of type int"),
    ('[dimensions]\nstages = [1, 2\n', 2, "invalid TOML: Unclosed array"),
])
def test_malformed_toml_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        text: str, line: int, fragment: str) -> None:
    path = write(tmp_path, text, "space.toml")
    code, _, err = run(capsys, "spaces", "--show", path)
    assert code == 2 and err.count("\n") == 1
    assert f"{path}:{line}: " in err and fragment in err, err


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nope\.yaml: no such file"):
        get_space(str(tmp_path / "nope.yaml"), input_shape=(1, 8, 8), num_classes=10)
    with pytest.raises(ValueError, match=r"needs 'dimensions' or a 'base'"):
        read_space_file(write(tmp_path, "name: empty\n"))
    with pytest.raises(ValueError, match=r":1: the file must hold a mapping"):
        read_space_file(write(tmp_path, "- 1\n- 2\n"))


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--show", "nope"],
     "space='nope' is not a registered search space (known: asic-encoder, asic-encoder-codec, "
     "asic-encoder-cosearch, "
     "billnet, compact, heq-resnet"),
    (["--show", "tiny", "--input-shape", "abc"], "--input-shape='abc' must be integers"),
    (["--show", "tiny", "--input-shape", "1,8,8,8"], "must be 3 positive integers (C,H,W)"),
    (["--num-classes", "1"], "--num-classes=1 must be >= 2"),
])
def test_dse_spaces_bad_flags(capsys: pytest.CaptureFixture[str], argv: list[str],
                              fragment: str) -> None:
    code, out, err = run(capsys, "spaces", *argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and fragment in err, err
