"""Issue 20, point 5, through the running devhost: an account whose page Facebook never lets
go (a permission error on every unsubscribe) is deleted in the end, by the token check timer,
and its page can be added again."""

from __future__ import annotations

import secrets

from tests.support.product import Product, new_id


def test_an_account_whose_page_cannot_be_unsubscribed_is_deleted_by_the_token_check(
        product: Product) -> None:
    app_id, page_id, app_secret = new_id(), new_id(), "app-secret-" + secrets.token_hex(12)
    product.simulator.put_app(app_id, app_secret)
    account = product.manage.post("/accounts", json={
        "name": "Contoso", "app_id": app_id, "app_secret": app_secret})
    account_id = account.json()["id"]
    token = "EAA" + secrets.token_hex(20)
    product.simulator.put_page(page_id, "Support", app_id=app_id, access_token=token,
                               account_id=account_id)
    added = product.manage.post(f"/accounts/{account_id}/pages", json={
        "page_id": page_id, "name": "Support", "access_token": token})
    assert added.json()["provisioning_state"] == "Running", added.text
    # "(#10) Application does not have permission for this action", every time.
    fault = product.simulator.add_fault(page_id=page_id, operation="subscribed_apps", code=10)

    assert product.manage.delete(f"/accounts/{account_id}").status_code == 202
    assert product.manage.get(f"/accounts/{account_id}").json()["state"] == "deleting"
    [page] = product.manage.get(f"/accounts/{account_id}/pages").json()["items"]
    assert page["provisioning_state"] == "Deprovisioning"
    assert "(#10)" in page["provisioning_error"]

    for _ in range(3):  # with the delete's own attempt: the 4 the page is given
        product.run_function("token_check")
    assert product.manage.get(f"/accounts/{account_id}").status_code == 404
    health = product.manage.get("/health").json()
    assert account_id not in [a["id"] for a in health["accounts"]]
    assert f"page:{page_id}" not in [rule["subject"] for rule in health["failing_rules"]]

    # Released, the page may join another account (Facebook's refusal stays with the old app).
    other_app, other_secret = new_id(), "app-secret-" + secrets.token_hex(12)
    product.simulator.put_app(other_app, other_secret)
    other = product.manage.post("/accounts", json={
        "name": "Fabrikam", "app_id": other_app, "app_secret": other_secret}).json()["id"]
    other_token = "EAA" + secrets.token_hex(20)
    product.simulator.put_page(page_id, "Support", app_id=other_app, access_token=other_token,
                               account_id=other)
    product.simulator.remove_fault(fault["id"])
    again = product.manage.post(f"/accounts/{other}/pages", json={
        "page_id": page_id, "name": "Support", "access_token": other_token})
    assert (again.status_code, again.json()["provisioning_state"]) == (201, "Running")
