"""Several hosts on one Linux machine: network namespaces, a bridge, Ray and PostgreSQL.

``Cluster`` makes (as root) one network namespace per host plus one holding a bridge, each
host joined to the bridge by a veth pair whose ends are created directly inside the
namespaces (so nothing is added to the machine's own network namespace):

* host ``a`` (10.77.0.1): the Ray head and the driver;
* host ``b`` (10.77.0.2): a Ray worker node;
* host ``c`` (10.77.0.3): a PostgreSQL server that the harness ``initdb``'s into a temporary
  folder and starts itself (Debian's binaries under ``/usr/lib/postgresql/*/bin``), listening
  only on ``c``'s address, trust authentication for the test user.

Every command on a host runs as ``ip netns exec NS unshare --uts sh -c 'hostname H; exec
CMD'``, so a host also has its own hostname (what a process there sees as
``socket.gethostname()``) and its own Ray temporary folder (``RAY_TMPDIR``), as a separate
machine would. The subnet is private to these namespaces: other harnesses (or other Rays on the
machine) never see it.

Only what the harness made is addressed: the names carry ``tdse`` and the creating process'
id; teardown kills, by pid, every process inside its namespaces (``ip netns pids``, which holds
exactly the processes started there) and deletes the namespaces. It runs from ``close()``, at
exit (``atexit``) and on SIGTERM; never ``ray stop``, which would end every Ray on the machine.
Namespaces of an earlier harness whose process is gone are removed on start.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREFIX = "tdse"
SUBNET = "10.77.0"
PG_USER = "tester"
PG_DB = "tinydse"
#: Ray's node health checks for the test cluster: a silent node is declared dead after
#: about period * threshold (+ timeout) ms instead of Ray's default of about 30 s.
RAY_FAST_FAILURE_ENV = {
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}
#: Every task's return value inline in its reply, never through a node's object store. On this
#: emulated cluster (two Ray nodes on one machine), a driver on host ``b`` never receives an
#: object held in ``b``'s own store: an actor on ``b`` returning 150 KB (over Ray's default
#: 100 KiB inline limit) timed out in ``ray.get`` while the same from an actor on ``a``, or
#: to a driver on ``a``, took 10 ms (probe of 2026-12-02; without this setting
#: ``test_a_large_result_reaches_a_driver_on_either_host`` fails). A trial's closing report
#: carries its model (40-100 KB here), so a search driven from ``b`` hung on a trial's last
#: result. Real hosts each have their own store; the limit only sidesteps the emulation's defect.
RAY_INLINE_RESULTS_ENV = {"RAY_max_direct_call_object_size": str(64 * 1024 * 1024)}


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _netns_list() -> list[str]:
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_netns_processes(ns: str) -> None:
    """kill -9 every process in namespace ``ns`` (by pid), until none is left."""
    for _ in range(50):
        pids = [int(p) for p in _ip("netns", "pids", ns, check=False).stdout.split()]
        pids = [p for p in pids if p != os.getpid()]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def remove_stale() -> list[str]:
    """Delete the namespaces of earlier harnesses whose creating process is gone."""
    removed = []
    for ns in _netns_list():
        if not ns.startswith(PREFIX) or "-" not in ns:
            continue
        owner = ns[len(PREFIX):].split("-", 1)[0]
        if owner.isdigit() and not _pid_alive(int(owner)):
            _kill_netns_processes(ns)
            _ip("netns", "del", ns, check=False)
            removed.append(ns)
    return removed


def missing_requirements() -> str | None:
    """Why this machine cannot host the harness, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "unshare", "runuser"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not pg_bindir():
        return "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
    return None


def pg_bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


@dataclass(frozen=True)
class Host:
    """One simulated machine: its namespace, address, hostname and Ray temporary folder."""

    key: str
    ns: str
    ip: str
    hostname: str
    tmp: Path
    bridge_port: str


