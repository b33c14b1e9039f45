"""The channel's own handover calls: ``take_thread_control`` when an agent starts a
conversation, ``pass_thread_control`` back when a conversation ends (as secondary receiver) or
on an agent's request.

The calls go through the ``outbound`` queue in the conversation's session, as
:class:`ThreadCommand` bodies beside the messages: Facebook refuses a message from an app that
does not own the thread (10/2018300), so a take must reach Facebook before the agent's first
message, and a pass after the last one (the ``agent_ended`` message, the survey). A command that
finds a message of its conversation waiting for its retry waits too (a scheduled copy, at most
``MAX_ATTEMPTS`` times), so it never overtakes it.

Failures: a throttled or unreachable Graph is retried with the sender's backoff, at most
``MAX_ATTEMPTS`` times; a refused take asks the owner for the thread instead
(``request_thread_control``, the secondary receiver's way); every outcome is recorded on the
conversation (``thread_control``, ``thread_owner_app_id``) and a refusal is also a system line in
its transcript. No customer message depends on a command: they are stored by the router
whatever Facebook answers here.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from messenger_channel.bus.port import QueueMessage
from messenger_channel.conversations.handover_decisions import passes_back
from messenger_channel.conversations.models import (
    Conversation,
    Message,
    MessageIndex,
    ThreadControl,
    message_index_key,
    message_key,
)
from messenger_channel.conversations.send_decisions import (
    FIRST_RETRY,
    MAX_ATTEMPTS,
    Retry,
    after_graph_error,
)
from messenger_channel.conversations.send_rules import page_token
from messenger_channel.conversations.sender import sends_waiting
from messenger_channel.conversations.store import ConversationStore
from messenger_channel.errors import Conflict
from messenger_channel.facebook.graph_errors import GraphError
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.provisioning.service import ChannelSetup
from messenger_channel.queue_messages import OUTBOUND
from messenger_channel.services import Services
from messenger_channel.storage.errors import AlreadyExists
from messenger_channel.storage.tables import CreateOp
from messenger_channel.workforce.handover import PAGE_INBOX_APP_ID, HandoverSettings
from messenger_channel.workforce.workstreams import get_workstream

log = logging.getLogger(__name__)

# The prefix by which the sender tells a command from a message (``is_thread_command``).
_COMMAND_START = b'{"kind":"thread_control"'


class ThreadCommand(BaseModel):
    """An ``outbound`` queue body for a handover call (SessionId: the conversation)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["thread_control"] = "thread_control"  # first: serialised first
    command_id: str = Field(min_length=1, max_length=100)
    action: Literal["take", "pass"]
    conversation_id: str
    page_id: str
    psid: str
    target_app_id: str | None = None
    metadata: str | None = Field(None, max_length=1000)
    created_at: datetime
    attempt: int = Field(1, ge=1)

    def queue_message(self, scheduled_at: datetime | None = None) -> QueueMessage:
        # A retry is a new queue message: the first one's id would be dropped as a duplicate.
        queue_id = self.command_id if self.attempt == 1 else f"{self.command_id}~{self.attempt}"
        return QueueMessage(body=self.model_dump_json().encode(),
                            session_id=self.conversation_id, message_id=queue_id,
                            scheduled_at=scheduled_at)


def is_thread_command(body: bytes) -> bool:
    return body.startswith(_COMMAND_START)


def our_app_id(services: Services, page_id: str) -> str | None:
    """The app of the account the page belongs to: the channel's own app on that page."""
    tables = ChannelTables(services.tables)
    page = tables.page(page_id)
    account = None if page is None else tables.account(page.account_id)
    return None if account is None else account.app_id


def handover_of(services: Services, conversation: Conversation) -> HandoverSettings | None:
    workstream_id = conversation.workstream_id
    workstream = None if workstream_id is None else get_workstream(services.tables, workstream_id)
    return None if workstream is None else workstream.handover


def take_thread(services: Services, conversation: Conversation) -> None:
    """An agent starts the conversation: take the thread first, if the page uses handover."""
    if handover_of(services, conversation) is None:
        return
    _enqueue(services, conversation, "take", None, f"tc-take-{conversation.id}",
             metadata=f"agent conversation {conversation.id}")


