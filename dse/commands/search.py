"""``dse search``: run or continue a study (flags override a YAML/TOML config file)."""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import click

from dse.config import DEFAULTS as _D
from dse.config import STOPPING_CRITERIA


@click.command()
@click.option("--config", "config_file", type=str, default=None,
              help="YAML/TOML study file; flags override its fields.")
@click.option("--study", default=None, help=f"Study name (same name = continue). [{_D.study}]")
@click.option("--task", default=None,
              help=f"What candidates are trained for (classification, compression). "
                   f"[{_D.task}]")
@click.option("--space", default=None, help="Space name (see `dse spaces`) or a .yaml/.toml "
              "space file. [the task's, e.g. tiny]")
@click.option("--dataset", default=None, help="Dataset name. [the task's, e.g. digits]")
@click.option("--data-root", default=None, help="Local folder of an on-disk dataset.")
@click.option("--objectives", default=None,
              help="Comma list: accuracy,memory_bits[,cycles,energy_pj,bops,area_um2].")
@click.option("--budget", "budgets", multiple=True,
              help="Hard budget, repeatable: 'memory_bits<=1e6'.")
@click.option("--sampler", default=None,
              help=f"tpe|nsga2|nsga3|random|qmc|gp (Optuna's). [{_D.sampler_name}]")
@click.option("--trials", type=int, default=None, help=f"Planned trials in all. [{_D.trials}]")
@click.option("--epochs", type=int, default=None, help=f"Training epochs per trial. [{_D.epochs}]")
@click.option("--schedule", default=None,
              help=f"Training schedule (qat, two-stage, billnet). [{_D.schedule}]")
@click.option("--batch-size", type=int, default=None)
@click.option("--lr", type=float, default=None)
@click.option("--max-train-batches", type=int, default=None,
              help="Cap the batches per epoch (quick runs).")
@click.option("--db", default=None, help=f"Results database URL. [{_D.db}]")
@click.option("--executor", default=None, help=f"ray or local (in-process). [{_D.executor}]")
@click.option("--ray-address", default=None, help="Existing Ray cluster ('auto' or host:port); "
              "default: a local Ray started and stopped by this command.")
@click.option("--cpus-per-trial", type=float, default=None)
@click.option("--gpus-per-trial", type=float, default=None)
@click.option("--max-concurrent", type=int, default=None,
              help=f"Trials training at once. [{_D.max_concurrent}]")
@click.option("--seed", type=int, default=None)
@click.option("--trial-timeout", type=float, default=None, help="Seconds before a trial fails.")
@click.option("--max-failures", type=int, default=None, help="Stop after this many failures.")
@click.option("--no-early-stopping", is_flag=True, default=False,
              help="Train every feasible candidate for all its epochs.")
@click.option("--early-stopping-rule", default=None,
              help=f"{'|'.join(STOPPING_CRITERIA)}. dominated: stop a trial only when a "
              "finished cheaper one beats the best it could still reach; halving: keep the "
              f"top third at each rung (ASHA). [{_D.early_stopping_rule}]")
@click.option("--early-stopping-slack", type=float, default=None,
              help="dominated: how many times the largest gain any finished trial made from a "
                   "rung a trial may still make before it is stopped. "
                   f"[{_D.early_stopping_slack:g}]")
@click.option("--confirm", type=int, default=None, metavar="N",
              help="After the trials, train a second network of at most N candidates on and "
                   "next to the front; they are judged by the mean of both (0: off). "
                   "[half of --trials]")
@click.option("--warm-start", type=int, default=None,
              help="Feasible points drawn by the cost model that start the sampler (0: off). "
                   f"[{_D.warm_start}]")
@click.option("--gap-fill-every", type=int, default=None, metavar="N",
              help="Every Nth trained candidate is the cost model's point in the widest "
                   f"stretch of cost nothing was trained in yet (0: off). [{_D.gap_fill_every}]")
@click.option("--max-proposals", type=int, default=None,
              help="Stop after this many proposals of any kind (duplicates and over-budget "
                   "ones do not count toward --trials). [20 x trials]")
