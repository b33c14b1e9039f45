"""The moments the reports measure are set once, the first time they are reached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from messenger_channel.conversations.milestones import with_milestones
from messenger_channel.conversations.models import Conversation

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def conversation(**fields: object) -> Conversation:
    base: dict[str, object] = {
        "id": "cv_1", "page_id": "p", "psid": "u", "contact_id": "c", "state": "survey",
        "locale": "en-US", "opened_by": "e", "last_activity_at": T0, "created_at": T0,
        "updated_at": T0}
    return Conversation.model_validate(base | fields)


def test_each_milestone_is_set_when_first_reached_and_never_moved() -> None:
    c = with_milestones(conversation())
    assert (c.first_waiting_at, c.first_assigned_at, c.first_response_at) == (None,) * 3
    c = with_milestones(c.model_copy(update={"state": "waiting", "waiting_since": T0}))
    assert c.first_waiting_at == T0
    assigned = T0 + timedelta(minutes=3)
    c = with_milestones(c.model_copy(update={"state": "active", "agent_id": "a",
                                             "assigned_at": assigned}))
    assert c.first_assigned_at == assigned
    replied = assigned + timedelta(seconds=40)
    c = with_milestones(c.model_copy(update={"last_agent_message_at": replied}))
    assert c.first_response_at == replied
    # A transfer: waiting again, another agent, another reply — the first ones stay.
    later = replied + timedelta(minutes=10)
    c = with_milestones(c.model_copy(update={
        "state": "waiting", "agent_id": None, "waiting_since": later}))
    c = with_milestones(c.model_copy(update={
        "state": "active", "agent_id": "b", "assigned_at": later,
        "last_agent_message_at": later}))
    assert (c.first_waiting_at, c.first_assigned_at, c.first_response_at) == (
        T0, assigned, replied)


def test_a_reply_before_any_assignment_is_not_a_first_response() -> None:
    c = with_milestones(conversation(state="waiting", waiting_since=T0,
                                     last_agent_message_at=T0))
    assert c.first_response_at is None
