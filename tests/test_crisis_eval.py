"""Figures of the crisis rules on the labelled evaluation set (tests/data/crisis_eval.tsv).

Only counts are reported, never message text: the set is written to look like real
workers' messages, and test logs are not a place for them.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from chat_server.crisis import RiskLevel, assess

EVAL_SET = Path(__file__).parent / "data" / "crisis_eval.tsv"
MIN_RECALL = 0.95
MAX_FALSE_ALARM = 0.05


def _load() -> list[tuple[RiskLevel, str]]:
    lines = EVAL_SET.read_text("utf-8").splitlines()
    assert lines[0] == "label\ttext"
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        label, sep, text = line.partition("\t")
        assert sep and text.strip(), f"line {number}: expected label<TAB>text"
        rows.append((RiskLevel.parse(label), text))
    return rows


def test_eval_set_shape() -> None:
    rows = _load()
    counts = Counter(label for label, _ in rows)
    assert len(rows) >= 300
    # Counts only: pytest would print the texts of a failing set comparison.
    duplicates = len(rows) - len({text for _, text in rows})
    assert duplicates == 0
    # The issue asks for at least 40% hard negatives; every none here is one.
    assert counts[RiskLevel.none] / len(rows) >= 0.40
    assert all(counts[level] for level in RiskLevel)


def test_recall_and_false_alarm_rate() -> None:
    rows = _load()
    positives = [text for label, text in rows if label >= RiskLevel.high]
    negatives = [text for label, text in rows if label < RiskLevel.high]
    caught = sum(assess(text).level >= RiskLevel.high for text in positives)
    alarms = sum(assess(text).level >= RiskLevel.high for text in negatives)
    recall = caught / len(positives)
    false_alarm = alarms / len(negatives)
    figures = (
        f"recall {recall:.3f} ({caught}/{len(positives)} high/imminent messages at >= high), "
        f"false-alarm rate {false_alarm:.3f} ({alarms}/{len(negatives)} none/watch messages "
        f"at >= high)"
    )
    assert recall >= MIN_RECALL and false_alarm <= MAX_FALSE_ALARM, figures
