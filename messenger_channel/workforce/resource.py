"""The shape queues, agents and workstreams share: a stored ``Record``, and its ``Resource``.

A ``Resource`` has the management operations (read, list, patch, delete, and the steps of
create) that each kind specialises through hooks. It refuses with the core's refusals
(``messenger_channel.errors``); how records are shown over HTTP is the API's business.

Each kind lives in one partition of its own table: an operator has tens to hundreds of
them, so a lookup is a point read and a list one small partition scan.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel, StringConstraints

from messenger_channel.clock import Clock, system_clock
from messenger_channel.errors import Conflict, Missing
from messenger_channel.services import Services
from messenger_channel.storage.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    InvalidKey,
    NotFound,
)
from messenger_channel.storage.tables import Entity, Table, TableStore

Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(6)


class Record(Entity):
    """A managed resource as stored: ``PARTITION`` of ``TABLE``, keyed by id."""

    TABLE: ClassVar[str]
    PARTITION: ClassVar[str]

    id: str
    created_at: datetime
    updated_at: datetime

    def partition_key(self) -> str:
        return self.PARTITION

    def row_key(self) -> str:
        return self.id


# --------------------------------------------------------------------------------- claims


class Claim(Entity):
    """``owner`` holds ``value`` (a hash of it in the key: values may hold any character)."""

    kind: str
    value_hash: str
    owner: str

    def partition_key(self) -> str:
        return self.kind

    def row_key(self) -> str:
        return self.value_hash


class Claims:
    """Values that one record at a time may hold: a queue's name, a workstream's page.

    The claim is created before the record is written, so of two concurrent writers one
    gets ``AlreadyExists``. A process that dies between the two leaves the claim behind;
    the value stays taken until the claim row is deleted.
    """

    def __init__(self, store: TableStore, kind: str) -> None:
        self._table: Table[Claim] = store.table("WorkforceClaims", Claim)
        self._kind = kind

    @staticmethod
    def _hash(value: str) -> str:
        return hashlib.sha256(value.encode("utf-8")).hexdigest()

    def owner(self, value: str) -> str | None:
        claim = self._table.get(self._kind, self._hash(value))
        return None if claim is None else claim.owner

    def take(self, value: str, owner: str) -> bool:
        """True if newly taken, False if ``owner`` held it already; ``AlreadyExists`` if
        another owner does."""
        try:
            self._table.create(Claim(kind=self._kind, value_hash=self._hash(value), owner=owner))
        except AlreadyExists:
            if self.owner(value) != owner:
                raise
            return False
        return True

    def release(self, value: str, owner: str) -> None:
        """Let go of ``value`` if ``owner`` still holds it."""
        found = self._table.get_with_etag(self._kind, self._hash(value))
        if found is None or found.entity.owner != owner:
            return
        # Changed or gone meanwhile: no longer ours to release.
        with contextlib.suppress(ConcurrencyConflict, NotFound):
            self._table.delete(self._kind, found.entity.value_hash, etag=found.etag)


# ------------------------------------------------------------------------------- resource

R = TypeVar("R", bound=Record)


def find_record(tables: TableStore, kind: type[R], record_id: str) -> R | None:
    """The stored ``kind`` with this id, if any: one point read."""
    try:
        return tables.table(kind.TABLE, kind).get(kind.PARTITION, record_id)
    except InvalidKey:  # an id we never issued, e.g. with a control character
        return None


class Resource(ABC, Generic[R]):
    """The management operations on one kind of record, with hooks for what differs.

    Each kind adds its own ``create`` from ``new`` and ``insert``: what it gives back
    differs (an agent's key is shown once, when it is made).

    ``UNIQUE`` names a field whose value one record at a time may hold (``unique_value``
    says how values compare); ``conflict`` is the refusal for a value already taken.
    """

    KIND: ClassVar[str]  # "queue": in messages and route names
    ID_PREFIX: ClassVar[str]
    RECORD: ClassVar[type[Record]]
    UNIQUE: ClassVar[str | None] = None

    def __init__(self, tables: TableStore, clock: Clock = system_clock) -> None:
        self.tables = tables
        self.clock = clock
        # RECORD is R's class, which a ClassVar cannot say.
        self.table: Table[R] = tables.table(self.RECORD.TABLE, self.RECORD)  # type: ignore[arg-type]

    @classmethod
    def of(cls, services: Services) -> Self:
        """The resource on the process's stores (a kind that keeps secrets takes the store)."""
        return cls(services.tables, services.clock)

    # ----------------------------------------------------------------- hooks

    @abstractmethod
    def build(self, body: Any, record_id: str, now: datetime) -> R:
        """The new record for a validated create body."""

    def check(self, record: R, previous: R | None) -> None:
        """Refuse (raise ``Invalid``) if ``record`` may not be stored (``previous``: None on
        create). On PATCH it runs inside the read-modify-write, on the latest stored version."""

    def before_delete(self, record: R) -> None:
        """Refuse (raise a ``Refusal``) or prepare the deletion of ``record``."""

    def unique_value(self, value: str) -> str:
        return value

    def conflict(self, value: str) -> Conflict:
        return Conflict(f"{self.UNIQUE}_taken",
                        f"another {self.KIND} has the {self.UNIQUE} {value!r}")

    # ------------------------------------------------------------ operations

    def find(self, record_id: str) -> R | None:
        try:
            return self.table.get(self.RECORD.PARTITION, record_id)
        except InvalidKey:  # an id we never issued, e.g. with a control character
            return None

    def get(self, record_id: str) -> R:
        record = self.find(record_id)
        if record is None:
            raise Missing.of(f"{self.KIND} {record_id}")
        return record

    def all(self) -> list[R]:
        return self.table.list_partition(self.RECORD.PARTITION)

    def new(self, body: Any, now: datetime) -> R:
        """The record for a validated create body, with a new id and checked; not stored."""
        record = self.build(body, new_id(self.ID_PREFIX), now)
        self.check(record, None)
        return record

    def insert(self, record: R) -> None:
        """Store a new, checked record, claiming its unique value first."""
        taken = self._take(record.id, getattr(record, self.UNIQUE) if self.UNIQUE else None)
        try:
            self.table.create(record)
        except BaseException:
            self._release(record.id, taken)
            raise

    def patch(self, record_id: str, body: BaseModel) -> R:
        """Change the fields ``body`` sets (a PATCH body: absent fields stay as they are)."""
        changes = {name: getattr(body, name) for name in body.model_fields_set}
        self.get(record_id)  # a 404 before anything is claimed
        raw = changes.get(self.UNIQUE) if self.UNIQUE else None
        return self.exchange(record_id, changes, acquired=self._take(record_id, raw),
                             release=lambda value: self._release(record_id, value),
                             held=self._unique_of)

    def update(self, record_id: str, changes: dict[str, Any]) -> tuple[R, R]:
        """Apply ``changes`` under the ETag, checked against the latest version; returns
        (the version replaced, the version stored)."""
        now = self.clock.now()
        replaced: list[R] = []

        def mutate(current: R) -> R:
            merged = type(current).model_validate(
                {**dict(current), **changes, "updated_at": now}
            )
            self.check(merged, current)
            replaced.append(current)
            return merged

        try:
            updated = self.table.update(self.RECORD.PARTITION, record_id, mutate)
        except NotFound:
            raise Missing.of(f"{self.KIND} {record_id}") from None
        return replaced[-1], updated

    def exchange(self, record_id: str, changes: dict[str, Any], *, acquired: str | None,
                 release: Callable[[str], None], held: Callable[[R], str | None]) -> R:
        """``update`` for changes that move the record from something it ``held`` (a claimed
        name, a key) to ``acquired``, taken beforehand: if the update fails, ``acquired`` is
        released; if it succeeds, what the replaced version held (under concurrent changes,
        not necessarily what was read before)."""
        try:
            replaced, updated = self.update(record_id, changes)
        except BaseException:
            if acquired is not None:
                release(acquired)
            raise
        previous = held(replaced)
        if acquired is not None and previous is not None and previous != acquired:
            release(previous)
        return updated

    def delete(self, record_id: str) -> None:
        record = self.get(record_id)
        self.before_delete(record)
        self.table.delete(self.RECORD.PARTITION, record_id)
        self._release(record_id, self._unique_of(record))

    def holder(self, raw: str) -> str | None:
        """The id of the record holding ``raw`` as its ``UNIQUE`` value, if any."""
        return self._claims().owner(self.unique_value(raw))

    # -------------------------------------------------------------- claims

    def _claims(self) -> Claims:
        return Claims(self.tables, f"{self.KIND}_{self.UNIQUE}")

    def _unique_of(self, record: R) -> str | None:
        return self.unique_value(getattr(record, self.UNIQUE)) if self.UNIQUE else None

    def _take(self, owner: str, raw: str | None) -> str | None:
        """Claim ``raw``'s unique value for ``owner``; that value if newly taken (to release
        should the write fail), None if there is nothing to claim or ``owner`` held it."""
        if raw is None:
            return None
        value = self.unique_value(raw)
        try:
            return value if self._claims().take(value, owner) else None
        except AlreadyExists:
            raise self.conflict(raw) from None

    def _release(self, owner: str, value: str | None) -> None:
        if value is not None:
            self._claims().release(value, owner)
