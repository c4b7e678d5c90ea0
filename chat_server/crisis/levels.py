"""Risk levels and the assessment every layer of crisis assessment returns (value types)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = ["Assessment", "RiskLevel"]


class RiskLevel(IntEnum):
    """Ordered risk levels; the values let callers compare with ``>=``."""

    none = 0
    watch = 1
    high = 2
    imminent = 3

    @classmethod
    def parse(cls, name: str) -> RiskLevel:
        """``RiskLevel.parse("High")`` -> ``RiskLevel.high``; ValueError on anything else."""
        try:
            return cls[name.strip().lower()]
        except KeyError:
            raise ValueError(f"unknown risk level {name!r}") from None


@dataclass(frozen=True, slots=True)
class Assessment:
    level: RiskLevel
    # Rule ids only, never words from the message: reasons go to logs and dashboards.
    reasons: tuple[str, ...] = ()
