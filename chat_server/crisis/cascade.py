"""Rule-based crisis assessment of one worker message; pure, no I/O but the packaged rules.

The rules live in ``crisis_rules.toml`` beside this module so that a clinician can read
and edit them; docs/CRISIS.md explains the file and the figures measured on the
evaluation set. The assessment only *proposes* a level: a counselor's judgment and flag
always come first, and no decision about a worker is ever made from it without a human.

How one message is assessed:

1. ``normalize``: full-width to half-width (NFKC), English lower-cased, spaces and
   decorative punctuation/emoji dropped between Chinese characters, sentence punctuation
   turned into a clause break ``|`` (cues never reach across a clause break).
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

import dataclasses
import functools
import importlib.resources
import re
import tomllib
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from chat_server.crisis.model import CrisisModel, Scores, default_model
from chat_server.crisis.regex_chars import required_chars

__all__ = [
    "Assessment",
    "Combination",
    "ConversationRisk",
    "RiskLevel",
    "Rule",
    "RuleFileError",
    "RulePass",
    "RuleSet",
    "Thresholds",
    "assess",
    "assess_many",
    "assess_rules",
    "combine",
    "decide",
    "default_rules",
    "load_rules",
    "normalize",
    "rule_pass",
    "rules_first",
]

RULES_FILE = "rules.toml"

# A clause break in normalized text; patterns never contain it, so no match spans two clauses.
BREAK = "|"


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


class RuleFileError(ValueError):
    """The rule file is malformed; the message says which rule and which field."""


# --------------------------------------------------------------------------- normalize

# Sentence punctuation after NFKC (full-width ，！？ have become , ! ?); each ends a clause.
_CLAUSE_PUNCT = frozenset(",.!?;:。、…\n\r")
# Joiners that separate English words: "self-harm" must stay two words.
_WORD_JOINERS = frozenset("-_/")


def _is_ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


# One pass, in this order of precedence: clause punctuation -> BREAK, word joiners ->
# space, a BREAK typed by the worker -> dropped (it is not punctuation to the rules).
_PUNCT_AND_JOINERS = str.maketrans({**{ch: " " for ch in _WORD_JOINERS},
                                    **{ch: BREAK for ch in _CLAUSE_PUNCT}, BREAK: None})
# Then whatever is neither a letter or digit (str.isalnum, which is what \w means
# but for "_", already a joiner), whitespace nor a BREAK.
_NOT_KEPT = re.compile(r"[^\w\s|]")


def normalize(text: str) -> str:
    """Canonical form the rules are matched against (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_PUNCT_AND_JOINERS)
    # Everything else (quotes, brackets, ~, emoji, zero-width joiners, variation
    # selectors) is dropped: "自~杀" and "想死😭" must read like the plain words.
    text = _NOT_KEPT.sub("", text)
    # Phone chat uses spaces as punctuation ("想死 开玩笑的"), so a space next to Chinese
    # ends a clause; a space between English words stays one; a run of single characters
    # ("不 想 活 了", spaced out to dodge filters) is joined back into words.
    tokens = text.split()
    pieces: list[str] = []
    for i, tok in enumerate(tokens):
        if i:
            prev = tokens[i - 1]
            if _is_ascii_alnum(prev[-1]) and _is_ascii_alnum(tok[0]):
                pieces.append(" ")
            elif not (len(prev) == 1 and len(tok) == 1):
                pieces.append(BREAK)
        pieces.append(tok)
    collapsed = re.sub(r"\|+", BREAK, "".join(pieces))
    return collapsed.strip(BREAK)


def _phrase_regex(phrase: str) -> str:
    """A plain phrase as regex; English edges get word boundaries (skilled is not killed)."""
    body = re.escape(phrase)
    if _is_ascii_alnum(phrase[0]):
        body = r"(?<![a-z0-9])" + body
    if _is_ascii_alnum(phrase[-1]):
        body = body + r"(?![a-z0-9])"
    return body


