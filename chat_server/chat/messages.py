"""Messages of a conversation in PostgreSQL: append (exactly once, in order, sealed)
and read back after a sequence number.

ConversationStore (chat/store.py) inherits this, so one store answers for a conversation
and its messages; what is here is the write path every acknowledged message takes.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from chat_server.chat.write_cache import Row, WriteCache
from chat_server.clock import Clock, system_clock
from chat_server.vault import open_text, seal_text
from chat_server.wire import frames
from crypto.envelope import Sealed, Vault, check_budget
from crypto.keyring import WrappedKey
from yizhan_errors import YizhanError


@dataclass(frozen=True, slots=True)
class StoredMessage:
    conversation_id: str
    seq: int
    sender_role: str
    client_id: str
    kind: str
    text: str
    at: dt.datetime

    def frame(self) -> dict[str, Any]:
        # Cards (referrals) carry structured JSON in the encrypted text.
        card = json.loads(self.text) if self.kind != "text" else None
        return frames.Message(self.conversation_id, self.seq, self.sender_role,
                              self.client_id, self.kind, self.text, self.at.isoformat(),
                              card=card).to_wire()


@dataclass(frozen=True, slots=True)
class Appended:
    seq: int
    at: dt.datetime
    duplicate: bool
    # Set for a newly stored message, so it can be fanned out as ciphertext.
    sealed: Sealed | None = None
    wrapped: WrappedKey | None = None


class NotActive(YizhanError):
    """The conversation does not take this message: not active (still waiting, ended,
    shredded), or the sender is no longer its participant."""


def _accepts(row: Row, m: NewMessage) -> bool:
    if row["status"] != "active" or row["wrapped"] is None:
        return False
    if m.role == "worker" and m.worker_id is not None:
        return str(row["worker_id"]) == m.worker_id
    if m.role == "counselor":
        return row["counselor_id"] is not None and str(row["counselor_id"]) == m.staff_id
    return True


# Duplicate check + seq bump + data-key budget in one statement (see append).
@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to store. `worker_id`/`staff_id` are checked against the conversation
    inside the transaction, so a stale authorization cannot write into a conversation
    that was handed to someone else meanwhile."""

    conversation_id: str
    role: str
    client_id: str
    text: str
    staff_id: str | None = None
    worker_id: str | None = None
    kind: str = "text"
    # The crisis assessment of a worker's message (level, rule ids), stored with it.
    risk: tuple[int, tuple[str, ...]] | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.conversation_id, self.role, self.client_id)


_EXISTING_SQL = (
    "SELECT m.conversation_id, m.sender_role, m.client_id, m.seq, m.created_at"
    " FROM messages m JOIN unnest($1::uuid[], $2::text[], $3::text[]) AS r(c, s, k)"
    " ON m.conversation_id = r.c AND m.sender_role = r.s AND m.client_id = r.k"
)
# What a batch needs to know of its conversations; read without locks first (see
# _write_sql), then, only if that write found a conversation changed, under _LOCK_SQL.
_READ_SQL = (
    "SELECT c.id, c.status, c.worker_id, c.counselor_id, c.last_seq, k.kek_version,"
    " k.wrapped, k.encryptions FROM conversations c JOIN data_keys k ON k.id = c.data_key_id"
    " WHERE c.id = ANY($1::uuid[])"
)
# Locks the conversations in id order, so two batches touching the same conversations on
# different nodes queue up behind each other instead of deadlocking.
_LOCK_SQL = _READ_SQL + " ORDER BY c.id FOR UPDATE OF c"


