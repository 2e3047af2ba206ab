"""Study configuration: a YAML/TOML file plus command-line flags (flags override).

Everything is validated here, before a database is touched or a process is started: an error
names the field, the rule and the value (``UserError``, one line, exit code 2 from the CLI).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from dse.catalog import BUDGET_OPS
from dse.errors import UserError


def objective_directions(task: str) -> dict[str, str]:
    """Every objective a study of ``task`` may use, with its direction (the catalogue's)."""
    from dse.catalog import catalogue

    return dict(catalogue().objectives(task))


def budget_metrics(task: str) -> tuple[str, ...]:
    """Every metric a budget of a ``task`` study may constrain (known before training)."""
    from dse.catalog import catalogue

    return catalogue().budgets(task)


EXECUTORS = ("ray", "local")
#: Early-stopping criteria (``early_stopping_rule``; their rules: dse.search.EarlyStopping).
STOPPING_CRITERIA = ("dominated", "halving")
#: The ``dominated`` criterion's default slack (``early_stopping_slack``; measured in
#: benchmarks/early_stopping.py: 1 stopped front points on digits, 2 none).
STOPPING_SLACK = 2.0

_BUDGET_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+0-9.eE_]+)\s*$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


@dataclass(frozen=True)
class Budget:
    """A hard limit on a hardware metric, e.g. ``memory_bits <= 1e6``."""

    metric: str
    op: str
    value: float

    def violated_by(self, value: float) -> bool:
        ok = {"<=": value <= self.value, "<": value < self.value,
              ">=": value >= self.value, ">": value > self.value}[self.op]
        return not ok

    def excess(self, value: float) -> float:
        """Optuna constraint value: <= 0 when satisfied, relative violation otherwise."""
        scale = abs(self.value) or 1.0
        return (value - self.value) / scale if self.op in ("<=", "<") else \
            (self.value - value) / scale

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"

    @classmethod
    def parse(cls, text: str) -> Budget:
        m = _BUDGET_RE.match(text)
        if not m:
            raise UserError(f"--budget: {text!r} must look like METRIC<=NUMBER "
                            f"(ops {', '.join(BUDGET_OPS)}), e.g. memory_bits<=1e6")
        metric, op, raw = m.groups()
        try:
            value = float(raw)
        except ValueError:
            raise UserError(f"--budget: {raw!r} in {text!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise UserError(f"--budget: {text!r} needs a finite value >= 0")
        return cls(metric, op, value)


@dataclass(frozen=True)
class SearchConfig:
    """One study: what to search, how to train, where to store. Defaults run on a laptop."""

    study: str = "demo"
    space: str = ""  # "" -> the task's default
    dataset: str = ""  # "" -> the task's default
    dataset_params: dict[str, Any] = field(default_factory=dict)
    data_root: str | None = None
    task: str = "classification"
    objectives: tuple[str, ...] = ()  # () -> the task's default
    budgets: tuple[Budget, ...] = ()
    sampler: str = ""  # "" -> tpe (see sampler_name)
    #: 30, not 20: with 20 the front's pick at <= 32 kbit missed 97 % (docs/benchmarks.md,
    #: "front_quality")
    trials: int = 30
    #: 24, not 12: +0.9 points test accuracy on `compact` members, 40 no better
    #: (docs/benchmarks.md, "front_quality"); with warmup-cosine + BN recalibration
    #: (benchmarks/recipes.py)
    epochs: int = 24
    schedule: str = "two-stage"  # float first, then quantized: better accuracy in few epochs
    batch_size: int = 32
    lr: float = 1e-2  # a task may set its own default (Task.default_lr, by build_config)
    max_train_batches: int | None = None
    #: training recipe (dse.train; measured in benchmarks/recipes.py)
    lr_schedule: str = "warmup-cosine"
    bn_recalibration: bool = True
    distill: float = 0.0
    weight_decay: float = 0.0
    db: str = "sqlite:///dse.db"
    executor: str = "ray"
    ray_address: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int = 2
    seed: int = 0
    trial_timeout_s: float | None = None
    max_failures: int | None = None
    early_stopping: bool = True
    #: how early stopping decides (dse.search.EarlyStopping; benchmarks/early_stopping.py)
    early_stopping_rule: str = "dominated"
    #: ``dominated``: a trial may still gain this many times the largest gain seen from a rung
    early_stopping_slack: float = STOPPING_SLACK
    #: after the trials, at most this many front candidates train a second network and are
    #: judged by the mean of both (dse.confirm; 0: off; None: half the trials, rounded up)
    confirm: int | None = None
    #: feasible points drawn by the cost model that start the sampler (0: none; dse.feasible)
    warm_start: int = 8
    #: every Nth trained candidate is the cost model's feasible point in the widest stretch
    #: of cost where nothing was trained yet (0: off; dse.feasible.widest_gap)
    gap_fill_every: int = 4
    #: cap on proposals of every kind (None: 20 per planned trial, dse.search)
    max_proposals: int | None = None
    accel: str | None = None
    #: co-search: after each network trains, this many more accelerators for it (drawn at
    #: random from the space's accelerator dimensions) are proposed; they cost no training
    accels_per_network: int = 0
    progress: bool = True

    @property
    def confirm_count(self) -> int:
        """The confirmations the study may train (``confirm``; by default half the trials)."""
        return -(-self.trials // 2) if self.confirm is None else self.confirm

    @property
    def directions(self) -> list[str]:
        table = objective_directions(self.task)
        return [table[o] for o in self.objectives]

    @property
    def sampler_name(self) -> str:
        """The sampler, TPE (multi-objective, multivariate) unless one is named.

        NSGA-II was the first multi-objective default; measured on our spaces it is not
        better than random search at the budgets of a search (tens of trained candidates):
        Optuna's NSGA-II evolves only the dimensions present in every trial, and a space's
        conditional dimensions are redrawn at random. TPE reaches random search's final
        hypervolume in about half the trials (benchmarks/search_efficiency.py)."""
        return self.sampler or "tpe"

    def identity(self) -> dict[str, Any]:
        """The fields that define a study: reusing its name with others is an error."""
        return {"space": self.space, "dataset": self.dataset, "task": self.task,
                "objectives": list(self.objectives)}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["objectives"] = list(self.objectives)
        data["budgets"] = [str(b) for b in self.budgets]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        """The configuration :meth:`to_dict` wrote (a stored study's ``config``; keys that
        are not fields, such as the hypervolume reference, are ignored). Not validated: a
        stored study was validated when it was created."""
        types = {f.name: f.type for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in types:
                continue
            if value is None:
                if "None" in str(types[key]):
                    kwargs[key] = None
                continue
            kwargs[key] = _coerce(key, value, types[key])
        return replace(cls(), **kwargs)

    def validate(self) -> SearchConfig:
        """Check every field against its rule; return self. Raises ``UserError``."""
        def bad(name: str, rule: str, value: Any) -> UserError:
            return UserError(f"{name}={value!r} {rule}")

        if not _NAME_RE.match(self.study):
            raise bad("study", "must be 1-100 letters, digits, '_', '-' or '.'", self.study)
        from dse.tasks import list_tasks

        if self.task not in list_tasks():
            raise bad("task", f"must be one of {list_tasks()}", self.task)
        table = objective_directions(self.task)
        if not self.objectives:
            raise bad("objectives", "must name at least one objective", "")
        for obj in self.objectives:
            if obj not in table:
                raise bad("objectives", f"has an unknown objective for task {self.task!r}; "
                          f"known: {list(table)}", obj)
        allowed = budget_metrics(self.task)
        for b in self.budgets:
            if b.metric not in allowed:
                raise UserError(f"--budget: metric {b.metric!r} must be one of {list(allowed)}")
        if len(set(self.objectives)) != len(self.objectives):
            raise bad("objectives", "must not repeat a name", ",".join(self.objectives))
        if len(self.objectives) > 4:
            raise bad("objectives", "may hold at most 4 objectives", ",".join(self.objectives))
        from dse.samplers import SAMPLERS

        if self.sampler and self.sampler not in SAMPLERS:
            raise bad("sampler", f"must be one of {SAMPLERS.names()}", self.sampler)
        if self.early_stopping_rule not in STOPPING_CRITERIA:
            raise bad("early_stopping_rule", f"must be one of {list(STOPPING_CRITERIA)}",
                      self.early_stopping_rule)
        slack = self.early_stopping_slack
        if isinstance(slack, bool) or not isinstance(slack, int | float) \
                or not math.isfinite(slack) or slack < 0:
            raise bad("early_stopping_slack", "must be a finite number >= 0", slack)
        if self.executor not in EXECUTORS:
            raise bad("executor", f"must be one of {list(EXECUTORS)}", self.executor)
        for name in ("trials", "epochs", "batch_size", "max_concurrent"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad(name, "must be an integer >= 1", value)
        if self.max_train_batches is not None and self.max_train_batches < 1:
            raise bad("max_train_batches", "must be an integer >= 1", self.max_train_batches)
        if self.max_proposals is not None and self.max_proposals < 1:
            raise bad("max_proposals", "must be an integer >= 1", self.max_proposals)
        if isinstance(self.warm_start, bool) or not isinstance(self.warm_start, int) \
                or self.warm_start < 0:
            raise bad("warm_start", "must be an integer >= 0", self.warm_start)
        if isinstance(self.gap_fill_every, bool) or not isinstance(self.gap_fill_every, int) \
                or self.gap_fill_every < 0:
            raise bad("gap_fill_every", "must be an integer >= 0", self.gap_fill_every)
        if not isinstance(self.accels_per_network, int) or isinstance(
                self.accels_per_network, bool) or self.accels_per_network < 0:
            raise bad("accels_per_network", "must be an integer >= 0", self.accels_per_network)
        if self.confirm is not None and (isinstance(self.confirm, bool) or not isinstance(
                self.confirm, int) or self.confirm < 0):
            raise bad("confirm", "must be an integer >= 0", self.confirm)
        if self.max_failures is not None and self.max_failures < 1:
            raise bad("max_failures", "must be an integer >= 1", self.max_failures)
        from dse.train import LR_SCHEDULES

        if self.lr_schedule not in LR_SCHEDULES:
            raise bad("lr_schedule", f"must be one of {list(LR_SCHEDULES)}", self.lr_schedule)
        if not (isinstance(self.distill, int | float) and 0 <= self.distill <= 1):
            raise bad("distill", "must be a number in [0, 1]", self.distill)
        if not (isinstance(self.weight_decay, int | float) and 0 <= self.weight_decay < 1):
            raise bad("weight_decay", "must be a number in [0, 1)", self.weight_decay)
        if not (isinstance(self.lr, int | float) and 0 < self.lr < 10):
            raise bad("lr", "must be a number in (0, 10)", self.lr)
        if self.cpus_per_trial <= 0:
            raise bad("cpus_per_trial", "must be > 0", self.cpus_per_trial)
        if self.gpus_per_trial < 0:
            raise bad("gpus_per_trial", "must be >= 0", self.gpus_per_trial)
        if self.trial_timeout_s is not None and self.trial_timeout_s <= 0:
            raise bad("trial_timeout", "must be > 0 seconds", self.trial_timeout_s)
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", self.db):
            raise bad("db", "must be a sqlite:/// or postgresql+psycopg:// URL", self.db)
        if self.accel is not None and not Path(self.accel).is_file():
            raise bad("accel", "must be an existing YAML file", self.accel)
        self._validate_names()
        return self

    def _validate_names(self) -> None:
        """Space, dataset and schedule must exist (imports are cheap and torch-free here)."""
        from search_spaces.spaces import SPACES

        is_file = self.space.endswith((".yaml", ".yml", ".toml"))
        if is_file and not Path(self.space).is_file():
            raise UserError(f"space={self.space!r} is not an existing file")
        if not is_file and self.space not in SPACES:
            raise UserError(f"space={self.space!r} must be one of {SPACES.names()} "
                            "or a .yaml/.toml space file")
        from dse.data import DATASETS

        if self.dataset not in DATASETS:
            raise UserError(f"dataset={self.dataset!r} must be one of {DATASETS.names()}")
        from dse.train import SCHEDULES, get_schedule

        if self.schedule not in SCHEDULES:
            raise UserError(f"schedule={self.schedule!r} must be one of {SCHEDULES.names()}")
        try:
            get_schedule(self.schedule, self.epochs)
        except ValueError as exc:
            raise UserError(f"epochs={self.epochs} does not fit schedule={self.schedule!r}: "
                            f"{str(exc).splitlines()[0]}") from None


#: The defaults, one place (``dse search --help`` shows them from here).
DEFAULTS = SearchConfig()


def _coerce(name: str, value: Any, target: Any) -> Any:
    """Convert a config-file value to the field's type, naming the field on failure."""
    if name == "objectives":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise UserError(f"objectives={value!r} must be a list or a comma-separated string")
        return tuple(str(v) for v in value)
    if name == "budgets":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            raise UserError(f"budgets={value!r} must be a list of 'metric<=value' strings")
        return tuple(v if isinstance(v, Budget) else Budget.parse(str(v)) for v in value)
    if name == "dataset_params":
        if not isinstance(value, dict):
            raise UserError(f"dataset_params={value!r} must be a mapping")
        return value
    if target in ("int", "int | None") and (isinstance(value, bool)
                                            or not isinstance(value, int)):
        raise UserError(f"{name}={value!r} must be an integer")
    if target in ("float", "float | None") and not isinstance(value, int | float):
        raise UserError(f"{name}={value!r} must be a number")
    if target == "bool" and not isinstance(value, bool):
        raise UserError(f"{name}={value!r} must be true or false")
    if target in ("str", "str | None") and not isinstance(value, str):
        raise UserError(f"{name}={value!r} must be a string")
    return value


_ALIASES = {"trial_timeout": "trial_timeout_s", "budget": "budgets", "study_name": "study"}


def load_config_file(path: str) -> dict[str, Any]:
    """Read a YAML or TOML study file into a dict of known fields."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{path}: no such config file")
    text = p.read_text(encoding="utf-8")
    if p.suffix == ".toml":
        import tomllib

        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{path}: malformed TOML ({exc})") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise UserError(f"{path}: malformed YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: must be a mapping of field: value")
    known = {f.name for f in fields(SearchConfig)}
    out: dict[str, Any] = {}
    for key, value in data.items():
        key = _ALIASES.get(str(key).replace("-", "_"), str(key).replace("-", "_"))
        if key not in known:
            raise UserError(f"{path}: unknown field {key!r} (known: {sorted(known)})")
        out[key] = value
    return out


def build_config(file: str | None = None, **overrides: Any) -> SearchConfig:
    """Defaults <- config file <- flags (``None`` flags are ignored); validated."""
    merged: dict[str, Any] = load_config_file(file) if file else {}
    merged.update({k: v for k, v in overrides.items() if v is not None and v != ()})
    types = {f.name: f.type for f in fields(SearchConfig)}
    kwargs = {}
    for key, value in merged.items():
        key = _ALIASES.get(key, key)
        if key not in types:
            raise UserError(f"unknown field {key!r}")
        kwargs[key] = _coerce(key, value, types[key])
    kwargs["db"] = _expand_db(kwargs.get("db", SearchConfig.db))
    from dse.tasks import TASKS

    name = kwargs.get("task", SearchConfig.task)
    if name not in TASKS:
        raise UserError(f"task={name!r} must be one of {TASKS.names()}")
    task = TASKS.get(name)
    kwargs.setdefault("space", task.default_space)
    kwargs.setdefault("dataset", task.default_dataset)
    kwargs.setdefault("objectives", task.default_objectives)
    if task.default_lr is not None:
        kwargs.setdefault("lr", task.default_lr)
    return replace(SearchConfig(), **kwargs).validate()


def _expand_db(url: str) -> str:
    """Expand ``~`` and environment variables; make a relative SQLite path absolute, since
    Ray workers run in other directories."""
    url = os.path.expandvars(url.replace("sqlite:///~", "sqlite:///" + str(Path.home())))
    m = re.match(r"^(sqlite(?:\+\w+)?:///)([^/?].*)$", url)
    if m and not m.group(2).startswith(":memory:"):
        url = m.group(1) + str(Path(m.group(2)).resolve())
    return url
