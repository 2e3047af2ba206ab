"""Who runs a study: the driver lease on ``dse_studies``, and what a reader concludes from it.

One search process (the *driver*) runs a study at a time: resuming re-queues the evaluations
a dead driver left behind, so a second live driver would retrain the first one's candidates.
The driver records itself on the study (``driver_host``, ``driver_pid``) and renews
``driver_beat`` (seconds since the epoch, its own clock) every ``heartbeat_s``.

A driver is *alive* when, seen from the host it runs on, its pid exists; seen from another
host, while its last beat is younger than the stale time (``TINYDSE_DRIVER_STALE_S``, default
30 s: a test cluster shortens it). ``running`` evaluations of a study without a live driver
are reported ``interrupted`` by every read (``dse status``, ``dse query``, the dashboard), so a
killed search never looks busy; a driver that exits on an exception (Ctrl-C) also stores
``interrupted`` on its way out. Taking the lease and clearing it are transactions under the
study's write lock, so two drivers starting at once cannot both win.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from dse.status import Status
from dse.store.engine import StoreError
from dse.store.schema import Evaluation, Study

if TYPE_CHECKING:
    from dse.store.api import Store

#: Seconds without a heartbeat after which another host considers a driver gone.
DEFAULT_STALE_S = 30.0
STALE_ENV = "TINYDSE_DRIVER_STALE_S"


def stale_seconds() -> float:
    """The stale time: ``TINYDSE_DRIVER_STALE_S`` when set (a positive number), else 30 s."""
    raw = os.environ.get(STALE_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_STALE_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise StoreError(f"{STALE_ENV}={raw!r}: must be a positive number of seconds")
    return value


@dataclass(frozen=True)
class Driver:
    host: str
    pid: int

    @staticmethod
    def me() -> Driver:
        return Driver(socket.gethostname(), os.getpid())


def driver_alive(host: str | None, pid: int | None, beat: float | None, *,
                 now: float | None = None, stale_s: float | None = None) -> bool:
    """Whether the driver recorded as (host, pid, beat) is still running (see the module)."""
    if not host or pid is None:
        return False
    if host == socket.gethostname():
        if pid == os.getpid():
            return True
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except (PermissionError, OSError):
            return True
        return True
    stale = stale_seconds() if stale_s is None else stale_s
    return beat is not None and (time.time() if now is None else now) - float(beat) < stale


def study_driver_alive(study: Study) -> bool:
    return driver_alive(study.driver_host, study.driver_pid, study.driver_beat)


def acquire(store: Store, study_id: int, me: Driver) -> None:
    """Take the study's lease for ``me``; StoreError naming the holder if it is alive."""
    with store.db.write() as session:
        store.db.lock_study(session, study_id)
        row = session.execute(select(Study).where(Study.id == study_id)
                              .execution_options(populate_existing=True)).scalar_one()
        if (row.driver_host, row.driver_pid) != (me.host, me.pid) and study_driver_alive(row):
            raise StoreError(f"study {row.name!r} is being searched by another process "
                             f"(pid {row.driver_pid} on {row.driver_host}); wait for it or "
                             "use another --study")
        row.driver_host, row.driver_pid, row.driver_beat = me.host, me.pid, time.time()


def beat(store: Store, study_id: int, me: Driver) -> bool:
    """Renew ``me``'s lease; False when another driver holds it now."""
    with store.db.write() as session:
        result = session.execute(update(Study).where(
            Study.id == study_id, Study.driver_host == me.host, Study.driver_pid == me.pid)
            .values(driver_beat=time.time()))
        return bool(result.rowcount)  # type: ignore[attr-defined]


def release(store: Store, study_id: int, me: Driver, *, interrupted: bool) -> int:
    """Give the lease up (if ``me`` holds it); with ``interrupted``, evaluations still
    ``running`` become ``interrupted``. How many did."""
    with store.db.write() as session:
        store.db.lock_study(session, study_id)
        held = session.execute(update(Study).where(
            Study.id == study_id, Study.driver_host == me.host, Study.driver_pid == me.pid)
            .values(driver_host=None, driver_pid=None, driver_beat=None))
        if not held.rowcount or not interrupted:  # type: ignore[attr-defined]
            return 0
        result = session.execute(update(Evaluation).where(
            Evaluation.study_id == study_id, Evaluation.status == Status.RUNNING.value)
            .values(status=Status.INTERRUPTED.value))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def shown_status(status: str | None, alive: bool) -> str | None:
    """The status a reader reports: ``running`` without a live driver is ``interrupted``."""
    return Status.INTERRUPTED.value if status == Status.RUNNING and not alive else status
