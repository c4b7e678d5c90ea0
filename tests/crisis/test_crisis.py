"""The rule layer of crisis assessment (``assess_rules``): must-catch and must-not-alarm phrases,
rule-file examples, context. The whole cascade is tested in test_crisis_cascade.py."""

from __future__ import annotations

import dataclasses
import importlib.resources
import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat_server.crisis.conversation_risk import ConversationRisk, combine
from chat_server.crisis.levels import Assessment, RiskLevel
from chat_server.crisis.normalize import normalize
from chat_server.crisis.rule_engine import assess_rules as assess
from chat_server.crisis.rule_file import RuleFileError, default_rules, load_rules

N, W, H, IM = RiskLevel.none, RiskLevel.watch, RiskLevel.high, RiskLevel.imminent

RULES_TEXT = (
    importlib.resources.files("chat_server.crisis").joinpath("rules.toml").read_text("utf-8")
)
RULES_DATA = tomllib.loads(RULES_TEXT)


def _ids(cases: list) -> list[str]:
    # Test ids are numbers, not message text: pytest prints ids in its reports.
    return [f"case{i}" for i in range(len(cases))]


# --- the must-catch list ---------------------------------------------------------

MUST_CATCH: list[tuple[str, RiskLevel]] = [
    # explicit ideation
    ("我想死", H),
    ("我真的不想活了", H),
    ("我想自杀", H),
    ("有轻生的念头", H),
    ("死了就一了百了", H),
    # plans, means, timing
    ("安眠药攒了两瓶", H),
    ("我想跳楼", H),
    ("我想烧炭", H),
    ("我在写遗书", H),
    ("绳子准备好了", H),
    ("不想活了，今晚就走", IM),
    ("今晚就去跳楼", IM),
    ("想死，家里有安眠药", IM),
    ("安眠药攒了两瓶，今晚吃掉", IM),
    ("我已经写好遗书了", IM),
    ("今晚烧炭", IM),
    # self-harm
    ("我又割腕了", H),
    ("忍不住自残", H),
    # harm to others
    ("我想杀了他", H),
    ("我要杀了那个包工头", H),
    ("大不了同归于尽", H),
    # violence against the worker
    ("他说要弄死我", H),
    ("我老公喝醉了要弄死我", H),
    # indirect ideation
    ("我是累赘", H),
    ("我是家里的累赘", H),
    ("我消失了大家会更好", H),
    # pinyin and mixed writing
    ("想zs", H),
    ("不想活le", H),
    ("不 想 活 了", H),
    ("ＩＷＡＮＴＴＯ", N),  # full-width letters with no meaning: stays none
]


@pytest.mark.parametrize(("text", "level"), MUST_CATCH, ids=_ids(MUST_CATCH))
def test_must_catch(text: str, level: RiskLevel) -> None:
    assert assess(text).level == level


MUST_NOT_ALARM = [
    # hyperbole
    "累死了", "今天加班到十一点，累死了", "笑死", "笑死我了", "热死了", "气死我了",
    "要了我的命", "这bug要了我的命", "想死你了",
    # "X得想死" with a concrete cause is a degree complement, not ideation (docs/CRISIS.md)
    "这班上的想死", "上班上得想死 开玩笑的", "今天累得想死", "我要去死磕这个技术",
    # negation
    "我从来没想过自杀", "我没想过自杀", "我不会自杀的", "我不是想死，就是累", "我不想死",
    # other people's news
    "我同事想辞职", "新闻里有人跳楼", "新闻里有人跳楼了，看着挺难受的",
    # other senses of the same characters
    "跳槽", "我想跳槽", "周末去跳伞", "杀了这个bug", "终于杀了这个bug", "死磕", "杀价",
    "跟供应商杀价", "不想活成我爸妈那样", "双十一跳楼价", "杀了这个进程",
    # workplace talk
    "又加班到凌晨", "被老板骂了一顿", "工资拖欠三个月了", "这个月工资又拖欠了",
    # questions about the service that are not about risk
    "你们这个是免费的吗", "聊天记录会保存吗",
    # English substrings
    "skilled", "skilled worker", "killed it in the interview",
]


@pytest.mark.parametrize("text", MUST_NOT_ALARM, ids=_ids(MUST_NOT_ALARM))
def test_must_not_alarm(text: str) -> None:
    # The issue allows watch at most; the rules aim for none.
    assert assess(text).level == N


