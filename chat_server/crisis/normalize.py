"""The canonical text the crisis rules are matched against, and phrases as regexes.

``normalize``: full-width to half-width (NFKC), English lower-cased, spaces and decorative
punctuation/emoji dropped between Chinese characters, sentence punctuation turned into a
clause break ``BREAK`` (cues never reach across a clause break).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["BREAK", "alternation", "normalize", "phrase_regex"]

# A clause break in normalized text; patterns never contain it, so no match spans two clauses.
BREAK = "|"

# Sentence punctuation after NFKC (full-width ，！？ have become , ! ?); each ends a clause.
_CLAUSE_PUNCT = frozenset(",.!?;:。、…\n\r")
# Joiners that separate English words: "self-harm" must stay two words.
_WORD_JOINERS = frozenset("-_/")


def _is_ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


# One pass, in this order of precedence: clause punctuation -> BREAK, word joiners ->
# space, a BREAK typed by the worker -> dropped (it is not punctuation to the rules).
_PUNCT_AND_JOINERS = str.maketrans({**{ch: " " for ch in _WORD_JOINERS},
                                    **{ch: BREAK for ch in _CLAUSE_PUNCT}, BREAK: None})
# Then whatever is neither a letter or digit (str.isalnum, which is what \w means
# but for "_", already a joiner), whitespace nor a BREAK.
_NOT_KEPT = re.compile(r"[^\w\s|]")


def normalize(text: str) -> str:
    """Canonical form the rules are matched against (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_PUNCT_AND_JOINERS)
    # Everything else (quotes, brackets, ~, emoji, zero-width joiners, variation
    # selectors) is dropped: "自~杀" and "想死😭" must read like the plain words.
    text = _NOT_KEPT.sub("", text)
    # Phone chat uses spaces as punctuation ("想死 开玩笑的"), so a space next to Chinese
    # ends a clause; a space between English words stays one; a run of single characters
    # ("不 想 活 了", spaced out to dodge filters) is joined back into words.
    tokens = text.split()
    pieces: list[str] = []
    for i, tok in enumerate(tokens):
        if i:
            prev = tokens[i - 1]
            if _is_ascii_alnum(prev[-1]) and _is_ascii_alnum(tok[0]):
                pieces.append(" ")
            elif not (len(prev) == 1 and len(tok) == 1):
                pieces.append(BREAK)
        pieces.append(tok)
    collapsed = re.sub(r"\|+", BREAK, "".join(pieces))
    return collapsed.strip(BREAK)


def phrase_regex(phrase: str) -> str:
    """A plain phrase as regex; English edges get word boundaries (skilled is not killed)."""
    body = re.escape(phrase)
    if _is_ascii_alnum(phrase[0]):
        body = r"(?<![a-z0-9])" + body
    if _is_ascii_alnum(phrase[-1]):
        body = body + r"(?![a-z0-9])"
    return body


def alternation(phrases: Iterable[str], regexes: Iterable[str] = ()) -> re.Pattern[str] | None:
    # Longest first, so that an alternation prefers 从来没 over 没 at the same position.
    parts = [phrase_regex(p) for p in sorted(set(phrases), key=len, reverse=True)]
    parts += [f"(?:{r})" for r in regexes]
    if not parts:
        return None
    return re.compile("|".join(parts))
