"""Dashboard fixtures: stores filled through the write API (fast) and by a real tiny search,
apps over them, and the browser switches (plain ``pytest`` runs the browser tests headless)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import ON_CI
from tests.dashboard.filler import Filled, fill_study

CHROMIUM = "/usr/bin/chromium"


def pytest_configure(config: pytest.Config) -> None:
    """Dash's browser fixtures read ``--headless``; default it on so plain pytest works."""
    if hasattr(config.option, "headless"):
        config.option.headless = True


@dataclass(frozen=True)
class FilledDB:
    url: str
    studies: dict[str, Filled]


@pytest.fixture(scope="session")
def filled_db(tmp_path_factory: pytest.TempPathFactory) -> FilledDB:
    """Two studies written through the store's write API with real specs and real costs:
    ``s1`` (40 candidates, memory_bits <= 60,000) and ``s2`` (30 candidates, another seed)."""
    path = tmp_path_factory.mktemp("dash") / "filled.db"
    url = f"sqlite:///{path}"
    s1 = fill_study(url, "s1", 40, seed=0)
    s2 = fill_study(url, "s2", 30, seed=1)
    return FilledDB(url, {"s1": s1, "s2": s2})


def make_app(url: str, refresh_ms: int = 0) -> Any:
    """An app over ``url``; its first request is made here so that the global callbacks the
    page modules registered are bound to this app (a later app re-imports the pages)."""
    from dashboard.app import create_app

    app = create_app(url, refresh_ms=refresh_ms)
    assert app.server.test_client().get("/").status_code == 200
    return app


def page(name: str) -> ModuleType:
    """The page module Dash imported for the latest app (``pages.<name>``)."""
    return sys.modules[f"pages.{name}"]


@pytest.fixture(scope="module")
def app(filled_db: FilledDB) -> Any:
    return make_app(filled_db.url)


@pytest.fixture(scope="session")
def search_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store filled by a real tiny search (``dse search``, in-process trainer, 6 trials of 2
    epochs).

    Skips where the search cannot run here (fails on CI)."""
    path = tmp_path_factory.mktemp("search") / "search.db"
    url = f"sqlite:///{path}"
    dse = Path(sys.executable).with_name("dse")
    cmd = [str(dse), "search", "--study", "tiny", "--space", "tiny", "--trials", "6",
           "--epochs", "2", "--executor", "local", "--max-train-batches", "3",
           "--seed", "0", "--confirm", "0", "--db", url, "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONHASHSEED": "0"})
    if proc.returncode != 0:
        msg = f"`{' '.join(cmd)}` failed: {proc.stderr.strip().splitlines()[-1:]}"
        if ON_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return url


def browser_available() -> bool:
    return Path(CHROMIUM).exists() and shutil.which("chromedriver") is not None


@pytest.fixture
def need_browser() -> Iterator[None]:
    """Browser tests run everywhere Chromium is installed, and must run on CI."""
    if not browser_available():
        msg = f"{CHROMIUM} or chromedriver missing"
        if ON_CI:
            pytest.fail(msg + " (required on CI)")
        pytest.skip(msg)
    yield
