"""Who hears about each change of a conversation or a message (``live_hints``), and that a
publisher's failure never reaches the engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from messenger_channel.clock import Clock
from messenger_channel.conversations.live_hints import (
    Delivery,
    LiveHints,
    conversation_deliveries,
    message_deliveries,
)
from messenger_channel.conversations.models import Conversation, Message
from messenger_channel.live.port import Audience, ClientAccess, Hint
from messenger_channel.storage.tables import Written

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SUP = {"supervisors"}


def conversation(**fields: Any) -> Conversation:
    base: dict[str, Any] = {
        "id": "cv_1", "page_id": "p", "psid": "u", "contact_id": "c", "state": "waiting",
        "locale": "en-US", "queue_id": "q1", "opened_by": "e1", "last_activity_at": T0,
        "created_at": T0, "updated_at": T0}
    return Conversation(**{**base, **fields})


def message(**fields: Any) -> Message:
    base: dict[str, Any] = {"conversation_id": "cv_1", "id": "m-1", "direction": "in",
                            "author": "customer", "text": "hi", "status": "received",
                            "created_at": T0}
    return Message(**{**base, **fields})


def routed(deliveries: list[Delivery]) -> dict[str, tuple[set[str], set[str]]]:
    found: dict[str, tuple[set[str], set[str]]] = {}
    for d in deliveries:
        assert d.type not in found, f"{d.type} twice"
        found[d.type] = (set(d.audience.users), set(d.audience.groups))
    return found


def offered(*agents: str, at: datetime = T0, **fields: Any) -> Conversation:
    return conversation(state="offered", offered_to=list(agents), offered_at=at,
                        offers_made=1, **fields)


def test_a_new_conversation_tells_the_supervisors_and_moves_the_queues() -> None:
    assert routed(conversation_deliveries(None, conversation())) == {
        "conversation.updated": (set(), SUP), "queue.updated": (set(), SUP)}


def test_a_push_offer_goes_to_the_offered_agent() -> None:
    assert routed(conversation_deliveries(conversation(), offered("a1"))) == {
        "conversation.offered": ({"agent:a1"}, set()),
        "conversation.updated": (set(), SUP),
        "queue.updated": (set(), SUP)}


def test_an_offer_passed_on_tells_the_next_agent_and_the_one_who_lost_it() -> None:
    later = T0 + timedelta(seconds=60)
    hints = routed(conversation_deliveries(offered("a1"), offered("a2", at=later)))
    assert hints == {"conversation.offered": ({"agent:a2"}, set()),
                     "conversation.updated": ({"agent:a1"}, SUP)}


def test_an_offer_back_to_the_same_agent_is_a_new_offer() -> None:
    later = T0 + timedelta(seconds=60)
    hints = routed(conversation_deliveries(offered("a1"), offered("a1", at=later)))
    assert hints["conversation.offered"] == ({"agent:a1"}, set())


def test_a_pick_offer_refreshed_offers_only_to_the_new_agents() -> None:
    hints = routed(conversation_deliveries(offered("a1", "a2"), offered("a2", "a3")))
    assert hints == {"conversation.offered": ({"agent:a3"}, set()),
                     "conversation.updated": ({"agent:a1", "agent:a2"}, SUP)}


def test_accept_tells_the_agent_and_the_other_pick_agents_it_is_gone() -> None:
    accepted = conversation(state="active", agent_id="a2", assigned_at=T0)
    assert routed(conversation_deliveries(offered("a1", "a2"), accepted)) == {
        "conversation.updated": ({"agent:a1", "agent:a2"}, SUP),
        "queue.updated": (set(), SUP)}


def test_transfer_and_reassign_tell_who_lost_it_and_the_consultants() -> None:
    held = conversation(state="active", agent_id="a1", consultants={"c1": T0})
    moved = conversation(state="offered", agent_id=None, offered_to=["a2"], offered_at=T0,
                         queue_id="q2")
    assert routed(conversation_deliveries(held, moved)) == {
        "conversation.offered": ({"agent:a2"}, set()),
        "conversation.updated": ({"agent:a1", "agent:c1"}, SUP),
        "queue.updated": (set(), SUP)}
    reassigned = held.model_copy(update={"agent_id": "a3"})
    assert routed(conversation_deliveries(held, reassigned)) == {
        "conversation.updated": ({"agent:a1", "agent:a3", "agent:c1"}, SUP)}


def test_a_consultation_ended_tells_the_consultant() -> None:
    held = conversation(state="active", agent_id="a1", consultants={"c1": T0})
    assert routed(conversation_deliveries(held, held.model_copy(update={"consultants": {}}))) \
        == {"conversation.updated": ({"agent:a1", "agent:c1"}, SUP)}


def test_close_and_a_touch() -> None:
    held = conversation(state="active", agent_id="a1")
    closing = held.model_copy(update={"state": "wrap_up"})
    assert routed(conversation_deliveries(held, closing)) == {
        "conversation.updated": ({"agent:a1"}, SUP), "queue.updated": (set(), SUP)}
    touched = held.model_copy(update={"unread": 1, "last_message_preview": "hi"})
    assert routed(conversation_deliveries(held, touched)) == {
        "conversation.updated": ({"agent:a1"}, SUP)}


def test_messages_go_to_the_agent_consultants_and_supervisors() -> None:
    held = conversation(state="active", agent_id="a1", consultants={"c1": T0})
    assert routed(message_deliveries(Written(message(), created=True), held)) == {
        "message.created": ({"agent:a1", "agent:c1"}, SUP)}
    sent = message(status="sent")
    assert routed(message_deliveries(Written(sent, False, before=message()), held)) == {
        "message.updated": ({"agent:a1", "agent:c1"}, SUP)}
    # Not yet stored conversation (a first message): the supervisors only.
    assert routed(message_deliveries(Written(message(), created=True), None)) == {
        "message.created": (set(), SUP)}


def test_bookkeeping_a_client_never_sees_is_not_a_hint() -> None:
    queued = message(direction="out", author="agent", status="queued")
    flagged = queued.model_copy(update={"enqueued": True, "send_id": "s1"})
    assert message_deliveries(Written(flagged, False, before=queued), None) == []


class Recording:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[tuple[Hint, Audience]] = []

    def publish(self, hint: Hint, audience: Audience) -> None:
        if self.fail:
            raise RuntimeError("down")
        self.sent.append((hint, audience))

    def client_access(self, user_id: str, groups: Any, minutes: int) -> ClientAccess:
        raise NotImplementedError


class Tables:
    """A ``ConversationTables`` stand-in: one conversation, or a read that fails."""

    def __init__(self, stored: Conversation | None, fail: bool = False) -> None:
        self.stored, self.fail = stored, fail

    def conversation(self, conversation_id: str) -> Conversation | None:
        if self.fail:
            raise OSError("storage down")
        return self.stored


def test_live_hints_publish_with_the_clocks_time() -> None:
    clock = Clock()
    publisher = Recording()
    held = conversation(state="active", agent_id="a1")
    hints = LiveHints(publisher, Tables(held), clock)
    hints.message_written(Written(message(), created=True))
    [(hint, audience)] = publisher.sent
    assert (hint.type, hint.conversation_id) == ("message.created", "cv_1")
    assert abs(hint.at - clock.now()) < timedelta(seconds=5)
    assert audience == Audience.of(["agent:a1"], ["supervisors"])


@pytest.mark.parametrize(("publisher_fails", "storage_fails"), [(True, False), (False, True)])
def test_failures_are_logged_and_swallowed(
        caplog: pytest.LogCaptureFixture, publisher_fails: bool, storage_fails: bool) -> None:
    hints = LiveHints(Recording(fail=publisher_fails), Tables(conversation(), fail=storage_fails),
                      Clock())
    secret_text = "my card number is 4111"
    hints.message_written(Written(message(text=secret_text), created=True))
    hints.conversation_written(None, conversation())
    assert any(r.getMessage() == "live hints not published" for r in caplog.records)
    assert secret_text not in caplog.text
