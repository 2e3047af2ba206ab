"""``dse dashboard``: serve the Pareto dashboard over a results database (read-only)."""

from __future__ import annotations

import click

from dse.errors import UserError


@click.command()
@click.option("--db", "db_url", required=True,
              help="Results database URL (sqlite:///dse.db or postgresql+psycopg://...).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to bind (0.0.0.0 exposes the dashboard to the network).")
@click.option("--port", type=int, default=8050, show_default=True)
@click.option("--refresh-ms", type=int, default=3000, show_default=True,
              help="Live refresh period of open pages in milliseconds; 0 turns it off.")
@click.option("--debug", is_flag=True, help="Dash debug mode (hot reload, error overlay).")
def dashboard(db_url: str, host: str, port: int, refresh_ms: int, debug: bool) -> None:
    """Serve the Pareto dashboard for the studies in --db; it only reads the database."""
    if not 0 < port < 65536:
        raise UserError(f"--port={port} must be in 1..65535")
    if refresh_ms < 0:
        raise UserError(f"--refresh-ms={refresh_ms} must be >= 0")
    from dashboard.app import create_app

    app = create_app(db_url, refresh_ms=refresh_ms)  # StoreError (a UserError) on a bad URL
    click.echo(f"tinydse dashboard on http://{host}:{port}/  (Ctrl+C to stop)", err=True)
    app.run(host=host, port=port, debug=debug)


def register(group: click.Group) -> None:
    group.add_command(dashboard)
