"""Technology tables: the default values and their sources, and one-line errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hwmodel.accel import AccelConfig
from hwmodel.tech import DEFAULT_TECH_PATH, constant_names, default_tech, load_tech


def test_default_is_horowitz_nangate_45nm_with_sources() -> None:
    t = default_tech()
    assert (t.add8_pj, t.mult8_pj, t.add32_pj, t.mult32_pj) == (0.03, 0.2, 0.1, 3.1)
    assert t.sram_pj_per_64b == 10.0 and 1300.0 <= t.dram_pj_per_64b <= 2600.0
    assert (t.xor_factor, t.mux_factor, t.ternary_factor, t.and_factor) == (0.3, 0.3, 0.6, 0.1)
    assert (t.nand2_um2, t.xor2_um2, t.mux2_um2, t.fa_um2) == (0.798, 1.596, 1.862, 4.256)
    assert all(t.sources[name] for name in constant_names())
    assert t.add_pj_per_bit == pytest.approx(0.00375)


def _write(tmp_path: Path, data: object) -> Path:
    p = tmp_path / "tech.yaml"
    p.write_text(yaml.safe_dump(data), encoding="utf-8")
    return p


def _table() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(DEFAULT_TECH_PATH.read_text(encoding="utf-8"))


def test_load_custom_table_changes_energy(tmp_path: Path) -> None:
    data = _table()
    data["constants"]["add8_pj"] = 0.06  # bare numbers are accepted
    t = load_tech(_write(tmp_path, data))
    assert t.add8_pj == 0.06 and t.add_pj_per_bit == pytest.approx(0.0075)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["constants"].pop("fa_um2"), "constant 'fa_um2' is missing"),
    (lambda d: d["constants"].__setitem__("fa_um2", {"value": -1}), "fa_um2=-1 must be"),
    (lambda d: d["constants"].__setitem__("warp_um2", 1.0), "unknown constant 'warp_um2'"),
    (lambda d: d["constants"].__setitem__("add8_pj", "cheap"), "add8_pj='cheap' must be"),
    (lambda d: d.__setitem__("colour", 1), "unknown field 'colour'"),
    (lambda d: d["constants"].__setitem__("sram_array_efficiency", 2.0),
     "sram_array_efficiency=2.0 must be in"),
])
def test_bad_tech_file_is_one_line_error(tmp_path: Path, edit, message) -> None:  # type: ignore[no-untyped-def]
    data = _table()
    edit(data)
    with pytest.raises(ValueError) as exc:
        load_tech(_write(tmp_path, data))
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_missing_and_malformed_tech_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        load_tech(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("constants: [1, 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="malformed YAML"):
        load_tech(bad)


@pytest.mark.parametrize("text, message", [
    ("rows: 0\n", "rows=0 must be an integer >= 1"),
    ("dataflow: diagonal\n", "dataflow='diagonal' must be one of"),
    ("rowz: 4\n", "unknown field 'rowz'"),
    ("- 1\n- 2\n", "must be a mapping"),
    ("rows: [1\n", "malformed YAML"),
    ("clock_mhz: -5\n", "clock_mhz=-5 must be a positive number"),
])
def test_bad_accel_file_is_one_line_error(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "accel.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as exc:
        AccelConfig.from_file(p)
    assert message in str(exc.value) and "\n" not in str(exc.value)
    assert str(p) in str(exc.value)


def test_accel_file_roundtrip(tmp_path: Path) -> None:
    p = tmp_path / "accel.yaml"
    p.write_text("rows: 8\ncols: 32\ndataflow: os\n", encoding="utf-8")
    a = AccelConfig.from_file(p)
    assert (a.rows, a.cols, a.dataflow) == (8, 32, "os")
    with pytest.raises(ValueError, match="no such file"):
        AccelConfig.from_file(tmp_path / "missing.yaml")
