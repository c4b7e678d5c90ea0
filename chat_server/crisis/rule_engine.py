"""Rule-based crisis assessment of one worker message; pure, no I/O but the packaged rules.

The assessment only *proposes* a level: a counselor's judgment and flag always come
first, and no decision about a worker is ever made from it without a human. The figures
measured on the evaluation set are in docs/CRISIS.md.

How one message is assessed:

1. ``normalize`` (chat_server/crisis/normalize.py) puts it in canonical form, with clause
   breaks.
2. Every rule phrase, and every exemption phrase, is searched. Where matches overlap the
   longest one wins, so the exemption ``跳楼价`` beats the phrase ``跳楼``.
3. Each winning match is checked in its own clause: a negation cue right before it drops
   it (我从来没想过自杀); a news cue drops it (新闻里有人跳楼); a third person as the
   nearest speaker turns it into ``third_party_risk``; a past-time cue with nothing saying
   "again / still" turns it into ``past_ideation``.
4. The level is the highest level among surviving matches and among the combinations
   whose tags all occur (ideation + timing -> imminent).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chat_server.crisis.levels import Assessment, RiskLevel
from chat_server.crisis.normalize import BREAK, normalize
from chat_server.crisis.rule_file import default_rules
from chat_server.crisis.rules import Rule, RuleSet

__all__ = ["RulePass", "assess_rules", "rule_pass", "rules_first"]


@dataclass(frozen=True, slots=True)
class _Match:
    start: int
    end: int
    rule: Rule | None  # None: an exemption phrase, which only blocks what it overlaps


def _winning_matches(norm: str, rules: RuleSet, candidates: set[int]) -> list[_Match]:
    found: list[_Match] = []
    independent: list[_Match] = []
    for i in sorted(candidates):
        rule = rules.rules[i]
        matches = [_Match(m.start(), m.end(), rule) for m in _finditer(rule.pattern, norm)]
        (independent if rule.independent else found).extend(matches)
    exempt: list[_Match] = []
    if rules.exemption_pattern is not None:
        exempt = [_Match(m.start(), m.end(), None)
                  for m in _finditer(rules.exemption_pattern, norm)]
    # Longest first; at equal length an exemption beats a rule, then the higher level.
    found += exempt
    found.sort(key=lambda m: (-(m.end - m.start), m.rule is not None,
                              -(m.rule.level if m.rule else 0), m.start))
    taken: list[_Match] = []
    for m in found:
        if not any(_overlaps(m, t) for t in taken):
            taken.append(m)
    taken += [m for m in independent if not any(_overlaps(m, e) for e in exempt)]
    return sorted((m for m in taken if m.rule is not None), key=lambda m: m.start)


def _overlaps(a: _Match, b: _Match) -> bool:
    return a.start < b.end and b.start < a.end


def _finditer(pattern: re.Pattern[str], text: str) -> list[re.Match[str]]:
    # finditer skips matches that overlap an earlier one of the same pattern; try every
    # start so that 不想活了 inside 我不想活了 is found even when 我不 matched something else.
    out: list[re.Match[str]] = []
    pos = 0
    while pos <= len(text):
        m = pattern.search(text, pos)
        if m is None:
            break
        if m.end() > m.start():
            out.append(m)
        pos = m.start() + 1
    return out


def _clause_before(norm: str, start: int) -> str:
    return norm[norm.rfind(BREAK, 0, start) + 1 : start]


def _nearest_speaker_is_third(before: str, rules: RuleSet) -> bool | None:
    """True: nearest person word is a third person; False: it is 我; None: no person word."""
    last_first = max((m.end() for m in _finditer_opt(rules.first_person_pattern, before)),
                     default=-1)
    last_third = max((m.end() for m in _finditer_opt(rules.third_person_pattern, before)),
                     default=-1)
    if last_first < 0 and last_third < 0:
        return None
    return last_third > last_first


def _finditer_opt(pattern: re.Pattern[str] | None, text: str) -> list[re.Match[str]]:
    return [] if pattern is None else _finditer(pattern, text)


def _search(pattern: re.Pattern[str] | None, text: str) -> bool:
    return pattern is not None and pattern.search(text) is not None


def _negated(before: str, rules: RuleSet) -> bool:
    if rules.negation_pattern is None:
        return False
    if rules.question_pattern is not None:
        before = rules.question_pattern.sub("#", before)
    return rules.negation_pattern.search(before.rstrip(" ")) is not None


def _joking(norm: str, rules: RuleSet) -> bool:
    """A joke cue that is not itself negated (没开玩笑 means "I am serious")."""
    return any(not _negated(_clause_before(norm, m.start()), rules)
               for m in _finditer_opt(rules.joke_pattern, norm))


def _in_the_past(norm: str, start: int, rules: RuleSet) -> bool:
    """A past cue earlier in the message with no "now" word between it and the match."""
    if rules.past_pattern is None:
        return False
    cues = _finditer(rules.past_pattern, norm[:start])
    if not cues:
        return False
    return not _search(rules.present_pattern, norm[cues[-1].end() : start])


def assess_rules(text: str, rules: RuleSet | None = None) -> Assessment:
    """The rules alone on one message; ``rules`` defaults to the packaged rule file."""
    return rule_pass(text, rules)[0]


@dataclass(frozen=True, slots=True)
class RulePass:
    """``rule_pass`` kept whole: the send path's floor (``level``, ``reasons``), and what
    the learned stage needs of it, so the stage does not run the rules a second time."""

    assessment: Assessment
    disarmed: bool

    @property
    def level(self) -> RiskLevel:
        return self.assessment.level

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.assessment.reasons


def rules_first(text: str) -> RulePass:
    """The packaged rules on one message, before it is stored (the node's assessor)."""
    return RulePass(*rule_pass(text))


def rule_pass(text: str, rules: RuleSet | None = None) -> tuple[Assessment, bool]:
    """The rules' assessment, and whether they saw a trigger and disarmed it.

    Disarmed: an exemption phrase (累死了, 跳楼价), a negated or news match, or one lowered
    as past or joking. The learned layer then needs more evidence to raise the message.
    """
    rules = rules or default_rules()
    norm = normalize(text)
    candidates = rules.index.candidates(norm) if norm else set()
    if not candidates:
        # No rule can fire, so no combination can either: the common case, kept cheap.
        # Exemption phrases need no rule index entry; look for them only here.
        exempt = _search(rules.exemption_pattern, norm) if norm else False
        return Assessment(RiskLevel.none), exempt
    disarmed = _search(rules.exemption_pattern, norm)

    # First pass: drop matches voided by context, negated, or about strangers in the news.
    kept: list[tuple[_Match, Rule, bool]] = []
    for m in _winning_matches(norm, rules, candidates):
        rule = m.rule
        assert rule is not None  # _winning_matches returns rule matches only
        if rule.not_with_pattern is not None and rule.not_with_pattern.search(norm):
            continue
        before = _clause_before(norm, m.start)
        if rule.negatable and _negated(before, rules):
            disarmed = True
            continue
        third = False
        if rule.check_speaker:
            speaker = _nearest_speaker_is_third(before, rules)
            if speaker is not False and _search(rules.news_pattern, before):
                disarmed = True
                continue  # strangers in the news are not this worker's risk
            third = speaker is True
        kept.append((m, rule, third))

    # Second pass: past ("以前想过…现在好多了") and joking ("开玩笑的") lower to watch;
    # someone else's risk is recorded as third_party_risk.
    tags_seen = frozenset().union(*(rule.tags for _, rule, third in kept if not third))
    still_now = _search(rules.still_now_pattern, norm)
    joking = _joking(norm, rules) and not (tags_seen & rules.joke_unless_tags)
    fired: list[tuple[str, RiskLevel, frozenset[str]]] = []
    for m, rule, third in kept:
        if rule.downgradable and rule.level > RiskLevel.none:
            if not still_now and _in_the_past(norm, m.start, rules):
                fired.append((rules.past_id, min(rule.level, rules.past_level), frozenset()))
                disarmed = True
                continue
            if joking:
                fired.append((rules.joke_id, min(rule.level, rules.joke_level), frozenset()))
                disarmed = True
                continue
        if third:
            if rule.level > RiskLevel.none:
                level = min(rule.level, rules.third_party_level)
                fired.append((rules.third_party_id, level, frozenset()))
            continue
        fired.append((rule.id, rule.level, rule.tags))

    # Tag-only rules (level none: timing words, a means named alone) are listed too: they
    # raise nothing by themselves but show a counselor what the combination saw.
    level = max((rlevel for _, rlevel, _ in fired), default=RiskLevel.none)
    reasons = [rid for rid, _, _ in fired]
    present = frozenset().union(*(tags for _, _, tags in fired))
    for combo in rules.combinations:
        if combo.all_of <= present:
            level = max(level, combo.level)
            reasons.append(combo.id)
    return Assessment(level, tuple(dict.fromkeys(reasons))), disarmed
