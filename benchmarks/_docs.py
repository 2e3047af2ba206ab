"""Write one benchmark's section of docs/benchmarks.md, between its begin/end markers, and
the facts every section states of its own run (:class:`RunFacts`)."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def write_section(name: str, body: str, path: Path = DOCS) -> None:
    """Replace the text between ``<!-- begin: NAME -->`` and ``<!-- end: NAME -->`` (appending
    the section when it is new); other sections are left as they are."""
    begin, end = f"<!-- begin: {name} -->", f"<!-- end: {name} -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


class RunFacts:
    """What a benchmark's section says of its run: the command that reproduces it, the date,
    the machine with its 1-minute load average measured at the start and at the end (a run
    where either exceeds 3/4 of the CPUs says its wall times are pessimistic), the versions of
    the packages it depends on and its wall time. Create it when the run starts."""

    def __init__(self, script: str, argv: Sequence[str] | None = None) -> None:
        self.script = script
        self.argv = list(sys.argv[1:] if argv is None else argv)
        self.started = time.perf_counter()
        self.load_at_start = os.getloadavg()[0]

    @property
    def command(self) -> str:
        return " ".join([".venv/bin/python", f"benchmarks/{self.script}", *self.argv])

    def lines(self, note: str = "", packages: Sequence[str] = ("torch",)) -> list[str]:
        """The section's ``Command:`` and ``Date:`` lines (``note``: a sentence of the
        script's own about how to read its figures)."""
        wall = time.perf_counter() - self.started
        load_at_end = os.getloadavg()[0]
        cpus = os.cpu_count() or 1
        loaded = max(self.load_at_start, load_at_end) > 0.75 * cpus
        versions = ", ".join(f"{p} {importlib.metadata.version(p)}" for p in packages)
        load = (f"1-minute load average {self.load_at_start:.1f} at the start and "
                f"{load_at_end:.1f} at the end"
                + (" (loaded: wall times are pessimistic, compare ratios)" if loaded else ""))
        return [f"Command: `{self.command}`  ",
                f"Date: {dt.date.today().isoformat()}. Machine: {platform.machine()}, {cpus} "
                f"CPUs, {load}; {versions}; wall time {wall / 60:.1f} min."
                + (f" {note}" if note else "")]