DECISIONS: list[tuple[str, RiskLevel, str]] = [
    # Someone else's risk: a counselor must notice (and "my friend" is often oneself).
    ("我朋友说他想自杀", H, "third_party_risk"),
    ("我室友说不想活了", H, "third_party_risk"),
    # Past and recovered: watch, no escalation.
    ("以前想过自杀，现在好多了", W, "past_risk"),
    ("以前想过自杀，最近又想了", H, "ideation_explicit"),
    # Asking whether we call the police often comes right before a disclosure.
    ("你们会报警吗", W, "asks_about_reporting"),
    # "Just kidding" lowers ideation to watch, never when a plan or time is named.
    ("想死 开玩笑的", W, "said_as_joke"),
    ("我真的想去死 没开玩笑", H, "ideation_explicit"),
    ("今晚就去死 开玩笑的", IM, "ideation_with_timing"),
    # A-not-A question is not negation.
    ("我是不是死了才能解脱", H, "ideation_explicit"),
]


@pytest.mark.parametrize(("text", "level", "reason"), DECISIONS, ids=_ids(DECISIONS))
def test_documented_decisions(text: str, level: RiskLevel, reason: str) -> None:
    result = assess(text)
    assert result.level == level
    assert reason in result.reasons


# --- English ---------------------------------------------------------------------------

ENGLISH: list[tuple[str, RiskLevel]] = [
    ("skilled", N),
    ("she is a skilled welder", N),
    ("he was killed in a car accident", N),
    ("I want to kill myself", H),
    ("I want to die", H),
    ("I keep thinking about suicide", H),
    ("sometimes I want to end it all", H),
    ("I want to overdose", H),
    ("i took an overdose", IM),
    ("I am not suicidal", N),
    ("my back is killing me", N),
    ("skillfully done", N),
    ("suicidesquad", N),  # a word boundary is required on both sides
]


@pytest.mark.parametrize(("text", "level"), ENGLISH, ids=_ids(ENGLISH))
def test_english_word_boundaries(text: str, level: RiskLevel) -> None:
    assert assess(text).level == level


# --- every example written in the rule file ---------------------------------------------


def _rule_examples(kind: str) -> list[tuple[str, str]]:
    out = []
    for rule in RULES_DATA.get("rule", []):
        out += [(rule["id"], ex) for ex in rule.get(kind, [])]
    return out


RULE_MATCH = _rule_examples("examples_match")
RULE_NO_MATCH = _rule_examples("examples_no_match")


@pytest.mark.parametrize(("rule_id", "example"), RULE_MATCH,
                         ids=[f"{r}-{i}" for i, (r, _) in enumerate(RULE_MATCH)])
def test_rule_examples_match(rule_id: str, example: str) -> None:
    assert rule_id in assess(example).reasons


@pytest.mark.parametrize(("rule_id", "example"), RULE_NO_MATCH,
                         ids=[f"{r}-{i}" for i, (r, _) in enumerate(RULE_NO_MATCH)])
def test_rule_examples_no_match(rule_id: str, example: str) -> None:
    assert rule_id not in assess(example).reasons


def _combination_examples(kind: str) -> list[tuple[str, RiskLevel, str]]:
    out = []
    for combo in RULES_DATA.get("combination", []):
        level = RiskLevel.parse(combo["level"])
        out += [(combo["id"], level, ex) for ex in combo.get(kind, [])]
    return out


COMBO_MATCH = _combination_examples("examples_match")
COMBO_NO_MATCH = _combination_examples("examples_no_match")


@pytest.mark.parametrize(("combo_id", "level", "example"), COMBO_MATCH,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(COMBO_MATCH)])
def test_combination_examples_match(combo_id: str, level: RiskLevel, example: str) -> None:
    result = assess(example)
    assert combo_id in result.reasons
    assert result.level >= level


@pytest.mark.parametrize(("combo_id", "level", "example"), COMBO_NO_MATCH,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(COMBO_NO_MATCH)])
def test_combination_examples_no_match(combo_id: str, level: RiskLevel, example: str) -> None:
    assert combo_id not in assess(example).reasons


def _section_examples(section: str, kind: str) -> list[tuple[str, str]]:
    table = RULES_DATA.get(section, {})
    return [(table.get("id", section), ex) for ex in table.get(kind, [])]


SECTION_MATCH = [*_section_examples("speaker", "examples_match"),
                 *_section_examples("past", "examples_match"),
                 *_section_examples("joking", "examples_match")]
SECTION_NO_MATCH = [*_section_examples("speaker", "examples_no_match"),
                    *_section_examples("past", "examples_no_match"),
                    *_section_examples("joking", "examples_no_match")]


@pytest.mark.parametrize(("reason", "example"), SECTION_MATCH,
                         ids=[f"{r}-{i}" for i, (r, _) in enumerate(SECTION_MATCH)])
def test_section_examples_match(reason: str, example: str) -> None:
    assert reason in assess(example).reasons


