"""Characters a regex cannot match without: a cheap test that rules a pattern out.

`required_chars(p)` is a set of characters of which every match of `p` contains at least
one, or None when no such set is known. A text sharing no character with the set cannot
match, so the pattern need not be run on it. The set is worked out from the pattern's
parse tree and errs only towards None ("run it"): lookarounds, negated or ranged classes,
categories, optional parts and case-insensitive groups give no requirement.
"""

from __future__ import annotations

import re
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any


def required_chars(pattern: re.Pattern[str]) -> frozenset[str] | None:
    if pattern.flags & re.IGNORECASE:
        return None
    return _sequence(sre_parse.parse(pattern.pattern, pattern.flags))


def _sequence(items: Any) -> frozenset[str] | None:
    # Every item of a sequence is needed: any one item's requirement will do, and the
    # smallest set is the likeliest to rule a text out.
    best: frozenset[str] | None = None
    for op, arg in items:
        found = _item(op, arg)
        if found is not None and (best is None or len(found) < len(best)):
            best = found
    return best


def _item(op: Any, arg: Any) -> frozenset[str] | None:
    if op is sre.LITERAL:
        return frozenset(chr(arg))
    if op is sre.IN:
        if any(kind is not sre.LITERAL for kind, _ in arg):
            return None  # NEGATE, RANGE, CATEGORY: too wide to list
        return frozenset(chr(code) for _, code in arg) or None
    if op is sre.SUBPATTERN:
        _group, add_flags, _del_flags, body = arg
        return None if add_flags & re.IGNORECASE else _sequence(body)
    if op is sre.BRANCH:
        union: set[str] = set()
        for body in arg[1]:
            found = _sequence(body)
            if found is None:
                return None  # one alternative needs nothing, so the branch needs nothing
            union |= found
        return frozenset(union)
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        low, _high, body = arg
        return _sequence(body) if low >= 1 else None
    if op is sre.ATOMIC_GROUP:
        return _sequence(arg)
    return None  # lookarounds, anchors, ANY, categories, group references
