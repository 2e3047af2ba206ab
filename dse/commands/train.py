"""``dse train SPEC | STUDY CANDIDATE``: train one spec, or a study's candidate longer, and
store the result as a further evaluation of the candidate at its fidelity (epochs).

See :mod:`dse.trainings`. Bad input (unknown study or candidate, an over-budget candidate, a
spec that does not fit the dataset, bad ``--epochs``) exits 2 with one line before anything
is written. The same command again continues a killed run; a finished one is shown, not
retrained (``--retrain`` trains it again).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from dse.commands.studies import DEFAULT_DB
from dse.config import DEFAULTS
from dse.errors import UserError
from dse.trainings import DEFAULT_TRAIN_STUDY, LONGER


@click.command("train")
@click.argument("target", metavar="SPEC|STUDY")
@click.argument("candidate", type=int, required=False, metavar="[CANDIDATE]")
@click.option("--epochs", type=int, default=None, metavar="N",
              help=f"Epochs in all (the fidelity). [a candidate: {LONGER} x its study's "
                   f"epochs; a spec: {DEFAULTS.epochs}]")
@click.option("--schedule", default=None, metavar="S",
              help="Training schedule (qat, two-stage, billnet, float). [the study's]")
@click.option("--max-train-batches", type=int, default=None, metavar="N",
              help="Cap the batches per epoch (quick runs). [the study's]")
@click.option("--replicate", type=int, default=0, metavar="K",
              help="CANDIDATE only: train its network number K (another training seed and, "
                   "where the dataset has one, another train/validation partition; the "
                   "search's confirmation trains K = 1). [0: its first]")
@click.option("--retrain", is_flag=True, help="Train again a training that already finished.")
@click.option("--study", "study", default=None, metavar="NAME",
              help="SPEC only: the train study to store it in (created on first use with "
                   f"the settings below). [{DEFAULT_TRAIN_STUDY}]")
@click.option("--task", default=None, help="SPEC only, new train study: the task. "
              "[classification]")
@click.option("--dataset", default=None, help="SPEC only, new train study: the dataset. "
              "[the task's, e.g. digits]")
@click.option("--data-root", default=None, help="SPEC only, new train study: the folder of an "
              "on-disk dataset.")
@click.option("--seed", type=int, default=None,
              help=f"SPEC only, new train study. [{DEFAULTS.seed}]")
@click.option("--lr", type=float, default=None, help="SPEC only, new train study.")
@click.option("--batch-size", type=int, default=None, help="SPEC only, new train study.")
@click.option("--db", "db", default=DEFAULT_DB, show_default=True, envvar="TINYDSE_DB",
              metavar="URL", help="Results database (env TINYDSE_DB).")
@click.option("--quiet", is_flag=True, help="No progress.")
def train(target: str, candidate: int | None, epochs: int | None, schedule: str | None,
          max_train_batches: int | None, replicate: int, retrain: bool, study: str | None,
          db: str, quiet: bool, **settings: Any) -> None:
    """Train SPEC (a JSON spec file or a reference name, as `dse describe` takes) in a train
    study, or candidate CANDIDATE of STUDY (its id, as `dse query` shows it) with the study's
    settings; the result is stored as a further evaluation at its fidelity (`dse query STUDY
    --evaluations`). Run it again to continue a killed run."""
    from dse.store import StoreError, open_store
    from dse.trainings import plan_candidate, plan_spec, run_training

    fidelity: dict[str, Any] = {"epochs": epochs, "schedule": schedule,
                                "max_train_batches": max_train_batches}
    given = {k: v for k, v in settings.items() if v is not None}
    if candidate is not None and (study is not None or given):
        first = "--study" if study is not None else f"--{next(iter(given)).replace('_', '-')}"
        raise UserError(f"{first}: a study's candidate trains with its study's settings "
                        "(these options are for a SPEC)")
    from dse.trainings import check_replicate

    check_replicate(replicate)
    if candidate is None and replicate:
        raise UserError(f"--replicate={replicate}: only a study's CANDIDATE has further "
                        "networks (a SPEC trains once per train study)")
    spec = None
    if candidate is None:
        from dse.commands._common import resolve_spec

        spec = resolve_spec(target)  # before the database is opened
    try:
        if spec is None:  # a study's candidate: the database must exist (none is created)
            from dse.store.engine import mask_url, sqlite_file

            path = sqlite_file(db)
            if path is not None and not path.exists():
                raise UserError(f"{mask_url(db)}: no such database file")
        store = open_store(db)
    except StoreError as exc:
        raise UserError(str(exc)) from None
    with store:
        if spec is None:
            plan = plan_candidate(store, target, int(candidate or 0), **fidelity,
                                  replicate=replicate)
        else:
            plan = plan_spec(store, spec, study=study or DEFAULT_TRAIN_STUDY, **fidelity,
                             **given)
        view = TrainProgress(plan, enabled=not quiet)
        with view:
            outcome = run_training(store, plan, retrain=retrain, on_epoch=view.epoch,
                                   on_start=view.start)
        _summary(outcome, store.url)


class TrainProgress:
    """A progress bar over the run's epochs on a terminal (as `dse search` shows its live
    view), else one line per epoch on stderr."""

    def __init__(self, plan: Any, enabled: bool) -> None:
        from dse.tasks import get_task

        self.plan = plan
        self.total = plan.total_epochs
        self.monitor = get_task(plan.cfg.task).monitor
        self.enabled = enabled
        self.tty = enabled and sys.stderr.isatty()
        self.bar: Any = None
        self.task: Any = None
        self.started = time.monotonic()

    def __enter__(self) -> TrainProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def start(self, action: str, done: int) -> None:
        if not self.enabled:
            return
        what = (f"candidate {self.plan.candidate_id} of study {self.plan.study.name}: "
                f"{self.total} epochs ({self.plan.cfg.schedule})")
        if action == "resumed":
            what += f", resumed after epoch {done}"
        if self.tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(),
                                TimeRemainingColumn(), console=Console(stderr=True))
            self.bar.__enter__()
            self.bar.console.print(what)
            self.task = self.bar.add_task("epochs", total=self.total, completed=done)
        else:
            click.echo(what, err=True)

    def epoch(self, m: Any) -> None:
        """One stored epoch (a :class:`dse.trial.EpochReport`)."""
        if not self.enabled:
            return
        shown = f"{self.monitor}={m.monitor:.4f}" if isinstance(m.monitor, float) else ""
        if self.bar is not None:
            self.bar.update(self.task, completed=m.epoch, description=f"{m.stage} {shown}")
        else:
            click.echo(f"[{m.epoch}/{self.total}] {m.stage} {shown}".rstrip(), err=True)


def _summary(outcome: Any, url: str) -> None:
    from dse.tasks import get_task

    plan, rec = outcome.plan, outcome.record
    primary = get_task(plan.cfg.task).primary
    keys = [k for k in (primary, f"test_{primary}") if k in rec.metrics]
    values = "  ".join(f"{k} {rec.metrics[k]:.4f}" for k in keys)
    batches = f", {rec.max_train_batches} batches/epoch" if rec.max_train_batches else ""
    replicate = f", network {rec.replicate}" if rec.replicate else ""
    head = (f"candidate {plan.candidate_id} of study {plan.study.name}, {rec.epochs} epochs "
            f"({rec.schedule}{batches}){replicate}")
    if outcome.action == "done":
        click.echo(f"{head}: trained already ({rec.status}{', ' + values if values else ''}); "
                   "--retrain trains it again")
    else:
        took = rec.metrics.get("train_seconds")
        click.echo(f"{head}: {rec.status}" + (f" in {took:.1f} s" if took is not None else "")
                   + (f": {rec.error}" if rec.error else ""))
        if values:
            click.echo(f"  {values}")
    search = plan.search
    if search is not None and primary in search.metrics:
        click.echo(f"  the search's evaluation ({plan.study.config.get('epochs')} epochs, "
                   f"{search.status}): {primary} {search.metrics[primary]:.4f}")
    click.echo(f"training {rec.id}; all evaluations: dse query {plan.study.name} "
               f"--evaluations --db {url}")


def register(group: click.Group) -> None:
    group.add_command(train)
