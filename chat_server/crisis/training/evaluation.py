"""Leave one writer out: each writer scored by a model that never saw it (nested thresholds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chat_server.crisis.cascade import Thresholds
from chat_server.crisis.levels import Assessment, RiskLevel
from chat_server.crisis.model import Scores
from chat_server.crisis.training.calibration import (
    RulePasses,
    calibrate,
    cascade_levels,
    rule_passes,
    shipped_thresholds,
)
from chat_server.crisis.training.corpus import Item, pool_writers, training_items
from chat_server.crisis.training.fitting import fit

# Thresholds of a leave-one-writer-out fold are calibrated on its training writers only,
# on out-of-fold scores of INNER_FOLDS groups of them (nested; docs/CRISIS.md).
INNER_FOLDS = 3


def _fold(everything: Sequence[Item], writer: str) -> tuple[list[Scores], dict[str, float]]:
    """One leave-one-writer-out fold: `writer`'s scores from a model that never saw it, and
    thresholds calibrated on the other writers alone (inner out-of-fold scores)."""
    train = [it for it in everything if it.writer != writer]
    model = fit(train)
    scores = [model.scores(it.text, it.context) for it in everything if it.writer == writer]
    inner = sorted(pool_writers(train))
    groups = [set(inner[k::INNER_FOLDS]) for k in range(INNER_FOLDS)]
    held: list[Item] = []
    held_scores: list[Scores] = []
    for group in groups:
        m = fit([it for it in train if it.writer not in group])
        for it in train:
            if it.writer in group:
                held.append(it)
                held_scores.append(m.scores(it.text, it.context))
    return scores, calibrate(held, rule_passes(held), held_scores)


def _fold_job(args: tuple[Sequence[Item], str]) -> tuple[list[Scores], dict[str, float]]:
    return _fold(*args)


def lowo(items: Sequence[Item], writers: Sequence[str],
         ) -> tuple[list[Scores], dict[str, dict[str, float]]]:
    """Each item of `writers`, in order, scored by a model trained on every other writer;
    and each writer's thresholds, chosen without it. Two processes (two cores here), each
    single-threaded: BLAS threads would only oversubscribe."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as pool:
        folds = dict(zip(writers, pool.map(_fold_job, [(items, w) for w in writers]),
                         strict=True))
    scores: list[Scores] = []
    for it in items:
        if it.writer in folds:
            scores.append(folds[it.writer][0].pop(0))
    return scores, {w: f[1] for w, f in folds.items()}


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Leave-one-writer-out scores of every held source, with nested thresholds per writer
    and the thresholds of the shipped model (calibrated on every writer's outer scores)."""

    items: list[Item]
    passes: RulePasses
    scores: list[Scores]
    # Per held writer: chosen on the other writers only (nested), used to score it.
    fold_thresholds: dict[str, dict[str, float]]
    # What the shipped model carries: per threshold, the median (low) of the writers'
    # fold thresholds, so it ships what the nested procedure chose and reported.
    thresholds: dict[str, float]

    def subset(self, writers: set[str]) -> list[int]:
        return [i for i, it in enumerate(self.items) if it.writer in writers]

    def levels(self, *, rules: bool = True, model: bool = True) -> list[RiskLevel]:
        """Per item: rules only, model only (decide with no rule input), or the cascade."""
        if not model:
            return [a.level for a, _ in self.passes]
        passes = self.passes if rules else [(Assessment(RiskLevel.none), False)] * len(self.items)
        per = {w: Thresholds.from_mapping(t) for w, t in self.fold_thresholds.items()}
        return cascade_levels(passes, self.scores, [per[it.writer] for it in self.items])


def evaluate(*, old_sets: bool = True) -> Evaluation:
    """Leave one writer out over the corpus writers (and over the other sources — the old
    sets and the background sets — if `old_sets`)."""
    everything = training_items()
    writers = pool_writers(everything)
    held = sorted(writers)
    held += sorted({it.writer for it in everything} - writers) if old_sets else []
    # Items in the order lowo returns them: the file order of the held writers.
    items = [it for it in everything if it.writer in held]
    passes = rule_passes(items)
    scores, per_writer = lowo(everything, held)
    return Evaluation(items, passes, scores, per_writer, shipped_thresholds(
        {w: t for w, t in per_writer.items() if w in writers}))
