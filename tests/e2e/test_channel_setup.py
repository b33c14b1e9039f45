"""Channel setup end to end: accounts, pages, provisioning states, rotation, deletion."""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.product import MANAGEMENT_KEY, Product, new_id

# Every secret a test hands to the product, checked against responses and logs at the end.
SECRETS_USED: list[str] = []
RESPONSES_SEEN: list[str] = []


def _seen(answer: httpx.Response) -> httpx.Response:
    RESPONSES_SEEN.append(answer.text)
    return answer


@dataclass
class Account:
    id: str
    app_id: str
    body: dict[str, Any]


def new_account(product: Product) -> Account:
    app_id, app_secret = new_id(), "appsecret-" + secrets.token_hex(16)
    SECRETS_USED.append(app_secret)
    product.simulator.put_app(app_id, app_secret)
    answer = _seen(product.manage.post("/accounts", json={"name": "Contoso", "app_id": app_id,
                                                          "app_secret": app_secret}))
    assert answer.status_code == 201, answer.text
    return Account(answer.json()["id"], app_id, answer.json())


def new_page_token(product: Product, account: Account, page_id: str | None = None,
                   **token_state: Any) -> tuple[str, str]:
    page_id = page_id or new_id()
    token = "EAA" + secrets.token_hex(20)
    SECRETS_USED.append(token)
    product.simulator.put_page(page_id, f"Page {page_id}", app_id=account.app_id,
                               access_token=token, account_id=account.id)
    if token_state:
        product.simulator.put_token(token, **token_state)
    return page_id, token


def add_page(product: Product, account: Account, page_id: str, token: str) -> httpx.Response:
    return _seen(product.manage.post(f"/accounts/{account.id}/pages",
                                     json={"page_id": page_id, "name": "Support",
                                           "access_token": token}))


def test_account_gets_callback_url_and_verify_token(product: Product) -> None:
    account = new_account(product)
    body = account.body
    assert body["callback_url"].endswith(f"/api/facebook/webhook/{account.id}")
    assert body["callback_url"].startswith(product.devhost_url)
    assert len(body["verify_token"]) >= 43  # 32 random bytes, URL-safe base64
    assert "app_secret" not in json.dumps(body)
    listed = _seen(product.manage.get("/accounts")).json()
    assert account.id in [a["id"] for a in listed["items"]]
    assert set(listed) == {"items", "next", "since"}


def test_page_reaches_running_and_the_app_is_subscribed(product: Product) -> None:
    account = new_account(product)
    page_id, token = new_page_token(product, account)
    answer = add_page(product, account, page_id, token)
    assert answer.status_code == 201, answer.text
    page = answer.json()
    assert page["provisioning_state"] == "Running"
    assert page["provisioning_error"] is None
    assert page["token_health"]["status"] == "healthy"
    assert page["subscription"]["subscribed"] is True
    assert "messages" in page["subscription"]["fields"]
    assert page["callback_url"] == account.body["callback_url"]
    assert page["verify_token"] == account.body["verify_token"]
    assert account.app_id in product.simulator.subscriptions()[page_id]
    again = _seen(product.manage.get(f"/accounts/{account.id}/pages/{page_id}"))
    assert again.json()["provisioning_state"] == "Running"


@pytest.mark.parametrize(("token_state", "expected"), [
    ({"state": "invalid"}, "not valid"),
    ({"state": "expired"}, "expired"),
    ({"scopes": ["pages_show_list", "pages_manage_metadata"]}, "lacks pages_messaging"),
])
def test_bad_tokens_put_the_page_in_error_with_a_reason(
        product: Product, token_state: dict[str, Any], expected: str) -> None:
    account = new_account(product)
    page_id, token = new_page_token(product, account, **token_state)
    page = add_page(product, account, page_id, token)
    assert page.status_code == 201
    assert page.json()["provisioning_state"] == "Error"
    assert expected in page.json()["provisioning_error"]
    assert not product.simulator.subscriptions().get(page_id)


def test_token_of_another_page_is_named(product: Product) -> None:
    account = new_account(product)
    other_page, token = new_page_token(product, account)
    page_id = new_id()
    page = add_page(product, account, page_id, token).json()
    assert page["provisioning_state"] == "Error"
    assert f"belongs to page Page {other_page} ({other_page}), not {page_id}" in page[
        "provisioning_error"]