@pytest.mark.parametrize(("reason", "example"), SECTION_NO_MATCH,
                         ids=[f"{r}-{i}" for i, (r, _) in enumerate(SECTION_NO_MATCH)])
def test_section_examples_no_match(reason: str, example: str) -> None:
    assert reason not in assess(example).reasons


EXEMPTION_EXAMPLES = RULES_DATA["exemptions"].get("examples_no_match", [])


@pytest.mark.parametrize("example", EXEMPTION_EXAMPLES, ids=_ids(EXEMPTION_EXAMPLES))
def test_exemption_examples_raise_nothing(example: str) -> None:
    assert assess(example).level == N


def test_every_rule_has_descriptions_and_examples() -> None:
    for rule in default_rules().rules:
        assert rule.description_zh and rule.description_en, rule.id
        assert rule.examples_match and rule.examples_no_match, rule.id
    for combo in default_rules().combinations:
        assert combo.examples_match and combo.examples_no_match, combo.id


# --- reasons never carry message text ----------------------------------------------------

ALL_TEXTS = [t for t, _ in MUST_CATCH] + MUST_NOT_ALARM + [t for t, _, _ in DECISIONS] + [
    ex for _, ex in RULE_MATCH
]
KNOWN_IDS = (
    {r.id for r in default_rules().rules}
    | {c.id for c in default_rules().combinations}
    | {"third_party_risk", "past_risk", "said_as_joke"}
)


def test_reasons_are_rule_ids_never_text() -> None:
    for text in ALL_TEXTS:
        result = assess(text)
        for reason in result.reasons:
            # An id is lower_snake_case ASCII from the rule file, so it can hold no Chinese
            # and is never a copy of what the worker wrote.
            assert re.fullmatch(r"[a-z][a-z0-9_]*", reason)
            assert reason in KNOWN_IDS
            assert reason not in normalize(text)


# --- the value types -------------------------------------------------------------------


def test_levels_are_ordered_and_parse() -> None:
    assert [lv.name for lv in RiskLevel] == ["none", "watch", "high", "imminent"]
    assert [int(lv) for lv in RiskLevel] == [0, 1, 2, 3]
    assert N < W < H < IM
    assert RiskLevel.parse(" High ") is H
    with pytest.raises(ValueError):
        RiskLevel.parse("severe")


def test_assessment_is_frozen_and_slotted() -> None:
    result = assess("我想死")
    assert isinstance(result, Assessment)
    assert not hasattr(result, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.level = N  # type: ignore[misc]


def test_empty_and_punctuation_only() -> None:
    assert assess("") == Assessment(N, ())
    assert assess("。。。！！ 😭😭") == Assessment(N, ())


def test_normalize() -> None:
    assert normalize("不 想 活 了") == "不想活了"
    assert normalize("ＫＩＬＬ  Myself！") == "kill myself"
    assert normalize("想死 开玩笑的") == "想死|开玩笑的"
    assert normalize("self-harm") == "self harm"
    assert normalize("自~杀😭") == "自杀"


def _normalize_char_by_char(text: str) -> str:
    """normalize() as first written, one character at a time: the definition the fast
    version (one translate, one regex) must keep to."""
    import unicodedata

    out = []
    for ch in unicodedata.normalize("NFKC", text).lower():
        if ch in ",.!?;:。、…\n\r":
            out.append("|")
        elif ch.isspace() or ch in "-_/":
            out.append(" ")
        elif ch.isalnum():
            out.append(ch)
    tokens = [t for t in "".join(out).split(" ") if t]
    pieces: list[str] = []
    for i, tok in enumerate(tokens):
        if i:
            prev = tokens[i - 1]
            if prev[-1].isascii() and prev[-1].isalnum() and tok[0].isascii() and tok[0].isalnum():
                pieces.append(" ")
            elif not (len(prev) == 1 and len(tok) == 1):
                pieces.append("|")
        pieces.append(tok)
    return re.sub(r"\|+", "|", "".join(pieces)).strip("|")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.one_of(st.characters(), st.sampled_from(
    " |_-/~,.!?;:。、…\n\r\t\u3000\u00a0\u200b，！？ＫＩａ１不想活了😭")), max_size=40))
def test_normalize_keeps_to_its_character_by_character_definition(text: str) -> None:
    assert normalize(text) == _normalize_char_by_char(text)


def test_rules_load_once() -> None:
    assert default_rules() is default_rules()


# --- load_rules for tests and for clinicians' edits --------------------------------------

SMALL = """
[negation]
cues = ["没"]
[[rule]]
id = "tired"
level = "watch"
tags = ["t"]
negatable = true
patterns = ["好累", "so tired"]
[[rule]]
id = "tonight"
level = "none"
tags = ["when"]
patterns = ["今晚"]
[[combination]]
id = "tired_tonight"
level = "high"
all_of = ["t", "when"]
"""


