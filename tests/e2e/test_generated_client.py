"""Issue 19.2 end to end: an integrator generates a Python client from the document the
devhost serves (``openapi-python-client``, in a tools environment of its own:
``tests/support/client_tools.py``) and drives the product with it."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.test_channel_setup import add_page, new_account, new_page_token
from tests.support.client_tools import PACKAGE, drive, generate_client
from tests.support.eventually import eventually
from tests.support.product import MANAGEMENT_KEY, Product, new_id


def test_a_client_generated_from_the_served_document_drives_the_product(
        product: Product, tmp_path: Path) -> None:
    document = httpx.get(f"{product.devhost_url}/api/openapi.json", timeout=30).json()
    printed = generate_client(document, tmp_path)
    # Anything else is a warning: a schema it could not read, an operation it left out.
    assert printed.splitlines() == [f"Generating {tmp_path / PACKAGE}"], printed

    account = new_account(product)
    page_id, token = new_page_token(product, account)
    assert add_page(product, account, page_id, token).status_code == 201
    done = drive("operator", tmp_path, {
        "base_url": product.devhost_url, "management_key": MANAGEMENT_KEY,
        "queue_name": f"Generated {page_id}", "page_id": page_id, "account_id": account.id})

    # Typed answers, not dictionaries: the schemas the client lost before had clashing names.
    assert (done["queue"]["status"], done["queue"]["type"]) == (201, "QueueOut")
    assert (done["agent"]["status"], done["agent"]["type"]) == (201, "AgentWithKey")
    assert (done["workstream"]["status"], done["workstream"]["type"]) == (201, "WorkstreamOut")
    assert done["workstream"]["body"]["fallback_queue_id"] == done["queue"]["body"]["id"]
    # Errors in the product's shape, parsed by the model the document names.
    assert (done["missing"]["status"], done["missing"]["type"]) == (404, "ErrorBody")
    assert done["missing"]["body"]["error"] == "not_found"
    assert (done["invalid"]["status"], done["invalid"]["type"]) == (422, "ValidationErrorBody")
    assert [f["field"] for f in done["invalid"]["body"]["fields"]] == ["name"]
    assert (done["agent_on_manage"]["status"], done["agent_on_manage"]["body"]["error"]) == (
        403, "forbidden")
    # The functions outside the ASGI app, as described in the same document.
    assert (done["health"]["status"], done["health"]["type"]) == (200, "HealthReport")
    assert done["verify"]["status"] == 403
    # The signature header is a parameter of the webhook's operation; a wrong one is refused.
    assert (done["unsigned"]["status"], done["unsigned"]["body"]["error"]) == (
        403, "invalid_signature")

    psid = new_id()
    product.simulator.put_user(psid, page_id, first_name="Lea", last_name="Roy")
    assert product.simulator.say(account.id, page_id, psid, "Where is my order?")["ok"]
    agent_key = done["agent"]["body"]["api_key"]
    listed = eventually(
        lambda: drive("agent", tmp_path, {"base_url": product.devhost_url,
                                          "agent_key": agent_key})["conversations"],
        until=lambda answer: answer["body"]["items"],
        nudge=lambda: product.run_function("router"), timeout=60)
    assert listed["type"] == "ListPageConversationOut"
    [conversation] = listed["body"]["items"]
    assert (conversation["psid"], conversation["state"]) == (psid, "offered")
