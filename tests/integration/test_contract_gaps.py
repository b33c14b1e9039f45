"""Contract gaps a new user found (issue 20, points 4 and 6): customers' files served so that
nothing in them runs, attachments that carry their URL, and the smaller promises of API.md."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from messenger_channel.conversations.attachments import CONTAINER
from messenger_channel.conversations.timers import run_auto_close
from messenger_channel.provisioning.service import ChannelSetup
from messenger_channel.provisioning.token_check import run_token_check
from messenger_channel.services import Services
from simulator.client import SimulatorClient
from simulator.testing import webhook_receiver
from tests.support.engine import Engine, new_id
from tests.support.keys import MANAGEMENT_KEY


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        yield Engine(services, simulator)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def customer_files(engine: Engine, simulator_url: str, psid: str, *names: str) -> None:
    engine.say(psid, None, attachments=[
        {"type": "file", "payload": {"url": f"{simulator_url}/_sim/files/{name}"}}
        for name in names])


def attachments_shown(api: TestClient, key: str, conversation_id: str) -> list[dict[str, Any]]:
    answer = api.get(f"/api/agent/conversations/{conversation_id}/messages", headers=bearer(key))
    assert answer.status_code == 200, answer.text
    return [a for m in answer.json()["items"] for a in m["attachments"]]


def test_a_customers_html_and_svg_download_as_inert_files(
        engine: Engine, api: TestClient, simulator_url: str) -> None:
    engine.workstream()
    _, key = engine.agent("Ann")
    psid = new_id()
    customer_files(engine, simulator_url, psid, "page.html", "drawing.svg", "image.png")
    conversation_id = engine.conversation_of(psid).id
    html, svg, png = attachments_shown(api, key, conversation_id)
    for hostile in (html, svg):
        # The URL is the attachment's own: no undocumented query to guess.
        answer = api.get(hostile["url"], headers=bearer(key))
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/octet-stream"
        assert answer.headers["content-disposition"].startswith("attachment;")
        assert answer.headers["content-security-policy"] == "sandbox"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert b"customer-script" in answer.content  # the bytes themselves, unchanged
        # Served straight from Blob Storage (a SAS URL), the blob says the same.
        stored = engine.services.blobs.properties(CONTAINER,
                                                  f"{conversation_id}/{hostile['id']}")
        assert stored.content_type == "application/octet-stream"
        assert (stored.content_disposition or "").startswith("attachment;")
    picture = api.get(png["url"], headers=bearer(key))
    assert picture.headers["content-type"] == "image/png"
    assert picture.headers["content-security-policy"] == "sandbox"
    # What the customer's file claimed to be is still shown to the agent.
    assert (html["content_type"], svg["content_type"]) == ("text/html", "image/svg+xml")


def test_the_management_download_of_an_exported_file_is_inert(
        engine: Engine, api: TestClient, simulator_url: str) -> None:
    engine.workstream()
    psid = new_id()
    customer_files(engine, simulator_url, psid, "drawing.svg")
    conversation_id = engine.conversation_of(psid).id
    [message] = engine.history(psid)
    # A blob stored before the content settings were set keeps the customer's type.
    engine.services.blobs.upload(CONTAINER, f"{conversation_id}/{message.attachments[0].id}",
                                 b"<svg onload='x()'/>", "image/svg+xml")
    answer = api.get(f"/api/manage/attachments/{conversation_id}/{message.attachments[0].id}",
                     headers=bearer(MANAGEMENT_KEY))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["content-security-policy"] == "sandbox"


def test_an_agents_file_carries_its_url_and_is_served_as_a_download(
        engine: Engine, api: TestClient) -> None:
    engine.workstream()
    _, key = engine.agent("Ann")
    psid = new_id()
    engine.say(psid, "Hello")
    conversation_id = engine.conversation_of(psid).id
    assert api.post(f"/api/agent/conversations/{conversation_id}/accept",
                    headers=bearer(key)).status_code == 200
    uploaded = api.post("/api/agent/attachments", headers=bearer(key),
                        files={"file": ("notes.txt", b"<script>x()</script>", "text/html")})
    assert uploaded.status_code == 201, uploaded.text
    sent = api.post(f"/api/agent/conversations/{conversation_id}/messages", headers=bearer(key),
                    json={"attachment_ids": [uploaded.json()["id"]]})
    assert sent.status_code == 202, sent.text
    [attachment] = attachments_shown(api, key, conversation_id)
    assert attachment["url"] == f"/api/agent/attachments/{uploaded.json()['id']}"
    answer = api.get(attachment["url"], headers=bearer(key))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["content-security-policy"] == "sandbox"


# -- point 6: the smaller contract gaps ------------------------------------------------------

HOUR = 3600


def accepted(engine: Engine, api: TestClient, key: str, psid: str, text: str = "Hello") -> str:
    engine.say(psid, text)
    conversation_id = engine.conversation_of(psid).id
    answer = api.post(f"/api/agent/conversations/{conversation_id}/accept", headers=bearer(key))
    assert answer.status_code == 200, answer.text
    return conversation_id


def test_an_offer_nobody_accepts_is_auto_closed(engine: Engine, api: TestClient) -> None:
    engine.workstream(auto_close_after_minutes=60, automated_messages={
        "session_ended": {"en-US": "We closed this chat."}})
    _, key = engine.agent("Ann")
    psid = new_id()
    engine.say(psid)
    assert engine.conversation_of(psid).state == "offered"
    assert api.get("/api/agent/me", headers=bearer(key)).json()["capacity_used"] == 10
    engine.services.clock.set_offset(59 * 60)
    assert run_auto_close(engine.services) == 0
    engine.services.clock.set_offset(60 * 60 + 1)
    assert run_auto_close(engine.services) == 1
    closed = engine.conversation_of(psid)
    assert (closed.state, closed.offered_to) == ("closed", [])
    assert [m.text for m in engine.history(psid) if m.trigger == "session_ended"] == [
        "We closed this chat."]
    assert api.get("/api/agent/me", headers=bearer(key)).json()["capacity_used"] == 0


def test_closing_after_the_window_says_what_could_not_be_sent(
        engine: Engine, api: TestClient) -> None:
    engine.workstream(automated_messages={"agent_ended": {"en-US": "Goodbye!"}},
                      post_conversation_survey={"message": "Rate us", "url": "https://x.test"})
    _, key = engine.agent("Ann")
    inside = accepted(engine, api, key, new_id())
    answer = api.post(f"/api/agent/conversations/{inside}/close", headers=bearer(key))
    assert answer.status_code == 200, answer.text
    assert answer.json()["not_sent"] == []
    late = accepted(engine, api, key, new_id())
    engine.services.clock.set_offset(25 * HOUR)
    answer = api.post(f"/api/agent/conversations/{late}/close", headers=bearer(key))
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "closed"
    not_sent = answer.json()["not_sent"]
    assert [(n["trigger"], n["reason"]) for n in not_sent] == [
        ("agent_ended", "outside_messaging_window"),
        ("post_conversation_survey", "outside_messaging_window")]
    assert "24 hours after the customer's last message" in not_sent[0]["message"]


def reply_refusal(api: TestClient, key: str, conversation_id: str) -> str:
    answer = api.post(f"/api/agent/conversations/{conversation_id}/messages",
                      headers=bearer(key), json={"text": "Still there?"})
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"] == "outside_messaging_window"
    message: str = answer.json()["message"]
    assert ".." not in message and message.endswith(".")
    return message


def test_the_window_refusal_explains_the_human_agent_setting_and_how_to_reopen(
        engine: Engine, api: TestClient) -> None:
    workstream_id = engine.workstream()
    _, key = engine.agent("Ann")
    conversation_id = accepted(engine, api, key, new_id())
    engine.services.clock.set_offset(25 * HOUR)
    tag_off = reply_refusal(api, key, conversation_id)
    assert "human_agent_tag" in tag_off and "HUMAN_AGENT" in tag_off and "7 days" in tag_off
    assert "A new message from the customer reopens the window." in tag_off
    # Switched on mid-conversation: it applies once the conversation is closed and reopened.
    patched = api.patch(f"/api/manage/workstreams/{workstream_id}",
                        headers=bearer(MANAGEMENT_KEY), json={"human_agent_tag": True})
    assert patched.status_code == 200, patched.text
    switched_on = reply_refusal(api, key, conversation_id)
    assert "switched on after this conversation opened" in switched_on
    assert "closed and reopened" in switched_on
    engine.services.clock.set_offset(8 * 24 * HOUR)
    too_late = reply_refusal(api, key, conversation_id)
    assert "more than 7 days" in too_late


def test_conversation_open_does_not_reveal_another_agents_conversation(
        engine: Engine, api: TestClient) -> None:
    engine.workstream()
    _, ann = engine.agent("Ann")
    _, bob = engine.agent("Bob", presence="offline")
    psid = new_id()
    conversation_id = accepted(engine, api, ann, psid)
    answer = api.post("/api/agent/conversations", headers=bearer(bob),
                      json={"page_id": engine.page_id, "psid": psid})
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"] == "conversation_open"
    assert conversation_id not in answer.text


def test_the_contacts_list_pages_and_answers_what_was_added_since(
        engine: Engine, api: TestClient) -> None:
    engine.workstream()
    _, key = engine.agent("Ann")
    made = []
    for name in ("Quill Adams", "Quill Baker", "Quill Clark"):
        created = api.post("/api/agent/contacts", headers=bearer(key), json={"name": name})
        assert created.status_code == 201, created.text
        made.append(created.json()["id"])
        engine.services.clock.set_offset(len(made))  # one second apart: a strict order
    first = api.get("/api/agent/contacts", headers=bearer(key),
                    params={"query": "quill", "limit": 2}).json()
    assert set(first) == {"items", "next", "since"}
    assert [c["id"] for c in first["items"]] == made[:0:-1] and first["next"]
    second = api.get("/api/agent/contacts", headers=bearer(key),
                     params={"query": "quill", "limit": 2, "cursor": first["next"]}).json()
    assert [c["id"] for c in second["items"]] == made[:1] and second["next"] is None
    unchanged = api.get("/api/agent/contacts", headers=bearer(key),
                        params={"query": "quill", "since": first["since"]}).json()
    assert unchanged["items"] == []
    added = api.post("/api/agent/contacts", headers=bearer(key), json={"name": "Quill Dane"})
    fresh = api.get("/api/agent/contacts", headers=bearer(key),
                    params={"query": "quill", "since": first["since"]}).json()
    assert [c["id"] for c in fresh["items"]] == [added.json()["id"]]


def test_alert_texts_end_each_sentence_with_one_full_stop(
        services: Services, simulator_url: str) -> None:
    with webhook_receiver() as alerts_to, SimulatorClient(simulator_url) as sim:
        alerting = dataclasses.replace(services, settings=services.settings.model_copy(
            update={"alert_webhook_url": alerts_to.url}))
        app_id, app_secret = new_id(), "secret-" + new_id()
        sim.put_app(app_id, app_secret)
        account = ChannelSetup(alerting).create_account("Contoso", app_id, app_secret)
        pages = []
        for state in ("invalid", "expired"):
            page_id, token = new_id(), "EAA" + new_id()
            sim.put_page(page_id, "Support", app_id=app_id, access_token=token,
                         account_id=account.id)
            ChannelSetup(alerting).add_page(account.id, page_id, "Support", token)
            sim.put_token(token, state=state)
            pages.append(page_id)
        sim.drop_subscriptions(pages[0])
        run_token_check(alerting)
        texts = [json.loads(post.body)["text"] for post in alerts_to.posts]
    assert len(texts) >= 2, texts
    for text in texts:
        assert ".." not in text, text
        assert text.endswith("."), text
        assert ". What to do: " in text or text.startswith(("Resolved", "Fixed")), text
