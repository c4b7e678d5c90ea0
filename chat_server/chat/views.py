"""How a conversation looks to its counselor (assignments, welcomes, missed matches)."""

from __future__ import annotations

from typing import Any

from chat_server.chat.node import Node
from chat_server.chat.people_store import PeopleStore
from chat_server.chat.presence import Presence
from chat_server.chat.risk_view_store import RiskView, RiskViewStore
from chat_server.chat.store import Conversation


def staff_view_of(conv: Conversation, alias: str, risk: RiskView,
                  handover: bool = False) -> dict[str, Any]:
    """`risk_level` is the true current level (a name), with the screen and the open
    escalation beside it, so the console shows them at match and after a reload."""
    return {"id": conv.id, "alias": alias, "status": conv.status, "last_seq": conv.last_seq,
            **risk.fields(),
            "matched_at": conv.matched_at.isoformat() if conv.matched_at else None,
            "handover": handover,
            "worker_presence": {"away_since": None, "gone_at": None, "release_at": None}}


class StaffViews:
    def __init__(self, node: Node, people: PeopleStore, presence: Presence,
                 risks: RiskViewStore) -> None:
        self.node = node
        self.people = people
        self.presence = presence
        self.risks = risks

    async def staff_view(self, conv: Conversation, handover: bool = False) -> dict[str, Any]:
        view = staff_view_of(conv, await self.people.alias(conv.id),
                             await self.risks.risk_view(conv.id), handover)
        since = (await self.node.queue.away_since([conv.id])).get(conv.id)
        view["worker_presence"] = self.presence.worker_presence(since)
        return view
