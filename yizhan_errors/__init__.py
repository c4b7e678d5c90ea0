"""The one root of every exception our packages define.

A package of its own because crypto/ and chat_queue/ are libraries beneath chat_server/
and must not import it, yet one `except YizhanError` at an edge should tell our own
refusals and failures from everything else (a bug, a driver's error). Each package keeps
its own root below this one: CryptoError, QueueError, and chat_server's classes directly.
"""

from __future__ import annotations


class YizhanError(Exception):
    """Something of ours refused or failed; raised only through a subclass."""
