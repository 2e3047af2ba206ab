"""``dse dashboard``: flags, defaults (127.0.0.1), one-line errors, read-only use."""

from __future__ import annotations

from typing import Any

import pytest

from dse.cli import main
from tests.dashboard.conftest import FilledDB


def test_serves_on_localhost_by_default(filled_db: FilledDB, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    import dash

    seen: dict[str, Any] = {}

    def fake_run(self: Any, **kw: Any) -> None:
        seen.update(kw)
        # a first request binds the pages' global callbacks to this app, as serving would
        assert self.server.test_client().get("/").status_code == 200

    monkeypatch.setattr(dash.Dash, "run", fake_run)
    assert main(["dashboard", "--db", filled_db.url]) == 0
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8050
    assert "http://127.0.0.1:8050/" in capsys.readouterr().err
    assert main(["dashboard", "--db", filled_db.url, "--host", "0.0.0.0", "--port", "9000"]
                ) == 0
    assert (seen["host"], seen["port"]) == ("0.0.0.0", 9000)


@pytest.mark.parametrize("argv, message", [
    (["dashboard", "--db", "sqlite:////nonexistent-dir/x.db"], "does not exist"),
    (["dashboard", "--db", "mysql://h/db"], "unsupported database"),
    (["dashboard", "--db", "x.db", "--port", "0"], "--port=0 must be in 1..65535"),
    (["dashboard", "--db", "x.db", "--refresh-ms", "-1"], "--refresh-ms=-1 must be >= 0"),
    (["dashboard"], "Missing option '--db'"),
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_the_dashboard_opens_the_store_read_only(filled_db: FilledDB) -> None:
    from dashboard.app import create_app
    from dashboard.data import get_data
    from dse.store import StoreError

    create_app(filled_db.url, refresh_ms=0).server.test_client().get("/")
    store = get_data().store
    with pytest.raises(StoreError, match="readonly|read-only|read only"):
        store.create_or_get_study("intruder", space="x", dataset="digits", task="classification",
                                  config={}, objectives=[("accuracy", "maximize")], budgets=[])
