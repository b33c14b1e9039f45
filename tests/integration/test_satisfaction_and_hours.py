"""Satisfaction and business hours through the router on Azurite: the rating survey at close
(inside the window only), taps and typed answers after the close stored as ``csat`` without a
new conversation, the comment; ``out_of_hours`` once per conversation, ``time.open`` in the
rules at the message's time, and ``operating_hours`` over the management API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from messenger_channel.conversations.closing import agent_closes
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.inbound import handle_inbound
from messenger_channel.conversations.indexes import ConversationIndexes
from messenger_channel.conversations.models import Conversation
from messenger_channel.conversations.timers import run_auto_close
from messenger_channel.queue_messages import OutboundMessage
from messenger_channel.services import Services
from messenger_channel.workforce.agents import Agents, get_agent
from simulator.client import SimulatorClient
from tests.support.engine import Engine, new_id
from tests.support.keys import MANAGEMENT_KEY

RATING = {"kind": "rating", "question": "How did we do?"}
WITH_COMMENT = {**RATING, "comment_prompt": "Anything you would like to tell us?"}
ALWAYS_OPEN = {"time_zone": "UTC", "weekly": {day: [["00:00", "24:00"]] for day in
                                             ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
NEVER_OPEN = {"time_zone": "Europe/Lisbon", "weekly": {}}
WAITING_TEXTS = {"out_of_hours": {"en-US": "We are closed; we answer from 9:00."},
                 "agent_unavailable": {"en-US": "All agents are busy."},
                 "position_in_queue": {"en-US": "You are number {QueuePosition}."}}


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        yield Engine(services, simulator)


def another_page(engine: Engine) -> Engine:
    return Engine(engine.services, engine.simulator)


def served(engine: Engine, psid: str, *, sent_at: datetime | None = None) -> tuple[str, str]:
    """A conversation an agent accepted: (conversation id, agent id)."""
    engine.agent(f"Ann {psid[-4:]}")
    timestamp = None if sent_at is None else int(sent_at.timestamp() * 1000)
    engine.say(psid, "I need help", **({} if timestamp is None else {"timestamp": timestamp}))
    conversation = engine.conversation_of(psid)
    assert conversation.state == "offered"
    agent_id = conversation.offered_to[0]
    agent = get_agent(engine.services.tables, agent_id)
    assert agent is not None
    Distributor(engine.services).accept(conversation.id, agent_id, agent)
    return conversation.id, agent_id


def closed(engine: Engine, psid: str) -> str:
    conversation_id, agent_id = served(engine, psid)
    agent_closes(engine.services, conversation_id, agent_id)
    return conversation_id


def sent(engine: Engine, trigger: str) -> list[OutboundMessage]:
    return [m for m in engine.outbound() if m.trigger == trigger]


def conversation(engine: Engine, conversation_id: str) -> Conversation:
    found = engine.tables.conversation(conversation_id)
    assert found is not None
    return found


def answer(engine: Engine, conversation_id: str) -> tuple[int | None, str | None] | None:
    """(score, comment) of the conversation's csat."""
    csat = conversation(engine, conversation_id).csat
    return None if csat is None else (csat.score, csat.comment)


def assert_no_new_conversation(engine: Engine, psid: str, conversation_id: str) -> None:
    contact = engine.tables.contacts.get(engine.page_id, psid)
    assert contact is not None
    assert (contact.open_conversation_id, contact.last_conversation_id) == (None, conversation_id)
    rows = ConversationIndexes(engine.services.tables).of_customer(engine.page_id, psid)
    assert [row.conversation_id for row in rows] == [conversation_id]


# ----------------------------------------------------------------------------- the survey


def test_the_rating_goes_out_as_quick_replies_naming_the_conversation(engine: Engine) -> None:
    engine.workstream(post_conversation_survey=RATING)
    psid = new_id()
    conversation_id = closed(engine, psid)
    [survey] = sent(engine, "post_conversation_survey")
    assert survey.text == "How did we do?" and survey.conversation_id == conversation_id
    assert [(q.title, q.payload) for q in survey.quick_replies] == [
        (str(n), f"csat:{conversation_id}:{n}") for n in range(1, 6)]
    stored = [m for m in engine.tables.history(conversation_id) if m.trigger ==
              "post_conversation_survey"]
    assert [len(m.quick_replies) for m in stored] == [5]


