"""``dse cost``: the analytical hardware cost of a spec, per layer and in total."""

from __future__ import annotations

import json

import click

from dse.commands._common import fmt_int, resolve_spec
from dse.errors import UserError, user_input


@click.command()
@click.argument("spec")
@click.option("--accel", "accel_file", type=click.Path(dir_okay=False),
              help="Accelerator config (YAML/JSON); default: the 16x16 template.")
@click.option("--tech", "tech_file", type=click.Path(dir_okay=False),
              help="Technology table (YAML, like hwmodel/data/tech_45nm.yaml); default: 45 nm.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def cost(spec: str, accel_file: str | None, tech_file: str | None, as_json: bool) -> None:
    """Analytical cost of SPEC (a JSON file or a reference name): memory bits, MACs, BOPs,
    energy, ideal cycles per layer, then totals with the accelerator's logic and area."""
    from hwmodel.accel import AccelConfig
    from hwmodel.cost import cost_report
    from hwmodel.tech import default_tech, load_tech

    arch = resolve_spec(spec)
    with user_input():
        accel = AccelConfig.from_file(accel_file) if accel_file else AccelConfig()
        tech = load_tech(tech_file) if tech_file else default_tech()
    try:
        report = cost_report(arch, accel, tech)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"name": arch.name, **report.to_dict()}, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{arch.name or spec}  on {accel.rows}x{accel.cols} {accel.dataflow} "
                  f"{accel.mac}  ({tech.name})", title_justify="left")
    cols = (("op", "layer", "left"), ("kind", "op", "left"), ("macs", "MACs", "right"),
            ("weight_memory_bits", "weight bits", "right"),
            ("norm_memory_bits", "norm bits", "right"), ("live_act_bits", "live act bits", "right"),
            ("energy_pj", "energy pJ", "right"), ("ideal_cycles", "ideal cycles", "right"))
    for _, title, justify in cols:
        table.add_column(title, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for lc in report.layers:
        table.add_row(escape(lc.path), lc.op, fmt_int(lc.macs), fmt_int(lc.weight_memory_bits),
                      fmt_int(lc.norm_memory_bits), fmt_int(lc.live_act_bits),
                      f"{lc.energy_pj:,.1f}", fmt_int(lc.ideal_cycles))
    t = report.totals
    table.add_section()
    table.add_row("total", "", fmt_int(t["macs"]), fmt_int(t["weight_memory_bits"]),
                  fmt_int(t["norm_memory_bits"]), fmt_int(t["act_buffer_bits"]) + " (peak)",
                  f"{t['energy_pj']:,.1f}", fmt_int(t["ideal_cycles"]))
    console = Console(width=max(140, Console().width))
    console.print(table)
    console.print(
        f"memory: {t['memory_bits']:,} bits (weights {t['weight_memory_bits']:,}, CA state "
        f"{t['ca_state_bits']:,}, norm {t['norm_memory_bits']:,}, activations "
        f"{t['act_buffer_bits']:,})\n"
        f"ops: {t['macs']:,} MACs, {t['bops']:,} BOPs (UNIQ {t['bops_uniq']:,.0f}), "
        f"{t['gate_ops']:,} gate, {t['shift_ops']:,} shift, {t['compare_ops']:,} compare\n"
        f"energy: {t['energy_pj']:,.1f} pJ/inference (MAC {t['mac_energy_pj']:,.1f}, SRAM "
        f"{t['sram_energy_pj']:,.1f}, units {t['unit_energy_pj']:,.1f}, DRAM "
        f"{t['dram_energy_pj']:,.1f})\n"
        f"area: {t['area_um2']:,.0f} um2 (logic {t['logic_area_um2']:,.0f} = "
        f"{t['logic_nand2_eq']:,.0f} NAND2 eq., SRAM {t['sram_area_um2']:,.0f})\n"
        f"logic: " + ", ".join(f"{k} {t[k]:,}" for k in (
            "xnor2", "xor2", "and2", "or2", "mux2", "full_adders", "half_adders",
            "comparator_bits", "flip_flops")) + "\n"
        f"ideal: {t['ideal_cycles']:,} cycles = {t['ideal_latency_us']:,.2f} us at "
        f"{accel.clock_mhz:g} MHz   hash {report.spec_hash[:16]}", markup=False)


def register(group: click.Group) -> None:
    group.add_command(cost)
