"""Accelerator dimensions in a space: the pair (ArchSpec, accelerator), sizes, one-line errors."""

from __future__ import annotations

import random
from pathlib import Path

import optuna
import pytest

from dse.cli import main
from hwmodel.accel import AccelConfig
from search_spaces.spaces import get_space

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "examples" / "asic_encoder_cosearch.yaml")
SHAPE = (1, 8, 8)


def write(tmp_path: Path, text: str, name: str = "space.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_example_pairs_asic_encoder_with_an_accelerator_range() -> None:
    net = get_space("asic-encoder", input_shape=SHAPE, num_classes=10)
    pair = get_space(EXAMPLE, input_shape=SHAPE, num_classes=10)
    assert pair.accel_fields == ("rows", "cols", "dataflow", "bit_serial", "weight_sram_kbits",
                                 "act_sram_kbits")
    # rows 3 x cols {8,16,24,32} 4 x dataflow 2 x bit_serial 2 x weight SRAM 4 x act SRAM 2
    assert pair.size() == net.size() * 3 * 4 * 2 * 2 * 4 * 2
    names = [d.name for d in pair.dimensions()]
    assert names[-6:] == ["accel_rows", "accel_cols", "accel_dataflow", "accel_bit_serial",
                          "accel_weight_sram_kbits", "accel_act_sram_kbits"]
    assert names[:-6] == [d.name for d in net.dimensions()]


def test_a_design_is_the_network_and_the_accelerator_fields() -> None:
    net = get_space("asic-encoder", input_shape=SHAPE, num_classes=10)
    pair = get_space("asic-encoder-cosearch", input_shape=SHAPE, num_classes=10)
    choices = pair.random_choices(random.Random(4))
    spec, accel = pair.design_from_choices(choices)
    # the network part is exactly the network-only space's spec for the same choices
    net_choices = {k: v for k, v in choices.items() if not k.startswith("accel_")}
    assert spec.hash == net.from_choices(net_choices).hash
    assert accel == {k.removeprefix("accel_"): v for k, v in choices.items()
                     if k.startswith("accel_")}
    assert set(accel) == set(pair.accel_fields)
    AccelConfig().with_(**accel)  # a valid accelerator
    # two accelerators for one network: same spec
    other = dict(choices, accel_rows=8 if choices["accel_rows"] != 8 else 16)
    spec2, accel2 = pair.design_from_choices(other)
    assert spec2.hash == spec.hash and accel2 != accel


def test_optuna_suggests_the_accelerator_dimensions() -> None:
    pair = get_space("tiny", input_shape=SHAPE, num_classes=10,
                     accelerator={"rows": [4, 8], "dataflow": "os", "clock_mhz": [100, 250.5]})
    trial = optuna.trial.FixedTrial({"stages": 1, "width_0": 8, "blocks_0": 0, "groups_0": 1,
                                     "weight_bits_0": 2, "act_bits_0": 1, "accel_rows": 8,
                                     "accel_clock_mhz": 250.5})
    spec, accel = pair.sample_design(trial)
    assert accel == {"rows": 8, "dataflow": "os", "clock_mhz": 250.5}  # fixed ones filled in
    assert pair.sample(trial).hash == spec.hash
    assert pair.size() == get_space("tiny", input_shape=SHAPE, num_classes=10).size() * 4


def test_a_network_only_space_has_no_accelerator() -> None:
    space = get_space("tiny", input_shape=SHAPE, num_classes=10)
    assert space.accel_fields == ()
    spec, accel = space.design_from_choices(space.random_choices(random.Random(0)))
    assert accel == {}


@pytest.mark.parametrize(("text", "line", "message"), [
    ("base: tiny\naccelerator:\n  rows: [8]\n  colz: [8, 16]\n", 4,
     "accelerator: unknown field 'colz' (known: rows, cols,"),
    ("base: tiny\naccelerator:\n  rows: {low: 16, high: 8}\n", 3,
     "accelerator.rows: low=16 must be <= high=8"),
    ("base: tiny\naccelerator:\n  cols: []\n", 3,
     "accelerator.cols: the list of choices must not be empty"),
    ("base: tiny\naccelerator:\n  rows: 8\n  dataflow:\n    - ws\n    - diagonal\n", 6,
     "accelerator.dataflow='diagonal' must be one of ['ws', 'os', 'is']"),
    ("base: tiny\naccelerator:\n  rows: [8, 0]\n", 3,
     "accelerator.rows=0 must be an integer >= 1"),
    ("base: tiny\naccelerator:\n  weight_sram_kbits: [64, -1]\n", 3,
     "accelerator.weight_sram_kbits=-1.0 must be a positive number"),
    ("base: tiny\naccelerator:\n  bit_serial: [yes, 2]\n", 3,
     "accelerator.bit_serial[1]=2 must be of type bool"),
    ("base: tiny\naccelerator:\n  act_sram_kbits: {low: 4, high: 8}\n", 3,
     "accelerator.act_sram_kbits: a low/high range needs an integer knob"),
    ("base: tiny\naccelerator: {}\n", 2, "accelerator: needs at least one field"),
])
def test_bad_accelerator_dimension_is_one_line_naming_the_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, line: int,
        message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as info:
        get_space(path, input_shape=SHAPE, num_classes=10)
    assert str(info.value).startswith(f"{path}:{line}: {message}")
    code = main(["spaces", "--show", path])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and f"{path}:{line}: {message}" in err


def test_toml_accelerator_table_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'base = "tiny"\n\n[accelerator]\nrows = [8, 16]\nmac = ["xnor"]\n',
                 "space.toml")
    with pytest.raises(ValueError, match=r"space\.toml:5: accelerator\.mac='xnor' must be one "
                                         r"of \['xnor_popcount', 'mux_add', 'multiplier'\]"):
        get_space(path, input_shape=SHAPE, num_classes=10)
    good = write(tmp_path, 'base = "tiny"\n[accelerator]\nrows = [8, 16]\n', "good.toml")
    assert get_space(good, input_shape=SHAPE, num_classes=10).accel_fields == ("rows",)


def test_python_accelerator_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"accelerator\.ca_rows_per_cycle=-1 must be an "
                                         r"integer >= 0"):
        get_space("tiny", input_shape=SHAPE, num_classes=10,
                  accelerator={"ca_rows_per_cycle": [1, -1]})


def test_fit_problems_name_the_memory_and_sizes() -> None:
    accel = AccelConfig(weight_sram_kbits=2, act_sram_kbits=1)  # 2048 and 1024 bits
    assert accel.fit_problems(2048, 1024) == []
    assert accel.fit_problems(2049, 1024) == [
        "weights 2049 bits > weight_sram_kbits=2 (2048 bits)"]
    assert accel.fit_problems(10, 1025) == [
        "activation peak 1025 bits > act_sram_kbits=1 (1024 bits)"]
    assert len(accel.fit_problems(4096, 4096)) == 2


def test_dse_spaces_show_lists_the_accelerator_of_the_sample(
        capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["spaces", "--show", EXAMPLE, "--json", "--seed", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    space = get_space(EXAMPLE, input_shape=SHAPE, num_classes=10)
    want = space.design_from_choices(space.random_choices(random.Random(2)))[1]
    assert out["sample"]["accel"] == want
    assert [d["name"] for d in out["dimensions"]][-6:] == [
        f"accel_{f}" for f in space.accel_fields]
    assert main(["spaces", "--show", EXAMPLE, "--seed", "2"]) == 0
    text = capsys.readouterr().out
    assert "accelerator: " + ", ".join(f"{k}={v}" for k, v in want.items()) in text