def test_load_rules_from_text() -> None:
    rules = load_rules(SMALL)
    assert assess("好累", rules) == Assessment(W, ("tired",))
    assert assess("没好累", rules).level == N
    assert assess("今晚好累", rules) == Assessment(H, ("tonight", "tired", "tired_tonight"))
    assert assess("also tired", rules).level == N


@pytest.mark.parametrize(
    "bad",
    [
        "[[rule]]\nid = 'x'\nlevel = 'severe'\npatterns = ['a']",
        "[[rule]]\nid = 'Bad Id'\nlevel = 'high'\npatterns = ['a']",
        "[[rule]]\nid = 'x'\nlevel = 'high'",
        "[[rule]]\nid = 'x'\nlevel = 'high'\nregex = ['(']",
        "[[rule]]\nid = 'x'\nlevel = 'high'\npatterns = ['a']\n"
        "[[rule]]\nid = 'x'\nlevel = 'high'\npatterns = ['b']",
        "[[rule]]\nid = 'x'\nlevel = 'high'\npatterns = ['a']\n"
        "[[combination]]\nid = 'c'\nlevel = 'high'\nall_of = ['nope']",
        "[[rule]]\nid = 'x'\nlevel = 'high'\npatterns = ['a，b']",
        "not toml = = =",
    ],
)
def test_bad_rule_files_are_refused(bad: str) -> None:
    with pytest.raises(RuleFileError):
        load_rules(bad)


# --- context rule -------------------------------------------------------------------------


def test_three_watch_in_a_row_raise_to_high() -> None:
    assert combine([W, W], W) == H
    assert combine([N, W, N, W], W) == H
    assert combine([], W) == W
    assert combine([W], W) == W


def test_watch_outside_the_window_does_not_count() -> None:
    # Two watch long ago, then calm: only the last 5 messages (new one included) count.
    assert combine([W, W, N, N, N, N], W) == W


def test_calm_message_does_not_raise_again() -> None:
    assert combine([W, W, W], N) == N


def test_combine_never_lowers() -> None:
    assert combine([W, W], IM) == IM
    assert combine([], H) == H


def test_conversation_risk_is_configurable() -> None:
    strict = ConversationRisk(window=3, threshold=2)
    assert strict.combine([W], W) == H
    assert strict.combine([W, N, N], W) == W


def test_context_rule_end_to_end() -> None:
    history: list[RiskLevel] = []
    messages = ["活着好没意思", "今天又加班", "感觉撑不下去了", "心里好绝望"]
    levels = []
    for text in messages:
        new = assess(text).level
        levels.append(combine(history, new))
        history.append(new)
    assert levels == [W, N, W, H]


# ----------------------------------------------------------------- the rule index
# assess() runs only the rules the index names, so the index must never leave out a
# rule whose pattern matches: a missed rule would be a missed alarm.

def _eval_texts() -> list[str]:
    texts: list[str] = []
    for name in ("crisis_eval.tsv", "crisis_heldout.tsv"):
        path = Path(__file__).parents[1] / "data" / name
        for line in path.read_text("utf-8").splitlines()[1:]:
            if line.strip() and not line.startswith("#"):
                texts.append(line.split("\t")[-1])
    return texts


def _assert_index_covers(text: str) -> None:
    rules = default_rules()
    norm = normalize(text)
    matching = {i for i, rule in enumerate(rules.rules) if rule.pattern.search(norm)}
    missing = matching - rules.index.candidates(norm)
    assert not missing, [rules.rules[i].id for i in missing]


def test_rule_index_names_every_rule_that_matches_the_evaluation_sets() -> None:
    texts = _eval_texts()
    assert len(texts) > 500
    for text in texts:
        _assert_index_covers(text)


# Every character of the phrases, and every character the regexes name.
_RULE_CHARS = "".join(sorted({ch for rule in default_rules().rules
                              for phrase in rule.phrases for ch in phrase}
                             | {ch for rule in default_rules().rules for r in rule.regexes
                                for ch in re.sub(r"\\.|[^\w]", "", r)}))


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet=_RULE_CHARS + "，。！ 了的我他", max_size=24))
def test_rule_index_names_every_rule_that_matches_any_text(text: str) -> None:
    _assert_index_covers(text)


def test_calm_message_is_assessed_as_none_without_running_rules() -> None:
    rules = default_rules()
    calm = "今天又加班到很晚，心里有点烦，想找人聊聊。"
    assert rules.index.candidates(normalize(calm)) == set()
    assert assess(calm) == Assessment(RiskLevel.none)
