"""Table Storage: typed entities (pydantic models) and one repository per table.

    class Contact(Entity):
        page_id: str
        psid: str
        name: str | None = None
        last_seen: datetime

        def partition_key(self) -> str:
            return self.page_id

        def row_key(self) -> str:
            return self.psid

    store = TableStore.from_settings(settings)          # one per process
    contacts = store.table("Contacts", Contact)
    contacts.create(Contact(page_id="1", psid="2", last_seen=clock.now()))
    contacts.update("1", "2", lambda c: c.model_copy(update={"name": "Ann"}))

Every method raises only the errors of ``messenger_channel.storage.errors``.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
import time
import types
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import (
    Annotated,
    Any,
    ClassVar,
    Generic,
    Literal,
    NamedTuple,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
)

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError
from azure.core.paging import PageIterator
from azure.data.tables import (
    EdmType,
    EntityProperty,
    RequestTooLargeError,
    TableClient,
    TableEntity,
    TableErrorCode,
    TableServiceClient,
    TableTransactionError,
    UpdateMode,
)
from pydantic import AwareDatetime, BaseModel

from messenger_channel import metering
from messenger_channel.settings import Settings
from messenger_channel.storage.clients import (
    NETWORK_DEFAULTS,
    ServiceStore,
    translate_errors,
)
from messenger_channel.storage.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    EntityTooLarge,
    InvalidContinuation,
    InvalidEntity,
    InvalidKey,
    NotFound,
    StorageError,
)

# Service limits (learn.microsoft.com, "Understanding the Table service data model").
# Sizes are in UTF-16 code units, as the service (and Azurite) measures strings.
MAX_KEY_UNITS = 512  # 1 KiB
MAX_STRING_UNITS = 32 * 1024  # 64 KiB
MAX_ENTITY_BYTES = 1024 * 1024
MAX_PROPERTIES = 252  # 255 with PartitionKey, RowKey and Timestamp
MAX_BATCH_OPERATIONS = 100
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_PAGE_SIZE = 1000
EARLIEST_DATETIME = datetime(1601, 1, 1, tzinfo=UTC)
INT32_RANGE = range(-(2**31), 2**31)
INT64_RANGE = range(-(2**63), 2**63)

# Read-modify-write: retries after a 412, with full-jitter exponential back-off.
DEFAULT_RETRIES = 10
RETRY_BASE_SECONDS = 0.01
RETRY_CAP_SECONDS = 0.5

_SYSTEM_PROPERTIES = frozenset({"PartitionKey", "RowKey", "Timestamp"})
_FORBIDDEN_KEY_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f/\\#?]")
_TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,62}")
_TABLE_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# A tuple, compared with ==: TableErrorCode is a str enum whose hash is its member name's, so
# a set lookup would miss codes that arrive as plain strings.
_TOO_LARGE_CODES = (
    TableErrorCode.PROPERTY_VALUE_TOO_LARGE,
    TableErrorCode.ENTITY_TOO_LARGE,
    TableErrorCode.REQUEST_BODY_TOO_LARGE,
)

# What submit_transaction takes: (operation, entity) or (operation, entity, options).
_SdkOperation = tuple[str, Mapping[str, Any]] | tuple[str, Mapping[str, Any], Mapping[str, Any]]


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", errors="surrogatepass")) // 2


def check_key(label: str, key: str) -> str:
    """Return ``key`` if the service accepts it as a PartitionKey or RowKey, else raise."""
    if not isinstance(key, str) or not key:
        raise InvalidKey(f"{label} must be a non-empty string")
    if _utf16_units(key) > MAX_KEY_UNITS:
        raise InvalidKey(f"{label} is longer than 1 KiB ({MAX_KEY_UNITS} UTF-16 code units)")
    forbidden = _FORBIDDEN_KEY_CHARACTERS.search(key)
    if forbidden:
        raise InvalidKey(f"{label} holds {forbidden.group()!r}, which the service forbids")
    return key


# ---------------------------------------------------------------------------------- entities


class _Storage(Enum):
    """How a field is stored, decided once per model from its annotation."""

    SCALAR = "scalar"  # str, int, bool, enums and literals: their own Edm type
    FLOAT = "float"  # always Edm.Double, even 3.0, so that filters compare doubles
    DATETIME = "datetime"  # Edm.DateTime, UTC
    JSON = "json"  # anything else, as its pydantic JSON text


class Entity(BaseModel, ABC):
    """Base of table entities. A subclass says how its keys derive from its fields.

    Fields are stored under their own names (aliases are refused: they belong to API
    models). ``None`` is stored by leaving the property out, so a field that admits ``None``
    must default to ``None``; a property unknown to the model is ignored on read, so removing
    a field needs no migration.
    """

    _storage: ClassVar[dict[str, _Storage]] = {}

    @abstractmethod
    def partition_key(self) -> str: ...

    @abstractmethod
    def row_key(self) -> str: ...

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # At class definition, so that a model the table cannot hold fails at import.
        cls._storage = _storage_plan(cls)


def _storage_plan(model: type[BaseModel]) -> dict[str, _Storage]:
    if len(model.model_fields) > MAX_PROPERTIES:
        raise TypeError(f"{model.__name__}: a table entity holds at most {MAX_PROPERTIES} fields")
    plan: dict[str, _Storage] = {}
    for name, field in model.model_fields.items():
        where = f"{model.__name__}.{name}"
        if name in _SYSTEM_PROPERTIES:
            raise TypeError(f"{where}: the name is reserved by Table Storage")
        if len(name) > 255:
            raise TypeError(f"{where}: a property name holds at most 255 characters")
        if any(
            alias not in (None, name)
            for alias in (field.alias, field.validation_alias, field.serialization_alias)
        ):
            raise TypeError(f"{where}: table entities store fields under their own names; "
                            "drop the alias")
        if _admits_none(field.annotation) and (field.is_required() or field.default is not None):
            raise TypeError(f"{where}: a field that admits None must default to None, because "
                            "None is stored as a missing property")
        plan[name] = _storage_of(field.annotation)
    return plan


def _admits_none(annotation: Any) -> bool:
    if annotation in (None, type(None), Any):
        return True
    origin = get_origin(annotation)
    if origin is Annotated:
        return _admits_none(get_args(annotation)[0])
    if origin in (Union, types.UnionType, Literal):
        return any(_admits_none(member) for member in get_args(annotation))
    return False


def _storage_of(annotation: Any) -> _Storage:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _storage_of(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        members = [member for member in get_args(annotation) if member is not type(None)]
        return _storage_of(members[0]) if len(members) == 1 else _Storage.JSON
    if origin is Literal or annotation in (str, int, bool):
        return _Storage.SCALAR
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _Storage.SCALAR
    if annotation is float:
        return _Storage.FLOAT
    if annotation in (datetime, AwareDatetime):
        return _Storage.DATETIME
    return _Storage.JSON


M = TypeVar("M", bound=Entity)


def to_properties(entity: Entity) -> dict[str, Any]:
    """The entity as the SDK's property dict, keys and sizes checked."""
    model = type(entity)
    label = model.__name__
    properties: dict[str, Any] = {
        "PartitionKey": check_key(f"{label} PartitionKey", entity.partition_key()),
        "RowKey": check_key(f"{label} RowKey", entity.row_key()),
    }
    json_fields = {name for name, storage in model._storage.items() if storage is _Storage.JSON}
    # JSON mode, so nested datetimes, enums and models take the form pydantic reads back.
    as_json = (
        entity.model_dump(mode="json", include=json_fields, round_trip=True) if json_fields else {}
    )
    for name, storage in model._storage.items():
        value = getattr(entity, name)
        if value is None:
            continue
        where = f"{label}.{name}"
        if storage is _Storage.JSON:
            properties[name] = json.dumps(as_json[name], ensure_ascii=False, separators=(",", ":"))
        elif storage is _Storage.DATETIME:
            properties[name] = _utc(where, value)
        elif storage is _Storage.FLOAT:
            properties[name] = float(value)
        else:
            properties[name] = _scalar(where, value)
    entity_size(label, properties)
    return properties


