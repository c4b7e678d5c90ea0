"""How a server frame is declared and encoded: the `ServerFrame` base, the field kinds
(`FROM`, `OPTIONAL`, `SPREAD`, `SKIP`) and the one encode path, compiled once per class.
The frames themselves are declared in frames.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

# How a field goes on the wire.
_PLAIN, _OPTIONAL, _SPREAD, _SKIP = range(4)
_NOTHING: Mapping[str, Any] = MappingProxyType({})


# Field metadata (written out as `field(...)` in each class: type checkers read only that).
FROM = MappingProxyType({"key": "from"})  # sent as `from`, a Python keyword
OPTIONAL = MappingProxyType({"mode": _OPTIONAL})  # left out while None
# Keys merged in last, so they may override a field (a feature's `estimated_wait_s`).
SPREAD = MappingProxyType({"mode": _SPREAD})
SKIP = MappingProxyType({"mode": _SKIP})  # not sent at all


def nothing() -> Mapping[str, Any]:
    return _NOTHING


Encoder = Callable[[Any], dict[str, Any]]
_ENCODERS: dict[type, Encoder] = {}


def _compile(cls: type[ServerFrame]) -> Encoder:
    """Write the class's encoder as straight-line code, once (as dataclasses writes
    __init__): a dict display and a test per optional field. A loop over the fields
    with getattr cost five times a hand-written dict, on every `ack`."""
    plain, optional, spreads = [], [], []
    for f in dataclasses.fields(cls):
        key, mode = f.metadata.get("key", f.name), f.metadata.get("mode", _PLAIN)
        if mode == _PLAIN:
            plain.append(f"{key!r}: self.{f.name}")
        elif mode == _OPTIONAL:
            optional.append((key, f.name))
        elif mode == _SPREAD:
            spreads.append(f.name)
    # Spread keys after the fields, `ref` last (as the frames built by hand had them).
    optional.sort(key=lambda item: item[1] == "ref")
    lines = ["def to_wire(self):",
             f"    out = {{'type': {cls.TYPE!r}, {', '.join(plain)}}}"]
    lines += [f"    out.update(self.{name})" for name in spreads]
    for key, name in optional:
        lines += [f"    if self.{name} is not None:", f"        out[{key!r}] = self.{name}"]
    lines.append("    return out")
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), namespace)  # the source is built from field names only
    encoder: Encoder = namespace["to_wire"]
    _ENCODERS[cls] = encoder
    return encoder


@dataclass(frozen=True, slots=True)
class ServerFrame:
    """A frame to one client. `ref` echoes the request a direct answer answers."""

    TYPE: ClassVar[str]
    ref: str | None = field(default=None, kw_only=True, metadata=OPTIONAL)

    def to_wire(self) -> dict[str, Any]:
        cls = type(self)
        return (_ENCODERS.get(cls) or _compile(cls))(self)
