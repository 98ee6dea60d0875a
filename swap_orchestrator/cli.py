"""CLI commands of the swap orchestrator (`swap-sim`, `swap-gen`, `swap status`)."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the swap sub-commands (none yet)."""
