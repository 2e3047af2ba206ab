"""The candidate page's hardware export: the button where a trial kept its model, the reason
when a candidate cannot be exported, and the zip its callback returns."""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path
from typing import Any

import dash
import pytest

from dse.export import candidate_bundle
from dse.store import open_store
from tests.dashboard.conftest import make_app, page
from tests.dashboard.test_pages import triggered
from tests.dse.test_export import assert_self_consistent

pytestmark = pytest.mark.slow


def test_export_of_an_unknown_candidate_shows_the_reason(search_db: str) -> None:
    make_app(search_db)
    sent, message = triggered("candidate-export-btn.n_clicks", page("candidate").download_export,
                              1, 999999)
    assert sent is dash.no_update and message == "unknown candidate id 999999"


def test_the_export_button_shows_where_a_trained_model_was_kept(search_db: str) -> None:
    make_app(search_db)
    with open_store(search_db, read_only=True) as store:
        df = store.query("tiny")
        cid = int(df[df["status"] == "complete"]["candidate_id"].iloc[0])
    layout = page("candidate").layout(candidate_id=str(cid))
    assert layout["candidate-export-btn"].children == "Download hardware export (zip)"


def test_no_export_button_without_a_kept_model(filled_db: Any) -> None:
    make_app(filled_db.url)
    cid = filled_db.studies["s1"].ids["complete"][0]  # written through the API: no model
    layout = page("candidate").layout(candidate_id=str(cid))
    with pytest.raises(KeyError):
        layout["candidate-export-btn"]


def test_candidate_page_offers_the_export_bundle(search_db: str, tmp_path: Path) -> None:
    make_app(search_db)
    cand_page = page("candidate")
    with open_store(search_db, read_only=True) as store:
        df = store.query("tiny")
        cid = int(df[df["status"] == "complete"]["candidate_id"].iloc[0])
        expected = candidate_bundle(store, "tiny", cid).files
    layout = cand_page.layout(candidate_id=str(cid))
    assert layout["candidate-export-btn"].children == "Download hardware export (zip)"
    sent, message = triggered("candidate-export-btn.n_clicks", cand_page.download_export, 1,
                              cid)
    assert message == ""
    assert sent["filename"] == f"tiny-candidate-{cid}-export.zip" and sent["base64"]
    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(sent["content"])))
    assert {n: archive.read(n) for n in archive.namelist()} == expected
    archive.extractall(tmp_path / "bundle")
    manifest = assert_self_consistent(tmp_path / "bundle")
    assert manifest["candidate_id"] == cid and manifest["study"] == "tiny"
    assert manifest["vectors"]["count"] == 8
