"""File-writing CLI options turn an unwritable path into one line on stderr and exit 2,
before any work, leaving nothing behind; a good path gets the whole file."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from dse.store import open_store


def _study(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    with open_store(url) as store:
        rec = store.create_or_get_study("q", space="tiny", dataset="digits",
                                        objectives=[("accuracy", "maximize"),
                                                    ("memory_bits", "minimize")])
        cid, _ = store.add_candidate(rec.id, "{}", "h1", {})
        store.record_hardware(cid, {"memory_bits": 10})
        eid = store.start_evaluation(cid, 0)
        store.finish_evaluation(eid, "complete", metrics={"accuracy": 0.5})
    return url


def _cli(argv: list[str], *, read_only_dir: Path | None = None
         ) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "dse.cli", *argv]
    if read_only_dir is not None and os.geteuid() == 0:
        # root writes through permissions: a read-only file system (in a private mount
        # namespace, gone with the process) is what stops it
        cmd = ["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o ro tdse-ro "
               f"{shlex.quote(str(read_only_dir))} && exec {shlex.join(cmd)}"]
    elif read_only_dir is not None:
        read_only_dir.chmod(0o555)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize(("case", "message"), [
    ("missing", "folder {parent!r} does not exist"),
    ("read-only", "cannot write in folder {parent!r}"),
    ("folder", "is a folder (give a file name)"),
])
def test_query_out_unwritable_is_one_line_exit_2(tmp_path: Path, fmt: str, case: str,
                                                 message: str) -> None:
    url = _study(tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir()
    out = {"missing": tmp_path / "nope" / "x.out", "read-only": ro / "x.out",
           "folder": ro}[case]
    proc = _cli(["query", "q", "--db", url, "--format", fmt, "--out", str(out)],
                read_only_dir=ro if case == "read-only" else None)
    assert proc.returncode == 2, proc.stderr
    expected = f"dse: error: --out={str(out)!r}: " + message.format(parent=str(out.parent))
    assert proc.stderr.startswith(expected), proc.stderr
    assert proc.stderr.count("\n") == 1
    assert not (tmp_path / "nope").exists() and list(ro.iterdir()) == []


def test_query_out_writes_the_whole_file(tmp_path: Path) -> None:
    url = _study(tmp_path)
    out = tmp_path / "front.csv"
    proc = _cli(["query", "q", "--db", url, "--format", "csv", "--columns",
                 "trial_number,accuracy,memory_bits", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == "trial_number,accuracy,memory_bits\n0,0.5,10.0\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_search_db_in_a_read_only_folder_is_one_line_exit_2(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    proc = _cli(["search", "--db", f"sqlite:///{ro / 'x.db'}", "--trials", "1", "--quiet",
                 "--executor", "local"], read_only_dir=ro)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"dse: error: sqlite:///{ro / 'x.db'}: "), proc.stderr
    assert proc.stderr.count("\n") == 1
