"""The driver's database calls survive a lost connection (a restarted or briefly unreachable
PostgreSQL): each call is retried until it succeeds or ``RETRY_S`` has passed.

A call is retried only when it failed on the connection (``StoreError.transient``; SQLAlchemy's
``OperationalError`` / ``InterfaceError``, or Optuna's ``StorageInternalError`` caused by one).
Retrying a whole call is safe because every store write is one transaction that is idempotent
when re-run: candidates and studies are inserted on-conflict, an epoch row is keyed by
(evaluation, attempt, stage, epoch), results and artifacts replace. For Optuna, a ``tell``
whose first attempt committed before the connection broke is refused on retry (the trial is
finished): that refusal counts as success. Only the driver writes (``dse.store`` docs), so
only it needs this. Optuna's storage is retried with :func:`call` by
``dse.optuna_adapter.retrying_rdb``.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from dse.store.engine import StoreError

T = TypeVar("T")
log = logging.getLogger(__name__)

#: Seconds a call keeps retrying a lost connection before the error reaches the caller.
RETRY_S = float(os.environ.get("TINYDSE_DB_RETRY_S", "120"))
#: Pause between attempts, seconds.
PAUSE_S = 0.5


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a failed or lost database connection."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, StoreError) and cur.transient:
            return True
        if isinstance(cur, OperationalError | InterfaceError):
            return True
        if isinstance(cur, DBAPIError) and cur.connection_invalidated:
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, retried across lost connections for up to ``RETRY_S``."""
    deadline = time.monotonic() + RETRY_S
    failed_once = False
    while True:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if failed_once and _already_done(exc):
                return None  # type: ignore[return-value]
            if not is_transient(exc) or time.monotonic() > deadline:
                raise
            failed_once = True
            log.warning("database connection failed (%s); retrying", str(exc).splitlines()[0])
            time.sleep(PAUSE_S)


def _already_done(exc: BaseException) -> bool:
    try:
        from optuna.exceptions import UpdateFinishedTrialError
    except ImportError:  # pragma: no cover - optuna is a dependency
        return False
    return isinstance(exc, UpdateFinishedTrialError)


class RetryingStore:
    """A :class:`~dse.store.Store` whose every method retries lost connections."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if name.startswith("__") or not callable(value):
            return value

        @functools.wraps(value)
        def retried(*args: Any, **kwargs: Any) -> Any:
            return call(value, *args, **kwargs)

        return retried
