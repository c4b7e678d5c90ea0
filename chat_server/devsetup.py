"""First-run set-up for `yizhan dev`: schema, development keys, demo accounts."""

from __future__ import annotations

from chat_server.config import Settings


def prepare(settings: Settings) -> None:
    """Idempotent: safe on every start."""