def pass_thread_back(services: Services, conversation: Conversation) -> None:
    """The conversation ended: as secondary receiver, the thread goes back to
    ``return_to_app_id`` (or the Page Inbox), after the conversation's last messages."""
    handover = handover_of(services, conversation)
    queued = conversation.thread_control
    if handover is None or (queued is not None and queued.action == "pass"
                            and queued.status == "pending"):
        return  # no handover, or queued already (at wrap-up; this is the final close)
    ours = our_app_id(services, conversation.page_id)
    if ours is None or not passes_back(handover.role, conversation.thread_owner_app_id, ours):
        return
    _enqueue(services, conversation, "pass", handover.return_app_id(),
             f"tc-back-{conversation.id}", metadata=f"conversation {conversation.id} closed")


def pass_thread(services: Services, conversation: Conversation, target_app_id: str | None,
                by: str) -> Conversation:
    """An agent or supervisor passes the thread to another app (default: the workstream's
    ``return_to_app_id``, else the Page Inbox). Refused with ``Conflict``
    (``handover_not_configured``, ``thread_not_ours``) when the channel cannot pass it."""
    handover = handover_of(services, conversation)
    if handover is None:
        raise Conflict("handover_not_configured",
                       "the workstream has no handover settings: the page's only app keeps "
                       "its threads")
    ours = our_app_id(services, conversation.page_id)
    owner = conversation.thread_owner_app_id
    if owner is not None and owner != ours:
        raise Conflict("thread_not_ours", f"app {owner} controls this customer's thread")
    target = target_app_id or handover.return_app_id()
    if target == ours:
        raise Conflict("thread_not_ours", "the thread cannot be passed to the channel's own app")
    return _enqueue(services, conversation, "pass", target,
                    f"tc-pass-{conversation.id}-{uuid.uuid4().hex[:12]}",
                    metadata=f"passed by {by}")


def _enqueue(services: Services, conversation: Conversation, action: Literal["take", "pass"],
             target: str | None, command_id: str, *, metadata: str) -> Conversation:
    now = services.clock.now()
    command = ThreadCommand(command_id=command_id, action=action,
                            conversation_id=conversation.id, page_id=conversation.page_id,
                            psid=conversation.psid, target_app_id=target, metadata=metadata,
                            created_at=now)
    recorded = _record(services, conversation.id, ThreadControl(
        action=action, status="pending", target_app_id=target, at=now))
    services.queue.send(OUTBOUND.name, [command.queue_message()])
    return recorded


def _record(services: Services, conversation_id: str, outcome: ThreadControl,
            owner: str | None = None) -> Conversation:
    def change(c: Conversation) -> Conversation:
        update: dict[str, object] = {"thread_control": outcome}
        if outcome.status != "pending":  # an outcome is news for the console; a queued call not
            update["updated_at"] = outcome.at
        if owner is not None:
            update["thread_owner_app_id"] = owner
        return c.model_copy(update=update)

    return ConversationStore.of(services).touch(conversation_id, change)


def system_line(services: Services, conversation_id: str, text: str, identity: str) -> None:
    """An internal line in the transcript (agents and supervisors read it; never sent), once
    per ``identity``: a redelivered event or command does not write it twice."""
    tables = ConversationStore.of(services).tables
    known = f"line-{identity}"
    if tables.find_message(conversation_id, known) is not None:
        return
    row = Message(conversation_id=conversation_id,
                  id=message_key(services.clock.now(), known), direction="out", author="system",
                  text=text, status="received", visibility="internal",
                  created_at=services.clock.now())
    index = MessageIndex(conversation_id=conversation_id, mid_hash=message_index_key(known),
                         message_id=row.id)
    with contextlib.suppress(AlreadyExists):  # a concurrent delivery wrote it
        tables.messages.transaction([CreateOp(row), CreateOp(index)])


def process_thread_command(services: Services, body: bytes) -> None:
    _Command(services, ThreadCommand.model_validate_json(body)).run()


