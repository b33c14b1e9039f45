"""The statuses the OpenAPI document lists for each operation (issue 19.2) against what the
routes answer on Azurite: every route is called without a key, with another family's key
and with its own key on ids that do not exist; each error status it answers must be listed."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.support.keys import MANAGEMENT_KEY

FAMILIES = ("manage", "agent", "supervisor", "bot")


def _key(api: TestClient, body: dict[str, Any]) -> str:
    made = api.post("/api/manage/agents", json=body,
                    headers={"Authorization": f"Bearer {MANAGEMENT_KEY}"})
    assert made.status_code == 201, made.text
    key: str = made.json()["api_key"]
    return key


def test_every_status_a_route_answers_to_probes_is_documented(api: TestClient) -> None:
    document = api.get("/api/openapi.json").json()
    agent = _key(api, {"name": "Probe"})
    supervisor = _key(api, {"name": "Chief", "role": "supervisor"})
    own = {"manage": MANAGEMENT_KEY, "agent": agent, "supervisor": supervisor}
    # A bot's key needs a workstream with a bot: its routes are probed without and with others.
    other = {"manage": agent, "agent": MANAGEMENT_KEY, "supervisor": agent, "bot": MANAGEMENT_KEY}
    undocumented = []
    probed = 0
    for path, item in document["paths"].items():
        family = path.split("/")[2]
        if family not in FAMILIES:
            continue
        for method, operation in item.items():
            documented = set(operation["responses"])
            body: dict[str, Any] | None = {} if "requestBody" in operation else None

            def call(key: str | None, id_: str, path: str = path, method: str = method,
                     body: Any = body) -> Any:
                headers = {} if key is None else {"Authorization": f"Bearer {key}"}
                return api.request(method.upper(), re.sub(r"\{[^}]+\}", id_, path),
                                   json=body, headers=headers)

            anonymous, foreign = call(None, "0"), call(other[family], "0")
            assert (anonymous.status_code, foreign.status_code) == (401, 403), (method, path)
            answers = [anonymous, foreign] + [call(own[family], id_) for id_ in ("0", "no-such-id")
                                              if family in own]
            for answer in answers:
                if answer.status_code >= 400 and str(answer.status_code) not in documented:
                    undocumented.append((method, path, answer.status_code, answer.text[:80]))
            probed += 1
    assert undocumented == []
    assert probed > 80
