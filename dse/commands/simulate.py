"""``dse simulate``: the cycle-level simulator on one accelerator, or a sweep of accelerators."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from dse.commands._common import fmt_int, resolve_spec
from dse.errors import UserError, user_input


def _load_accel(path: str | None) -> Any:
    from hwmodel.accel import AccelConfig

    if path is None:
        return AccelConfig()
    with user_input():
        return AccelConfig.from_file(path)


def _parse_sweeps(items: tuple[str, ...]) -> dict[str, list[Any]]:
    from hwmodel.sim.sweep import parse_values

    grid: dict[str, list[Any]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep:
            raise UserError(f"--sweep {item!r} must look like FIELD=V1,V2,... "
                            "(e.g. rows=8,16,32)")
        name = name.strip()
        if name in grid:
            raise UserError(f"--sweep {name} is given twice")
        with user_input():
            grid[name] = parse_values(name, values)
    return grid


@click.command()
@click.argument("spec")
@click.option("--accel", "accel_file", type=click.Path(dir_okay=False), default=None,
              help="Accelerator config (YAML/JSON fields of hwmodel.accel.AccelConfig); "
                   "default: AccelConfig().")
@click.option("--sweep", "sweeps", multiple=True, metavar="FIELD=V1,V2,...",
              help="Sweep an accelerator field over values (repeatable: the grid is the "
                   "product), e.g. --sweep rows=8,16,32 --sweep cols=8,16,32.")
@click.option("--engine", type=click.Choice(["fast", "step"]), default="fast", show_default=True,
              help="fast: closed form per fold; step: cycle by cycle (small cases only).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
def simulate(spec: str, accel_file: str | None, sweeps: tuple[str, ...], engine: str,
             as_json: bool, as_csv: bool) -> None:
    """Simulate SPEC (a JSON file or a reference name) cycle by cycle on an accelerator.

    Prints the per-layer report (cycles, utilization, stalls by cause, SRAM traffic, energy)
    and the totals; with --sweep, one row per accelerator and the Pareto set of cycles
    against area and energy.
    """
    if as_json and as_csv:
        raise UserError("--json and --csv are exclusive")
    arch = resolve_spec(spec)
    accel = _load_accel(accel_file)
    if sweeps:
        _run_sweep(arch, accel, _parse_sweeps(sweeps), engine, as_json, as_csv, spec)
        return
    from hwmodel.sim import simulate as run

    with user_input():
        report = run(arch, accel, engine=engine)
    if as_json:
        click.echo(json.dumps({"name": arch.name, **report.to_dict()}, indent=2))
        return
    if as_csv:
        click.echo(report.to_dataframe().to_csv(index=False), nl=False)
        return
    _print_report(report, arch.name or spec, accel)


def _print_report(report: Any, title: str, accel: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{title} on {accel.rows}x{accel.cols} {accel.dataflow} "
                  f"@ {accel.clock_mhz:g} MHz", title_justify="left")
    for col in ("layer", "kind", "cycles", "util", "stall w-bw", "stall a-bw", "stall ca",
                "SRAM rd bits", "SRAM wr bits", "energy pJ"):
        table.add_column(col, justify="left" if col in ("layer", "kind") else "right")
    for layer in report.layers:
        c = layer.counts
        table.add_row(escape(layer.name), layer.kind, fmt_int(c.cycles),
                      f"{layer.utilization:.1%}", fmt_int(c.stall_weight_bw),
                      fmt_int(c.stall_act_bw), fmt_int(c.stall_ca),
                      fmt_int(c.weight_sram_read_bits + c.act_sram_read_bits),
                      fmt_int(c.act_sram_write_bits), f"{layer.energy_pj:,.0f}")
    t = report.total
    table.add_section()
    table.add_row("total", "", fmt_int(t.cycles), f"{report.utilization:.1%}",
                  fmt_int(t.stall_weight_bw), fmt_int(t.stall_act_bw), fmt_int(t.stall_ca),
                  fmt_int(t.weight_sram_read_bits + t.act_sram_read_bits),
                  fmt_int(t.act_sram_write_bits), f"{report.energy_pj:,.0f}")
    console = Console(width=max(120, Console().width))
    console.print(table)
    console.print(f"{t.cycles:,} cycles = {report.latency_us:,.1f} us at {accel.clock_mhz:g} MHz;"
                  f" stalls {t.stall_cycles:,} cycles; SRAM access energy "
                  f"{report.energy_pj / 1e6:,.3f} uJ")


def _run_sweep(arch: Any, accel: Any, grid: dict[str, list[Any]], engine: str, as_json: bool,
               as_csv: bool, title: str) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from hwmodel.sim.sweep import grid_points, sweep

    with user_input():
        total = len(grid_points(grid))
        # validate every point before the progress bar starts, so an error stays one line
        for point in grid_points(grid):
            accel.with_(**point)
    error: ValueError | None = None
    err_console = Console(file=sys.stderr)
    with Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(),
                  console=err_console, transient=True,
                  disable=not err_console.is_terminal) as bar:
        task = bar.add_task("sweep", total=total)
        try:
            frame = sweep(arch, accel, grid, engine=engine,
                          progress=lambda done, _n: bar.update(task, completed=done))
        except ValueError as exc:
            error = exc
    if error is not None:
        raise UserError(str(error).splitlines()[0])
    if as_json:
        click.echo(frame.to_json(orient="records", indent=2))
        return
    if as_csv:
        click.echo(frame.to_csv(index=False), nl=False)
        return
    from rich.table import Table

    table = Table(title=f"{arch.name or title}: {total} accelerators (* = Pareto: cycles, "
                  "area, energy)", title_justify="left")
    cols = [*grid, "cycles", "latency_us", "utilization", "energy_pj", "area_um2"]
    for col in ["", *cols]:
        table.add_column(col, justify="right")
    for _, row in frame.iterrows():
        cells = ["*" if row["pareto"] else ""]
        for col in cols:
            v = row[col]
            if col == "utilization":
                cells.append(f"{v:.1%}")
            elif col in ("energy_pj", "area_um2", "latency_us"):
                cells.append(f"{v:,.1f}")
            else:
                cells.append(fmt_int(int(v)) if col == "cycles" else str(v))
        table.add_row(*cells)
    console = Console(width=max(120, Console().width))
    console.print(table)
    console.print(f"Pareto set: {int(frame['pareto'].sum())} of {total} accelerators")


def register(group: click.Group) -> None:
    group.add_command(simulate)
