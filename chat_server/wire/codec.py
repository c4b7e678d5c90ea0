"""JSON for frames and pub/sub payloads, on the hot path of every message.

orjson encodes a frame several times faster than the standard library and writes UTF-8
as is (like ``ensure_ascii=False``). A value it does not know falls back to the standard
library, so a frame that encoded before still encodes.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False)


def loads(raw: str | bytes) -> Any:
    """Parse JSON; ValueError (orjson.JSONDecodeError is one) on anything malformed."""
    return orjson.loads(raw)


# Deeper than any body or frame we define; orjson itself stops at 1024.
MAX_DEPTH = 16


def why_unacceptable(value: Any) -> str | None:
    """Why a decoded body or frame is refused before any field is read (None: it is not).

    The one check every input passes (HTTP bodies in problems.json_body, frames in
    protocol.decode): nesting deeper than MAX_DEPTH, a NUL anywhere in a string or key
    (PostgreSQL text cannot hold it) or a lone surrogate (not UTF-8, so it can be neither
    stored nor encrypted). Numbers need nothing: orjson reads integers past 64 bits as
    floats, which no integer field accepts.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return "nested too deeply"
        if isinstance(item, str):
            if bad_text(item):
                return "text must be valid Unicode without NUL characters"
        elif isinstance(item, dict):
            for key, inner in item.items():
                if bad_text(key):
                    return "text must be valid Unicode without NUL characters"
                stack.append((inner, depth + 1))
        elif isinstance(item, list):
            stack.extend((inner, depth + 1) for inner in item)
    return None


def bad_text(text: str) -> bool:
    """A NUL or a lone surrogate: text no store, cipher or log here can take."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
