"""The ``sender``: one ``outbound`` queue message to the Messenger Send API.

    process_outbound(services, body)

**Page, then window.** A page removed from the channel since the message was queued (being
deprovisioned or gone) fails it ``page_removed``, a page whose token is known broken or cannot
be read ``page_token_invalid``. Then the window, from the conversation's
``last_customer_message_at`` (``window.send_type``): RESPONSE within 24 hours, HUMAN_AGENT for
an agent's message within 7 days when the tag is on and was on at opening; otherwise
``outside_messaging_window``. Each fails the message without calling Facebook.

**Errors.** GraphError's classification decides: a 190 marks the page's token invalid and the
page ``Error`` (``ChannelSetup.token_refused``) and fails the message ``page_token_invalid``;
retryable errors (rate limits, 1200, 2, 5xx, timeouts) are retried; anything else fails at once
with ``GraphError.failure_reason``.

**Retries, in order.** Never by sleeping: a retry is a scheduled copy of the queue message
(``attempt`` + 1, exponential backoff with jitter), until ``MAX_ATTEMPTS``, then ``failed``.
The queue's sessions deliver one conversation's messages one at a time in order, but a
scheduled copy goes to the back of the line, so each conversation has a send cursor
(``SendCursor``): while a message waits for its retry, later messages of the conversation are
parked (``ParkedMessage`` rows, same table) instead of sent; when the waiting message is sent
or fails for good, the oldest parked one is resumed as a queue message of its own (in the
conversation's session), which sends it and resumes the next: one invocation makes at most
one send (two Graph calls for an attachment), well inside the queue's lock, however many are
parked. The session makes one invocation per conversation at a time; the cursor's ETag
guards anyway.

**Exactly once toward Facebook.** A send is a state of its history row (``send_claim``): the
sender claims it under the row's ETag (an attempt id and start) before calling Graph, and
records ``sent`` with Facebook's ``message_id`` before the function returns; every delivery
reads the row first, so a redelivered, parked or concurrent copy of a message sent or being
sent is not sent again. A delivery that finds an attempt of unknown outcome (the worker died
between the claim and the record, or Graph did not answer) waits, as a scheduled copy, until
the grace after that attempt (``SEND_ECHO_GRACE_SECONDS``): the request carries
``metadata = out:<conversation id>:<message id>``, Facebook echoes it back, and the router
marks the row ``sent`` from the echo (``reconcile_echo``). Only if no echo came within the
grace is it sent again. Exactly once when the echo arrives within the grace; at least once
otherwise (the page's echoes not subscribed or delayed, or Facebook dropped the request).

A message whose processing raises (storage down) is abandoned by the host and redelivered,
then dead-lettered by the queue's delivery count.

The choices themselves (park or send, retry or fail) are pure, in ``send_decisions``.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from messenger_channel.bus.port import QueueMessage
from messenger_channel.conversations.agent_files import AgentFile, find_file, read_file
from messenger_channel.conversations.models import (
    Conversation,
    Message,
    short_hash,
)
from messenger_channel.conversations.send_claim import (
    SENT_OR_FAILED_CLEARS,
    Claimed,
    Settled,
    Waiting,
    claim_send,
    release_claim,
)
from messenger_channel.conversations.send_decisions import (
    FIRST_RETRY,
    LONGEST_RETRY,
    MAX_ATTEMPTS,
    Retry,
    after_graph_error,
    retry_delay,
    start,
    waits_for,
)
from messenger_channel.conversations.send_rules import (
    conversation_send_type,
    page_token,
    refuse_if_page_removed,
)
from messenger_channel.conversations.store import conversation_tables
from messenger_channel.conversations.window import SendType
from messenger_channel.errors import Conflict
from messenger_channel.facebook.attachment_urls import attachment_type_of_url
from messenger_channel.facebook.graph import SenderAction
from messenger_channel.facebook.graph_errors import FailureReason, GraphError, GraphUnavailable
from messenger_channel.provisioning.queue_health import record_failed_send, record_recovered_send
from messenger_channel.provisioning.service import ChannelSetup
from messenger_channel.queue_messages import OUTBOUND, OutboundMessage
from messenger_channel.services import Services
from messenger_channel.storage.errors import AlreadyExists
from messenger_channel.storage.tables import Entity, Table

log = logging.getLogger(__name__)

__all__ = ["FIRST_RETRY", "LONGEST_RETRY", "MAX_ATTEMPTS", "metadata_for", "process_outbound",
           "reconcile_echo", "retry_delay", "send_action", "sends_waiting"]

METADATA_PREFIX = "out:"


class SendCursor(Entity):
    """Where a conversation's sending stands: the message waiting for its retry."""

    conversation_id: str
    retrying: str | None = None

    def partition_key(self) -> str:
        return self.conversation_id

    def row_key(self) -> str:
        return "cursor"


