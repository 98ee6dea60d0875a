"""Write one benchmark's figures into its own section of BENCHMARKS.md (others are kept)."""

from __future__ import annotations

import platform
import re
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = (
    "# Benchmarks\n\n"
    "Written by `make bench` (each script rewrites only its own section). Every figure is a\n"
    "ratio against a reference measured in the same run, because the machine is shared.\n"
)


def write_section(name: str, markdown: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace the section between `<!-- name -->` markers, appending it if absent."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, Python {platform.python_version()}"
    footer = f"_Measured {stamp} on {machine}._"
    body = f"<!-- {name} -->\n{markdown.rstrip()}\n\n{footer}\n<!-- /{name} -->"
    text = path.read_text() if path.exists() else HEADER
    pattern = re.compile(rf"<!-- {re.escape(name)} -->.*?<!-- /{re.escape(name)} -->", re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: body, text)
    else:
        text = text.rstrip() + "\n\n" + body + "\n"
    path.write_text(text)
