"""The items the learned layer trains and is measured on: the writers' corpus, two older
sets and the background sets of everyday messages."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chat_server.crisis.levels import RiskLevel

DATA = Path(__file__).resolve().parents[3] / "tests" / "data"
CORPUS = DATA / "crisis_corpus"
# The two older sets (one message a line, label<TAB>text) are two more independent
# writers: the rules' first authors and a second annotator. They train the shipped model
# and every fold, and are scored leave-one-source-out like the corpus writers.
OLD_SETS = {"old_eval": DATA / "crisis_eval.tsv", "old_heldout": DATA / "crisis_heldout.tsv"}
# Everyday messages with no risk (greetings, goodbyes, tests, English small talk), by two
# more writers: the corpus brief asked for hard negatives, so without them the model read
# "再见" as a farewell and English chit-chat as risk. They train every fold and are scored
# leave-one-source-out like the old sets, never pooled with the writers nor calibrated on.
BACKGROUND = DATA / "crisis_background"


@dataclass(frozen=True, slots=True)
class Item:
    writer: str
    level: RiskLevel
    category: str
    register: str
    # Never in a repr: a failing test prints its arguments, and corpus lines stay out of logs.
    messages: tuple[str, ...] = field(repr=False)
    # Where it comes from: "corpus" (a writer of the LOWO pool), "old" or "background".
    source: str = "corpus"

    @property
    def text(self) -> str:
        return self.messages[-1]

    @property
    def context(self) -> tuple[str, ...]:
        return self.messages[:-1]


def load_old_sets() -> list[Item]:
    items = []
    for writer, path in OLD_SETS.items():
        for line in path.read_text("utf-8").splitlines()[1:]:
            label, _, text = line.partition("\t")
            items.append(Item(writer, RiskLevel.parse(label), "", "", (text,), "old"))
    return items


def _load_jsonl(paths: list[Path], source: str) -> list[Item]:
    items = []
    for path in paths:
        for line in path.read_text("utf-8").splitlines():
            r = json.loads(line)
            items.append(Item(r["writer"], RiskLevel.parse(r["level"]), r["category"],
                              r["register"], tuple(r["messages"]), source))
    return items


def load_corpus(folder: Path = CORPUS) -> list[Item]:
    """The corpus writers' items (w1..w13), in file order."""
    return _load_jsonl(sorted(folder.glob("writer-*.jsonl")), "corpus")


def load_background(folder: Path = BACKGROUND) -> list[Item]:
    """The background writers' everyday messages (b1, b2), all level none."""
    return _load_jsonl(sorted(folder.glob("background-*.jsonl")), "background")


def training_items() -> list[Item]:
    """What the shipped model learns from: the writers' corpus, the two older sets and
    the background sets."""
    return load_corpus() + load_old_sets() + load_background()


def pool_writers(items: Sequence[Item]) -> set[str]:
    """The corpus writers: pooled in the figures and calibrated on (not the other sources)."""
    return {it.writer for it in items if it.source == "corpus"}
