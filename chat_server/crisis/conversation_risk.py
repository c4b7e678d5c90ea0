"""Context rule: a worker's recent levels together may raise a new message's level (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chat_server.crisis.levels import RiskLevel

__all__ = ["ConversationRisk", "combine"]


@dataclass(frozen=True, slots=True)
class ConversationRisk:
    """Context rule: several watch-level worker messages close together mean high risk."""

    # How many of the latest worker messages (the new one included) are looked at.
    window: int = 5
    # How many of them at watch or above raise the new message to high.
    threshold: int = 3

    def combine(self, history_levels: Sequence[RiskLevel], new: RiskLevel) -> RiskLevel:
        """Level for the new message given the levels of the worker's earlier messages.

        Only a message that is itself at least watch can raise the level, so a calm
        message after a raised run does not raise (and re-alert) again.
        """
        if new < RiskLevel.watch:
            return new
        recent = [*list(history_levels)[-(self.window - 1):], new] if self.window > 1 else [new]
        concerning = sum(1 for lv in recent if lv >= RiskLevel.watch)
        if concerning >= self.threshold:
            return max(new, RiskLevel.high)
        return new


_DEFAULT_CONTEXT = ConversationRisk()


def combine(history_levels: Sequence[RiskLevel], new: RiskLevel) -> RiskLevel:
    """``ConversationRisk()`` defaults: 3 watch-or-above among the last 5 -> high."""
    return _DEFAULT_CONTEXT.combine(history_levels, new)
