"""The characters a rule regex cannot match without: the crisis index skips a regex on a
message sharing none of them, so a set that is too small would be a missed alarm."""

from __future__ import annotations

import re

import pytest

from chat_server.crisis.regex_chars import required_chars

CASES = [
    ("不想活(?![成得出])", {"不"}),
    ("(割|划)(了|过|破)(手|腕)", {"割", "划"}),
    ("(ab|cd)e?", {"a", "c"}),
    ("(ab|)c", {"c"}),  # the empty alternative needs nothing; c is still needed
    ("x{0,3}y{2}", {"y"}),
    ("[^|]{0,8}死", {"死"}),
    ("[刀剑]", {"刀", "剑"}),
    ("(?>ab)", {"a"}),
]

NOTHING_KNOWN = ["a*", "(ab|c?)", "[a-z]+", r"\w", ".", "(?=死)", "(?i)kill", "(?i:kill)"]


@pytest.mark.parametrize(("pattern", "needed"), CASES)
def test_a_regex_needs_one_of_these(pattern: str, needed: set[str]) -> None:
    assert required_chars(re.compile(pattern)) == needed


@pytest.mark.parametrize("pattern", NOTHING_KNOWN)
def test_when_nothing_is_certainly_needed_the_regex_always_runs(pattern: str) -> None:
    assert required_chars(re.compile(pattern)) is None
