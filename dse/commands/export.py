"""``dse export STUDY CANDIDATE --out DIR``: a trained candidate as files for a hardware flow.

The parameter image of each on-chip memory (``.bin`` and ``$readmemh`` ``.hex``), a JSON
manifest and test vectors from the test split; see :mod:`dse.export` and ``docs/export.md``.
Bad input (unknown study or candidate, a candidate that did not complete, a folder that
cannot be written) exits 2 with one line and writes nothing.
"""

from __future__ import annotations

import click

from dse.commands.studies import DEFAULT_DB
from dse.export import DEFAULT_VECTORS, DEFAULT_WORD_BITS


@click.command("export")
@click.argument("study")
@click.argument("candidate", type=int)
@click.option("--out", "out", required=True, metavar="DIR",
              help="New (or empty) folder to write; its parent must exist.")
@click.option("--vectors", "vectors", type=int, default=DEFAULT_VECTORS, show_default=True,
              metavar="N", help="Test vectors: the first N inputs of the test split.")
@click.option("--word-bits", "word_bits", type=int, default=DEFAULT_WORD_BITS,
              show_default=True, metavar="W", help="Word width of the memories' .hex files.")
@click.option("--training", "training", type=int, default=None, metavar="ID",
              help="Export the model of this complete `dse train` run of the candidate "
                   "(its training_id in `dse query STUDY --evaluations`). [the search's]")
@click.option("--db", "db", default=DEFAULT_DB, show_default=True, envvar="TINYDSE_DB",
              metavar="URL", help="Results database (env TINYDSE_DB).")
def export(study: str, candidate: int, out: str, vectors: int, word_bits: int,
           training: int | None, db: str) -> None:
    """Write candidate CANDIDATE (its id, as `dse query` shows it) of STUDY to --out DIR:
    memories/*.bin|hex (the parameter image), manifest.json, vectors/*.hex."""
    from dse.export import export_candidate
    from dse.store import open_store

    with open_store(db, read_only=True) as store:
        path = export_candidate(store, study, candidate, out, vectors=vectors,
                                word_bits=word_bits, training=training)
    import json

    manifest = json.loads((path / "manifest.json").read_text())
    mems = ", ".join(f"{m['name']} {m['bits']:,} bits" for m in manifest["memories"])
    click.echo(f"{path}: image {manifest['image_bits']:,} bits ({mems}); "
               f"{manifest['vectors']['count']} test vectors")


def register(group: click.Group) -> None:
    group.add_command(export)