def test_a_tap_after_the_close_is_stored_and_opens_no_conversation(engine: Engine) -> None:
    engine.workstream(post_conversation_survey=RATING)
    psid = new_id()
    conversation_id = closed(engine, psid)
    assert conversation(engine, conversation_id).state == "closed"
    engine.outbound()
    tap = engine.say(psid, "4", quick_reply=f"csat:{conversation_id}:4")
    rated = conversation(engine, conversation_id)
    assert rated.csat is not None and (rated.csat.score, rated.csat.comment) == (4, None)
    assert rated.state == "closed"
    assert_no_new_conversation(engine, psid, conversation_id)
    # The index rows carry the rating (the reports read them).
    [row] = ConversationIndexes(engine.services.tables).of_customer(engine.page_id, psid)
    assert row.csat == rated.csat
    # The tap is in the rated conversation's transcript; nothing is sent back.
    taps = [m for m in engine.tables.history(conversation_id) if m.author == "customer"]
    assert [(m.text, m.payload) for m in taps][-1] == ("4", f"csat:{conversation_id}:4")
    assert engine.outbound() == []
    # Redelivered: nothing twice. A second tap changes the score.
    handle_inbound(engine.services, tap)
    assert [m.text for m in engine.tables.history(conversation_id)
            if m.author == "customer"] == ["I need help", "4"]
    assert conversation(engine, conversation_id).csat == rated.csat
    engine.say(psid, "5", quick_reply=f"csat:{conversation_id}:5")
    assert answer(engine, conversation_id) == (5, None)
    assert_no_new_conversation(engine, psid, conversation_id)
    # The customer's next ordinary message opens a conversation as always.
    engine.say(psid, "Hello again")
    assert engine.conversation_of(psid).id != conversation_id


def test_a_late_rating_still_counts(engine: Engine) -> None:
    engine.workstream(post_conversation_survey=RATING)
    psid = new_id()
    conversation_id = closed(engine, psid)
    engine.say(psid, "Another question")  # a new conversation opens meanwhile
    second = engine.conversation_of(psid)
    assert second.id != conversation_id and second.state in ("waiting", "offered")
    engine.services.clock.set_offset(timedelta(hours=30).total_seconds())
    engine.say(psid, "2", quick_reply=f"csat:{conversation_id}:2")
    assert answer(engine, conversation_id) == (2, None)
    assert engine.conversation_of(psid).id == second.id  # still the open one
    assert conversation(engine, second.id).csat is None


def test_a_payload_naming_another_customers_conversation_is_an_ordinary_message(
        engine: Engine) -> None:
    engine.workstream(post_conversation_survey=RATING)
    someone, intruder = new_id(), new_id()
    conversation_id = closed(engine, someone)
    engine.say(intruder, "1", quick_reply=f"csat:{conversation_id}:1")
    assert conversation(engine, conversation_id).csat is None
    opened = engine.conversation_of(intruder)
    assert opened.id != conversation_id and opened.first_payload == f"csat:{conversation_id}:1"
    engine.say(intruder, "5", quick_reply="csat:cv_nowhere:5")
    assert [m.text for m in engine.history(intruder)] == ["1", "5"]


