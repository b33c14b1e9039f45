"""The steps of ``tests/e2e/test_generated_client.py``, run by the tools environment with the
generated package importable (``client_tools.drive``): ``python client_tools_scenario.py
<step> <json arguments>`` prints, as JSON, what the generated client parsed from each answer.

Every client raises on a status the document does not list for the operation
(``raise_on_unexpected_status``), so each call also checks the documented statuses.
"""

from __future__ import annotations

import json
import sys
from typing import Any

# The generated package exists only once the test made it (PYTHONPATH points at it).
from messenger_channel_client import AuthenticatedClient, Client  # type: ignore[import-not-found]
from messenger_channel_client.api.agent import (  # type: ignore[import-not-found]
    agent_list_conversations,
)
from messenger_channel_client.api.facebook import (  # type: ignore[import-not-found]
    facebook_receive_webhook,
    facebook_verify_webhook,
)
from messenger_channel_client.api.health import health  # type: ignore[import-not-found]
from messenger_channel_client.api.workforce import (  # type: ignore[import-not-found]
    manage_create_agent,
    manage_create_queue,
    manage_create_workstream,
    manage_get_queue,
)
from messenger_channel_client.models import (  # type: ignore[import-not-found]
    AgentCreate,
    AgentCreatePresence,
    MessengerWebhook,
    QueueCreate,
    WorkstreamCreate,
)


def seen(response: Any) -> dict[str, Any]:
    """The status, the class the client parsed the body into, and that body."""
    parsed = response.parsed
    body = parsed if isinstance(parsed, str) else parsed.to_dict()
    return {"status": int(response.status_code), "type": type(parsed).__name__, "body": body}


def operator(arguments: dict[str, Any]) -> dict[str, Any]:
    base_url = arguments["base_url"]
    manager = AuthenticatedClient(base_url=base_url, token=arguments["management_key"],
                                  raise_on_unexpected_status=True)
    queue = manage_create_queue.sync_detailed(
        client=manager, body=QueueCreate(name=arguments["queue_name"]))
    queue_id = queue.parsed.id
    agent = manage_create_agent.sync_detailed(client=manager, body=AgentCreate(
        name="Ann", queue_ids=[queue_id], presence=AgentCreatePresence.AVAILABLE))
    workstream = manage_create_workstream.sync_detailed(client=manager, body=WorkstreamCreate(
        name="Support", page_id=arguments["page_id"], fallback_queue_id=queue_id))
    as_agent = AuthenticatedClient(base_url=base_url, token=agent.parsed.api_key,
                                   raise_on_unexpected_status=True)
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    return {
        "queue": seen(queue),
        "agent": seen(agent),
        "workstream": seen(workstream),
        "missing": seen(manage_get_queue.sync_detailed("no-such-queue", client=manager)),
        "invalid": seen(manage_create_queue.sync_detailed(client=manager,
                                                           body=QueueCreate(name=""))),
        "agent_on_manage": seen(manage_get_queue.sync_detailed(queue_id, client=as_agent)),
        "health": seen(health.sync_detailed(client=anonymous)),
        "verify": seen(facebook_verify_webhook.sync_detailed(
            arguments["account_id"], client=anonymous, hub_mode="subscribe",
            hub_verify_token="not-the-token", hub_challenge="challenge")),
        "unsigned": seen(facebook_receive_webhook.sync_detailed(
            arguments["account_id"], client=anonymous,
            body=MessengerWebhook(object_="page", entry=[]),
            x_hub_signature_256="sha256=" + "0" * 64)),
    }


def agent(arguments: dict[str, Any]) -> dict[str, Any]:
    inbox = AuthenticatedClient(base_url=arguments["base_url"], token=arguments["agent_key"],
                                raise_on_unexpected_status=True)
    return {"conversations": seen(agent_list_conversations.sync_detailed(client=inbox))}


if __name__ == "__main__":
    step, given = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps({"operator": operator, "agent": agent}[step](given)))
