"""The whole crisis cascade (``assess``): rules and the learned layer, with context."""

from __future__ import annotations

import gzip
import time

import pytest

from chat_server.crisis.cascade import (
    MODEL_REASON,
    RULE_OVERRULED,
    Thresholds,
    assess,
    assess_many,
    decide,
)
from chat_server.crisis.levels import Assessment, RiskLevel
from chat_server.crisis.model import (
    FORMAT,
    ModelFileError,
    Scores,
    context_text,
    default_model,
    grams,
    load_model,
    model_text,
)
from chat_server.crisis.rule_engine import rule_pass, rules_first
from tests.crisis.test_crisis import MUST_CATCH, MUST_NOT_ALARM

N, W, H, IM = RiskLevel.none, RiskLevel.watch, RiskLevel.high, RiskLevel.imminent
T = Thresholds(watch=0.5, high=0.7, weak_rule=0.3, imminent=0.5)


def _scores(watch: float = 0.0, high: float = 0.0, imminent: float = 0.0) -> Scores:
    return Scores(watch, high, imminent)


# --- decide: how rules and the model combine (pure) ---------------------------------------


def test_model_raises_what_the_rules_missed() -> None:
    result = decide(Assessment(N), False, _scores(0.9, 0.8, 0.1), T)
    assert result == Assessment(H, (MODEL_REASON,))
    assert decide(Assessment(N), False, _scores(0.9, 0.8, 0.6), T).level == IM
    assert decide(Assessment(N), False, _scores(0.6, 0.3, 0.0), T).level == W
    assert decide(Assessment(N), False, _scores(0.2, 0.1, 0.0), T).level == N


def test_a_clear_rule_is_a_floor_whatever_the_model_says() -> None:
    # 我是累赘, 安眠药攒了两瓶: a rule outside the weak families stands at P(high) = 0.
    for ruled in (Assessment(H, ("indirect_ideation",)), Assessment(IM, ("x",)),
                  Assessment(H, ("harm_to_others", "weapon"))):
        assert decide(ruled, False, _scores(0.0, 0.0, 0.0), T) == ruled


def test_a_weak_family_rule_stands_unless_the_model_is_fairly_sure() -> None:
    ruled = Assessment(H, ("harm_to_others",))
    assert decide(ruled, False, _scores(0.5, 0.3, 0.0), T) == ruled
    result = decide(ruled, False, _scores(0.1, 0.2, 0.0), T)
    assert result == Assessment(W, ("harm_to_others", RULE_OVERRULED))


def test_must_catch_rules_stay_a_floor_in_the_cascade() -> None:
    # The two phrases the first pass lowered to watch, and every must-catch the rules
    # catch: the whole cascade keeps them at least at the rules' level.
    assert assess("我是累赘").level >= H
    assert assess("我要杀了那个包工头").level >= H
    for text, level in MUST_CATCH:
        assert assess(text).level >= level


def test_disarmed_triggers_are_never_raised_by_the_model() -> None:
    # 累死了, 我没想过自杀: the rules saw the trigger and disarmed it.
    assert decide(Assessment(N), True, _scores(1.0, 1.0, 1.0), T) == Assessment(N)
    # Past or joking ideation stays the rules' watch.
    past = Assessment(W, ("past_risk",))
    assert decide(past, True, _scores(1.0, 1.0, 1.0), T) == past


# --- the packaged model and the documented behaviour --------------------------------------


@pytest.mark.parametrize("text", MUST_NOT_ALARM)
def test_must_not_alarm(text: str) -> None:
    # Hyperbole, negation and other senses: no escalation (a quiet watch marker at most).
    assert assess(text).level < H


# What a chat is mostly made of. An outside tester's neutral test messages opened
# escalations (one raised to imminent, hotlines shown), and `再见` came out imminent, before
# the background sets of everyday messages (tests/data/crisis_background/) trained the model.
EVERYDAY = ("w message number 0", "message number 0", "test 1", "12345", "hello",
            "work was busy today", "this is a test message", "sorry I was busy",
            "再见", "谢谢老师，再见", "拜拜", "好的，下次再聊", "晚安", "测试消息 1")