def test_the_comment_after_the_rating(engine: Engine) -> None:
    engine.workstream(post_conversation_survey=WITH_COMMENT,
                      wrap_up={"minutes": 5, "block_capacity": True})
    psid = new_id()
    conversation_id = closed(engine, psid)
    assert conversation(engine, conversation_id).state == "wrap_up"
    assert len(sent(engine, "post_conversation_survey")) == 1
    engine.say(psid, "5", quick_reply=f"csat:{conversation_id}:5")
    [prompt] = sent(engine, "csat_comment_prompt")
    assert prompt.text == "Anything you would like to tell us?"
    assert prompt.conversation_id == conversation_id
    text = "The agent was quick and kind, but I had to wait 20 minutes first."
    comment = engine.say(psid, text)
    rated = conversation(engine, conversation_id)
    assert rated.csat is not None and (rated.csat.score, rated.csat.comment) == (5, text)
    assert_no_new_conversation(engine, psid, conversation_id)
    assert engine.tables.history(conversation_id)[-1].text == text
    handle_inbound(engine.services, comment)  # redelivered
    assert_no_new_conversation(engine, psid, conversation_id)
    assert engine.outbound() == []
    # Only one comment: the next message is a new conversation.
    engine.say(psid, "One more thing")
    assert engine.conversation_of(psid).id != conversation_id
    assert answer(engine, conversation_id) == (5, text)


def test_a_redelivered_typed_rating_is_not_taken_for_the_comment(engine: Engine) -> None:
    engine.workstream(post_conversation_survey=WITH_COMMENT)
    psid = new_id()
    conversation_id = closed(engine, psid)
    engine.outbound()
    rating = engine.say(psid, "4/5")
    assert len(sent(engine, "csat_comment_prompt")) == 1
    handle_inbound(engine.services, rating)  # the queue delivers it again
    assert answer(engine, conversation_id) == (4, None)
    assert engine.outbound() == []
    engine.say(psid, "Friendly")
    assert answer(engine, conversation_id) == (4, "Friendly")
    assert_no_new_conversation(engine, psid, conversation_id)


def test_a_customer_who_moved_on_is_no_longer_asked(engine: Engine) -> None:
    engine.workstream(post_conversation_survey=RATING, auto_close_after_minutes=5)
    psid = new_id()
    conversation_id, agent_id = served(engine, psid)
    agent_closes(engine.services, conversation_id, agent_id)
    Agents(engine.services.tables, engine.services.clock).update(agent_id,
                                                                {"presence": "offline"})
    engine.say(psid, "I forgot to ask about the invoice")  # not an answer: a new request
    second = engine.conversation_of(psid)
    assert second.id != conversation_id
    # Nobody takes it; it closes without a survey (no agent held it).
    engine.services.clock.set_offset(6 * 60)
    run_auto_close(engine.services)
    assert conversation(engine, second.id).state == "closed"
    engine.say(psid, "5")
    assert engine.conversation_of(psid).id not in (conversation_id, second.id)
    assert answer(engine, conversation_id) is None


def test_the_comment_window_closes_after_an_hour(engine: Engine) -> None:
    engine.workstream(post_conversation_survey=WITH_COMMENT)
    psid = new_id()
    conversation_id = closed(engine, psid)
    engine.say(psid, "3", quick_reply=f"csat:{conversation_id}:3")
    engine.services.clock.set_offset(timedelta(minutes=61).total_seconds())
    engine.say(psid, "Hello, my parcel never arrived")
    assert engine.conversation_of(psid).id != conversation_id
    assert answer(engine, conversation_id) == (3, None)


def test_typed_answers(engine: Engine) -> None:
    engine.workstream(post_conversation_survey=RATING)
    stars, seven, great, question = new_id(), new_id(), new_id(), new_id()
    ids = {psid: closed(engine, psid) for psid in (stars, seven, great, question)}
    engine.say(stars, "⭐⭐⭐⭐")
    engine.say(seven, "7")
    engine.say(great, "great")
    engine.say(question, "Where is my order?")
    scores = {psid: answer(engine, ids[psid]) for psid in ids}
    assert scores[stars] == (4, None)
    # Outside the scale: kept as the comment, without a score.
    assert scores[seven] == (None, "7")
    assert scores[great] == (None, "great")
    for psid in (stars, seven, great):
        assert_no_new_conversation(engine, psid, ids[psid])
    # Not an answer: routed as always, and the survey no longer waits for a typed answer.
    assert scores[question] is None
    opened = engine.conversation_of(question)
    assert opened.id != ids[question] and opened.first_text == "Where is my order?"
    # A typed "5" now belongs to the open conversation; a tap on the survey still counts.
    engine.say(question, "5")
    engine.say(question, "1", quick_reply=f"csat:{ids[question]}:1")
    assert answer(engine, ids[question]) == (1, None)
    assert [m.text for m in engine.history(question)] == ["Where is my order?", "5"]