class _Command:
    def __init__(self, services: Services, command: ThreadCommand) -> None:
        self.services = services
        self.command = command
        self.store = ConversationStore.of(services)
        self.context = {"conversation_id": command.conversation_id,
                        "page_id": command.page_id, "action": command.action,
                        "attempt": command.attempt}

    def run(self) -> None:
        command = self.command
        conversation = self.store.get(command.conversation_id)
        if conversation is None:
            log.error("thread command for a conversation that does not exist",
                      extra=self.context)
            return
        if self.behind_a_retry() and command.attempt < MAX_ATTEMPTS:
            self.again(self.services.clock.now() + FIRST_RETRY * command.attempt)
            return
        ours = our_app_id(self.services, command.page_id)
        owner = conversation.thread_owner_app_id
        if command.action == "pass" and owner is not None and owner != ours:
            self.failed(conversation, f"app {owner} controls the thread now", line=False)
            return
        token = page_token(self.services, command.page_id)
        if token is None or ours is None:
            self.failed(conversation, "the page's access token cannot be used")
            return
        try:
            self.call(token)
        except GraphError as error:
            self.refused(conversation, token, error)
            return
        new_owner = ours if command.action == "take" else command.target_app_id
        _record(self.services, conversation.id, self.outcome("done"), owner=new_owner)
        if command.action == "pass":
            self.line(f"The Messenger thread was passed to {_app_name(new_owner)}.", "done")
        log.info("thread control done", extra=self.context)

    def behind_a_retry(self) -> bool:
        """Messages of the conversation wait for a retry or to be resumed after one: the
        command must not pass them."""
        return sends_waiting(self.services, self.command.conversation_id)

    def call(self, token: str) -> None:
        command, graph = self.command, self.services.graph
        if command.action == "take":
            graph.take_thread_control(command.page_id, token, command.psid, command.metadata)
        else:
            assert command.target_app_id is not None  # every pass names its target
            graph.pass_thread_control(command.page_id, token, command.psid,
                                      command.target_app_id, command.metadata)

    def refused(self, conversation: Conversation, token: str, error: GraphError) -> None:
        context = {**self.context, "graph_code": error.code, "graph_subcode": error.subcode,
                   "graph_error_kind": error.kind.value}
        outcome = after_graph_error(token_invalid=error.token_invalid,
                                    retryable=error.retryable, reason=error.failure_reason,
                                    attempt=self.command.attempt, now=self.services.clock.now())
        if isinstance(outcome, Retry):
            _record(self.services, conversation.id, self.outcome("pending", error.message))
            self.again(outcome.at)
            log.warning("thread control failed; retry scheduled", extra=context)
            return
        if outcome.token_refused:
            ChannelSetup(self.services).token_refused(self.command.page_id, error)
        log.warning("thread control refused", extra=context)
        if self.command.action == "take" and not outcome.token_refused:
            self.request_instead(conversation, token, error)
            return
        self.failed(conversation, error.message)

    def request_instead(self, conversation: Conversation, token: str,
                        refusal: GraphError) -> None:
        """A secondary receiver may not take a thread another app controls: ask for it."""
        command = self.command
        try:
            self.services.graph.request_thread_control(command.page_id, token, command.psid,
                                                       command.metadata)
        except GraphError as error:
            self.failed(conversation, f"{refusal.message}; asking for it failed too: "
                                      f"{error.message}")
            return
        _record(self.services, conversation.id, ThreadControl(
            action="request", status="done", attempts=command.attempt, error=refusal.message,
            at=self.services.clock.now()), owner=self.owner_now(token))
        self.line("Facebook did not give this app the customer's Messenger thread: another app "
                  f"controls it ({refusal.message}). The channel asked that app to pass it; "
                  "replies fail until it does.", "requested")

    def owner_now(self, token: str) -> str | None:
        """Who controls the thread, when Graph says (best effort: a secondary receiver only
        sees the primary's or its own ownership)."""
        command = self.command
        try:
            return self.services.graph.thread_owner(command.page_id, token, command.psid)
        except GraphError as error:
            log.info("thread owner unknown", extra={**self.context, "graph_code": error.code})
            return None

    def failed(self, conversation: Conversation, reason: str, *, line: bool = True) -> None:
        _record(self.services, conversation.id, self.outcome("failed", reason))
        if line:
            what = ("take the customer's Messenger thread" if self.command.action == "take"
                    else f"pass the Messenger thread to {_app_name(self.command.target_app_id)}")
            self.line(f"The channel could not {what}: {reason}", "failed")
        log.warning("thread control failed: %s", reason, extra=self.context)

    def line(self, text: str, what: str) -> None:
        command = self.command
        system_line(self.services, command.conversation_id, text,
                    f"{command.command_id}-{command.attempt}-{what}")

    def outcome(self, status: Literal["pending", "done", "failed"],
                error: str | None = None) -> ThreadControl:
        return ThreadControl(action=self.command.action, status=status,
                             target_app_id=self.command.target_app_id,
                             attempts=self.command.attempt, error=error,
                             at=self.services.clock.now())

    def again(self, at: datetime) -> None:
        retry = self.command.model_copy(update={"attempt": self.command.attempt + 1})
        self.services.queue.send(OUTBOUND.name, [retry.queue_message(at)])


def _app_name(app_id: str | None) -> str:
    return "the Page Inbox" if app_id == PAGE_INBOX_APP_ID else f"app {app_id}"
