"""The `dse` command: help, version, describe, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dse.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "examples" / "digits_ternary_or.json")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "describe" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("dse, version ")


def test_describe_table_and_totals(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "describe", EXAMPLE)
    assert code == 0, err
    assert "layers[1].body[0]" in out and "residual[or]" in out
    assert "2,608" in out and "5,216" in out  # hand-computed in tests/search_spaces/test_spec.py


def test_describe_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "describe", EXAMPLE, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["totals"]["params"] == 2608 and data["totals"]["weight_bits"] == 5216
    assert [r["out_shape"] for r in data["layers"]][0] == [16, 8, 8]


@pytest.mark.parametrize(("content", "expected"), [
    (None, "no such file"),
    ("{not json", "malformed JSON at line 1"),
    ('{"input_shape": [32,8,8], "num_classes": 10, "layers": [{"kind": "conv", '
     '"out_channels": 16, "groups": 3}]}', "layers[0]: groups=3 must divide in_channels=32"),
])
def test_describe_user_errors_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              content: str | None, expected: str) -> None:
    path = tmp_path / "spec.json"
    if content is not None:
        path.write_text(content)
    code, out, err = run(capsys, "describe", str(path))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and expected in err and err.startswith("dse: error: ")


def test_unknown_option_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "describe", EXAMPLE, "--bogus")
    assert code == 2
    assert err.startswith("dse: error: ") and err.count("\n") == 1 and "--bogus" in err


def test_console_script_exit_code_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "dse.cli", "describe", str(tmp_path / "x.json")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