def _write_sql(*, checked: bool) -> str:
    """One statement writes the batch: new last seqs, encryption counts, messages, risks.

    Unchecked, it runs inside the transaction that locked the rows (_LOCK_SQL). Checked,
    it is a transaction of its own after an unlocked read (_READ_SQL): it locks the
    conversations in id order, as _LOCK_SQL does, so the two never deadlock; bumps each
    one only if it is still active with the last seq ($17) and counselor ($18) that were
    read; and unless every one was, yz_expect aborts the statement and nothing is written.
    """
    if checked:
        head = (
            "WITH u AS (SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::int[],"
            " $17::bigint[], $18::uuid[]) AS u(id, last, n, was, counselor)),"
            " lk AS MATERIALIZED (SELECT c.id FROM conversations c"
            " WHERE c.id = ANY($1::uuid[]) ORDER BY c.id FOR UPDATE),"
            " c AS (UPDATE conversations c SET last_seq = u.last FROM u WHERE c.id = u.id"
            " AND c.id IN (SELECT id FROM lk) AND c.last_seq = u.was AND c.status = 'active'"
            " AND c.counselor_id IS NOT DISTINCT FROM u.counselor RETURNING c.data_key_id, u.n),"
        )
        guard = " WHERE yz_expect((SELECT count(*) FROM c) = cardinality($1::uuid[]))"
        at = "$19::timestamptz"
    else:
        head = (
            "WITH u AS (SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::int[])"
            " AS u(id, last, n)),"
            " c AS (UPDATE conversations c SET last_seq = u.last FROM u WHERE c.id = u.id"
            " RETURNING c.data_key_id, u.n),"
        )
        guard = ""
        at = "$17::timestamptz"
    return head + (
        " k AS (UPDATE data_keys k SET encryptions = k.encryptions + c.n FROM c"
        " WHERE k.id = c.data_key_id RETURNING k.id),"
        " m AS (INSERT INTO messages (conversation_id, seq, client_id, sender_role,"
        " sender_staff_id, kind, key_version, nonce, ciphertext, created_at)"
        " SELECT *, " + at + " FROM unnest($4::uuid[], $5::bigint[], $6::text[], $7::text[],"
        f" $8::uuid[], $9::text[], $10::int[], $11::bytea[], $12::bytea[]){guard} RETURNING 1),"
        # Risk levels ride in the same transaction; high ones wait for their escalation.
        # The level is the rules' (a floor); pending until the learned stage has read it
        # (crisis_stage.py), which is what the sweeper recovers if this node dies first.
        " r AS (INSERT INTO message_risk (conversation_id, seq, level, rule_ids, handled_at,"
        " created_at, pending)"
        " SELECT c, s, l, CASE WHEN ids = '' THEN '{}'::text[] ELSE string_to_array(ids, ',')"
        f" END, CASE WHEN l >= 2 THEN NULL ELSE {at} END, {at}, true"
        " FROM unnest($13::uuid[], $14::bigint[], $15::int[], $16::text[]) AS x(c, s, l, ids)"
        " ON CONFLICT DO NOTHING RETURNING 1)"
        f" SELECT {at} AS at, (SELECT count(*) FROM m) AS inserted,"
        " (SELECT count(*) FROM k) AS keys, (SELECT count(*) FROM r) AS risks"
    )


_WRITE_SQL = _write_sql(checked=False)
_WRITE_CHECKED_SQL = _write_sql(checked=True)


