"""The devhost's own ``/admin`` routes tell a valid key of another family (403) from no key or
an unknown one (401), as API.md's auth rule says of every route family (issue 20, point 6)."""

from __future__ import annotations

import httpx

from tests.support.product import Product, new_id


def test_admin_routes_refuse_an_agents_key_with_403_and_an_unknown_key_with_401(
        product: Product) -> None:
    made = product.manage.post("/agents", json={"name": f"Admin probe {new_id()[-4:]}"})
    assert made.status_code == 201, made.text
    agent = {"Authorization": f"Bearer {made.json()['api_key']}"}
    admin = f"{product.devhost_url}/admin"
    for method, path in (("GET", "/functions"), ("POST", "/functions/distribute"),
                         ("PUT", "/clock")):
        answer = httpx.request(method, f"{admin}{path}", headers=agent,
                               json={"offset_seconds": 0})
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json()["error"] == "forbidden"
        for refused in ({}, {"Authorization": "Bearer ak_unknown_" + "x" * 40}):
            answer = httpx.request(method, f"{admin}{path}", headers=refused,
                                   json={"offset_seconds": 0})
            assert answer.status_code == 401, (method, path, answer.text)
    assert product.admin.get("/functions").status_code == 200