class Cluster:
    """Hosts ``a``, ``b``, ``c`` on one bridge, PostgreSQL on ``c``; see the module docstring."""

    def __init__(self, root: str | Path | None = None, *, python_path: str | None = None
                 ) -> None:
        self.tag = f"{PREFIX}{os.getpid()}"
        self.root = Path(root or tempfile.mkdtemp(prefix=f"{self.tag}-"))
        self.python_path = python_path
        self.bridge_ns = f"{self.tag}-br"
        self.hosts: dict[str, Host] = {}
        for i, key in enumerate(("a", "b", "c"), start=1):
            tmp = self.root / key
            self.hosts[key] = Host(key, f"{self.tag}-{key}", f"{SUBNET}.{i}",
                                   f"{PREFIX}-{key}", tmp, f"p{key}")
        self.pg_dir = self.root / "pg"
        self.pg_bin = pg_bindir() or ""
        self._procs: list[subprocess.Popen[bytes]] = []
        self._closed = False
        self._old_sigterm: Any = None

    # ------------------------------------------------------------------ addresses
    @property
    def ray_address(self) -> str:
        return f"{self.hosts['a'].ip}:6379"

    @property
    def db_url(self) -> str:
        return f"postgresql+psycopg://{PG_USER}@{self.hosts['c'].ip}/{PG_DB}"

    # ------------------------------------------------------------------ lifecycle
    def up(self) -> Cluster:
        atexit.register(self.close)
        if threading_main():
            self._old_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
        remove_stale()
        try:
            self._network()
            self._postgres()
        except BaseException:
            self.close()
            raise
        return self

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self.close()
        raise SystemExit(128 + signum)

    def _network(self) -> None:
        _ip("netns", "add", self.bridge_ns)
        br = self.bridge_ns
        _ip("-n", br, "link", "set", "lo", "up")
        _ip("-n", br, "link", "add", "br0", "type", "bridge")
        _ip("-n", br, "link", "set", "br0", "up")
        for host in self.hosts.values():
            host.tmp.mkdir(parents=True, exist_ok=True)
            _ip("netns", "add", host.ns)
            _ip("-n", host.ns, "link", "set", "lo", "up")
            # both ends are created inside the namespaces: nothing lands in the machine's own
            _ip("-n", host.ns, "link", "add", "eth0", "type", "veth", "peer", "name",
                host.bridge_port, "netns", br)
            _ip("-n", host.ns, "addr", "add", f"{host.ip}/24", "dev", "eth0")
            _ip("-n", host.ns, "link", "set", "eth0", "up")
            # a default route lets Ray find the node's address (it asks the routing table)
            _ip("-n", host.ns, "route", "add", "default", "dev", "eth0")
            _ip("-n", br, "link", "set", host.bridge_port, "master", "br0")
            _ip("-n", br, "link", "set", host.bridge_port, "up")

    def _postgres(self) -> None:
        c = self.hosts["c"]
        os.chmod(self.root, 0o755)  # the postgres user must reach its data folder
        self.pg_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.pg_dir, "postgres", "postgres")
        os.chmod(self.pg_dir, 0o700)
        init = subprocess.run(["runuser", "-u", "postgres", "--", f"{self.pg_bin}/initdb",
                               "-D", str(self.pg_dir), "-A", "trust", "-U", PG_USER,
                               "--no-sync"], capture_output=True, text=True)
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.strip()[-2000:]}")
        with open(self.pg_dir / "pg_hba.conf", "a") as fh:
            fh.write(f"host all all {SUBNET}.0/24 trust\n")
        self.pg_start()
        self.run("c", [f"{self.pg_bin}/createdb", "-h", c.ip, "-U", PG_USER, PG_DB],
                 check=True, user="postgres")

    def pg_start(self) -> None:
        c = self.hosts["c"]
        opts = (f"-c listen_addresses={c.ip} -p 5432 -k {self.pg_dir} -c fsync=off "
                "-c log_connections=on")
        self.run("c", [f"{self.pg_bin}/pg_ctl", "-D", str(self.pg_dir), "-o", opts, "-l",
                       str(self.pg_dir / "log"), "start", "-w", "-t", "60"],
                 check=True, user="postgres")

    def pg_stop(self) -> None:
        self.run("c", [f"{self.pg_bin}/pg_ctl", "-D", str(self.pg_dir), "stop", "-m", "fast",
                       "-w"], check=True, user="postgres")

    def sql(self, query: str, *, host: str = "a") -> list[list[str]]:
        """Rows of ``query`` on the test database, asked with psql from ``host`` (fast enough
        to poll); [] when the server does not answer."""
        out = self.run(host, [f"{self.pg_bin}/psql", "-h", self.hosts["c"].ip, "-U", PG_USER,
                              "-d", PG_DB, "-AtF", "|", "-c", query], timeout=30)
        if out.returncode != 0:
            return []
        return [line.split("|") for line in out.stdout.splitlines() if line]

    def pg_log(self) -> str:
        """The server's log so far (connections are logged with the client's address)."""
        return (self.pg_dir / "log").read_text(errors="replace")

    def pg_restart(self) -> None:
        self.pg_stop()
        self.pg_start()

    def close(self) -> None:
        """Kill every process in the harness' namespaces (by pid), delete them, remove files."""
        if self._closed:
            return
        self._closed = True
        for ns in (*(h.ns for h in self.hosts.values()), self.bridge_ns):
            if ns in _netns_list():
                _kill_netns_processes(ns)
        for proc in self._procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)
        for ns in (*(h.ns for h in self.hosts.values()), self.bridge_ns):
            _ip("netns", "del", ns, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)
        if self._old_sigterm is not None and threading_main():
            signal.signal(signal.SIGTERM, self._old_sigterm)

    def __enter__(self) -> Cluster:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ commands on a host
    def env(self, key: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of a command on host ``key``: this Python's bin first on PATH, the
        tree under test on PYTHONPATH, the host's own Ray temporary folder, no cluster tokens,
        and the fast node-failure detection of the test cluster."""
        host = self.hosts[key]
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        env.update({"PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}",
                    "RAY_TMPDIR": str(host.tmp), "TMPDIR": str(host.tmp),
                    "HOME": str(host.tmp), "RAY_AUTH_MODE": "disabled",
                    "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1",
                    **RAY_FAST_FAILURE_ENV, **RAY_INLINE_RESULTS_ENV})
        if self.python_path:
            env["PYTHONPATH"] = self.python_path
        env.update(extra or {})
        return env

    def _argv(self, key: str, argv: Sequence[str], user: str | None) -> list[str]:
        host = self.hosts[key]
        inner = shlex.join(argv)
        if user is not None:
            inner = f"exec runuser -u {shlex.quote(user)} -- {inner}"
        else:
            inner = f"exec {inner}"
        return ["ip", "netns", "exec", host.ns, "unshare", "--uts", "sh", "-c",
                f"hostname {shlex.quote(host.hostname)} && {inner}"]

    def run(self, key: str, argv: Sequence[str], *, check: bool = False,
            env: Mapping[str, str] | None = None, user: str | None = None,
            timeout: float = 300, cwd: str | Path | None = None
            ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` on host ``key`` to its end; stdout and stderr captured."""
        proc = subprocess.run(self._argv(key, argv, user), env=self.env(key, env), text=True,
                              capture_output=True, timeout=timeout, cwd=cwd)
        if check and proc.returncode != 0:
            raise RuntimeError(f"on host {key}: {shlex.join(argv)} -> {proc.returncode}\n"
                               f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def spawn(self, key: str, argv: Sequence[str], *, log: str | Path,
              env: Mapping[str, str] | None = None, cwd: str | Path | None = None
              ) -> subprocess.Popen[bytes]:
        """Start ``argv`` on host ``key`` in the background (its pid is the command's own:
        every wrapper execs); output to ``log``."""
        out = open(log, "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(self._argv(key, argv, None), env=self.env(key, env),
                                stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                start_new_session=True)
        out.close()
        self._procs.append(proc)
        return proc

    def shell(self, key: str, command: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run a shell command line on host ``key`` (as a user would type it there)."""
        return self.run(key, ["sh", "-c", command], **kwargs)

    # ------------------------------------------------------------------ faults
    def pids(self, key: str) -> list[int]:
        """Every process running on host ``key``."""
        return [int(p) for p in _ip("netns", "pids", self.hosts[key].ns).stdout.split()]

    def kill_host_processes(self, key: str, *, match: str | None = None,
                            sig: int = signal.SIGKILL) -> list[int]:
        """kill -9 (or ``sig``) the processes on host ``key`` (those whose command line
        contains ``match``, or all); their pids."""
        killed = []
        for pid in self.pids(key):
            if match is not None:
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                except OSError:
                    continue
                if match.encode() not in cmd:
                    continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
                killed.append(pid)
        return killed

    def link(self, key: str, up: bool) -> None:
        """Plug (``up``) or unplug host ``key``'s cable at the bridge."""
        _ip("-n", self.bridge_ns, "link", "set", self.hosts[key].bridge_port,
            "up" if up else "down")

    def reachable(self, src: str, dst: str, port: int, timeout: float = 2.0) -> bool:
        """Whether a TCP connection from host ``src`` to ``dst:port`` succeeds."""
        code = (f"import socket; socket.create_connection(({self.hosts[dst].ip!r}, {port}), "
                f"timeout={timeout}).close()")
        return self.run(src, [sys.executable, "-c", code], timeout=timeout + 30).returncode == 0


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll ``predicate()`` until it returns something truthy; raise after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


