"""Fitting the learned layer's three heads (scikit-learn) and writing its weights file."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chat_server.crisis.levels import RiskLevel
from chat_server.crisis.model import (
    CONTEXT_NGRAMS,
    FORMAT,
    MESSAGE_NGRAMS,
    CrisisModel,
    _Block,
    context_text,
    grams,
    model_text,
)
from chat_server.crisis.training.corpus import Item

# The packaged weights file, which `make crisis-model` rewrites.
MODEL_PATH = Path(__file__).resolve().parents[1] / "data" / "crisis_model.tsv.gz"
# Chosen leave-one-writer-out (docs/CRISIS.md, "Choosing the learned layer"): C in
# {10, 30, 100, 300, 1000} (nine writers: 300, weak regularisation pays with more data),
# n-grams seen in at least 1, 2, 3 or 5 training messages. min_df 2 drops the one-off
# n-grams a writer's own spelling leaves (better recall, a model a third the size).
C = 300.0
# liblinear's stopping tolerance: converged, so every CPU builds the same weights.
TOL = 1e-10
MIN_DF = 2
# NB scaling of the features (nb_scale): 0.5 (twelve writers: model alone 0.971 -> 0.976
# at 4.5% false alarms, pooled; docs/CRISIS.md, "Third pass").
NB_POWER = 0.5
SEED = 0


def vectorizer(n_max: int) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    # The analyzer is model.grams itself, so training and serving share one feature
    # function; sublinear tf and smooth idf are what _Block.contribution recomputes.
    return TfidfVectorizer(analyzer=lambda t: grams(t, n_max), sublinear_tf=True, norm="l2",
                           min_df=MIN_DF)


def nb_scale(x: Any, y: Any) -> Any:
    """Per feature, how much it says about this head: |log ratio| ** NB_POWER of the share
    of positive and of negative messages that contain it (add-one smoothed), as in NB-SVM
    (Wang & Manning 2012). The head is fitted on features multiplied by it, so the penalty
    falls hardest on n-grams that occur alike on both sides (a single 死 or 药), and the
    scale folds into the weights: serving is unchanged."""
    import numpy as np

    present = (x > 0).astype(np.float64)
    pos = np.asarray(present[y == 1].sum(axis=0)).ravel() + 1.0
    neg = np.asarray(present[y == 0].sum(axis=0)).ravel() + 1.0
    return np.abs(np.log((pos / pos.sum()) / (neg / neg.sum()))) ** NB_POWER


def fit(items: Sequence[Item], thresholds: dict[str, float] | None = None) -> CrisisModel:
    """Three logistic regressions on the items; returns the pure-Python model.

    One BLAS/OpenMP thread whatever the environment says (`make test` does not set
    OMP_NUM_THREADS): the weights moved by up to 6e-4 in probability with the default
    thread count, which broke the byte-identical rebuild and moved a fold's threshold by
    one grid step. Two worker processes already fill the two cores.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _fit(items, thresholds)


def _fit(items: Sequence[Item], thresholds: dict[str, float] | None) -> CrisisModel:
    import numpy as np
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    texts = [model_text(it.text) for it in items]
    contexts = [context_text(it.context) for it in items]
    vm = vectorizer(MESSAGE_NGRAMS)
    vc = vectorizer(CONTEXT_NGRAMS)
    xm = vm.fit_transform(texts)
    # The context vocabulary also learns from messages: a run's earlier message reads like
    # any other message, and there are few runs to learn from.
    vc.fit(contexts + texts)
    x = sparse.hstack([xm, vc.transform(contexts)]).tocsr()
    levels = np.array([int(it.level) for it in items])
    targets = (levels >= RiskLevel.watch, levels >= RiskLevel.high, levels == RiskLevel.imminent)
    coefs, intercepts = [], []
    for y in targets:
        scale = nb_scale(x, y.astype(int))
        # Fitted to convergence (TOL, about a second more per fit): at liblinear's
        # default 1e-4 the solver stops up to 2e-4 in probability short of the optimum, at
        # a point that depends on the CPU's rounding, and an Intel and an AMD machine
        # built different weights from the same data.
        lr = LogisticRegression(C=C, solver="liblinear", class_weight="balanced",
                                random_state=SEED, max_iter=1000, tol=TOL)
        lr.fit(x @ sparse.diags(scale), y.astype(int))
        # The head's weight on the unscaled feature: what the pure-Python model multiplies.
        coefs.append(lr.coef_[0] * scale)
        intercepts.append(float(lr.intercept_[0]))
    w = np.vstack(coefs)  # heads x features
    n_m = len(vm.vocabulary_)

    def table(vec: Any, offset: int) -> dict[str, tuple[float, float, float, float]]:
        return {g: (float(vec.idf_[j]), float(w[0, offset + j]), float(w[1, offset + j]),
                    float(w[2, offset + j])) for g, j in vec.vocabulary_.items()}

    return CrisisModel(_Block(table(vm, 0), MESSAGE_NGRAMS),
                       _Block(table(vc, n_m), CONTEXT_NGRAMS),
                       (intercepts[0], intercepts[1], intercepts[2]), dict(thresholds or {}))


def dump_model(model: CrisisModel) -> bytes:
    """The weights file: gzip'd TSV, rows sorted, 7 significant digits, mtime 0 (stable)."""
    out = [FORMAT, "#\tcharacter n-gram TF-IDF logistic regression; make crisis-model"]
    out.append("intercept\t" + "\t".join(f"{v:.7g}" for v in model.intercepts))
    for name, value in sorted(model.thresholds.items()):
        out.append(f"threshold\t{name}\t{value:.7g}")
    for kind, block in (("M", model.message), ("C", model.context)):
        for g in sorted(block.table):
            out.append(kind + "\t" + g + "\t" + "\t".join(f"{v:.7g}" for v in block.table[g]))
    return gzip.compress(("\n".join(out) + "\n").encode("utf-8"), mtime=0)
