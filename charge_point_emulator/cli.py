"""CLI command of the emulator (`emulate`)."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the emulator's sub-commands (none yet)."""
