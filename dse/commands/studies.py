"""``dse studies``, ``dse status STUDY``, ``dse query STUDY``: read the results store.

All three open the database read-only (``--db``, default ``sqlite:///dse.db`` or the
``TINYDSE_DB`` environment variable). An unknown study exits 2 with one line listing the
existing ones; a bad ``--where``/``--sort``/``--columns`` exits 2 naming the position or name.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from dse.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from dse.store import Store

DEFAULT_DB = "sqlite:///dse.db"
_db_option = click.option("--db", "db", default=DEFAULT_DB, show_default=True,
                          envvar="TINYDSE_DB", metavar="URL",
                          help="Results database: sqlite:///FILE or "
                               "postgresql+psycopg://USER@HOST/DB (env TINYDSE_DB).")


def _open(db: str) -> Store:
    from dse.store import open_store

    return open_store(db, read_only=True)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return ""
        if isinstance(value, pd.Timestamp):
            return value.strftime("%Y-%m-%d %H:%M:%S")
    except ImportError:  # pragma: no cover
        pass
    return str(value)


def _print_table(frame: pd.DataFrame, title: str | None = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in frame.columns:
        numeric = frame[col].dtype.kind in "iufb" or str(frame[col].dtype) in ("Int64",
                                                                                "Float64")
        table.add_column(escape(str(col)), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(escape(_fmt(v)) for v in row))
    Console(width=max(120, Console().width)).print(table)


@click.command()
@_db_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="Output format.")
def studies(db: str, fmt: str) -> None:
    """List the studies in the results database."""
    with _open(db) as store:
        frame = store.list_studies()
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(frame.to_json(orient="records", date_format="iso", indent=2))
    elif frame.empty:
        click.echo(f"no studies in {store.url}")
    else:
        _print_table(frame.drop(columns=["created_at"]))


@click.command()
@click.argument("study")
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(study: str, db: str, as_json: bool) -> None:
    """Counts by status, best value per objective, hypervolume and last update of STUDY."""
    with _open(db) as store:
        info = store.study_status(study)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    objs = ", ".join(f"{n} ({d})" for n, d in info["objectives"])
    buds = ", ".join(f"{m} {op} {v:g}" for m, op, v in info["budgets"]) or "none"
    counts = "  ".join(f"{k} {v}" for k, v in info["counts"].items() if v) or "none yet"
    lines = [
        f"study {info['study']}  (space {info['space']}, dataset {info['dataset']}, "
        f"task {info['task']})",
        f"objectives: {objs}",
        f"budgets: {buds}",
        f"candidates: {info['n_candidates']}   evaluations: {counts}",
        "best: " + ("  ".join(f"{k} {_fmt(v)}" for k, v in info["best"].items())
                    if info["pareto_size"] else "no complete evaluation yet"),
        f"pareto front: {info['pareto_size']} candidates   hypervolume: "
        f"{_fmt(info['hypervolume']) or 'n/a'}"
        + (f" (reference {', '.join(_fmt(x) for x in info['reference'])})"
           if info["reference"] else ""),
        f"confirmed: {info['confirmed']} candidates (their values: means of two networks)",
        f"last update: {_fmt(info['last_update'])} UTC",
    ]
    click.echo("\n".join(lines))


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


@click.command()
@click.argument("study")
@_db_option
@click.option("--pareto", is_flag=True, help="Only the Pareto front.")
@click.option("--where", "where", metavar="EXPR",
              help="Filter, e.g. \"accuracy > 0.9 and memory_bits <= 1e6 and "
                   "status == 'complete'\".")
@click.option("--sort", "sort", metavar="COLS",
              help="Comma-separated columns, '-' for descending, e.g. -accuracy,memory_bits.")
@click.option("--columns", "columns", metavar="COLS", help="Comma-separated columns to show.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]),
              default="table", show_default=True, help="Output format (parquet needs --out).")
@click.option("--out", "out", default=None, metavar="FILE",
              help="Write to FILE instead of standard output.")
@click.option("--evaluations", is_flag=True,
              help="One row per evaluation by fidelity: the search's own and each `dse "
                   "train` run (source, training_id, epochs, ...).")
@click.option("--highest-fidelity", is_flag=True,
              help="With --evaluations: per candidate only its complete evaluation with the "
                   "most epochs.")
def query(study: str, db: str, pareto: bool, where: str | None, sort: str | None,
          columns: str | None, fmt: str, out: str | None, evaluations: bool,
          highest_fidelity: bool) -> None:
    """One row per candidate of STUDY with its metrics and Pareto flag (with --evaluations:
    one row per evaluation of a candidate, by fidelity)."""
    from dse.commands._common import check_out_file, staged_file

    if fmt == "parquet" and not out:
        raise UserError("--format parquet: needs --out FILE (binary output)")
    if highest_fidelity and not evaluations:
        raise UserError("--highest-fidelity: only with --evaluations")
    if out:
        check_out_file(out)  # before the database is read
    with _open(db) as store:
        cols = _split(columns)
        if evaluations:
            frame = store.evaluations(study, pareto_only=pareto,
                                      highest_fidelity=highest_fidelity, where=where,
                                      sort=_split(sort), columns=cols)
        else:
            frame = store.query(study, pareto_only=pareto, where=where, sort=_split(sort),
                                columns=cols)
        rec = store.get_study(study)
        objectives = rec.objectives
    if fmt == "parquet":
        assert out is not None
        with staged_file(out) as tmp:
            frame.to_parquet(tmp, index=False)
        click.echo(f"wrote {len(frame)} rows to {out}", err=True)
        return
    if fmt == "csv":
        text = frame.to_csv(index=False)
    elif fmt == "json":
        text = frame.to_json(orient="records", date_format="iso", indent=2) + "\n"
    else:
        if cols is None:
            lead = ["candidate_id", "source", "training_id", "epochs", "status"] if evaluations \
                else ["candidate_id", "trial_number", "status", "pareto"]
            keep = [*lead, *[n for n, _ in objectives]]
            from dse.tasks import get_task

            tail = (f"test_{get_task(rec.task).primary}", "train_seconds") if evaluations \
                else ("accuracy", "memory_bits", "energy_pj", "violated")
            for extra in tail:
                if extra not in keep:
                    keep.append(extra)
            shown = frame[[c for c in keep if c in frame.columns]]
            shown = shown.loc[:, [c for c in shown.columns
                                  if c in lead or shown[c].notna().any()]]
        else:
            shown = frame
        if out:
            text = shown.to_string(index=False) + "\n"
        else:
            if frame.empty:
                click.echo("no matching " + ("evaluations" if evaluations else "candidates"))
                return
            _print_table(shown, title=f"{study}: {len(frame)} "
                         + ("evaluations" if evaluations else "candidates"))
            return
    if out:
        with staged_file(out) as tmp:
            tmp.write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(frame)} rows to {out}", err=True)
    else:
        click.echo(text, nl=False)


def register(group: click.Group) -> None:
    group.add_command(studies)
    group.add_command(status)
    group.add_command(query)
