"""A desk set up over the management API, for browser tests about the agent's side."""

from __future__ import annotations

from tests.support.product import Product, new_id


def offered_conversation(product: Product) -> tuple[str, str]:
    """An account, a Running page, an available agent and one customer's offer: the agent key
    and the page id."""
    app_id, page_id, token = new_id(), new_id(), "EAAaxe" + new_id()
    app_secret = "appsecret-axe-" + new_id()
    product.simulator.put_app(app_id, app_secret)
    account = product.manage.post("/accounts", json={
        "name": "Axe", "app_id": app_id, "app_secret": app_secret})
    assert account.status_code == 201, account.text
    account_id = account.json()["id"]
    product.simulator.put_page(page_id, "Axe page", app_id=app_id, access_token=token,
                               account_id=account_id)
    added = product.manage.post(f"/accounts/{account_id}/pages", json={
        "page_id": page_id, "name": "Axe page", "access_token": token})
    assert added.status_code == 201, added.text
    queue = product.manage.post("/queues", json={"name": f"Axe {page_id}"}).json()
    agent = product.manage.post("/agents", json={
        "name": "Kay", "queue_ids": [queue["id"]], "presence": "available"}).json()
    assert product.manage.post("/workstreams", json={
        "name": "Axe", "page_id": page_id, "fallback_queue_id": queue["id"]}).status_code == 201
    psid = new_id()
    product.simulator.put_user(psid, page_id, first_name="Noor", last_name="Haddad")
    assert product.simulator.say(account_id, page_id, psid, "Hello?")["ok"]
    product.run_function("router")
    return agent["api_key"], page_id
