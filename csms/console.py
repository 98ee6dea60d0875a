"""Shared terminal output for the CLI: one rich console and the error every command raises."""

from __future__ import annotations

from rich.console import Console

console = Console()


class CliError(Exception):
    """A command failed in a way the operator can fix; shown as one red line, exit 1."""
