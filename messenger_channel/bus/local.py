"""The local adapter of the queue port: a durable queue in one SQLite file for the devhost.

It keeps the Service Bus semantics the app relies on: FIFO per session with sessions
proceeding independently, peek-lock with a delivery count and dead-letter after the maximum,
duplicate detection by message id within a window, and scheduled messages. Every operation
is one committed transaction, so stopping the devhost (or killing it) loses nothing.

Several threads share one connection behind a lock; several processes share the file through
SQLite's own locking (WAL, ``BEGIN IMMEDIATE``, a busy timeout). Each instance is a lock
*owner* holding an ``flock`` on a lease file next to the database: the operating system
drops that lease when the process dies, which is how a restarted host tells a dead owner's
locks (released at once) from a live neighbour's (left alone until they expire).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from messenger_channel import metering
from messenger_channel.bus.port import QueueMessage, QueueUnavailable
from messenger_channel.bus.queues import QUEUES, QueueSpec
from messenger_channel.clock import Clock
from messenger_channel.telemetry.propagation import with_trace_context

MAX_DELIVERY_COUNT_EXCEEDED = "MaxDeliveryCountExceeded"

_SCHEMA_VERSION = 1
_BUSY_TIMEOUT_SECONDS = 10.0
# One "something may be deliverable" signal per queue file and queue, shared by the instances
# of a process: the devhost's runner wakes at once instead of at its next poll. Other
# processes (and scheduled messages falling due) are still found by polling.
_arrivals: dict[tuple[str, str], threading.Event] = {}
_arrivals_lock = threading.Lock()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# Times are integer microseconds since the epoch: exact, and ordered by SQLite as numbers.
# A completed message is deleted; a dead-lettered one stays with dead_lettered = 1.
# A lock is held while locked_until > now; releasing it clears the three lock columns.
_SCHEMA = """
CREATE TABLE messages (
    sequence_number INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    session_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body BLOB NOT NULL,
    content_type TEXT NOT NULL,
    properties TEXT NOT NULL,
    enqueued_at INTEGER NOT NULL,
    scheduled_at INTEGER,
    available_at INTEGER NOT NULL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER,
    lock_token TEXT,
    lock_owner TEXT,
    dead_lettered INTEGER NOT NULL DEFAULT 0,
    dead_letter_reason TEXT,
    dead_letter_description TEXT
);
CREATE INDEX messages_due
    ON messages (queue, dead_lettered, available_at, sequence_number);
CREATE INDEX messages_locked
    ON messages (queue, session_id, locked_until) WHERE lock_token IS NOT NULL;
CREATE TABLE duplicates (
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    first_sent_at INTEGER NOT NULL,
    PRIMARY KEY (queue, message_id)
);
CREATE INDEX duplicates_age ON duplicates (queue, first_sent_at);
"""

# The next deliverable message: the first by (available time, sequence number) that is due
# and whose session has no locked message (itself included). That makes it the head of its
# session: an earlier message of the session would be due too, so it would come first.
_NEXT_DELIVERABLE = """
SELECT * FROM messages AS m
WHERE m.queue = :queue AND m.dead_lettered = 0 AND m.available_at <= :now
  AND m.session_id NOT IN (SELECT value FROM json_each(:excluded))
  AND NOT EXISTS (
      SELECT 1 FROM messages AS l
      WHERE l.queue = m.queue AND l.session_id = m.session_id
        AND l.lock_token IS NOT NULL AND l.locked_until > :now)
