"""The learned layer of crisis assessment: character n-gram logistic regression, pure Python.

Three heads score one worker message read with the worker's few messages before it:
P(level >= watch), P(level >= high), P(level == imminent). Features are TF-IDF weights of
character 1-4-grams (sublinear tf, l2-normalised), one block for the message and one
(1-3-grams) for its context, of text folded to simplified characters, exactly as
``chat_server/crisis/training/`` fits them with scikit-learn (its NB scaling of the
features is folded into the weights); here they are recomputed with dict look-ups, about
0.2 ms a message, with no numeric library at run time. The weights file is built by
``make crisis-model`` (docs/CRISIS.md, "Learned layer").
"""

from __future__ import annotations

import functools
import gzip
import importlib.resources
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import add

from yizhan_errors import YizhanError

__all__ = [
    "CONTEXT_MESSAGES",
    "HEADS",
    "CrisisModel",
    "Scores",
    "context_text",
    "default_model",
    "grams",
    "load_model",
    "model_text",
]

MODEL_FILE = "data/crisis_model.tsv.gz"
FORMAT = "yizhan-crisis-model 1"
# Heads in file order: P(>= watch), P(>= high), P(imminent).
HEADS = ("watch", "high", "imminent")
# How many earlier worker messages are read with the new one: the corpus's runs are 2-3
# messages, and older ones mostly talk about something else.
CONTEXT_MESSAGES = 2
MESSAGE_NGRAMS = 4
CONTEXT_NGRAMS = 3

_SPACES = re.compile(r"\s+")
# Emoji modifiers that only change how an emoji looks: variation selectors, the zero-width
# joiner, skin tones. 🔪 and 🔪️ are one sign to the model.
_EMOJI_MODIFIERS = re.compile("[\ufe0e\ufe0f\u200d\U0001f3fb-\U0001f3ff]")
T2S_FILE = "data/crisis_t2s.txt"


@functools.cache
def _traditional_to_simplified() -> dict[int, str]:
    """The folding table of ``T2S_FILE`` (1,240 one-to-one pairs), read once."""
    text = importlib.resources.files("chat_server.crisis").joinpath(T2S_FILE).read_text("utf-8")
    pairs = [line for line in text.splitlines() if line and not line.startswith("#")]
    return str.maketrans({pair[0]: pair[1] for pair in pairs})


def model_text(text: str) -> str:
    """What the model reads: NFKC, lower case, whitespace runs as one space, emoji
    modifiers dropped, traditional characters folded to simplified (殺 = 杀, 樓 = 楼), so
    a Hong Kong or Taiwan writer shares the n-grams of the simplified training lines.

    Unlike ``crisis.normalize`` it keeps emoji and punctuation: 🔪, 💊 and "..." carry
    meaning the n-grams can learn.
    """
    text = _EMOJI_MODIFIERS.sub("", unicodedata.normalize("NFKC", text).lower())
    return _SPACES.sub(" ", text.translate(_traditional_to_simplified())).strip()


def context_text(context: Sequence[str]) -> str:
    """The earlier worker messages the model reads, oldest first, joined by a space."""
    return model_text(" ".join(context[-CONTEXT_MESSAGES:])) if context else ""


# Gapped pairs: two characters with GAP_MAX or fewer between them, the gap written as
# GAP. They carry a phrase through the insertions of dialect and slang (不想活 / 不太想活,
# 想死 / 想去死) that break contiguous n-grams: +1 point of recall leave-one-writer-out.
# "…" never occurs in model_text's output (NFKC turns it into "..."), so no collision.
GAP_MAX = 2
GAP = "…"


def grams(text: str, n_max: int) -> list[str]:
    """Character 1..n_max-grams of already normalised text (sklearn's ``char`` analyzer),
    then the gapped pairs (GAP_MAX)."""
    # Each n-gram is the (n-1)-gram at the same start plus one character, joined by map
    # in C: the same list, in the same order, as slicing each gram in a generator, in
    # four fifths of the time (the learned stage runs this for every worker message).
    out = list(text)
    shorter = out
    for n in range(2, n_max + 1):
        shorter = list(map(add, shorter, text[n - 1 :]))
        out += shorter
    for g in range(1, GAP_MAX + 1):
        out += map(add, map(add, text, repeat(GAP * g)), text[g + 1 :])
    return out


