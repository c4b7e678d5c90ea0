"""The crisis domain: assessment, escalation, referrals and the supervisor board.

`chat_server.crisis.assess(text).level` is the documented entry point of assessment
(docs/CRISIS.md); it lives in `cascade` and is named here so callers need not know that.
"""

from chat_server.crisis.cascade import assess

__all__ = ["assess"]
