"""Alembic environment for the tinydse store.

``open_store`` passes an open connection in ``config.attributes["connection"]`` (inside the
transaction that holds the cross-process migration lock); the ``alembic`` CLI path builds an
engine from ``sqlalchemy.url`` or ``-x url=...``. Only ``dse_*`` tables are ours: Optuna's
tables in the same database are ignored by autogenerate, and our version table is
``dse_alembic_version`` so it never collides with Optuna's ``alembic_version``.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, create_engine

from dse.store.schema import TABLE_PREFIX, VERSION_TABLE, Base

config = context.config
target_metadata = Base.metadata


def _include_name(name: str | None, type_: str, _parent: Any) -> bool:
    return type_ != "table" or (name or "").startswith(TABLE_PREFIX)


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      version_table=VERSION_TABLE, include_name=_include_name,
                      render_as_batch=connection.dialect.name == "sqlite",
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or \
        config.get_main_option("sqlalchemy.url")
    assert url, "no database URL (-x url=... or sqlalchemy.url)"
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_metadata, version_table=VERSION_TABLE,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
