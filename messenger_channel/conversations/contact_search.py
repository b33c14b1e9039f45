"""Contacts search: a word-prefix index over the agents' contacts and the customers' Messenger
profiles, so that a search is a few range reads and point reads, never a scan.

============ =========================== =================================== ===================
table        PartitionKey                RowKey                              answers
============ =========================== =================================== ===================
ContactWords the word key's first unit:  ``<word key>|<kind>|<ref>``         every word that
             ``a``-``z``, ``0``-``9``,   kind ``contact`` (``AgentContacts``, starts with a prefix:
             ``@._+-`` or ``~<6 hex>``   ref: contact id) or ``profile``     one range of one
                                         (``Contacts``, ref: page id:PSID)   partition
============ =========================== =================================== ===================

**Words.** Text is normalised (NFKD, combining marks dropped, case folded, a few letters that
have no decomposition folded: ø→o, ł→l, æ→ae..., every decimal digit made ASCII); a word is a
run of letters and digits. A name gives its words; an email its whole normalised form and its
parts (``lea.roy@example.test``: that, ``lea``, ``roy``, ``example``, ``test``); a phone its
digits (``+33 6-12`` → ``33612``). A profile whose name Facebook did not give (the name shown
is ``Customer 1234``) has no words. A query matches a contact when every query term is a
prefix of one of its words: a query that looks like a phone is one term, its digits; a query
word holding an ``@`` after something is an email prefix; any other word is split into words.

**Keys.** The word key spells ASCII letters, digits and ``@._+-`` as themselves and any other
character as ``~`` and 6 hex digits: a prefix-free code, so a word starts with a term exactly
when its key starts with the term's key, the keys sort the same in every service, and the end
of a prefix's range is the key with its last (ASCII) character incremented. Keys hold the
first ``MAX_WORD_CHARS`` characters of a word: a longer term reads the range of its first
``MAX_WORD_CHARS``, and the loaded contact is checked against the whole term.

**Search.** One range read per term (``MAX_RANGED_TERMS`` longest terms; a range is paged by
1000 rows, at most ``MAX_RANGE_ROWS``), the intersection of the targets found, newest first
(each row holds its target's ``created_at``), then one point read per target until ``limit``
targets are found, checked against the whole query.

**Self-healing.** A contact and its rows live in different partitions and cannot change in
one transaction. Writers add the new words' rows (upserts, one transaction per partition)
*before* writing the contact, and remove the old words' rows *after*. So every word of a
stored contact has its row, and an interruption only leaves rows too many: rows of a contact
never created, or of words it no longer has. A search loads every target it answers with, so
it skips a missing target and drops a row whose word the target no longer has, and deletes
such a row (best effort) once it is ``STALE_AFTER`` old (a younger one may belong to a write
in flight) and unchanged since it read it (its ETag). Writers delete old rows by the same rule.
``ContactIndex.backfill`` adds the rows of contacts stored before the index existed.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Generic, Literal, TypeVar

from messenger_channel.clock import Clock
from messenger_channel.conversations.models import Contact
from messenger_channel.storage.errors import ConcurrencyConflict, NotFound, StorageError
from messenger_channel.storage.tables import (
    DEFAULT_RETRIES,
    MAX_BATCH_OPERATIONS,
    MAX_PAGE_SIZE,
    Entity,
    M,
    Table,
    TableStore,
    UpsertOp,
)

log = logging.getLogger(__name__)

Kind = Literal["contact", "profile"]
T = TypeVar("T")

CONTACT_WORDS = "ContactWords"
MAX_WORD_CHARS = 32  # of a word in its key; longer terms are checked on the loaded contact
MAX_RANGED_TERMS = 4  # terms read as ranges; further ones are only checked on the loaded ones
MAX_RANGE_ROWS = 10 * MAX_PAGE_SIZE  # per term: "a" over a huge directory stays bounded
STALE_AFTER = timedelta(minutes=5)  # a younger row may belong to a write in flight
LOAD_WORKERS = 8  # point reads of one search in parallel

# Letters without a canonical decomposition that people type without their stroke or ligature.
_FOLDS = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae",
                        "œ": "oe", "\u0131": "i", "ħ": "h", "ŧ": "t", "ŀ": "l", "ĸ": "k"})
_MARKS = frozenset({"Mn", "Me"})
_WORD = re.compile(r"[^\W_]+")
_PHONE_QUERY = re.compile(r"\+?[0-9 ().\-/]*[0-9][0-9 ().\-/]*")
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789@._+-")


# ------------------------------------------------------------------------------ words


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(
        str(unicodedata.decimal(c)) if unicodedata.category(c) == "Nd" else c
        for c in text if unicodedata.category(c) not in _MARKS
    )  # fmt: skip


def normalise(text: str) -> str:
    """Case- and accent-free text: ``Élodie Łukasz`` → ``elodie lukasz``. Idempotent."""
    # Folding the case may make new decompositions (``ǅ`` → ``ǆ`` → ``dž``): fold again.
    return _fold(_fold(text).casefold().translate(_FOLDS))


def words(text: str | None) -> list[str]:
    """The words of a text: runs of letters and digits, normalised."""
    return _WORD.findall(normalise(text)) if text else []


def email_words(email: str | None) -> set[str]:
    """An email's whole normalised form and its parts."""
    if not email:
        return set()
    whole = _email_form(email)
    return {whole, *words(email)} if whole else set(words(email))


