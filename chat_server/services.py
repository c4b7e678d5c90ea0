"""The long-lived clients one app node holds, opened in the lifespan and passed explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg
import redis.asyncio as aioredis

from chat_server.config import Settings


@dataclass(slots=True)
class Services:
    settings: Settings
    pool: asyncpg.Pool
    redis: aioredis.Redis
    # Filled by the features that need them; typed loosely to keep this module dependency-free.
    extras: dict[str, object] = field(default_factory=dict)
