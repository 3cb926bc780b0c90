"""Write one benchmark's section of a doc (docs/benchmarks.md by default), leaving the other sections as they are."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\n"
    "Written by the scripts in `bench/`; each section is replaced when its script runs again. Speed goals are\n"
    "ratios measured in one run on one machine, so they hold whatever the machine.\n"
)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_section(name: str, body: str, doc: Path = DOC, header: str = HEADER) -> Path:
    """Replace (or append) the section between the markers for `name` in `doc` (made with `header` if new)."""
    text = doc.read_text() if doc.exists() else header
    start, end = f"<!-- {name}: start -->", f"<!-- {name}: end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    doc.parent.mkdir(exist_ok=True)
    doc.write_text(text)
    return doc