def phone_words(phone: str | None) -> set[str]:
    """A phone's digits, whatever separators it was written with."""
    digits = "".join(c for c in normalise(phone or "") if c.isascii() and c.isdigit())
    return {digits} if digits else set()


def _email_form(text: str) -> str:
    # Letters, digits and the separators of addresses (@ . _ + -); spaces and others dropped.
    return "".join(c for c in normalise(text) if c.isalnum() or c in "@._+-")


def contact_words(name: str | None, email: str | None = None,
                  phone: str | None = None) -> frozenset[str]:
    return frozenset({*words(name), *email_words(email), *phone_words(phone)})


def query_terms(query: str) -> list[str]:
    """What a query asks for: each term must be a prefix of one of a contact's words.

    A query that looks like a phone number is one term, its digits (``+33 6 12-34`` →
    ``3361234``). A query word with an ``@`` after its first character is an email prefix,
    matched against whole addresses; other words give their words. A term that is a prefix of
    another term is implied by it and left out."""
    text = normalise(query).strip()
    if _PHONE_QUERY.fullmatch(text):
        return sorted(phone_words(text))
    found: set[str] = set()
    for chunk in text.split():
        whole = _email_form(chunk)
        if "@" in whole[1:]:
            found.add(whole)
        else:
            found.update(_WORD.findall(chunk))
    return sorted(term for term in found
                  if not any(other != term and other.startswith(term) for other in found))


def matches(terms: Iterable[str], target_words: Iterable[str]) -> bool:
    """Every term is a prefix of one of the words."""
    held = tuple(target_words)
    return all(any(word.startswith(term) for word in held) for term in terms)


def word_key(word: str) -> str:
    """The word as it sorts in a key: ASCII letters, digits and ``@._+-`` as themselves, any
    other character as ``~`` and its 6-hex-digit code point (prefix-free, ASCII only)."""
    return "".join(c if c in _PLAIN else f"~{ord(c):06x}" for c in word[:MAX_WORD_CHARS])


def key_partition(key: str) -> str:
    """A word key's partition: its first character's code (``a``, ``7``, ``~0003c3``)."""
    return key[:7] if key.startswith("~") else key[:1]


def prefix_end(key: str) -> str:
    """The smallest key after every key that starts with ``key`` (its last character is ASCII
    and not ``~``, never the largest character). The character after ``.`` is ``/``, which
    keys may not hold; no key character lies between it and ``0``, so ``0`` bounds alike."""
    end = chr(ord(key[-1]) + 1)
    return key[:-1] + ("0" if end == "/" else end)


def every_entity(table: Table[M]) -> Iterator[M]:
    """Every entity of a table, page by page: for one-off jobs (the backfill), never on the
    path of a request."""
    cursor = None
    while True:
        page = table.query("PartitionKey ge @low", {"low": ""}, page_size=MAX_PAGE_SIZE,
                           continuation=cursor)
        yield from page.items
        if page.next is None:
            return
        cursor = page.next


# ------------------------------------------------------------------------------ targets


@dataclass(frozen=True, order=True)
class Ref:
    """A contact the index points to, by its kind and its keys in its own table."""

    kind: Kind
    partition: str
    row: str

    @property
    def text(self) -> str:
        return self.row if self.kind == "contact" else f"{self.partition}:{self.row}"


