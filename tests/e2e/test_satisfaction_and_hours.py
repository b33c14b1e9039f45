"""Satisfaction and business hours end to end: the devhost, the Messenger simulator and an
agent over HTTP. The agent closes; the rating question reaches Messenger as quick replies;
the customer taps one and writes a comment through the simulator (signed webhooks); both land
on the closed conversation, and no conversation opens. Outside the hours the customer hears
``out_of_hours``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from messenger_channel.conversations.models import Conversation, ConversationTables
from messenger_channel.storage.tables import TableStore
from tests.e2e.test_channel_setup import add_page, new_account, new_page_token
from tests.support.eventually import eventually
from tests.support.product import Product, new_id

QUESTION = "How did we do today?"
PROMPT = "Thanks! Anything you would like to tell us?"
CLOSED_TEXT = "We are closed now; we answer from 9:00 (Lisbon time)."


def _running(product: Product, *functions: str) -> Callable[[], object]:
    return lambda: [product.run_function(name) for name in functions]


def _created(answer: httpx.Response) -> Any:
    assert answer.status_code == 201, answer.text
    return answer.json()


@pytest.fixture
def tables(product: Product) -> Iterator[ConversationTables]:
    with TableStore.from_connection_string(product.storage_connection_string) as store:
        yield ConversationTables(store)


def _page(product: Product) -> tuple[str, str]:
    account = new_account(product)
    page_id, token = new_page_token(product, account)
    assert add_page(product, account, page_id, token).json()["provisioning_state"] == "Running"
    return account.id, page_id


def test_rating_and_comment_after_the_close(product: Product,
                                            tables: ConversationTables) -> None:
    account_id, page_id = _page(product)
    queue = _created(product.manage.post("/queues", json={"name": f"Support {page_id}"}))
    agent = _created(product.manage.post("/agents", json={
        "name": "Ann", "queue_ids": [queue["id"]], "presence": "available"}))
    _created(product.manage.post("/workstreams", json={
        "name": "Support", "page_id": page_id, "fallback_queue_id": queue["id"],
        "post_conversation_survey": {"kind": "rating", "question": QUESTION,
                                     "comment_prompt": PROMPT}}))
    psid = new_id()
    product.simulator.put_user(psid, page_id, first_name="Lea", last_name="Roy")

    def say(text: str, **options: Any) -> None:
        said = product.simulator.say(account_id, page_id, psid, text, **options)
        assert said["ok"], said

    def sent_with(text: str) -> dict[str, Any]:
        found = eventually(
            lambda: [s for s in product.simulator.sent(page_id=page_id, psid=psid)
                     if s["message"].get("text") == text],
            nudge=_running(product, "sender"), interval=0.1, what=f"{text!r} on Messenger")
        return dict(found[0])

    say("My shoes are too small")
    with httpx.Client(base_url=f"{product.devhost_url}/api/agent", timeout=30,
                      headers={"Authorization": f"Bearer {agent['api_key']}"}) as ann:
        [offered] = eventually(lambda: ann.get("/conversations").json()["items"],
                               nudge=_running(product, "router"), interval=0.1,
                               what="the offer to Ann")
        conversation_id = offered["id"]
        assert ann.post(f"/conversations/{conversation_id}/accept").status_code == 200
        closed = ann.post(f"/conversations/{conversation_id}/close")
        assert closed.status_code == 200 and closed.json()["state"] == "closed", closed.text

        survey = sent_with(QUESTION)
        buttons = survey["message"]["quick_replies"]
        assert [(b["title"], b["payload"]) for b in buttons] == [
            (str(n), f"csat:{conversation_id}:{n}") for n in range(1, 6)]

        # The customer taps "4" on Messenger.
        say("4", quick_reply_payload=buttons[3]["payload"])

        def rated() -> Conversation | None:
            found = tables.conversation(conversation_id)
            return found if found is not None and found.csat is not None else None

        conversation = eventually(rated, nudge=_running(product, "router"), interval=0.1,
                                  what="the rating stored")
        assert conversation is not None and conversation.csat is not None
        assert conversation.csat.score == 4
        sent_with(PROMPT)
        say("Ann was great, the exchange took two minutes.")

        def comment() -> str | None:
            found = rated()
            return None if found is None or found.csat is None else found.csat.comment

        commented = eventually(comment, nudge=_running(product, "router"), interval=0.1,
                               what="the comment stored")
        assert commented == "Ann was great, the exchange took two minutes."

        # Neither answer opened a conversation: nothing new for Ann, the contact holds none.
        contact = tables.contacts.get(page_id, psid)
        assert contact is not None and contact.open_conversation_id is None
        assert contact.last_conversation_id == conversation_id
        assert ann.get("/conversations").json()["items"] == []
        final = tables.conversation(conversation_id)
        assert final is not None and final.state == "closed"
        texts = [m.text for m in tables.history(conversation_id) if m.author == "customer"]
        assert texts == ["My shoes are too small", "4",
                         "Ann was great, the exchange took two minutes."]


def test_out_of_hours_is_said_once(product: Product) -> None:
    account_id, page_id = _page(product)
    queue = _created(product.manage.post("/queues", json={"name": f"Night {page_id}"}))
    _created(product.manage.post("/workstreams", json={
        "name": "Support", "page_id": page_id, "fallback_queue_id": queue["id"],
        "operating_hours": {"time_zone": "Europe/Lisbon", "weekly": {}},
        "automated_messages": {"out_of_hours": {"en-US": CLOSED_TEXT}}}))
    psid = new_id()
    for text in ("Hello?", "Is anyone there?"):
        said = product.simulator.say(account_id, page_id, psid, text)
        assert said["ok"], said

    def closed_texts() -> list[dict[str, Any]]:
        return [s for s in product.simulator.sent(page_id=page_id, psid=psid)
                if s["message"].get("text") == CLOSED_TEXT]

    eventually(closed_texts, nudge=_running(product, "router", "sender"), interval=0.1,
               what="out_of_hours on Messenger")
    product.run_function("router")
    product.run_function("sender")
    assert len(closed_texts()) == 1
