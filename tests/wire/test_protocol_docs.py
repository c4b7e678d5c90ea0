"""docs/PROTOCOL.md and chat_server/wire/ correspond one to one: every frame type, error
code and close code declared in the code is documented, and nothing documented is not."""

from __future__ import annotations

import re
from pathlib import Path

from chat_server.wire.codes import CloseCode, ErrorCode
from chat_server.wire.commands import FRAMES
from chat_server.wire.events import EVENTS
from chat_server.wire.frames import SERVER_FRAMES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md").read_text("utf-8")


def websocket_part() -> str:
    """From "## WebSocket" on: the HTTP part has `type`s of its own (problem details)."""
    return DOC[DOC.index("\n## WebSocket"):]


def section(title: str) -> str:
    start = DOC.index(f"\n### {title}\n")
    end = DOC.index("\n#", start + 1)
    return DOC[start:end]


def documented_frame_types() -> set[str]:
    # `"type": "…"` in an example, possibly broken across lines.
    return set(re.findall(r'"type":\s*"([a-z_]+)"', websocket_part()))


def test_every_client_frame_type_is_documented() -> None:
    missing = set(FRAMES) - documented_frame_types()
    assert not missing, f"client frames missing from docs/PROTOCOL.md: {sorted(missing)}"


def test_every_server_frame_type_is_documented() -> None:
    declared = {cls.TYPE for cls in SERVER_FRAMES}
    missing = declared - documented_frame_types()
    assert not missing, f"server frames missing from docs/PROTOCOL.md: {sorted(missing)}"


def test_every_documented_frame_type_is_declared() -> None:
    declared = set(FRAMES) | {cls.TYPE for cls in SERVER_FRAMES}
    extra = documented_frame_types() - declared
    assert not extra, f"frames documented but not declared in chat_server/wire/: {sorted(extra)}"


def test_the_error_codes_table_is_the_enum() -> None:
    table = set(re.findall(r"^\| `([a-z_]+)` \|", section("Errors and close codes"), re.M))
    assert table == {str(code) for code in ErrorCode}


def test_the_close_codes_table_is_the_enum() -> None:
    table = {int(n) for n in re.findall(r"^\| (\d{4}) \|", section("Errors and close codes"),
                                        re.M)}
    assert table == {int(code) for code in CloseCode}


def literals(pattern: str) -> dict[str, set[str]]:
    """Each string a pattern finds in chat_server/'s sources, and the modules it is in."""
    found: dict[str, set[str]] = {}
    root = Path(__file__).resolve().parents[2] / "chat_server"
    for path in sorted(root.rglob("*.py")):
        for name in re.findall(pattern, path.read_text("utf-8")):
            found.setdefault(name, set()).add(str(path.relative_to(root)))
    return found


def test_every_frame_type_written_in_the_code_is_declared_and_so_documented() -> None:
    # Frames still built as dict literals (until their modules use wire/frames.py) must
    # still be frames the contract declares: a new one fails here, not in a client.
    declared = set(FRAMES) | {cls.TYPE for cls in SERVER_FRAMES}
    written = literals(r'"type":\s*"([a-z_]+)"')
    undeclared = {name: where for name, where in written.items() if name not in declared}
    assert not undeclared


def test_every_node_event_written_in_the_code_is_declared() -> None:
    written = literals(r'"t":\s*"([a-z_]+)"')
    undeclared = {name: where for name, where in written.items() if name not in EVENTS}
    assert not undeclared


def test_frames_and_events_are_built_only_through_the_wire_declarations() -> None:
    # One encode path: outside chat_server/wire/, no frame or node event is a dict literal.
    for pattern in (r'"type":\s*"([a-z_]+)"', r'"t":\s*"([a-z_]+)"'):
        outside = {name: where for name, where in literals(pattern).items()
                   if any(not module.startswith("wire/") for module in where)}
        assert not outside, pattern