@dataclass(frozen=True)
class Indexed:
    """What the index knows of a contact: where it is, its words, when it was made."""

    ref: Ref
    words: frozenset[str]
    created_at: datetime

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(word_key(word) for word in self.words if word)


def profile_ref(page_id: str, psid: str) -> Ref:
    return Ref("profile", page_id, psid)


def indexed_profile(contact: Contact) -> Indexed:
    """A customer's Messenger profile: the words of its name, unless Facebook gave none (the
    ``Customer 1234`` shown instead is nobody's name)."""
    named = contact.name_missing_reason is None
    return Indexed(profile_ref(contact.page_id, contact.psid),
                   contact_words(contact.name) if named else frozenset(), contact.created_at)


class ContactWord(Entity):
    """One word of one contact."""

    key: str  # word_key of the word
    kind: Kind
    target_partition: str
    target_row: str
    created_at: datetime  # the contact's, so that an answer is ordered before any read
    written_at: datetime  # this row's last write: a young row may belong to a write in flight

    @property
    def ref(self) -> Ref:
        return Ref(self.kind, self.target_partition, self.target_row)

    def partition_key(self) -> str:
        return key_partition(self.key)

    def row_key(self) -> str:
        return f"{self.key}|{self.kind}|{self.ref.text}"


@dataclass(frozen=True)
class Loaded(Generic[T]):
    """A target as a search loaded it: what the index needs to check, and the item itself."""

    indexed: Indexed
    item: T


Loader = Callable[[Ref], Loaded[T] | None]


# ------------------------------------------------------------------------------ index


