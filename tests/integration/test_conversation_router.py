"""The router on Azurite and the simulator: contacts, conversations, messages, automated
messages, survey, classification, idempotency under redelivery and injected failures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from messenger_channel import metering
from messenger_channel.conversations import distribution
from messenger_channel.conversations import inbound as inbound_module
from messenger_channel.conversations.attachments import DISABLED_TEXT
from messenger_channel.conversations.inbound import SKIP, handle_inbound
from messenger_channel.conversations.indexes import ConversationIndexes
from messenger_channel.services import Services
from simulator.client import SimulatorClient
from tests.support.engine import Engine, new_id

GREETINGS = {"greeting": {"en-US": "Hi! Welcome to {QueueName}.", "fr": "Bonjour !"},
             "agent_unavailable": {"en-US": "All agents are busy; you are number "
                                            "{QueuePosition} in {QueueName}."},
             "agent_assigned": {"en-US": "{AgentName} is with you."}}


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        yield Engine(services, simulator)


def test_first_message_makes_contact_conversation_message_and_offer(engine: Engine) -> None:
    engine.workstream(automated_messages=GREETINGS)
    agent_id, _ = engine.agent()
    psid = new_id()
    engine.simulator.put_user(psid, engine.page_id, first_name="Lea", last_name="Roy",
                              locale="fr_FR", timezone=2)
    sent_at = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
    envelope = engine.message(psid, "Bonjour", timestamp=int(sent_at.timestamp() * 1000))
    handle_inbound(engine.services, envelope)

    contact = engine.tables.contacts.get(engine.page_id, psid)
    assert contact is not None
    assert (contact.name, contact.locale, contact.timezone) == ("Lea Roy", "fr-FR", 2.0)
    conversation = engine.conversation_of(psid)
    assert conversation.state == "offered" and conversation.offered_to == [agent_id]
    assert conversation.queue_id == engine.queue_id
    # Facebook's time of the message, not the time it was processed.
    assert conversation.last_customer_message_at == sent_at
    assert conversation.locale == "fr-FR"
    [received, greeting] = engine.history(psid)
    assert (received.author, received.direction, received.text) == ("customer", "in", "Bonjour")
    assert (greeting.author, greeting.text, greeting.status) == ("automated", "Bonjour !", "queued")
    [outbound] = engine.outbound()
    assert (outbound.trigger, outbound.text, outbound.psid) == ("greeting", "Bonjour !", psid)
    assert outbound.conversation_id == conversation.id and outbound.author == "automated"


def test_same_customer_continues_the_same_conversation(engine: Engine) -> None:
    engine.workstream()
    psid = new_id()
    engine.say(psid, "one")
    engine.say(psid, "two")
    assert [m.text for m in engine.history(psid)] == ["one", "two"]
    assert engine.conversation_of(psid).unread == 2


def test_redelivery_gives_no_duplicate_message_offer_or_automated_message(
        engine: Engine) -> None:
    engine.workstream(automated_messages=GREETINGS)
    engine.agent()
    psid = new_id()
    envelope = engine.message(psid, "Hello")
    for _ in range(3):
        handle_inbound(engine.services, envelope)
    conversation = engine.conversation_of(psid)
    assert conversation.offers_made == 1 and conversation.unread == 1
    history = engine.history(psid)
    assert [m.author for m in history] == ["customer", "automated"]
    assert len(engine.outbound()) == 1


STEPS = [
    ("contacts", "find_or_create_contact"),
    ("inbound", "_InboundEvent.open_conversation"),
    ("inbound", "_InboundEvent.store_incoming"),
    ("inbound", "_InboundEvent.apply"),
    ("automated", "send_in_conversation"),
    ("outgoing", "enqueue_outbound"),
    ("inbound", "_InboundEvent.classify"),
    ("distribution", "Distributor.reserve"),
    ("distribution", "Distributor.offer"),
]


@pytest.mark.parametrize(("module", "name"), STEPS, ids=[name for _, name in STEPS])
def test_failure_after_any_step_then_redelivery_completes(
        engine: Engine, monkeypatch: pytest.MonkeyPatch, module: str, name: str) -> None:
    """The step runs, then the process 'dies'; the queue redelivers the event."""
    from messenger_channel.conversations import automated, outgoing

    engine.workstream(automated_messages=GREETINGS)
    agent_id, _ = engine.agent()
    # find_or_create_contact is patched where the router looks it up.
    targets: dict[str, Any] = {"contacts": inbound_module, "inbound": inbound_module,
                               "automated": automated, "outgoing": outgoing,
                               "distribution": distribution}
    owner: Any = targets[module]
    attribute = name
    if "." in name:
        owner, attribute = getattr(owner, name.split(".")[0]), name.split(".")[1]
    original = getattr(owner, attribute)
    failed: list[bool] = []

    def crash_after(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if not failed:
            failed.append(True)
            raise RuntimeError(f"crash after {name}")
        return result

    monkeypatch.setattr(owner, attribute, crash_after)
    psid = new_id()
    envelope = engine.message(psid, "Hello")
    with pytest.raises(RuntimeError, match="crash after"):
        handle_inbound(engine.services, envelope)
    handle_inbound(engine.services, envelope)  # the redelivery
    handle_inbound(engine.services, envelope)  # and one more, for good measure

    conversation = engine.conversation_of(psid)
    assert conversation.state == "offered" and conversation.offered_to == [agent_id]
    assert conversation.offers_made == 1 and conversation.unread == 1
    assert [m.author for m in engine.history(psid)] == ["customer", "automated"]
    [greeting] = engine.outbound()
    assert greeting.trigger == "greeting"
    load = engine.tables.loads.get("load", agent_id)
    assert load is not None and list(load.reservations) == [conversation.id]


def test_fifty_concurrent_events_of_a_new_customer_make_one_contact_and_conversation(
        engine: Engine) -> None:
    engine.workstream(automated_messages=GREETINGS)
    engine.agent()
    psid = new_id()
    envelopes = [engine.message(psid, f"message {i}") for i in range(50)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda e: handle_inbound(engine.services, e), envelopes))
    contacts = engine.tables.contacts.list_partition(engine.page_id)
    assert len(contacts) == 1
    rows = ConversationIndexes(engine.services.tables).of_customer(engine.page_id, psid)
    assert [row.conversation_id for row in rows] == [contacts[0].open_conversation_id]
    conversations = [engine.tables.conversation(row.conversation_id) for row in rows]
    assert conversations[0] is not None
    history = engine.history(psid)
    assert sorted(m.text or "" for m in history if m.author == "customer") == sorted(
        f"message {i}" for i in range(50))
    assert sum(m.author == "automated" for m in history) == 1
    assert conversations[0].offers_made == 1


@pytest.mark.parametrize("access", ["empty", "error_2018218"])
def test_customer_without_profile_permission_still_reaches_an_agent(
        engine: Engine, access: str) -> None:
    engine.workstream()
    agent_id, _ = engine.agent()
    psid = new_id()
    engine.simulator.put_user(psid, engine.page_id, profile_access=access)
    engine.say(psid, "Hi")
    contact = engine.tables.contacts.get(engine.page_id, psid)
    assert contact is not None
    assert contact.name == f"Customer {psid[-4:]}"
    assert contact.name_missing_reason == "no_profile_access"
    assert engine.conversation_of(psid).offered_to == [agent_id]


def test_attachments_are_copied_failed_or_refused(engine: Engine, simulator_url: str) -> None:
    engine.workstream()
    psid = new_id()
    engine.say(psid, None, attachments=[
        {"type": "image", "payload": {"url": f"{simulator_url}/_sim/files/image.png"}},
        {"type": "file", "payload": {"url": f"{simulator_url}/_sim/files/missing.pdf"}},
        {"type": "template", "payload": {"template_type": "generic"}}])
    [message] = engine.history(psid)
    stored, failed, skipped = message.attachments
    assert stored.status == "stored" and stored.name == "image.png"
    assert stored.content_type == "image/png" and stored.size
    blob = engine.services.blobs.download("attachments", f"{message.conversation_id}/{stored.id}")
    assert len(blob) == stored.size
    assert failed.status == "failed" and failed.error
    assert skipped.status == "skipped"


def test_disabled_customer_attachments_are_not_downloaded(
        engine: Engine, simulator_url: str) -> None:
    engine.workstream(customer_attachments=False)
    psid = new_id()
    engine.say(psid, None, attachments=[
        {"type": "image", "payload": {"url": f"{simulator_url}/_sim/files/image.png"}}])
    [message] = engine.history(psid)
    assert message.failure_reason == "attachments_disabled"
    [attachment] = message.attachments
    assert (attachment.status, attachment.error) == ("skipped", DISABLED_TEXT)
    assert list(engine.services.blobs.list("attachments")) == []


def test_reactions_edits_reads_and_deliveries_update_messages(engine: Engine) -> None:
    engine.workstream(automated_messages=GREETINGS)
    psid = new_id()
    engine.say(psid, "Helo", mid="m_edit_1")
    handle_inbound(engine.services, engine.envelope(psid, {"message_edit": {
        "mid": "m_edit_1", "text": "Hello", "num_edit": 1}}))
    handle_inbound(engine.services, engine.envelope(psid, {"reaction": {
        "mid": "m_edit_1", "action": "react", "reaction": "love", "emoji": "❤"}}))
    customer, greeting = engine.history(psid)[:2]
    assert customer.text == "Hello" and [e.text for e in customer.edits] == ["Helo"]
    assert customer.reaction == "❤"
    # The sender marks the greeting sent with Facebook's id; then Facebook confirms.
    engine.tables.messages.update(greeting.conversation_id, greeting.id, lambda m: m.model_copy(
        update={"status": "sent", "facebook_message_id": "m_out_1"}))
    handle_inbound(engine.services, engine.envelope(psid, {"delivery": {
        "mids": ["m_out_1"], "watermark": 1}}))
    assert engine.history(psid)[1].status == "delivered"
    later = int(engine.at().timestamp() * 1000) + 1000
    read = engine.envelope(psid, {"read": {"watermark": later}})
    handle_inbound(engine.services, read)
    handle_inbound(engine.services, engine.envelope(psid, {"delivery": {
        "mids": ["m_out_1"], "watermark": 2}}))
    assert engine.history(psid)[1].status == "read"  # never back to delivered


def test_postbacks_and_quick_replies_keep_their_payload(engine: Engine) -> None:
    engine.workstream()
    psid = new_id()
    engine.say(psid, "Billing", quick_reply="TOPIC_BILLING")
    handle_inbound(engine.services, engine.envelope(psid, {"postback": {
        "mid": "m_pb_1", "title": "Talk to us", "payload": "GET_STARTED"}}))
    assert [(m.text, m.payload) for m in engine.history(psid)] == [
        ("Billing", "TOPIC_BILLING"), ("Talk to us", "GET_STARTED")]


def test_referral_becomes_the_next_conversations_context_and_routes(engine: Engine) -> None:
    vip = None
    engine.workstream()
    vip = engine.queue("VIP")
    from messenger_channel.workforce.workstreams import Workstreams

    Workstreams(engine.services.tables).update(engine.workstream_id, {"routing_rules": [
        {"name": "ads", "rules": [{"when": {"field": "referral.ref", "op": "eq",
                                            "value": "spring"}, "queue_id": vip}]}]})
    psid = new_id()
    handle_inbound(engine.services, engine.envelope(psid, {"referral": {
        "ref": "spring", "source": "SHORTLINK", "type": "OPEN_THREAD"}}))
    engine.say(psid, "Hi")
    conversation = engine.conversation_of(psid)
    assert conversation.referral is not None and conversation.referral["ref"] == "spring"
    assert conversation.queue_id == vip


def test_echoes_own_dropped_others_stored_as_outside(engine: Engine) -> None:
    engine.workstream()
    psid = new_id()
    engine.say(psid, "Hi")
    own = engine.envelope(psid, {"message": {"mid": "m_own", "is_echo": True, "text": "ours"}},
                          own_echo_app=True)
    assert own.own_echo
    handle_inbound(engine.services, own)
    inbox = engine.envelope(psid, {"message": {"mid": "m_inbox", "is_echo": True,
                                               "app_id": 263902037430900, "text": "from inbox"}})
    handle_inbound(engine.services, inbox)
    assert [(m.author, m.direction, m.text) for m in engine.history(psid)] == [
        ("customer", "in", "Hi"), ("outside", "out", "from inbox")]


def test_standby_events_are_stored_not_routed(engine: Engine) -> None:
    engine.workstream()
    engine.agent()
    psid = new_id()
    standby = engine.envelope(psid, {"message": {"mid": "m_sb", "text": "to the bot"}},
                              source="standby")
    handle_inbound(engine.services, standby)
    contact = engine.tables.contacts.get(engine.page_id, psid)
    assert contact is not None and contact.open_conversation_id is None
    assert ConversationIndexes(engine.services.tables).of_customer(engine.page_id, psid) == []
    [kept] = engine.tables.history(f"standby-{contact.id}")
    assert (kept.text, kept.source) == ("to the bot", "standby")


def test_pre_conversation_survey_asks_then_routes_on_the_answers(engine: Engine) -> None:
    engine.workstream(pre_conversation_survey=[
        {"id": "topic", "question": "What about?", "options": ["Billing", "Other"]},
        {"id": "order", "question": "Order number?"}])
    billing = engine.queue("Billing")
    from messenger_channel.workforce.workstreams import Workstreams

    Workstreams(engine.services.tables).update(engine.workstream_id, {"routing_rules": [
        {"name": "topic", "rules": [{"when": {"field": "survey.topic", "op": "eq",
                                              "value": "Billing"}, "queue_id": billing}]}]})
    psid = new_id()
    engine.say(psid, "Hi")
    assert engine.conversation_of(psid).state == "survey"
    engine.say(psid, "Billing", quick_reply="Billing")
    engine.say(psid, "A-42")
    conversation = engine.conversation_of(psid)
    assert conversation.survey_answers == {"topic": "Billing", "order": "A-42"}
    assert conversation.state == "waiting" and conversation.queue_id == billing
    questions = [m for m in engine.outbound() if m.trigger == "survey_question"]
    assert [(q.text, [(r.title, r.payload) for r in q.quick_replies]) for q in questions] == [
        ("What about?", [("Billing", "Billing"), ("Other", "Other"), (SKIP, SKIP)]),
        ("Order number?", [(SKIP, SKIP)])]


def test_survey_can_be_skipped(engine: Engine) -> None:
    engine.workstream(pre_conversation_survey=[
        {"id": "topic", "question": "What about?", "options": ["Billing"]},
        {"id": "order", "question": "Order number?"}])
    agent_id, _ = engine.agent()
    psid = new_id()
    engine.say(psid, "Hi")
    engine.say(psid, SKIP, quick_reply=SKIP)
    conversation = engine.conversation_of(psid)
    assert conversation.survey_answers == {}
    assert conversation.state == "offered" and conversation.offered_to == [agent_id]


def test_message_text_rules_route_and_set_attributes(engine: Engine) -> None:
    engine.workstream()
    refunds = engine.queue("Refunds")
    from messenger_channel.workforce.workstreams import Workstreams

    Workstreams(engine.services.tables).update(engine.workstream_id, {"routing_rules": [
        {"name": "lang", "rules": [{"when": {"field": "message.text", "op": "contains",
                                             "value": "refund"}, "set": {"topic": "refund"}}]},
        {"name": "queue", "rules": [{"when": {"field": "attributes.topic", "op": "eq",
                                              "value": "refund"}, "queue_id": refunds}]}]})
    psid = new_id()
    engine.say(psid, "I want a REFUND please")
    conversation = engine.conversation_of(psid)
    assert conversation.queue_id == refunds and conversation.attributes == {"topic": "refund"}


def test_no_agent_waits_with_position_and_queue_name(engine: Engine) -> None:
    engine.workstream(automated_messages=GREETINGS)
    first, second = new_id(), new_id()
    engine.say(first, "Hi")
    engine.say(second, "Hi")
    assert engine.conversation_of(second).state == "waiting"
    waits = [m.text for m in engine.outbound() if m.trigger == "agent_unavailable"]
    assert waits == ["All agents are busy; you are number 1 in General.",
                     "All agents are busy; you are number 2 in General."]
    # A waiting customer who writes again is told once: the line ahead is not read again.
    with metering.measure() as used:
        engine.say(second, "Still there?")
    assert [m for m in engine.outbound() if m.trigger == "agent_unavailable"] == []
    queue_reads = sum(count for name, count in used.counts.items()
                      if name.startswith("table.query{table=") and "ConversationsByQueue" in name)
    assert queue_reads == 0


def test_router_function_reads_the_queue_message_body(engine: Engine) -> None:
    """What the Blueprint does: the queue body is the envelope's JSON."""
    from messenger_channel.queue_messages import InboundEnvelope

    engine.workstream()
    psid = new_id()
    envelope = engine.message(psid, "Hi")
    body = json.dumps(envelope.model_dump(mode="json")).encode()
    handle_inbound(engine.services, InboundEnvelope.model_validate_json(body))
    assert [m.text for m in engine.history(psid)] == ["Hi"]
