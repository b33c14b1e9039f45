"""Issue 7 end to end: the devhost's token_check re-subscribes a dropped page, and the health
and redrive routes answer over HTTP."""

from __future__ import annotations

from tests.e2e.test_channel_setup import add_page, new_account, new_page_token
from tests.support.product import Product


def test_token_check_resubscribes_and_health_shows_queues(product: Product) -> None:
    account = new_account(product)
    page_id, token = new_page_token(product, account)
    assert add_page(product, account, page_id, token).status_code == 201
    product.simulator.drop_subscriptions(page_id)
    product.run_function("token_check")
    page = product.manage.get(f"/accounts/{account.id}/pages/{page_id}").json()
    assert page["subscription"]["subscribed"] is True
    assert page["subscription"]["resubscribe_count"] == 1
    assert account.app_id in product.simulator.subscriptions()[page_id]
    health = product.manage.get("/health").json()
    assert {q["name"] for q in health["queues"]} == {"inbound", "outbound"}
    assert all(q["dead_letters"] is not None for q in health["queues"])
    assert "failed_sends" in health
    assert "health_alert" in product.logs()


def test_redrive_answers_202_for_a_queue_and_404_otherwise(product: Product) -> None:
    answer = product.manage.post("/deadletters/outbound/redrive")
    assert answer.status_code == 202 and answer.json()["queue"] == "outbound"
    missing = product.manage.post("/deadletters/parking/redrive")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