def test_refused_subscription_is_reported(product: Product) -> None:
    account = new_account(product)
    page_id, token = new_page_token(product, account)
    product.simulator.add_fault(page_id=page_id, operation="subscribed_apps", code=200,
                                message="Permissions error")
    try:
        page = add_page(product, account, page_id, token).json()
    finally:
        product.simulator.clear_faults()
    assert page["provisioning_state"] == "Error"
    assert page["provisioning_error"].startswith("Facebook refused the subscription")


def test_rotation_moves_error_to_running_and_a_bad_token_changes_nothing(product: Product) -> None:
    account = new_account(product)
    page_id, bad = new_page_token(product, account, state="invalid")
    assert add_page(product, account, page_id, bad).json()["provisioning_state"] == "Error"
    good = "EAA" + secrets.token_hex(20)
    SECRETS_USED.append(good)
    product.simulator.put_token(good, page_id=page_id, state="valid")
    path = f"/accounts/{account.id}/pages/{page_id}"
    rotated = _seen(product.manage.patch(path, json={"access_token": good}))
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["provisioning_state"] == "Running"
    assert rotated.json()["token_health"]["rotated_at"] is not None
    worse = "EAA" + secrets.token_hex(20)
    SECRETS_USED.append(worse)
    product.simulator.put_token(worse, page_id=page_id, state="expired")
    refused = _seen(product.manage.patch(path, json={"access_token": worse}))
    assert refused.status_code == 422
    assert refused.json()["fields"][0]["field"] == "access_token"
    still = _seen(product.manage.get(path)).json()
    assert still["provisioning_state"] == "Running"
    # The good token is still the one in use: the token check finds it healthy.
    product.run_function("token_check")
    assert _seen(product.manage.get(path)).json()["token_health"]["status"] == "healthy"


def test_token_check_moves_a_page_to_error_and_back(product: Product) -> None:
    account = new_account(product)
    page_id, token = new_page_token(product, account)
    add_page(product, account, page_id, token)
    path = f"/accounts/{account.id}/pages/{page_id}"
    product.simulator.put_token(token, state="invalid")
    product.run_function("token_check")
    page = _seen(product.manage.get(path)).json()
    assert (page["provisioning_state"], page["token_health"]["status"]) == ("Error", "invalid")
    product.simulator.put_token(token, state="valid")
    product.run_function("token_check")
    assert _seen(product.manage.get(path)).json()["provisioning_state"] == "Running"


def test_delete_deprovisions_and_the_page_can_be_added_again(product: Product) -> None:
    account = new_account(product)
    page_id, token = new_page_token(product, account)
    add_page(product, account, page_id, token)
    path = f"/accounts/{account.id}/pages/{page_id}"
    deleted = _seen(product.manage.delete(path))
    assert deleted.status_code == 202
    assert deleted.json()["provisioning_state"] == "Deprovisioned"
    assert deleted.json()["verify_token"] is None
    assert not product.simulator.subscriptions().get(page_id)
    assert add_page(product, account, page_id, token).json()["provisioning_state"] == "Running"


def test_delete_with_graph_failure_is_finished_by_the_token_check(product: Product) -> None:
    account = new_account(product)
    page_id, token = new_page_token(product, account)
    add_page(product, account, page_id, token)
    product.simulator.add_fault(page_id=page_id, operation="subscribed_apps", kind="http_5xx",
                                http_status=503)
    try:
        deleted = _seen(product.manage.delete(f"/accounts/{account.id}/pages/{page_id}"))
    finally:
        product.simulator.clear_faults()
    assert deleted.status_code == 202
    assert deleted.json()["provisioning_state"] == "Deprovisioning"
    assert "unsubscribe" in deleted.json()["provisioning_error"]
    product.run_function("token_check")
    page = _seen(product.manage.get(f"/accounts/{account.id}/pages/{page_id}")).json()
    assert page["provisioning_state"] == "Deprovisioned"
    assert not product.simulator.subscriptions().get(page_id)


