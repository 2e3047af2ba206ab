"""``dse spaces``: list the search spaces and reference configurations, or show one space."""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any

import click

from dse.commands._common import fmt_int
from dse.errors import UserError, user_input

if TYPE_CHECKING:
    from search_spaces.spaces.base import SearchSpace
    from search_spaces.spec import ArchSpec

#: Default inputs: the embedded datasets (digits; synthetic-gestures for video spaces).
IMAGE_DEFAULT = ((1, 8, 8), 10)
VIDEO_DEFAULT = ((1, 8, 32, 32), 8)


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(p) for p in text.replace("x", ",").split(",") if p.strip())
    except ValueError:
        raise UserError(f"--input-shape={text!r} must be integers like 1,8,8 or 1,8,32,32"
                        ) from None
    if len(shape) not in (3, 4) or min(shape) < 1:
        raise UserError(f"--input-shape={text!r} must be 3 (C,H,W) or 4 (C,T,H,W) positive "
                        "integers")
    return shape


def _fmt_size(space: SearchSpace) -> str:
    size = space.size()
    text = fmt_int(size) if size < 10**12 else f"{size:.3e}"
    return text if space.size_is_exact else f"<= {text}"


def _space_for(name: str, shape_text: str | None, num_classes: int | None) -> SearchSpace:
    from search_spaces.spaces import get_space, is_video_space

    with user_input():
        video = is_video_space(name)
        default_shape, default_classes = VIDEO_DEFAULT if video else IMAGE_DEFAULT
        shape = _parse_shape(shape_text) if shape_text else default_shape
        return get_space(name, input_shape=shape, num_classes=num_classes or default_classes)


@click.command("spaces")
@click.option("--show", "show", metavar="NAME|FILE",
              help="Show one space (a registered name or a .yaml/.toml file): its dimensions, "
                   "size and a sampled architecture.")
@click.option("--input-shape", "input_shape", metavar="C,H,W",
              help="Input shape for sizes and samples (default: digits 1,8,8; video spaces: "
                   "synthetic-gestures 1,8,32,32).")
@click.option("--num-classes", "num_classes", type=int, help="Classes (default 10; video 8).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sample.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def spaces(show: str | None, input_shape: str | None, num_classes: int | None, seed: int,
           as_json: bool) -> None:
    """List the search spaces (name, size, description) and the reference configurations
    (name, input, params, weight bits); with --show, one space in detail."""
    if num_classes is not None and num_classes < 2:
        raise UserError(f"--num-classes={num_classes} must be >= 2")
    if show:
        _show(_space_for(show, input_shape, num_classes), seed, as_json)
    else:
        _list(input_shape, num_classes, as_json)


def _list(input_shape: str | None, num_classes: int | None, as_json: bool) -> None:
    from search_spaces.spaces import SPACES, get_reference, list_references

    rows: list[dict[str, Any]] = []
    for name in SPACES.names():
        sp = _space_for(name, input_shape, num_classes)
        rows.append({"name": name, "description": sp.description, "video": sp.video,
                     "input_shape": list(sp.input_shape), "num_classes": sp.num_classes,
                     "size": sp.size(), "size_is_exact": sp.size_is_exact,
                     "size_text": _fmt_size(sp)})
    refs: list[dict[str, Any]] = []
    for name in list_references():
        spec = get_reference(name)
        refs.append({"name": name, "input_shape": list(spec.input_shape),
                     "num_classes": spec.num_classes, "params": spec.params(),
                     "weight_bits": spec.weight_bits(), "hash": spec.hash})
    if as_json:
        for r in rows:
            r.pop("size_text")
        click.echo(json.dumps({"spaces": rows, "references": refs}, indent=2))
        return
    from rich.table import Table

    table = Table(title="search spaces", title_justify="left")
    for col, just in (("name", "left"), ("input", "right"), ("size", "right"),
                      ("description", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(r["name"], "x".join(map(str, r["input_shape"])), r["size_text"],
                      r["description"])
    rtable = Table(title="reference configurations", title_justify="left")
    for col, just in (("name", "left"), ("input", "right"), ("classes", "right"),
                      ("params", "right"), ("weight bits", "right"), ("Mib", "right")):
        rtable.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in refs:
        rtable.add_row(r["name"], "x".join(map(str, r["input_shape"])), str(r["num_classes"]),
                       fmt_int(r["params"]), fmt_int(r["weight_bits"]),
                       f"{r['weight_bits'] / 2**20:.3f}")
    console = _console()
    console.print(table)
    console.print(rtable)
    console.print("Mib = 2**20 bits.  `dse describe NAME` shows a reference layer by layer.")


def _show(space: SearchSpace, seed: int, as_json: bool) -> None:
    choices = space.random_choices(random.Random(seed))
    spec, accel = space.design_from_choices(choices)
    if as_json:
        click.echo(json.dumps({
            "name": space.name, "description": space.description, "video": space.video,
            "input_shape": list(space.input_shape), "num_classes": space.num_classes,
            "size": space.size(), "size_is_exact": space.size_is_exact,
            "dimensions": space.describe_dimensions(),
            "sample": {"seed": seed, "choices": choices, "spec": spec.to_dict(),
                       **({"accel": accel} if accel else {})},
        }, indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    console.print(f"[bold]{escape(space.name)}[/bold]: {escape(space.description)}")
    console.print(f"input {space.input_shape}, {space.num_classes} classes; size "
                  f"{_fmt_size(space)} architectures"
                  + ("" if space.size_is_exact else " (upper bound: some choices coincide)"))
    dims = Table(title="dimensions", title_justify="left")
    for col in ("name", "values", "when"):
        dims.add_column(col)
    for d in space.describe_dimensions():
        dims.add_row(escape(d["name"]), escape(d["domain"]), escape(d["when"]))
    console.print(dims)
    _print_spec(console, spec, f"sample (seed {seed})")
    if accel:  # a co-search space: the sample is a (network, accelerator) pair
        console.print("accelerator: " + escape(", ".join(f"{k}={v}" for k, v in accel.items())))


def _print_spec(console: Any, spec: ArchSpec, title: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{title}: input {spec.input_shape}, {spec.num_classes} classes",
                  title_justify="left")
    for col, just in (("layer", "left"), ("kind", "left"), ("output shape", "right"),
                      ("params", "right"), ("weight bits", "right"), ("act bits", "right")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in spec.layer_table():
        table.add_row(escape(r["path"]), escape(r["kind"]), "x".join(map(str, r["out_shape"])),
                      fmt_int(r["params"]), fmt_int(r["weight_bits"]), str(r["act_bits"]))
    table.add_section()
    table.add_row("total", "", "", fmt_int(spec.params()), fmt_int(spec.weight_bits()), "")
    console.print(table)
    console.print(f"weight memory: {spec.weight_bits():,} bits   hash {spec.hash[:16]}")


def _console() -> Any:
    from rich.console import Console

    return Console(width=max(110, Console().width))


def register(group: click.Group) -> None:
    group.add_command(spaces)
