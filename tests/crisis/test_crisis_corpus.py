"""The learned layer on the thirteen writers' corpus: leave one writer out, a reproducible build.

Each fold trains on every source but one writer and scores that writer (the two older
sets and the two background sets always train); its thresholds are calibrated on its
training writers only (nested, training.evaluation._fold). The older sets and the
background sets are also held out in turn (leave one source out). Figures only, never
corpus text. Some 70 fits of three logistic regressions, two processes: about 8 minutes,
so it is a slow test. docs/CRISIS.md has the table.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from chat_server.crisis.levels import RiskLevel
from chat_server.crisis.model import context_text, default_model, model_text
from chat_server.crisis.training.corpus import CORPUS, load_corpus, training_items
from chat_server.crisis.training.evaluation import Evaluation, evaluate
from chat_server.crisis.training.figures import figures
from chat_server.crisis.training.fitting import (
    SEED,
    TOL,
    C,
    fit,
    nb_scale,
    vectorizer,
)

pytest.importorskip("sklearn")
# Nested leave-one-writer-out is some 37 fits: minutes on a shared two-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

WRITERS = tuple(f"w{k}" for k in range(1, 14))
# The target for the whole cascade, pooled over the writers: recall >= 0.95 at
# false alarms <= 0.05, thresholds nested inside the folds. Reached: 0.96 at 0.04
# (docs/CRISIS.md).
MAX_FALSE_ALARM = 0.05
TARGET_RECALL = 0.95
# The older sets held out (leave one source out), none and watch lines counted as false
# alarms as in tests/crisis/test_crisis_eval.py. What is reached, asserted so that it does not get
# worse: the second annotator's hard negatives are NOT under 0.05 (docs/CRISIS.md).
OLD_SET_REACHED = {"old_eval": (0.95, 0.06), "old_heldout": (0.95, 0.15)}
# The background sets of everyday messages, each held out (trained on everything else):
# share of its messages at >= high, and at >= watch (docs/CRISIS.md). Reached: 0.014 and
# 0.035 at >= high, 0.058 and 0.081 at >= watch.
BACKGROUND_REACHED = {"b1": (0.03, 0.08), "b2": (0.05, 0.10)}


@pytest.fixture(scope="module")
def evaluation() -> Evaluation:
    return evaluate(old_sets=True)


def _pooled(ev: Evaluation, **kind: bool) -> tuple[float, float, str]:
    idx = ev.subset(set(WRITERS))
    levels = ev.levels(**kind)
    f = figures([ev.items[i] for i in idx], [levels[i] for i in idx])
    return f.recall, f.false_alarm, f.line()


def test_corpus_shape() -> None:
    items = load_corpus()
    assert Counter(it.writer for it in items).keys() == set(WRITERS)
    assert len(items) >= 3000
    assert all(1 <= len(it.messages) <= 3 for it in items)
    assert (CORPUS / "BRIEF.md").exists() and (CORPUS / "README.md").exists()
    for path in CORPUS.glob("writer-*.jsonl"):
        writer = path.stem.removeprefix("writer-")
        lines = path.read_text("utf-8").splitlines()
        assert {json.loads(line)["writer"] for line in lines} == {writer}


def test_lowo_cascade(evaluation: Evaluation) -> None:
    recall, false_alarm, line = _pooled(evaluation)
    assert recall >= TARGET_RECALL and false_alarm <= MAX_FALSE_ALARM, line


@pytest.mark.parametrize("source", sorted(OLD_SET_REACHED))
def test_older_sets_held_out(evaluation: Evaluation, source: str) -> None:
    min_recall, max_false_alarm = OLD_SET_REACHED[source]
    idx = evaluation.subset({source})
    levels = evaluation.levels()
    risk = [levels[i] >= RiskLevel.high for i in idx if evaluation.items[i].level >= RiskLevel.high]
    calm = [levels[i] >= RiskLevel.high for i in idx if evaluation.items[i].level < RiskLevel.high]
    recall, false_alarm = sum(risk) / len(risk), sum(calm) / len(calm)
    line = (f"{source}: recall {recall:.3f} of {len(risk)}, "
            f"false alarms {false_alarm:.3f} of {len(calm)}")
    assert recall >= min_recall and false_alarm <= max_false_alarm, line


@pytest.mark.parametrize("source", sorted(BACKGROUND_REACHED))
def test_everyday_messages_held_out(evaluation: Evaluation, source: str) -> None:
    max_high, max_marked = BACKGROUND_REACHED[source]
    idx = evaluation.subset({source})
    every = evaluation.levels()
    levels = [every[i] for i in idx]
    high = sum(lv >= RiskLevel.high for lv in levels) / len(idx)
    marked = sum(lv >= RiskLevel.watch for lv in levels) / len(idx)
    line = f"{source}: at >= high {high:.3f}, at >= watch {marked:.3f} of {len(idx)}"
    assert high <= max_high and marked <= max_marked, line


def test_the_cascade_keeps_the_models_recall_and_the_rules_floor(evaluation: Evaluation) -> None:
    # On the writers the rules add little (0.25 alone) and the cascade's guards (weak
    # families lowered, disarmed triggers never raised) may cost a few items of the
    # model's recall: within half a point. On the older sets the rules' floor is what keeps
    # recall: there the cascade must beat the model alone.
    rules, _, _ = _pooled(evaluation, model=False)
    model, _, _ = _pooled(evaluation, rules=False)
    combined, _, _ = _pooled(evaluation)
    assert combined >= model - 0.005 and combined > rules
    for source in OLD_SET_REACHED:
        idx = [i for i in evaluation.subset({source})
               if evaluation.items[i].level >= RiskLevel.high]
        caught = {name: sum(levels[i] >= RiskLevel.high for i in idx) for name, levels in
                  (("model", evaluation.levels(rules=False)), ("cascade", evaluation.levels()))}
        assert caught["cascade"] >= caught["model"], (source, caught)


def test_every_writer_is_scored_by_a_model_that_never_saw_it(evaluation: Evaluation) -> None:
    # Per writer: no writer's recall is far below the pooled one (a fold gone wrong).
    levels = evaluation.levels()
    for w in WRITERS:
        idx = evaluation.subset({w})
        f = figures([evaluation.items[i] for i in idx], [levels[i] for i in idx])
        assert f.recall >= 0.8, f"{w}: {f.line()}"


def test_rebuilding_gives_the_shipped_model(evaluation: Evaluation) -> None:
    shipped = default_model()
    assert shipped.thresholds == pytest.approx(evaluation.thresholds, abs=1e-6)
    rebuilt = fit(training_items(), evaluation.thresholds)
    assert rebuilt.message.table.keys() == shipped.message.table.keys()
    assert rebuilt.context.table.keys() == shipped.context.table.keys()
    worst = 0.0
    for it in training_items():
        a = shipped.scores(it.text, it.context)
        b = rebuilt.scores(it.text, it.context)
        worst = max(worst, abs(a.watch - b.watch), abs(a.high - b.high),
                    abs(a.imminent - b.imminent))
    # Fitted to convergence, the weights differ between CPUs only in the last bits; the
    # file keeps 7 significant digits. (The bytes match on the CPU that built them; a
    # different one may round a weight's 7th digit the other way, so bytes are not asserted.)
    assert worst < 1e-6


def test_pure_python_scores_equal_sklearn() -> None:
    # The served model recomputes sklearn's features by hand; check it on one small fit.
    import numpy as np
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    items = [it for it in load_corpus() if it.writer == "w1"][::2]  # every level present
    model = fit(items)
    vm, vc = vectorizer(4), vectorizer(3)
    texts = [model_text(it.text) for it in items]
    contexts = [context_text(it.context) for it in items]
    x = sparse.hstack([vm.fit_transform(texts), vc.fit(contexts + texts).transform(contexts)])
    x = x.tocsr()
    y = np.array([it.level >= RiskLevel.high for it in items]).astype(int)
    scaled = x @ sparse.diags(nb_scale(x, y))
    lr = LogisticRegression(C=C, solver="liblinear", class_weight="balanced",
                            random_state=SEED, max_iter=1000, tol=TOL).fit(scaled, y)
    expected = lr.predict_proba(scaled)[:, 1]
    got = [model.scores(it.text, it.context).high for it in items]
    assert max(abs(a - b) for a, b in zip(expected, got, strict=True)) < 1e-9