def _alternation(phrases: Iterable[str], regexes: Iterable[str] = ()) -> re.Pattern[str] | None:
    # Longest first, so that an alternation prefers 从来没 over 没 at the same position.
    parts = [_phrase_regex(p) for p in sorted(set(phrases), key=len, reverse=True)]
    parts += [f"(?:{r})" for r in regexes]
    if not parts:
        return None
    return re.compile("|".join(parts))


# --------------------------------------------------------------------------- rules


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


_LEVELS = {level.name for level in RiskLevel}


def _strings(table: dict, key: str, where: str, *, required: bool = False) -> tuple[str, ...]:
    value = table.get(key, [])
    if required and not value:
        raise RuleFileError(f"{where}: '{key}' is required and may not be empty")
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RuleFileError(f"{where}: '{key}' must be a list of non-empty strings")
    return tuple(value)


def _level(table: dict, where: str) -> RiskLevel:
    name = table.get("level")
    if name not in _LEVELS:
        raise RuleFileError(f"{where}: 'level' must be one of {sorted(_LEVELS)}, got {name!r}")
    return RiskLevel[name]


def _phrases(table: dict, key: str, where: str, *, required: bool = False) -> tuple[str, ...]:
    # Phrases are normalized like messages so that a clinician may type 全角 or spaces.
    out = []
    for raw in _strings(table, key, where, required=required):
        norm = normalize(raw)
        if not norm or BREAK in norm:
            raise RuleFileError(f"{where}: phrase {raw!r} is empty or contains punctuation")
        out.append(norm)
    return tuple(out)


def _compile_regexes(regexes: tuple[str, ...], where: str) -> None:
    for r in regexes:
        try:
            re.compile(r)
        except re.error as exc:
            raise RuleFileError(f"{where}: bad regex {r!r}: {exc}") from None


# Rule, combination and section ids: they go to logs and dashboards, so plain ASCII.
_ID = re.compile(r"[a-z][a-z0-9_]*")


def _new_id(table: dict, kind: str, seen: set[str]) -> str:
    """The entry's id, checked and recorded; rule and combination ids share `seen`."""
    value = table.get("id")
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise RuleFileError(f"{kind} id {value!r} must be lower_snake_case")
    if value in seen:
        raise RuleFileError(f"duplicate {kind} id {value!r}")
    seen.add(value)
    return value


def _rule(table: dict, seen: set[str]) -> Rule:
    rid = _new_id(table, "rule", seen)
    where = f"rule {rid}"
    phrases = _phrases(table, "patterns", where)
    regexes = _strings(table, "regex", where)
    if not phrases and not regexes:
        raise RuleFileError(f"{where}: needs 'patterns' or 'regex'")
    _compile_regexes(regexes, where)
    not_with = _phrases(table, "not_with", where)
    pattern = _alternation(phrases, regexes)
    assert pattern is not None  # checked just above: phrases or regexes is non-empty
    return Rule(
        id=rid,
        level=_level(table, where),
        tags=frozenset(_strings(table, "tags", where)),
        description_zh=str(table.get("description_zh", "")),
        description_en=str(table.get("description_en", "")),
        phrases=phrases,
        regexes=regexes,
        not_with=not_with,
        negatable=bool(table.get("negatable", False)),
        check_speaker=bool(table.get("check_speaker", False)),
        independent=bool(table.get("independent", False)),
        downgradable=bool(table.get("downgradable", False)),
        examples_match=_strings(table, "examples_match", where),
        examples_no_match=_strings(table, "examples_no_match", where),
        pattern=pattern,
        not_with_pattern=_alternation(not_with),
    )


def _combination(table: dict, seen: set[str]) -> Combination:
    cid = _new_id(table, "combination", seen)
    where = f"combination {cid}"
    return Combination(
        id=cid,
        level=_level(table, where),
        all_of=frozenset(_strings(table, "all_of", where, required=True)),
        description_zh=str(table.get("description_zh", "")),
        description_en=str(table.get("description_en", "")),
        examples_match=_strings(table, "examples_match", where),
        examples_no_match=_strings(table, "examples_no_match", where),
    )


