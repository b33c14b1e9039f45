"""A message's change time, which a reader's ``since`` compares: a customer's message stored
after later changes were read carries its storing time, not only its event time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from messenger_channel.conversations.models import Message

EVENT = datetime(2026, 12, 5, 7, 20, 6, tzinfo=UTC)


def message(**times: datetime) -> Message:
    return Message(conversation_id="cv_1", id="m_1", direction="in", author="customer",
                   text="Not yet", status="received", created_at=EVENT, **times)


def test_a_message_stored_late_changed_when_stored() -> None:
    stored = EVENT + timedelta(milliseconds=800)  # routed after a delivery read at +500 ms
    assert message().changed_at == EVENT
    assert message(stored_at=stored).changed_at == stored
    assert message(stored_at=stored, updated_at=stored + timedelta(seconds=1)).changed_at == (
        stored + timedelta(seconds=1))
    assert message(stored_at=stored, updated_at=EVENT).changed_at == stored
