"""Reading and checking the rule file (``rules.toml``): every entry is checked on load.

The rules live in ``rules.toml`` beside this module so that a clinician can read and edit
them; docs/CRISIS.md explains the file.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
import tomllib

from chat_server.crisis.levels import RiskLevel
from chat_server.crisis.normalize import BREAK, alternation, normalize, phrase_regex
from chat_server.crisis.rules import Combination, Rule, RuleIndex, RuleSet
from yizhan_errors import YizhanError

__all__ = ["RuleFileError", "default_rules", "load_rules"]

RULES_FILE = "rules.toml"


class RuleFileError(YizhanError, ValueError):
    """The rule file is malformed; the message says which rule and which field."""


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
    pattern = alternation(phrases, regexes)
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
        not_with_pattern=alternation(not_with),
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
        cue_alt = "|".join(phrase_regex(c) for c in sorted(cues, key=len, reverse=True))
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
        exemption_pattern=alternation(_phrases(exemptions, "phrases", "[exemptions]")),
        exemptions_examples=_strings(exemptions, "examples_no_match", "[exemptions]"),
        negation_pattern=negation_pattern,
        question_pattern=alternation(_phrases(negation, "questions", "[negation]")),
        news_pattern=alternation(_phrases(news, "cues", "[news]")),
        first_person_pattern=alternation(_phrases(speaker, "first_person", "[speaker]")),
        third_person_pattern=alternation(_phrases(speaker, "third_person", "[speaker]")),
        third_party_id=str(speaker.get("id", "third_party_risk")),
        third_party_level=_level(speaker, "[speaker]") if speaker else RiskLevel.high,
        past_pattern=alternation(_phrases(past, "cues", "[past]")),
        present_pattern=alternation(_phrases(past, "present", "[past]")),
        still_now_pattern=alternation(_phrases(past, "still_now", "[past]")),
        past_id=str(past.get("id", "past_risk")),
        past_level=_level(past, "[past]") if past else RiskLevel.watch,
        joke_pattern=alternation(_phrases(joking, "cues", "[joking]")),
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
