"""Contract gaps a new user found (issue 20, points 4 and 6): customers' files served so that
nothing in them runs, attachments that carry their URL, and the smaller promises of API.md."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from messenger_channel.conversations.attachments import CONTAINER
from messenger_channel.services import Services
from simulator.client import SimulatorClient
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
