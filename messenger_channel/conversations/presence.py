"""What an agent's presence change tells their customers.

Going ``offline`` sends ``agent_disconnected`` to every active conversation the agent holds
(they keep them: the agent may come back, and a supervisor or the auto-close timer deals
with those who do not); coming back from ``offline`` sends ``agent_joined`` to the same.
Each is sent once per change (its occasion carries the change's time).
"""

from __future__ import annotations

from messenger_channel.conversations.automated import send_automated
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.services import Services
from messenger_channel.workforce.agents import Agent, Presence


def presence_changed(services: Services, agent: Agent, before: Presence) -> None:
    trigger = ("agent_disconnected" if agent.presence == "offline" != before
               else "agent_joined" if before == "offline" != agent.presence else None)
    if trigger is None:
        return
    distributor = Distributor(services)
    now = services.clock.now().isoformat()
    for row in distributor.store.indexes.of_agent(agent.id, []):
        if row.agent_id != agent.id or row.state != "active":
            continue
        workstream = distributor.workstream(row.workstream_id)
        conversation = distributor.tables.conversation(row.conversation_id)
        if workstream is None or conversation is None or conversation.agent_id != agent.id:
            continue
        send_automated(services, conversation, workstream, trigger,
                       occasion=f"{trigger}-{agent.id}-{now}", values={"AgentName": agent.name})
