"""The candidate page's hardware export: the zip its callback returns is the bundle of
``dse export`` (same API), and it re-reads to the codes it claims."""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

import dash
import pytest

from dse.export import candidate_bundle
from dse.store import open_store
from tests.dashboard.conftest import make_app, page
from tests.dashboard.test_pages import triggered
from tests.dse.test_export import reread

pytestmark = pytest.mark.slow


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
    manifest, _image, tensors = reread(tmp_path / "bundle")
    assert manifest["candidate_id"] == cid and manifest["study"] == "tiny"
    assert len(tensors["input"]) == manifest["vectors"]["count"] == 8


def test_export_of_an_unknown_candidate_shows_the_reason(search_db: str) -> None:
    make_app(search_db)
    sent, message = triggered("candidate-export-btn.n_clicks", page("candidate").download_export,
                              1, 999999)
    assert sent is dash.no_update and message == "unknown candidate id 999999"
