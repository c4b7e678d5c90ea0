"""The one exception tree of the chat_queue package."""

from __future__ import annotations


class QueueError(Exception):
    """Root of every error this package raises on purpose (bad arguments, out-of-range values)."""
