"""Shared fixtures: the PostgreSQL URL (required on CI), the headless Chromium hook for Dash."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Every Ray a test starts stays on 127.0.0.1 (no cluster tokens, no usage reports).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_URL = os.environ.get("TINYDSE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_answers() -> bool:
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test",
                             connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A PostgreSQL URL for the local test server: fails on CI when absent, skips elsewhere."""
    if not _pg_answers():
        if ON_CI:
            pytest.fail("PostgreSQL does not answer on 127.0.0.1:5432 (required on CI)")
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    return PG_URL


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test (our tables and Optuna's, migrated from
    nothing), dropped after: tests never share the server's ``test`` database, whose migration
    state another checkout may have moved."""
    import uuid

    import psycopg

    name = f"dse_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test",
                         autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test",
                             autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_setup_options():  # type: ignore[no-untyped-def]
    """Point Dash's selenium fixtures at Debian's Chromium, headless."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"):
        options.add_argument(flag)
    return options