def from_properties(model: type[M], properties: Mapping[str, Any]) -> M:
    """The model from the SDK's property dict: the inverse of ``to_properties``."""
    data: dict[str, Any] = {}
    for name, storage in model._storage.items():
        if name not in properties:
            continue
        value = properties[name]
        if isinstance(value, EntityProperty):  # how the SDK returns Edm.Int64
            value = value.value
        if storage is _Storage.JSON:
            value = json.loads(value)
        elif isinstance(value, datetime):
            value = _plain_utc(value)
        data[name] = value
    return model.model_validate(data)


def _scalar(where: str, value: Any) -> bool | int | str | EntityProperty:
    if isinstance(value, Enum):
        value = value.value
    # Exact built-in types: the SDK picks the Edm type by ``type(value)``, not isinstance.
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        if value in INT32_RANGE:
            return int(value)
        if value in INT64_RANGE:
            return EntityProperty(int(value), EdmType.INT64)
        raise InvalidEntity(f"{where}: {value} does not fit a 64-bit integer")
    raise InvalidEntity(f"{where}: cannot store a {type(value).__name__} as a table property")


def _utc(where: str, moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidEntity(f"{where}: naive datetime; store timezone-aware (UTC) datetimes")
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        raise InvalidEntity(f"{where}: datetime out of range") from None
    if utc < EARLIEST_DATETIME:
        raise InvalidEntity(f"{where}: Edm.DateTime starts at 1601-01-01 UTC")
    return _plain_utc(utc)


def _plain_utc(moment: datetime) -> datetime:
    # Always a plain datetime: the SDK reads into TablesEntityDatetime, a subclass that keeps
    # the raw service string and that the SDK writes back in place of the datetime's value.
    utc = moment.astimezone(UTC)
    return datetime(utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second,
                    utc.microsecond, tzinfo=UTC)


def entity_size(label: str, properties: Mapping[str, Any]) -> int:
    """The service's size of an entity in bytes; raise ``EntityTooLarge`` over a limit."""
    size = 4
    for name, value in properties.items():
        if name in _SYSTEM_PROPERTIES:
            size += 2 * _utf16_units(value)
            continue
        if isinstance(value, str):
            units = _utf16_units(value)
            if units > MAX_STRING_UNITS:
                raise EntityTooLarge(
                    f"{label}.{name}: {units} UTF-16 code units; a string property holds at "
                    f"most {MAX_STRING_UNITS} (64 KiB)"
                )
            value_size = 4 + 2 * units
        elif isinstance(value, bool):
            value_size = 1
        elif isinstance(value, int):
            value_size = 4
        else:  # Edm.Int64, Edm.Double, Edm.DateTime
            value_size = 8
        size += 8 + 2 * len(name) + value_size
    if size > MAX_ENTITY_BYTES:
        raise EntityTooLarge(f"{label}: {size} bytes; an entity holds at most 1 MiB")
    return size


# ------------------------------------------------------------------------------- repository


@dataclass(frozen=True)
class Versioned(Generic[M]):
    entity: M
    etag: str


@dataclass(frozen=True)
class ResultPage(Generic[M]):
    """One page of a query. ``next`` is an opaque cursor for the following page (``None`` on
    the last); a page may hold fewer items than asked for, even none, before the end."""

    items: list[M]
    next: str | None


@dataclass(frozen=True)
class CreateOp:
    entity: Entity


@dataclass(frozen=True)
class UpsertOp:
    entity: Entity


@dataclass(frozen=True)
class ReplaceOp:
    entity: Entity
    etag: str


@dataclass(frozen=True)
class DeleteOp:
    """Unlike ``Table.delete``, fails the transaction when the entity does not exist."""

    partition_key: str
    row_key: str
    etag: str | None = None


TransactionOp = CreateOp | UpsertOp | ReplaceOp | DeleteOp


@dataclass(frozen=True)
class Written(Generic[M]):
    """An entity just stored: ``created``, or replacing ``before`` (None when the writer did
    not read it first: an upsert, a replace by ETag, a transaction)."""

    entity: M
    created: bool
    before: M | None = None


WriteObserver = Callable[[Written[M]], None]


class Table(Generic[M]):
    """The entities of one table, read and written as model ``M``. Thread-safe."""

    def __init__(
        self, client: TableClient, model: type[M], ensure_exists: Callable[[], None],
        observer: WriteObserver[M] | None = None,
    ) -> None:
        self._client = client
        self._ensure_exists = ensure_exists
        self.model = model
        self.name = client.table_name
        self._observer = observer

    def observed(self, observer: WriteObserver[M]) -> Table[M]:
        """This table, calling ``observer`` after each successful write of a ``M`` (deletes
        are not observed). The observer must not raise: the write is done."""
        return Table(self._client, self.model, self._ensure_exists, observer)

    def _notify(self, written: Written[M]) -> None:
        if self._observer is not None:
            self._observer(written)

    def get(self, partition_key: str, row_key: str) -> M | None:
        found = self.get_with_etag(partition_key, row_key)
        return None if found is None else found.entity

    def get_with_etag(self, partition_key: str, row_key: str) -> Versioned[M] | None:
        check_key("PartitionKey", partition_key)
        check_key("RowKey", row_key)
        try:
            with self._service(f"entity {partition_key}/{row_key}") as client:
                metering.count("table.read", "table.transactions", table=self.name)
                raw = client.get_entity(partition_key, row_key)
        except NotFound:
            metering.count("table.read_missing", table=self.name)
            return None
        # The service always sends an ETag with an entity.
        return Versioned(from_properties(self.model, raw), cast(str, raw.metadata["etag"]))

    def create(self, entity: M) -> str:
        """Insert; raise ``AlreadyExists`` if the keys are taken. Returns the new ETag."""
        properties = to_properties(entity)
        with self._service(_describe(properties)) as client:
            metering.count("table.insert", "table.transactions", table=self.name)
            etag = str(client.create_entity(properties)["etag"])
        self._notify(Written(entity, created=True))
        return etag

    def upsert(self, entity: M) -> str:
        """Insert or replace the whole entity (never merge: a field set to None must go)."""
        properties = to_properties(entity)
        with self._service(_describe(properties)) as client:
            metering.count("table.upsert", "table.transactions", table=self.name)
            etag = str(client.upsert_entity(properties, mode=UpdateMode.REPLACE)["etag"])
        self._notify(Written(entity, created=False))
        return etag

    def replace(self, entity: M, etag: str) -> str:
        """Replace only if unchanged since read as ``etag``: ``ConcurrencyConflict`` if changed,
        ``NotFound`` if deleted."""
        etag = self._replace(entity, etag)
        self._notify(Written(entity, created=False))
        return etag

    def _replace(self, entity: M, etag: str) -> str:
        properties = to_properties(entity)
        with self._service(_describe(properties)) as client:
            metering.count("table.update", "table.transactions", table=self.name)
            result = client.update_entity(
                properties, mode=UpdateMode.REPLACE, etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )  # fmt: skip
        return str(result["etag"])

    def delete(self, partition_key: str, row_key: str, *, etag: str | None = None) -> None:
        """Delete; a missing entity is not an error. With ``etag``, only if unchanged."""
        check_key("PartitionKey", partition_key)
        check_key("RowKey", row_key)
        with self._service(f"entity {partition_key}/{row_key}") as client:
            metering.count("table.delete", "table.transactions", table=self.name)
            if etag is None:
                client.delete_entity(partition_key, row_key)
            else:
                client.delete_entity(partition_key, row_key, etag=etag,
                                     match_condition=MatchConditions.IfNotModified)

    def query(
        self,
        query_filter: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        page_size: int = 100,
        continuation: str | None = None,
    ) -> ResultPage[M]:
        """One page of entities matching an OData filter, e.g. ``"PartitionKey eq @pk"``.

        Values go in ``parameters``, never into the filter text: the SDK quotes them. It
        substitutes word by word, so write ``@name`` with a space on each side.
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1 to {MAX_PAGE_SIZE}")
        values = _filter_parameters(query_filter, parameters or {})
        start = _decode_cursor(continuation)
        with self._service("query") as client:
            pages = cast(
                PageIterator[TableEntity],
                client.query_entities(
                    query_filter, parameters=values, results_per_page=page_size
                ).by_page(continuation_token=start),
            )
            # One page is one request, and one billed transaction, whatever it holds.
            metering.count("table.query", "table.transactions", table=self.name)
            raw = list(next(pages))
            metering.count("table.rows", amount=len(raw), table=self.name)
        items = [from_properties(self.model, entity) for entity in raw]
        return ResultPage(items, _encode_cursor(pages.continuation_token))

    def count(self, query_filter: str, parameters: Mapping[str, Any] | None = None, *,
              limit: int) -> int:
        """How many entities match, up to ``limit``. The service sends only their keys, so
        nothing is decoded but a RowKey per entity."""
        if limit < 1:
            raise ValueError("limit must be 1 or more")
        values = _filter_parameters(query_filter, parameters or {})
        counted = 0
        with self._service("count") as client:
            pages = client.query_entities(
                query_filter, parameters=values, select=["RowKey"],
                results_per_page=min(limit, MAX_PAGE_SIZE)).by_page()
            for page in pages:
                metering.count("table.query", "table.transactions", table=self.name)
                rows = sum(1 for _ in page)
                metering.count("table.rows", amount=rows, table=self.name)
                counted += rows
                if counted >= limit:
                    return limit
        return counted

    def query_all(self, query_filter: str, parameters: Mapping[str, Any] | None = None, *,
                  limit: int | None = None) -> Iterator[M]:
        """Every entity ``query`` finds (at most ``limit``), page after page, read lazily: a
        page is requested only when the one before it is used up."""
        cursor = None
        taken = 0
        while True:
            size = MAX_PAGE_SIZE if limit is None else max(1, min(MAX_PAGE_SIZE, limit - taken))
            page = self.query(query_filter, parameters, page_size=size, continuation=cursor)
            for item in page.items:
                yield item
                taken += 1
                if limit is not None and taken >= limit:
                    return
            if page.next is None:
                return
            cursor = page.next

    def list_partition(self, partition_key: str) -> list[M]:
        """Every entity of one partition (partitions are kept small by design)."""
        check_key("PartitionKey", partition_key)
        return list(self.query_all("PartitionKey eq @pk", {"pk": partition_key}))

    def update(
        self,
        partition_key: str,
        row_key: str,
        mutate: Callable[[M], M | None],
        *,
        retries: int = DEFAULT_RETRIES,
    ) -> M:
        """Read-modify-write under the entity's ETag; return what is stored.

        ``mutate`` gets a copy of the current entity and returns the new one, or ``None`` for
        "no change". When another writer got in between (412), re-read and call ``mutate``
        again: it must be a pure function of the entity it gets. ``NotFound`` if the entity
        does not exist; ``ConcurrencyConflict`` after ``retries`` lost races.
        """
        return self._read_modify_write(partition_key, row_key, None, mutate, retries)

    def create_or_update(
        self,
        partition_key: str,
        row_key: str,
        factory: Callable[[], M],
        mutate: Callable[[M], M | None],
        *,
        retries: int = DEFAULT_RETRIES,
    ) -> M:
        """``update``, except that a missing entity is first made by ``factory`` (then passed
        through ``mutate``) and created; if a concurrent writer creates it first, its entity
        is read and mutated instead. For find-or-create races."""
        return self._read_modify_write(partition_key, row_key, factory, mutate, retries)

    def transaction(self, operations: Sequence[TransactionOp]) -> None:
        """All or nothing: up to 100 operations on distinct entities of one partition."""
        if not 1 <= len(operations) <= MAX_BATCH_OPERATIONS:
            raise ValueError(f"a transaction holds 1 to {MAX_BATCH_OPERATIONS} operations")
        batch = [_batch_entry(operation) for operation in operations]
        if len({entry.keys[0] for entry in batch}) > 1:
            raise ValueError("a transaction stays in one partition")
        seen: set[tuple[str, str]] = set()
        for entry in batch:
            if entry.keys in seen:
                raise ValueError(f"{entry.keys[0]}/{entry.keys[1]} appears twice; "
                                 "a transaction touches each entity once")
            seen.add(entry.keys)
        size = sum(entry.size for entry in batch)
        if size > MAX_BATCH_BYTES:
            raise EntityTooLarge(f"transaction: {size} bytes; a batch holds at most 4 MiB")
        with self._service("transaction") as client:
            # A batch is billed as one transaction, however many operations it holds.
            metering.add({"table.batch": 1, "table.transactions": 1,
                          "table.batch_operations": len(batch)}, table=self.name)
            try:
                client.submit_transaction([entry.operation for entry in batch])
            except TableTransactionError as error:
                failure = _transaction_failure(self.name, error)
                if failure is None:
                    raise
                raise failure from error
        for operation in operations:
            # One table holds several kinds of rows (a message and its index rows).
            if not isinstance(operation, DeleteOp) and isinstance(operation.entity, self.model):
                self._notify(Written(operation.entity, created=isinstance(operation, CreateOp)))

    def _read_modify_write(
        self,
        partition_key: str,
        row_key: str,
        factory: Callable[[], M] | None,
        mutate: Callable[[M], M | None],
        retries: int,
    ) -> M:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        for attempt in range(retries + 1):
            if attempt:
                _pause_before_retry(attempt)
            current = self.get_with_etag(partition_key, row_key)
            if current is None:
                if factory is None:
                    raise NotFound(f"table {self.name}: entity {partition_key}/{row_key} not found")
                fresh = factory()
                wanted = mutate(fresh)
                entity = fresh if wanted is None else wanted
                self._check_keys(entity, partition_key, row_key)
                try:
                    self.create(entity)
                except AlreadyExists:
                    metering.count("table.retry", table=self.name)
                    continue  # created concurrently: mutate that one
                return entity
            wanted = mutate(current.entity.model_copy(deep=True))
            if wanted is None:
                return current.entity
            self._check_keys(wanted, partition_key, row_key)
            try:
                self._replace(wanted, current.etag)
            except ConcurrencyConflict:
                metering.count("table.retry", table=self.name)
                continue
            self._notify(Written(wanted, created=False, before=current.entity))
            return wanted
        raise ConcurrencyConflict(
            f"table {self.name}: entity {partition_key}/{row_key} kept changing; "
            f"gave up after {retries + 1} attempts"
        )

    def _check_keys(self, entity: M, partition_key: str, row_key: str) -> None:
        if (entity.partition_key(), entity.row_key()) != (partition_key, row_key):
            raise InvalidEntity(
                f"table {self.name}: the entity for {partition_key}/{row_key} came back with "
                f"the keys {entity.partition_key()}/{entity.row_key()}"
            )

    @contextmanager
    def _service(self, subject: str) -> Iterator[TableClient]:
        with _table_errors(f"table {self.name}: {subject}"):
            self._ensure_exists()
            yield self._client


def _describe(properties: Mapping[str, Any]) -> str:
    return f"entity {properties['PartitionKey']}/{properties['RowKey']}"


@contextmanager
def _table_errors(subject: str) -> Iterator[None]:
    try:
        with translate_errors(subject):
            yield
    except RequestTooLargeError as error:
        raise EntityTooLarge(f"{subject}: the request is too large") from error
    except HttpResponseError as error:
        code = getattr(error, "error_code", None)  # set by the Tables SDK's error decoding
        if code in _TOO_LARGE_CODES:
            raise EntityTooLarge(f"{subject}: too large ({code})") from error
        raise


def _filter_parameters(query_filter: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    # The SDK splits the filter on single spaces and substitutes the words that start with
    # '@'; a name glued to a parenthesis is sent unreplaced and the service answers 400.
    words = query_filter.split(" ")
    referenced = {word[1:] for word in words if word.startswith("@")}
    missing = sorted(referenced - parameters.keys())
    unused = sorted(parameters.keys() - referenced)
    if missing or unused:
        raise ValueError(
            f"filter parameters: missing {missing}, not referenced {unused}; write each as "
            "' @name ', with a space on each side"
        )
    if parameters and "" in words:
        raise ValueError("filter: separate words by single spaces (the SDK splits on them)")
    values: dict[str, Any] = {}
    for name, value in parameters.items():
        plain = value.value if isinstance(value, Enum) else value
        if isinstance(plain, datetime):
            plain = _utc(f"filter parameter @{name}", plain)
        elif not isinstance(plain, bool | int | float | str):
            raise TypeError(f"filter parameter @{name}: unsupported {type(plain).__name__}")
        values[name] = plain
    return values


def _encode_cursor(token: object) -> str | None:
    # azure-core types the token as str; the Tables SDK's is a dict of the service's
    # next-partition and next-row keys.
    if token is None:
        return None
    keys = cast(Mapping[str, str | None], token)
    raw = json.dumps([keys.get("PartitionKey"), keys.get("RowKey")], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> Any:
    # Typed Any: azure-core annotates continuation tokens as str, the Tables SDK uses a dict.
    if cursor is None:
        return None
    try:
        keys = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        partition_key, row_key = keys
        if not all(key is None or isinstance(key, str) for key in keys):
            raise TypeError
    except (binascii.Error, ValueError, TypeError):
        raise InvalidContinuation("the continuation cursor is not valid") from None
    return {"PartitionKey": partition_key, "RowKey": row_key}


class _BatchEntry(NamedTuple):
    keys: tuple[str, str]
    operation: _SdkOperation
    size: int


def _batch_entry(operation: TransactionOp) -> _BatchEntry:
    if isinstance(operation, DeleteOp):
        keys = (check_key("PartitionKey", operation.partition_key),
                check_key("RowKey", operation.row_key))
        options = (
            {"etag": operation.etag, "match_condition": MatchConditions.IfNotModified}
            if operation.etag else {}
        )  # fmt: skip
        return _BatchEntry(keys, ("delete", {"PartitionKey": keys[0], "RowKey": keys[1]}, options),
                           size=0)
    properties = to_properties(operation.entity)
    keys = (properties["PartitionKey"], properties["RowKey"])
    size = entity_size(type(operation.entity).__name__, properties)
    if isinstance(operation, CreateOp):
        return _BatchEntry(keys, ("create", properties), size)
    if isinstance(operation, UpsertOp):
        return _BatchEntry(keys, ("upsert", properties, {"mode": UpdateMode.REPLACE}), size)
    replace = {
        "mode": UpdateMode.REPLACE,
        "etag": operation.etag,
        "match_condition": MatchConditions.IfNotModified,
    }
    return _BatchEntry(keys, ("update", properties, replace), size)


def _transaction_failure(table: str, error: TableTransactionError) -> StorageError | None:
    """The domain error for the operation that failed the batch, if it has one."""
    subject = f"table {table}: transaction operation {error.index}"
    if error.status_code == 409:
        return AlreadyExists(f"{subject}: the entity already exists")
    if error.status_code == 404:
        return NotFound(f"{subject}: the entity does not exist")
    if error.status_code == 412:
        return ConcurrencyConflict(f"{subject}: the entity was changed since it was read")
    return None


def _pause_before_retry(attempt: int) -> None:
    ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2**attempt)
    time.sleep(random.uniform(0, ceiling))  # noqa: S311  # jitter, not security


# ------------------------------------------------------------------------------------ store


def client_options(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The SDK client's settings: ours, then the caller's."""
    # 3 retries of a transient failure: at once, then after 0.8 s and 1.6 s.
    return {**NETWORK_DEFAULTS, "retry_total": 3, "retry_backoff_factor": 0.4, **overrides}


class TableStore(ServiceStore):
    """The table service of one storage account; makes ``Table`` repositories.

    Creates each table on first use, once per store: hold one store per process. A
    ``prefix`` is prepended to every table name (tests use one per test).
    """

    SERVICE_CLIENT = TableServiceClient
    ENDPOINT_SETTING = "AzureWebJobsStorage__tableServiceUri"

    _service: TableServiceClient

    def __init__(self, service: TableServiceClient, *, prefix: str = "",
                 options: dict[str, Any] | None = None) -> None:
        if prefix and not _TABLE_PREFIX.fullmatch(prefix):
            raise ValueError("a table prefix is a letter followed by letters and digits")
        super().__init__(service, prefix=prefix, options=options)
        self._clients: dict[str, TableClient] = {}

    client_options = staticmethod(client_options)

    @staticmethod
    def settings_endpoint(settings: Settings) -> str | None:
        return settings.table_endpoint

    def table(self, name: str, model: type[M]) -> Table[M]:
        full_name = self._prefix + name
        if not _TABLE_NAME.fullmatch(full_name):
            raise ValueError(
                f"table name {full_name!r}: 3 to 63 letters and digits, starting with a letter"
            )
        return Table(self._client(full_name), model, lambda: self._ensure(full_name))

    def _client(self, full_name: str) -> TableClient:
        """One client per table, made once, with a pipeline of its own.

        ``TableServiceClient.get_table_client`` builds a pipeline from the service's own
        policy objects, re-linking them; doing that while another thread's request runs
        through them fails that request (seen under load: "_SansIOHTTPPolicyRunner has no
        attribute next"). A client built from the endpoint has its own policies."""
        client = self._clients.get(full_name)
        if client is None:
            with self._lock:
                client = self._clients.get(full_name)
                if client is None:
                    service = self._service
                    client = TableClient(
                        service.url, table_name=full_name, credential=service.credential,
                        api_version=service.api_version,
                        location_mode=service._location_mode,
                        _hosts=service._hosts,
                        **self._options)
                    self._clients[full_name] = client
        return client

    def check(self) -> None:
        """Raise ``StorageUnavailable`` unless the service answers and accepts the
        credentials; reads at most one table name."""
        with translate_errors("table service"):
            metering.count("table.list_tables", "table.transactions")
            pages = self._service.list_tables(results_per_page=1).by_page()
            list(next(pages))

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._service.close()

    def __enter__(self) -> TableStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _ensure(self, full_name: str) -> None:
        if full_name in self._created:
            return
        with self._lock:
            if full_name not in self._created:
                metering.count("table.create_table", "table.transactions", table=full_name)
                self._service.create_table_if_not_exists(full_name)
                self._created.add(full_name)