class MessageLog:
    def __init__(self, pool: asyncpg.Pool, vault: Vault, clock: Clock = system_clock) -> None:
        self.pool = pool
        self.vault = vault
        self.clock = clock  # the node's clock: every time this store writes comes from it
        self.written = WriteCache()

    async def append(
        self,
        conversation_id: str,
        role: str,
        client_id: str,
        text: str,
        *,
        staff_id: str | None = None,
        worker_id: str | None = None,
        kind: str = "text",
    ) -> Appended:
        """Store one message encrypted; idempotent on (conversation, role, client_id)."""
        msg = NewMessage(conversation_id, role, client_id, text, staff_id, worker_id, kind)
        [result] = await self.append_batch([msg])
        if isinstance(result, BaseException):
            raise result
        return result

    async def append_batch(self, msgs: Sequence[NewMessage]) -> list[Appended | Exception]:
        """Store several messages in one transaction (group commit); a result per message.

        Returns only after the transaction commits: acknowledged means stored. Each
        conversation's row is locked while its seqs are taken, so seqs stay dense and
        commit in order. A message whose (conversation, role, client_id) is already
        stored gets the stored seq with `duplicate` set; one the conversation does not
        accept (ended, or no longer this sender's) gets NotActive, and changes nothing.
        """
        results: list[Appended | Exception | None] = [None] * len(msgs)
        first: dict[tuple[str, str, str], int] = {}
        twin_of: dict[int, int] = {}
        for i, m in enumerate(msgs):
            if m.key in first:
                twin_of[i] = first[m.key]
            else:
                first[m.key] = i
        todo = [i for i in range(len(msgs)) if i not in twin_of]
        done = await self._append_optimistic(msgs, todo)
        for attempt in range(3):
            if done is not None:
                break
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    done = await self._append_locked(conn, msgs, todo)
            except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError):
                # A twin from another node committed first (the check finds it next
                # time), or lock orders crossed: nothing of ours was stored; go again.
                if attempt == 2:
                    raise
        assert done is not None
        for i, r in done.items():
            results[i] = r
        for i, j in twin_of.items():
            twin = results[j]
            results[i] = Appended(twin.seq, twin.at, True) if isinstance(twin, Appended) else twin
        return [r if r is not None else RuntimeError("not stored") for r in results]

    async def _append_optimistic(
        self, msgs: Sequence[NewMessage], todo: list[int]
    ) -> dict[int, Appended | Exception] | None:
        """The usual case in two round trips and one commit: read, then one checked write.

        None when the write found a conversation changed since the read (another batch
        wrote to it first) or a message already stored (a resend): the statement then
        wrote nothing, and the caller stores the batch under row locks instead.
        """
        conv_ids = sorted({msgs[i].conversation_id for i in todo})
        try:
            async with self.pool.acquire() as conn:
                # One round trip instead of two when this node wrote all of them last.
                cached = self.written.rows(conv_ids)
                cached_last: dict[str, int] = {}
                if cached is not None:
                    try:
                        return await self._write(conn, msgs, todo, cached, {}, checked=True)
                    except asyncpg.SerializationError:
                        cached_last = self.written.stale(conv_ids)
                rows = await conn.fetch(_READ_SQL, conv_ids)
                self.written.read(rows, cached_last)
                return await self._write(conn, msgs, todo, rows, {}, checked=True)
        except (asyncpg.SerializationError, asyncpg.UniqueViolationError,
                asyncpg.DeadlockDetectedError):
            self.written.stale(conv_ids)
            return None

    async def _append_locked(
        self, conn: asyncpg.Connection, msgs: Sequence[NewMessage], todo: list[int]
    ) -> dict[int, Appended | Exception]:
        """Inside a transaction: find resends, lock the conversations, write the rest.

        Here and in the other batch statements ids go as text: asyncpg encodes a uuid
        from a str, and a uuid.UUID() per message was a visible cost.
        """
        out: dict[int, Appended | Exception] = {}
        rows = await conn.fetch(
            _EXISTING_SQL,
            [msgs[i].conversation_id for i in todo],
            [msgs[i].role for i in todo],
            [msgs[i].client_id for i in todo],
        )
        existing = {(str(r["conversation_id"]), r["sender_role"], r["client_id"]): r
                    for r in rows}
        fresh = []
        for i in todo:
            row = existing.get(msgs[i].key)
            if row is not None:
                out[i] = Appended(row["seq"], row["created_at"], True)
            else:
                fresh.append(i)
        if not fresh:
            return out
        conv_ids = sorted({msgs[i].conversation_id for i in fresh})
        rows = await conn.fetch(_LOCK_SQL, conv_ids)
        return await self._write(conn, msgs, fresh, rows, out, checked=False)

    async def _write(
        self, conn: asyncpg.Connection, msgs: Sequence[NewMessage], fresh: list[int],
        rows: Sequence[Row], out: dict[int, Appended | Exception], *, checked: bool,
    ) -> dict[int, Appended | Exception]:
        """Take seqs after each conversation's last, seal, and write in one statement."""
        convs = {str(r["id"]): r for r in rows}
        last: dict[str, int] = {}
        taken: dict[str, int] = {}
        seqs: dict[int, int] = {}
        sealed: dict[int, tuple[Sealed, WrappedKey]] = {}
        for i in fresh:
            m = msgs[i]
            row = convs.get(m.conversation_id)
            if row is None or not _accepts(row, m):
                out[i] = NotActive(m.conversation_id)
                continue
            n = taken.get(m.conversation_id, 0) + 1
            check_budget(row["encryptions"] + n)
            taken[m.conversation_id] = n
            seq = row["last_seq"] + n
            last[m.conversation_id] = seq
            wrapped = WrappedKey(row["kek_version"], row["wrapped"])
            seqs[i] = seq
            sealed[i] = (seal_text(self.vault, wrapped, m.conversation_id, seq, m.role, m.text),
                         wrapped)
        if not seqs:
            return out
        written = list(seqs)
        assessed = [i for i in written if msgs[i].risk is not None]
        args: list[Any] = [
            list(last),
            list(last.values()),
            [taken[c] for c in last],
            [msgs[i].conversation_id for i in written],
            [seqs[i] for i in written],
            [msgs[i].client_id for i in written],
            [msgs[i].role for i in written],
            [msgs[i].staff_id or None for i in written],
            [msgs[i].kind for i in written],
            [1] * len(written),
            [sealed[i][0].nonce for i in written],
            [sealed[i][0].ciphertext for i in written],
            [msgs[i].conversation_id for i in assessed],
            [seqs[i] for i in assessed],
            [msgs[i].risk[0] for i in assessed],  # type: ignore[index]
            [",".join(msgs[i].risk[1]) for i in assessed],  # type: ignore[index]
        ]
        if checked:
            args += [[convs[c]["last_seq"] for c in last], [convs[c]["counselor_id"] for c in last]]
        args.append(self.clock())
        at = await conn.fetchval(_WRITE_CHECKED_SQL if checked else _WRITE_SQL, *args)
        if checked:  # a statement of its own: committed now (the locked one is not yet)
            for c, seq in last.items():
                self.written.wrote(convs[c], seq, taken[c])
        for i in written:
            s_, w_ = sealed[i]
            # (no row can be missing: the rows are locked and the statement has no filter,
            # or the checked statement would have aborted)
            out[i] = Appended(seqs[i], at, False, s_, w_)
        return out

    async def messages_after(
        self, conversation_id: str, after_seq: int, limit: int = 1000
    ) -> list[StoredMessage]:
        cid = uuid.UUID(conversation_id)
        async with self.pool.acquire() as conn:
            key = await conn.fetchrow(
                "SELECT k.kek_version, k.wrapped FROM conversations c"
                " JOIN data_keys k ON k.id = c.data_key_id WHERE c.id = $1",
                cid,
            )
            if key is None or key["wrapped"] is None:
                return []
            rows = await conn.fetch(
                "SELECT seq, sender_role, client_id, kind, nonce, ciphertext, created_at"
                " FROM messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                cid,
                after_seq,
                limit,
            )
        wrapped = WrappedKey(key["kek_version"], key["wrapped"])
        return [
            StoredMessage(
                conversation_id=conversation_id,
                seq=r["seq"],
                sender_role=r["sender_role"],
                client_id=r["client_id"],
                kind=r["kind"],
                text=open_text(
                    self.vault, wrapped, conversation_id, r["seq"], r["sender_role"],
                    r["nonce"], r["ciphertext"],
                ),
                at=r["created_at"],
            )
            for r in rows
        ]
