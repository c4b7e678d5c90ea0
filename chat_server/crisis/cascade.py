"""The cascade: the rules' assessment and the learned layer's scores combined into one level.

``assess`` (one message) and ``assess_many`` (a batch) are what callers use; ``decide`` is
the pure combination (docs/CRISIS.md, "The cascade").
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chat_server.crisis.levels import Assessment, RiskLevel
from chat_server.crisis.model import CrisisModel, Scores, default_model
from chat_server.crisis.rule_engine import RulePass, rule_pass
from chat_server.crisis.rules import RuleSet

__all__ = [
    "MODEL_REASON",
    "RULE_OVERRULED",
    "WEAK_RULES",
    "Thresholds",
    "assess",
    "assess_many",
    "decide",
    "weak",
]

# Reason ids added when the learned layer, not a rule, set the level (docs/CRISIS.md).
MODEL_REASON = "learned_model"
RULE_OVERRULED = "rule_not_confirmed"

# Rule families whose high verdicts the learned layer may lower to a watch marker, and only
# these: on the writers' corpus their triggers are the hard negatives' own words — a friend
# who is safe now or a film (third_party_risk), games and hyperbole (harm_to_others,
# violence_against_worker), jokes (ideation_explicit). Every other rule, and any verdict
# that also carries a rule outside this set or a combination, is a floor: 我是累赘 or
# 我要杀了那个包工头 reach high whatever the model says.
WEAK_RULES = frozenset({"third_party_risk", "harm_to_others", "violence_against_worker",
                        "ideation_explicit"})


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Cut-offs on the learned heads' probabilities (docs/CRISIS.md, "Calibration")."""

    watch: float
    # P(>= high) that raises a message no rule put at high.
    high: float
    # A weak-family rule's high stands unless P(>= high) is below this: the model must be
    # fairly sure the message is not a risk (a fixed bar, not fitted: see docs/CRISIS.md).
    weak_rule: float
    imminent: float

    @classmethod
    def from_mapping(cls, values: dict[str, float]) -> Thresholds:
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls)})


def weak(rule_result: Assessment) -> bool:
    """A high verdict resting only on the weak rule families."""
    return bool(rule_result.reasons) and set(rule_result.reasons) <= WEAK_RULES


def decide(rule_result: Assessment, disarmed: bool, scores: Scores,
           thresholds: Thresholds) -> Assessment:
    """Combine the rules' assessment with the learned scores (pure; see docs/CRISIS.md).

    The rules' level is a floor, except a weak family's high (``WEAK_RULES``), which
    becomes a watch marker when the model finds the message quite unlike a risk.
    """
    t = thresholds
    rule_level = rule_result.level
    reasons = list(rule_result.reasons)
    if rule_level < RiskLevel.high and disarmed:
        # The rules saw a trigger and disarmed it (累死了, 我没想过自杀, 新闻里, 开玩笑的):
        # clinicians' exemptions and negation hold, the model never raises such a message.
        model_level = RiskLevel.none
    elif scores.high >= t.high:
        model_level = RiskLevel.imminent if scores.imminent >= t.imminent else RiskLevel.high
    elif scores.watch >= t.watch:
        model_level = RiskLevel.watch
    else:
        model_level = RiskLevel.none
    if rule_level >= RiskLevel.high and weak(rule_result) and scores.high < t.weak_rule:
        # Kept as a quiet marker for the counselor, not an escalation.
        reasons.append(RULE_OVERRULED)
        rule_level = RiskLevel.watch
    if model_level > rule_level:
        reasons.append(MODEL_REASON)
    return Assessment(max(rule_level, model_level), tuple(reasons))


def assess(text: str, rules: RuleSet | None = None, *,
           context: Sequence[str] = (), model: CrisisModel | None = None,
           ruled: RulePass | None = None) -> Assessment:
    """Assess one worker message, read with up to two earlier worker messages (oldest first).

    Rules and the learned layer together (``decide``). Pure and CPU-bound, about 0.1 ms;
    the server should call it off its event loop (docs/CRISIS.md, "Calling it").
    ``ruled``: the packaged rules' pass on this very text, already made (``rules_first``).
    """
    model = model or default_model()
    if ruled is not None and rules is None:
        rule_result, disarmed = ruled.assessment, ruled.disarmed
    else:
        rule_result, disarmed = rule_pass(text, rules)
    if not text.strip():
        return rule_result  # the model's intercepts alone would speak for an empty message
    scores = model.scores(text, context)
    return decide(rule_result, disarmed, scores, _thresholds(model))


@functools.lru_cache(maxsize=8)
def _thresholds(model: CrisisModel) -> Thresholds:
    # Cached per model (hashed by identity): parsing them each time cost ~10% of assess.
    return Thresholds.from_mapping(dict(model.thresholds))


def assess_many(batch: Iterable[tuple[str, Sequence[str]]], rules: RuleSet | None = None, *,
                model: CrisisModel | None = None,
                ruled: Sequence[RulePass | None] | None = None) -> list[Assessment]:
    """Assess (text, earlier worker messages) pairs in order: one call per batch.

    What the server runs in its single crisis worker thread (docs/CRISIS.md, "Calling
    it"): a batch pays one thread hand-off instead of one per message. ``ruled``, if
    given, holds each message's rule pass made on the send path (or None).
    """
    items = list(batch)
    passes = ruled if ruled is not None else [None] * len(items)
    return [assess(text, rules, context=context, model=model, ruled=r)
            for (text, context), r in zip(items, passes, strict=True)]
