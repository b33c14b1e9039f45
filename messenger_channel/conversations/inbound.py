"""One ``inbound`` queue message (one webhook event) into the conversation state: the work of
the ``router`` function (``functions/router.py``).

    handle_inbound(services, InboundEnvelope.model_validate_json(body))

Every step is idempotent on its own, so that an exception after any step, followed by the
queue's redelivery, ends in the complete result without a duplicate:

0. an answer to the post-conversation survey (a rating tap, or a typed rating or comment from
   a customer with no open conversation, ``satisfaction``) is stored on the conversation it
   answers and opens none;
1. the contact: find, or create once (``AlreadyExists`` → read the winner's);
2. the open conversation: claimed on the contact under its ETag, the conversation's id derived
   from the claiming event, created once;
3. the message: its RowKey derives from the event, written with its mid index in one
   transaction (``AlreadyExists`` → already stored; attachments are copied before, to blob
   names that derive from the message);
4. the conversation's counters and survey answers: applied once per event id
   (``applied_events``);
5. greeting, survey question, classification (at the message's time, ``time.open`` from the
   operating hours), offer, "no agent" (or ``out_of_hours``) message: each a no-op once
   done (deterministic outbound ids; ETag-guarded transitions from the expected state).

Archiving (``process_inbound``) comes first: each event's queue message is kept in Blob
storage before anything else, so it is archived before its message can be completed, and the
webhook's hot path has no blob write. Replay reads that archive.

No input costs a dead letter: the webhook's split refuses ids and sizes no store takes; a text
too long for a row goes to Blob (``long_texts``); a timestamp no clock could show (10^16 ms)
gives way to the time the webhook received the event; and an event a store still refuses as
it is (``InvalidEntity``) is quarantined with the reason instead of being retried.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from messenger_channel.conversations.attachments import DISABLED_TEXT, copy_attachments
from messenger_channel.conversations.auto_close import DEFAULT_AUTO_CLOSE_MINUTES
from messenger_channel.conversations.automated import automated_sent, send_automated
from messenger_channel.conversations.bot_turn import take_bot_turn
from messenger_channel.conversations.contacts import find_or_create_contact
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.erasure_hold import held_for_erasure
from messenger_channel.conversations.handover_decisions import meaning as handover_meaning
from messenger_channel.conversations.handover_events import (
    note_thread_owner,
    standby_partition,
    thread_passed,
    thread_requested,
    thread_taken,
)
from messenger_channel.conversations.indexes import preview_of
from messenger_channel.conversations.long_texts import shortened, spill
from messenger_channel.conversations.models import (
    APPLIED_EVENTS_KEPT,
    Contact,
    Conversation,
    Edit,
    Message,
    MessageIndex,
    MessageStatus,
    message_index_key,
    message_key,
    short_hash,
)
from messenger_channel.conversations.routing_facts import routing_facts
from messenger_channel.conversations.satisfaction import (
    RatingAnswer,
    SurveyAnswers,
    rating_of_payload,
    scale_of,
    typed_answer,
)
from messenger_channel.conversations.sender import reconcile_echo
from messenger_channel.conversations.store import ConversationStore
from messenger_channel.conversations.survey_step import SKIP, survey_step
from messenger_channel.facebook.webhook_events import InboundEvent
from messenger_channel.ingress.archive import ARCHIVE_CONTAINER, WebhookArchive
from messenger_channel.ingress.archive_index import ArchiveIndex
from messenger_channel.ingress.counters import IngressCounters
from messenger_channel.ingress.quarantine import Held, Quarantine
from messenger_channel.queue_messages import InboundEnvelope
from messenger_channel.routing.rules import classify
from messenger_channel.services import Services
from messenger_channel.storage.errors import AlreadyExists, InvalidEntity
from messenger_channel.storage.tables import CreateOp, TransactionOp
from messenger_channel.telemetry import metrics, spans
from messenger_channel.workforce.operating_hours import is_open
from messenger_channel.workforce.queues import get_queue
from messenger_channel.workforce.workstreams import (
    Trigger,
    Workstream,
    get_workstream,
    routing_time_zone,
    workstream_for_page,
)

log = logging.getLogger(__name__)

__all__ = ["SKIP", "handle_inbound", "process_inbound"]

# States in which the customer's messages continue the conversation; after the agent ends it
# (wrap-up) or it closes, the next message opens a new one.
CONTINUING = ("bot", "survey", "waiting", "offered", "active")
_STATUS_RANK: dict[MessageStatus, int] = {"queued": 0, "sent": 1, "delivered": 2, "read": 3}
# Facebook's times that a message may carry: none before Messenger existed, none more than a
# day after the webhook got the event (clocks drift; 10^16 ms is no clock's).
_EARLIEST_EVENT_TIME = datetime(2004, 1, 1, tzinfo=UTC)
_LATEST_EVENT_DELAY = timedelta(days=1)


def process_inbound(services: Services, body: bytes) -> None:
    """One ``inbound`` queue message: archived, then handled."""
    envelope = InboundEnvelope.model_validate_json(body)
    if held_for_erasure(services, envelope, body):
        return  # dropped or put back (``erasure_hold``): nothing archived or stored now
    blob = WebhookArchive(services.blobs).keep(envelope.account_id, envelope.received_at, body,
                                               envelope.session_id)
    if envelope.customer_psid is not None:  # an erasure finds the customer's events by it
        ArchiveIndex(services.tables).note(envelope.page_id, envelope.customer_psid, blob,
                                           envelope.received_at)
    try:
        handle_inbound(services, envelope)
    except (InvalidEntity, ValidationError) as problem:
        # Redelivery cannot help input that no store or model takes as it is: kept and listed
        # for an operator (the archive holds the event) instead of a dead letter.
        reason = f"the router could not store the event: {type(problem).__name__}"
        Quarantine(services.tables, WebhookArchive(services.blobs),
                   IngressCounters(services.tables)).hold_stored(
            envelope.account_id, services.clock.now(), f"{ARCHIVE_CONTAINER}/{blob}",
            Held(reason, envelope.raw, envelope.page_id))
        log.warning("event quarantined by the router", extra={
            "page_id": envelope.page_id, "event_id": envelope.event_id,
            "error": type(problem).__name__})


def handle_inbound(services: Services, envelope: InboundEnvelope) -> None:
    context = {"page_id": envelope.page_id, "event_id": envelope.event_id}
    event = envelope.event()
    # The run's span carries Meta's mid: a developer or an operator follows a message by it.
    spans.annotate(page_id=envelope.page_id, event_id=envelope.event_id,
                   message_id=getattr(event.data, "mid", None))
    metrics.message_in(event.kind)
    if envelope.own_echo:
        # The sender's record usually has the send already; the echo closes the window of a
        # send whose answer was lost (see ``sender``).
        echo = event.echo
        reconciled = echo is not None and reconcile_echo(services, echo.metadata, echo.mid)
        log.info("echo of our own send", extra={**context, "reconciled": reconciled})
        return
    if event.kind == "handover" and event.customer_psid is not None:
        _InboundEvent(services, event, event.customer_psid, envelope.received_at).handover(
            envelope.app_id)
        return
    if event.customer_psid is None or event.kind in (
            "optin", "handover", "policy_enforcement", "unknown"):
        log.info("event archived, not routed", extra={**context, "kind": event.kind})
        return
    _InboundEvent(services, event, event.customer_psid, envelope.received_at).run()


def event_moment(millis: int | None, received_at: datetime) -> datetime:
    """Facebook's time (milliseconds), or when the webhook received the event for a time that
    is missing or out of range."""
    if millis is None:
        return received_at
    try:
        moment = datetime.fromtimestamp(millis / 1000, UTC)
    except (OverflowError, ValueError, OSError):
        return received_at
    if not _EARLIEST_EVENT_TIME <= moment <= received_at + _LATEST_EVENT_DELAY:
        return received_at
    return moment


class _ClaimMoved(Exception):
    pass


class _InboundEvent:
    def __init__(self, services: Services, event: InboundEvent, psid: str,
                 received_at: datetime) -> None:
        self.services = services
        self.event = event
        self.psid = psid
        self.page_id = event.page_id
        self.store = ConversationStore.of(services)
        self.tables = self.store.tables
        self.now = services.clock.now()
        self.received_at = received_at
        # Facebook's time of the event, not when we got it: the messaging window counts from it.
        self.at = event_moment(event.timestamp, received_at)

    def run(self) -> None:
        kind = self.event.kind
        if kind in ("message", "postback"):
            if self.event.source == "standby":
                self.standby()
            else:
                self.customer_message()
        elif kind == "echo":
            self.outside_echo()
        elif kind in ("read", "delivery"):
            self.receipt()
        elif kind == "reaction":
            self.reaction()
        elif kind == "message_edit":
            self.edit()
        elif kind == "referral":
            self.referral()

    # -------------------------------------------------------------- customer messages

    def customer_message(self) -> None:
        if self.survey_tap():
            return
        workstream = workstream_for_page(self.services.tables, self.page_id)
        contact = find_or_create_contact(self.services, self.page_id, self.psid)
        if contact.open_conversation_id is None and self.survey_text():
            return
        conversation = self.open_conversation(contact, workstream)
        spans.annotate(conversation_id=conversation.id)  # the router's run names it too
        self.store_incoming(conversation.id, workstream)
        conversation = self.apply(conversation, workstream)
        conversation = note_thread_owner(self.services, conversation, workstream)
        if workstream is None:
            log.warning("page has no workstream: the conversation waits unrouted",
                        extra={"page_id": self.page_id, "conversation_id": conversation.id})
            return
        if conversation.state == "bot":  # the workstream's bot answers, or escalates
            take_bot_turn(self.services, workstream, conversation, contact, self.event, self.at)
            return
        self.follow_up(conversation, contact, workstream)

    def survey_tap(self) -> bool:
        """A tap on a rating quick reply (``csat:<conversation>:<n>``): stored on the
        conversation it names, whatever its state, and in its history; no conversation
        opens. A payload naming another customer's conversation is an ordinary message."""
        message = self.event.message
        reply = None if message is None else message.quick_reply
        rating = rating_of_payload(None if reply is None else reply.payload)
        if message is None or rating is None:
            return False
        rated = self.tables.conversation(rating.conversation_id)
        if rated is None or (rated.page_id, rated.psid) != (self.page_id, self.psid):
            return False
        workstream = self.workstream_of(rated)
        answer = (RatingAnswer(rating.score, None) if 1 <= rating.score <= scale_of(workstream)
                  else RatingAnswer(None, message.text or str(rating.score)))
        self.store_incoming(rated.id, workstream)
        SurveyAnswers(self.services).rate(rated, answer, self.at, self.event.event_id,
                                          workstream)
        return True

    def survey_text(self) -> bool:
        """A text from a customer without an open conversation that answers the survey they
        were last asked (a typed rating, or the comment after the rating); True when it did
        (it is stored in that conversation), False for normal routing."""
        message = self.event.message
        if message is None or message.text is None or message.attachments:
            return False
        answers = SurveyAnswers(self.services)
        pending = answers.waiting_for(self.page_id, self.psid, self.at)
        rated = None if pending is None else self.tables.conversation(pending.conversation_id)
        if pending is None or rated is None:
            return False
        event_id = self.event.event_id
        workstream = self.workstream_of(rated)
        if event_id in pending.events:  # a redelivery: finish what the first delivery began
            self.store_incoming(rated.id, workstream)
            answers.ask_for_comment(rated, pending, event_id, workstream)
            return True
        answer = typed_answer(pending, message.text, scale_of(workstream))
        if answer is None:
            if pending.stage != "done":
                answers.forget(pending)
            return False
        self.store_incoming(rated.id, workstream)
        if answer == "comment":
            answers.comment(rated, message.text, self.at, event_id)
        else:
            answers.rate(rated, answer, self.at, event_id, workstream)
        return True

    def workstream_of(self, conversation: Conversation) -> Workstream | None:
        workstream_id = conversation.workstream_id
        return None if workstream_id is None else get_workstream(self.services.tables,
                                                                 workstream_id)

    def open_conversation(self, contact: Contact, workstream: Workstream | None) -> Conversation:
        for attempt in range(5):
            # Just read or made by ``find_or_create_contact``; read again after a lost race.
            current = contact if attempt == 0 else (
                self.tables.contacts.get(self.page_id, self.psid) or contact)
            claimed = current.open_conversation_id
            if claimed is not None:
                found = self.tables.conversation(claimed)
                if found is None:  # claimed, then interrupted before it was written
                    return self.create_conversation(claimed, current, workstream)
                if found.state in CONTINUING:
                    return found
            new_id = f"cv_{short_hash(self.page_id, self.psid, self.event.event_id)}"

            def claim(c: Contact, seen: str | None = claimed, new: str = new_id) -> Contact:
                if c.open_conversation_id != seen:
                    raise _ClaimMoved  # another event opened one meanwhile: continue that one
                return c.model_copy(update={"open_conversation_id": new,
                                            "last_conversation_id": new,
                                            "updated_at": self.now})

            try:
                self.tables.contacts.update(self.page_id, self.psid, claim)
            except _ClaimMoved:
                continue
            return self.create_conversation(new_id, current, workstream)
        raise RuntimeError("the contact's open conversation kept changing")

    def create_conversation(self, conversation_id: str, contact: Contact,
                            workstream: Workstream | None) -> Conversation:
        surveyed = workstream is not None and bool(workstream.pre_conversation_survey)
        with_bot = workstream is not None and workstream.bot is not None  # bots first
        text, payload = self.text_and_payload()
        conversation = Conversation(
            id=conversation_id, page_id=self.page_id, psid=self.psid,
            contact_id=contact.linked_contact_id or contact.id,
            workstream_id=None if workstream is None else workstream.id,
            state="bot" if with_bot else "survey" if surveyed else "waiting",
            waiting_since=None if surveyed or with_bot else self.now,
            locale=contact.locale or (workstream.language if workstream else "en-US"),
            human_agent_tag=workstream is not None and workstream.human_agent_tag,
            first_text=shortened(text), first_payload=payload,
            referral=contact.pending_referral or self.event_referral(),
            opened_by=self.event.event_id, last_activity_at=self.now,
            customer_name=contact.name,
            name_missing_reason=contact.name_missing_reason,
            created_at=self.now, updated_at=self.now)
        minutes = DEFAULT_AUTO_CLOSE_MINUTES if workstream is None else (
            workstream.auto_close_after_minutes)
        stored = self.store.create(conversation, due_at=self.now + timedelta(minutes=minutes))
        if stored is not conversation:
            return stored  # created by an earlier delivery of this event
        if contact.pending_referral is not None:
            self.tables.contacts.update(self.page_id, self.psid, lambda c: c.model_copy(
                update={"pending_referral": None}))
        log.info("conversation opened", extra={"conversation_id": conversation_id,
                                               "page_id": self.page_id})
        return conversation

    def text_and_payload(self) -> tuple[str | None, str | None]:
        if self.event.message is not None:
            reply = self.event.message.quick_reply
            return self.event.message.text, None if reply is None else reply.payload
        if self.event.postback is not None:
            return self.event.postback.title, self.event.postback.payload
        return None, None

    def event_referral(self) -> dict[str, object] | None:
        data = self.event.message or self.event.postback
        referral = None if data is None else data.referral
        return None if referral is None else referral.model_dump(exclude_none=True)

    def store_incoming(self, partition: str, workstream: Workstream | None,
                       author: str = "customer") -> None:
        row_id = message_key(self.at, self.event.event_id)
        if self.tables.messages.get(partition, row_id) is not None:
            return  # stored by an earlier delivery of this event
        data = self.event.message or self.event.echo
        mid = data.mid if data is not None else (
            self.event.postback.mid if self.event.postback else None)
        attachments = [] if data is None else copy_attachments(
            self.services.blobs, partition, row_id, data.attachments,
            enabled=workstream is None or workstream.customer_attachments or author != "customer")
        text, payload = self.text_and_payload()
        if self.event.echo is not None:
            text = self.event.echo.text
        text, text_blob = spill(self.services.blobs, partition, row_id, text)
        disabled = any(a.error == DISABLED_TEXT for a in attachments)
        row = Message(conversation_id=partition, id=row_id,
                      direction="out" if author == "outside" else "in",
                      author="outside" if author == "outside" else "customer",
                      text=text, text_blob=text_blob, payload=payload, attachments=attachments,
                      status="sent" if author == "outside" else "received",
                      failure_reason="attachments_disabled" if disabled else None,
                      facebook_message_id=mid, source=self.event.source, created_at=self.at,
                      stored_at=self.services.clock.now())
        operations: list[TransactionOp] = [CreateOp(row)]
        if mid is not None:
            operations.append(CreateOp(MessageIndex(
                conversation_id=partition, mid_hash=message_index_key(mid), message_id=row_id)))
        with contextlib.suppress(AlreadyExists):  # a concurrent delivery stored it first
            self.tables.messages.transaction(operations)

    def apply(self, conversation: Conversation, workstream: Workstream | None) -> Conversation:
        event_id = self.event.event_id
        question_ids = [] if workstream is None else [
            question.id for question in workstream.pre_conversation_survey]
        text, payload = self.text_and_payload()
        data = self.event.message
        preview = preview_of(text, 0 if data is None else len(data.attachments))

        def mutate(c: Conversation) -> Conversation | None:
            if event_id in c.applied_events:
                return None
            latest = c.last_customer_message_at
            update: dict[str, object] = {
                "applied_events": [*c.applied_events, event_id][-APPLIED_EVENTS_KEPT:],
                "last_customer_message_at": self.at if latest is None else max(latest, self.at),
                "last_activity_at": self.now, "unread": c.unread + 1, "updated_at": self.now,
                "last_message_preview": preview}
            step = survey_step(question_ids, c.survey_answers, c.survey_next, state=c.state,
                               opened_now=c.opened_by == event_id, answer=payload or text)
            if step is not None:
                update |= {"survey_answers": step.answers, "survey_next": step.next_index}
                if step.ended:
                    update |= {"state": "waiting", "waiting_since": self.now}
            return c.model_copy(update=update)

        return self.store.touch(conversation.id, mutate)

    def follow_up(self, conversation: Conversation, contact: Contact,
                  workstream: Workstream) -> None:
        if conversation.opened_by == self.event.event_id:
            send_automated(self.services, conversation, workstream, "greeting")
        if conversation.state == "survey":
            question = workstream.pre_conversation_survey[conversation.survey_next]
            send_automated(self.services, conversation, workstream, "survey_question",
                           occasion=f"survey-{question.id}", text=question.question,
                           quick_replies=[*question.options[:12], SKIP])
            return
        if conversation.state != "waiting":
            return
        if conversation.queue_id is None:
            conversation = self.classify(conversation, contact, workstream)
        offered = Distributor(self.services).offer(conversation.id) or conversation
        if offered.state != "waiting":
            return
        # Outside the business hours (at the message's time) ``out_of_hours`` says so instead
        # of ``agent_unavailable``; the conversation waits in its queue all the same, and is
        # offered to any eligible agent who is available.
        unavailable: Trigger = "agent_unavailable"
        if (workstream.automated_messages.get("out_of_hours")
                and not is_open(workstream.operating_hours, self.at)):
            unavailable = "out_of_hours"
        # Sent once per conversation: a later message of a waiting customer finds them sent
        # (two point reads each) and reads neither the queue nor the line ahead.
        due = [trigger for trigger in (unavailable, "position_in_queue")
               if workstream.automated_messages.get(trigger)
               and not automated_sent(self.tables, offered.id, trigger)]
        if not due:
            return
        queue = get_queue(self.services.tables, offered.queue_id or "")
        values = {"QueueName": "" if queue is None else queue.name,
                  "QueuePosition": str(self.queue_position(offered))}
        for trigger in due:
            send_automated(self.services, offered, workstream, trigger, values=values)

    def classify(self, conversation: Conversation, contact: Contact,
                 workstream: Workstream) -> Conversation:
        # At the time of the customer's message (``time.*``, ``time.open``).
        facts = routing_facts(conversation, contact, self.at, workstream.operating_hours)
        result = classify(workstream.routing_rules, facts,
                          time_zone=routing_time_zone(workstream))
        queue_id = result.queue_id or workstream.fallback_queue_id
        return self.store.transition(
            conversation.id,
            lambda c: None if c.queue_id is not None else c.model_copy(update={
                "queue_id": queue_id, "attributes": result.attributes, "updated_at": self.now}))

    def queue_position(self, conversation: Conversation) -> int:
        return self.store.indexes.position_in_queue(conversation)

    # -------------------------------------------------------------- other events

    def standby(self) -> None:
        """Another app holds the thread: kept in the open conversation (or the customer's
        standby history), never routed."""
        contact = find_or_create_contact(self.services, self.page_id, self.psid)
        workstream = workstream_for_page(self.services.tables, self.page_id)
        self.store_incoming(contact.open_conversation_id or standby_partition(contact),
                            workstream)

    def handover(self, our_app_id: str) -> None:
        """Messenger's handover protocol (``handover_events``): a thread passed to us opens or
        continues the customer's conversation and routes it; one taken from us ends or marks
        the open conversation; another app's request is honoured or shown to the agent.
        Without ``handover`` on the workstream, the event is only archived."""
        workstream = workstream_for_page(self.services.tables, self.page_id)
        data = self.event.handover
        if workstream is None or workstream.handover is None or data is None:
            log.info("event archived, not routed", extra={
                "page_id": self.page_id, "event_id": self.event.event_id, "kind": "handover"})
            return
        contact = find_or_create_contact(self.services, self.page_id, self.psid)
        meaning = handover_meaning(data, our_app_id)
        if meaning == "ours":
            conversation = self.open_conversation(contact, workstream)
            conversation = thread_passed(self.services, conversation, contact, self.event,
                                         our_app_id)
            self.follow_up(conversation, contact, workstream)
        elif meaning == "taken":
            thread_taken(self.services, contact, self.event)
        elif meaning == "requested":
            thread_requested(self.services, contact, self.event, workstream.handover)

    def outside_echo(self) -> None:
        """A reply the page sent from elsewhere (Page Inbox, another app, a phone)."""
        conversation_id = self.latest_conversation_id()
        if conversation_id is None:
            log.info("echo for a customer without a conversation dropped",
                     extra={"page_id": self.page_id, "event_id": self.event.event_id})
            return
        self.store_incoming(conversation_id, None, author="outside")

    def latest_conversation_id(self) -> str | None:
        contact = self.tables.contacts.get(self.page_id, self.psid)
        return None if contact is None else contact.last_conversation_id

    def receipt(self) -> None:
        conversation_id = self.latest_conversation_id()
        if conversation_id is None:
            return
        new_status: MessageStatus = "read" if self.event.read is not None else "delivered"
        mids = [] if self.event.delivery is None else self.event.delivery.mids
        watermark = (self.event.read or self.event.delivery)
        limit = None if watermark is None else event_moment(watermark.watermark,
                                                            self.received_at)
        for message in self.tables.history(conversation_id):
            if message.direction != "out" or message.status not in _STATUS_RANK:
                continue
            covered = (message.facebook_message_id in mids if mids
                       else limit is not None and message.created_at <= limit)
            if covered and _STATUS_RANK[message.status] < _STATUS_RANK[new_status]:
                self.tables.messages.update(conversation_id, message.id, lambda m: (
                    m.model_copy(update={"status": new_status, "updated_at": self.now})
                    if m.status in _STATUS_RANK
                    and _STATUS_RANK[m.status] < _STATUS_RANK[new_status] else None))

    def message_of(self, mid: str) -> Message | None:
        """The message ``mid`` names in the customer's latest conversation."""
        conversation_id = self.latest_conversation_id()
        return None if conversation_id is None else self.tables.find_message(conversation_id,
                                                                             mid)

    def reaction(self) -> None:
        reaction = self.event.reaction
        message = None if reaction is None else self.message_of(reaction.mid)
        if reaction is None or message is None:
            return
        value = (reaction.emoji or reaction.reaction) if reaction.action == "react" else None
        self.tables.messages.update(message.conversation_id, message.id,
                                    lambda m: m.model_copy(update={"reaction": value,
                                                                 "updated_at": self.now}))

    def edit(self) -> None:
        edit = self.event.message_edit
        message = None if edit is None else self.message_of(edit.mid)
        if edit is None or message is None:
            return
        text, text_blob = spill(self.services.blobs, message.conversation_id,
                                f"{message.id}-edit-{self.event.event_id}", edit.text)

        def mutate(m: Message) -> Message | None:
            if edit.num_edit is not None and any(e.num_edit == edit.num_edit for e in m.edits):
                return None
            earlier = Edit(text=m.text, at=self.at, num_edit=edit.num_edit)
            return m.model_copy(update={"text": text, "text_blob": text_blob,
                                        "edits": [*m.edits, earlier], "updated_at": self.now})

        self.tables.messages.update(message.conversation_id, message.id, mutate)

    def referral(self) -> None:
        """Context for the conversation: the open one's, or the next one's."""
        referral = self.event.referral
        if referral is None:
            return
        data = referral.model_dump(exclude_none=True)
        contact = find_or_create_contact(self.services, self.page_id, self.psid)
        conversation = (None if contact.open_conversation_id is None
                        else self.tables.conversation(contact.open_conversation_id))
        if conversation is not None and conversation.state in CONTINUING:
            self.store.touch(conversation.id, lambda c: (
                c.model_copy(update={"referral": data, "updated_at": self.now})))
        else:
            self.tables.contacts.update(self.page_id, self.psid, lambda c: c.model_copy(
                update={"pending_referral": data, "updated_at": self.now}))
