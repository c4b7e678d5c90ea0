"""The second factor of staff sign-in: asked for after the password matched.

Kept apart from api.py (which only passes it to SessionStore.staff_sign_in) so the
password's own slow-down (issue 16) and this stay separate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from chat_queue import keys
from chat_server.accounts.staff import StaffAccounts
from chat_server.problems import Problem

# Wrong codes per account in the window: a 6-digit code has 10^6 values, three of which
# are live at once; 5 tries per 15 minutes makes guessing one take decades.
TOTP_FAILURES = 5
TOTP_WINDOW_S = 900


def second_factor(accounts: StaffAccounts, redis: aioredis.Redis, data: dict[str, Any]
                  ) -> Callable[[str], Awaitable[None]]:
    """The check staff_sign_in runs once the password matched (`data`: the sign-in body)."""
    code = data.get("totp")

    async def check(staff_id: str) -> None:
        if not await accounts.totp_enabled(staff_id):
            return
        if not isinstance(code, str) or not code.strip():
            # Only someone who knows the password learns that a code is needed.
            raise Problem(401, "totp_required", "enter the code from your authenticator app")
        if len(code) > 32:
            raise Problem(400, "bad_field", "totp must be at most 32 characters", field="totp")
        key = keys.totp_tries(staff_id)
        tries = int(await redis.get(key) or 0)
        if tries >= TOTP_FAILURES:
            raise Problem(429, "rate_limited", "too many wrong codes; wait a little",
                          retry_after=max(1, int(await redis.ttl(key))))
        if not await accounts.check_second_factor(staff_id, code):
            async with redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, TOTP_WINDOW_S, nx=True)
                await pipe.execute()
            raise Problem(401, "totp_incorrect", "that code does not match")
        await redis.delete(key)

    return check
