"""The crisis rules as loaded from the rule file, and the index that finds candidate rules."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from chat_server.crisis.levels import RiskLevel
from chat_server.crisis.regex_chars import required_chars

__all__ = ["Combination", "Rule", "RuleIndex", "RuleSet"]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    level: RiskLevel
    tags: frozenset[str]
    description_zh: str
    description_en: str
    phrases: tuple[str, ...]
    regexes: tuple[str, ...]
    # Context words anywhere in the message that void this rule (一了百了 + 辞职).
    not_with: tuple[str, ...]
    negatable: bool
    check_speaker: bool
    # Counted even inside a longer phrase: 今晚 inside 他说今晚回来就弄死我.
    independent: bool
    # Past or joking context may lower it to watch (see [past] and [joking]).
    downgradable: bool
    examples_match: tuple[str, ...]
    examples_no_match: tuple[str, ...]
    pattern: re.Pattern[str]
    not_with_pattern: re.Pattern[str] | None


@dataclass(frozen=True, slots=True)
class Combination:
    id: str
    level: RiskLevel
    all_of: frozenset[str]
    description_zh: str
    description_en: str
    examples_match: tuple[str, ...]
    examples_no_match: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RuleIndex:
    """Which rules could match a normalized message, found far cheaper than running them.

    A rule's pattern is the alternation of its phrases (English ones with word-boundary
    checks, which only narrow them) and its regexes, so it can match only where one of
    its phrases occurs as a plain substring or one of its regexes matches. Most chat
    messages contain no phrase at all; running every rule's alternation on them cost
    about 100 µs a message, on the path to the worker's ack.

    Both halves are looked up by the message's characters. A phrase is filed under its
    character that fewest phrases share (a chat's everyday 我, 想, 不 rarely are), since
    it cannot occur where that character does not; a regex under the characters it cannot
    match without (chat_server/crisis/regex_chars.py), or run always if there are none.
    """

    # Key character -> (phrase, index of the rule it belongs to).
    phrases_by_char: dict[str, tuple[tuple[str, int], ...]]
    regexes: tuple[tuple[re.Pattern[str], int], ...]
    # Character -> positions in `regexes` of the patterns that need it.
    regexes_by_char: dict[str, tuple[int, ...]]
    regexes_always: tuple[int, ...]

    @classmethod
    def build(cls, rules: Sequence[Rule]) -> RuleIndex:
        phrases = [(phrase, i) for i, rule in enumerate(rules) for phrase in rule.phrases]
        sharing = Counter(ch for phrase, _ in phrases for ch in set(phrase))
        by_char: dict[str, list[tuple[str, int]]] = {}
        for phrase, i in phrases:
            key = min(phrase, key=lambda ch: (sharing[ch], ch))
            by_char.setdefault(key, []).append((phrase, i))
        regexes = [(re.compile(r), i) for i, rule in enumerate(rules) for r in rule.regexes]
        regexes_by_char: dict[str, list[int]] = {}
        always: list[int] = []
        for k, (pattern, _) in enumerate(regexes):
            needed = required_chars(pattern)
            if needed is None:
                always.append(k)
            for ch in needed or ():
                regexes_by_char.setdefault(ch, []).append(k)
        return cls({ch: tuple(v) for ch, v in by_char.items()}, tuple(regexes),
                   {ch: tuple(v) for ch, v in regexes_by_char.items()}, tuple(always))

    def candidates(self, norm: str) -> set[int]:
        found: set[int] = set()
        chars = set(norm)
        for ch in self.phrases_by_char.keys() & chars:
            for phrase, i in self.phrases_by_char[ch]:
                if i not in found and phrase in norm:
                    found.add(i)
        maybe = set(self.regexes_always)
        for ch in self.regexes_by_char.keys() & chars:
            maybe.update(self.regexes_by_char[ch])
        for k in maybe:
            pattern, i = self.regexes[k]
            if i not in found and pattern.search(norm) is not None:
                found.add(i)
        return found


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    combinations: tuple[Combination, ...]
    exemption_pattern: re.Pattern[str] | None
    exemptions_examples: tuple[str, ...]
    # Negation cue, optionally followed by up to two "bridge" words, ending right where
    # the match starts: 没 + 想过 + 自杀.
    negation_pattern: re.Pattern[str] | None
    # A-not-A questions (是不是, 要不要) look like negation but ask; masked before the check.
    question_pattern: re.Pattern[str] | None
    news_pattern: re.Pattern[str] | None
    first_person_pattern: re.Pattern[str] | None
    third_person_pattern: re.Pattern[str] | None
    third_party_id: str
    third_party_level: RiskLevel
    past_pattern: re.Pattern[str] | None
    # Between a past cue and the match these say "now": 以前很开心，现在只想死.
    present_pattern: re.Pattern[str] | None
    still_now_pattern: re.Pattern[str] | None
    past_id: str
    past_level: RiskLevel
    joke_pattern: re.Pattern[str] | None
    joke_unless_tags: frozenset[str]
    joke_id: str
    joke_level: RiskLevel
    index: RuleIndex
