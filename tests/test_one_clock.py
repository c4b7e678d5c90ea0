"""One clock: no SQL the app runs and no column default reads PostgreSQL's clock.

Every time is the node's, passed as a parameter (docs/DECISIONS.md, "One clock"). A
comparison of PostgreSQL's now() with the node's clock froze wrap-ups once the calendar
passed a date a test had pinned; this keeps any such mix from coming back.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_CLOCK = re.compile(
    r"\b(now|clock_timestamp|statement_timestamp|transaction_timestamp|timeofday)\s*\(\)"
    r"|\b(current_timestamp|current_date|current_time|localtimestamp|localtime)\b",
    re.IGNORECASE,
)


def _string_literals(source: str) -> list[tuple[int, str]]:
    """Every string constant that is not a docstring, with its line."""
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docstrings]


def test_no_sql_in_the_app_reads_the_database_clock() -> None:
    found = []
    for package in ("chat_server", "chat_queue", "crypto"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, text in _string_literals(path.read_text(encoding="utf-8")):
                if DB_CLOCK.search(text):
                    found.append(f"{path.relative_to(ROOT)}:{line}")
    assert found == []


def test_no_column_takes_its_time_from_the_database_clock() -> None:
    schema = (ROOT / "schema.sql").read_text(encoding="utf-8")
    code = "\n".join(line.split("--", 1)[0] for line in schema.splitlines())
    assert DB_CLOCK.findall(code) == []


def test_the_check_finds_a_database_clock() -> None:
    # The two tests above are only as good as the pattern: it must see what it looks for.
    for sql in ("expires_at > now()", "SET at = CURRENT_TIMESTAMP", "clock_timestamp ()",
                "DEFAULT localtimestamp"):
        assert DB_CLOCK.search(sql), sql
    for sql in ("expires_at > $2", "known_at", "snow()"):
        assert not DB_CLOCK.search(sql), sql
