"""``dse describe``: the layer table and totals of a spec."""

from __future__ import annotations

import json
from typing import Any

import click

from dse.commands._common import fmt_int, resolve_spec


@click.command()
@click.argument("spec")
@click.option("--json", "as_json", is_flag=True, help="Print the table and totals as JSON.")
def describe(spec: str, as_json: bool) -> None:
    """Print the layers of SPEC (a JSON file or a reference name): output shape, parameters,
    weight bits, activation bits, and the totals."""
    arch = resolve_spec(spec)
    rows = arch.layer_table()
    totals: dict[str, Any] = {"params": arch.params(), "weight_bits": arch.weight_bits(),
              "input_shape": list(arch.input_shape), "num_classes": arch.num_classes,
              "hash": arch.hash}
    if as_json:
        click.echo(json.dumps({"name": arch.name, "layers": [
            {**r, "out_shape": list(r["out_shape"])} for r in rows], "totals": totals}, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{arch.name or spec}  input {arch.input_shape}  "
                  f"{arch.num_classes} classes", title_justify="left")
    for col, justify in (("layer", "left"), ("kind", "left"), ("output shape", "right"),
                         ("params", "right"), ("weight bits", "right"), ("act bits", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(escape(r["path"]), escape(r["kind"]), "x".join(map(str, r["out_shape"])),
                      fmt_int(r["params"]), fmt_int(r["weight_bits"]), str(r["act_bits"]))
    table.add_section()
    table.add_row("total", "", "", fmt_int(totals["params"]), fmt_int(totals["weight_bits"]), "")
    console = Console(width=max(100, Console().width))
    console.print(table)
    console.print(f"weight memory: {totals['weight_bits']:,} bits "
                  f"({totals['weight_bits'] / 8192:.1f} KiB)   hash {arch.hash[:16]}")


def register(group: click.Group) -> None:
    group.add_command(describe)
