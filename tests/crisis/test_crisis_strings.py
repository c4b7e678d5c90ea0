"""Every reason id the assessment can give has a label on the pages, in both languages."""

from __future__ import annotations

import ast
import importlib.resources
import re
import tomllib
from pathlib import Path

PAGES = Path(__file__).resolve().parents[2] / "web_client" / "js" / "strings-crisis.js"
# Reasons that do not come from the rule file: its sections, the cascade, the server.
OTHER_IDS = {"third_party_risk", "past_risk", "said_as_joke", "learned_model",
             "rule_not_confirmed", "context_rule", "recovered", "counselor_flag",
             "screen_phq9_item9"}


def _rule_ids() -> set[str]:
    text = importlib.resources.files("chat_server.crisis").joinpath("rules.toml").read_text(
        "utf-8")
    ids: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("id"), str):
                ids.add(node["id"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tomllib.loads(text))
    return ids


def test_every_reason_id_is_labelled_in_both_languages() -> None:
    source = PAGES.read_text("utf-8")
    zh, _, en = source.partition("const en = {")
    wanted = _rule_ids() | OTHER_IDS
    for name, part in (("zh-CN", zh), ("en", en)):
        labelled = set(re.findall(r"'v\.reason\.([a-z0-9_]+)':", part))
        assert wanted <= labelled, f"{name}: {sorted(wanted - labelled)}"


def _emitted_by_code() -> set[str]:
    """Reason ids the crisis code writes itself: literal tuples given to `escalate` as
    rule ids, added to `reasons`, or spread after stored ids; and the cascade's constants."""
    ids: set[str] = set()
    root = Path(__file__).resolve().parents[2] / "chat_server" / "crisis"
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            tuples: list[ast.AST] = []
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "escalate":
                tuples += node.args[3:4]
            elif isinstance(node, ast.BinOp) and getattr(node.left, "id", "") == "reasons":
                tuples += [n for n in ast.walk(node.right) if isinstance(n, ast.Tuple)]
            elif isinstance(node, ast.Tuple) and any(isinstance(e, ast.Starred)
                                                     for e in node.elts):
                tuples.append(node)
            elif isinstance(node, ast.Assign) and any(
                    getattr(t, "id", "") in ("MODEL_REASON", "RULE_OVERRULED")
                    for t in node.targets):
                tuples.append(ast.Tuple(elts=[node.value]))
            for t in tuples:
                for e in getattr(t, "elts", ()):
                    if isinstance(e, ast.Constant) and isinstance(e.value, str):
                        ids.add(e.value)
    return ids


def test_every_reason_id_the_code_emits_is_listed_and_labelled() -> None:
    emitted = _emitted_by_code()
    # The walk finds them (these six when issue 18, item 6 was written).
    assert {"counselor_flag", "screen_phq9_item9", "context_rule", "recovered",
            "learned_model", "rule_not_confirmed"} <= emitted
    assert emitted <= OTHER_IDS | _rule_ids()
    source = PAGES.read_text("utf-8")
    zh, _, en = source.partition("const en = {")
    for part in (zh, en):
        labelled = set(re.findall(r"'v\.reason\.([a-z0-9_]+)':", part))
        assert emitted <= labelled
