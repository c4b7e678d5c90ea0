"""Recall and false alarms of assessed items, as the report prints them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chat_server.crisis.levels import RiskLevel
from chat_server.crisis.training.corpus import Item


@dataclass(frozen=True, slots=True)
class Figures:
    positives: int
    caught: int
    negatives: int
    alarms: int
    watch_items: int
    watch_at_high: int

    @property
    def recall(self) -> float:
        return self.caught / self.positives if self.positives else 0.0

    @property
    def false_alarm(self) -> float:
        return self.alarms / self.negatives if self.negatives else 0.0

    def line(self) -> str:
        return (f"recall {self.recall:.3f} ({self.caught}/{self.positives}), false alarms "
                f"{self.false_alarm:.3f} ({self.alarms}/{self.negatives}), watch at >= high "
                f"{self.watch_at_high}/{self.watch_items}")


def figures(items: Sequence[Item], levels: Sequence[RiskLevel]) -> Figures:
    """Recall of high/imminent at >= high; false alarm = a none item at >= high.

    Watch items count in neither: they are reported apart (watch_at_high), because a
    watch item raised to high costs a supervisor's look, not a missed crisis.
    """
    pos = [lv >= RiskLevel.high for it, lv in zip(items, levels, strict=True)
           if it.level >= RiskLevel.high]
    neg = [lv >= RiskLevel.high for it, lv in zip(items, levels, strict=True)
           if it.level == RiskLevel.none]
    wat = [lv >= RiskLevel.high for it, lv in zip(items, levels, strict=True)
           if it.level == RiskLevel.watch]
    return Figures(len(pos), sum(pos), len(neg), sum(neg), len(wat), sum(wat))


def misses_by(items: Sequence[Item], levels: Sequence[RiskLevel],
              key: Callable[[Item], str]) -> dict[str, tuple[int, int]]:
    """(missed, total) of high/imminent items per key (category or register)."""
    total: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    for it, lv in zip(items, levels, strict=True):
        if it.level >= RiskLevel.high:
            total[key(it)] += 1
            missed[key(it)] += lv < RiskLevel.high
    return {k: (missed[k], total[k]) for k in sorted(total)}
