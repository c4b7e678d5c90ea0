"""The one exception tree of the chat_queue package."""

from __future__ import annotations

from yizhan_errors import YizhanError


class QueueError(YizhanError):
    """Root of every error this package raises on purpose (bad arguments, out-of-range values)."""
