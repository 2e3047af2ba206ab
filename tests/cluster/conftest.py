"""One multi-host cluster for the whole session: hosts a (Ray head + driver), b (Ray worker
node), c (PostgreSQL), started with the README's own commands (see ``harness``).

On CI (``CI=true``) these tests always run: a machine that cannot host the harness fails them.
Elsewhere they skip when not root.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.harness import Cluster, missing_requirements, wait_for
from tests.conftest import ON_CI

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


@dataclass(frozen=True)
class RecipeLine:
    """One command of the README's cluster recipe and the host it runs on."""

    host: str
    command: str


def readme_recipe() -> list[RecipeLine]:
    """The commands of the README's "On a Ray cluster" block, each with its host: ``a`` for
    lines under a "head node" comment, ``b`` for "worker node" (continuations joined)."""
    text = README.read_text()
    section = text[text.index("### On a Ray cluster"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, "README: no bash block under 'On a Ray cluster'"
    lines: list[RecipeLine] = []
    host: str | None = None
    pending = ""
    for raw in block.group(1).splitlines():
        line = raw.strip()
        if line.startswith("#"):
            host = "a" if "head node" in line else "b" if "worker node" in line else host
            continue
        if not line:
            continue
        pending += line.removesuffix("\\").strip() + " "
        if not line.endswith("\\"):
            assert host is not None, f"README: {pending!r} has no host comment above it"
            lines.append(RecipeLine(host, pending.strip()))
            pending = ""
    return lines


class ClusterRun:
    """The cluster of the session with the README's placeholders filled in."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.recipe = readme_recipe()
        self.logs = cluster.root / "logs"
        self.logs.mkdir(exist_ok=True)

    def fill(self, command: str) -> str:
        c = self.cluster
        return (command.replace("HEAD_IP", c.hosts["a"].ip)
                .replace("DBHOST", c.hosts["c"].ip).replace("USER@", "tester@"))

    def line(self, prefix: str) -> RecipeLine:
        """The recipe line starting with ``prefix`` (placeholders filled)."""
        found = [r for r in self.recipe if r.command.startswith(prefix)]
        assert len(found) == 1, f"README recipe: {len(found)} lines start with {prefix!r}"
        return RecipeLine(found[0].host, self.fill(found[0].command))

    def search_argv(self, study: str, *extra: str) -> list[str]:
        """The README's `dse search` line, for ``study`` (and ``extra`` options)."""
        argv = shlex.split(self.line("dse search").command)
        i = argv.index("--study")
        argv[i + 1] = study
        return [*argv, "--quiet", *extra]

    def spawn_search(self, host: str, study: str, env: dict[str, str] | None = None,
                     extra: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
        """The README's `dse search` line for ``study`` on ``host`` (and ``extra`` options),
        in the background."""
        return self.cluster.spawn(host, self.search_argv(study, *extra), env=env,
                                  log=self.logs / f"{study}-{host}.log")

    def search_log(self, study: str, host: str) -> str:
        path = self.logs / f"{study}-{host}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def wait_search(self, proc: subprocess.Popen[bytes], study: str, host: str,
                    timeout: float = 900) -> None:
        """Wait for a background search; it must exit 0."""
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"search {study} on {host} did not end: "
                                 f"{self.search_log(study, host)}") from None
        assert code == 0, f"search {study} on {host} exit {code}: {self.search_log(study, host)}"

    def trials(self, study: str, *, status: str | None = None, host: str | None = None,
               with_epoch: bool = False) -> list[int]:
        """Trial numbers of ``study``'s evaluations (fast: psql), optionally by stored status,
        host and having a stored epoch."""
        where = [f"s.name = '{study}'"]
        if status:
            where.append(f"e.status = '{status}'")
        if host:
            where.append(f"e.host = '{host}'")
        if with_epoch:
            where.append("exists (select 1 from dse_epochs p where p.evaluation_id = e.id "
                         "and p.attempt = e.attempt)")
        rows = self.cluster.sql("select e.trial_number from dse_evaluations e join dse_studies s"
                                f" on s.id = e.study_id where {' and '.join(where)}")
        return [int(r[0]) for r in rows]

    def restore_worker_node(self) -> None:
        """Host b's Ray processes killed (what is left of them) and its node started again."""
        self.cluster.kill_host_processes("b")
        self.start_worker_node()
        self.wait_nodes(2)

    def start_worker_node(self) -> None:
        line = self.line("ray start --address")
        self.cluster.shell(line.host, line.command, check=True, timeout=180)

    def alive_nodes(self) -> list[str]:
        """Node addresses the Ray head counts alive."""
        code = (f"import json, ray; ray.init(address={self.cluster.ray_address!r}, "
                "log_to_driver=False); print(json.dumps([n['NodeManagerAddress'] "
                "for n in ray.nodes() if n['Alive']]))")
        out = self.cluster.run("a", ["python", "-c", code], timeout=600)
        try:
            return list(json.loads(out.stdout.strip().splitlines()[-1]))
        except (ValueError, IndexError):
            return []

    def wait_nodes(self, n: int, timeout: float = 90) -> None:
        wait_for(lambda: len(self.alive_nodes()) == n, timeout, f"{n} alive Ray nodes")

    def dse(self, host: str, *args: str, timeout: float = 600,
            env: dict[str, str] | None = None) -> Any:
        """``dse ARGS --db <the cluster's>`` on ``host``; the completed process."""
        return self.cluster.run(host, ["dse", *args, "--db", self.cluster.db_url],
                                timeout=timeout, env=env)

    def query(self, study: str, *args: str) -> list[dict[str, Any]]:
        out = self.dse("a", "query", study, "--format", "json", *args)
        assert out.returncode == 0, out.stderr
        return list(json.loads(out.stdout))

    def epochs(self, study: str) -> dict[int, list[tuple[str, int]]]:
        """(stage, epoch) of every stored epoch row, by trial number, in insertion order."""
        code = ("import json, sys; from dse.store import open_store; "
                f"s = open_store({self.cluster.db_url!r}, read_only=True); "
                f"df = s.query({study!r}); "
                "print(json.dumps({int(r.trial_number): [[e.stage, int(e.epoch)] for e in "
                "s.epochs(int(r.candidate_id)).itertuples()] for r in df.itertuples()}))")
        out = self.cluster.run("a", ["python", "-c", code], timeout=600)
        assert out.returncode == 0, out.stderr
        raw = json.loads(out.stdout.strip().splitlines()[-1])
        return {int(k): [(str(a), int(b)) for a, b in v] for k, v in raw.items()}

    def status(self, study: str, host: str = "a", env: dict[str, str] | None = None
               ) -> dict[str, Any]:
        out = self.dse(host, "status", study, "--json", env=env)
        assert out.returncode == 0, out.stderr
        return dict(json.loads(out.stdout))


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    why = missing_requirements()
    if why is not None:
        if ON_CI:
            pytest.fail(f"the multi-host harness cannot run here: {why} (required on CI)")
        pytest.skip(f"multi-host harness: {why}")
    with Cluster(python_path=str(REPO)) as c:
        yield c


@pytest.fixture(scope="session")
def ray_cluster(cluster: Cluster) -> ClusterRun:
    """The README's `ray start` lines run on hosts a and b; both nodes alive."""
    run = ClusterRun(cluster)
    head = run.line("ray start --head")
    cluster.shell(head.host, head.command, check=True, timeout=180)
    run.start_worker_node()
    run.wait_nodes(2)
    return run


@dataclass(frozen=True)
class Reference:
    """The README's search run unfaulted (study ``cluster-demo``): its rows by trial number,
    its stored epochs, the PostgreSQL log it produced."""

    rows: dict[int, dict[str, Any]]
    epochs: dict[int, list[tuple[str, int]]]
    pg_log: str
    stdout: str


@pytest.fixture(scope="session")
def reference(ray_cluster: ClusterRun) -> Reference:
    line = ray_cluster.line("dse search")
    assert line.host == "a"
    before = len(ray_cluster.cluster.pg_log())
    out = ray_cluster.cluster.shell("a", line.command, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    rows = {int(r["trial_number"]): r for r in ray_cluster.query("cluster-demo")}
    return Reference(rows, ray_cluster.epochs("cluster-demo"),
                     ray_cluster.cluster.pg_log()[before:], out.stdout)
