"""The Lua scripts, read once at import and registered on each Redis client.

redis-py's Script objects call EVALSHA and reload the script by itself after NOSCRIPT
(a restarted or failed-over Redis), so callers never see the script cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

_LUA = files("chat_queue") / "lua"
# Every script starts with the shared prelude (refresh_seat), so each is self-contained.
_PRELUDE = (_LUA / "_seat.lua").read_text(encoding="utf-8")


def _source(name: str) -> str:
    return _PRELUDE + "\n" + (_LUA / f"{name}.lua").read_text(encoding="utf-8")


SOURCES = {
    name: _source(name)
    for name in (
        "enqueue",
        "match",
        "match_booked",
        "release",
        "unclaim",
        "on_duty",
        "off_duty",
        "seat",
        "reconcile",
        "heartbeat",
        "positions",
        "touch_workers",
    )
}


# The hub's batch publish: no keys, so no seat prelude.
PUBLISH_ALL = (_LUA / "publish_all.lua").read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Scripts:
    enqueue: AsyncScript
    match: AsyncScript
    match_booked: AsyncScript
    release: AsyncScript
    unclaim: AsyncScript
    on_duty: AsyncScript
    off_duty: AsyncScript
    seat: AsyncScript
    reconcile: AsyncScript
    heartbeat: AsyncScript
    positions: AsyncScript
    touch_workers: AsyncScript


def register(redis: Redis) -> Scripts:
    """Script objects bound to this client (nothing is sent to Redis until first use)."""
    return Scripts(**{name: redis.register_script(src) for name, src in SOURCES.items()})


def register_publish_all(redis: Redis) -> AsyncScript:
    """The hub's batch publish (chat_queue/lua/publish_all.lua), bound to this client."""
    return redis.register_script(PUBLISH_ALL)
