"""CLI commands of the planner (`plan`, `plan-gen`)."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the planner's sub-commands (none yet)."""