@click.option("--accel", default=None, help="Accelerator YAML for the hardware model (a "
              "co-search's base accelerator).")
@click.option("--accels-per-network", type=int, default=None,
              help="Co-search: after each network trains, propose it on this many more "
                   f"accelerators (no training). [{_D.accels_per_network}]")
@click.option("--quiet", is_flag=True, help="No live progress view.")
def search(config_file: str | None, budgets: tuple[str, ...], no_early_stopping: bool,
           quiet: bool, **flags: Any) -> None:
    """Search a space: hardware cost first, then train the feasible candidates; results go to
    the database (re-run the same command to continue a study)."""
    from dse.config import build_config
    from dse.search import run_search

    overrides = {k: v for k, v in flags.items() if v is not None}
    if "trial_timeout" in overrides:
        overrides["trial_timeout_s"] = overrides.pop("trial_timeout")
    if budgets:
        overrides["budgets"] = list(budgets)
    if no_early_stopping:
        overrides["early_stopping"] = False
    cfg = build_config(config_file, **overrides)
    view = ProgressView(cfg, enabled=not quiet)
    with view:
        outcome = run_search(cfg, on_event=view.event)
    _summary(cfg, outcome)


class ProgressView:
    """A live terminal table: counts by status, best per objective, hypervolume, ETA."""

    def __init__(self, cfg: Any, enabled: bool) -> None:
        self.cfg = cfg
        self.enabled = enabled and sys.stderr.isatty()
        self.counts: dict[str, int] = {}
        self.points: list[list[float]] = []
        self.best: dict[str, float] = {}
        self.started = time.monotonic()
        self.live: Any = None
        self.reference: list[float] | None = None
        self.confirm_done, self.confirm_total, self.confirm_line = 0, 0, ""

    def __enter__(self) -> ProgressView:
        if self.enabled:
            from rich.console import Console
            from rich.live import Live

            self.live = Live(self._render(), console=Console(stderr=True), refresh_per_second=2)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.update(self._render())
            self.live.__exit__(*exc)

    def event(self, kind: str, info: dict[str, Any]) -> None:
        if kind == "reference":  # the study's fixed hypervolume reference (dse.feasible)
            self.reference = list(info["reference"])
            return
        if kind in ("warm_start", "exhausted", "gap_fill"):
            return
        if kind in ("confirming", "confirmed"):  # dse.confirm, after the trials
            self._confirm_event(kind, info)
            return
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind in ("complete", "pruned"):
            self.counts["running"] = max(0, self.counts.get("running", 0) - 1)
            vals = [info.get(o) for o in self.cfg.objectives]
            if all(isinstance(v, int | float) and math.isfinite(v) for v in vals):
                self.points.append([float(v) for v in vals])  # type: ignore[arg-type]
                for o, d, v in zip(self.cfg.objectives, self.cfg.directions, vals, strict=True):
                    better = max if d == "maximize" else min
                    self.best[o] = better(self.best.get(o, float(v)), float(v))  # type: ignore[arg-type]
        elif kind == "failed":
            self.counts["running"] = max(0, self.counts.get("running", 0) - 1)
        if self.live is not None:
            self.live.update(self._render())
        elif not self.enabled and kind in ("complete", "failed", "pruned", "infeasible"):
            done = self._trained()
            from dse.tasks import get_task

            key = get_task(self.cfg.task).primary
            acc = info.get(key)
            extra = f" {key}={acc:.3f}" if isinstance(acc, float) else ""
            reason = f" ({info['reason']})" if kind == "failed" and info.get("reason") else ""
            if kind == "infeasible":
                return  # not one of --trials; counted in the summary
            click.echo(f"[{done}/{self.cfg.trials}] trial {info.get('trial')}: {kind}{extra}"
                       f"{reason}", err=True)

    def _confirm_event(self, kind: str, info: dict[str, Any]) -> None:
        from dse.tasks import get_task

        if kind == "confirming":
            self.confirm_total = info["confirmed"] + len(info["candidates"])
            self.confirm_done = info["confirmed"]
            line = (f"confirming the front: a second network for {len(info['candidates'])} "
                    f"candidate(s) ({info['confirmed']} of at most {info['limit']} done)")
        else:
            self.confirm_done += 1
            key = get_task(self.cfg.task).primary
            acc = info.get(key)
            extra = f" {key}={acc:.3f}" if isinstance(acc, float) else \
                (f" ({info['reason']})" if info.get("reason") else "")
            line = (f"[confirm {self.confirm_done}/{self.confirm_total}] "
                    f"candidate {info['candidate_id']}: {info['status']}{extra}")
        self.confirm_line = line
        if self.live is not None:
            self.live.update(self._render())
        else:
            click.echo(line, err=True)

    def _trained(self) -> int:
        """Trials that went to training: duplicates and infeasible proposals do not count
        toward --trials."""
        return sum(self.counts.get(k, 0) for k in ("complete", "failed", "pruned"))

    def _hypervolume(self) -> float | None:
        if not self.points:
            return None
        from dse.pareto import hypervolume, reference_point

        try:
            import numpy as np

            pts = np.asarray(self.points, dtype=float)
            if self.reference is not None:
                ref = np.asarray(self.reference, dtype=float)
            else:
                ref = reference_point(list(zip(self.cfg.objectives, self.cfg.directions,
                                               strict=True)),
                                      [(b.metric, b.op, b.value) for b in self.cfg.budgets],
                                      pts)
            return float(hypervolume(pts, self.cfg.directions, ref))
        except Exception:  # the view must never break a search
            return None

    def _render(self) -> Any:
        from rich.table import Table

        done = self._trained()
        elapsed = time.monotonic() - self.started
        eta = (elapsed / done * (self.cfg.trials - done)) if done else None
        table = Table(title=f"study {self.cfg.study}: {done}/{self.cfg.trials} trials, "
                      f"{elapsed:.0f} s" + (f", ETA {eta:.0f} s" if eta is not None else ""),
                      title_justify="left")
        for col in ("running", "complete", "pruned", "failed", "infeasible", "duplicate"):
            table.add_column(col, justify="right")
        table.add_row(*(str(self.counts.get(c, 0)) for c in ("running", "complete", "pruned",
                                                             "failed", "infeasible",
                                                             "duplicate")))
        best = ", ".join(f"{k}={v:.4g}" for k, v in self.best.items())
        hv = self._hypervolume()
        table.caption = f"best: {best or '-'}   hypervolume: {hv:.4g}" if hv is not None \
            else f"best: {best or '-'}"
        if self.confirm_line:
            table.caption += f"\n{self.confirm_line}"
        return table


def _summary(cfg: Any, outcome: Any) -> None:
    from dse.store import open_store

    counts = ", ".join(f"{k} {v}" for k, v in sorted(outcome.counts.items()))
    click.echo(f"study {cfg.study}: {counts} in {outcome.seconds:.0f} s", err=True)
    if outcome.stopped_reason:
        click.echo(f"stopped early: {outcome.stopped_reason}", err=True)
    store = open_store(cfg.db, read_only=True)
    front = store.query(cfg.study, pareto_only=True)
    if len(front) == 0:
        click.echo("no completed candidate yet", err=True)
        return
    from dse.tasks import get_task

    test_col = f"test_{get_task(cfg.task).primary}"
    from dse.store.records import REPLICATES_KEY

    cols = [c for c in ("candidate_id", *cfg.objectives, test_col, REPLICATES_KEY)
            if c in front.columns]
    # a co-search's front: the accelerator fields that differ along it
    cols += [c for c in front.columns if c.startswith("accel_") and front[c].nunique() > 1]
    click.echo("Pareto front:")
    click.echo(front[cols].to_string(index=False))
    click.echo(f"more: dse query {cfg.study} --db {cfg.db} --pareto")


def register(group: click.Group) -> None:
    group.add_command(search)


