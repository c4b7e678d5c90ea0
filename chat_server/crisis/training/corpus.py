"""The items the learned layer trains and is measured on: the writers' corpus and two older sets."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from chat_server.crisis.levels import RiskLevel

DATA = Path(__file__).resolve().parents[3] / "tests" / "data"
CORPUS = DATA / "crisis_corpus"
# The two older sets (one message a line, label<TAB>text) are two more independent
# writers: the rules' first authors and a second annotator. They train the shipped model
# and every fold, and are scored leave-one-source-out like the corpus writers.
OLD_SETS = {"old_eval": DATA / "crisis_eval.tsv", "old_heldout": DATA / "crisis_heldout.tsv"}


@dataclass(frozen=True, slots=True)
class Item:
    writer: str
    level: RiskLevel
    category: str
    register: str
    # Never in a repr: a failing test prints its arguments, and corpus lines stay out of logs.
    messages: tuple[str, ...] = field(repr=False)

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
            items.append(Item(writer, RiskLevel.parse(label), "", "", (text,)))
    return items


def load_corpus(folder: Path = CORPUS) -> list[Item]:
    """The corpus writers' items (w1..w9), in file order."""
    items = []
    for path in sorted(folder.glob("writer-*.jsonl")):
        for line in path.read_text("utf-8").splitlines():
            r = json.loads(line)
            items.append(Item(r["writer"], RiskLevel.parse(r["level"]), r["category"],
                              r["register"], tuple(r["messages"])))
    return items


def training_items() -> list[Item]:
    """What the shipped model learns from: the writers' corpus and the two older sets."""
    return load_corpus() + load_old_sets()
