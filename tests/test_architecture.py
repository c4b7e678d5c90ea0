"""The shape of our own code, read with `ast` (nothing is imported or run).

Four rules from issue 22: no import cycle between our modules, no function-local import
of our own modules (the old way of dodging a cycle), no module over 400 lines or class
over 250 lines unless ALLOWED below says why, and no look-up through `app.state` outside
the composition (every route is handed what it uses by chat_server/wiring.py).
"""

from __future__ import annotations

import ast
import importlib
import re
from dataclasses import dataclass
from pathlib import Path

from yizhan_errors import YizhanError

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("chat_server", "chat_queue", "crypto", "yizhan_errors")
MODULE_LINES = 400
CLASS_LINES = 250

# Module or "module:Class" -> why it may stay longer than the limit. Every entry needs a
# reason a reviewer can check (none is needed now).
ALLOWED: dict[str, str] = {
}

# Module -> why it may import our own modules inside a function (none is needed now).
LOCAL_IMPORTS_ALLOWED: dict[str, str] = {
}


# The only modules that may touch the app's state: the app and its probes (app.py,
# health.py: the app's own clients), the composition (wiring.py) and the CLI's drain.
APP_STATE_ALLOWED = frozenset({"chat_server.app", "chat_server.health", "chat_server.cli",
                               "chat_server.wiring"})
# `app.state` (also as `.app.state`), or reaching the app from a request or socket.
APP_STATE = re.compile(r"app\.state|\b(?:request|websocket|ws|conn)\.app\b"
                       r"|scope\[[\"']app[\"']\]")


@dataclass(frozen=True, slots=True)
class Module:
    name: str
    path: Path
    tree: ast.Module
    lines: int
    source: str


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            name = _module_name(path)
            found[name] = Module(name, path, ast.parse(source, str(path)),
                                 len(source.splitlines()), source)
    return found


MODULES = _modules()


def _ours(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def _resolve(module: Module, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    if module.path.name != "__init__.py":
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _targets(module: Module, node: ast.Import | ast.ImportFrom) -> list[str]:
    """Our modules an import statement loads (`from pkg import mod` counts as pkg.mod)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = _resolve(module, node)
        names = [base]
        names += [f"{base}.{alias.name}" for alias in node.names
                  if f"{base}.{alias.name}" in MODULES]
    return [n for n in names if _ours(n) and n in MODULES]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module loads: top level, try/if bodies, not TYPE_CHECKING."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If):
            if not _is_type_checking(node):
                stack.extend(node.body)
            stack.extend(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                stack.extend(block)
            for handler in node.handlers:
                stack.extend(handler.body)
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module in MODULES.values():
        edges: set[str] = set()
        for node in _module_level_imports(module.tree):
            edges.update(_targets(module, node))
        # Importing a.b.c runs a/__init__ and a/b/__init__ first.
        for target in list(edges):
            parts = target.split(".")
            edges.update(".".join(parts[:i]) for i in range(1, len(parts)))
        edges.discard(module.name)
        # A package's __init__ runs before its submodules: not an edge back to it.
        graph[module.name] = {e for e in edges if not module.name.startswith(e + ".")}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                child = pending.pop()
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, sorted(graph.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def test_the_walk_sees_every_package() -> None:
    assert {m.split(".")[0] for m in MODULES} == set(PACKAGES)
    graph = _graph()
    assert "chat_server.config" in graph["chat_server.cli"]


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def _local_imports(module: Module) -> list[str]:
    found = []
    for function in ast.walk(module.tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import | ast.ImportFrom) and _targets(module, node):
                found.append(f"{module.name}:{node.lineno}")
    return found


def test_no_function_local_imports_of_our_modules() -> None:
    offenders = [where for module in MODULES.values() if module.name not in LOCAL_IMPORTS_ALLOWED
                 for where in _local_imports(module)]
    assert offenders == []
    # An allowance goes when its module no longer needs it.
    assert [name for name in LOCAL_IMPORTS_ALLOWED if not _local_imports(MODULES[name])] == []


def _sizes() -> dict[str, int]:
    sizes: dict[str, int] = {}
    for module in MODULES.values():
        sizes[module.name] = module.lines
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                sizes[f"{module.name}:{node.name}"] = node.end_lineno - node.lineno + 1
    return sizes


def test_no_module_or_class_too_long_without_a_reason() -> None:
    too_long = {
        name: lines
        for name, lines in _sizes().items()
        if lines > (CLASS_LINES if ":" in name else MODULE_LINES) and name not in ALLOWED
    }
    assert too_long == {}


def test_every_allowance_is_still_needed_and_says_why() -> None:
    sizes = _sizes()
    stale = [
        name for name in ALLOWED
        if sizes.get(name, 0) <= (CLASS_LINES if ":" in name else MODULE_LINES)
    ]
    assert stale == []
    assert all(reason.strip() for reason in (*ALLOWED.values(), *LOCAL_IMPORTS_ALLOWED.values()))


# Exception classes that may stay outside the root, with why.
OUTSIDE_ROOT: dict[str, str] = {
}


def _exception_classes() -> list[tuple[str, type[BaseException]]]:
    found = []
    for module in MODULES.values():
        loaded = importlib.import_module(module.name)
        for node in module.tree.body:
            if isinstance(node, ast.ClassDef):
                value = getattr(loaded, node.name, None)
                if isinstance(value, type) and issubclass(value, BaseException):
                    found.append((f"{module.name}:{node.name}", value))
    return found


def test_every_exception_of_ours_derives_from_the_one_root() -> None:
    classes = _exception_classes()
    assert len(classes) >= 30  # the walk found them (31 when this was written)
    outside = [name for name, cls in classes
               if not issubclass(cls, YizhanError) and name not in OUTSIDE_ROOT]
    assert outside == []
    # An allowance goes when its class joins the root.
    still_outside = {name for name, cls in classes if not issubclass(cls, YizhanError)}
    assert set(OUTSIDE_ROOT) <= still_outside


def _app_state_uses(source: str) -> list[int]:
    return [n for n, line in enumerate(source.splitlines(), 1) if APP_STATE.search(line)]


def test_app_state_pattern_finds_each_way_in() -> None:
    for line in ("node = request.app.state.node", "conn.app.state.node", "ws.app",
                 "getattr(app.state, 'node')", "scope['app']", 'scope["app"].state'):
        assert _app_state_uses(line) == [1], line
    for line in ("self.app = app", "route.app = Guard(route.app)", "create_app(settings)"):
        assert _app_state_uses(line) == [], line


def test_no_app_state_look_ups_outside_the_composition() -> None:
    """Routes and features get what they use from wiring.py (getters, partials), never by
    looking it up on the app: following a request never leaves what wiring.py wrote."""
    offenders = [f"{module.name}:{line}" for module in MODULES.values()
                 if module.name.startswith("chat_server") and module.name not in APP_STATE_ALLOWED
                 for line in _app_state_uses(module.source)]
    assert offenders == []
