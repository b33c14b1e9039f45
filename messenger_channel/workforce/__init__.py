"""Queues, agents and workstreams: who takes conversations, and the settings they follow.

The three are managed alike, so the shape they share lives here: a ``Record`` (an entity
with an id and its times), its API models, and a ``Resource`` with the management
operations (create, read, list, patch, delete) that each kind specialises through hooks.

Each kind lives in one partition of its own table: an operator has tens to hundreds of
them, so a lookup is a point read and a list one small partition scan.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, StringConstraints, create_model

from messenger_channel.api.errors import ApiError, not_found
from messenger_channel.api.lists import DEFAULT_LIMIT, ListPage, paginate
from messenger_channel.api.types import ApiTime
from messenger_channel.clock import Clock, system_clock
from messenger_channel.storage.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    InvalidKey,
    NotFound,
)
from messenger_channel.storage.tables import Entity, Table, TableStore

Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def invalid(problems: list[tuple[str, str]]) -> ApiError:
    """The 422 for problems found beyond the body's own validation: (field, message) pairs."""
    return ApiError(422, "validation_error", "; ".join(f"{f}: {m}" for f, m in problems),
                    [{"field": field, "message": message} for field, message in problems])


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(6)


class Record(Entity):
    """A managed resource as stored: ``PARTITION`` of its table, keyed by id."""

    PARTITION: ClassVar[str]

    id: str
    created_at: datetime
    updated_at: datetime

    def partition_key(self) -> str:
        return self.PARTITION

    def row_key(self) -> str:
        return self.id


class RecordOut(BaseModel):
    """The fields every resource shows besides its own."""

    id: str
    created_at: ApiTime
    updated_at: ApiTime


def patch_model(model: type[BaseModel]) -> type[BaseModel]:
    """The PATCH body for ``model``: the same fields and checks, each optional. A field that
    is absent stays as it is; ``null`` is refused unless the field itself admits it."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        optional = copy.copy(info)
        # Defaults are not validated, so the default None only means "absent"; a null in
        # the body is still checked against the field's own type.
        optional.default, optional.default_factory = None, None
        fields[name] = (info.annotation, optional)
    return create_model(f"{model.__name__.removesuffix('Fields')}Patch", __base__=model, **fields)


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


class Resource(ABC, Generic[R]):
    """The management operations on one kind of record, with hooks for what differs.

    ``UNIQUE`` names a field whose value one record at a time may hold (``unique_value``
    says how values compare); ``conflict`` is the error for a value already taken.
    """

    KIND: ClassVar[str]  # "queue": in messages and route names
    PATH: ClassVar[str]  # "queues": the collection's URL segment
    ID_PREFIX: ClassVar[str]
    TABLE: ClassVar[str]
    RECORD: ClassVar[type[Record]]
    CREATE: ClassVar[type[BaseModel]]
    PATCH: ClassVar[type[BaseModel]]
    OUT: ClassVar[type[BaseModel]]
    CREATED: ClassVar[type[BaseModel]]  # what POST answers; OUT unless it adds something
    UNIQUE: ClassVar[str | None] = None

    def __init__(self, tables: TableStore, clock: Clock = system_clock) -> None:
        self.tables = tables
        self.clock = clock
        # RECORD is R's class, which a ClassVar cannot say.
        self.table: Table[R] = tables.table(self.TABLE, self.RECORD)  # type: ignore[arg-type]

    # ----------------------------------------------------------------- hooks

    @abstractmethod
    def build(self, body: Any, record_id: str, now: datetime) -> R:
        """The new record for a validated create body."""

    def check(self, record: R, previous: R | None) -> None:
        """Raise ``ApiError`` if ``record`` may not be stored (``previous``: None on create).
        On PATCH it runs inside the read-modify-write, on the latest stored version."""

    def before_delete(self, record: R) -> None:
        """Refuse (raise ``ApiError``) or prepare the deletion of ``record``."""

    def unique_value(self, value: str) -> str:
        return value

    def conflict(self, value: str) -> ApiError:
        return ApiError(409, f"{self.UNIQUE}_taken",
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
            raise not_found(f"{self.KIND} {record_id}")
        return record

    def all(self) -> list[R]:
        return self.table.list_partition(self.RECORD.PARTITION)

    def out(self, record: R) -> BaseModel:
        return self.OUT.model_validate(record, from_attributes=True)

    def page(self, *, cursor: str | None = None, since: str | None = None,
             limit: int = DEFAULT_LIMIT) -> ListPage[Any]:
        """Newest activity first, as every list of the API."""
        page = paginate(self.all(), changed_at=lambda record: record.updated_at,
                        cursor=cursor, since=since, limit=limit)
        return ListPage[Any](items=[self.out(record) for record in page.items],
                             next=page.next, since=page.since)

    def create(self, body: BaseModel) -> BaseModel:
        record = self.build(body, new_id(self.ID_PREFIX), self.clock.now())
        self.check(record, None)
        self.insert(record)
        return self.out(record)

    def insert(self, record: R) -> None:
        """Store a new, checked record, claiming its unique value first."""
        taken = self._take(record.id, getattr(record, self.UNIQUE) if self.UNIQUE else None)
        try:
            self.table.create(record)
        except BaseException:
            self._release(record.id, taken)
            raise

    def patch(self, record_id: str, body: BaseModel) -> BaseModel:
        changes = {name: getattr(body, name) for name in body.model_fields_set}
        self.get(record_id)  # a 404 before anything is claimed
        raw = changes.get(self.UNIQUE) if self.UNIQUE else None
        updated = self.exchange(record_id, changes, acquired=self._take(record_id, raw),
                                release=lambda value: self._release(record_id, value),
                                held=self._unique_of)
        return self.out(updated)

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
            raise not_found(f"{self.KIND} {record_id}") from None
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
