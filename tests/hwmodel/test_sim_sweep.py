"""Sweeps, bad accelerator configs, and the ``dse simulate`` command."""

from __future__ import annotations

import json

import pytest

from dse.cli import main
from hwmodel.accel import STALL_FREE, AccelConfig
from hwmodel.sim import simulate, sweep
from hwmodel.sim.sweep import grid_points, pareto_mask, parse_values
from search_spaces.spec import ArchSpec, Conv, Linear, Pool, load_spec

EXAMPLE = "examples/digits_ternary_or.json"


def small_spec() -> ArchSpec:
    return ArchSpec((2, 6, 6), 4, (Conv(8, kernel=3, act_bits=1), Pool("global_avg"),
                                   Linear(4)))


def test_pareto_mask_by_hand() -> None:
    """(1,5) and (5,1) trade off; (2,2) is not dominated either; (3,3) is dominated by (2,2);
    the duplicate (1,5) does not dominate its twin."""
    pts = [(1, 5), (5, 1), (2, 2), (3, 3), (1, 5)]
    assert pareto_mask(pts) == [True, True, True, False, True]


def test_parse_values_types_and_errors() -> None:
    assert parse_values("rows", "8, 16,32") == [8, 16, 32]
    assert parse_values("weight_sram_kbits", "1.5,64") == [1.5, 64.0]
    assert parse_values("double_buffer", "true,no") == [True, False]
    assert parse_values("dataflow", "ws,os") == ["ws", "os"]
    with pytest.raises(ValueError, match="rows='x' must be a int"):
        parse_values("rows", "8,x")
    with pytest.raises(ValueError, match="unknown accelerator field 'bogus'"):
        parse_values("bogus", "1")
    assert len(grid_points({"rows": [4, 8], "cols": [4, 8, 16]})) == 6


def test_sweep_rows_equal_single_simulations() -> None:
    """Each row's cycles and stalls are those of simulate() on that accelerator."""
    spec = small_spec()
    base = AccelConfig(act_sram_bits_per_cycle=8)
    frame = sweep(spec, base, {"rows": [4, 8], "dataflow": ["ws", "os"]})
    assert list(frame["rows"]) == [4, 4, 8, 8]
    assert list(frame["dataflow"]) == ["ws", "os", "ws", "os"]
    for _, row in frame.iterrows():
        report = simulate(spec, base.with_(rows=int(row["rows"]), dataflow=row["dataflow"]))
        assert row["cycles"] == report.cycles
        assert row["stall_act_bw"] == report.stall_cycles["act_bw"]
        assert row["latency_us"] == pytest.approx(report.cycles / base.clock_mhz)
    # a bigger array costs more area; the Pareto column is the mask of the objectives
    assert frame["area_um2"].iloc[2] > frame["area_um2"].iloc[0]
    objs = frame[["cycles", "area_um2", "energy_pj"]].to_numpy().tolist()
    assert list(frame["pareto"]) == pareto_mask(objs)


def test_sweep_progress_callback() -> None:
    seen: list[tuple[int, int]] = []
    sweep(small_spec(), STALL_FREE, {"cols": [4, 8, 16]},
          progress=lambda d, n: seen.append((d, n)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_bad_accelerator_configs_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"rows=0 must be an integer >= 1"):
        AccelConfig(rows=0)
    with pytest.raises(ValueError, match=r"dataflow='xs' must be one of"):
        AccelConfig(dataflow="xs")
    # one fold of the first conv (ws, 16x16; window 2*9 = 18 rows): min(18, 16) = 16 rows x
    # 8 filters x 2-bit weights = 256 bits > 0.2 kbit = 204.8 bits
    with pytest.raises(ValueError, match=r"weight_sram_kbits=0.2 is too small to hold one "
                       r"fold of layers\[0\] \(needs 256 bits\)"):
        simulate(small_spec(), AccelConfig(weight_sram_kbits=0.2))
    simulate(small_spec(), AccelConfig(weight_sram_kbits=0.25))  # 256 bits: just fits
    # activations: one streamed vector of 16 rows x 8 bits = 128 bits > half of 0.1 kbit
    with pytest.raises(ValueError, match=r"act_sram_kbits=0.1 is too small"):
        simulate(small_spec(), AccelConfig(act_sram_kbits=0.1))
    with pytest.raises(ValueError, match=r"engine='warp' must be one of"):
        simulate(small_spec(), STALL_FREE, engine="warp")


# ---------------------------------------------------------------------- the CLI
def test_cli_report_json_matches_api(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", EXAMPLE, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    report = simulate(load_spec(EXAMPLE), AccelConfig())
    assert data["totals"]["cycles"] == report.cycles
    assert [r["layer"] for r in data["layers"]] == [layer.name for layer in report.layers]


def test_cli_table_and_csv(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", EXAMPLE]) == 0
    out = capsys.readouterr().out
    cycles = simulate(load_spec(EXAMPLE), AccelConfig()).cycles
    assert f"{cycles:,} cycles" in out
    assert main(["simulate", EXAMPLE, "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("layer,kind,cycles")
    assert len(lines) == 1 + len(simulate(load_spec(EXAMPLE)).layers)


def test_cli_sweep_csv(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    assert main(["simulate", EXAMPLE, "--sweep", "rows=4,8", "--sweep", "cols=4,8",
                 "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split(",")[:3] == ["rows", "cols", "cycles"]
    assert len(lines) == 5
    assert main(["simulate", EXAMPLE, "--sweep", "rows=4,8"]) == 0
    assert "Pareto set:" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--sweep", "rows=0,4"], "rows=0 must be an integer >= 1"),
    (["--sweep", "dataflow=ws,zz"], "dataflow='zz' must be one of"),
    (["--sweep", "weight_sram_kbits=0.01"], "weight_sram_kbits=0.01 is too small"),
    (["--sweep", "nope=1"], "unknown accelerator field 'nope'"),
    (["--sweep", "rows"], "must look like FIELD=V1,V2"),
])
def test_cli_bad_input_one_line_exit_2(args: list[str], message: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", EXAMPLE, *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_cli_bad_accel_file(tmp_path: pytest.TempPathFactory,
                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "accel.yaml"  # type: ignore[operator]
    path.write_text("rows: 16\ndataflow: diagonal\n")
    assert main(["simulate", EXAMPLE, "--accel", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "dataflow='diagonal' must be one of" in err and str(path) in err
    assert len(err.splitlines()) == 1
