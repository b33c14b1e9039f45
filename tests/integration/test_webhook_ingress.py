"""The webhook's checks, parsing and hand-off, in process on real Azurite and a local queue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messenger_channel.bus.local import LocalQueue
from messenger_channel.conversations.inbound import process_inbound
from messenger_channel.facebook.signature import sign
from messenger_channel.ingress.archive import ARCHIVE_CONTAINER, QUARANTINE_CONTAINER
from messenger_channel.ingress.counters import IngressCounters
from messenger_channel.ingress.replay import replay
from messenger_channel.ingress.webhook import WebhookIngress, build_ingress
from messenger_channel.provisioning.service import ChannelSetup
from messenger_channel.queue_messages import InboundEnvelope
from messenger_channel.services import Services
from simulator.client import SimulatorClient

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
APP_ID, APP_SECRET = "100000000000321", "ingress-test-secret-0123456789"
PAGE_ID = "100000000000432"


@dataclass
class Setup:
    ingress: WebhookIngress
    account_id: str
    queue: LocalQueue
    services: Services

    def post(self, body: bytes, signature: str | None = "sign") -> tuple[int, str]:
        header = sign(APP_SECRET, body) if signature == "sign" else signature
        answer = self.ingress.receive(self.account_id, header, body)
        return answer.status, answer.body

    def routed(self) -> list[bytes]:
        """Run the real router over every queued message; their bodies."""
        bodies = []
        while (queued := self.queue.receive("inbound")) is not None:
            process_inbound(self.services, queued.body)
            self.queue.complete(queued)
            bodies.append(queued.body)
        return bodies

    def drained(self) -> list[InboundEnvelope]:
        envelopes = []
        while (message := self.queue.receive("inbound")) is not None:
            envelope = InboundEnvelope.model_validate_json(message.body)
            # The queue message is addressed by what the envelope says of its event.
            assert message.message_id == envelope.event_id
            assert message.session_id == envelope.event().session_id
            envelopes.append(envelope)
            self.queue.complete(message)
        return envelopes


@pytest.fixture
def setup(services: Services, simulator_url: str) -> Iterator[Setup]:
    simulator = SimulatorClient(simulator_url)
    simulator.put_app(APP_ID, APP_SECRET)
    channel = ChannelSetup(services)
    account = channel.create_account("Ingress", APP_ID, APP_SECRET)
    token = simulator.put_page(PAGE_ID, "Ingress page", app_id=APP_ID,
                               account_id=account.id)["access_token"]
    page = channel.add_page(account.id, PAGE_ID, "Ingress page", token)
    assert page.provisioning_state == "Running"
    assert isinstance(services.queue, LocalQueue)
    yield Setup(build_ingress(services), account.id, services.queue, services)
    simulator.close()


def body_of(payload: object) -> bytes:
    """Serialised as Meta does: compact, non-ASCII escaped."""
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()


def message(mid: str, psid: str = "5551001", text: str = "hello",
            page: str = PAGE_ID) -> dict[str, Any]:
    return {"sender": {"id": psid}, "recipient": {"id": page}, "timestamp": 1764000000000,
            "message": {"mid": mid, "text": text}}


def page_payload(*events: dict[str, Any], page: str = PAGE_ID) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": page, "time": 1764000000000,
                                         "messaging": list(events)}]}


def test_verification_answers_the_challenge_only_with_the_token(setup: Setup) -> None:
    verify = ChannelSetup(setup.services).account(setup.account_id).verify_token
    good = setup.ingress.verify(setup.account_id, {"hub.mode": "subscribe",
                                                   "hub.verify_token": verify,
                                                   "hub.challenge": "1158201444"})
    assert (good.status, good.body, good.content_type) == (200, "1158201444", "text/plain")
    for params in ({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
                   {"hub.mode": "unsubscribe", "hub.verify_token": verify, "hub.challenge": "1"},
                   {}):
        assert setup.ingress.verify(setup.account_id, params).status == 403
    assert setup.ingress.verify("acc_unknown", {"hub.mode": "subscribe",
                                                "hub.verify_token": verify}).status == 403


def test_checks_come_in_order(setup: Setup) -> None:
    body = body_of(page_payload(message("m_1")))
    huge = b"x" * (setup.ingress.max_body_bytes + 1)
    assert setup.ingress.receive("acc_unknown", sign(APP_SECRET, body), body).status == 404
    assert setup.ingress.receive("../etc", None, body).status == 404
    assert setup.post(huge, signature=None)[0] == 413  # size before signature
    assert setup.post(body, signature=None)[0] == 403
    assert setup.post(body, signature="sha256=" + "0" * 64)[0] == 403
    assert setup.post(body, signature=sign("another-secret", body))[0] == 403
    assert setup.post(b"{not json")[0] == 400
    assert setup.drained() == []
    assert setup.post(body)[0] == 200
    assert len(setup.drained()) == 1


def test_unicode_is_verified_over_the_bytes_as_sent(setup: Setup) -> None:
    body = body_of(page_payload(message("m_uni", text="Olá ä 🎉")))
    assert b"\\u00e4" in body
    assert setup.post(body)[0] == 200
    [envelope] = setup.drained()
    event = envelope.event()
    assert event.message is not None and event.message.text == "Olá ä 🎉"
    resigned = json.dumps(json.loads(body), ensure_ascii=False).encode()
    assert setup.post(resigned, signature=sign(APP_SECRET, body))[0] == 403


def test_not_a_page_payload_is_quarantined_and_counted(setup: Setup) -> None:
    for payload in ({"object": "instagram", "entry": []}, [1, 2], {"hello": "world"}):
        assert setup.post(body_of(payload))[0] == 200
    assert setup.drained() == []
    counts = IngressCounters(setup.services.tables).of(setup.account_id)
    assert counts["quarantined"] == 3
    assert len(list(setup.services.blobs.list(QUARANTINE_CONTAINER, setup.account_id))) == 3


def test_batch_with_entries_events_and_standby_keeps_each_event(setup: Setup) -> None:
    payload = page_payload(message("m_a", "1"), message("m_b", "2"))
    payload["entry"].append({"id": PAGE_ID, "time": 1, "standby": [message("m_c", "3")]})
    payload["entry"].append({"id": PAGE_ID, "time": 1, "messaging": [{"odd": True}]})
    assert setup.post(body_of(payload))[0] == 200
    events = [e.event() for e in setup.drained()]
    assert [e.kind for e in events] == ["message", "message", "message", "unknown"]
    assert events[2].source == "standby"
    assert {e.session_id for e in events[:3]} == {f"{PAGE_ID}:1", f"{PAGE_ID}:2", f"{PAGE_ID}:3"}


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_every_documented_event_kind_is_enqueued(setup: Setup, fixture: str) -> None:
    payload = json.loads((FIXTURES / fixture).read_text())
    text = json.dumps(payload).replace('"PAGE_ID"', f'"{PAGE_ID}"')
    for entry in payload.get("entry", []):
        text = text.replace(f'"{entry.get("id")}"', f'"{PAGE_ID}"')
    assert setup.post(body_of(json.loads(text)))[0] == 200
    envelopes = setup.drained()
    assert envelopes, fixture
    for envelope in envelopes:
        event = envelope.event()
        assert (envelope.kind, envelope.event_id, envelope.page_id, envelope.source) == (
            event.kind, event.event_id, PAGE_ID, event.source)
        assert (envelope.customer_psid, envelope.customer_user_ref) == (
            event.customer_psid, event.customer_user_ref)
        assert event.kind != "unknown" and event.problem is None


def test_the_same_delivery_three_times_is_enqueued_once(setup: Setup) -> None:
    body = body_of(page_payload(message("m_dup")))
    for _ in range(3):
        assert setup.post(body)[0] == 200
    assert len(setup.drained()) == 1
    # Even after the first was processed, a retry inside the window adds nothing.
    assert setup.post(body)[0] == 200
    assert setup.drained() == []


def test_own_echoes_are_marked_and_others_kept(setup: Setup) -> None:
    def echo(mid: str, app_id: int) -> dict[str, Any]:
        return {"sender": {"id": PAGE_ID}, "recipient": {"id": "5551001"}, "timestamp": 1,
                "message": {"mid": mid, "is_echo": True, "app_id": app_id, "text": "hi"}}

    assert setup.post(body_of(page_payload(echo("m_own", int(APP_ID)),
                                           echo("m_inbox", 263902037430900))))[0] == 200
    own, inbox = setup.drained()
    assert (own.own_echo, inbox.own_echo) == (True, False)
    assert own.event().session_id == f"{PAGE_ID}:5551001"


def test_events_for_pages_not_served_are_counted_not_enqueued(setup: Setup) -> None:
    assert setup.post(body_of(page_payload(message("m_x", page="999"), page="999")))[0] == 200
    assert setup.drained() == []
    assert IngressCounters(setup.services.tables).of(setup.account_id)["unknown_page"] == 1


def test_the_envelope_carries_what_routing_needs_and_the_event_as_sent(setup: Setup) -> None:
    sent = message("m_env", psid="5551002", text="Grüße")
    before = setup.services.clock.now()
    assert setup.post(body_of(page_payload(sent)))[0] == 200
    [envelope] = setup.drained()
    assert (envelope.account_id, envelope.app_id, envelope.own_echo) == (
        setup.account_id, APP_ID, False)
    assert before <= envelope.received_at <= setup.services.clock.now()
    assert (envelope.kind, envelope.page_id, envelope.customer_psid, envelope.customer_user_ref,
            envelope.source) == ("message", PAGE_ID, "5551002", None, "messaging")
    assert envelope.raw == sent
    event = envelope.event()
    assert (event.kind, event.event_id, event.raw) == ("message", envelope.event_id, sent)


@pytest.mark.parametrize(("escaped", "text"), [
    ("cut \\ud83d", "cut \ufffd"),  # a lone surrogate: orjson refuses it, json reads it
    ("fine \\u00e4", "fine \u00e4"),
])
def test_bodies_orjson_refuses_are_still_read(setup: Setup, escaped: str, text: str) -> None:
    body = (f'{{"object":"page","entry":[{{"id":"{PAGE_ID}","messaging":[{{"sender":{{"id":'
            f'"5551003"}},"recipient":{{"id":"{PAGE_ID}"}},"timestamp":1e400,"message":'
            f'{{"mid":"m_odd_{len(escaped)}","text":"{escaped}","score":NaN}}}}]}}]}}').encode()
    assert setup.post(body)[0] == 200
    [envelope] = setup.drained()
    event = envelope.event()
    assert event.message is not None and event.message.text == text
    # Non-finite numbers are read as null, as the queue message carries them.
    assert (event.raw["timestamp"], event.message.model_extra) == (None, {"score": None})
    assert event.event_id == envelope.event_id


def test_json_nested_deeper_than_any_parser_goes_is_400_not_500(setup: Setup) -> None:
    assert setup.post(b"[" * 100_000 + b"]" * 100_000)[0] == 400


def test_replay_re_enqueues_with_the_webhooks_ids(setup: Setup) -> None:
    payload = page_payload(message("m_replay_1"), message("m_replay_2", psid="5551004"))
    payload["entry"].append({"id": "999", "messaging": [message("m_replay_x", page="999")]})
    assert setup.post(body_of(payload))[0] == 200
    assert len(setup.routed()) == 2
    now = setup.services.clock.now()
    replayed = replay(setup.ingress, setup.account_id, now - timedelta(hours=1),
                      now + timedelta(minutes=1))
    assert replayed == 2
    # Same message ids: inside the window the queue drops them as duplicates.
    assert setup.drained() == []


def test_queue_down_answers_503_and_meta_retries(setup: Setup) -> None:
    setup.queue.close()
    assert setup.post(body_of(page_payload(message("m_down"))))[0] == 503


def test_the_router_archives_each_event_before_completing_it(setup: Setup) -> None:
    assert setup.post(body_of(page_payload(message("m_arch"))))[0] == 200
    assert list(setup.services.blobs.list(ARCHIVE_CONTAINER, setup.account_id)) == []
    [body] = setup.routed()
    [blob] = list(setup.services.blobs.list(ARCHIVE_CONTAINER, setup.account_id))
    assert setup.services.blobs.download(ARCHIVE_CONTAINER, blob.name) == body


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=st.binary(max_size=2048), signature=st.one_of(st.none(), st.text(max_size=80)))
def test_any_wrong_signature_is_403_and_enqueues_nothing(setup: Setup, body: bytes,
                                                         signature: str | None) -> None:
    if signature == sign(APP_SECRET, body):
        return
    assert setup.post(body, signature=signature)[0] == 403
    assert setup.queue.counts("inbound").active == 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(payload=st.one_of(json_values, st.builds(lambda e: {"object": "page", "entry": e},
                                                st.lists(json_values, max_size=3))))
def test_any_signed_body_gets_no_5xx(setup: Setup, payload: object) -> None:
    status, _ = setup.post(body_of(payload))
    assert status < 500


def test_a_page_added_after_a_miss_receives_at_once(setup: Setup, simulator_url: str) -> None:
    late_page = "100000000000433"
    assert setup.post(body_of(page_payload(message("m_early", page=late_page),
                                           page=late_page)))[0] == 200
    assert setup.drained() == []
    with SimulatorClient(simulator_url) as simulator:
        token = simulator.put_page(late_page, "Late page", app_id=APP_ID,
                                   account_id=setup.account_id)["access_token"]
    added = ChannelSetup(setup.services).add_page(setup.account_id, late_page, "Late", token)
    assert added.provisioning_state == "Running"
    assert setup.post(body_of(page_payload(message("m_late", page=late_page),
                                           page=late_page)))[0] == 200
    assert len(setup.drained()) == 1
