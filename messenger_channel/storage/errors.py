"""The storage layer's domain errors. Callers never see an Azure SDK exception.

Messages name the table or container and the keys, never a credential or a value.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every error raised by the storage layer."""


class NotFound(StorageError):
    """The entity or blob does not exist."""


class AlreadyExists(StorageError):
    """A create met an existing entity with the same keys."""


class ConcurrencyConflict(StorageError):
    """The entity changed since it was read (ETag mismatch, HTTP 412), and retrying did not help
    or was not asked for."""


class StorageUnavailable(StorageError):
    """The service could not be reached, refused the credentials, throttled or failed (5xx).
    Transient from the caller's point of view: retry later (e.g. let the message be redelivered).
    """


class InvalidEntity(StorageError, ValueError):
    """The entity cannot be stored as it is (a naive datetime, an out-of-range value...)."""


class InvalidKey(InvalidEntity):
    """A PartitionKey or RowKey is empty, too long or holds a character the service forbids."""


class EntityTooLarge(InvalidEntity):
    """A property or the whole entity exceeds the service's size limits."""


class InvalidContinuation(StorageError, ValueError):
    """A paging cursor was not produced by this layer (tampered with or truncated)."""
