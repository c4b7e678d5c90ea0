"""Retention shreds exactly what is past the period; "delete my history" leaves nothing."""

from __future__ import annotations

import datetime as dt

from chat_server.chat import retention
from tests.clients import Worker, make_staff, matched_pair

T0 = dt.datetime(2026, 3, 2, 4, 0, tzinfo=dt.UTC)  # 12:00 in Shanghai: open


async def chat_and_end(node, worker: Worker, wws, cws, conv: str, text: str) -> None:
    await wws.send({"type": "send", "conversation_id": conv, "client_id": "c1",
                    "text": text})
    await wws.expect("ack")
    await wws.send({"type": "end", "conversation_id": conv})
    await wws.expect("ended")


async def test_retention_shreds_exactly_what_is_past_the_period(node, pg) -> None:
    node.node.clock = lambda: T0
    worker, wws, counselor, cws, old = await matched_pair(node)
    await chat_and_end(node, worker, wws, cws, old, "old conversation words")
    later = T0 + dt.timedelta(days=10)
    node.node.clock = lambda: later
    await counselor.close()
    worker2, wws2, counselor2, cws2, recent = await matched_pair(node)
    await chat_and_end(node, worker2, wws2, cws2, recent, "recent conversation words")
    admin = await make_staff(node, "admin")
    # Three years and five days after the first: only the first is past 1,095 days.
    node.node.clock = lambda: T0 + dt.timedelta(days=1095 + 5)
    assert (await admin.sign_in()).status_code == 201
    r = await admin.http.post("/api/retention/run")
    assert r.status_code == 200, r.text
    assert r.json()["removed"]["conversations"] == 1
    assert r.json()["removed"]["messages"] >= 1
    shredded = {str(x["id"]) for x in await pg.fetch(
        "SELECT id FROM conversations WHERE shredded_at IS NOT NULL")}
    assert shredded == {old}
    assert await pg.fetchval("SELECT count(*) FROM messages WHERE conversation_id = $1::uuid",
                             old) == 0
    assert await pg.fetchval("SELECT wrapped IS NULL FROM data_keys k JOIN conversations c"
                             " ON c.data_key_id = k.id WHERE c.id = $1::uuid", old)
    assert await pg.fetchval("SELECT count(*) FROM messages WHERE conversation_id = $1::uuid",
                             recent) >= 1
    audited = await pg.fetchval("SELECT count(*) FROM audit_log WHERE action ="
                                " 'retention_shred' AND conversation_id = $1::uuid", old)
    assert audited == 1
    # A second run the same day finds nothing more.
    r = await admin.http.post("/api/retention/run")
    assert r.json()["removed"]["conversations"] == 0
    status = (await admin.http.get("/api/retention")).json()
    assert status["retention_days"] == 1095 and status["last_run"]["conversations"] == 0
    for c in (worker, worker2, counselor2, admin):
        await c.close()


async def test_the_daily_job_runs_on_one_node_at_a_time(node, pg) -> None:
    async with node.node.services.pool.acquire() as conn:
        assert await conn.fetchval("SELECT pg_try_advisory_lock($1)", retention.LOCK_KEY)
        try:
            assert await retention.run(node.node.services.pool, T0, 1095) is None
        finally:
            await conn.fetchval("SELECT pg_advisory_unlock($1)", retention.LOCK_KEY)
    assert await retention.run(node.node.services.pool, T0, 1095) is not None
    job = retention.RetentionJob(node.node)
    node.node.clock = lambda: T0
    await job.tick()  # already ran "today" (T0's local day): no second run
    runs = await pg.fetchval("SELECT count(*) FROM audit_log WHERE action = 'retention_run'")
    assert runs == 1


async def test_delete_my_history_leaves_nothing_readable(node, pg) -> None:
    node.node.clock = lambda: T0
    worker, wws, counselor, cws, conv = await matched_pair(node)
    await chat_and_end(node, worker, wws, cws, conv, "words to be forgotten")
    r = await counselor.http.put(f"/api/staff/conversations/{conv}/note",
                                 json={"topics": ["work"], "risk_level": "none",
                                       "text": "note to be forgotten"})
    assert r.status_code == 200
    sealed = [bytes(x["ciphertext"]) for x in await pg.fetch(
        "SELECT ciphertext FROM messages WHERE conversation_id = $1::uuid", conv)]
    assert sealed
    # The first session proved nothing: history is locked.
    r = await worker.http.post("/api/worker/history/delete", json={"confirm": True})
    assert r.status_code == 403 and r.json()["code"] == "history_locked"
    # Signing in again on the same device proves possession.
    assert (await worker.sign_in()).json()["history_access"] is True
    r = await worker.http.post("/api/worker/history/delete", json={})
    assert r.status_code == 400
    r = await worker.http.post("/api/worker/history/delete", json={"confirm": True})
    assert r.status_code == 200, r.text
    removed = r.json()["removed"]
    assert removed["conversations"] == 1 and removed["messages"] >= 1
    assert removed["case_notes"] == 1
    history = (await worker.http.get("/api/worker/history")).json()["conversations"]
    assert history == []
    assert await pg.fetchval("SELECT count(*) FROM messages WHERE conversation_id = $1::uuid",
                             conv) == 0
    note = await pg.fetchrow("SELECT note_ciphertext FROM case_notes"
                             " WHERE conversation_id = $1::uuid", conv)
    assert note["note_ciphertext"] is None
    r = await counselor.http.get(f"/api/staff/conversations/{conv}/note")
    assert r.status_code == 200 and r.json()["text"] == ""
    rows = await pg.fetch("SELECT * FROM messages")
    assert not any(s in bytes(str(list(row.values())), "utf-8") for row in rows for s in sealed)
    for c in (worker, counselor):
        await c.close()
