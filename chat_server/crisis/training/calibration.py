"""Choosing the cascade's thresholds on out-of-fold scores, and the ones the model ships."""

from __future__ import annotations

from collections.abc import Sequence

from chat_server.crisis.cascade import Thresholds, decide, weak
from chat_server.crisis.levels import Assessment, RiskLevel
from chat_server.crisis.model import Scores
from chat_server.crisis.rule_engine import rule_pass
from chat_server.crisis.training.corpus import Item

# Targets of the calibration, on pooled leave-one-writer-out scores of the whole cascade.
# FALSE_ALARM_TARGET leaves headroom under the 0.05 the test asserts.
FALSE_ALARM_TARGET = 0.045
WATCH_ON_NONE_TARGET = 0.12
# A weak-family rule (cascade.WEAK_RULES) at high is lowered only below this P(>= high):
# fixed by principle (the model must be fairly sure), not fitted, so that a clinician's
# phrase in those families needs no more than a weak agreement from the model. 0.3 with
# the first model (operating bar 0.64); 0.2 since NB scaling moved the operating bar to
# ~0.6 and 0.3 lowered the must-catch 我要杀了那个包工头 (P 0.25). Measured: the same
# leave-one-writer-out recall and false alarms at 0.3, 0.25 and 0.2. 0.15 since the
# background sets of everyday messages moved the operating bar to ~0.5 and 0.2 lowered
# the same must-catch (P 0.196; docs/CRISIS.md has the measurement).
WEAK_RULE_BAR = 0.15


RulePasses = list[tuple[Assessment, bool]]


def rule_passes(items: Sequence[Item]) -> RulePasses:
    return [rule_pass(it.text) for it in items]


def cascade_levels(passes: RulePasses, scores: Sequence[Scores],
                   thresholds: Sequence[Thresholds]) -> list[RiskLevel]:
    return [decide(a, d, s, t).level
            for (a, d), s, t in zip(passes, scores, thresholds, strict=True)]


def calibrate(items: Sequence[Item], passes: RulePasses,
              scores: Sequence[Scores]) -> dict[str, float]:
    """Thresholds that maximise recall at FALSE_ALARM_TARGET on out-of-fold scores (a grid,
    deterministic). The rules' floor is counted: it spends part of the false-alarm budget."""
    import numpy as np

    # An item ends at >= high exactly when a standing rule or P(>= high) puts it there
    # (cascade.decide), so the grid is searched on arrays rather than through decide.
    high = np.array([s.high for s in scores])
    ruled = np.array([a.level >= RiskLevel.high for a, _ in passes])
    weakly = np.array([a.level >= RiskLevel.high and weak(a) for a, _ in passes])
    disarmed = np.array([d and a.level < RiskLevel.high for a, d in passes])
    neg = np.array([it.level == RiskLevel.none for it in items])
    floor = ruled & ~(weakly & (high < WEAK_RULE_BAR))
    chosen: dict[str, float] | None = None
    for base in (round(0.005 * k, 3) for k in range(40, 200)):
        # What the rules disarmed (累死了, 我没想过自杀) the model never raises.
        flagged = floor | ((high >= base) & ~disarmed)
        if float(flagged[neg].mean()) <= FALSE_ALARM_TARGET:
            chosen = {"high": base, "weak_rule": WEAK_RULE_BAR}
            break  # the bar only rises: the first that fits recalls the most
    if chosen is None:
        raise RuntimeError(f"no threshold keeps false alarms under {FALSE_ALARM_TARGET}")
    # Watch: as many watch items flagged as possible while few none items get a marker.
    none_watch = sorted((s.watch for it, s in zip(items, scores, strict=True)
                         if it.level == RiskLevel.none), reverse=True)
    chosen["watch"] = max(0.5, none_watch[int(len(none_watch) * WATCH_ON_NONE_TARGET)])
    # Imminent: the cut-off that best separates imminent from high among true positives.
    risky = [(s.imminent, it.level == RiskLevel.imminent)
             for it, s in zip(items, scores, strict=True) if it.level >= RiskLevel.high]
    chosen["imminent"] = max(
        (round(0.05 * k, 2) for k in range(2, 19)),
        key=lambda c: sum((p >= c) == imm for p, imm in risky))
    return chosen


def shipped_thresholds(per_writer: dict[str, dict[str, float]]) -> dict[str, float]:
    """The median (low: one fold's own value) of each threshold over the writers' folds.

    Not the thresholds calibrated on the pooled outer scores: those came out lower (high
    0.52 against folds' 0.535–0.635) and are the least conservative choice for writers
    unlike ours; the median is what the figures in docs/CRISIS.md were measured with.
    """
    import statistics

    names = sorted(next(iter(per_writer.values())))
    return {k: statistics.median_low(t[k] for t in per_writer.values()) for k in names}