@dataclass(frozen=True, slots=True)
class Scores:
    watch: float
    high: float
    imminent: float


@dataclass(frozen=True, slots=True)
class _Block:
    # gram -> (idf, weight of the >= watch head, >= high head, imminent head)
    table: dict[str, tuple[float, float, float, float]]
    n_max: int

    def contribution(self, text: str) -> tuple[float, float, float]:
        """Dot products of the block's l2-normalised TF-IDF vector with the three heads."""
        if not text:
            return (0.0, 0.0, 0.0)
        sq = sw = sh = si = 0.0
        get = self.table.get
        for gram, count in Counter(grams(text, self.n_max)).items():
            row = get(gram)
            if row is None:
                continue  # unseen in training: sklearn's transform drops it too
            idf, ww, wh, wi = row
            # Most grams occur once: (1 + log 1) * idf is idf exactly, without the call.
            v = idf if count == 1 else (1.0 + math.log(count)) * idf
            sq += v * v
            sw += v * ww
            sh += v * wh
            si += v * wi
        if sq == 0.0:
            return (0.0, 0.0, 0.0)
        norm = math.sqrt(sq)
        return (sw / norm, sh / norm, si / norm)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


@dataclass(frozen=True, slots=True, eq=False)
class CrisisModel:
    message: _Block
    context: _Block
    intercepts: tuple[float, float, float]
    # Calibrated cut-offs on the heads' probabilities, chosen on leave-one-writer-out
    # scores by training.calibration.calibrate (names: see cascade.Thresholds).
    thresholds: dict[str, float]

    def scores(self, text: str, context: Sequence[str] = ()) -> Scores:
        m = self.message.contribution(model_text(text))
        c = self.context.contribution(context_text(context))
        z = [b + x + y for b, x, y in zip(self.intercepts, m, c, strict=True)]
        return Scores(*(_sigmoid(v) for v in z))


class ModelFileError(YizhanError, ValueError):
    """The weights file is not one this code can read."""


def load_model(data: bytes) -> CrisisModel:
    """Parse a gzip'd weights file (format: ``training.fitting.dump_model``)."""
    lines = gzip.decompress(data).decode("utf-8").split("\n")
    if lines[0] != FORMAT:
        raise ModelFileError(f"expected {FORMAT!r} on the first line")
    tables: dict[str, dict[str, tuple[float, float, float, float]]] = {"M": {}, "C": {}}
    intercepts: tuple[float, float, float] | None = None
    thresholds: dict[str, float] = {}
    for line in lines[1:]:
        if not line:
            continue
        kind, _, rest = line.partition("\t")
        if kind in tables:
            gram, idf, ww, wh, wi = rest.split("\t")
            tables[kind][gram] = (float(idf), float(ww), float(wh), float(wi))
        elif kind == "intercept":
            a, b, c = (float(x) for x in rest.split("\t"))
            intercepts = (a, b, c)
        elif kind == "threshold":
            name, value = rest.split("\t")
            thresholds[name] = float(value)
        elif kind != "#":
            raise ModelFileError(f"unknown line kind {kind!r}")
    if intercepts is None or not tables["M"]:
        raise ModelFileError("no intercepts or no message n-grams")
    return CrisisModel(_Block(tables["M"], MESSAGE_NGRAMS), _Block(tables["C"], CONTEXT_NGRAMS),
                       intercepts, thresholds)


@functools.cache
def default_model() -> CrisisModel:
    """The packaged model, read once per process (about 0.3 s)."""
    data = importlib.resources.files("chat_server.crisis").joinpath(MODEL_FILE).read_bytes()
    return load_model(data)