# A conversation's cursor row and its parked replies share a partition of one table; the
# parked rows' keys are ``p-<parking time>-<hash>``, so they sort in the order they were parked.
CURSORS_TABLE = "SendCursors"
PARKED_PREFIX = "p-"
PARKED_FILTER = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"


def parked_parameters(conversation_id: str) -> dict[str, str]:
    """``PARKED_FILTER``'s parameters: the conversation's parked rows, none of its cursor."""
    return {"pk": conversation_id, "lo": PARKED_PREFIX, "hi": "p."}  # "." follows "-"


class ParkedMessage(Entity):
    """A later message waiting behind the retry, one row each (a conversation may pile up many
    while Facebook throttles; one entity would outgrow 64 KiB). Keys sort by parking time,
    which is arrival order: the session hands one conversation's messages over one by one."""

    conversation_id: str
    key: str
    message: OutboundMessage

    def partition_key(self) -> str:
        return self.conversation_id

    def row_key(self) -> str:
        return self.key


def process_outbound(services: Services, body: bytes) -> None:
    _Sender(services).handle(OutboundMessage.model_validate_json(body))


def metadata_for(message: OutboundMessage) -> str:
    return f"{METADATA_PREFIX}{message.conversation_id}:{message.message_id}"


def reconcile_echo(services: Services, metadata: str | None, mid: str | None) -> bool:
    """The echo of one of our sends: its row becomes ``sent`` with Facebook's id, if the sender
    has not recorded it yet — also when the sender marked it ``failed`` (its last attempt
    unanswered): the echo proves it went, so that failure's count is taken back. True when
    the echo was ours to reconcile."""
    if metadata is None or mid is None or not metadata.startswith(METADATA_PREFIX):
        return False
    conversation_id, _, message_id = metadata.removeprefix(METADATA_PREFIX).partition(":")
    tables = conversation_tables(services)
    row = tables.find_message(conversation_id, message_id) if message_id else None
    if row is None:
        return False
    now = services.clock.now()
    found: list[Message] = []  # the row as the write that stood found it

    def sent(current: Message) -> Message | None:
        found[:] = [current]
        if current.status not in ("queued", "failed"):
            return None
        return current.model_copy(update={
            "status": "sent", "facebook_message_id": mid, "failure_reason": None,
            "updated_at": now, **SENT_OR_FAILED_CLEARS})

    tables.messages.update(conversation_id, row.id, sent)
    [before] = found
    if before.status == "failed" and before.failure_reason:
        conversation = tables.conversation(conversation_id)
        if conversation is not None:  # counted per page
            record_recovered_send(services, conversation.page_id, before.failure_reason)
        log.info("a failed message was sent after all: its echo came", extra={
            "conversation_id": conversation_id, "message_id": row.id,
            "failure_reason": before.failure_reason})
    return True


def sends_waiting(services: Services, conversation_id: str) -> bool:
    """Whether messages of the conversation wait to be sent: one for its retry (or the echo
    of an attempt of unknown outcome), or parked ones to be resumed. A handover command
    queued after them must not pass them."""
    return _Sender(services).waiting(conversation_id)


def send_action(services: Services, conversation: Conversation, action: SenderAction) -> bool:
    """A sender action (typing, mark_seen): its own request, best effort — a customer who
    misses a typing indicator loses nothing, so it is never retried; a 190 still marks the
    token. True when Facebook took it."""
    token = page_token(services, conversation.page_id)
    if token is None:
        return False
    try:
        services.graph.sender_action(conversation.page_id, token, conversation.psid, action)
    except GraphError as error:
        if error.token_invalid:
            ChannelSetup(services).token_refused(conversation.page_id, error)
        log.warning("sender action failed", extra={
            "conversation_id": conversation.id, "page_id": conversation.page_id,
            "action": action, "graph_error_kind": error.kind.value})
        return False
    return True


