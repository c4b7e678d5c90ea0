"""The long-lived clients one app node holds, opened in the lifespan and passed explicitly."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis

from chat_server.config import Settings


@dataclass(slots=True)
class Services:
    settings: Settings
    pool: asyncpg.Pool
    redis: aioredis.Redis
