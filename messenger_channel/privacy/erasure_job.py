"""The erasure job: runs every pending erasure one step at a time, each step idempotent and
its completion saved on the status record, so a crash anywhere followed by another run
finishes the job (the ``erasures`` timer runs every minute; ``run_erasures`` is its body).

Steps, in order:

1. ``conversations`` — each of the customer's conversations (their ``ConversationsByCustomer``
   range): an open one is closed quietly (no message is sent), then its messages keep only
   ids, times and statuses (``scrub``), its attachment blobs, long texts (``long_texts``) and
   the agents' files sent in it are deleted, anything queued to send in it is purged and its
   replies parked behind a retry deleted (``parked_replies``), the conversation keeps ids,
   times and states with a pseudonym for the PSID (its index rows and report digest follow),
   the agents' departure rows go; its row in the customer's range is deleted last, so a rerun
   skips it.
2. ``contact`` — the profile's search words, its contact link, its pending survey, the profile.
3. ``archive`` — the archived events received before the request (``ArchivedByCustomer``).
4. ``quarantine`` — the quarantined bodies that hold the customer's events, quarantined before
   the request (``QuarantinedByCustomer``): deleted whole, even one that also held other
   customers' events (it is quarantined data; counted as ``quarantined_bodies_shared``), with
   the Quarantine rows of each body (their excerpts show its ids) and its customers' index
   rows.
5. ``queue`` — the ``inbound`` messages of the customer's session received before the request.
6. ``finish`` — once ``SETTLE`` has passed since the conversations were closed, a final
   re-check, then the hold lifted (held events now route as a first message), the record done
   and stripped of the PSID, an audit entry.

**The final re-check.** A writer already running when the erasure starts may still write:
the router that read no hold a moment before it was created, an agent's reply that found the
conversation open just before the job closed it, a sender run with a message read earlier.
None can start afterwards (the router drops or holds the customer's events, closed
conversations refuse replies), and none runs longer than the host's ``functionTimeout``
(host.json, 5 minutes: the host abandons an execution past it). So ``finish`` waits until
``SETTLE`` after the conversations step, then goes over the customer again: every
conversation erased (its ids kept in ``Erasures``), any new row in their customer range, the
profile, the archive index, the quarantine index and the queue. Each is one read when nothing
came back.

A run works on one erasure for at most ``LEASE`` (its lease on the record keeps a concurrent
run off it); an erasure that keeps failing is marked ``failed`` after ``MAX_ATTEMPTS`` runs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from messenger_channel.audit.log import Actor, AuditLog
from messenger_channel.bus.queues import INBOUND, OUTBOUND
from messenger_channel.bus.session_purge import session_purger
from messenger_channel.conversations.agent_files import agent_files
from messenger_channel.conversations.attachments import CONTAINER
from messenger_channel.conversations.closing import close_quietly
from messenger_channel.conversations.contact_search import (
    CONTACT_WORDS,
    ContactWord,
    indexed_profile,
    key_partition,
)
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.history import ContactLinks
from messenger_channel.conversations.indexes import ByCustomer
from messenger_channel.conversations.long_texts import is_text_blob
from messenger_channel.conversations.models import Conversation, ConversationTables
from messenger_channel.conversations.satisfaction import pending_surveys
from messenger_channel.facebook.webhook_event_ids import session_id
from messenger_channel.ingress.archive import ARCHIVE_CONTAINER, QUARANTINE_CONTAINER
from messenger_channel.ingress.archive_index import ArchiveIndex
from messenger_channel.ingress.quarantine import TABLE as QUARANTINE_TABLE
from messenger_channel.ingress.quarantine import QuarantineEntry
from messenger_channel.ingress.quarantine_index import QuarantineIndex
from messenger_channel.privacy.archive_scrub import without_customer
from messenger_channel.privacy.erasure_records import (
    STEPS,
    ErasedConversation,
    Erasure,
    ErasureRecords,
    Step,
    pending_key,
)
from messenger_channel.privacy.parked_replies import drop_parked_replies
from messenger_channel.privacy.scrub import (
    conversation_erased,
    message_has_content,
    without_content,
)
from messenger_channel.services import Services
from messenger_channel.storage.errors import NotFound

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
# host.json's functionTimeout (5 min) and a minute for the instances' clocks to differ.
SETTLE = timedelta(minutes=6)
DUE_READ = 100  # pending erasures looked at per run: those still settling are skipped
MAX_ATTEMPTS = 5
MAX_PER_RUN = 10
SYSTEM = Actor(kind="system", id="erasure_job")


def run_erasures(services: Services) -> int:
    """Work on the pending erasures, oldest first; returns how many finished."""
    records = ErasureRecords(services.tables)
    finished = 0
    leased = 0
    for pending in records.due(DUE_READ):
        if leased == MAX_PER_RUN:
            break
        record = _lease(services, records, pending.erasure_id)
        if record is None:
            if records.get(pending.erasure_id) is None:
                records.pending.delete("pending", pending.key)
            continue
        leased += 1
        try:
            if ErasureJob(services, records, record).run():
                finished += 1
        except Exception as error:  # the record says why; the next run resumes
            _failed_attempt(services, records, record, error)
    return finished


def _lease(services: Services, records: ErasureRecords, erasure_id: str) -> Erasure | None:
    now = services.clock.now()

    def take(record: Erasure) -> Erasure:
        if record.state != "pending" or (record.lease_until and record.lease_until > now) or (
                record.step == "finish" and not settled(record, now)):
            raise _Busy  # settling is not an attempt: nothing failed
        return record.model_copy(update={"lease_until": now + LEASE,
                                         "attempts": record.attempts + 1})

    try:
        return records.records.update(erasure_id, "erasure", take)
    except (_Busy, NotFound):
        return None


class _Busy(Exception):
    pass


def _failed_attempt(services: Services, records: ErasureRecords, record: Erasure,
                    error: Exception) -> None:
    log.warning("erasure step failed", extra={"erasure_id": record.id, "step": record.step,
                                              "error": type(error).__name__})
    given_up = record.attempts >= MAX_ATTEMPTS

    def note(current: Erasure) -> Erasure:
        return current.model_copy(update={
            "last_error": type(error).__name__, "lease_until": None,
            "state": "failed" if given_up else current.state,
            "finished_at": services.clock.now() if given_up else None})

    records.records.update(record.id, "erasure", note)
    if given_up:  # held events flow again; asking again starts a new erasure
        records.holds.delete(record.page_id, record.psid or "-")
        records.pending.delete("pending", _pending_key(record))
        AuditLog(services.tables, services.clock).record(
            SYSTEM, "erasure.failed", f"erasure:{record.id}",
            {"page_id": record.page_id, "subject": record.subject, "step": record.step})


def settled(record: Erasure, now: datetime) -> bool:
    # A record of the earlier job has no settle_from: its request time is the best known.
    return now >= (record.settle_from or record.requested_at) + SETTLE


def _pending_key(record: Erasure) -> str:
    return pending_key(record.requested_at, record.id)


class ErasureJob:
    def __init__(self, services: Services, records: ErasureRecords, record: Erasure) -> None:
        self.services = services
        self.records = records
        self.record = record
        assert record.psid is not None  # a pending record keeps its PSID
        self.page_id = record.page_id
        self.psid: str = record.psid
        self.distributor = Distributor(services)
        self.store = self.distributor.store
        # Unobserved: rewriting old messages publishes no live hint per message.
        self.tables = ConversationTables(services.tables)
        self.counts: dict[str, int] = dict(record.counts)

    def run(self) -> bool:
        steps: dict[Step, Callable[[], None]] = {
            "conversations": self.conversations, "contact": self.contact,
            "archive": self.archive,
            "quarantine": self.quarantine, "queue": self.queue, "finish": self.finish}
        for step in STEPS[STEPS.index(self.record.step):]:
            if step == "finish" and not settled(self.record, self.services.clock.now()):
                self._pause()
                return False
            steps[step]()
            self._saved(step)
        return True

    def _pause(self) -> None:
        """Until the writers in flight have ended; the runs so far all succeeded."""
        self.record = self.records.records.update(self.record.id, "erasure", lambda current: (
            current.model_copy(update={"lease_until": None, "attempts": 0,
                                       "counts": dict(self.counts)})))

    def _count(self, name: str, amount: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + amount

    def _saved(self, done: Step) -> None:
        following = STEPS[STEPS.index(done) + 1] if done != "finish" else "finish"
        counts = dict(self.counts)

        def save(current: Erasure) -> Erasure:
            update: dict[str, object] = {"step": following, "counts": counts}
            if done == "conversations":
                update["settle_from"] = self.services.clock.now()
            if done == "finish":
                update.update(state="done", psid=None, lease_until=None,
                              finished_at=self.services.clock.now(), last_error=None)
            return current.model_copy(update=update)

        self.record = self.records.records.update(self.record.id, "erasure", save)

    # ---------------------------------------------------------------- 1. conversations

    def conversations(self) -> None:
        table = self.store.indexes.tables[ByCustomer]
        partition = f"{self.page_id}|{self.psid}"
        while True:
            rows = table.query("PartitionKey eq @pk", {"pk": partition}, page_size=100).items
            if not rows:
                return
            for row in rows:
                # Noted first: the final re-check goes over it again, even after a crash.
                self.records.erased.upsert(ErasedConversation(
                    erasure_id=self.record.id, conversation_id=row.conversation_id))
                if self.conversation(row.conversation_id):
                    self._count("conversations")
                table.delete(row.partition, row.key)  # last: a rerun skips what is done

    def conversation(self, conversation_id: str) -> bool:
        """Closed and scrubbed (again: idempotent); False when there is no such conversation."""
        conversation = self.store.get(conversation_id)
        if conversation is None:
            return False
        conversation = self._closed(conversation)
        agent_file_ids: set[str] = set()
        for message in self.tables.history(conversation.id):
            if message.direction == "out":
                agent_file_ids |= {info.id for info in message.attachments}
            if message_has_content(message):
                self.tables.messages.upsert(without_content(message))
                self._count("messages")
        for blob in list(self.services.blobs.list(CONTAINER, f"{conversation.id}/")):
            self.services.blobs.delete(CONTAINER, blob.name)
            self._count("long_texts" if is_text_blob(blob.name) else "attachments")
        files = agent_files(self.services)
        for file_id in sorted(agent_file_ids):
            found = files.get(file_id, "file")
            if found is not None and found.conversation_id == conversation.id:
                self.services.blobs.delete(CONTAINER, found.blob_name)
                files.delete(file_id, "file")
                self._count("attachments")
        purger = session_purger(self.services.queue)
        if purger is not None:
            self._count("queued_messages",
                        purger.purge_session(OUTBOUND.name, conversation.id, lambda _: True))
        # After the purge: the retry that would have resumed them is gone.
        self._count("parked_replies", drop_parked_replies(self.services, conversation.id))
        self.store.transition(conversation.id, lambda current: None
                              if current == conversation_erased(current)
                              else conversation_erased(current))
        departures = self.store.indexes.departures
        for agent_id in {*conversation.agent_history, *conversation.consult_history,
                         *conversation.offer_history}:
            departures.delete(agent_id, conversation.id)
        return True

    def _closed(self, conversation: Conversation) -> Conversation:
        """Closed quietly: no goodbye, no survey to someone being erased."""
        return close_quietly(self.services, self.distributor, conversation)

    # ---------------------------------------------------------------- 2. contact

    def contact(self) -> None:
        contact = self.tables.contacts.get(self.page_id, self.psid)
        pending_surveys(self.services.tables).delete(self.page_id, self.psid)
        if contact is None:
            return
        words = self.services.tables.table(CONTACT_WORDS, ContactWord)
        indexed = indexed_profile(contact)
        for key in sorted(indexed.keys):
            words.delete(key_partition(key), f"{key}|{indexed.ref.kind}|{indexed.ref.text}")
        if contact.linked_contact_id is not None:
            ContactLinks(self.services.tables, self.services.clock).rows.delete(
                contact.linked_contact_id, f"{self.page_id}|{self.psid}")
        self.tables.contacts.delete(self.page_id, self.psid)
        self._count("contacts")

    # ---------------------------------------------------------------- 3. archive

    def archive(self) -> None:
        index = ArchiveIndex(self.services.tables)
        blobs = self.services.blobs
        for row in list(index.of_customer(self.page_id, self.psid)):
            if row.received_at >= self.record.requested_at:
                continue  # the customer writing again: theirs to keep
            try:
                body = blobs.download(ARCHIVE_CONTAINER, row.blob)
            except NotFound:
                body = None
            if body is not None:
                kept, changed = without_customer(body, self.page_id, self.psid)
                if kept is None:
                    blobs.delete(ARCHIVE_CONTAINER, row.blob)
                elif changed:
                    blobs.upload(ARCHIVE_CONTAINER, row.blob, kept, "application/json")
                if changed:
                    self._count("archived_events")
            index.forget(row)

    # ---------------------------------------------------------------- 4. quarantine

    def quarantine(self) -> None:
        index = QuarantineIndex(self.services.tables)
        rows = self.services.tables.table(QUARANTINE_TABLE, QuarantineEntry)
        for noted in list(index.of_customer(self.page_id, self.psid)):
            if noted.at >= self.record.requested_at:
                continue  # the customer writing again: as for the archive
            container, _, name = noted.blob.partition("/")
            if container == QUARANTINE_CONTAINER:  # else the archive step's event
                self._quarantined_body(name)
            for row in list(rows.query_all("PartitionKey eq @pk and blob eq @blob",
                                           {"pk": noted.day_key, "blob": noted.blob})):
                rows.delete(row.day_key, row.row_id)
                self._count("quarantine_rows")
            # The other customers' too: they would name a body and rows that are gone.
            for customer in list(index.of_body(noted.day_key, noted.blob)):
                index.forget(customer)

    def _quarantined_body(self, name: str) -> None:
        try:
            body = self.services.blobs.download(QUARANTINE_CONTAINER, name)
        except NotFound:
            return  # gone with another customer's erasure, or its retention
        self.services.blobs.delete(QUARANTINE_CONTAINER, name)
        self._count("quarantined_bodies")
        if without_customer(body, self.page_id, self.psid)[0] is not None:
            self._count("quarantined_bodies_shared")  # it held more than their events

    # ---------------------------------------------------------------- 5. queue

    def queue(self) -> None:
        purger = session_purger(self.services.queue)
        if purger is None:
            return
        requested_at = self.record.requested_at

        def received_before(body: bytes) -> bool:
            try:
                received = json.loads(body).get("received_at")
                return bool(received) and datetime.fromisoformat(received) < requested_at
            except (ValueError, AttributeError, TypeError):
                return False

        self._count("queued_messages", purger.purge_session(
            INBOUND.name, session_id(self.page_id, self.psid, None), received_before))

    # ---------------------------------------------------------------- 6. finish

    def finish(self) -> None:
        self.recheck()
        hold = self.records.holds.get(self.page_id, self.psid)
        if hold is not None and hold.erasure_id == self.record.id:
            self.records.holds.delete(self.page_id, self.psid)
        self.records.pending.delete("pending", _pending_key(self.record))
        AuditLog(self.services.tables, self.services.clock).record(
            SYSTEM, "erasure.done", f"erasure:{self.record.id}",
            {"page_id": self.page_id, "subject": self.record.subject, **self.counts},
            entry_id=f"au_done_{self.record.id}")

    def recheck(self) -> None:
        """What writers in flight when the erasure started wrote since (see the module)."""
        for conversation_id in self.records.erased_conversations(self.record.id):
            self.conversation(conversation_id)
        self.conversations()  # one the router created meanwhile: new rows in the range
        self.contact()
        self.archive()
        self.quarantine()
        self.queue()