def _section(data: dict, name: str) -> dict:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise RuleFileError(f"[{name}] must be a table")
    return value


def load_rules(text: str) -> RuleSet:
    """Parse and check a rule file's text; raises RuleFileError naming the bad entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleFileError(f"not valid TOML: {exc}") from None
    seen: set[str] = set()
    rules = tuple(_rule(t, seen) for t in data.get("rule", []))
    combinations = tuple(_combination(t, seen) for t in data.get("combination", []))
    tags = set().union(*(r.tags for r in rules)) if rules else set()
    for c in combinations:
        unknown = c.all_of - tags
        if unknown:
            raise RuleFileError(f"combination {c.id}: no rule has tag(s) {sorted(unknown)}")

    negation = _section(data, "negation")
    cues = _phrases(negation, "cues", "[negation]")
    bridges = _phrases(negation, "bridges", "[negation]")
    negation_pattern = None
    if cues:
        cue_alt = "|".join(_phrase_regex(c) for c in sorted(cues, key=len, reverse=True))
        bridge_alt = "|".join(re.escape(b) for b in sorted(bridges, key=len, reverse=True))
        tail = f"(?:{bridge_alt}){{0,2}}" if bridges else ""
        negation_pattern = re.compile(f"(?:{cue_alt}) ?{tail} ?$")

    exemptions = _section(data, "exemptions")
    news = _section(data, "news")
    speaker = _section(data, "speaker")
    past = _section(data, "past")
    joking = _section(data, "joking")
    for where, section in (("[speaker]", speaker), ("[past]", past), ("[joking]", joking)):
        if section and not _ID.fullmatch(str(section.get("id", ""))):
            raise RuleFileError(f"{where}: 'id' must be lower_snake_case")
    return RuleSet(
        rules=rules,
        combinations=combinations,
        exemption_pattern=_alternation(_phrases(exemptions, "phrases", "[exemptions]")),
        exemptions_examples=_strings(exemptions, "examples_no_match", "[exemptions]"),
        negation_pattern=negation_pattern,
        question_pattern=_alternation(_phrases(negation, "questions", "[negation]")),
        news_pattern=_alternation(_phrases(news, "cues", "[news]")),
        first_person_pattern=_alternation(_phrases(speaker, "first_person", "[speaker]")),
        third_person_pattern=_alternation(_phrases(speaker, "third_person", "[speaker]")),
        third_party_id=str(speaker.get("id", "third_party_risk")),
        third_party_level=_level(speaker, "[speaker]") if speaker else RiskLevel.high,
        past_pattern=_alternation(_phrases(past, "cues", "[past]")),
        present_pattern=_alternation(_phrases(past, "present", "[past]")),
        still_now_pattern=_alternation(_phrases(past, "still_now", "[past]")),
        past_id=str(past.get("id", "past_risk")),
        past_level=_level(past, "[past]") if past else RiskLevel.watch,
        joke_pattern=_alternation(_phrases(joking, "cues", "[joking]")),
        joke_unless_tags=frozenset(_strings(joking, "unless_tags", "[joking]")),
        joke_id=str(joking.get("id", "said_as_joke")),
        joke_level=_level(joking, "[joking]") if joking else RiskLevel.watch,
        index=RuleIndex.build(rules),
    )


@functools.cache
def default_rules() -> RuleSet:
    """The packaged rules, read and checked once per process."""
    text = importlib.resources.files("chat_server.crisis").joinpath(RULES_FILE).read_text("utf-8")
    return load_rules(text)


# --------------------------------------------------------------------------- assess


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


# --------------------------------------------------------------------------- cascade

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


# --------------------------------------------------------------------------- context


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
