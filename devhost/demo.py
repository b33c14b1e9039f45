"""The local demo: an account whose app is the simulator's, a ``Running`` page, a queue, a
workstream and an agent with a fixed development key, ``available`` on every run; and a second
page whose workstream puts the simulator's example bot first (``simulator/bot.py``): it answers
opening hours and order status, and hands the customer to the demo agent — order questions
through a rule to the "Demo orders" queue. Idempotent: every ``make run`` brings the same demo
back, through the same management API an operator uses."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import httpx

from simulator.client import SimulatorClient
from simulator.settings import load_settings as simulator_settings

DEMO_PAGE_ID = "100000000000101"
DEMO_PAGE_NAME = "Contoso Support (demo)"
# Development values, printed on every run; nothing to protect on a local machine.
DEMO_PAGE_TOKEN = "EAADEMOPAGETOKEN0000000000000000000001"  # noqa: S105
DEFAULT_DEMO_AGENT_KEY = "ak_demo_local_development_key_000000000000"
DEMO_QUEUE = "Demo queue"
DEMO_WORKSTREAM = "Demo workstream"
DEMO_AGENT = "Demo agent"
DEMO_BOT_PAGE_ID = "100000000000102"
DEMO_BOT_PAGE_NAME = "Contoso Orders (demo bot)"
DEMO_BOT_PAGE_TOKEN = "EAADEMOPAGETOKEN0000000000000000000002"  # noqa: S105
DEMO_ORDERS_QUEUE = "Demo orders"
DEMO_BOT_WORKSTREAM = "Demo bot-first workstream"


class DemoFailed(Exception):
    pass


@dataclass(frozen=True)
class Demo:
    account_id: str
    app_id: str
    page_id: str
    agent_id: str
    agent_key: str
    bot_page_id: str  # the page whose workstream puts the example bot first


class DemoSeeder:
    def __init__(self, devhost_url: str, management_key: str, simulator_url: str) -> None:
        self.api = httpx.Client(
            base_url=f"{devhost_url}/api/manage",
            timeout=60,
            headers={"Authorization": f"Bearer {management_key}"},
        )
        self.simulator = SimulatorClient(simulator_url)
        self.simulator_url = simulator_url.rstrip("/")

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.api.request(method, path, **kwargs)
        if answer.status_code >= 400:
            raise DemoFailed(f"demo: {method} {path} answered {answer.status_code}: {answer.text}")
        return answer.json() if answer.content else None

    def _find(self, path: str, **match: str) -> dict[str, Any] | None:
        items: list[dict[str, Any]] = self._call("GET", path, params={"limit": 500})["items"]
        return next((i for i in items if all(i.get(k) == v for k, v in match.items())), None)

    def seed(self, agent_key: str) -> Demo:
        app = simulator_settings()
        account = self._find("/accounts", app_id=app.app_id) or self._call(
            "POST",
            "/accounts",
            json={
                "name": "Demo (simulator app)",
                "app_id": app.app_id,
                "app_secret": app.app_secret,
            },
        )
        account_id = account["id"]
        # The simulator keeps no state across runs: give it the page again, every time.
        self.simulator.put_page(
            DEMO_PAGE_ID,
            DEMO_PAGE_NAME,
            app_id=app.app_id,
            access_token=DEMO_PAGE_TOKEN,
            account_id=account_id,
        )
        self._page(account_id, DEMO_PAGE_ID, DEMO_PAGE_NAME, DEMO_PAGE_TOKEN)
        self.simulator.put_page(DEMO_BOT_PAGE_ID, DEMO_BOT_PAGE_NAME, app_id=app.app_id,
                                access_token=DEMO_BOT_PAGE_TOKEN, account_id=account_id)
        self._page(account_id, DEMO_BOT_PAGE_ID, DEMO_BOT_PAGE_NAME, DEMO_BOT_PAGE_TOKEN)
        queue = self._find("/queues", name=DEMO_QUEUE) or self._call(
            "POST", "/queues", json={"name": DEMO_QUEUE}
        )
        if self._find("/workstreams", page_id=DEMO_PAGE_ID) is None:
            self._call(
                "POST",
                "/workstreams",
                json={
                    "name": DEMO_WORKSTREAM,
                    "page_id": DEMO_PAGE_ID,
                    "fallback_queue_id": queue["id"],
                },
            )
        orders = self._find("/queues", name=DEMO_ORDERS_QUEUE) or self._call(
            "POST", "/queues", json={"name": DEMO_ORDERS_QUEUE}
        )
        self._bot_workstream(queue["id"], orders["id"], app.bot_secret)
        queue_ids = [queue["id"], orders["id"]]
        agent = self._find("/agents", name=DEMO_AGENT)
        if agent is None:
            agent = self._call(
                "POST",
                "/agents",
                json={
                    "name": DEMO_AGENT,
                    "queue_ids": queue_ids,
                    "presence": "available",
                    "api_key": agent_key,
                },
            )
        else:  # available again, as a console tried before may have left it offline
            self._call("PATCH", f"/agents/{agent['id']}",
                       json={"queue_ids": queue_ids, "presence": "available"})
            self._call("POST", f"/agents/{agent['id']}/key", json={"api_key": agent_key})
        return Demo(
            account_id=account_id,
            app_id=app.app_id,
            page_id=DEMO_PAGE_ID,
            agent_id=agent["id"],
            agent_key=agent_key,
            bot_page_id=DEMO_BOT_PAGE_ID,
        )

    def _page(self, account_id: str, page_id: str, name: str, token: str) -> None:
        pages = f"/accounts/{account_id}/pages"
        page = self.api.get(f"{pages}/{page_id}")
        if page.status_code == 404 or page.json().get("provisioning_state") == "Deprovisioned":
            self._call("POST", pages,
                       json={"page_id": page_id, "name": name, "access_token": token})
        else:  # re-checks the token and re-subscribes the app in the fresh simulator
            self._call("PATCH", f"{pages}/{page_id}", json={"access_token": token})

    def _bot_workstream(self, fallback_queue_id: str, orders_queue_id: str, secret: str) -> None:
        """The bot page's workstream: the example bot first; what it learned routes."""
        settings = {
            "routing_rules": [{"name": "Bot intent", "rules": [{
                "when": {"field": "attributes.intent", "op": "eq", "value": "order_status"},
                "queue_id": orders_queue_id}]}],
            # The simulator's address may change between runs: set it again every time.
            "bot": {"url": f"{self.simulator_url}/_sim/bot", "secret": secret,
                    "timeout_seconds": 5, "escalate_on_error": True},
        }
        found = self._find("/workstreams", page_id=DEMO_BOT_PAGE_ID)
        if found is None:
            self._call("POST", "/workstreams", json={
                "name": DEMO_BOT_WORKSTREAM, "page_id": DEMO_BOT_PAGE_ID,
                "fallback_queue_id": fallback_queue_id, **settings})
        else:
            self._call("PATCH", f"/workstreams/{found['id']}", json=settings)

    def close(self) -> None:
        self.api.close()
        self.simulator.close()


def seed_demo(
    devhost_url: str, management_key: str, simulator_url: str, agent_key: str
) -> dict[str, str]:
    seeder = DemoSeeder(devhost_url, management_key, simulator_url)
    try:
        return asdict(seeder.seed(agent_key))
    except httpx.HTTPError as error:
        raise DemoFailed(f"demo: {error}") from None
    finally:
        seeder.close()
