"""Figures of the crisis rules on the labelled sets: tests/data/crisis_eval.tsv (written by the
rules' first authors) and tests/data/crisis_heldout.tsv (a second annotator's set, committed
before the rules were run on it). The same thresholds hold for each file.

``assess`` is the whole cascade, and its learned layer trains on both sets (with the twelve
writers' corpus), so these are figures on training data: a guard against regressions, not
an estimate. The honest figure for them is leave-one-source-out (docs/CRISIS.md).

Only counts are reported, never message text: the set is written to look like real
workers' messages, and test logs are not a place for them.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from chat_server.crisis.cascade import assess
from chat_server.crisis.levels import RiskLevel

DATA = Path(__file__).parents[1] / "data"
EVAL_SET = DATA / "crisis_eval.tsv"
HELDOUT_SET = DATA / "crisis_heldout.tsv"
# (file, minimum size, minimum share of hard negatives labelled none)
SETS = [(EVAL_SET, 300, 0.40), (HELDOUT_SET, 200, 0.45)]
SET_IDS = [path.stem for path, _, _ in SETS]
MIN_RECALL = 0.95
MAX_FALSE_ALARM = 0.05


def _load(path: Path = EVAL_SET) -> list[tuple[RiskLevel, str]]:
    lines = path.read_text("utf-8").splitlines()
    assert lines[0] == "label\ttext"
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        label, sep, text = line.partition("\t")
        assert sep and text.strip(), f"line {number}: expected label<TAB>text"
        rows.append((RiskLevel.parse(label), text))
    return rows


@pytest.mark.parametrize(("path", "min_rows", "min_none"), SETS, ids=SET_IDS)
def test_eval_set_shape(path: Path, min_rows: int, min_none: float) -> None:
    rows = _load(path)
    counts = Counter(label for label, _ in rows)
    assert len(rows) >= min_rows
    # Counts only: pytest would print the texts of a failing set comparison.
    duplicates = len(rows) - len({text for _, text in rows})
    assert duplicates == 0
    # Hard-negative share (every none here is one): 40% asked by the issue, 45% for held-out.
    assert counts[RiskLevel.none] / len(rows) >= min_none
    assert all(counts[level] for level in RiskLevel)


def test_sets_do_not_overlap() -> None:
    # Counts only, never the texts.
    shared = {t for _, t in _load(EVAL_SET)} & {t for _, t in _load(HELDOUT_SET)}
    assert len(shared) == 0


@pytest.mark.parametrize("path", [p for p, _, _ in SETS], ids=SET_IDS)
def test_recall_and_false_alarm_rate(path: Path) -> None:
    rows = _load(path)
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
