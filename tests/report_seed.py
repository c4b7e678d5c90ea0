"""A seeded month (November 2026) for the reports: every figure it should give is listed
in EXPECTED, worked out by hand from the rows below (not by the code under test)."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

SH = ZoneInfo("Asia/Shanghai")
DAY = dt.datetime(2026, 11, 10, 12, 0, tzinfo=SH)  # every seeded moment is on this day
OUTSIDE = dt.datetime(2026, 10, 20, 12, 0, tzinfo=SH)  # October: must not be counted

WAITS = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]  # seconds, 10 matched conversations
LENGTHS = [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]  # minutes
SCORES_A = [5, 5, 5, 5, 4]  # counselor A: 5 ratings, mean 4.8
SCORES_B = [5, 4, 3]  # counselor B: 3 ratings (under 5: withheld per counselor)
ESCALATIONS = [(2, 10), (2, 20), (2, 30), (3, 40), (3, 70), (1, None)]  # (level, ack after s)
REFERRALS = ["completed", "completed", "accepted", "declined", "proposed"]
# (referral index, label, done after due by hours or None)
FOLLOWUPS = [(0, "24h", 2), (0, "1w", 3), (1, "24h", 5), (2, "24h", 30), (3, "24h", 1),
             (4, "24h", None)]

EXPECTED: dict[str, Any] = {
    "conversations.total": 12, "conversations.distinct_workers": 8,
    "conversations.matched": 10, "conversations.left_before_match": "<5",
    "conversations.wait_seconds.p50": 50.0, "conversations.wait_seconds.p90": 90.0,
    "conversations.length_minutes.p50": 25.0, "conversations.length_minutes.p90": 45.0,
    "ratings.count": 8, "ratings.mean": 4.5,
    "ratings.distribution.1": 0, "ratings.distribution.2": 0, "ratings.distribution.3": "<5",
    "ratings.distribution.4": "<5", "ratings.distribution.5": 5,
    "escalations.total": 6, "escalations.by_level.watch": "<5",
    "escalations.by_level.high": "<5", "escalations.by_level.imminent": "<5",
    "escalations.ack_seconds.p50": 30.0, "escalations.ack_seconds.p90": 70.0,
    "escalations.breaches": "<5",
    "referrals.total": 5, "referrals.by_status.proposed": "<5",
    "referrals.by_status.accepted": "<5", "referrals.by_status.declined": "<5",
    "referrals.by_status.contacted": 0, "referrals.by_status.completed": "<5",
    "followups.due": 6, "followups.done": 5, "followups.done_on_time": "<5",
    "hours.service_hours": 30 * 14, "hours.roster_covered": 0, "hours.on_duty": 4,
    "retention.shredded_by_retention": 6, "retention.deleted_by_workers": "<5",
}
PER_COUNSELOR = {"甲老师": (5, 4.8), "乙老师": ("<5", None)}


async def seed(pool: asyncpg.Pool, counselor_a: str, counselor_b: str, supervisor: str) -> None:
    a, b, sup = uuid.UUID(counselor_a), uuid.UUID(counselor_b), uuid.UUID(supervisor)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE staff SET display_name = '甲老师' WHERE id = $1", a)
        await conn.execute("UPDATE staff SET display_name = '乙老师' WHERE id = $1", b)
        workers = [await conn.fetchval(
            "INSERT INTO workers (pepper_version, pseudonym, alias, created_at)"
            " VALUES (1, $1, $2, $3) RETURNING id", secrets.token_bytes(32), f"职工{i}", OUTSIDE)
            for i in range(8)]

        async def conversation(worker: uuid.UUID, queued: dt.datetime, wait: int | None,
                               length: int | None, counselor: uuid.UUID | None) -> uuid.UUID:
            key = await conn.fetchval(
                "INSERT INTO data_keys (kek_version, wrapped, created_at) VALUES (1, $1, $2)"
                " RETURNING id", secrets.token_bytes(60), queued)
            matched = queued + dt.timedelta(seconds=wait) if wait is not None else None
            ended = (matched + dt.timedelta(minutes=length) if matched and length is not None
                     else queued + dt.timedelta(minutes=3))
            return await conn.fetchval(
                "INSERT INTO conversations (worker_id, data_key_id, status, counselor_id,"
                " queued_at, matched_at, ended_at, created_at) VALUES ($1, $2, $3, $4, $5, $6,"
                " $7, $5) RETURNING id", worker, key, "ended" if matched else "abandoned",
                counselor if matched else None, queued, matched, ended)

        convs = []
        for i, (wait, length) in enumerate(zip(WAITS, LENGTHS, strict=True)):
            counselor = a if i < 5 else b
            convs.append(await conversation(workers[i % 8], DAY + dt.timedelta(minutes=i),
                                            wait, length, counselor))
        for i in range(2):  # left before a match
            await conversation(workers[i], DAY + dt.timedelta(minutes=30 + i), None, None, None)
        await conversation(workers[0], OUTSIDE, 5, 5, a)  # October

        scores = [(a, s) for s in SCORES_A] + [(b, s) for s in SCORES_B]
        for conv, (who, score) in zip(convs, scores, strict=False):
            await conn.execute(
                "INSERT INTO ratings (conversation_id, counselor_id, score, created_at)"
                " VALUES ($1, $2, $3, $4)", conv, who, score, DAY + dt.timedelta(hours=1))

        escs = []
        for i, (level, ack) in enumerate(ESCALATIONS):
            opened = DAY + dt.timedelta(minutes=i)
            escs.append(await conn.fetchval(
                "INSERT INTO escalations (conversation_id, level, status, source, opened_at,"
                " ack_deadline, acked_at, owner_staff_id) VALUES ($1, $2, $3, 'message', $4, $5,"
                " $6, $7) RETURNING id", convs[i], level,
                "acknowledged" if ack is not None else "open", opened,
                opened + dt.timedelta(seconds=60),
                opened + dt.timedelta(seconds=ack) if ack is not None else None,
                sup if ack is not None else None))
        resource = await conn.fetchval("SELECT id FROM referral_resources LIMIT 1")
        refs = []
        for i, status in enumerate(REFERRALS):
            refs.append(await conn.fetchval(
                "INSERT INTO referrals (escalation_id, conversation_id, resource_id, created_by,"
                " status, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                escs[i], convs[i], resource, sup, status, DAY))
        for ref, label, done in FOLLOWUPS:
            due = DAY + dt.timedelta(days=1)
            await conn.execute(
                "INSERT INTO referral_followups (referral_id, due_at, label, done_at, done_by)"
                " VALUES ($1, $2, $3, $4, $5)", refs[ref], due, label,
                due + dt.timedelta(hours=done) if done is not None else None,
                sup if done is not None else None)

        # Counselor A on duty 10:00–14:00 on Nov 2 (four service hours).
        on = dt.datetime(2026, 11, 2, 10, 0, tzinfo=SH)
        for action, at in (("duty_on", on), ("duty_off", on + dt.timedelta(hours=4))):
            await conn.execute("INSERT INTO audit_log (actor_staff_id, action, at)"
                               " VALUES ($1, $2, $3)", a, action, at)
        for i in range(6):
            await conn.execute("INSERT INTO audit_log (action, at) VALUES ('retention_shred', $1)",
                               DAY + dt.timedelta(minutes=i))
        await conn.execute("INSERT INTO audit_log (action, at)"
                           " VALUES ('worker_deleted_history', $1)", DAY)


def flat(report: dict[str, Any]) -> dict[str, Any]:
    """The report's figures by their CSV names (the rows the exports hold)."""
    from chat_server.ops.reports import rows

    return {f"{section}.{name}": value for section, name, value in rows(report)
            if section != "range" and ".20" not in name and "per_counselor" not in name}