class _Sender:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.tables = conversation_tables(services)
        self.cursors: Table[SendCursor] = services.tables.table(CURSORS_TABLE, SendCursor)
        self.parked: Table[ParkedMessage] = services.tables.table(CURSORS_TABLE, ParkedMessage)

    def handle(self, message: OutboundMessage) -> None:
        conversation_id = message.conversation_id
        cursor = self.cursors.get(conversation_id, "cursor")
        retrying = None if cursor is None else cursor.retrying
        blocked_by = waits_for(retrying, message.message_id)
        still_queued = blocked_by is not None and self._still_queued(conversation_id,
                                                                     blocked_by)
        parked = self._parked(conversation_id)
        settled = (still_queued or bool(parked)) and not self._still_queued(
            conversation_id, message.message_id)
        choice = start(retrying=retrying, message_id=message.message_id,
                       retrying_still_queued=still_queued, has_parked=bool(parked),
                       settled=settled)
        if choice == "skip":
            log.info("already settled; a retry is pending", extra={
                "conversation_id": conversation_id, "message_id": message.message_id})
            return
        if choice == "park":
            self._park(message, parked)
            log.info("message parked behind a retry", extra={
                "conversation_id": conversation_id, "message_id": message.message_id,
                "waiting_for": blocked_by})
            return
        current = message
        if choice == "parked_first":
            if not settled:
                self._park(message, parked)
            current = parked[0].message
        retry_at = self._deliver(current)
        self._set_cursor(current, retrying=retry_at is not None)
        if retry_at is not None:
            self.services.queue.send(OUTBOUND.name, [current.model_copy(
                update={"attempt": current.attempt + 1}).queue_message(retry_at)])
            return
        self._resume_next(current)

    def _resume_next(self, done: OutboundMessage) -> None:
        """The oldest parked message, as a queue message of its own in the conversation's
        session: sent by the next invocation, not this one. Its id derives from the message
        just done, so a redelivery that comes here again adds no second copy."""
        remaining = self._parked(done.conversation_id)
        if not remaining:
            return
        head = remaining[0].message
        self.services.queue.send(OUTBOUND.name, [QueueMessage(
            body=head.model_dump_json().encode(), session_id=head.conversation_id,
            message_id=f"{head.message_id[:96]}~after-{short_hash(done.message_id)[:16]}")])

    def waiting(self, conversation_id: str) -> bool:
        """See ``sends_waiting``."""
        cursor = self.cursors.get(conversation_id, "cursor")
        if cursor is not None and self._still_queued(conversation_id, cursor.retrying):
            return True
        return bool(self._parked(conversation_id))

    def _still_queued(self, conversation_id: str, message_id: str | None) -> bool:
        """Whether the message is still to be sent: not sent nor failed (the echo may have
        recorded the one the cursor waits for, and then nothing should wait for its retry)."""
        row = (None if message_id is None
               else self.tables.find_message(conversation_id, message_id))
        return row is not None and row.status == "queued"

    # -- the cursor --------------------------------------------------------------------------

    def _parked(self, conversation_id: str) -> list[ParkedMessage]:
        return self.parked.query(PARKED_FILTER, parked_parameters(conversation_id),
                                 page_size=1000).items

    def _park(self, message: OutboundMessage, parked: list[ParkedMessage]) -> None:
        if any(p.message.message_id == message.message_id for p in parked):
            return  # a redelivery of one already waiting
        moment = int(self.services.clock.now().timestamp() * 1_000_000)
        with contextlib.suppress(AlreadyExists):
            self.parked.create(ParkedMessage(
                conversation_id=message.conversation_id, message=message,
                key=f"{PARKED_PREFIX}{moment:017d}-{short_hash(message.message_id)}"))

    def _set_cursor(self, message: OutboundMessage, *, retrying: bool) -> None:
        """``message`` waits for its retry (``retrying``) or is done; either way it is no
        longer parked."""
        self.cursors.create_or_update(
            message.conversation_id, "cursor",
            lambda: SendCursor(conversation_id=message.conversation_id),
            lambda cursor: cursor.model_copy(update={
                "retrying": message.message_id if retrying else None}))
        for row in self._parked(message.conversation_id):
            if row.message.message_id == message.message_id:
                self.parked.delete(row.conversation_id, row.key)

    # -- one message -------------------------------------------------------------------------

    def _deliver(self, message: OutboundMessage) -> datetime | None:
        """Send ``message`` unless its record says it went (or failed) or another attempt
        may have sent it; the time to try again, else None."""
        context = {"conversation_id": message.conversation_id, "page_id": message.page_id,
                   "message_id": message.message_id, "attempt": message.attempt}
        row = self.tables.find_message(message.conversation_id, message.message_id)
        conversation = self.tables.conversation(message.conversation_id)
        if row is None or conversation is None:
            log.error("outbound message without its history row: dropped", extra=context)
            return None
        if row.status != "queued":
            log.info("already %s: not sent again", row.status, extra=context)
            return None
        # Read before the claim: a missing file fails the invocation with no attempt made.
        file = self._file_of(message)
        now = self.services.clock.now()
        claim = claim_send(self.tables.messages, row, now=now, grace=self._grace)
        if isinstance(claim, Settled):
            log.info("already %s: not sent again", claim.status, extra=context)
            return None
        if isinstance(claim, Waiting):
            log.warning("an attempt is in flight or of unknown outcome: waiting for its echo",
                        extra={**context, "retry_at": claim.until.isoformat()})
            return claim.until
        # The page before the window, as ``check_can_send`` orders them for a new reply.
        token = page_token(self.services, message.page_id)
        if token is None:
            self._failed(row, self._page_unusable(message.page_id), context)
            return None
        allowed = conversation_send_type(self.services, conversation,
                                         human=message.author == "agent")
        if allowed is None:
            self._failed(row, FailureReason.OUTSIDE_MESSAGING_WINDOW, context)
            return None
        try:
            facebook_id = self._send(message, token, allowed, file)
        except GraphError as error:
            return self._graph_failed(claim, message, error, context)
        now = self.services.clock.now()
        self.tables.messages.update(row.conversation_id, row.id, lambda m: m.model_copy(update={
            "status": "sent", "facebook_message_id": facebook_id, "failure_reason": None,
            "updated_at": now, **SENT_OR_FAILED_CLEARS}) if m.status == "queued" else None)
        log.info("message sent", extra=context)
        return None

    def _page_unusable(self, page_id: str) -> FailureReason:
        """Why a page has no token to send with: removed from the channel after the reply was
        queued (its DELETE closed the conversation), or its token broken or unreadable."""
        try:
            refuse_if_page_removed(self.services, page_id)
        except Conflict:
            return FailureReason.PAGE_REMOVED
        return FailureReason.PAGE_TOKEN_INVALID

    @property
    def _grace(self) -> timedelta:
        return timedelta(seconds=self.services.settings.send_echo_grace_seconds)

    def _file_of(self, message: OutboundMessage) -> tuple[AgentFile, bytes] | None:
        """An agent's file to upload with ``message``, and its bytes."""
        if message.attachment_id is None:
            return None
        record = find_file(self.services, message.attachment_id)
        if record is None:
            raise RuntimeError(f"attachment {message.attachment_id} is missing")
        return record, read_file(self.services, record)

    def _send(self, message: OutboundMessage, token: str, allowed: SendType,
              file: tuple[AgentFile, bytes] | None) -> str:
        graph = self.services.graph
        content: dict[str, Any] = {"metadata": metadata_for(message)}
        if file is not None:
            record, data = file
            uploaded = graph.upload_attachment(
                message.page_id, token, attachment_type=record.facebook_type,
                filename=record.name, content_type=record.content_type, data=data)
            content["attachment"] = {"type": record.facebook_type,
                                     "payload": {"attachment_id": uploaded}}
        elif message.attachment_url is not None:  # a bot's link: Facebook fetches the file
            content["attachment"] = {"type": attachment_type_of_url(message.attachment_url),
                                     "payload": {"url": message.attachment_url,
                                                 "is_reusable": True}}
        else:
            content["text"] = message.text
            if message.quick_replies:
                content["quick_replies"] = [
                    {"content_type": "text", "title": reply.title, "payload": reply.payload}
                    for reply in message.quick_replies]
        request: dict[str, Any] = {"recipient": {"id": message.psid},
                                   "messaging_type": allowed.messaging_type, "message": content}
        if allowed.tag is not None:
            request["tag"] = allowed.tag
        return graph.send_message(message.page_id, token, request).message_id

    def _graph_failed(self, claim: Claimed, message: OutboundMessage, error: GraphError,
                      context: dict[str, Any]) -> datetime | None:
        context = {**context, "graph_code": error.code, "graph_subcode": error.subcode,
                   "graph_error_kind": error.kind.value}
        outcome = after_graph_error(
            token_invalid=error.token_invalid, retryable=error.retryable,
            reason=error.failure_reason, attempt=message.attempt,
            now=self.services.clock.now())
        if isinstance(outcome, Retry):
            retry_at = outcome.at
            if isinstance(error, GraphUnavailable):
                # No answer: the message may have gone out. The claim stays, and the retry
                # comes after its grace, when the echo would have recorded it.
                retry_at = max(retry_at, claim.grace_ends)
            else:
                release_claim(self.tables.messages, claim)
            log.warning("send failed; retry scheduled", extra={
                **context, "retry_at": retry_at.isoformat()})
            return retry_at
        if outcome.token_refused:
            ChannelSetup(self.services).token_refused(message.page_id, error)
        self._failed(claim.row, outcome.reason, context)
        return None

    def _failed(self, row: Message, reason: FailureReason, context: dict[str, Any]) -> None:
        now = self.services.clock.now()
        self.tables.messages.update(row.conversation_id, row.id, lambda m: m.model_copy(update={
            "status": "failed", "failure_reason": reason.value, "updated_at": now,
            **SENT_OR_FAILED_CLEARS}) if m.status == "queued" else None)
        # For the operators' health route: failed sends per page and reason.
        record_failed_send(self.services, str(context["page_id"]), reason.value)
        log.warning("message failed: %s", reason.value, extra={**context,
                                                               "failure_reason": reason.value})
