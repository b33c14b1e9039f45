"""A page with a workstream, queues and agents on the test's services, and webhook events
turned into ``inbound`` envelopes exactly as the webhook makes them."""

from __future__ import annotations

import itertools
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from messenger_channel.bus.local import LocalQueue
from messenger_channel.conversations.inbound import handle_inbound
from messenger_channel.conversations.models import Conversation, ConversationTables, Message
from messenger_channel.facebook.webhook_events import split_webhook
from messenger_channel.ingress.directory import AccountKeys
from messenger_channel.provisioning.models import Page, ProvisioningState
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.queue_messages import (
    OUTBOUND,
    InboundEnvelope,
    OutboundMessage,
    envelope_json,
)
from messenger_channel.services import Services
from messenger_channel.workforce.agents import AgentCreate, Agents
from messenger_channel.workforce.queue_management import Queues
from messenger_channel.workforce.queues import QueueCreate
from messenger_channel.workforce.workstreams import WorkstreamCreate, Workstreams
from simulator.client import SimulatorClient

ACCOUNT = AccountKeys(account_id="acc_test", app_id="100000000000009", app_secret="s" * 32,
                      verify_token="v" * 32)
_mids = itertools.count(1)


def new_id() -> str:
    return str(10**14 + secrets.randbelow(9 * 10**14))


@dataclass
class Engine:
    services: Services
    simulator: SimulatorClient
    page_id: str = field(default_factory=new_id)
    workstream_id: str = ""
    queue_id: str = ""

    # ------------------------------------------------------------------ setup

    def connect_page(self) -> None:
        answer = self.simulator.put_page(self.page_id, "Support", account_id=ACCOUNT.account_id)
        ref = f"page-token-{self.page_id}"
        self.services.secrets.set(ref, answer["access_token"])
        now = self.services.clock.now()
        ChannelTables(self.services.tables).pages.create(Page(
            page_id=self.page_id, account_id=ACCOUNT.account_id, name="Support",
            provisioning_state=ProvisioningState.RUNNING, token_ref=ref,
            created_at=now, updated_at=now))

    def queue(self, name: str = "General") -> str:
        return Queues(self.services.tables).create(QueueCreate(name=name)).id

    def agent(self, name: str = "Ann", *, queues: list[str] | None = None, capacity: int = 100,
              presence: str = "available") -> tuple[str, str]:
        """(agent id, key)"""
        created = Agents(self.services.tables, self.services.clock).create(AgentCreate(
            name=name, queue_ids=queues if queues is not None else [self.queue_id],
            capacity=capacity, presence=presence))
        return created.agent.id, created.api_key

    def workstream(self, **settings: Any) -> str:
        self.connect_page()
        self.queue_id = self.queue_id or self.queue()
        body = WorkstreamCreate.model_validate(
            {"name": "Support", "page_id": self.page_id, "fallback_queue_id": self.queue_id,
             **settings})
        self.workstream_id = Workstreams(self.services.tables).create(body).id
        return self.workstream_id

    # ------------------------------------------------------------------ events

    def envelope(self, psid: str, event: dict[str, Any], source: str = "messaging",
                 own_echo_app: bool = False) -> InboundEnvelope:
        event = {"sender": {"id": psid}, "recipient": {"id": self.page_id},
                 "timestamp": int(self.services.clock.now().timestamp() * 1000), **event}
        if "message" in event and event["message"].get("is_echo"):
            event["sender"], event["recipient"] = event["recipient"], event["sender"]
            if own_echo_app:
                event["message"]["app_id"] = int(ACCOUNT.app_id)
        payload = {"object": "page", "entry": [{"id": self.page_id, "time": 1, source: [event]}]}
        batch = split_webhook(json.loads(json.dumps(payload)))
        assert batch is not None and len(batch.events) == 1, batch
        body = envelope_json(ACCOUNT.account_id, ACCOUNT.app_id,
                             self.services.clock.now().isoformat(), batch.events[0])
        return InboundEnvelope.model_validate_json(body)

    def message(self, psid: str, text: str | None = "Hello", *, mid: str | None = None,
                quick_reply: str | None = None, attachments: list[dict[str, Any]] | None = None,
                **extra: Any) -> InboundEnvelope:
        message: dict[str, Any] = {"mid": mid or f"m_{next(_mids)}_{secrets.token_hex(4)}"}
        if text is not None:
            message["text"] = text
        if quick_reply is not None:
            message["quick_reply"] = {"payload": quick_reply}
        if attachments:
            message["attachments"] = attachments
        return self.envelope(psid, {"message": message, **extra})

    def say(self, psid: str, text: str | None = "Hello", **options: Any) -> InboundEnvelope:
        envelope = self.message(psid, text, **options)
        handle_inbound(self.services, envelope)
        return envelope

    # ------------------------------------------------------------------ reading

    @property
    def tables(self) -> ConversationTables:
        return ConversationTables(self.services.tables)

    def conversation_of(self, psid: str) -> Conversation:
        contact = self.tables.contacts.get(self.page_id, psid)
        assert contact is not None and contact.last_conversation_id is not None
        conversation = self.tables.conversation(contact.last_conversation_id)
        assert conversation is not None
        return conversation

    def history(self, psid: str) -> list[Message]:
        return self.tables.history(self.conversation_of(psid).id)

    def outbound(self) -> list[OutboundMessage]:
        """Every message on ``outbound``, taken off the queue (deduplicated as Service Bus
        would)."""
        queue = self.services.queue
        assert isinstance(queue, LocalQueue)
        found = []
        while (received := queue.receive(OUTBOUND.name)) is not None:
            found.append(OutboundMessage.model_validate_json(received.body))
            queue.complete(received)
        return found

    def at(self) -> datetime:
        return self.services.clock.now()
