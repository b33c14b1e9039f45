"""Parsing Messenger webhook bodies into events: every documented kind, odd shapes, identities.

The fixtures under tests/fixtures/webhooks are the examples of Meta's webhook reference (2026),
with made-up ids; one file per kind, several documented variants per file.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from messenger_channel.facebook.webhook_events import (
    EventKind,
    InboundEvent,
    MessageData,
    WebhookBatch,
    _PlainShape,
    decode_webhook,
    parse_webhook,
    split_webhook,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
PAGE = "104598237561234"
PSID = "7654321098765432"
OUR_APP_ID = "987654321098765"
PAGE_INBOX_APP_ID = "263902037430900"
EVENT_ID = re.compile(r"^[a-z_]+-[0-9a-f]{32}$")

# The kinds each fixture holds, in order.
FIXTURE_KINDS = {
    "message": ["message"] * 4,
    "message_attachments": ["message"] * 13,
    "echo": ["echo", "echo"],
    "postback": ["postback", "postback"],
    "read": ["read"],
    "delivery": ["delivery", "delivery"],
    "reaction": ["reaction", "reaction"],
    "message_edit": ["message_edit"],
    "referral": ["referral"] * 3,
    "optin": ["optin", "optin"],
    "handover": ["handover"] * 4,
    "policy_enforcement": ["policy_enforcement"] * 2,
    "standby": ["echo", "message"],
}


def fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return body


def parsed(body: object) -> WebhookBatch:
    batch = parse_webhook(body)
    assert batch is not None
    return batch


def events_of(name: str) -> list[InboundEvent]:
    return parsed(fixture(name)).events


def only_event(body: object) -> InboundEvent:
    batch = parsed(body)
    assert batch.rejected == []
    assert len(batch.events) == 1
    return batch.events[0]


def page_body(*events: object, source: str = "messaging", **entry: object) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": PAGE, "time": 1, **entry, source: list(events)}]}


def customer_event(**kind: object) -> dict[str, Any]:
    return {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1700000000000, **kind}


def test_the_fixtures_cover_every_kind_but_unknown() -> None:
    kinds = {kind for kinds in FIXTURE_KINDS.values() for kind in kinds}
    assert kinds == set(get_args(EventKind)) - {"unknown"}
    assert {path.stem for path in FIXTURES.glob("*.json")} == set(FIXTURE_KINDS)


@pytest.mark.parametrize("name", sorted(FIXTURE_KINDS))
def test_every_documented_example_parses_as_its_kind(name: str) -> None:
    batch = parsed(fixture(name))
    assert batch.rejected == []
    assert [event.kind for event in batch.events] == FIXTURE_KINDS[name]
    for event in batch.events:
        assert event.problem is None
        assert event.data is not None
        assert event.page_id == PAGE
        assert EVENT_ID.match(event.event_id)
        assert InboundEvent.model_validate_json(event.model_dump_json()) == event
    raw_events = [item for entry in fixture(name)["entry"]
                  for key in ("messaging", "standby") for item in entry.get(key, [])]
    assert [event.raw for event in batch.events] == raw_events


def test_text_message_with_a_quick_reply() -> None:
    event = events_of("message")[0]
    assert event.message is not None
    assert (event.source, event.customer_psid, event.sender_id, event.recipient_id) == (
        "messaging", PSID, PSID, PAGE)
    assert event.session_id == f"{PAGE}:{PSID}"
    assert event.timestamp == 1458692752478
    assert event.message.mid == "m_1457764197618:41d102a3e1ae206a38"
    assert event.message.text == "hello, world!"
    assert event.message.quick_reply is not None
    assert event.message.quick_reply.payload == "PICK_SIZE_M"
    assert event.message.attachments == []


def test_reply_commands_and_ad_referral_inside_messages() -> None:
    reply, commands, from_ad = (event.message for event in events_of("message")[1:])
    assert reply is not None and reply.reply_to is not None
    assert (reply.reply_to.mid, reply.reply_to.is_self_reply) == (
        "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU", False)
    assert commands is not None
    assert [command.name for command in commands.commands] == ["flights", "hotels"]
    assert from_ad is not None and from_ad.referral is not None
    assert from_ad.referral.ad_id == "23851234567890123"  # a JSON number, kept as a string id
    assert (from_ad.referral.ref, from_ad.referral.source) == ("spring_sale", "ADS")
    assert from_ad.referral.ads_context_data == {
        "ad_title": "Spring sale", "photo_url": "https://example.com/ad.jpg",
        "post_id": "104598237561234_1234567890"}


def test_every_documented_attachment_type_is_known_and_normalised() -> None:
    attachments = {event.message.mid: event.message.attachments
                   for event in events_of("message_attachments") if event.message is not None}
    assert all(attachment.known for found in attachments.values() for attachment in found)
    image, = attachments["m_att_image"]
    assert (image.type, image.url) == ("image", "https://scontent.xx.fbcdn.net/v/image.jpg")
    sticker, sticker_as_image = attachments["m_att_sticker"]
    assert (sticker.type, sticker.sticker_id, sticker_as_image.type) == (
        "sticker", "369239263222822", "image")
    assert sticker_as_image.sticker_id == "369239263222822"
    fallback, = attachments["m_att_fallback"]
    assert (fallback.url, fallback.title) == ("https://example.com/article", "An article")
    older, = attachments["m_att_fallback_v5"]
    assert (older.url, older.title, older.payload) == (
        "https://example.com/older", "An older share", None)
    product, = attachments["m_att_product"]
    assert product.url is None
    assert product.payload["product"]["elements"][0]["retailer_id"] == "SKU-4711"
    booking, = attachments["m_att_booking"]
    assert booking.payload["status"] == "requested"
    assert [attachments[f"m_att_{kind}"][0].title for kind in ("reel", "ig_post")] == [
        "A reel", "A caption"]


def test_a_future_attachment_type_is_kept_unknown_and_the_message_stays_a_message() -> None:
    hologram = {"type": "hologram", "payload": {"url": "https://example.com/h", "depth": 3}}
    event = only_event(page_body(customer_event(
        message={"mid": "m_future", "attachments": [hologram, {"payload": None}]})))
    assert event.kind == "message" and event.message is not None
    future, untyped = event.message.attachments
    assert (future.type, future.known, future.url) == ("hologram", False, "https://example.com/h")
    assert future.payload == {"url": "https://example.com/h", "depth": 3}
    assert (untyped.type, untyped.known) == (None, False)


def test_echo_customer_is_the_recipient_and_app_ids_tell_our_sends_from_the_page_inbox() -> None:
    ours, inbox = events_of("echo")
    for echo in (ours, inbox):
        assert echo.kind == "echo" and echo.echo is not None and echo.message is None
        assert (echo.customer_psid, echo.page_id, echo.sender_id) == (PSID, PAGE, PAGE)
        assert echo.session_id == f"{PAGE}:{PSID}"
    assert ours.echo is not None and inbox.echo is not None
    assert (ours.echo.app_id, ours.echo.metadata, ours.echo.text) == (
        OUR_APP_ID, "conversation:c-42", "Hello, this is Anna from support.")
    assert inbox.echo.app_id == PAGE_INBOX_APP_ID
    assert inbox.echo.attachments[0].url == "https://scontent.xx.fbcdn.net/v/reply.jpg"


def test_postbacks_with_referral_and_from_a_chat_plugin_guest() -> None:
    started, guest = events_of("postback")
    assert started.postback is not None and started.postback.referral is not None
    assert (started.postback.title, started.postback.payload, started.postback.mid) == (
        "Get Started", "GET_STARTED", "m_postback_1")
    assert started.postback.referral.ref == "summer"
    assert (guest.customer_psid, guest.customer_user_ref) == (None, "guest-5f1c2a")
    assert guest.session_id == f"{PAGE}:user_ref:guest-5f1c2a"
    assert guest.timestamp == 1527459824  # documented as a string


def test_read_delivery_reaction_and_edit() -> None:
    read, = events_of("read")
    assert read.read is not None and read.read.watermark == 1458668856253
    with_mids, without_mids = events_of("delivery")
    assert with_mids.delivery is not None and without_mids.delivery is not None
    assert with_mids.delivery.mids == ["m_1458668856218:ed81099e15d3f4f233"]
    assert (without_mids.delivery.mids, without_mids.timestamp) == ([], None)
    react, unreact = events_of("reaction")
    assert react.reaction is not None and unreact.reaction is not None
    assert (react.reaction.action, react.reaction.reaction, react.reaction.emoji) == (
        "react", "love", "\u2764\ufe0f")
    assert (unreact.reaction.action, unreact.reaction.mid) == ("unreact", "m_echo_ours")
    edit, = events_of("message_edit")
    assert edit.message_edit is not None
    assert (edit.message_edit.text, edit.message_edit.num_edit) == ("hello, world! (edited)", 1)


def test_standalone_referrals_and_optins() -> None:
    link, ad, plugin = events_of("referral")
    assert link.referral is not None and ad.referral is not None and plugin.referral is not None
    assert (link.referral.ref, link.referral.source, link.referral.type) == (
        "order-status", "SHORTLINK", "OPEN_THREAD")
    assert ad.referral.ad_id == "23851234567890123"
    assert ad.referral.ads_context_data is not None
    assert ad.referral.ads_context_data["flow_id"] == "112233"
    assert (plugin.referral.referer_uri, plugin.referral.is_guest_user) == (
        "https://shop.example.com/pricing", True)
    assert plugin.customer_user_ref == "guest-5f1c2a"
    marketing, checkbox = events_of("optin")
    assert marketing.optin is not None and checkbox.optin is not None
    assert (marketing.optin.type, marketing.optin.notification_messages_token) == (
        "notification_messages", "nmt_7f3a9c")
    assert marketing.optin.model_extra is not None
    assert marketing.optin.model_extra["notification_messages_frequency"] == "WEEKLY"
    assert (checkbox.optin.ref, checkbox.optin.user_ref, checkbox.customer_psid) == (
        "checkout", "checkbox-91d2", None)


def test_handover_events_keep_their_action_and_app_ids_as_strings() -> None:
    passed, taken, requested, roles = events_of("handover")
    assert passed.handover is not None and taken.handover is not None
    assert requested.handover is not None and roles.handover is not None
    assert (passed.handover.action, passed.handover.previous_owner_app_id,
            passed.handover.new_owner_app_id) == ("pass_thread_control", None, OUR_APP_ID)
    assert (taken.handover.action, taken.handover.new_owner_app_id) == (
        "take_thread_control", PAGE_INBOX_APP_ID)
    assert (requested.handover.action, requested.handover.requested_owner_app_id) == (
        "request_thread_control", "123456789012345")
    assert passed.customer_psid == PSID
    assert (roles.handover.action, roles.customer_psid, roles.session_id) == (
        "app_roles", None, f"{PAGE}:page")
    assert roles.handover.app_roles == {OUR_APP_ID: ["primary_receiver"],
                                        "123456789012345": ["secondary_receiver"]}


def test_policy_enforcement_concerns_the_page_not_a_customer() -> None:
    block, unblock = events_of("policy_enforcement")
    assert block.policy_enforcement is not None and unblock.policy_enforcement is not None
    assert block.policy_enforcement.action == "block"
    assert block.policy_enforcement.reason is not None
    assert (unblock.policy_enforcement.action, unblock.policy_enforcement.reason) == (
        "unblock", None)
    # Even with a sender, a policy enforcement is about the page.
    with_sender = only_event(page_body(customer_event(policy_enforcement={"action": "warning"})))
    for event in (block, with_sender):
        assert (event.customer_psid, event.session_id) == (None, f"{PAGE}:page")


def test_standby_events_are_marked_and_follow_the_same_customer_rule() -> None:
    echo, message = events_of("standby")
    assert {echo.source, message.source} == {"standby"}
    assert echo.echo is not None and echo.echo.app_id == PAGE_INBOX_APP_ID
    assert echo.echo.attachments[0].type == "template"
    assert echo.echo.attachments[0].url == "https://www.facebook.com/commerce/update/"
    assert (echo.customer_psid, message.customer_psid) == (PSID, "7654321098765433")


def test_several_entries_and_events_keep_the_body_order() -> None:
    first, second = fixture("message"), fixture("reaction")
    standby_entry = fixture("standby")["entry"][0]
    mixed = {**standby_entry, "messaging": fixture("read")["entry"][0]["messaging"]}
    body = {"object": "page", "entry": [*first["entry"], *second["entry"], mixed]}
    events = parsed(body).events
    assert [event.kind for event in events] == [
        "message", "message", "message", "message", "reaction", "reaction", "echo", "message",
        "read"]
    assert [event.source for event in events[-3:]] == ["standby", "standby", "messaging"]


def test_an_unknown_key_beside_a_known_one_changes_nothing_and_is_kept() -> None:
    event = only_event(page_body(customer_event(
        message={"mid": "m_x", "text": "hi", "sentiment": "happy"}, delivery_hint={"v": 2})))
    assert event.kind == "message" and event.message is not None
    assert event.message.model_extra == {"sentiment": "happy"}
    assert event.raw["delivery_hint"] == {"v": 2}
    assert '"sentiment":"happy"' in event.model_dump_json()


def test_an_event_with_no_known_key_is_unknown_and_kept_whole() -> None:
    raw = customer_event(message_unsend={"mid": "m_gone"})
    event = only_event(page_body(raw))
    assert (event.kind, event.data, event.problem, event.raw) == ("unknown", None, None, raw)
    assert event.customer_psid == PSID


def test_a_broken_event_becomes_unknown_and_its_neighbours_survive() -> None:
    good = fixture("message")["entry"][0]["messaging"]
    broken = customer_event(message={"text": "no mid"}, timestamp="yesterday")
    body = page_body(good[0], broken, good[1], "not an event", good[2])
    batch = parsed(body)
    assert [event.kind for event in batch.events] == ["message", "unknown", "message", "message"]
    unknown = batch.events[1]
    assert unknown.problem == "not a valid message: mid: Field required"
    assert (unknown.raw, unknown.timestamp, unknown.session_id) == (broken, None, f"{PAGE}:{PSID}")
    assert [rejected.reason for rejected in batch.rejected] == [
        "messaging event is not an object"]


@pytest.mark.parametrize(("kind", "value", "problem"), [
    ("reaction", {"mid": "m_1", "action": "shrug"}, "not a valid reaction: action: "),
    ("read", {"watermark": "soon"}, "not a valid read: watermark: "),
    ("message", {"mid": "m_1", "attachments": {"type": "image"}},
     "not a valid message: attachments: "),
    ("pass_thread_control", "everything", "not a valid handover: "),
])
def test_a_known_key_that_fails_validation_notes_the_problem(
        kind: str, value: object, problem: str) -> None:
    event = only_event(page_body(customer_event(**{kind: value})))
    assert event.kind == "unknown"
    assert event.problem is not None and event.problem.startswith(problem)


def test_a_customer_event_without_a_customer_is_unknown() -> None:
    event = only_event(page_body({"recipient": {"id": PAGE}, "message": {"mid": "m_1"}}))
    assert (event.kind, event.problem) == (
        "unknown", "not a valid message: no sender.id or user_ref")
    echo = only_event(page_body(
        {"sender": {"id": PAGE}, "message": {"mid": "m_2", "is_echo": True}}))
    assert (echo.kind, echo.problem) == (
        "unknown", "not a valid echo: no recipient.id or user_ref")
    assert echo.session_id == f"{PAGE}:page"


def test_an_entry_without_id_takes_the_page_from_the_event() -> None:
    message = customer_event(message={"mid": "m_1"})
    echo = {"sender": {"id": PAGE}, "recipient": {"id": PSID},
            "message": {"mid": "m_2", "is_echo": True}}
    nowhere = {"sender": {"id": PSID}, "message": {"mid": "m_3"}}
    for entry_id in ({}, {"id": None}, {"id": ""}, {"id": {"nested": 1}}):
        body = {"object": "page", "entry": [{**entry_id, "messaging": [message, echo, nowhere]}]}
        batch = parsed(body)
        assert [(event.kind, event.page_id) for event in batch.events] == [
            ("message", PAGE), ("echo", PAGE)]
        assert [rejected.raw for rejected in batch.rejected] == [nowhere]
        assert batch.rejected[0].reason == (
            "messaging event without a page: no entry.id, no recipient.id")


def test_a_numeric_entry_id_is_a_page_id() -> None:
    body = {"object": "page", "entry": [{"id": int(PAGE), "messaging": [customer_event(
        message={"mid": "m_1"})]}]}
    assert only_event(body).page_id == PAGE


@pytest.mark.parametrize(("entry", "reason"), [
    ("an entry", "entry is not an object"),
    ({"id": PAGE, "time": 1, "changes": [{"field": "feed"}]},
     "entry has neither messaging nor standby"),
    ({"id": PAGE, "messaging": {"sender": {"id": PSID}}}, "entry.messaging is not a list"),
    ({"id": PAGE, "standby": None}, "entry.standby is not a list"),
])
def test_entries_that_hold_no_events_are_reported(entry: object, reason: str) -> None:
    good = fixture("read")["entry"][0]
    batch = parsed({"object": "page", "entry": [entry, good]})
    assert [event.kind for event in batch.events] == ["read"]
    assert [rejected.reason for rejected in batch.rejected] == [reason]


@pytest.mark.parametrize("body", [
    None, [], "page", 3, {"object": "instagram", "entry": []}, {"object": "page"},
    {"object": "page", "entry": {"id": PAGE}}, {"entry": []},
])
def test_bodies_that_are_not_messenger_page_payloads_give_none(body: object) -> None:
    assert parse_webhook(body) is None


def test_an_empty_page_payload_is_an_empty_batch() -> None:
    assert parsed({"object": "page", "entry": []}) == WebhookBatch()


def test_unicode_escaped_as_meta_signs_it_comes_out_as_text() -> None:
    text = "Grüße aus Köln 👋 — 你好, ça va?"
    body = json.dumps(page_body(customer_event(message={"mid": "m_u", "text": text})),
                      ensure_ascii=True).encode()
    assert b"\\u00fc" in body and b"\\ud83d\\udc4b" in body
    event = only_event(json.loads(body))
    assert event.message is not None and event.message.text == text
    assert InboundEvent.model_validate_json(event.model_dump_json()) == event


def test_a_lone_surrogate_is_replaced_so_the_event_can_be_serialised() -> None:
    body = json.loads('{"object": "page", "entry": [{"id": "1", "messaging": [{"sender": {"id":'
                      ' "2"}, "recipient": {"id": "1"}, "message": {"mid": "m_s", "text":'
                      ' "cut \\ud83d"}}]}]}')
    event = only_event(body)
    assert event.message is not None and event.message.text == "cut \ufffd"
    assert InboundEvent.model_validate_json(event.model_dump_json()) == event


def test_an_event_too_deep_for_a_queue_message_is_rejected_and_its_neighbours_survive() -> None:
    depth = 150  # Meta's events are a few levels deep; pydantic's JSON parser stops at 200
    nested = json.loads("[" * depth + "]" * depth)
    deep = customer_event(message={"mid": "m_deep", "nested": nested})
    batch = parsed(page_body(deep, customer_event(message={"mid": "m_fine"})))
    assert [event.kind for event in batch.events] == ["message"]
    rejected, = batch.rejected
    assert (rejected.reason, rejected.raw) == (
        "messaging event cannot travel in a queue message: nested deeper than 128 levels", None)
    assert WebhookBatch.model_validate_json(batch.model_dump_json()) == batch


def test_events_are_frozen() -> None:
    event = events_of("read")[0]
    with pytest.raises(ValidationError):
        event.page_id = "1"  # type: ignore[misc]


# Identities: the queue's duplicate detection relies on them.

def test_reparsing_the_same_body_gives_the_same_ids() -> None:
    for name in FIXTURE_KINDS:
        first = [event.event_id for event in events_of(name)]
        assert first == [event.event_id for event in events_of(name)]
        assert len(set(first)) == len(first), name
    retried = parsed(json.loads(json.dumps(fixture("message"), indent=4, sort_keys=True)))
    assert [event.event_id for event in retried.events] == [
        event.event_id for event in events_of("message")]


def test_an_edit_a_reaction_and_the_message_sharing_a_mid_have_different_ids() -> None:
    mid = "m_shared"
    message = customer_event(message={"mid": mid, "text": "hi"})
    echo = {"sender": {"id": PAGE}, "recipient": {"id": PSID}, "timestamp": 1700000000000,
            "message": {"mid": mid, "is_echo": True, "app_id": 1}}
    edits = [customer_event(message_edit={"mid": mid, "text": f"hi {n}", "num_edit": n})
             for n in (1, 2)]
    reactions = [customer_event(reaction={"mid": mid, "action": action, "reaction": "like"})
                 for action in ("react", "unreact")]
    again = customer_event(timestamp=1700000099999, reaction={
        "mid": mid, "action": "react", "reaction": "like"})
    events = parsed(page_body(message, echo, *edits, *reactions, again)).events
    assert len({event.event_id for event in events}) == len(events) == 7


def test_ids_ignore_the_order_of_delivered_mids_but_not_their_set() -> None:
    def delivery(*mids: str) -> InboundEvent:
        return only_event(page_body(customer_event(delivery={"mids": list(mids), "watermark": 5})))

    assert delivery("m_a", "m_b").event_id == delivery("m_b", "m_a").event_id
    assert delivery("m_a", "m_b").event_id != delivery("m_a").event_id


def test_ids_of_events_without_a_mid_follow_who_when_and_what() -> None:
    def event(**kind: object) -> str:
        return only_event(page_body(customer_event(**kind))).event_id

    assert event(read={"watermark": 1}) != event(read={"watermark": 2})
    assert event(postback={"payload": "A"}) != event(postback={"payload": "B"})
    assert event(postback={"payload": "A", "mid": "m_1"}) == event(
        postback={"payload": "B", "mid": "m_1"})
    assert event(referral={"ref": "a"}) != event(referral={"ref": "b"})
    assert event(other={"x": 1}) != event(other={"x": 2})
    assert event(other={"x": 1, "y": 2}) == only_event(page_body(
        {"other": {"y": 2, "x": 1}, "timestamp": 1700000000000, "recipient": {"id": PAGE},
         "sender": {"id": PSID}})).event_id


def test_the_same_unknown_event_on_two_pages_has_two_ids() -> None:
    raw = {"recipient": {"id": PAGE}, "other": 1}
    here = only_event(page_body(raw))
    there = only_event({"object": "page", "entry": [{"id": "42", "messaging": [raw]}]})
    assert here.event_id != there.event_id


def test_ids_stay_short_whatever_the_ids_in_the_body() -> None:
    def event(user_ref: str) -> InboundEvent:
        return only_event({"object": "page", "entry": [{"id": "8" * 32, "messaging": [
            {"sender": {"user_ref": user_ref}, "message": {"mid": "m" * 500}}]}]})

    long = event("9" * 300)
    assert len(long.event_id) <= 64 and EVENT_ID.match(long.event_id)
    assert len(long.session_id) <= 128
    assert long.session_id != event("9" * 301).session_id
    # Page ids and PSIDs become keys: one longer than a Messenger id is refused, with the reason.
    refused = parsed({"object": "page", "entry": [{"id": "8" * 300, "messaging": [
        {"sender": {"id": "9" * 300}, "message": {"mid": "m"}}]}]})
    assert refused.events == [] and "entry.id is not a Messenger id" in refused.rejected[0].reason


def test_the_batch_round_trips_through_json() -> None:
    body = {"object": "page", "entry": [
        entry for name in FIXTURE_KINDS for entry in copy.deepcopy(fixture(name))["entry"]]}
    batch = parsed(body)
    assert WebhookBatch.model_validate_json(batch.model_dump_json()) == batch
    assert len(batch.events) == sum(len(kinds) for kinds in FIXTURE_KINDS.values())


# The webhook's fast path: decoding the body and splitting it without models.

def test_decoding_reads_meta_bodies_with_orjson_and_the_rest_as_the_router_will() -> None:
    for path in FIXTURES.glob("*.json"):
        body = json.dumps(json.loads(path.read_bytes()), ensure_ascii=True).encode()
        assert decode_webhook(body) == json.loads(body)
    # orjson refuses these; the standard parser reads them, non-finite numbers as null (what a
    # queue message carries), lone surrogates as they are (the split replaces them).
    assert decode_webhook(b'{"a": NaN, "b": [Infinity, -Infinity, 1e400, 1.5]}') == {
        "a": None, "b": [None, None, None, 1.5]}
    assert decode_webhook(b'["cut \\ud83d"]') == ["cut \ud83d"]
    assert decode_webhook('{"t": "ä"}'.encode("utf-16")) == {"t": "ä"}
    # Beyond 64 bits, orjson gives a float: Meta's ids are strings, its numbers fit.
    assert decode_webhook(b"[18446744073709551615, 18446744073709551616]") == [
        18446744073709551615, 18446744073709551616.0]


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe not json",
                                  b"[" * 100_000 + b"]" * 100_000])
def test_decoding_what_is_not_json_raises_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the webhook answers any ValueError with 400
        decode_webhook(body)


def test_the_split_gives_what_routing_needs_and_the_json_to_embed() -> None:
    echo, inbox = fixture("echo")["entry"][0]["messaging"]
    guest = fixture("postback")["entry"][0]["messaging"][1]
    split = split_webhook(page_body(echo, inbox, guest, source="standby"))
    assert split is not None and split.rejected == []
    ours, theirs, plugin = split.events
    assert (ours.kind, ours.source, ours.page_id, ours.customer_psid, ours.echo_app_id) == (
        "echo", "standby", PAGE, PSID, OUR_APP_ID)
    assert (theirs.echo_app_id, plugin.echo_app_id) == (PAGE_INBOX_APP_ID, None)
    assert plugin.session_id == f"{PAGE}:user_ref:guest-5f1c2a"
    assert [json.loads(event.raw_json) for event in split.events] == [echo, inbox, guest]
    assert [event.event_id for event in split.events] == [
        event.event_id for event in parsed(page_body(echo, inbox, guest)).events]


def test_only_models_that_cannot_refuse_plain_values_have_a_plain_shape() -> None:
    class Checked(BaseModel):
        model_config = ConfigDict(extra="allow")
        mid: str

        @field_validator("mid")
        @classmethod
        def _not_empty(cls, value: str) -> str:
            if not value:
                raise ValueError("empty")
            return value

    class Limited(BaseModel):
        model_config = ConfigDict(extra="allow", str_max_length=3)
        mid: str

    class Aliased(BaseModel):
        model_config = ConfigDict(extra="allow")
        mid: str = Field(alias="id")

    class Closed(BaseModel):
        mid: str

    assert [_PlainShape.of(model) for model in (Checked, Limited, Aliased, Closed)] == [None] * 4
    message = _PlainShape.of(MessageData)
    assert message is not None
    assert message.fits({"mid": "m_1", "text": None, "anything": [1]})
    for value in ({"text": "no mid"}, {"mid": 1}, {"mid": "m_1", "text": True},
                  {"mid": "m_1", "quick_reply": {}}, {"mid": "m_1", 1: "a"}, ["mid"]):
        assert not message.fits(value)
