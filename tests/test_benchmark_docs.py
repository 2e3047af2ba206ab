"""The benchmark sections' shared parts (benchmarks/_docs.py): a section replaced in place,
and the facts each states of its run, with the load measured rather than assumed."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import _docs
from benchmarks._docs import RunFacts, write_section


def test_a_section_is_replaced_in_place_and_a_new_one_appended(tmp_path: Path) -> None:
    doc = tmp_path / "b.md"
    doc.write_text("# B\n\n<!-- begin: a -->\nold\n<!-- end: a -->\n\ntail\n", encoding="utf-8")
    write_section("a", "new\n", doc)
    write_section("z", "added", doc)
    assert doc.read_text(encoding="utf-8") == (
        "# B\n\n<!-- begin: a -->\nnew\n<!-- end: a -->\n\ntail\n\n"
        "<!-- begin: z -->\nadded\n<!-- end: z -->\n")


@pytest.mark.parametrize(("loads", "loaded"), [((0.4, 1.4), False), ((0.4, 1.6), True)])
def test_run_facts_state_the_measured_load(monkeypatch: pytest.MonkeyPatch,
                                           loads: tuple[float, float], loaded: bool) -> None:
    seen = iter(loads)
    monkeypatch.setattr(_docs.os, "getloadavg", lambda: (next(seen), 0.0, 0.0))
    monkeypatch.setattr(_docs.os, "cpu_count", lambda: 2)
    run = RunFacts("demo.py", ["--seeds", "3"])
    command, date = run.lines("A note.", packages=("numpy",))
    assert command == "Command: `.venv/bin/python benchmarks/demo.py --seeds 3`  "
    assert f"2 CPUs, 1-minute load average {loads[0]:.1f} at the start and {loads[1]:.1f} at " \
        "the end" in date
    assert ("(loaded: wall times are pessimistic, compare ratios)" in date) is loaded
    assert "numpy " in date and date.endswith("min. A note.")