def test_deleting_an_account_deprovisions_its_pages(product: Product) -> None:
    account = new_account(product)
    page_id, token = new_page_token(product, account)
    add_page(product, account, page_id, token)
    assert _seen(product.manage.delete(f"/accounts/{account.id}")).status_code == 202
    assert product.manage.get(f"/accounts/{account.id}").status_code == 404
    assert not product.simulator.subscriptions().get(page_id)
    # The app id and the page are free again.
    other = new_account(product)
    _, other_token = new_page_token(product, other, page_id)
    assert add_page(product, other, page_id, other_token).json()["provisioning_state"] == "Running"


def test_a_connected_page_or_app_cannot_be_reused(product: Product) -> None:
    first, second = new_account(product), new_account(product)
    page_id, token = new_page_token(product, first)
    add_page(product, first, page_id, token)
    reused = add_page(product, second, page_id, token)
    assert reused.status_code == 409
    assert reused.json()["error"] == "page_already_connected"
    assert "callback_url" not in reused.json() and "verify_token" not in reused.text
    duplicate = _seen(product.manage.post("/accounts", json={
        "name": "again", "app_id": first.app_id, "app_secret": "x" * 20}))
    assert (duplicate.status_code, duplicate.json()["error"]) == (409, "app_id_taken")


def test_two_concurrent_adds_of_one_page_one_wins(product: Product) -> None:
    first, second = new_account(product), new_account(product)
    page_id, token = new_page_token(product, first)
    results: list[int] = []
    start = threading.Barrier(2)

    def add(account: Account) -> None:
        start.wait()
        results.append(add_page(product, account, page_id, token).status_code)

    threads = [threading.Thread(target=add, args=(a,)) for a in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [201, 409]


def test_authentication(product: Product) -> None:
    url = f"{product.devhost_url}/api/manage/accounts"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong-key"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Basic abc"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {MANAGEMENT_KEY}"}).status_code == 200
    queue = product.manage.post("/queues", json={"name": f"q{new_id()}"}).json()
    agent = product.manage.post("/agents", json={"name": "Ann", "queue_ids": [queue["id"]]}).json()
    agent_key = agent["api_key"]
    assert httpx.get(url, headers={"Authorization": f"Bearer {agent_key}"}).status_code == 403
    assert "api_key" not in product.manage.get(f"/agents/{agent['id']}").json()


def test_validation_errors_name_the_fields(product: Product) -> None:
    missing = _seen(product.manage.post("/accounts", json={"name": "x"}))
    assert missing.status_code == 422
    assert {f["field"] for f in missing.json()["fields"]} == {"app_id", "app_secret"}
    bad = _seen(product.manage.post("/accounts", json={"name": "x", "app_id": "12ab",
                                                       "app_secret": "s"}))
    assert [f["field"] for f in bad.json()["fields"]] == ["app_id"]
    broken = product.manage.post("/accounts", content=b"{not json",
                                 headers={"Content-Type": "application/json"})
    assert (broken.status_code, broken.json()["error"]) == (400, "invalid_json")
    account = new_account(product)
    no_page = product.manage.post(f"/accounts/{account.id}/pages", json={"page_id": "1"})
    assert no_page.status_code == 422
    unknown = product.manage.get("/accounts/acc_nope/pages/123")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")


def test_openapi_describes_the_management_routes(product: Product) -> None:
    document = httpx.get(f"{product.devhost_url}/api/openapi.json").json()
    assert "/api/manage/accounts/{account_id}/pages" in document["paths"]


def test_manage_health_lists_failing_rules(product: Product) -> None:
    account = new_account(product)
    page_id, token = new_page_token(product, account)
    add_page(product, account, page_id, token)
    health = _seen(product.manage.get("/health")).json()
    failing = {(f["rule"], f["subject"]) for f in health["failing_rules"]}
    assert ("page_has_workstream", f"page:{page_id}") in failing
    assert health["status"] == "attention"


def test_zz_no_secret_in_any_response_or_log(product: Product) -> None:
    """Runs last in this module: every secret used above, against everything seen."""
    assert SECRETS_USED
    devhost_log = (product.log_dir / "devhost.log").read_text(errors="replace")
    for secret in SECRETS_USED:
        assert all(secret not in text for text in RESPONSES_SEEN), "a response leaked a secret"
        assert secret not in devhost_log, "the devhost log holds a secret"
