"""Every reason id the assessment can give has a label on the pages, in both languages."""

from __future__ import annotations

import importlib.resources
import re
import tomllib
from pathlib import Path

PAGES = Path(__file__).resolve().parent.parent / "web_client" / "js" / "strings-crisis.js"
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