def test_a_typed_answer_after_the_answer_window_is_a_new_conversation(engine: Engine) -> None:
    engine.workstream(post_conversation_survey=RATING)
    psid = new_id()
    conversation_id = closed(engine, psid)
    engine.services.clock.set_offset(timedelta(minutes=61).total_seconds())
    engine.say(psid, "5")
    assert engine.conversation_of(psid).id != conversation_id
    assert conversation(engine, conversation_id).csat is None


def test_no_survey_outside_the_messaging_window(engine: Engine) -> None:
    engine.workstream(post_conversation_survey=RATING)
    psid = new_id()
    # The customer's last message is 25 hours old when the agent closes.
    conversation_id, agent_id = served(
        engine, psid, sent_at=engine.at() - timedelta(hours=25))
    agent_closes(engine.services, conversation_id, agent_id)
    assert sent(engine, "post_conversation_survey") == []
    assert not [m for m in engine.tables.history(conversation_id)
                if m.trigger == "post_conversation_survey"]


def test_the_link_form_as_stored_before_still_goes_out(engine: Engine) -> None:
    engine.workstream(post_conversation_survey={"message": "Rate us:",
                                                "url": "https://survey.example/s"})
    closed(engine, new_id())
    [survey] = sent(engine, "post_conversation_survey")
    assert survey.text == "Rate us: https://survey.example/s" and survey.quick_replies == []


def test_auto_close_surveys_inside_the_window_only(engine: Engine) -> None:
    engine.workstream(post_conversation_survey=RATING, auto_close_after_minutes=5)
    inside, outside = new_id(), new_id()
    kept, _ = served(engine, inside)
    late, _ = served(engine, outside, sent_at=engine.at() - timedelta(hours=24, minutes=-4))
    engine.outbound()
    engine.services.clock.set_offset(6 * 60)
    assert run_auto_close(engine.services) == 2
    surveyed = {m.conversation_id for m in sent(engine, "post_conversation_survey")}
    assert surveyed == {kept}
    assert late not in surveyed


# ---------------------------------------------------------------------------- business hours


def test_out_of_hours_once_per_conversation(engine: Engine) -> None:
    engine.workstream(operating_hours=NEVER_OPEN, automated_messages=WAITING_TEXTS)
    first, second = new_id(), new_id()
    engine.say(first, "Hello?")
    engine.say(first, "Anyone there?")
    engine.say(second, "Hi")
    found = [(m.psid, m.trigger) for m in engine.outbound()]
    assert sorted(found) == sorted([(first, "out_of_hours"), (first, "position_in_queue"),
                                    (second, "out_of_hours"), (second, "position_in_queue")])
    assert engine.conversation_of(first).state == "waiting"
    assert engine.conversation_of(first).queue_id == engine.queue_id  # queued all the same


def test_in_hours_the_usual_message(engine: Engine) -> None:
    engine.workstream(operating_hours=ALWAYS_OPEN, automated_messages=WAITING_TEXTS)
    engine.say(new_id())
    assert sorted(m.trigger or "" for m in engine.outbound()) == [
        "agent_unavailable", "position_in_queue"]


def test_out_of_hours_an_available_agent_is_still_offered(engine: Engine) -> None:
    engine.workstream(operating_hours=NEVER_OPEN, automated_messages=WAITING_TEXTS)
    agent_id = engine.agent()[0]
    psid = new_id()
    engine.say(psid)
    assert engine.conversation_of(psid).offered_to == [agent_id]
    assert engine.outbound() == []


def test_out_of_hours_without_its_text_falls_back_to_agent_unavailable(engine: Engine) -> None:
    texts = {key: value for key, value in WAITING_TEXTS.items() if key != "out_of_hours"}
    engine.workstream(operating_hours=NEVER_OPEN, automated_messages=texts)
    engine.say(new_id())
    assert sorted(m.trigger or "" for m in engine.outbound()) == [
        "agent_unavailable", "position_in_queue"]


