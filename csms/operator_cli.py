"""CLI commands that operate the CSMS: serve, stations, tokens, transactions, command."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the operator sub-commands."""
