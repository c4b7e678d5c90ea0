"""The chat core of one node, composed in dependency order: each part gets the parts it
uses as constructor arguments, so nothing is wired after the fact.

Two steps, because features sit between them: `Matching` (estimates, endings, the
matcher) is built first, since self-service records booked matches with it; the
features are built on it; then `ChatCore` takes the features as `Plugins`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from chat_server.chat.duty import Duty
from chat_server.chat.ending import Ending
from chat_server.chat.intake import Intake
from chat_server.chat.matcher import Matcher
from chat_server.chat.node import Node
from chat_server.chat.people_store import PeopleStore
from chat_server.chat.plugins import Plugins, WaitAdvisor
from chat_server.chat.presence import Presence
from chat_server.chat.risk_view_store import RiskViewStore
from chat_server.chat.sockets import Sockets
from chat_server.chat.sweeps import Sweeps
from chat_server.chat.upkeep import Upkeep
from chat_server.chat.views import StaffViews
from chat_server.chat.waiting import Waiting
from chat_server.chat.wake import Wake
from chat_server.chat.welcome import Welcome
from chat_server.periodic import cancel


class Matching:
    """The parts features call into: built before them."""

    def __init__(self, node: Node, sockets: Sockets, wake: Wake,
                 advisors: Sequence[WaitAdvisor], hotlines: Sequence[Mapping[str, Any]]) -> None:
        self.node = node
        self.sockets = sockets
        self.wake = wake
        self.people = PeopleStore(node.services.pool)
        self.risks = RiskViewStore(node.services.pool)
        self.waiting = Waiting(node, sockets, wake, advisors, hotlines)
        self.ending = Ending(node, wake, self.waiting)
        self.matcher = Matcher(node, wake, self.ending, self.people, self.risks)


class ChatCore:
    def __init__(self, matching: Matching, plugins: Plugins) -> None:
        node, sockets, wake = matching.node, matching.sockets, matching.wake
        self.node = node
        self.sockets = sockets
        self.wake = wake
        self.plugins = plugins
        self.people = matching.people
        self.waiting = matching.waiting
        self.ending = matching.ending
        self.matcher = matching.matcher
        self.presence = Presence(node, sockets)
        self.intake = Intake(node, wake, self.waiting, plugins)
        self.duty = Duty(node, wake, self.waiting, self.people, plugins)
        self.views = StaffViews(node, self.people, self.presence, matching.risks)
        self.sweeps = Sweeps(node, wake, self.ending, self.presence, self.waiting.hotlines)
        self.upkeep = Upkeep(node, sockets, wake, self.waiting, self.sweeps, self.presence,
                             self.views, self.people)
        self.welcome = Welcome(node, wake, self.waiting, self.duty, self.presence,
                               self.views, self.people, plugins)
        # The two loops (matching; periodic upkeep) while the node runs.
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.upkeep.ensure_queue()
        self._tasks = [asyncio.create_task(self.upkeep.run(), name="dispatcher"),
                       asyncio.create_task(self.matcher.run(), name="matcher")]

    async def stop(self) -> None:
        await cancel(*self._tasks)