ORDER BY m.available_at, m.sequence_number
LIMIT 1
"""

_RELEASE_LOCK = (
    "UPDATE messages SET lock_token = NULL, locked_until = NULL, lock_owner = NULL"
    " WHERE sequence_number = ?")
_RELEASE_OWNER_LOCKS = (
    "UPDATE messages SET lock_token = NULL, locked_until = NULL, lock_owner = NULL"
    " WHERE lock_owner = ?")
_RELEASE_LOCKS_EXCEPT_OWNERS = (
    "UPDATE messages SET lock_token = NULL, locked_until = NULL, lock_owner = NULL"
    " WHERE lock_token IS NOT NULL AND lock_owner NOT IN (SELECT value FROM json_each(?))")
_DEAD_LETTER = (
    "UPDATE messages SET lock_token = NULL, locked_until = NULL, lock_owner = NULL,"
    " dead_lettered = 1, dead_letter_reason = ?, dead_letter_description = ?"
    " WHERE sequence_number = ?")


class LockLost(Exception):
    """The message's lock expired or was released: it was not settled and will be delivered
    again (the Service Bus equivalent is ``MessageLockLostError``)."""


@dataclass(frozen=True)
class ReceivedMessage:
    """A peek-locked message, or a dead letter (no lock, with its reason)."""

    queue: str
    body: bytes
    session_id: str
    message_id: str
    sequence_number: int
    delivery_count: int
    enqueued_at: datetime
    scheduled_at: datetime | None
    locked_until: datetime | None  # None for a dead letter (not locked)
    lock_token: str | None
    content_type: str
    properties: dict[str, str]
    dead_letter_reason: str | None
    dead_letter_description: str | None


@dataclass(frozen=True)
class QueueCounts:
    """Disjoint counts: ``active`` are due and unlocked (possibly waiting behind their
    session's head), ``scheduled`` not yet due, ``locked`` being processed."""

    active: int
    scheduled: int
    locked: int
    dead_letter: int


class LocalQueue:
    """The queues of ``specs`` in one SQLite file; a ``QueueSender`` plus the consumer side
    that the devhost drives (receive, complete, abandon, dead-letter) and inspection."""

    def __init__(self, path: Path, clock: Clock, specs: Mapping[str, QueueSpec] = QUEUES) -> None:
        self.path = path
        self.clock = clock
        self._specs = dict(specs)
        self._owner = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._lease: int | None = None
        self._db: sqlite3.Connection | None = None
        self._owners_dir = path.with_name(path.name + ".owners")
        try:
            self._owners_dir.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_SECONDS,
                                       isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode = WAL")
            # WAL with NORMAL: a commit survives the host process crashing or being killed (what
            # a restart of the devhost needs), though not a power cut; FULL would fsync every
            # send and cap the local webhook's throughput. Azure uses Service Bus, not this.
            self._db.execute("PRAGMA synchronous = NORMAL")
            # A deleted message's bytes are overwritten, not left in free pages: an erasure
            # purges a customer's queued events, and not every SQLite build does this by default.
            self._db.execute("PRAGMA secure_delete = ON")
            # Registering and reaping in one write transaction serialises them with every
            # other owner's start-up and receives, so a live owner is never taken for dead.
            with self._transaction() as db:
                self._migrate(db)
                self._take_lease()
                self._release_dead_owners(db)
        except (sqlite3.Error, OSError) as error:
            self.close()
            raise QueueUnavailable(f"local queue {path}: {error}") from error
        except BaseException:
            self.close()
            raise

    def arrival(self, queue: str) -> threading.Event:
        """Set when a message is sent to ``queue`` or one of its sessions is released, by
        this process; the consumer clears it before it receives."""
        key = (str(self.path.resolve()), queue)
        with _arrivals_lock:
            return _arrivals.setdefault(key, threading.Event())

    # -- QueueSender ------------------------------------------------------------------------
    def send(self, queue: str, messages: Sequence[QueueMessage]) -> None:
        """Enqueue all messages in one transaction; a message id already sent to this queue
        within its duplicate-detection window (counted from the first send) is dropped."""
        spec = self._spec(queue)
        if not messages:
            return
        now = _micros(self.clock.now())
        duplicates = 0
        with self._transaction() as db:
            db.execute("DELETE FROM duplicates WHERE queue = ? AND first_sent_at <= ?",
                       (queue, now - spec.duplicate_detection_window // _MICROSECOND))
            for message in messages:
                first = db.execute(
                    "INSERT OR IGNORE INTO duplicates (queue, message_id, first_sent_at)"
                    " VALUES (?, ?, ?)", (queue, message.message_id, now)).rowcount
                if not first:
                    duplicates += 1
                    continue
                scheduled = None if message.scheduled_at is None else _micros(message.scheduled_at)
                db.execute(
                    "INSERT INTO messages (queue, session_id, message_id, body, content_type,"
                    " properties, enqueued_at, scheduled_at, available_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (queue, message.session_id, message.message_id, message.body,
                     message.content_type,
                     # The sender's trace travels with the message, as on Service Bus.
                     json.dumps(with_trace_context(message.properties)), now, scheduled,
                     now if scheduled is None else scheduled))
        self.arrival(queue).set()
        # As Service Bus bills them: every message sent is an operation, a duplicate too.
        metering.add({"queue.sent": len(messages), "queue.send_calls": 1,
                      "queue.duplicates": duplicates,
                      "queue.scheduled": sum(m.scheduled_at is not None for m in messages),
                      "servicebus.operations": len(messages)}, queue=queue)

    def check(self) -> None:
        """Raise ``QueueUnavailable`` unless the file can be written now."""
        with self._transaction():
            pass

    # -- consumer side ----------------------------------------------------------------------
    def receive(self, queue: str, *,
                exclude_sessions: Collection[str] = ()) -> ReceivedMessage | None:
        """Peek-lock the oldest deliverable message of any session not excluded, or None."""
        spec = self._spec(queue)
        now_moment = self.clock.now()
        now = _micros(now_moment)
        locked_until = _micros(now_moment + spec.lock_duration)
        with self._transaction() as db:
            while True:
                row = db.execute(_NEXT_DELIVERABLE, {
                    "queue": queue, "now": now, "excluded": json.dumps(list(exclude_sessions)),
                }).fetchone()
                if row is None:
                    # Not an operation on Service Bus, whose receivers wait for messages.
                    metering.count("queue.receive_empty", queue=queue)
                    return None
                if row["delivery_count"] < spec.max_delivery_count:
                    break
                # Its last lock expired (or its owner died) after the final delivery.
                metering.count("queue.dead_letter", queue=queue)
                db.execute(_DEAD_LETTER, (MAX_DELIVERY_COUNT_EXCEEDED,
                                          _exhausted(row["delivery_count"]),
                                          row["sequence_number"]))
            token = uuid.uuid4().hex
            db.execute(
                "UPDATE messages SET delivery_count = delivery_count + 1, locked_until = ?,"
                " lock_token = ?, lock_owner = ? WHERE sequence_number = ?",
                (locked_until, token, self._owner, row["sequence_number"]))
            locked = db.execute("SELECT * FROM messages WHERE sequence_number = ?",
                                (row["sequence_number"],)).fetchone()
        metering.count("queue.received", "servicebus.operations", queue=queue)
        return _received(locked)

    def complete(self, message: ReceivedMessage) -> None:
        """Remove the message for good; raise ``LockLost`` when its lock is no longer held."""
        self._spec(message.queue)
        with self._transaction() as db:
            self._locked_row(db, message)
            db.execute("DELETE FROM messages WHERE sequence_number = ?",
                       (message.sequence_number,))
        self.arrival(message.queue).set()  # the session's next message is deliverable
        metering.count("queue.complete", "servicebus.operations", queue=message.queue)

    def renew_lock(self, message: ReceivedMessage) -> datetime:
        """Hold the message's lock for the queue's lock duration from now (Service Bus's
        renew-lock, which the Functions host calls while a function runs); return the new
        expiry; raise ``LockLost`` when its lock is no longer held."""
        spec = self._spec(message.queue)
        now = self.clock.now()
        with self._transaction() as db:
            self._locked_row(db, message)
            db.execute("UPDATE messages SET locked_until = ? WHERE sequence_number = ?",
                       (_micros(now + spec.lock_duration), message.sequence_number))
        metering.count("queue.renew_lock", "servicebus.operations", queue=message.queue)
        return now + spec.lock_duration

    def abandon(self, message: ReceivedMessage, reason: str | None = None) -> None:
        """Release the lock so the message is delivered again, or dead-letter it with
        ``MaxDeliveryCountExceeded`` (description: ``reason``) after its last delivery."""
        spec = self._spec(message.queue)
        with self._transaction() as db:
            row = self._locked_row(db, message)
            if row["delivery_count"] >= spec.max_delivery_count:
                db.execute(_DEAD_LETTER, (MAX_DELIVERY_COUNT_EXCEEDED,
                                          reason or _exhausted(row["delivery_count"]),
                                          message.sequence_number))
                metering.count("queue.dead_letter", queue=message.queue)
            else:
                db.execute(_RELEASE_LOCK, (message.sequence_number,))
        self.arrival(message.queue).set()
        metering.count("queue.abandon", "servicebus.operations", queue=message.queue)

    def dead_letter(self, message: ReceivedMessage, reason: str, description: str) -> None:
        """Move the message to the dead-letter sub-queue; raise ``LockLost`` when its lock is
        no longer held."""
        self._spec(message.queue)
        with self._transaction() as db:
            self._locked_row(db, message)
            db.execute(_DEAD_LETTER, (reason, description, message.sequence_number))
        metering.count("queue.dead_letter", "servicebus.operations", queue=message.queue)

    # -- inspection -------------------------------------------------------------------------
    def counts(self, queue: str) -> QueueCounts:
        self._spec(queue)
        now = _micros(self.clock.now())
        with self._transaction(write=False) as db:
            row = db.execute(
                "SELECT"
                " TOTAL(NOT dead_lettered AND available_at <= :now"
                "       AND IFNULL(locked_until, 0) <= :now),"
                " TOTAL(NOT dead_lettered AND available_at > :now),"
                " TOTAL(NOT dead_lettered AND IFNULL(locked_until, 0) > :now),"
                " TOTAL(dead_lettered)"
                " FROM messages WHERE queue = :queue", {"queue": queue, "now": now}).fetchone()
        return QueueCounts(*(int(value) for value in row))

    def dead_letters(self, queue: str, limit: int = 100) -> list[ReceivedMessage]:
        """The oldest ``limit`` dead letters, with their reason and description."""
        self._spec(queue)
        with self._transaction(write=False) as db:
            rows = db.execute(
                "SELECT * FROM messages WHERE queue = ? AND dead_lettered"
                " ORDER BY sequence_number LIMIT ?", (queue, limit)).fetchall()
        return [_received(row) for row in rows]

    def redrive(self, queue: str) -> int:
        """Send every dead letter again, oldest first, as Service Bus resubmission does: a new
        sequence number at the tail of its session, delivery count 0, same session and message
        id, and no duplicate detection. Returns how many moved."""
        self._spec(queue)
        now = _micros(self.clock.now())
        with self._transaction() as db:
            db.execute(
                "INSERT INTO messages (queue, session_id, message_id, body, content_type,"
                " properties, enqueued_at, available_at)"
                " SELECT queue, session_id, message_id, body, content_type, properties, ?, ?"
                " FROM messages WHERE queue = ? AND dead_lettered ORDER BY sequence_number",
                (now, now, queue))
            moved: int = db.execute("DELETE FROM messages WHERE queue = ? AND dead_lettered",
                                    (queue,)).rowcount
        metering.count("queue.redrive", amount=moved, queue=queue)
        return moved

    def purge_session(self, queue: str, session_id: str,
                      should_remove: Callable[[bytes], bool]) -> int:
        """Delete the session's messages (live, scheduled, locked or dead-lettered) whose body
        ``should_remove`` picks: an erasure's "anything queued for them". Returns how many."""
        self._spec(queue)
        with self._transaction() as db:
            rows = db.execute("SELECT sequence_number, body FROM messages"
                              " WHERE queue = ? AND session_id = ?", (queue, session_id)).fetchall()
            doomed = [row["sequence_number"] for row in rows if should_remove(bytes(row["body"]))]
            db.executemany("DELETE FROM messages WHERE sequence_number = ?",
                           [(number,) for number in doomed])
        metering.count("queue.purged", amount=len(doomed), queue=queue)
        return len(doomed)

    # -- life cycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Release this owner's locks (their messages are delivered again at once) and the
        file. Idempotent; any later call raises ``QueueUnavailable``."""
        with self._lock:
            db, self._db = self._db, None
            if db is not None:
                with suppress(sqlite3.Error):
                    db.execute(_RELEASE_OWNER_LOCKS, (self._owner,))
                db.close()
            if self._lease is not None:
                (self._owners_dir / f"{self._owner}.lock").unlink(missing_ok=True)
                os.close(self._lease)
                self._lease = None

    @property
    def closed(self) -> bool:
        return self._db is None

    # -- internals --------------------------------------------------------------------------
    def _spec(self, queue: str) -> QueueSpec:
        try:
            return self._specs[queue]
        except KeyError:
            raise ValueError(f"unknown queue {queue!r}") from None

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction. A writer takes the write lock up front (``BEGIN IMMEDIATE``), so
        a concurrent writer makes it wait for the busy timeout instead of failing half-way."""
        with self._lock:
            db = self._db
            if db is None:
                raise QueueUnavailable(f"local queue {self.path} is closed")
            try:
                db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield db
                    db.execute("COMMIT")
                finally:
                    if db.in_transaction:
                        db.rollback()
            except sqlite3.Error as error:
                raise QueueUnavailable(f"local queue {self.path}: {error}") from error

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        elif version != _SCHEMA_VERSION:
            raise QueueUnavailable(
                f"local queue {self.path} has schema version {version}, this code knows "
                f"{_SCHEMA_VERSION}: delete the file or use a matching version")

    def _take_lease(self) -> None:
        lease = os.open(self._owners_dir / f"{self._owner}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._lease = lease

    def _release_dead_owners(self, db: sqlite3.Connection) -> None:
        """Release the locks of every owner whose lease nobody holds any more."""
        live = [self._owner]
        for lease_file in self._owners_dir.glob("*.lock"):
            if lease_file.stem == self._owner:
                continue
            if _lease_held(lease_file):
                live.append(lease_file.stem)
            else:
                lease_file.unlink(missing_ok=True)
        db.execute(_RELEASE_LOCKS_EXCEPT_OWNERS, (json.dumps(live),))

    def _locked_row(self, db: sqlite3.Connection, message: ReceivedMessage) -> sqlite3.Row:
        row: sqlite3.Row | None = db.execute(
            "SELECT * FROM messages WHERE sequence_number = ? AND queue = ? AND lock_token = ?"
            " AND locked_until > ? AND NOT dead_lettered",
            (message.sequence_number, message.queue, message.lock_token,
             _micros(self.clock.now()))).fetchone()
        if row is None:
            raise LockLost(f"the lock on message {message.message_id!r} of queue "
                           f"{message.queue!r} expired or was released")
        return row


_shared: dict[Path, LocalQueue] = {}
_shared_lock = threading.Lock()


def open_local_queue(path: Path, clock: Clock,
                     lock_duration: timedelta | None = None) -> LocalQueue:
    """The one open ``LocalQueue`` of this process for ``path``, so that the devhost and the
    app code it runs share locks and connection. All callers must pass the same clock; the
    first opener sets the queues' ``lock_duration`` (default: their specs', as in Azure)."""
    key = path.resolve()
    with _shared_lock:
        queue = _shared.get(key)
        if queue is None or queue.closed:
            specs = QUEUES if lock_duration is None else {
                name: replace(spec, lock_duration=lock_duration)
                for name, spec in QUEUES.items()}
            queue = _shared[key] = LocalQueue(key, clock, specs)
        elif queue.clock is not clock:
            raise ValueError(f"local queue {key} is already open with another clock")
        return queue


def _lease_held(lease_file: Path) -> bool:
    try:
        lease = os.open(lease_file, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(lease)
    return False


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _moment(micros: int) -> datetime:
    return _EPOCH + micros * _MICROSECOND


def _optional_moment(micros: int | None) -> datetime | None:
    return None if micros is None else _moment(micros)


def _exhausted(delivery_count: int) -> str:
    return f"Message could not be consumed after {delivery_count} delivery attempts."


def _received(row: sqlite3.Row) -> ReceivedMessage:
    return ReceivedMessage(
        queue=row["queue"],
        body=bytes(row["body"]),
        session_id=row["session_id"],
        message_id=row["message_id"],
        sequence_number=row["sequence_number"],
        delivery_count=row["delivery_count"],
        enqueued_at=_moment(row["enqueued_at"]),
        scheduled_at=_optional_moment(row["scheduled_at"]),
        locked_until=_optional_moment(row["locked_until"]),
        lock_token=row["lock_token"],
        content_type=row["content_type"],
        properties=json.loads(row["properties"]),
        dead_letter_reason=row["dead_letter_reason"],
        dead_letter_description=row["dead_letter_description"],
    )
