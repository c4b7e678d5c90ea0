"""Logs carry tracebacks and harmless fields, never a message, number, token or key."""

from __future__ import annotations

import json
import logging

import pytest

from chat_server import logs

SECRET_TEXT = "我想结束这一切 110105199001011234"
TOKEN = "tok-abc123"


def _record(**fields: object) -> logging.LogRecord:
    def inner(token: str) -> None:
        raise ValueError(f"bad input {SECRET_TEXT} {token}")

    try:
        try:
            inner(TOKEN)
        except ValueError as exc:
            raise RuntimeError(f"wrapped {SECRET_TEXT}") from exc
    except RuntimeError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord("yizhan.test", logging.ERROR, __file__, 1, "send failed",
                               None, exc_info)
    record.fields = fields
    return record


@pytest.mark.parametrize("formatter", [logs.JsonFormatter(), logs.ReadableFormatter()])
def test_a_traceback_keeps_its_frames_and_withholds_every_message(
    formatter: logging.Formatter,
) -> None:
    line = formatter.format(_record(conversation_id="c-1"))
    assert "inner" in line and "_record" in line  # the frames, both exceptions
    assert "builtins.ValueError (message withheld)" in line
    assert "builtins.RuntimeError (message withheld)" in line
    assert "direct cause" in line
    assert "1101051990" not in line and "结束" not in line and "tok-abc123" not in line


def test_json_lines_parse_and_carry_the_traceback() -> None:
    entry = json.loads(logs.JsonFormatter().format(_record()))
    assert entry["exc_type"] == "RuntimeError"
    assert entry["traceback"].startswith("Traceback (most recent call last):")


def test_harmless_fields_survive_and_risky_ones_are_dropped() -> None:
    kept = logs.safe_fields({
        "keys_rewrapped": 500, "conversation_id": "c", "ping_ms": 3, "attempt": 2,
        "text_len": 12, "kek_version": 2, "staff": "s", "mapping_size": 4,
    })
    assert set(kept) == {"keys_rewrapped", "conversation_id", "ping_ms", "attempt",
                         "text_len", "kek_version", "staff", "mapping_size"}
    dropped = logs.safe_fields({
        "text": "x", "token": "x", "session_token": "x", "password": "x", "pin": "1",
        "id_number": "x", "card": "x", "key": "x", "api_key": "x", "secret": "x",
        "database_url": "x", "comment": "x",
    })
    assert dropped == {}


def test_the_level_is_configurable() -> None:
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    try:
        logs.configure(json_lines=True, level="WARNING")
        assert root.level == logging.WARNING
        logs.configure(json_lines=False, level="DEBUG")
        assert root.level == logging.DEBUG
    finally:
        root.setLevel(before[0])
        root.handlers[:] = before[1]
