"""The ``dse`` command.

Subcommands live one per module in :mod:`dse.commands`; each module defines ``register(group)``
and imports nothing heavy at module level, so ``dse --help`` starts fast. User mistakes
(:class:`dse.errors.UserError`, click usage errors) print one line on stderr and exit 2.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from dse import __version__, commands
from dse.errors import UserError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="dse")
def cli() -> None:
    """tinydse: design-space exploration for tiny, hardware-friendly quantized networks."""


def _register_commands() -> None:
    for mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if mod.name.startswith("_"):
            continue
        importlib.import_module(f"dse.commands.{mod.name}").register(cli)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning user mistakes into one line and exit code 2."""
    try:
        cli.main(args=argv, prog_name="dse", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("dse: aborted", err=True)
        return 130
    except click.UsageError as exc:
        click.echo(f"dse: error: {exc.format_message()}", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"dse: error: {exc.format_message()}", err=True)
        return exc.exit_code if exc.exit_code != 1 else 2
    except UserError as exc:
        click.echo(f"dse: error: {exc}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("dse: interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