class ContactIndex:
    def __init__(self, store: TableStore, clock: Clock) -> None:
        self.rows: Table[ContactWord] = store.table(CONTACT_WORDS, ContactWord)
        self.clock = clock

    # -------------------------------------------------------------- writing

    def add(self, target: Indexed) -> None:
        """Write every row of ``target`` (before the target itself): one transaction per
        partition, whatever was there (a row of a word the target keeps is rewritten)."""
        self._upsert(self._rows(target))

    def remove(self, ref: Ref, keys: Iterable[str]) -> None:
        """Delete the rows of words the target no longer has (after the target is written),
        by the staleness rule: rows younger than ``STALE_AFTER`` stay for a later search."""
        for key in sorted(set(keys)):
            self._delete_stale(ref, key)

    def update(self, table: Table[M], partition_key: str, row_key: str,
               mutate: Callable[[M], M | None], indexed: Callable[[M], Indexed],
               *, retries: int = DEFAULT_RETRIES) -> M:
        """``Table.update`` of a searchable contact, its rows kept right: the new words' rows,
        the contact under its ETag, then the old words' rows gone. ``NotFound`` when it does not
        exist; ``ConcurrencyConflict`` after ``retries`` lost races."""
        for _ in range(retries + 1):
            current = table.get_with_etag(partition_key, row_key)
            if current is None:
                raise NotFound(f"table {table.name}: entity {partition_key}/{row_key} not found")
            wanted = mutate(current.entity.model_copy(deep=True))
            if wanted is None:
                return current.entity
            before, after = indexed(current.entity), indexed(wanted)
            if after.keys != before.keys:  # other changes cost the index nothing
                self.add(after)
            try:
                table.replace(wanted, current.etag)
            except ConcurrencyConflict:
                continue
            self.remove(before.ref, before.keys - after.keys)
            return wanted
        raise ConcurrencyConflict(f"table {table.name}: entity {partition_key}/{row_key} kept "
                                  f"changing; gave up after {retries + 1} attempts")

    def backfill(self, targets: Iterable[Indexed]) -> int:
        """Add the rows missing for ``targets`` (contacts stored before the index, or whose
        rows were lost); returns how many. Reads the whole index once: a one-off."""
        held = {(row.partition_key(), row.row_key()) for row in every_entity(self.rows)}
        missing = [row for target in targets for row in self._rows(target)
                   if (row.partition_key(), row.row_key()) not in held]
        self._upsert(missing)
        return len(missing)

    def _rows(self, target: Indexed) -> list[ContactWord]:
        now = self.clock.now()
        return [ContactWord(key=key, kind=target.ref.kind, target_partition=target.ref.partition,
                            target_row=target.ref.row, created_at=target.created_at,
                            written_at=now)
                for key in sorted(target.keys)]

    def _upsert(self, rows: Sequence[ContactWord]) -> None:
        by_partition: dict[str, list[ContactWord]] = {}
        for row in rows:
            by_partition.setdefault(row.partition_key(), []).append(row)
        for partition in sorted(by_partition):
            batch = iter(by_partition[partition])
            while chunk := list(islice(batch, MAX_BATCH_OPERATIONS)):
                self.rows.transaction([UpsertOp(row) for row in chunk])

    def _delete_stale(self, ref: Ref, key: str, seen: ContactWord | None = None) -> None:
        """Delete one row of a word its target does not have, if it is old enough and unchanged
        since this read. Best effort: a row left is only a wasted read for a later search."""
        if seen is not None and not self._old(seen):
            return  # young as listed: no need to read it again
        partition, row_key = key_partition(key), f"{key}|{ref.kind}|{ref.text}"
        try:
            current = self.rows.get_with_etag(partition, row_key)
            if current is None or not self._old(current.entity):
                return
            self.rows.delete(partition, row_key, etag=current.etag)
        except ConcurrencyConflict:
            return  # rewritten meanwhile: a writer wants it
        except StorageError as error:
            log.warning("stale contact word not deleted",
                        extra={"table": CONTACT_WORDS, "error": type(error).__name__})

    def _old(self, row: ContactWord) -> bool:
        return row.written_at <= self.clock.now() - STALE_AFTER

    # -------------------------------------------------------------- searching

    def search(self, query: str, limit: int, load: Loader[T]) -> list[T]:
        """The targets matching ``query``, newest first, at most ``limit``: one range read per
        term (``MAX_RANGED_TERMS`` at most), then one point read per target answered (and per
        stale row met)."""
        terms = query_terms(query)
        if not terms or limit < 1:
            return []
        found: dict[Ref, list[ContactWord]] | None = None
        for term in sorted(terms, key=lambda t: (-len(t), t))[:MAX_RANGED_TERMS]:
            rows = self._range(word_key(term))
            found = rows if found is None else {
                ref: [*seen, *rows[ref]] for ref, seen in found.items() if ref in rows}
            if not found:
                return []
        assert found is not None
        candidates = found
        order = sorted(candidates,
                       key=lambda ref: (-candidates[ref][0].created_at.timestamp(), ref))
        answer: list[Loaded[T]] = []
        start = 0
        while len(answer) < limit and start < len(order):
            batch = order[start:start + limit - len(answer)]
            start += len(batch)
            for ref, loaded in zip(batch, self._load(batch, load), strict=True):
                current = frozenset() if loaded is None else loaded.indexed.keys
                for row in candidates[ref]:
                    if row.key not in current:
                        self._delete_stale(ref, row.key, row)
                if loaded is not None and matches(terms, loaded.indexed.words):
                    answer.append(loaded)
        answer.sort(key=lambda a: (-a.indexed.created_at.timestamp(), a.indexed.ref))
        return [loaded.item for loaded in answer]

    def _range(self, key: str) -> dict[Ref, list[ContactWord]]:
        """The rows of every word starting with ``key``, by target (up to ``MAX_RANGE_ROWS``:
        a prefix shared by more words answers from the first ones, in word order)."""
        found: dict[Ref, list[ContactWord]] = {}
        cursor, read = None, 0
        while read < MAX_RANGE_ROWS:
            page = self.rows.query(
                "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                {"pk": key_partition(key), "low": key, "high": prefix_end(key)},
                page_size=MAX_PAGE_SIZE, continuation=cursor)
            for row in page.items:
                found.setdefault(row.ref, []).append(row)
            read += len(page.items)
            if page.next is None:
                break
            cursor = page.next
        return found

    @staticmethod
    def _load(refs: Sequence[Ref], load: Loader[T]) -> list[Loaded[T] | None]:
        if len(refs) <= 1:
            return [load(ref) for ref in refs]
        with ThreadPoolExecutor(min(LOAD_WORKERS, len(refs)),
                                thread_name_prefix="contact-search") as pool:
            # Each read in a copy of this context: metering labels follow the work.
            futures = [pool.submit(copy_context().run, load, ref) for ref in refs]
            return [future.result() for future in futures]