@pytest.mark.parametrize("text", EVERYDAY)
def test_everyday_messages_raise_nothing(text: str) -> None:
    assert assess(text).level is RiskLevel.none
    assert assess(text, context=("谢谢你陪我聊",)).level is RiskLevel.none


def test_a_farewell_to_the_world_is_still_caught() -> None:
    assert assess("再见了，这个世界").level >= RiskLevel.high


def test_assess_keeps_its_plain_entry_point() -> None:
    result = assess("我想死")
    assert isinstance(result.level, RiskLevel)
    assert result.level >= H
    assert assess("") == Assessment(N, ())
    assert assess("今天天气不错").level == N


def test_context_is_read_with_the_message() -> None:
    text = "想去楼顶吹吹风"
    alone = default_model().scores(text)
    after = default_model().scores(text, ["工资三个月没发了", "活着好累 没人在乎我"])
    assert after.high > alone.high


def test_only_the_last_two_earlier_messages_count() -> None:
    assert context_text(["a", "b", "c"]) == "b c"
    assert context_text([]) == ""


def test_reasons_are_ids_never_text() -> None:
    for text in ("我想死", "想去楼顶吹吹风", "跳楼价", "今晚就去江边"):
        for reason in assess(text).reasons:
            assert reason.isascii()


def test_assess_many_matches_assess() -> None:
    batch = [("我想死", ()), ("想去楼顶吹吹风", ("工资三个月没发了",)), ("你好", ())]
    assert assess_many(batch) == [assess(t, context=c) for t, c in batch]


def test_the_send_paths_rule_pass_is_the_stages() -> None:
    # The stage reuses the rules' pass made before the store: the same verdict as its own.
    texts = [*(t for t, _ in MUST_CATCH), *MUST_NOT_ALARM, "以前想过死，现在好多了", " "]
    batch = [(t, ("工资三个月没发了",)) for t in texts]
    passes = [rules_first(t) for t in texts]
    for t, p in zip(texts, passes, strict=True):
        assert (p.assessment, p.disarmed) == rule_pass(t)
        assert (p.level, p.reasons) == (p.assessment.level, p.assessment.reasons)
    assert assess_many(batch, ruled=passes) == assess_many(batch)
    assert assess_many(batch, ruled=[None] * len(batch)) == assess_many(batch)


# --- the model file -------------------------------------------------------------------------


def test_model_text_and_grams() -> None:
    assert model_text("  我　想\tＳＩ  ") == "我 想 si"
    assert grams("abc", 2) == ["a", "b", "c", "ab", "bc", "a…c"]
    assert grams("abcd", 1)[-3:] == ["a…c", "b…d", "a……d"]


def test_bad_model_files_are_refused() -> None:
    with pytest.raises(ModelFileError):
        load_model(gzip.compress(b"something else\n"))
    with pytest.raises(ModelFileError):
        load_model(gzip.compress(f"{FORMAT}\nintercept\t0\t0\t0\n".encode()))
    with pytest.raises(ModelFileError):
        load_model(gzip.compress(f"{FORMAT}\nweird\tx\n".encode()))


def test_model_thresholds_are_complete() -> None:
    Thresholds.from_mapping(default_model().thresholds)


def test_cost_per_message_is_small() -> None:
    # About 0.1 ms a message on one core (docs/CRISIS.md, "Cost"); 2 ms leaves room for a
    # busy CI machine and still catches an accidental slow path (a regex per n-gram ...).
    texts = ["今天又加班到十一点", "我想死", "想去楼顶吹吹风", "老板说下个月再发工资"] * 50
    assess(texts[0])
    start = time.process_time()
    for text in texts:
        assess(text, context=("工资三个月没发了",))
    assert (time.process_time() - start) / len(texts) < 0.002