def test_time_open_routes_at_the_time_of_the_message(engine: Engine) -> None:
    night = engine.queue("Night")
    yesterday = engine.at() - timedelta(days=1)
    hours = {**ALWAYS_OPEN, "holidays": [yesterday.astimezone(UTC).date().isoformat()]}
    engine.workstream(operating_hours=hours, routing_rules=[{"name": "hours", "rules": [
        {"when": {"field": "time.open", "op": "eq", "value": False}, "queue_id": night}]}])
    now, then = new_id(), new_id()
    engine.say(now, "Hi")
    engine.say(then, "Hi", timestamp=int(yesterday.timestamp() * 1000))
    assert engine.conversation_of(now).queue_id == engine.queue_id
    assert engine.conversation_of(then).queue_id == night


def test_routing_reads_time_in_the_hours_time_zone(engine: Engine) -> None:
    # 23:30 UTC on a Sunday is already Monday in Tokyo.
    sunday_night = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    monday = engine.queue("Monday")
    engine.workstream(
        time_zone="Asia/Tokyo", operating_hours={**ALWAYS_OPEN, "time_zone": "Asia/Tokyo"},
        routing_rules=[{"name": "days", "rules": [
            {"when": {"field": "time.weekday", "op": "eq", "value": 1}, "queue_id": monday}]}])
    psid = new_id()
    engine.say(psid, "Hi", timestamp=int(sunday_night.timestamp() * 1000))
    assert engine.conversation_of(psid).queue_id == monday


# ------------------------------------------------------------------------ management API


def manage(api: TestClient, method: str, path: str, body: Any = None) -> Any:
    answer = api.request(method, f"/api/manage{path}", json=body,
                         headers={"Authorization": f"Bearer {MANAGEMENT_KEY}"})
    return answer.status_code, answer.json()


def test_operating_hours_over_the_api(engine: Engine, api: TestClient) -> None:
    engine.connect_page()
    queue = engine.queue()
    status, created = manage(api, "POST", "/workstreams", {
        "name": "Support", "page_id": engine.page_id, "fallback_queue_id": queue,
        "operating_hours": {"time_zone": "Europe/Lisbon",
                            "weekly": {"mon": [["09:00", "18:00"]]},
                            "holidays": ["2026-12-25"]},
        "post_conversation_survey": WITH_COMMENT})
    assert status == 201, created
    assert created["time_zone"] == "Europe/Lisbon"  # one time zone
    assert created["operating_hours"]["weekly"]["tue"] == []
    assert created["post_conversation_survey"] == {**WITH_COMMENT, "scale": 5}
    path = f"/workstreams/{created['id']}"
    status, moved = manage(api, "PATCH", path, {"time_zone": "America/New_York"})
    assert status == 200 and moved["operating_hours"]["time_zone"] == "America/New_York"
    status, changed = manage(api, "PATCH", path, {"operating_hours": NEVER_OPEN})
    assert status == 200 and changed["time_zone"] == "Europe/Lisbon"
    status, refused = manage(api, "PATCH", path, {"operating_hours": NEVER_OPEN,
                                                  "time_zone": "UTC"})
    assert status == 422 and [f["field"] for f in refused["fields"]] == ["time_zone"]
    status, refused = manage(api, "PATCH", path, {"operating_hours": {
        "time_zone": "UTC", "weekly": {"fri": [["18:00", "09:00"]]}}})
    assert status == 422
    assert [f["field"] for f in refused["fields"]] == ["operating_hours.weekly.fri[0]"]
    status, refused = manage(api, "PATCH", path, {"post_conversation_survey": {
        "kind": "rating"}})
    assert status == 422
    assert [f["field"] for f in refused["fields"]] == ["post_conversation_survey.question"]
    status, cleared = manage(api, "PATCH", path, {"operating_hours": None})
    assert status == 200 and cleared["operating_hours"] is None
    assert cleared["time_zone"] == "Europe/Lisbon"
