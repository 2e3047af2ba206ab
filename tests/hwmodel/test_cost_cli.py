"""``dse cost``: the table, JSON equal to cost_report, one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dse.cli import main
from hwmodel.accel import AccelConfig
from hwmodel.cost import cost_report
from search_spaces.spec import load_spec

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "factorized_ca_mux.json")


def test_json_equals_cost_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    acc = tmp_path / "acc.yaml"
    acc.write_text("rows: 8\ncols: 8\ndataflow: os\n", encoding="utf-8")
    assert main(["cost", EXAMPLE, "--accel", str(acc), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    ref = cost_report(load_spec(EXAMPLE), AccelConfig(rows=8, cols=8, dataflow="os"))
    assert data["totals"] == pytest.approx(ref.totals)
    assert [r["path"] for r in data["layers"]] == [lc.path for lc in ref.layers]


def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", EXAMPLE]) == 0
    out = capsys.readouterr().out
    assert "ca_pointwise" in out and "memory: 520,548 bits" in out


@pytest.mark.parametrize("args, message", [
    (["--accel", "{bad}"], "rows=0 must be an integer >= 1"),
    (["--tech", "{missing}"], "no such file"),
])
def test_bad_files_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            args: list[str], message: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rows: 0\n", encoding="utf-8")
    args = [a.format(bad=bad, missing=tmp_path / "none.yaml") for a in args]
    assert main(["cost", EXAMPLE, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
