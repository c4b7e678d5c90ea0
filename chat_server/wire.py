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
