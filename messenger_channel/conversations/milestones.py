"""The moments the reports measure, recorded on the conversation as it moves (pure).

Every write of a conversation passes through ``ConversationStore``, which applies
``with_milestones`` to what it stores: each milestone is set once, the first time the
conversation reaches it, and never moved after (a transfer does not restart the wait).

- ``first_waiting_at``: it first waited for an agent (waiting or offered);
- ``first_assigned_at``: an agent first held it (accepted, assigned, or started it);
- ``first_response_at``: the first reply the customer could see after that.
"""

from __future__ import annotations

from messenger_channel.conversations.models import Conversation


def with_milestones(conversation: Conversation) -> Conversation:
    c = conversation
    update: dict[str, object] = {}
    if c.first_waiting_at is None and c.state in ("waiting", "offered"):
        update["first_waiting_at"] = c.waiting_since or c.offered_at or c.updated_at
    assigned = c.first_assigned_at
    if assigned is None and c.agent_id is not None and c.assigned_at is not None:
        assigned = update["first_assigned_at"] = c.assigned_at
    if (c.first_response_at is None and assigned is not None
            and c.last_agent_message_at is not None and c.last_agent_message_at >= assigned):
        update["first_response_at"] = c.last_agent_message_at
    return c.model_copy(update=update) if update else c
