"""Admin verbs of the `yizhan` command: staff accounts and keys."""

from __future__ import annotations

import argparse


def add_verbs(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register admin subcommands; each sets `handler`."""
